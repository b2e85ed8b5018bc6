// The HTTP app (adapters/http/app.ts) through `app.request()`, no sockets (STYLE.md #10):
// authentication (401 without the key, 200 with it as Bearer or X-API-Key, /healthz open),
// /metrics parses as Prometheus text, /status shape, /events/history, and SSE including resume
// with Last-Event-ID read from the response stream in-process.
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { createHttpApp } from '../../adapters/http/app.ts';
import { EventBuffer } from '../../core/events/event-buffer.ts';
import { GatewayMetrics, type ObservableEvent } from '../../core/metrics/gateway-metrics.ts';
import { buildStatus } from '../../core/metrics/status.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.ts';
import { readSse } from '../support/sse-reader.ts';
import { assertHeadMatchesGet } from '../support/head-get.ts';
import { GATEWAY_EVENT_TYPES } from '../../core/gateway/events.ts';

const KEY = 'unit-test-api-key-0123';

function world(options: { sseQueueMax?: number } = {}) {
  const metrics = new GatewayMetrics({ mode: 'observe' });
  const events = new EventBuffer<ObservableEvent>(100);
  const publish = (e: ObservableEvent): number => {
    metrics.observe(e);
    return events.push(e);
  };
  const shutdown = new AbortController();
  const app = createHttpApp({
    apiKey: KEY,
    metrics: () => metrics.registry.render(),
    status: () =>
      buildStatus({
        observed: metrics.state,
        gateway: { id: 1, mode: 'observe', state: 'running', runtime: 'node', started_at: '2026-01-01T00:00:00.000Z', uptime_secs: 0, sv2_url: null },
        upstream: { url: 'embedded', failure_policy: 'permit_all' },
        verifier: { addr: 'embedded', pending_requests: 0 },
        forwarding: { depth: 0, capacity: 10, in_flight: 0, unsettled: 0 },
        eventBuffer: { size: events.size, capacity: events.capacity, last_id: events.lastId, evicted: events.evicted, subscribers: events.subscriberCount },
      }),
    events,
    heartbeatMs: 20,
    shutdownSignal: shutdown.signal,
    ...(options.sseQueueMax === undefined ? {} : { sseQueueMax: options.sseQueueMax }),
  });
  return { app, metrics, events, publish, shutdown };
}

const auth = { Authorization: `Bearer ${KEY}` };

describe('http app (app.request)', () => {
  test('401 without the key or with a wrong one on every protected path; /healthz is open', async () => {
    const { app } = world();
    for (const path of ['/metrics', '/status', '/events', '/events/history', '/nope']) {
      const none = await app.request(path);
      assert.equal(none.status, 401, path);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.equal((await app.request(path, { headers: { Authorization: `Bearer ${KEY}x` } })).status, 401, `${path} wrong key`);
      assert.equal((await app.request(path, { headers: { 'X-API-Key': KEY.slice(0, -1) } })).status, 401, `${path} prefix of the key`);
      assert.equal((await app.request(path, { headers: { Authorization: `Basic ${KEY}` } })).status, 401, `${path} not bearer`);
    }
    const health = await app.request('/healthz');
    assert.equal(health.status, 200);
    assert.equal(await health.text(), 'ok\n');
  });

  test('200 with the key as Bearer or X-API-Key; /metrics is Prometheus text that parses', async () => {
    const { app, publish } = world();
    publish({ type: 'connection_opened', conn_id: 1, open_connections: 1 });
    publish({ type: 'share_rejected', reason_code: 'stale_share' });
    for (const headers of [auth, { 'X-API-Key': KEY }, { authorization: `bearer ${KEY}` }] as Record<string, string>[]) {
      const res = await app.request('/metrics', { headers });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      const families = parsePrometheusText(await res.text());
      assert.equal(families.get('reservegrid_connections_opened_total')?.type, 'counter');
      assert.equal(sampleValue(families, 'reservegrid_shares_rejected_total', { reason_code: 'stale_share' }), 1);
    }
  });

  test('/status shape', async () => {
    const { app, publish } = world();
    publish({ type: 'template_received', template_id: '3', height: 7, prev_hash: 'aa', new_prevhash: true, tx_count: 1, coinbase_value: '1' });
    const res = await app.request('/status', { headers: auth });
    assert.equal(res.status, 200);
    const s = (await res.json()) as Record<string, Record<string, unknown>>;
    for (const key of ['gateway', 'upstream', 'verifier', 'prevhash', 'hold', 'miners', 'blocks', 'queue']) assert.ok(s[key] !== undefined && typeof s[key] === 'object', `status.${key}`);
    assert.equal(s.gateway!.mode, 'observe');
    assert.equal(s.upstream!.up, true);
    assert.equal(s.upstream!.height, 7);
    assert.equal(s.prevhash!.prev_hash, 'aa');
    assert.equal(s.hold!.active, false);
    assert.deepEqual(s.miners!.channels, { standard: 0, extended: 0, total: 0 });
    assert.ok('share_forward' in s.queue! && 'events' in s.queue!);
  });

  test('/events/history: JSON lines, type filter, since_id paging, newest by default, bad params 400', async () => {
    const { app, publish } = world();
    for (let i = 0; i < 6; i++) publish({ type: i % 2 === 0 ? 'share_accepted' : 'share_rejected', n: i });
    const lines = async (query: string): Promise<Record<string, unknown>[]> => {
      const res = await app.request(`/events/history${query}`, { headers: auth });
      assert.equal(res.status, 200, query);
      assert.match(res.headers.get('content-type') ?? '', /^application\/x-ndjson/);
      return (await res.text()).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    };
    assert.deepEqual((await lines('')).map((e) => e.event_id), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual((await lines('?limit=2')).map((e) => e.event_id), [5, 6], 'newest two');
    assert.deepEqual((await lines('?since_id=2&limit=2')).map((e) => e.event_id), [3, 4], 'paging forward');
    const rejected = await lines('?type=share_rejected');
    assert.deepEqual(rejected.map((e) => [e.event_id, e.type, e.n]), [[2, 'share_rejected', 1], [4, 'share_rejected', 3], [6, 'share_rejected', 5]]);
    assert.deepEqual((await lines('?type=share_rejected,share_accepted&since_id=5')).map((e) => e.event_id), [6]);
    for (const q of ['?limit=0', '?limit=x', '?since_id=-1', '?type=Bad-Type', '?limit=999999']) {
      assert.equal((await app.request(`/events/history${q}`, { headers: auth })).status, 400, q);
    }
  });

  test('/events: live SSE with type filter, heartbeats, and resume with Last-Event-ID', async () => {
    const { app, publish, shutdown, events } = world();
    publish({ type: 'share_accepted', n: 1 }); // id 1, before anyone listens
    const res = await app.request('/events?type=share_accepted,block_found', { headers: auth });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = readSse(res.body!);
    publish({ type: 'share_rejected', n: 2 }); // id 2: filtered out
    publish({ type: 'block_found', n: 3 }); // id 3
    const first = await reader.nextMessage(2000);
    assert.equal(first.id, '3', 'live only: id 1 came before the stream; id 2 is filtered');
    assert.equal((JSON.parse(first.data) as { type: string }).type, 'block_found');
    assert.ok(await reader.waitComment(/heartbeat/, 2000), 'heartbeat comment');
    await reader.cancel();

    // Resume: everything after id 1 that matches, then live.
    const resumed = await app.request('/events?type=share_accepted,block_found', { headers: { ...auth, 'Last-Event-ID': '1' } });
    const r2 = readSse(resumed.body!);
    assert.equal((await r2.nextMessage(2000)).id, '3');
    publish({ type: 'share_accepted', n: 4 }); // id 4
    const live = await r2.nextMessage(2000);
    assert.equal(live.id, '4');
    assert.deepEqual(JSON.parse(live.data), { type: 'share_accepted', n: 4 });
    shutdown.abort();
    assert.ok(await r2.waitEnd(2000), 'the stream ends on shutdown');
    assert.equal(events.subscriberCount, 0, 'streams unsubscribe');
  });

  test('/events: a resume older than the buffer gets a gap event; a slow client gets overflow and is closed', async () => {
    const { app, publish } = world({ sseQueueMax: 2 });
    for (let i = 0; i < 105; i++) publish({ type: 'x', n: i }); // buffer keeps ids 6..105
    const res = await app.request('/events', { headers: { ...auth, 'Last-Event-ID': '2' } });
    const reader = readSse(res.body!);
    const gap = await reader.nextMessage(2000);
    assert.equal(gap.event, 'gap');
    assert.deepEqual(JSON.parse(gap.data), { missed: 3, first_id: 6, last_event_id: 2 });
    assert.equal((await reader.nextMessage(2000)).id, '6');
    await reader.cancel();

    const slow = await app.request('/events', { headers: auth });
    const sr = readSse(slow.body!);
    for (let i = 0; i < 10; i++) publish({ type: 'x' }); // queued faster than read: overflow at 2
    const got: string[] = [];
    for (;;) {
      const m = await sr.nextMessage(2000).catch(() => undefined);
      if (m === undefined) break;
      got.push(m.event ?? m.id ?? '');
      if (m.event === 'overflow') break;
    }
    assert.equal(got.at(-1), 'overflow', got.join(','));
    assert.ok(await sr.waitEnd(2000));
    assert.equal((await app.request('/events', { headers: { ...auth, 'Last-Event-ID': 'abc' } })).status, 400);
  });

  test('HEAD answers as GET without the body on every registered route, with and without the key', async () => {
    const { app, publish, shutdown } = world();
    publish({ type: 'share_accepted' });
    const paths = [...new Set(app.routes.filter((r) => r.method === 'GET').map((r) => r.path)), '/events?type=nope', '/no-such-route'];
    assert.ok(paths.includes('/healthz') && paths.includes('/events'), paths.join(' '));
    for (const path of paths) {
      for (const headers of [{}, auth] as Record<string, string>[]) {
        const get = await app.request(path, { headers });
        const streamed = (get.headers.get('content-type') ?? '').startsWith('text/event-stream');
        let bytes: number | null = null;
        if (streamed) await get.body?.cancel();
        else bytes = (await get.arrayBuffer()).byteLength;
        const head = await app.request(path, { method: 'HEAD', headers });
        await assertHeadMatchesGet(`${path} ${headers === auth ? 'key' : 'no key'}`, get, bytes, head);
      }
    }
    shutdown.abort();
  });

  test('an unknown ?type= is a 400 naming the known types, on /events and /events/history, each value checked', async () => {
    const { app, publish } = world();
    publish({ type: 'share_accepted' });
    const cases: [string, string[]][] = [
      ['?type=share_acepted', ['share_acepted']],
      ['?type=share_accepted,no_such_type', ['no_such_type']],
      ['?type=share_accepted&type=also_unknown', ['also_unknown']],
      ['?type=a_b&type=share_rejected,c_d', ['a_b', 'c_d']],
    ];
    for (const path of ['/events', '/events/history']) {
      for (const [query, unknown] of cases) {
        const res = await app.request(path + query, { headers: auth });
        assert.equal(res.status, 400, path + query);
        const body = (await res.json()) as { error: string; detail: string; unknown_types: string[]; known_types: string[] };
        assert.equal(body.error, 'bad_request');
        assert.deepEqual(body.unknown_types, unknown, path + query);
        assert.deepEqual(body.known_types, [...GATEWAY_EVENT_TYPES], path + query);
        for (const u of unknown) assert.ok(body.detail.includes(JSON.stringify(u)), body.detail);
      }
      // Known types in both forms still filter.
      const ok = await app.request(`${path}?type=share_accepted&type=share_rejected`, { headers: auth });
      assert.equal(ok.status, 200, path);
      await ok.body?.cancel();
    }
    const lines = (await (await app.request('/events/history?type=share_rejected&type=share_accepted', { headers: auth })).text()).trim().split('\n');
    assert.equal(lines.length, 1);
    assert.equal(JSON.parse(lines[0]!).type, 'share_accepted');
  });

  test('docs/http-api.md shows the unknown-type answer as the app gives it', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../docs/http-api.md', import.meta.url), 'utf8');
    const section = doc.split('### Unknown event types\n')[1]!;
    const example = JSON.parse(/```json\n(.*)\n```/.exec(section)![1]!) as Record<string, unknown> & { known_types: string[]; unknown_types: string[]; detail: string };
    const { app } = world();
    const res = await app.request(`/events/history?type=${example.unknown_types.join(',')}`, { headers: auth });
    assert.equal(res.status, 400);
    const body = (await res.json()) as typeof example;
    assert.deepEqual(Object.keys(body), Object.keys(example));
    assert.equal(body.detail, example.detail);
    assert.deepEqual(body.unknown_types, example.unknown_types);
    assert.equal(body.known_types[0], example.known_types[0]);
  });

  test('GATEWAY_EVENT_TYPES is exactly the types docs/events.md documents', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');
    // The event tables' first column: one row per type.
    const documented = [...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]!);
    assert.deepEqual([...documented].sort(), [...GATEWAY_EVENT_TYPES].sort());
  });
});
