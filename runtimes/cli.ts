// `reservegrid` command line: one dispatcher for every runtime. Commands live in
// runtimes/commands/*.ts; this file only routes words to them and prints help.
import type { CliIo, Command } from './io.ts';
import { commands } from './commands/index.ts';

export function usage(): string {
  const width = Math.max(...commands.map((c) => c.usage.length));
  return [
    'reservegrid: policy-driven Stratum V2 gateway',
    '',
    'Usage:',
    ...commands.map((c) => `  reservegrid ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'Every command accepts --help.',
  ].join('\n');
}

export function findCommand(argv: readonly string[]): { command: Command; rest: readonly string[] } | undefined {
  let best: Command | undefined;
  for (const c of commands) {
    if (c.words.every((w, i) => argv[i] === w) && (!best || c.words.length > best.words.length)) best = c;
  }
  return best ? { command: best, rest: argv.slice(best.words.length) } : undefined;
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout(usage() + '\n');
    return argv.length === 0 ? 2 : 0;
  }
  const found = findCommand(argv);
  if (!found) {
    io.stderr(`reservegrid: unknown command '${argv.join(' ')}'\n\n${usage()}\n`);
    return 2;
  }
  if (found.rest.includes('--help') || found.rest.includes('-h')) {
    io.stdout(`Usage: reservegrid ${found.command.usage}\n\n${found.command.summary}\n`);
    return 0;
  }
  return found.command.run(found.rest, io);
}
