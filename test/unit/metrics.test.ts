// core/metrics (registry + event-fed gateway metrics) and core/events/event-buffer.ts.
// Exposition text is checked against hand-written lines from the 0.0.4 format description and
// through an independent parser (test/support/prometheus-text.ts).
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { MetricsRegistry, OVERFLOW_LABEL_VALUE, PROMETHEUS_CONTENT_TYPE } from '../../core/metrics/registry.ts';
import { GatewayMetrics } from '../../core/metrics/gateway-metrics.ts';
import { buildStatus } from '../../core/metrics/status.ts';
import { EventBuffer } from '../../core/events/event-buffer.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.ts';

describe('metrics registry (text format 0.0.4)', () => {
  test('counter, gauge and histogram render exactly as the format describes', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'x_requests_total', help: 'Requests.\nSecond line with a \\ backslash.', labels: ['code'] });
    c.inc({ code: '200' });
    c.inc({ code: '200' }, 2);
    c.inc({ code: 'say "hi"\n' });
    const g = r.gauge({ name: 'x_temperature', help: 'T.' });
    g.set(undefined, -1.5);
    const h = r.histogram({ name: 'x_latency_seconds', help: 'L.', buckets: [0.1, 1] });
    h.observe(undefined, 0.05);
    h.observe(undefined, 0.1); // le is inclusive
    h.observe(undefined, 3);
    const text = r.render();
    const expected = [
      '# HELP x_requests_total Requests.\\nSecond line with a \\\\ backslash.',
      '# TYPE x_requests_total counter',
      'x_requests_total{code="200"} 3',
      'x_requests_total{code="say \\"hi\\"\\n"} 1',
      '# HELP x_temperature T.',
      '# TYPE x_temperature gauge',
      'x_temperature -1.5',
      '# HELP x_latency_seconds L.',
      '# TYPE x_latency_seconds histogram',
      'x_latency_seconds_bucket{le="0.1"} 2',
      'x_latency_seconds_bucket{le="1"} 2',
      'x_latency_seconds_bucket{le="+Inf"} 3',
      'x_latency_seconds_sum 3.15',
      'x_latency_seconds_count 3',
    ].join('\n');
    assert.ok(text.includes(expected), text);
    assert.ok(text.endsWith('\n'));
    assert.equal(PROMETHEUS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
    const parsed = parsePrometheusText(text);
    assert.equal(sampleValue(parsed, 'x_requests_total', { code: 'say "hi"\n' }), 1);
    assert.equal(sampleValue(parsed, 'x_latency_seconds_bucket', { le: '+Inf' }), 3);
  });

  test('label sets are bounded: past seriesMax they fold into one _overflow series, counted', () => {
    const r = new MetricsRegistry();
    const c = r.counter({ name: 'x_total', help: 'X.', labels: ['peer'], seriesMax: 3 });
    for (let i = 0; i < 10; i++) c.inc({ peer: `p${i}` });
    assert.equal(c.seriesCount, 4, 'three real series and the overflow one');
    const parsed = parsePrometheusText(r.render());
    assert.equal(sampleValue(parsed, 'x_total', { peer: OVERFLOW_LABEL_VALUE }), 7);
    assert.equal(sampleValue(parsed, 'reservegrid_metrics_series_overflow_total', { metric: 'x_total' }), 7);
  });

  test('misuse throws naming the argument', () => {
    const r = new MetricsRegistry();
    assert.throws(() => r.counter({ name: 'bad-name', help: 'x' }), /metric name/);
    assert.throws(() => r.counter({ name: 'a_total', help: 'x', labels: ['le'] }), /bad label name/);
    const c = r.counter({ name: 'a_total', help: 'x', labels: ['k'] });
    assert.throws(() => r.counter({ name: 'a_total', help: 'x' }), /already registered/);
    assert.throws(() => c.inc({ k: 'v' }, -1), /amount/);
    assert.throws(() => c.inc({}), /label k/);
    assert.throws(() => r.histogram({ name: 'h', help: 'x', buckets: [1, 1] }), /strictly increasing/);
  });

  test('a throwing collector does not break render', () => {
    const r = new MetricsRegistry();
    const g = r.gauge({ name: 'q', help: 'Q.' });
    r.addCollector(() => g.set(undefined, 5));
    r.addCollector(() => {
      throw new Error('boom');
    });
    assert.equal(sampleValue(parsePrometheusText(r.render()), 'q'), 5);
  });
});

const ev = (type: string, fields: Record<string, unknown> = {}): { type: string } & Record<string, unknown> => ({ type, ...fields });

describe('gateway metrics fed by events', () => {
  test('connections, handshakes by result, channels by kind (closed with their connection)', () => {
    const m = new GatewayMetrics({ mode: 'observe' });
    m.observe(ev('connection_opened', { conn_id: 1, open_connections: 1 }));
    m.observe(ev('connection_setup', { conn_id: 1 }));
    m.observe(ev('channel_opened', { conn_id: 1, channel_id: 2, kind: 'extended' }));
    m.observe(ev('channel_opened', { conn_id: 1, channel_id: 3, kind: 'standard' }));
    m.observe(ev('connection_opened', { conn_id: 2, open_connections: 2 }));
    m.observe(ev('connection_closed', { conn_id: 2, reason_code: 'handshake_timeout' }));
    let p = parsePrometheusText(m.registry.render());
    assert.equal(sampleValue(p, 'reservegrid_handshakes_total', { result: 'success' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_handshakes_total', { result: 'handshake_timeout' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_connections_open'), 1);
    assert.equal(sampleValue(p, 'reservegrid_channels_open', { channel_type: 'extended' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_gateway_mode', { mode: 'observe' }), 1);
    m.observe(ev('channel_closed', { conn_id: 1, channel_id: 3, reason_code: 'channel_closed_by_client' }));
    m.observe(ev('connection_closed', { conn_id: 1, reason_code: 'peer_closed' }));
    p = parsePrometheusText(m.registry.render());
    assert.equal(sampleValue(p, 'reservegrid_channels_open', { channel_type: 'extended' }), 0);
    assert.equal(sampleValue(p, 'reservegrid_channels_open', { channel_type: 'standard' }), 0);
    assert.equal(sampleValue(p, 'reservegrid_channels_closed_total', { reason_code: 'peer_closed' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_channels_closed_total', { reason_code: 'channel_closed_by_client' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_handshakes_total', { result: 'peer_closed' }), undefined, 'closing after setup is not a handshake failure');
    assert.equal(sampleValue(p, 'reservegrid_connections_open'), 0);
    assert.equal(sampleValue(p, 'reservegrid_events_total', { type: 'connection_opened' }), 2);
  });

  test('shares by result and reason code; unknown codes become "unknown" (bounded labels)', () => {
    const m = new GatewayMetrics();
    m.observe(ev('channel_opened', { conn_id: 1, channel_id: 1, kind: 'extended' }));
    m.observe(ev('share_accepted', { conn_id: 1, channel_id: 1, difficulty: 0.5, stale_hold: true }));
    m.observe(ev('share_accepted', { conn_id: 9, channel_id: 9, difficulty: 1.5 }));
    m.observe(ev('share_rejected', { reason_code: 'stale_share' }));
    m.observe(ev('share_rejected', { reason_code: 'something the peer made up' }));
    const p = parsePrometheusText(m.registry.render());
    assert.equal(sampleValue(p, 'reservegrid_shares_accepted_total', { channel_type: 'extended' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_shares_accepted_total', { channel_type: 'unknown' }), 1, 'a channel never seen open');
    assert.equal(sampleValue(p, 'reservegrid_shares_accepted_total', { channel_type: 'standard' }), 0);
    assert.equal(sampleValue(p, 'reservegrid_shares_accepted_stale_hold_total'), 1);
    assert.equal(sampleValue(p, 'reservegrid_share_difficulty_accepted_total'), 2);
    assert.equal(sampleValue(p, 'reservegrid_shares_rejected_total', { reason_code: 'stale_share' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_shares_rejected_total', { reason_code: 'unknown' }), 1);
  });

  test('verdicts by mode and reason, latencies in seconds, stale hold state, switches, forwarding, blocks, upstream', () => {
    const m = new GatewayMetrics({ mode: 'inline' });
    m.observe(ev('template_verdict', { mode: 'inline', reason_code: 'coinbase_payout_unpaid', action: 'hold', outcome: 'verdict', latency_ms: 3, template_id: '7' }));
    m.observe(ev('stale_hold_started', { reason_code: 'coinbase_payout_unpaid', template_id: '7', held_template_id: '6', hold_ms: 5000 }));
    let p = parsePrometheusText(m.registry.render());
    assert.equal(sampleValue(p, 'reservegrid_stale_hold_active'), 1);
    assert.equal(m.state.hold.active, true);
    m.observe(ev('prevhash_switch', { mode: 'inline', cause: 'verdict_accepted', from_hold: true, latency_ms: 567, template_id: '8', height: 2, prev_hash: 'ab' }));
    m.observe(ev('stale_hold_ended', { outcome: 'switched', duration_ms: 567 }));
    m.observe(ev('share_forward_retry', { error: 'http_error' }));
    m.observe(ev('share_forward_result', { status: 'ok', attempts: 2, latency_ms: 350 }));
    m.observe(ev('share_forward_result', { status: 'dropped_queue_full', attempts: 0, latency_ms: 0 }));
    m.observe(ev('block_found', {}));
    m.observe(ev('block_submit_result', { result: 'accepted' }));
    m.observe(ev('upstream_unavailable', { consecutive_failures: 3, error_code: 'timeout', message: 'x' }));
    m.setUpstreamPolls({ polls: 10, failures: 3 });
    m.setUpstreamPolls({ polls: 12, failures: 3 });
    m.setForwardQueue({ queueDepth: 4, queueCapacity: 100, inFlightShares: 2 });
    p = parsePrometheusText(m.registry.render());
    assert.equal(sampleValue(p, 'reservegrid_template_verdicts_total', { mode: 'inline', reason_code: 'coinbase_payout_unpaid', action: 'hold' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_template_verdict_latency_seconds_sum', { mode: 'inline' }), 0.003);
    assert.equal(sampleValue(p, 'reservegrid_template_verdict_latency_seconds_bucket', { mode: 'inline', le: '0.0025' }), 0);
    assert.equal(sampleValue(p, 'reservegrid_template_verdict_latency_seconds_bucket', { mode: 'inline', le: '0.005' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_prevhash_switches_total', { mode: 'inline', cause: 'verdict_accepted', from_hold: 'true' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_prevhash_switch_latency_seconds_count', { mode: 'inline' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_stale_hold_active'), 0);
    assert.equal(sampleValue(p, 'reservegrid_stale_holds_ended_total', { outcome: 'switched' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_share_forward_results_total', { status: 'ok' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_share_forward_latency_seconds_count'), 1, 'dropped shares are not observed');
    assert.equal(sampleValue(p, 'reservegrid_share_forward_queue_depth'), 4);
    assert.equal(sampleValue(p, 'reservegrid_blocks_found_total'), 1);
    assert.equal(sampleValue(p, 'reservegrid_block_submit_results_total', { result: 'accepted' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_blocks_pending'), 0);
    assert.equal(sampleValue(p, 'reservegrid_upstream_up'), 0);
    assert.equal(sampleValue(p, 'reservegrid_upstream_polls_total', { result: 'ok' }), 9);
    assert.equal(sampleValue(p, 'reservegrid_upstream_polls_total', { result: 'error' }), 3);
    assert.equal(m.state.prevhash.last_switch_cause, 'verdict_accepted');
  });

  test('odd events never throw (a log line from another build)', () => {
    const m = new GatewayMetrics();
    for (const e of [ev('connection_closed'), ev('channel_opened', { conn_id: 'x' }), ev('template_verdict', { latency_ms: 'slow' }), ev('BAD TYPE'), ev('share_accepted', { difficulty: -1 })]) m.observe(e);
    m.observe(null as unknown as { type: string });
    const p = parsePrometheusText(m.registry.render());
    assert.equal(sampleValue(p, 'reservegrid_events_total', { type: 'invalid' }), 1);
  });

  test('buildStatus: the /status shape', () => {
    const m = new GatewayMetrics({ mode: 'inline' });
    m.observe(ev('connection_opened', { conn_id: 1, open_connections: 1 }));
    m.observe(ev('channel_opened', { conn_id: 1, channel_id: 1, kind: 'standard' }));
    const s = buildStatus({
      observed: m.state,
      gateway: { id: 1, mode: 'inline', state: 'running', runtime: 'node', started_at: 'x', uptime_secs: 1, sv2_url: null },
      upstream: { url: 'embedded', failure_policy: 'fail_closed' },
      verifier: { addr: 'embedded', pending_requests: 0 },
      gate: { phase: 'holding', refusing_miners: false, hold_expires_in_ms: 100 },
      forwarding: null,
      eventBuffer: { size: 0, capacity: 10, last_id: 0, evicted: 0, subscribers: 0 },
    });
    assert.equal(s.hold.active, true, 'the gate is the truth now');
    assert.equal(s.hold.expires_in_ms, 100);
    assert.deepEqual(s.miners.channels, { standard: 1, extended: 0, total: 1 });
    assert.equal(s.miners.connections, 1);
    assert.equal(s.prevhash.phase, 'holding');
  });
});

describe('event buffer', () => {
  test('ids ascend from 1; a full ring evicts the oldest and a resume reports the gap', () => {
    const b = new EventBuffer(3);
    for (let i = 1; i <= 5; i++) assert.equal(b.push({ type: i % 2 === 0 ? 'even' : 'odd' }), i);
    assert.equal(b.firstId, 3);
    assert.equal(b.lastId, 5);
    assert.equal(b.evicted, 2);
    const r = b.query({ afterId: 1 });
    assert.deepEqual(r.events.map((e) => e.id), [3, 4, 5]);
    assert.equal(r.missed, 1, 'id 2 is gone');
    assert.equal(b.query({ afterId: 2 }).missed, 0);
    assert.deepEqual(b.query({ afterId: 3, types: ['odd'] }).events.map((e) => e.id), [5]);
    assert.deepEqual(b.query({ limit: 2 }).events.map((e) => e.id), [3, 4]);
    assert.deepEqual(b.query({ limit: 2, newest: true }).events.map((e) => e.id), [4, 5]);
    assert.deepEqual(b.query({ afterId: 99 }).events, []);
  });

  test('subscribers get every push synchronously; a throwing one is removed', () => {
    const b = new EventBuffer(10);
    const seen: number[] = [];
    const off = b.subscribe((e) => seen.push(e.id));
    b.subscribe(() => {
      throw new Error('broken stream');
    });
    b.push({ type: 'a' });
    assert.equal(b.subscriberCount, 1);
    b.push({ type: 'b' });
    off();
    b.push({ type: 'c' });
    assert.deepEqual(seen, [1, 2]);
    assert.throws(() => new EventBuffer(0), /capacity/);
  });
});
