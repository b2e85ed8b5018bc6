#!/usr/bin/env node
// Node entry point: the only place (with deno.ts and bun.ts) that reads argv, env and files.
import { readFileSync } from 'node:fs';
import { SystemClock } from '../adapters/clock.ts';
import { systemRandom } from '../adapters/random.ts';
import { main } from './cli.ts';

const code = await main(process.argv.slice(2), {
  runtime: 'node',
  env: process.env,
  readFile: (path) => readFileSync(path, 'utf8'),
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  clock: new SystemClock(),
  random: systemRandom,
  onShutdownSignal: (callback) => {
    const onInt = (): void => fire('SIGINT');
    const onTerm = (): void => fire('SIGTERM');
    const remove = (): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    };
    const fire = (signal: 'SIGINT' | 'SIGTERM'): void => {
      remove();
      callback(signal);
    };
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    return remove;
  },
});
process.exitCode = code;
