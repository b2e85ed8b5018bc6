// CliIo over the Node-style `process` and node:fs, shared by runtimes/node.ts and runtimes/bun.ts
// (Bun implements both natively). Deno has its own APIs and builds its CliIo in runtimes/deno.ts.
import { readFileSync } from 'node:fs';
import { SystemClock } from '../adapters/clock.ts';
import { systemRandom } from '../adapters/random.ts';
import type { CliIo } from './io.ts';

export function processIo(runtime: 'node' | 'bun'): CliIo {
  return {
    runtime,
    env: process.env,
    readFile: (path) => readFileSync(path, 'utf8'),
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    clock: new SystemClock(),
    random: systemRandom,
    // undefined when stdout is a pipe or a file (help then wraps at 80).
    columns: process.stdout.columns,
    onShutdownSignal: (callback) => {
      const onInt = (): void => fire('SIGINT');
      const onTerm = (): void => fire('SIGTERM');
      const remove = (): void => {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
      };
      // The hook is removed after the first signal, so a second Ctrl-C ends the process at once.
      const fire = (signal: 'SIGINT' | 'SIGTERM'): void => {
        remove();
        callback(signal);
      };
      process.once('SIGINT', onInt);
      process.once('SIGTERM', onTerm);
      return remove;
    },
  };
}
