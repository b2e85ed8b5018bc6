// docs/metrics.md against the code: the reference tables list exactly the metrics a gateway
// exports (GatewayMetrics plus adapters/process-metrics.ts and the share sink's series from
// adapters/share-jetstream.ts and the socket-worker series of adapters/workers/metrics.ts, as
// the gateway stack builds them),
// each with its type; and the families the doc says are exported at 0 are there before any event.
import { readFileSync } from 'node:fs';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { attachProcessMetrics } from '../../adapters/process-metrics.ts';
import { registerJetStreamMetrics } from '../../adapters/share-jetstream.ts';
import { registerWorkerMetrics } from '../../adapters/workers/metrics.ts';
import { CONNECTION_REFUSED_REASON_CODES } from '../../core/gateway/events.ts';
import { CONNECTION_CLOSED_REASON_CODES, GatewayMetrics, SHARE_REJECTED_REASON_CODES, STALE_HOLD_REASON_CODES } from '../../core/metrics/gateway-metrics.ts';
import { REASON_CODES } from '../../core/reason-codes.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.ts';

const DOC = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');

function exported(): GatewayMetrics {
  const metrics = new GatewayMetrics({ mode: 'inline' });
  attachProcessMetrics(metrics.registry);
  registerJetStreamMetrics(metrics.registry, 'http', () => null);
  registerWorkerMetrics(metrics.registry);
  return metrics;
}

describe('docs/metrics.md', () => {
  test('the reference tables list exactly the exported metrics, with their types', () => {
    const documented = new Map([...DOC.matchAll(/^\| `([a-z_:]+)` \| (counter|gauge|histogram) \|/gm)].map((m) => [m[1]!, m[2]!]));
    const registry = exported().registry;
    const actual = new Map(registry.names().map((name) => [name, registry.get(name)!.type]));
    // /proc-backed series exist only where /proc does; the doc says so.
    for (const name of ['process_open_fds', 'process_max_fds']) if (!actual.has(name)) documented.delete(name);
    assert.ok(actual.size >= 45, `${actual.size} metrics`);
    assert.deepEqual([...documented.keys()].sort(), [...actual.keys()].sort(), 'documented metric names = exported names');
    for (const [name, type] of actual) assert.equal(documented.get(name), type, `${name} type`);
  });

  test('the reason-code families have every registry code they can carry at 0 before any event', () => {
    const families = parsePrometheusText(exported().registry.render());
    const sets: [string, readonly string[]][] = [
      ['reservegrid_connections_refused_total', CONNECTION_REFUSED_REASON_CODES],
      ['reservegrid_connections_closed_total', CONNECTION_CLOSED_REASON_CODES],
      ['reservegrid_shares_rejected_total', SHARE_REJECTED_REASON_CODES],
      ['reservegrid_stale_holds_started_total', STALE_HOLD_REASON_CODES],
    ];
    for (const [name, codes] of sets) {
      assert.ok(codes.length >= 4, `${name}: ${codes.length} codes`);
      for (const code of codes) {
        assert.ok(Object.hasOwn(REASON_CODES, code), `${code} is registered`);
        assert.equal(sampleValue(families, name, { reason_code: code }), 0, `${name}{reason_code="${code}"}`);
      }
    }
    // What the registry says each family carries, spot-checked against the events the code emits.
    assert.ok(CONNECTION_CLOSED_REASON_CODES.includes('peer_closed') && CONNECTION_CLOSED_REASON_CODES.includes('stale_hold_expired') && CONNECTION_CLOSED_REASON_CODES.includes('protocol_version_mismatch'));
    assert.ok(SHARE_REJECTED_REASON_CODES.includes('stale_share') && !SHARE_REJECTED_REASON_CODES.includes('peer_closed'));
    assert.ok(STALE_HOLD_REASON_CODES.includes('verdict_timeout') && STALE_HOLD_REASON_CODES.includes('verifier_unavailable') && !STALE_HOLD_REASON_CODES.includes('template_accepted'));
    for (const outcome of ['switched', 'expired', 'reverted', 'shutdown']) assert.equal(sampleValue(families, 'reservegrid_stale_holds_ended_total', { outcome }), 0, outcome);
    for (const error of ['http_error', 'timeout', 'transport_error']) assert.equal(sampleValue(families, 'reservegrid_share_forward_retries_total', { error }), 0, error);
  });

  test('build info and process metrics: one build_info series naming this runtime; live values', () => {
    const families = parsePrometheusText(exported().registry.render());
    const build = families.get('reservegrid_build_info');
    assert.ok(build !== undefined && build.samples.length === 1, 'one build_info series');
    const labels = build.samples[0]!.labels;
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(labels.version, pkg.version);
    assert.ok(['node', 'deno', 'bun'].includes(labels.runtime!), labels.runtime);
    assert.match(labels.runtime_version ?? '', /^\d+\.\d+\.\d+/);
    assert.ok((sampleValue(families, 'process_resident_memory_bytes') ?? 0) > 1_000_000, 'rss');
    assert.ok((sampleValue(families, 'process_heap_used_bytes') ?? 0) > 0, 'heap');
    assert.ok((sampleValue(families, 'process_cpu_seconds_total') ?? 0) > 0, 'cpu');
    const start = sampleValue(families, 'process_start_time_seconds') ?? 0;
    assert.ok(start > 1_600_000_000 && start <= Date.now() / 1000 + 1, `start ${start}`);
  });
});
