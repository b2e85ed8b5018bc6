// HEAD over a real loopback socket on this runtime's native server (issue 14 item 1): every route
// the app registers (read from the Hono app itself, so a new route is covered without editing
// this file), with and without the key, plus error answers, answers HEAD exactly as GET minus
// the body. Load balancers and orchestrators probe with HEAD; on Node it used to answer 500.
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { createHttpApp } from '../../adapters/http/app.ts';
import { serveHttp } from '../../adapters/http/index.ts';
import { EventBuffer } from '../../core/events/event-buffer.ts';
import { GatewayMetrics, type ObservableEvent } from '../../core/metrics/gateway-metrics.ts';
import { assertHeadMatchesGet } from '../support/head-get.ts';

const KEY = 'head-test-api-key-0123456';

function world(sseClientsMax = 64) {
  const metrics = new GatewayMetrics({ mode: 'observe' });
  const events = new EventBuffer<ObservableEvent>(100);
  for (const e of [{ type: 'share_rejected', reason_code: 'stale_share' }, { type: 'share_accepted' }]) {
    metrics.observe(e);
    events.push(e);
  }
  const shutdown = new AbortController();
  const app = createHttpApp({ apiKey: KEY, metrics: () => metrics.registry.render(), status: () => ({ gateway: { id: 1 } }), events, shutdownSignal: shutdown.signal, sseClientsMax });
  return { app, shutdown };
}

/** GET paths the app registers, with query variants that take the error branches. */
function pathsOf(app: ReturnType<typeof world>['app']): string[] {
  const registered = [...new Set(app.routes.filter((r) => r.method === 'GET').map((r) => r.path))];
  assert.ok(registered.length >= 5, `routes found: ${registered.join(' ')}`);
  return [...registered, '/events?type=no_such_type', '/events/history?limit=0', '/events/history?type=share_accepted&limit=1', '/no-such-route'];
}

describe(`http HEAD = GET over a socket (${runtime})`, () => {
  test('every route, with and without the key: same status and headers, no body on HEAD', async () => {
    const { app, shutdown } = world();
    const server = await serveHttp(app, { host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${server.port}`;
    try {
      for (const path of pathsOf(app)) {
        for (const headers of [{}, { 'X-API-Key': KEY }] as Record<string, string>[]) {
          const label = `${path} ${Object.keys(headers).length === 0 ? 'no key' : 'key'}`;
          const abort = new AbortController();
          const get = await fetch(base + path, { headers, signal: abort.signal });
          const streamed = (get.headers.get('content-type') ?? '').startsWith('text/event-stream');
          let bytes: number | null = null;
          if (streamed) abort.abort();
          else bytes = (await get.arrayBuffer()).byteLength;
          const head = await fetch(base + path, { method: 'HEAD', headers });
          await assertHeadMatchesGet(label, get, bytes, head);
          if (path === '/healthz') assert.equal(head.status, 200, 'HEAD /healthz is 200');
        }
      }
    } finally {
      shutdown.abort();
      await server.close();
    }
  }, { timeoutMs: 30_000 });

  test('HEAD /events does not keep a stream open (it would hold an sseClientsMax slot)', async () => {
    const { app, shutdown } = world(2);
    const server = await serveHttp(app, { host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${server.port}`;
    try {
      for (let i = 0; i < 5; i++) {
        const head = await fetch(`${base}/events`, { method: 'HEAD', headers: { 'X-API-Key': KEY } });
        assert.equal(head.status, 200, `HEAD ${i}`);
        await head.arrayBuffer();
      }
      const abort = new AbortController();
      const get = await fetch(`${base}/events`, { headers: { 'X-API-Key': KEY }, signal: abort.signal });
      assert.equal(get.status, 200, 'a GET stream still has a slot after 5 HEADs with sseClientsMax = 2');
      abort.abort();
    } finally {
      shutdown.abort();
      await server.close();
    }
  }, { timeoutMs: 30_000 });
});
