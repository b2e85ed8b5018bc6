// The TCP adapter for the running runtime (STYLE.md #9): the same two names everywhere, picked
// once at import. Deno and Bun also emulate node:net, but their native APIs are the ones the
// product promises (SPEC §2) and the faster ones.
import type { ConnectTcp, ConnectTls, ListenTcp } from './types.ts';

export type * from './types.ts';
export { WRITE_HIGH_WATER_BYTES, CLOSE_FLUSH_TIMEOUT_MS } from './types.ts';

export type NetRuntime = 'node' | 'deno' | 'bun';

export const netRuntime: NetRuntime = 'Deno' in globalThis ? 'deno' : globalThis.Bun !== undefined ? 'bun' : 'node';

const _impl: { listenTcp: ListenTcp; connectTcp: ConnectTcp; connectTls: ConnectTls } =
  netRuntime === 'deno' ? await import('./deno.ts') : netRuntime === 'bun' ? await import('./bun.ts') : await import('./node.ts');

export const listenTcp: ListenTcp = _impl.listenTcp;
export const connectTcp: ConnectTcp = _impl.connectTcp;
export const connectTls: ConnectTls = _impl.connectTls;
