// Deno: the Hono app on Deno.serve (https://docs.deno.com/api/deno/~/Deno.serve).
import { HTTP_CLOSE_TIMEOUT_MS, type FetchApp, type HttpListenOptions, type HttpServer } from './types.ts';

// Minimal local shim (STYLE.md #9): only what this file uses.
interface DenoHttpServerShim {
  readonly addr: { readonly port: number };
  readonly finished: Promise<void>;
  shutdown(): Promise<void>;
}
interface DenoServeShim {
  serve(
    options: { hostname: string; port: number; signal?: AbortSignal; onListen?: (addr: { port: number }) => void; onError?: (error: unknown) => Response },
    handler: (request: Request) => Response | Promise<Response>,
  ): DenoHttpServerShim;
}

export function serveHttp(app: FetchApp, options: HttpListenOptions): Promise<HttpServer> {
  const deno = (globalThis as unknown as { Deno: DenoServeShim }).Deno;
  const abort = new AbortController();
  let server: DenoHttpServerShim;
  try {
    server = deno.serve({ hostname: options.host, port: options.port, signal: abort.signal, onListen: () => {} }, (request) => app.fetch(request));
  } catch (error) {
    return Promise.reject(error);
  }
  let closing: Promise<void> | undefined;
  return Promise.resolve({
    port: server.addr.port,
    close: () =>
      (closing ??= (async () => {
        // shutdown() waits for open responses; a stream the app did not end would hold it, so
        // the wait is bounded, then the abort signal drops what is left.
        let timer: ReturnType<typeof setTimeout> | undefined;
        let finished = false;
        const shutdown = server.shutdown().then(
          () => void (finished = true),
          () => void (finished = true),
        );
        await Promise.race([shutdown, new Promise<void>((r) => (timer = setTimeout(r, HTTP_CLOSE_TIMEOUT_MS)))]);
        clearTimeout(timer);
        // Only when shutdown is stuck: aborting a server that already finished throws
        // BadResource asynchronously (Deno 2.9).
        if (!finished) abort.abort();
      })()),
  });
}
