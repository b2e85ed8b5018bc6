// The package as people install it (issue 14 items 3 and 5): LICENSE matches package.json, the
// JSR metadata in deno.json matches package.json, the deno.json tasks run the real Deno binary,
// npm 11's allowScripts covers every dependency with an install script (so `npm ci` does not
// warn, and a strict-allow-scripts npm does not fail), `npm pack` ships every deploy/ file the
// docs point operators at, and the CLI answers --version and a wrapped --help for every command
// and command group.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { spawnCli, repoRoot } from '../support/child.ts';
import { commandUsage, groups, groupUsage, main, usage } from '../../runtimes/cli.ts';
import { commands } from '../../runtimes/commands/index.ts';
import { wrap } from '../../runtimes/help.ts';
import type { CliIo } from '../../runtimes/io.ts';
import { renderConfigTableType, TABLE_TYPE_PATH } from '../../scripts/gen-config-table-type.ts';
import { FakeClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';

const text = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');
const json = (path: string): Record<string, unknown> => JSON.parse(text(path)) as Record<string, unknown>;
const pkg = json('package.json') as { version: string; license: string; files: string[]; allowScripts?: Record<string, boolean> };

async function cli(argv: string[], columns?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    runtime: 'node',
    env: {},
    readFile: () => {
      throw new Error('no files in this test');
    },
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    clock: new FakeClock(),
    random: new SeededRandom(1),
    ...(columns === undefined ? {} : { columns }),
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

/** Every line fits `width`, unless it is one word that cannot be broken (after its indent). */
function assertFits(help: string, width: number, what: string): void {
  for (const line of help.split('\n')) {
    if (line.length <= width) continue;
    assert.ok(!line.trim().includes(' '), `${what}: line longer than ${width} and breakable: ${JSON.stringify(line)}`);
  }
}

describe('packaging: LICENSE, deno.json, allowScripts, files', () => {
  test('LICENSE is the MIT license of "ReserveGrid OS contributors", as package.json and deno.json say', () => {
    const license = text('LICENSE');
    assert.equal(pkg.license, 'MIT');
    assert.equal(json('deno.json')['license'], 'MIT');
    assert.match(license, /^MIT License\n\nCopyright \(c\) \d{4} ReserveGrid OS contributors\n/);
    assert.ok(license.includes('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND'));
  });

  test('deno.json has JSR metadata: name, the version of package.json, exports that exist, license', () => {
    const deno = json('deno.json') as { name: string; version: string; exports: Record<string, string> };
    assert.match(deno.name, /^@[a-z0-9-]+\/[a-z0-9-]+$/);
    assert.equal(deno.version, pkg.version, 'deno.json version = package.json version');
    assert.ok(Object.keys(deno.exports).length > 0);
    for (const target of Object.values(deno.exports)) assert.ok(existsSync(join(repoRoot, target)), `export ${target} exists`);
  });

  test('core/config/table-type.ts (the explicit CONFIG_TABLE type JSR needs) is the generated one', () => {
    assert.equal(readFileSync(TABLE_TYPE_PATH, 'utf8'), renderConfigTableType(), 'run node --import tsx scripts/gen-config-table-type.ts');
  }, { timeoutMs: 60_000 });

  test("deno.json tasks never run a bare `deno` (deno task would run node_modules/.bin/deno as JavaScript)", () => {
    const tasks = (json('deno.json') as { tasks: Record<string, string | { command: string }> }).tasks;
    assert.ok(Object.keys(tasks).includes('test') && Object.keys(tasks).includes('cli'));
    for (const [name, task] of Object.entries(tasks)) {
      const command = typeof task === 'string' ? task : task.command;
      assert.doesNotMatch(command, /(^|[;&|(]\s*)deno\s/, `task ${name}: ${command}`);
    }
  });

  test('allowScripts names every dependency with an install script (package-lock.json hasInstallScript)', () => {
    const lock = json('package-lock.json') as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = [...new Set(Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript).map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)))].sort();
    assert.ok(withScripts.length > 0);
    const allowed = pkg.allowScripts ?? {};
    assert.deepEqual(withScripts.filter((name) => allowed[name] === undefined), [], 'every package with an install script has a decision');
  });

  test('npm pack ships LICENSE, the docs, and every deploy/ file that docs/ and README.md name', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const packed = new Set((JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
    const docs = readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md'));
    const expected = ['LICENSE', 'README.md', 'package.json', ...docs.map((f) => `docs/${f}`)];
    const named = new Set<string>();
    for (const file of ['README.md', ...docs.map((f) => `docs/${f}`)]) {
      for (const m of text(file).matchAll(/\bdeploy\/[A-Za-z0-9_./-]*[A-Za-z0-9_]/g)) named.add(m[0]);
    }
    assert.ok(named.has('deploy/config/example.toml'), `deploy paths found: ${[...named].join(', ')}`);
    for (const path of expected) assert.ok(packed.has(path), `${path} is packed`);
    for (const path of named) {
      // A file, or a directory that ships at least one file.
      assert.ok(packed.has(path) || [...packed].some((p) => p.startsWith(`${path.replace(/\/$/, '')}/`)), `${path} (named in the docs) is packed`);
    }
    assert.ok(packed.has('deploy/config/seed.toml'));
  });
});

describe('packaging: the CLI says its version and helps at any width', () => {
  test('--version and -V print the package.json version, in process and through this runtime\'s entry point', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      assert.deepEqual(r, { code: 0, stdout: `reservegrid ${pkg.version}\n`, stderr: '' });
    }
    const child = spawnCli(['--version']);
    const exit = await child.exited;
    assert.equal(exit.code, 0, child.stderr());
    assert.equal(child.stdout(), `reservegrid ${pkg.version}\n`);
  });

  test('--help of every command and command group, wrapped at 40 and 80 columns (80 without a terminal)', async () => {
    assert.deepEqual(groups().sort(), ['config', 'keys']);
    for (const columns of [40, 80]) {
      const top = await cli(['--help'], columns);
      assert.equal(top.code, 0);
      assert.equal(top.stdout, usage(columns) + '\n');
      assertFits(top.stdout, columns, `--help at ${columns}`);
      for (const c of commands) assert.ok(top.stdout.replace(/\s+/g, ' ').includes(`reservegrid ${c.usage}`), `top help lists ${c.usage}`);
      for (const group of groups()) {
        for (const argv of [[group, '--help'], [group, '-h']]) {
          const r = await cli(argv, columns);
          assert.equal(r.code, 0, argv.join(' '));
          assert.equal(r.stdout, groupUsage(group, columns) + '\n');
          assertFits(r.stdout, columns, `${argv.join(' ')} at ${columns}`);
          for (const c of commands.filter((x) => x.words[0] === group)) assert.ok(r.stdout.includes(`reservegrid ${c.words.join(' ')}`));
        }
        const bare = await cli([group], columns);
        assert.equal(bare.code, 2, `bare '${group}' asks for a subcommand`);
        assert.equal(bare.stdout, groupUsage(group, columns) + '\n');
        const unknown = await cli([group, 'no-such-subcommand'], columns);
        assert.equal(unknown.code, 2);
        assert.ok(unknown.stderr.startsWith(`reservegrid: unknown command '${group} no-such-subcommand'\n\n${groupUsage(group, columns)}`));
      }
      for (const c of commands) {
        const r = await cli([...c.words, '--help'], columns);
        assert.equal(r.code, 0, c.usage);
        assert.equal(r.stdout, commandUsage(c, columns) + '\n');
        assertFits(r.stdout, columns, `${c.words.join(' ')} --help at ${columns}`);
        assert.ok(r.stdout.replace(/\s+/g, ' ').includes(c.summary), `${c.usage}: summary shown`);
        assert.ok(c.docs !== undefined && existsSync(join(repoRoot, c.docs)), `${c.usage}: docs ${c.docs} exists`);
      }
    }
    // docs/operations.md names every command and the groups' --help.
    const operations = text('docs/operations.md').replace(/\s+/g, ' ');
    for (const c of commands) assert.ok(operations.includes(`\`${c.words.join(' ')}\``), `docs/operations.md lists ${c.words.join(' ')}`);
    for (const group of groups()) assert.ok(operations.includes(`reservegrid ${group} --help`), `docs/operations.md: ${group} --help`);
    // No terminal (columns undefined) and nonsense widths wrap at 80.
    assert.equal((await cli(['--help'])).stdout, usage(80) + '\n');
    assert.equal((await cli(['--help'], 0)).stdout, usage(80) + '\n');
    // At 40 columns the wide two-column layout really is wrapped (some summary was moved).
    assert.notEqual(usage(40), usage(80));
    assert.ok(usage(80).split('\n').some((l) => l.length > 40), 'the 80-column help uses the width');
  });

  test('wrap: greedy, never splits a word, keeps paragraphs, indents continuation lines', () => {
    assert.deepEqual(wrap('aa bb cc dd', 5), ['aa bb', 'cc dd']);
    assert.deepEqual(wrap('aa bb cc', 7, '> ', '  '), ['> aa bb', '  cc']);
    assert.deepEqual(wrap('averyveryverylongword x', 5), ['averyveryverylongword', 'x']);
    assert.deepEqual(wrap('one\ntwo three', 20), ['one', 'two three']);
    assert.throws(() => wrap('x', 0), /width must be a positive integer, got 0/);
  });
});
