// Operator docs checked against the running gateway (issue 14 item 8): `reservegrid run` as a
// child process of this runtime's entry point, in inline mode (docs/running.md says all three
// modes run), writing its event log to a file; every line it wrote must carry `ts` in the exact
// form docs/events.md shows. The upstream is 127.0.0.1:9, which fetch refuses as a bad port
// without sending anything, so the log fills with `upstream_unavailable` events and no node is
// needed.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, readEnv, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { assertWorkersLine, defaultWorkerCount, spawnCli } from '../support/child.ts';
import { sleep, until } from '../support/wait.ts';
import { CONFIG_TABLE } from '../../core/config/schema.ts';

const STEP_MS = 20_000;
const doc = (name: string): string => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

/** Digits → 0: two timestamps of the same form have the same shape. */
const shape = (text: string): string => text.replace(/[0-9]/g, '0');

function inlineConfig(dir: string): string {
  const example = readFileSync(new URL('../../deploy/config/example.toml', import.meta.url), 'utf8');
  const replaced = example
    .replace(/^mode = "observe"/m, 'mode = "inline"')
    .replace(/^listen_addr = .*$/m, 'listen_addr = "127.0.0.1:0"')
    .replace(/^http_listen_addr = .*$/m, 'http_listen_addr = "127.0.0.1:0"')
    .replace(/^upstream_url = .*$/m, 'upstream_url = "http://127.0.0.1:9"')
    .replace(/^event_log_path = .*$/m, `event_log_path = ${JSON.stringify(join(dir, 'events.jsonl'))}`)
    .replace(/^data_dir = .*$/m, `data_dir = ${JSON.stringify(join(dir, 'data'))}`)
    .replace(/^upstream_poll_interval_ms = .*$/m, 'upstream_poll_interval_ms = 100')
    .replace(/^shutdown_drain_timeout_ms = .*$/m, 'shutdown_drain_timeout_ms = 500');
  for (const key of ['mode = "inline"', 'upstream_url = "http://127.0.0.1:9"', 'upstream_poll_interval_ms = 100', 'events.jsonl']) {
    assert.ok(replaced.includes(key), `deploy/config/example.toml still has the line this test rewrites to ${key}`);
  }
  return replaced;
}

describe('docs: claims checked against the running gateway', () => {
  test('docs/running.md lists every gateway.mode as one that runs, and says no mode is refused', () => {
    const line = /^- `gateway\.mode`[^\n]*(\n {2}[^\n]*)*/m.exec(doc('running.md'))?.[0];
    assert.ok(line !== undefined, 'docs/running.md has a "- `gateway.mode`" item');
    // The schema's own list ("one of \"shadow\" | ..."), so a new mode must be documented too.
    const modes = [...CONFIG_TABLE.gateway.mode.leaf.type.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]!);
    assert.ok(modes.includes('inline'), `modes from the schema: ${modes.join(', ')}`);
    assert.deepEqual(modes.filter((m) => !line.includes(`"${m}"`)), [], 'every mode named');
    assert.doesNotMatch(line, /refused/);
  });

  test('inline mode runs (docs/running.md), and every event it logs has ts as docs/events.md shows it', async () => {
    const example = /"ts":"([^"]+)"/.exec(doc('events.md'))?.[1];
    assert.ok(example !== undefined, 'docs/events.md shows a "ts" value');
    assert.match(doc('events.md'), /ISO 8601/);
    const dir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', 'rg-docs-claims-'));
    try {
      const file = join(dir, 'gateway.toml');
      writeFileSync(file, inlineConfig(dir));
      const startedMs = Date.now();
      const run = spawnCli(['run', '--config', file]);
      try {
        await until('the listening line', STEP_MS, () => {
          if (!run.running) throw new Error(`run exited early: ${run.stderr()}`);
          return /gateway 1 \(inline mode\) on \w+, listening[^\n]*\n[\s\S]*SV2 address/.test(run.stdout()) ? true : undefined;
        });
        // deploy/config/example.toml says workers = "auto", the default: one socket worker per
        // core, as docs/scaling.md says (one process on a one-core machine).
        assertWorkersLine(run, defaultWorkerCount());
        await until('two upstream_unavailable events in the log', STEP_MS, () => {
          let text = '';
          try {
            text = readFileSync(join(dir, 'events.jsonl'), 'utf8');
          } catch {
            return undefined;
          }
          return text.split('"type":"upstream_unavailable"').length > 2 ? true : undefined;
        });
      } finally {
        // SIGTERM from outside, as in gateway-btcd.test.ts (Deno's child.kill reports the signal,
        // hiding the exit code).
        spawn('kill', ['-TERM', String(run.child.pid)], { stdio: 'ignore' });
      }
      const exit = await Promise.race([run.exited, sleep(STEP_MS).then(() => undefined)]);
      if (exit === undefined) run.child.kill('SIGKILL');
      assert.ok(exit !== undefined, `run stopped within ${STEP_MS} ms of SIGTERM`);
      assert.equal(exit.code, 0, `run exits 0 on SIGTERM: ${run.stderr()}`);
      const endedMs = Date.now();
      const lines = readFileSync(join(dir, 'events.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
      assert.ok(lines.length >= 2);
      for (const line of lines) {
        const event = JSON.parse(line) as { type: string; ts: unknown; seq: unknown };
        assert.equal(typeof event.ts, 'string', `${event.type}: ts is a string`);
        const ts = event.ts as string;
        assert.equal(shape(ts), shape(example), `${event.type}: ts ${ts} has the form of ${example}`);
        const ms = Date.parse(ts);
        assert.equal(new Date(ms).toISOString(), ts, 'ts is exactly toISOString() (UTC, milliseconds)');
        // Wall clock of this run: between the spawn and the exit (1 s either side for clock steps).
        assert.ok(ms >= startedMs - 1000 && ms <= endedMs + 1000, `${ts} lies within the run`);
        assert.equal(typeof event.seq, 'number');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, { timeoutMs: 60_000 });
});
