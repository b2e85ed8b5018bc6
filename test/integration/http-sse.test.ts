// The HTTP app on this runtime's native server (adapters/http/index.ts: @hono/node-server on
// Node, Deno.serve, Bun.serve) over a real loopback socket: /healthz, auth, /metrics, and an SSE
// stream read with fetch, including resume with Last-Event-ID after a disconnect and prompt
// close with a stream open.
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { createHttpApp } from '../../adapters/http/app.ts';
import { httpRuntime, serveHttp } from '../../adapters/http/index.ts';
import { EventBuffer } from '../../core/events/event-buffer.ts';
import { GatewayMetrics, type ObservableEvent } from '../../core/metrics/gateway-metrics.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.ts';
import { readSse } from '../support/sse-reader.ts';

const KEY = 'sse-test-api-key-0123456';

describe(`http over a socket (${runtime})`, () => {
  test('the native server is the one for this runtime', () => {
    assert.equal(httpRuntime, runtime);
  });

  test('healthz, auth, metrics; SSE live, filter, resume with Last-Event-ID; close with a stream open', async () => {
    const metrics = new GatewayMetrics({ mode: 'observe' });
    const events = new EventBuffer<ObservableEvent>(1000);
    const publish = (e: ObservableEvent): void => {
      metrics.observe(e);
      events.push(e);
    };
    const shutdown = new AbortController();
    const app = createHttpApp({ apiKey: KEY, metrics: () => metrics.registry.render(), status: () => ({}), events, heartbeatMs: 200, shutdownSignal: shutdown.signal });
    const server = await serveHttp(app, { host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${server.port}`;
    const auth = { Authorization: `Bearer ${KEY}` };
    try {
      assert.ok(server.port > 0);
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(await health.text(), 'ok\n');
      const denied = await fetch(`${base}/metrics`);
      assert.equal(denied.status, 401);
      await denied.body?.cancel();

      publish({ type: 'share_rejected', reason_code: 'stale_share', n: 1 }); // id 1
      const m = await fetch(`${base}/metrics`, { headers: { 'X-API-Key': KEY } });
      assert.equal(m.status, 200);
      assert.equal(sampleValue(parsePrometheusText(await m.text()), 'reservegrid_shares_rejected_total', { reason_code: 'stale_share' }), 1);

      // Live stream, filtered.
      const res = await fetch(`${base}/events?type=share_accepted`, { headers: auth });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const reader = readSse(res.body!);
      // The subscription exists once the handler ran; the first comment proves it.
      assert.ok(await reader.waitComment(/reservegrid events/, 5000), 'stream opened');
      publish({ type: 'share_rejected', n: 2 }); // id 2, filtered out
      publish({ type: 'share_accepted', n: 3 }); // id 3
      const first = await reader.nextMessage(5000);
      assert.equal(first.id, '3');
      assert.deepEqual(JSON.parse(first.data), { type: 'share_accepted', n: 3 });
      assert.ok(await reader.waitComment(/heartbeat/, 5000), 'heartbeats over the socket');
      await reader.cancel(); // the client goes away
      // The server notices (on the next write at the latest: heartbeats every 200 ms) and drops
      // the subscription, so abandoned streams do not pile up against sseClientsMax.
      const goneBy = Date.now() + 5000;
      while (events.subscriberCount > 0 && Date.now() < goneBy) await new Promise((r) => setTimeout(r, 50));
      assert.equal(events.subscriberCount, 0, 'a disconnected client is unsubscribed');

      // Missed while disconnected: ids 4 (accepted), 5 (rejected), 6 (accepted).
      publish({ type: 'share_accepted', n: 4 });
      publish({ type: 'share_rejected', n: 5 });
      publish({ type: 'share_accepted', n: 6 });
      const again = await fetch(`${base}/events?type=share_accepted`, { headers: { ...auth, 'Last-Event-ID': first.id! } });
      const r2 = readSse(again.body!);
      assert.deepEqual([(await r2.nextMessage(5000)).id, (await r2.nextMessage(5000)).id], ['4', '6'], 'resumed exactly after the last id seen');
      publish({ type: 'share_accepted', n: 7 });
      assert.equal((await r2.nextMessage(5000)).id, '7', 'then live');

      // The same through the query parameter (clients that cannot set headers).
      const q = await fetch(`${base}/events?last_event_id=5`, { headers: auth });
      const r3 = readSse(q.body!);
      assert.deepEqual([(await r3.nextMessage(5000)).id, (await r3.nextMessage(5000)).id], ['6', '7']);

      // Shutdown with streams open: they end, and the server closes promptly.
      const closedAt = Date.now();
      shutdown.abort();
      assert.ok(await r2.waitEnd(5000), 'stream 2 ended');
      assert.ok(await r3.waitEnd(5000), 'stream 3 ended');
      await server.close();
      assert.ok(Date.now() - closedAt < 5000, `closed in ${Date.now() - closedAt} ms`);
      assert.equal(events.subscriberCount, 0);
    } finally {
      shutdown.abort();
      await server.close();
    }
  }, { timeoutMs: 30_000 });

  test('a port in use is an error, not a hang', async () => {
    const app = createHttpApp({ apiKey: KEY, metrics: () => '', status: () => ({}), events: new EventBuffer(1) });
    const first = await serveHttp(app, { host: '127.0.0.1', port: 0 });
    try {
      let failed = false;
      try {
        const second = await serveHttp(app, { host: '127.0.0.1', port: first.port });
        await second.close();
      } catch {
        failed = true;
      }
      assert.ok(failed, 'binding the same port twice fails');
    } finally {
      await first.close();
    }
  });
});
