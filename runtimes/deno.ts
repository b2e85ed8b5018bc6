// Deno entry point: `deno run -A runtimes/deno.ts <command>`.
import { SystemClock } from '../adapters/clock.ts';
import { systemRandom } from '../adapters/random.ts';
import { main } from './cli.ts';

const encoder = new TextEncoder();
const writeAll = (sink: { writeSync(p: Uint8Array): number }, text: string) => {
  let bytes = encoder.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(sink.writeSync(bytes));
};
const code = await main(Deno.args, {
  runtime: 'deno',
  env: Deno.env.toObject(),
  readFile: (path) => Deno.readTextFileSync(path),
  stdout: (text) => writeAll(Deno.stdout, text),
  stderr: (text) => writeAll(Deno.stderr, text),
  clock: new SystemClock(),
  random: systemRandom,
  // consoleSize() throws when stdout is not a terminal; help then wraps at 80.
  ...(Deno.stdout.isTerminal() ? { columns: Deno.consoleSize().columns } : {}),
  onShutdownSignal: (callback) => {
    const onInt = (): void => fire('SIGINT');
    const onTerm = (): void => fire('SIGTERM');
    const remove = (): void => {
      Deno.removeSignalListener('SIGINT', onInt);
      Deno.removeSignalListener('SIGTERM', onTerm);
    };
    const fire = (signal: 'SIGINT' | 'SIGTERM'): void => {
      remove();
      callback(signal);
    };
    Deno.addSignalListener('SIGINT', onInt);
    Deno.addSignalListener('SIGTERM', onTerm);
    return remove;
  },
});
Deno.exit(code);
