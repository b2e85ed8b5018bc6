// What every runtime's HTTP server adapter exports (STYLE.md #9: same names on every runtime).

/** Anything with a fetch handler: the Hono app (adapters/http/app.ts). */
export interface FetchApp {
  fetch(request: Request): Response | Promise<Response>;
}

export interface HttpListenOptions {
  /** Bind host (an IPv6 literal without brackets). */
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
}

export interface HttpServer {
  /** The bound port (the kernel's choice when 0 was asked). */
  readonly port: number;
  /** Stop accepting and close open connections (SSE streams included). Idempotent. */
  close(): Promise<void>;
}

export type ServeHttp = (app: FetchApp, options: HttpListenOptions) => Promise<HttpServer>;

/** How long close() waits for a graceful shutdown before it stops waiting. */
export const HTTP_CLOSE_TIMEOUT_MS = 2_000;
