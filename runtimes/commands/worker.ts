// `reservegrid worker …`: one socket worker of a gateway.workers ≥ 2 gateway
// (adapters/workers/worker.ts, docs/scaling.md "One machine, many cores"). `reservegrid run`
// starts these itself, one process per worker, with the arguments below; it is not for direct
// use. The worker loads the same config file and environment as its leader.
import type { CliIo, Command } from '../io.ts';
import { startSocketWorker } from '../../adapters/workers/worker.ts';
import { releaseWorkerProcess } from '../../adapters/workers/spawn.ts';
import { loadRunConfig } from './run.ts';

const USAGE = 'worker --config <file> --leader <port> --index <i> --count <n> --spawn <s> --port <p>';

function _args(args: readonly string[]): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i]!;
    const value = args[i + 1];
    if (!name.startsWith('--') || value === undefined) return undefined;
    out[name.slice(2)] = value;
  }
  return out;
}

const _int = (text: string | undefined): number | undefined => (text !== undefined && /^[0-9]{1,10}$/.test(text) ? Number(text) : undefined);

export const workerCommand: Command = {
  words: ['worker'],
  usage: USAGE,
  summary: 'A socket worker process of `run` when gateway.workers >= 2 (started by run itself, not by hand).',
  docs: 'docs/scaling.md',
  async run(args, io: CliIo) {
    const a = _args(args);
    const leader = _int(a?.['leader']);
    const index = _int(a?.['index']);
    const count = _int(a?.['count']);
    const spawn = _int(a?.['spawn']);
    const port = _int(a?.['port']);
    const file = a?.['config'];
    if (a === undefined || file === undefined || leader === undefined || index === undefined || count === undefined || spawn === undefined || port === undefined) {
      io.stderr(`Usage: reservegrid ${USAGE}\n`);
      return 2;
    }
    const config = loadRunConfig(file, io);
    if (config === undefined) return 1;
    const g = globalThis as unknown as { Deno?: { pid: number }; process?: { pid: number } };
    let worker;
    try {
      worker = await startSocketWorker({ config, clock: io.clock, random: io.random, leader: { host: '127.0.0.1', port: leader }, index, count, spawn, port, pid: g.Deno?.pid ?? g.process?.pid ?? 0 });
    } catch (error) {
      io.stderr(`reservegrid worker ${index}: cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    // A Ctrl-C reaches the whole process group: the worker leaves the stop to its leader, which
    // sends SHUTDOWN to every worker in order (docs/scaling.md). Only a second signal (the hook
    // is gone then) ends it at once, as for `run`.
    const removeHook = io.onShutdownSignal?.(() => undefined);
    const code = await worker.done;
    removeHook?.();
    releaseWorkerProcess();
    if (code !== 0) io.stderr(`reservegrid worker ${index}: leader gone (${worker.leaderError ?? 'control channel closed'}); stopped\n`);
    return code;
  },
};

export const workerCommands: Command[] = [workerCommand];
