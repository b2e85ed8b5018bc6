// docs/scaling.md is code (issue 13): its TOML snippets load against the schema on top of the
// example config and say what the doc says they say; the cross-key rules it relies on refuse the
// broken variants; the PROXY header bytes it shows parse to the addresses it names; every metric
// it and the dashboard's "Scaling" row mention is registered by the gateway stack's sink metrics.
import { readFileSync } from 'node:fs';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { loadConfig } from '../../core/config/index.ts';
import { hexToBytes } from '../../core/bytes.ts';
import { parseProxyHeaderV2 } from '../../core/gateway/proxy-protocol.ts';
import { MetricsRegistry } from '../../core/metrics/registry.ts';
import { registerJetStreamMetrics } from '../../adapters/share-jetstream.ts';
import { isReasonCode } from '../../core/reason-codes.ts';
import { CUSTOM_JOB_TOKEN_CHECK_TIMEOUT_MS } from '../../core/gateway/work-selection.ts';
import { HELD_INPUT_BYTES_MAX } from '../../core/gateway/session.ts';
import { registerWorkerMetrics } from '../../adapters/workers/metrics.ts';
import { parsePrometheusText } from '../support/prometheus-text.ts';

const root = new URL('../../', import.meta.url);
const doc = readFileSync(new URL('docs/scaling.md', root), 'utf8');
const example = parseToml(readFileSync(new URL('deploy/config/example.toml', root), 'utf8')) as Record<string, Record<string, unknown>>;
const dashboard = JSON.parse(readFileSync(new URL('deploy/grafana/dashboards/reservegrid.json', root), 'utf8')) as { panels: { title: string; type: string; targets?: { expr: string }[] }[] };

const tomlBlocks = [...doc.matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** The example config (without its [job_declaration] unless asked) with `snippet` and `extra` laid over it, section by section. */
function withSnippet(snippet: string, extra: Record<string, Record<string, unknown>> = {}, keepJobDeclaration = false): ReturnType<typeof loadConfig> {
  const tree: Record<string, Record<string, unknown>> = structuredClone(example);
  if (!keepJobDeclaration) delete tree['job_declaration'];
  for (const over of [parseToml(snippet) as Record<string, Record<string, unknown>>, extra]) {
    for (const [section, keys] of Object.entries(over)) tree[section] = { ...(tree[section] ?? {}), ...keys };
  }
  return loadConfig({ tomlText: stringifyToml(tree), fileName: 'scaling.md', env: {} });
}

describe('docs/scaling.md', () => {
  test('has the three parts, all built', () => {
    for (const heading of ['## One machine, many cores (workers)', '## Many gateways behind HAProxy', '## The JetStream sink', '## What to watch in Grafana']) assert.ok(doc.includes(heading), heading);
    assert.ok(!/not built/i.test(doc), 'nothing marked as not built');
  });

  test('the workers snippet loads as documented; the default is 1, "auto" and bounds are checked', async () => {
    const r = withSnippet(tomlBlocks[0]!);
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
    assert.equal(r.config.gateway.workers, 2);
    // "Job Declaration with workers": the same snippet beside [job_declaration] loads.
    const jd = withSnippet(tomlBlocks[0]!, {}, true);
    assert.ok(jd.ok && jd.config.gateway.workers === 2 && jd.config.job_declaration.listen_addr !== undefined, jd.ok ? '' : JSON.stringify(jd.problems));
    assert.ok(doc.includes('### Job Declaration with workers') && !doc.includes('refuses `[job_declaration]`'));
    // The "Job Declaration with workers" snippet loads as it stands (with the example's own
    // [job_declaration] dropped, so the snippet's section is the one in effect).
    const jdSnippet = withSnippet(tomlBlocks[1]!);
    assert.ok(jdSnippet.ok, jdSnippet.ok ? '' : JSON.stringify(jdSnippet.problems));
    assert.deepEqual([jdSnippet.config.gateway.workers, jdSnippet.config.mining.allow_work_selection, jdSnippet.config.job_declaration.listen_addr], [2, true, '127.0.0.1:8443']);
    // Its comment holds: without allow_work_selection the same snippet is refused.
    const noWs = withSnippet(tomlBlocks[1]!, { mining: { allow_work_selection: false } });
    assert.ok(!noWs.ok && noWs.problems.some((p) => p.key === 'mining.allow_work_selection'));
    // The reason codes and the bounds the section names are the code's.
    for (const code of ['custom_job_token_check_timeout', 'custom_job_held_input_exceeded']) assert.ok(doc.includes(`\`${code}\``) && isReasonCode(code), code);
    assert.ok(doc.includes(`within ${CUSTOM_JOB_TOKEN_CHECK_TIMEOUT_MS.toLocaleString('en-US')} ms`) && HELD_INPUT_BYTES_MAX === 1024 * 1024 && doc.includes('more than 1 MiB'));
    // The default is the schema's, with the key absent (the example sets it, so drop it first).
    const { job_declaration: _noJd, ...noJd } = example;
    const { workers: _w, ...gatewayWithoutWorkers } = noJd['gateway']!;
    const defaults = loadConfig({ tomlText: stringifyToml({ ...noJd, gateway: gatewayWithoutWorkers }), fileName: 'x.toml', env: {} });
    assert.ok(defaults.ok && defaults.config.gateway.workers === 'auto', 'default "auto", as the doc says');
    assert.ok(doc.includes('The default is `"auto"`') && doc.includes('`workers = 1`'));
    assert.ok(readFileSync(new URL('docs/running.md', root), 'utf8').includes('the default `"auto"` is one per core'), 'docs/running.md says the default too');
    // The example shows the default (an operator copying it gets one worker per core).
    assert.equal(example['gateway']!['workers'], 'auto');
    const auto = withSnippet('', { gateway: { workers: 'auto' } });
    assert.ok(auto.ok && auto.config.gateway.workers === 'auto');
    for (const bad of [0, 257, 1.5, 'many']) {
      const b = withSnippet('', { gateway: { workers: bad } });
      assert.ok(!b.ok && b.problems.some((p) => p.key === 'gateway.workers'), `workers = ${JSON.stringify(bad)} refused`);
    }
    // The environment form the docs table names, "auto" included.
    const { job_declaration: _jd, ...withoutJd } = example;
    const env = loadConfig({ tomlText: stringifyToml(withoutJd), fileName: 'x.toml', env: { RESERVEGRID_GATEWAY__WORKERS: 'auto' } });
    assert.ok(env.ok && env.config.gateway.workers === 'auto');
    const { resolveWorkerCount } = await import('../../adapters/workers/leader.ts');
    assert.equal(resolveWorkerCount('auto', () => 6), 6);
    assert.equal(resolveWorkerCount(3, () => 6), 3);
    // A one-core machine: "auto" is one process, no fork (run.ts starts workers at ≥ 2).
    assert.equal(resolveWorkerCount('auto', () => 1), 1);
    // The Node claim: this Node has no reusePort when it is older than 22.12 (the doc's reason for node:cluster).
    assert.ok(doc.includes('22.12') && doc.includes('node:cluster') && doc.includes('--unstable-net'));
  });

  test('the gateway (PROXY v2) snippet loads as documented; without trusted sources it is refused', () => {
    assert.equal(tomlBlocks.length, 4, 'four toml snippets');
    const r = withSnippet(tomlBlocks[2]!);
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
    assert.equal(r.config.gateway.id, 7);
    assert.equal(r.config.gateway.proxy_protocol, 'v2');
    assert.deepEqual(r.config.gateway.proxy_trusted_sources, ['10.0.0.0/24']);
    const bad = withSnippet(tomlBlocks[2]!, { gateway: { proxy_trusted_sources: [] } });
    assert.ok(!bad.ok);
    assert.ok(bad.problems.some((p) => p.key === 'gateway.proxy_trusted_sources'), bad.problems.map((p) => p.message).join('; '));
    const garbage = withSnippet(tomlBlocks[2]!, { gateway: { proxy_trusted_sources: ['10.0.0.0/33'] } });
    assert.ok(!garbage.ok && garbage.problems.some((p) => p.key.startsWith('gateway.proxy_trusted_sources')));
  });

  test('the JetStream snippet loads as documented; jetstream without servers, or a user without a password, is refused', () => {
    const r = withSnippet(tomlBlocks[3]!);
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
    assert.equal(r.config.share.sink, 'jetstream');
    assert.deepEqual(r.config.nats.servers, ['10.0.2.1:4222', '10.0.2.2:4222']);
    assert.equal(r.config.nats.stream, 'POOL_SHARES');
    assert.equal(r.config.nats.subject, 'pool.shares');
    assert.equal(r.config.nats.duplicate_window_ms, 24 * 3_600_000);
    assert.equal(r.config.nats.create_stream, false);
    assert.equal(r.config.nats.credentials_file, '/etc/reservegrid/nats.creds');
    const noServers = withSnippet(tomlBlocks[3]!, { nats: { servers: [] } });
    assert.ok(!noServers.ok && noServers.problems.some((p) => p.key === 'nats.servers'));
    const halfAuth = withSnippet(tomlBlocks[3]!, { nats: { user: 'gw7' } });
    assert.ok(!halfAuth.ok && halfAuth.problems.some((p) => p.key === 'nats.password'));
    const badSubject = withSnippet(tomlBlocks[3]!, { nats: { subject: 'pool.>' } });
    assert.ok(!badSubject.ok && badSubject.problems.some((p) => p.key === 'nats.subject'));
    // The default duplicate window (2 h) is above the ≈ 72 s retry schedule the doc computes.
    const defaults = withSnippet('');
    assert.ok(defaults.ok);
    const s = defaults.config.share;
    let scheduleMs = 8 * s.share_forward_timeout_ms;
    for (let attempt = 1; attempt < 8; attempt++) scheduleMs += Math.min(s.share_forward_retry_max_ms, s.share_forward_retry_initial_ms * 2 ** (attempt - 1));
    assert.equal(scheduleMs, 71_750);
    assert.ok(doc.includes('8 × 5 s + 31.75 s ≈ 72 s'));
    assert.ok(defaults.config.nats.duplicate_window_ms > scheduleMs);
  });

  test('the PROXY header it shows parses to the addresses it names', () => {
    const line = /\n(0d0a0d0a000d0a515549540a[0-9a-f ]+)\n/.exec(doc)![1]!;
    const r = parseProxyHeaderV2(hexToBytes(line.replace(/ /g, '')));
    assert.deepEqual(r, { kind: 'proxied', headerBytes: 28, family: 'inet', source: { address: '172.19.0.1', port: 42578 }, destination: { address: '172.19.0.3', port: 80 }, tlvCount: 0 });
    assert.ok(doc.includes('172.19.0.1:42578') && doc.includes('172.19.0.3:80'));
  });

  test('every sink and worker metric it and the dashboard\'s Scaling row name is exposed, also with the http sink and one process', () => {
    const registry = new MetricsRegistry();
    registerJetStreamMetrics(registry, 'http', () => null);
    registerWorkerMetrics(registry);
    const exposed = parsePrometheusText(registry.render());
    const row = dashboard.panels.findIndex((p) => p.type === 'row' && p.title.startsWith('Scaling'));
    assert.ok(row >= 0, 'a Scaling row');
    const names = new Set<string>();
    for (const p of dashboard.panels.slice(row + 1)) for (const t of p.targets ?? []) for (const m of t.expr.matchAll(/\b(reservegrid_(?:jetstream_|share_sink_|workers\b|worker_)[a-z_]*)/g)) names.add(m[1]!);
    for (const m of doc.matchAll(/`(reservegrid_(?:jetstream_|share_sink_|workers\b|worker_)[a-z_]*)/g)) names.add(m[1]!);
    assert.ok(names.size >= 6 && names.has('reservegrid_workers') && names.has('reservegrid_worker_restarts_total'), [...names].join(', '));
    for (const name of names) assert.ok(exposed.has(name.replace(/_total$/, '')) || exposed.has(name), `${name} is exposed`);
    const metricsDoc = readFileSync(new URL('docs/metrics.md', root), 'utf8');
    for (const name of names) assert.ok(metricsDoc.includes(`\`${name}\``), `docs/metrics.md lists ${name}`);
  });
});
