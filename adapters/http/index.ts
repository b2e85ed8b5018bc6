// The HTTP server for the running runtime (STYLE.md #9): one name, `serveHttp`, picked once at
// import, like adapters/net/index.ts.
import type { ServeHttp } from './types.ts';

export type * from './types.ts';
export { createHttpApp, type HttpAppOptions } from './app.ts';

export type HttpRuntime = 'node' | 'deno' | 'bun';

export const httpRuntime: HttpRuntime = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis && (globalThis as { Bun?: unknown }).Bun !== undefined ? 'bun' : 'node';

const _impl: { serveHttp: ServeHttp } =
  httpRuntime === 'deno' ? await import('./serve-deno.ts') : httpRuntime === 'bun' ? await import('./serve-bun.ts') : await import('./serve-node.ts');

export const serveHttp: ServeHttp = _impl.serveHttp;
