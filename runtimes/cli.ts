// `reservegrid` command line: one dispatcher for every runtime. Commands live in
// runtimes/commands/*.ts; this file only routes words to them and prints help and the version.
// Help is wrapped to the terminal (runtimes/help.ts); a command group (the first word of several
// commands, e.g. `keys`) has a help of its own listing its subcommands.
import type { CliIo, Command } from './io.ts';
import { commands } from './commands/index.ts';
import { entries, helpColumns, wrap } from './help.ts';
import { VERSION } from '../adapters/version.ts';

const TITLE = 'reservegrid: policy-driven Stratum V2 gateway';

/** The top-level help: every command, wrapped to `columns`. */
export function usage(columns?: number): string {
  const width = helpColumns(columns);
  return [
    ...wrap(TITLE, width),
    '',
    'Usage:',
    ...entries(commands.map((c) => [`reservegrid ${c.usage}`, c.summary] as const), width),
    '',
    ...wrap(`Every command and command group (${groups().join(', ')}) accepts --help. reservegrid --version (or -V) prints the version.`, width),
  ].join('\n');
}

/** Words that start more than one command: `keys`, `config`. */
export function groups(): string[] {
  const counts = new Map<string, number>();
  for (const c of commands) if (c.words.length > 1) counts.set(c.words[0]!, (counts.get(c.words[0]!) ?? 0) + 1);
  return [...counts].filter(([, n]) => n > 1).map(([word]) => word);
}

/** The help of one command group: its subcommands. */
export function groupUsage(group: string, columns?: number): string {
  const width = helpColumns(columns);
  const members = commands.filter((c) => c.words[0] === group);
  return [
    ...wrap(`Usage: reservegrid ${group} <command>`, width, '', '    '),
    '',
    ...entries(members.map((c) => [`reservegrid ${c.usage}`, c.summary] as const), width),
    '',
    ...wrap(`Each accepts --help, e.g. reservegrid ${members[0]!.words.join(' ')} --help.`, width),
  ].join('\n');
}

/** The help of one command: usage, summary and where the details are. */
export function commandUsage(command: Command, columns?: number): string {
  const width = helpColumns(columns);
  return [
    ...wrap(`Usage: reservegrid ${command.usage}`, width, '', '    '),
    '',
    ...wrap(command.summary, width),
    ...(command.docs === undefined ? [] : ['', ...wrap(`Details: ${command.docs}`, width)]),
  ].join('\n');
}

export function findCommand(argv: readonly string[]): { command: Command; rest: readonly string[] } | undefined {
  let best: Command | undefined;
  for (const c of commands) {
    if (c.words.every((w, i) => argv[i] === w) && (!best || c.words.length > best.words.length)) best = c;
  }
  return best ? { command: best, rest: argv.slice(best.words.length) } : undefined;
}

const isHelp = (word: string | undefined): boolean => word === '--help' || word === '-h';

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.length === 0 || isHelp(argv[0]) || argv[0] === 'help') {
    io.stdout(usage(io.columns) + '\n');
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.stdout(`reservegrid ${VERSION}\n`);
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    const group = argv[0]!;
    if (groups().includes(group)) {
      // `keys`, `keys --help`: the group's help; `keys bogus`: an error with it.
      if (argv.length === 1 || isHelp(argv[1])) {
        io.stdout(groupUsage(group, io.columns) + '\n');
        return argv.length === 1 ? 2 : 0;
      }
      io.stderr(`reservegrid: unknown command '${argv.join(' ')}'\n\n${groupUsage(group, io.columns)}\n`);
      return 2;
    }
    io.stderr(`reservegrid: unknown command '${argv.join(' ')}'\n\n${usage(io.columns)}\n`);
    return 2;
  }
  if (found.rest.includes('--help') || found.rest.includes('-h')) {
    io.stdout(commandUsage(found.command, io.columns) + '\n');
    return 0;
  }
  return found.command.run(found.rest, io);
}
