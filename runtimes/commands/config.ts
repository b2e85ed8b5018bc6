// `reservegrid config check <file>` and `reservegrid config print <file>` (SPEC §10).
// Both read the file and the process environment through CliIo and share core/config's loader,
// so what `check` accepts is exactly what the gateway will run with.
import type { CliIo, Command } from '../io.ts';
import { CONFIG_KEYS, describeConfig, formatProblem, loadConfig, type LoadResult } from '../../core/config/index.ts';

function _load(file: string, io: CliIo): LoadResult | undefined {
  let tomlText: string;
  try {
    tomlText = io.readFile(file);
  } catch (error) {
    io.stderr(`error: ${file}: cannot read: ${error instanceof Error ? error.message : String(error)}\n`);
    return undefined;
  }
  return loadConfig({ tomlText, fileName: file, env: io.env });
}

function _fileArg(args: readonly string[], io: CliIo, usage: string): string | undefined {
  const files = args.filter((a) => !a.startsWith('-'));
  if (files.length !== 1 || files.length !== args.length) {
    io.stderr(`Usage: reservegrid ${usage}\n`);
    return undefined;
  }
  return files[0];
}

function _reportProblems(result: LoadResult, io: CliIo): number {
  if (result.ok) return 0;
  io.stderr(result.problems.map((p) => `error: ${formatProblem(p)}\n`).join(''));
  return 1;
}

export const configCheckCommand: Command = {
  words: ['config', 'check'],
  usage: 'config check <file>',
  summary: 'Validate a config file plus RESERVEGRID_* environment overrides; one line per problem.',
  docs: 'docs/configuration.md',
  run(args, io) {
    const file = _fileArg(args, io, this.usage);
    if (file === undefined) return 2;
    const result = _load(file, io);
    if (!result) return 1;
    if (!result.ok) return _reportProblems(result, io);
    const set = CONFIG_KEYS.filter((k) => result.sources[k.path]?.origin !== 'default').length;
    io.stdout(`ok: ${file} (${set} keys set, ${CONFIG_KEYS.length - set} defaults)\n`);
    return 0;
  },
};

export const configPrintCommand: Command = {
  words: ['config', 'print'],
  usage: 'config print <file>',
  summary: 'Show every effective config value and its source (default, file, env); secrets redacted.',
  docs: 'docs/configuration.md',
  run(args, io) {
    const file = _fileArg(args, io, this.usage);
    if (file === undefined) return 2;
    const result = _load(file, io);
    if (!result) return 1;
    if (!result.ok) return _reportProblems(result, io);
    const entries = describeConfig(result.config, result.sources);
    // Align the source column, but let long values (arrays) push it out rather than pad everything.
    const width = Math.min(64, Math.max(...entries.map((e) => `${e.path} = ${e.value}`.length)));
    io.stdout(entries.map((e) => `${`${e.path} = ${e.value}`.padEnd(width)}  # ${e.source.label}\n`).join(''));
    return 0;
  },
};

export const configCommands: Command[] = [configCheckCommand, configPrintCommand];
