// Bun: the Hono app on Bun.serve (https://bun.sh/docs/api/http).
import type { FetchApp, HttpListenOptions, HttpServer } from './types.ts';

// Minimal local shim (STYLE.md #9): only what this file uses.
interface BunServerShim {
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}
interface BunServeShim {
  serve(options: { hostname: string; port: number; idleTimeout?: number; fetch: (request: Request) => Response | Promise<Response> }): BunServerShim;
}

export function serveHttp(app: FetchApp, options: HttpListenOptions): Promise<HttpServer> {
  const bun = (globalThis as unknown as { Bun: BunServeShim }).Bun;
  let server: BunServerShim;
  try {
    server = bun.serve({
      hostname: options.host,
      port: options.port,
      // Bun closes a connection idle for 10 s by default, which would cut SSE streams between
      // heartbeats; 0 disables it (https://bun.sh/docs/api/http#idletimeout).
      idleTimeout: 0,
      fetch: (request) => app.fetch(request),
    });
  } catch (error) {
    return Promise.reject(error);
  }
  let closing: Promise<void> | undefined;
  return Promise.resolve({
    port: server.port,
    close: () => (closing ??= Promise.resolve(server.stop(true)).then(() => {})),
  });
}
