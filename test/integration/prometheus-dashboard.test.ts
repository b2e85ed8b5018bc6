// The Grafana dashboard against a real Prometheus (issue 14 item 2): the demo gateway runs in a
// child process on this runtime; Prometheus (Debian's package) scrapes its /metrics every second
// with the API key, from a config generated here; once it has a few scrapes, the dashboard's
// Gateway variable query runs as Grafana runs it (label_values), and EVERY panel query of
// deploy/grafana/dashboards/reservegrid.json, with the variable substituted, must return at least
// one series. A panel with no series reads "No data" on a healthy gateway, which is the bug.
// The same scrape must pass `promtool check metrics`.
//
// Skips with the reason when prometheus is absent, unless RG_REQUIRE_PROMETHEUS=1 (CI).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, runtime } from '../harness.ts';
import { assert } from '../assert.ts';
import { spawnCli } from '../support/child.ts';
import { findPromtool, startPrometheus, testWithPrometheus, type RunningPrometheus } from '../support/prometheus.ts';
import { sleep, until } from '../support/wait.ts';

interface Dashboard {
  panels: { id: number; title: string; targets?: { refId: string; expr: string }[] }[];
  templating: { list: { name: string; type: string; definition?: string; allValue?: string }[] };
}
const DASHBOARD = JSON.parse(readFileSync(new URL('../../deploy/grafana/dashboards/reservegrid.json', import.meta.url), 'utf8')) as Dashboard;

/** Scrapes Prometheus must have of the gateway before rate() and increase() have two points. */
const SCRAPES_MIN = 4;

function promtoolCheck(bin: string, text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(bin, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (c: Uint8Array) => void (output += new TextDecoder().decode(c)));
    child.stderr!.on('data', (c: Uint8Array) => void (output += new TextDecoder().decode(c)));
    child.once('close', (code) => resolve({ code, output }));
    child.stdin!.end(text);
  });
}

describe(`dashboard on a real Prometheus (${runtime})`, () => {
  testWithPrometheus('every dashboard panel query returns a series for a live gateway; promtool check metrics passes', async (bin) => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-prometheus-'));
    const demo = spawnCli(['demo', '--duration-secs', '170', '--port', '0', '--miners', '2', '--block-interval-secs', '2', '--report-secs', '60']);
    let prometheus: RunningPrometheus | undefined;
    try {
      const url = await until('the demo HTTP API line', 60_000, () => {
        if (!demo.running) throw new Error(`demo exited early:\n${demo.stdout()}\n${demo.stderr()}`);
        return /HTTP API +http:\/\/(127\.0\.0\.1:\d+) /.exec(demo.stdout())?.[1];
      }, 50);
      const key = /API key +([0-9a-f]{32}) /.exec(demo.stdout())?.[1];
      assert.ok(key !== undefined, demo.stdout());

      // promtool on what the gateway serves (the same text Prometheus scrapes).
      const promtool = findPromtool(bin);
      assert.ok(promtool !== null, `promtool next to ${bin}`);
      const scrape = await (await fetch(`http://${url}/metrics`, { headers: { Authorization: `Bearer ${key}` } })).text();
      const checked = await promtoolCheck(promtool, scrape);
      assert.equal(checked.code, 0, `promtool check metrics:\n${checked.output}`);
      assert.equal(checked.output.trim(), '', 'promtool has no lint findings');

      // The generated config: as deploy/prometheus/prometheus.yml, with a 1 s interval and this key.
      writeFileSync(join(dir, 'api-key'), key);
      writeFileSync(
        join(dir, 'prometheus.yml'),
        [
          'global:',
          '  scrape_interval: 1s',
          '  evaluation_interval: 1s',
          'scrape_configs:',
          '  - job_name: reservegrid',
          '    metrics_path: /metrics',
          '    authorization:',
          '      type: Bearer',
          `      credentials_file: ${join(dir, 'api-key')}`,
          '    static_configs:',
          `      - targets: ['${url}']`,
          '',
        ].join('\n'),
      );
      prometheus = await startPrometheus(bin, join(dir, 'prometheus.yml'), join(dir, 'data'));
      const p = prometheus;
      await until(`${SCRAPES_MIN} successful scrapes of the gateway`, 60_000, async () => {
        if (!demo.running) throw new Error(`demo exited early:\n${demo.stderr()}`);
        const r = await p.query('sum_over_time(up{job="reservegrid"}[5m])');
        return Number(r.result[0]?.value[1] ?? 0) >= SCRAPES_MIN ? true : undefined;
      }, 250);

      // The Gateway variable, as Grafana resolves it.
      const variable = DASHBOARD.templating.list.find((v) => v.name === 'instance');
      assert.ok(variable !== undefined && variable.type === 'query', 'the dashboard has an instance variable');
      const m = /^label_values\(([^,]+),\s*(\w+)\)$/.exec(variable.definition ?? '');
      assert.ok(m !== null, `label_values(metric, label): ${variable.definition}`);
      const instances = await p.labelValues(m[2]!, m[1]!);
      assert.deepEqual(instances, [url], 'the variable lists the scraped gateway');

      const targets = DASHBOARD.panels.flatMap((panel) => (panel.targets ?? []).map((t) => ({ what: `panel ${panel.id} "${panel.title}" ${t.refId}`, expr: t.expr })));
      assert.ok(targets.length >= 30, `${targets.length} panel queries`);
      // Both ways Grafana fills the variable: one instance picked, and "All" (allValue).
      const values = [instances[0]!.replace(/[.]/g, '\\\\.'), variable.allValue ?? '.+'];
      const empty: string[] = [];
      for (const value of values) {
        for (const { what, expr } of targets) {
          assert.ok(expr.includes('$instance'), `${what} filters by the Gateway variable: ${expr}`);
          const query = expr.replaceAll('$instance', value);
          // Series appear with the first scrape that has them; give a slow machine a few more.
          let found = 0;
          for (let attempt = 0; attempt < 20 && found === 0; attempt++) {
            if (attempt > 0) await sleep(500);
            found = (await p.query(query)).result.length;
          }
          if (found === 0) empty.push(`${what}: ${query}`);
        }
      }
      assert.deepEqual(empty, [], 'panel queries with no series');
    } finally {
      await prometheus?.stop();
      if (demo.running) demo.child.kill('SIGTERM');
      await Promise.race([demo.exited, sleep(15_000)]);
      if (demo.running) demo.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, { timeoutMs: 180_000 });
});
