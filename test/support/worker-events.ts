// The event log of a `reservegrid run` under test, read while it may still be writing, and the
// socket worker a connection belongs to (docs/scaling.md "Who does what": each worker's conn ids
// start at the `conn_id_base` its `worker_started` event names). Shared by the workers tests.
import { existsSync, readFileSync } from 'node:fs';
import { WORKER_CONN_ID_STRIDE } from '../../adapters/workers/worker.ts';

/** The log's whole lines, parsed: the last line of a live run may be half written. */
export function readEventLog<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}

/** Which worker index a connection id belongs to, from the worker_started events. */
export function workerOfConn(log: readonly { readonly type: string; readonly worker?: number; readonly conn_id_base?: number }[], connId: number): number | undefined {
  const base = Math.floor(connId / WORKER_CONN_ID_STRIDE) * WORKER_CONN_ID_STRIDE;
  return log.find((e) => e.type === 'worker_started' && e.conn_id_base === base)?.worker;
}
