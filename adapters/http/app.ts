// THE HTTP app (SPEC §11, docs/http-api.md, STYLE.md #10): one Hono app, runtime-neutral
// (`app.fetch`), served by each runtime's native server (serve-node/deno/bun.ts) and tested with
// `app.request()`.
//
//   GET /healthz          open: liveness, `ok`
//   GET /metrics          Prometheus text format 0.0.4
//   GET /status           JSON: mode, upstream, verifier, prevhash, hold, miners, channels, queues
//   GET /events           server-sent events: live, `?type=a,b`, resume with `Last-Event-ID`
//   GET /events/history   JSON lines from the buffer: `?type=`, `?since_id=`, `?limit=`
//
// Every route answers HEAD exactly as GET minus the body (RFC 9110 §9.3.2; load balancers and
// orchestrators probe with HEAD): see `_withHead` for why Hono's own HEAD handling is not used.
// `?type=` takes only known event types (core/gateway/events.ts GATEWAY_EVENT_TYPES): an unknown
// one is a 400 naming the known types, not an empty stream that looks healthy.
//
// Everything but /healthz needs `gateway.http_api_key`, as `Authorization: Bearer KEY` or
// `X-API-Key: KEY`, compared in constant time (both sides hashed to 32 bytes first, so neither
// the key's length nor its content shows in timing).
//
// Bounded: SSE clients (`sseClientsMax`, 503 past it), each client's unsent events
// (`sseQueueMax`: a client that falls that far behind gets an `overflow` event and is closed; it
// resumes from the buffer with Last-Event-ID), history answers (`historyLimitMax`).
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, utf8 } from '../../core/bytes.ts';
import type { BufferedEvent, EventBuffer } from '../../core/events/event-buffer.ts';
import { GATEWAY_EVENT_TYPES } from '../../core/gateway/events.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../../core/metrics/registry.ts';

export interface HttpAppOptions {
  /** gateway.http_api_key. */
  readonly apiKey: string;
  /** The Prometheus text (MetricsRegistry.render). */
  readonly metrics: () => string;
  /** The /status document (core/metrics/status.ts buildStatus). */
  readonly status: () => unknown;
  /** Recent events (gateway.event_buffer_size): history and SSE resume. */
  readonly events: EventBuffer;
  /** SSE comment sent when a stream has been quiet this long. Default 15 000. */
  readonly heartbeatMs?: number;
  /** Concurrent /events streams. Default 64. */
  readonly sseClientsMax?: number;
  /** Events queued for one slow stream before it is closed. Default 10 000. */
  readonly sseQueueMax?: number;
  /** Largest `limit` for /events/history. Default 10 000; the default limit is 1 000. */
  readonly historyLimitMax?: number;
  /** Aborted: every open /events stream ends (lets the server close promptly). */
  readonly shutdownSignal?: AbortSignal;
  /** The event types `?type=` accepts. Default GATEWAY_EVENT_TYPES (docs/events.md). */
  readonly eventTypes?: readonly string[];
}

const HEARTBEAT_MS_DEFAULT = 15_000;
const SSE_CLIENTS_MAX_DEFAULT = 64;
const SSE_QUEUE_MAX_DEFAULT = 10_000;
const HISTORY_LIMIT_MAX_DEFAULT = 10_000;
const HISTORY_LIMIT_DEFAULT = 1_000;
/** Reconnect delay we ask EventSource clients to use. */
const SSE_RETRY_MS = 2_000;
const TYPE_RE = /^[a-z][a-z0-9_]{0,63}$/;
const TYPES_MAX = 64;

export function createHttpApp(options: HttpAppOptions): Hono {
  if (options === null || typeof options !== 'object') throw new TypeError(`createHttpApp: options must be an object, got ${String(options)}`);
  if (typeof options.apiKey !== 'string' || options.apiKey.length === 0) throw new TypeError('createHttpApp: apiKey must be a non-empty string');
  const heartbeatMs = _positive('heartbeatMs', options.heartbeatMs ?? HEARTBEAT_MS_DEFAULT);
  const sseClientsMax = _positive('sseClientsMax', options.sseClientsMax ?? SSE_CLIENTS_MAX_DEFAULT);
  const sseQueueMax = _positive('sseQueueMax', options.sseQueueMax ?? SSE_QUEUE_MAX_DEFAULT);
  const historyLimitMax = _positive('historyLimitMax', options.historyLimitMax ?? HISTORY_LIMIT_MAX_DEFAULT);
  const keyDigest = sha256(utf8(options.apiKey));
  const buffer = options.events;
  const knownTypes: ReadonlySet<string> = new Set(options.eventTypes ?? GATEWAY_EVENT_TYPES);
  let sseClients = 0;

  const app = new Hono();

  // An explicit status makes Hono set Content-Type itself: a bare `new Response(text)` leaves it to
  // the runtime, and Bun drops it from the HEAD answer.
  app.get('/healthz', (c) => c.text('ok\n', 200));

  app.use('*', async (c, next) => {
    const presented = _presentedKey(c.req.header('authorization'), c.req.header('x-api-key'));
    // Hash first: equalBytes is constant-time for equal lengths, and digests always are.
    if (presented === undefined || !equalBytes(sha256(utf8(presented)), keyDigest)) {
      c.header('WWW-Authenticate', 'Bearer realm="reservegrid"');
      return c.json({ error: 'unauthorized', detail: 'send gateway.http_api_key as "Authorization: Bearer KEY" or "X-API-Key: KEY"' }, 401);
    }
    await next();
  });

  app.get('/metrics', (c) => c.body(options.metrics(), 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE }));

  app.get('/status', (c) => c.json(options.status() as object));

  app.get('/events/history', (c) => {
    const types = _types(c.req.queries('type'), knownTypes);
    if (!(types instanceof Set)) return c.json({ error: 'bad_request', ...types }, 400);
    const sinceText = c.req.query('since_id');
    const limitText = c.req.query('limit');
    const sinceId = sinceText === undefined ? undefined : _int(sinceText);
    const limit = limitText === undefined ? HISTORY_LIMIT_DEFAULT : _int(limitText);
    if (sinceId === null) return c.json({ error: 'bad_request', detail: `since_id must be an integer >= 0, got ${JSON.stringify(sinceText)}` }, 400);
    if (limit === null || limit < 1 || limit > historyLimitMax) return c.json({ error: 'bad_request', detail: `limit must be an integer in 1..${historyLimitMax}, got ${JSON.stringify(limitText)}` }, 400);
    // Without since_id: the newest `limit` events; with it: the oldest after it (paging forward).
    const result = buffer.query({ ...(sinceId === undefined ? { newest: true } : { afterId: sinceId }), types, limit });
    const body = result.events.map((entry) => _historyLine(entry)).join('');
    return c.body(body, 200, {
      'Content-Type': 'application/x-ndjson; charset=utf-8',
      'X-Last-Event-Id': String(result.lastId),
      'X-Missed-Events': String(result.missed),
    });
  });

  app.get('/events', (c) => {
    const types = _types(c.req.queries('type'), knownTypes);
    if (!(types instanceof Set)) return c.json({ error: 'bad_request', ...types }, 400);
    // EventSource sends Last-Event-ID itself on reconnect; the query form is for clients that
    // cannot set headers.
    const lastText = c.req.header('last-event-id') ?? c.req.query('last_event_id');
    const lastId = lastText === undefined || lastText === '' ? undefined : _int(lastText);
    if (lastId === null) return c.json({ error: 'bad_request', detail: `Last-Event-ID must be an integer >= 0, got ${JSON.stringify(lastText)}` }, 400);
    if (sseClients >= sseClientsMax) return c.json({ error: 'too_many_streams', detail: `${sseClientsMax} /events streams are open` }, 503);
    if (options.shutdownSignal?.aborted === true) return c.json({ error: 'shutting_down' }, 503);
    sseClients++;
    const filter = types.size === 0 ? undefined : types;

    return streamSSE(c, async (stream) => {
      // Query and subscribe in the same synchronous turn: nothing pushed in between is missed
      // or sent twice (EventBuffer pushes synchronously).
      const backlog = lastId === undefined ? undefined : buffer.query({ afterId: lastId, types });
      const pending: BufferedEvent[] = [];
      let overflowed = false;
      let done = false;
      let heartbeatDue = false;
      let wake: (() => void) | undefined;
      const poke = (): void => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      const unsubscribe = buffer.subscribe((entry) => {
        if (filter !== undefined && !filter.has(entry.event.type)) return;
        if (pending.length >= sseQueueMax) overflowed = true;
        else pending.push(entry);
        poke();
      });
      const onShutdown = (): void => {
        done = true;
        poke();
      };
      options.shutdownSignal?.addEventListener('abort', onShutdown);
      stream.onAbort(onShutdown);
      const heartbeat = setInterval(() => {
        heartbeatDue = true;
        poke();
      }, heartbeatMs);
      try {
        await stream.write(`retry: ${SSE_RETRY_MS}\n: reservegrid events${filter === undefined ? '' : ` (${[...filter].join(',')})`}\n\n`);
        if (backlog !== undefined) {
          if (backlog.missed > 0) {
            await stream.writeSSE({ event: 'gap', data: JSON.stringify({ missed: backlog.missed, first_id: buffer.firstId, last_event_id: lastId }) });
          }
          for (const entry of backlog.events) {
            if (done || stream.aborted) break;
            await _writeEvent(stream, entry);
          }
        }
        while (!done && !stream.aborted) {
          const entry = pending.shift();
          if (entry !== undefined) {
            await _writeEvent(stream, entry);
            continue;
          }
          if (overflowed) {
            await stream.writeSSE({ event: 'overflow', data: JSON.stringify({ queued_max: sseQueueMax, detail: 'reconnect with Last-Event-ID to resume from the buffer' }) });
            break;
          }
          if (heartbeatDue) {
            heartbeatDue = false;
            await stream.write(': heartbeat\n\n');
            continue;
          }
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        clearInterval(heartbeat);
        unsubscribe();
        options.shutdownSignal?.removeEventListener('abort', onShutdown);
        sseClients--;
      }
    });
  });

  return _withHead(app);
}

/**
 * HEAD = GET without the body, done here rather than left to Hono (4.13), for two reasons:
 *
 * 1. On Node it answered 500. Hono turns HEAD into `new Response(null, getResponse)`, passing the
 *    GET response as the init. @hono/node-server (1.19) replaces the global Response with a
 *    lightweight class whose constructor, given one of its own instances as init, reads
 *    `init.#init.headers`; but `c.text(text)` without status or headers builds
 *    `new Response(text)` with no init at all, so that read throws a TypeError and node-server
 *    answers 500 with no body (node_modules/@hono/node-server/dist/response.mjs, `constructor`).
 *    Deno and Bun keep the native Response, which accepts any object as init.
 * 2. On every runtime the GET body was dropped without being cancelled: a HEAD of /events ran a
 *    stream nobody reads, which held one of the `sseClientsMax` slots for good.
 *
 * So: dispatch as GET, cancel the body (ends an SSE stream through its onAbort), and answer with
 * a fresh Response built from a plain init (safe with both Response classes). Content-Length is
 * the GET body's length where the body is fixed (what GET sends; RFC 9110 §8.6 allows it on
 * HEAD); a stream has none, as on GET.
 */
function _withHead(app: Hono): Hono {
  const dispatch = app.fetch;
  app.fetch = async (request: Request, ...rest: unknown[]): Promise<Response> => {
    if (request.method !== 'HEAD') return dispatch(request, ...(rest as []));
    // Not `new Request(request, …)`: that copies the signal, and reading it makes Deno 2.9 warn
    // (legacy abort semantics); the body is cancelled below, so nothing outlives this call.
    const res = await dispatch(new Request(request.url, { method: 'GET', headers: request.headers }), ...(rest as []));
    const headers = new Headers(res.headers);
    if (res.body !== null) {
      if ((headers.get('content-type') ?? '').startsWith('text/event-stream')) await res.body.cancel();
      else headers.set('content-length', String((await res.arrayBuffer()).byteLength));
    }
    return new Response(null, { status: res.status, statusText: res.statusText, headers });
  };
  return app;
}

function _writeEvent(stream: { writeSSE(message: { data: string; id?: string }): Promise<void> }, entry: BufferedEvent): Promise<void> {
  return stream.writeSSE({ id: String(entry.id), data: _json(entry.event) });
}

/** One history line: `event_id` first, then the event as it is in the event log. */
function _historyLine(entry: BufferedEvent): string {
  return `{"event_id":${entry.id},${_json(entry.event).slice(1)}\n`;
}

function _json(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

function _presentedKey(authorization: string | undefined, apiKey: string | undefined): string | undefined {
  if (authorization !== undefined) {
    const m = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (m !== null) return m[1];
  }
  return apiKey === undefined || apiKey === '' ? undefined : apiKey;
}

/**
 * `?type=a,b` (and `?type=a&type=b`, every value checked) → set of types, or the problem. A type
 * outside `known` is refused with the known list: a typo must not look like a quiet gateway.
 */
function _types(values: readonly string[] | undefined, known: ReadonlySet<string>): Set<string> | { detail: string; unknown_types?: string[]; known_types?: string[] } {
  const parts = (values ?? []).flatMap((text) => text.split(',')).map((t) => t.trim()).filter((t) => t !== '');
  if (parts.length > TYPES_MAX) return { detail: `type lists at most ${TYPES_MAX} event types` };
  for (const p of parts) if (!TYPE_RE.test(p)) return { detail: `type must be a comma list of event types (snake_case), got ${JSON.stringify(p)}` };
  const unknown = [...new Set(parts.filter((p) => !known.has(p)))];
  if (unknown.length > 0) {
    return { detail: `unknown event type${unknown.length === 1 ? '' : 's'} ${unknown.map((u) => JSON.stringify(u)).join(', ')} (docs/events.md lists them)`, unknown_types: unknown, known_types: [...known] };
  }
  return new Set(parts);
}

function _int(text: string): number | null {
  if (!/^\d{1,15}$/.test(text)) return null;
  return Number(text);
}

function _positive(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 1)) throw new RangeError(`createHttpApp: ${name} must be a positive integer, got ${value}`);
  return value;
}
