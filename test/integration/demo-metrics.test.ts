// The demo's HTTP surface (issue 6 items 5–6): run `reservegrid demo` briefly in-process, read
// the HTTP address and API key it prints, scrape /metrics while it runs, and check that every
// metric the Grafana dashboard (deploy/grafana/dashboards/reservegrid.json) queries exists —
// the metric names are parsed out of the dashboard's PromQL expressions. /status and
// /events/history must show the demo's activity.
import { readFileSync } from 'node:fs';
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { systemRandom } from '../../adapters/random.ts';
import type { CliIo } from '../../runtimes/io.ts';
import { demoCommand } from '../../runtimes/commands/demo.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.ts';

const DASHBOARD = JSON.parse(readFileSync(new URL('../../deploy/grafana/dashboards/reservegrid.json', import.meta.url), 'utf8')) as {
  panels: { title: string; targets?: { expr: string }[] }[];
};

/** Every `reservegrid_*` series name in the dashboard's PromQL. */
function dashboardMetricNames(): Set<string> {
  const names = new Set<string>();
  for (const panel of DASHBOARD.panels) {
    for (const target of panel.targets ?? []) {
      for (const m of target.expr.matchAll(/\b(reservegrid_[a-zA-Z0-9_:]+)/g)) names.add(m[1]!);
    }
  }
  return names;
}

describe(`demo HTTP surface (${runtime})`, () => {
  test('the demo prints its HTTP address and key; /metrics has every metric the dashboard queries; /status and /events show the activity', async () => {
    let out = '';
    let err = '';
    const io: CliIo = {
      runtime,
      env: {},
      readFile: () => {
        throw new Error('the demo reads no files');
      },
      stdout: (t) => void (out += t),
      stderr: (t) => void (err += t),
      clock: new SystemClock(),
      random: systemRandom,
    };
    const running = demoCommand.run(['--duration-secs', '12', '--port', '0', '--miners', '2', '--block-interval-secs', '1', '--report-secs', '5'], io);
    const waitFor = async <T>(what: string, poll: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const v = await poll();
        if (v !== undefined) return v;
        if (Date.now() > until) throw new Error(`timeout waiting for ${what}\nstdout:\n${out}\nstderr:\n${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      const url = await waitFor('HTTP API line', () => /HTTP API +(http:\/\/127\.0\.0\.1:\d+) /.exec(out)?.[1], 30_000);
      const key = /API key +([0-9a-f]{32}) /.exec(out)?.[1];
      assert.ok(key !== undefined, out);
      const headers = { Authorization: `Bearer ${key}` };
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      const denied = await fetch(`${url}/metrics`);
      assert.equal(denied.status, 401);
      await denied.body?.cancel();

      // Once the miners have channels and a share, the metrics show it.
      const families = await waitFor('channels and an accepted share in /metrics', async () => {
        const res = await fetch(`${url}/metrics`, { headers });
        assert.equal(res.status, 200);
        const f = parsePrometheusText(await res.text());
        const channels = (sampleValue(f, 'reservegrid_channels_open', { channel_type: 'standard' }) ?? 0) + (sampleValue(f, 'reservegrid_channels_open', { channel_type: 'extended' }) ?? 0);
        const shares = (sampleValue(f, 'reservegrid_shares_accepted_total', { channel_type: 'standard' }) ?? 0) + (sampleValue(f, 'reservegrid_shares_accepted_total', { channel_type: 'extended' }) ?? 0);
        return channels === 2 && shares > 0 ? f : undefined;
      }, 30_000);

      const wanted = dashboardMetricNames();
      assert.ok(wanted.size >= 20, `the dashboard queries ${wanted.size} metrics`);
      const missing: string[] = [];
      for (const name of wanted) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        const exists = families.has(name) || (base !== name && families.get(base)?.type === 'histogram');
        if (!exists) missing.push(name);
      }
      assert.deepEqual(missing, [], `dashboard metrics missing from /metrics`);
      assert.equal(sampleValue(families, 'reservegrid_connections_open'), 2);
      assert.equal(sampleValue(families, 'reservegrid_handshakes_total', { result: 'success' }), 2);
      assert.ok((sampleValue(families, 'reservegrid_upstream_polls_total', { result: 'ok' }) ?? 0) > 0, 'upstream polls counted');
      assert.equal(sampleValue(families, 'reservegrid_gateway_mode', { mode: 'observe' }), 1);

      const status = (await (await fetch(`${url}/status`, { headers })).json()) as { gateway: { mode: string }; miners: { connections: number; channels: { total: number } }; upstream: { up: boolean } };
      assert.equal(status.gateway.mode, 'observe');
      assert.equal(status.miners.connections, 2);
      assert.equal(status.miners.channels.total, 2);
      assert.equal(status.upstream.up, true);

      const history = await (await fetch(`${url}/events/history?type=channel_opened`, { headers })).text();
      const opened = history.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { type: string; identity: string });
      assert.equal(opened.length, 2);
      assert.ok(opened.every((e) => e.type === 'channel_opened' && /^demo\.miner\d$/.test(e.identity)));
    } finally {
      const code = await running;
      assert.equal(code, 0, `demo exit code; stderr: ${err}`);
    }
    // The demo's stop closed the HTTP listener too.
    const url = /HTTP API +(http:\/\/127\.0\.0\.1:\d+) /.exec(out)![1]!;
    let refused = false;
    try {
      const res = await fetch(`${url}/healthz`);
      await res.body?.cancel();
    } catch {
      refused = true;
    }
    assert.ok(refused, 'HTTP closed after the demo stopped');
  }, { timeoutMs: 90_000 });
});
