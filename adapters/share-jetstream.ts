// The NATS JetStream share sink (issue 13 item 4; SPEC §15; docs/scaling.md "The JetStream
// sink"): a SharePoster (share-poster.ts's interface) that publishes each share of a forwarder
// batch to JetStream instead of POSTing the batch. Everything else stays the forwarder's
// (core/forwarding): the bounded queue, batching, max in flight, retries with backoff, the
// crash-safe journal and exactly one share_forward_result per share_accepted.
//
// Exactly once: every share is published with `Nats-Msg-Id = share_id`. JetStream stores a
// message id once per stream within the stream's duplicate window and answers a re-publish with
// a PubAck marked `duplicate: true` (no second copy). Share ids never repeat (core/gateway/
// share-id.ts: gateway id, boot id, counter), so a share re-sent by a retry, or by the next run
// after kill -9 (the journal recovers unsettled shares), lands once provided the window exceeds
// the longest time between its first publish and its last re-publish.
//
// What the forwarder sees (core/forwarding/types.ts PostOutcome), per batch:
//  - every share acked by the configured stream → a 200 "answer" listing the duplicates, so a
//    duplicate settles `ok`, like the original publish it repeats;
//  - any publish failed → `timeout` (no PubAck in time) or `transport_error` (no responders,
//    JetStream API error, not connected), and the forwarder retries the WHOLE batch: the shares
//    that had been stored come back as duplicates. An ack naming another stream is a failure
//    too (trust no answer we can check); the server also checks it (`expect.streamName`).
// Connection: the client reconnects forever among `servers` (NATS restart, failover); while it
// is down, publishes fail or time out and shares wait in the forwarder's queue.
//
// Runs on Node, Deno and Bun through @nats-io/transport-node (Deno via its npm and node:net
// compatibility, Bun natively); checked by test/integration/share-jetstream.test.ts on all three.
import { connect, credsAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { parseBatchBody, encodeBackendAnswer, type BackendShareResult } from '../core/forwarding/wire.ts';
import type { PostCommand, PostOutcome } from '../core/forwarding/types.ts';
import type { MetricsRegistry } from '../core/metrics/registry.ts';
import type { SharePoster } from './share-poster.ts';

export interface JetStreamSinkOptions {
  /** nats.servers (`host:port`). */
  readonly servers: readonly string[];
  readonly stream: string;
  /** nats.subject; the gateway id is appended as the last token. */
  readonly subject: string;
  readonly gatewayId: number;
  readonly ackTimeoutMs: number;
  readonly duplicateWindowMs: number;
  readonly createStream: boolean;
  /** Contents of nats.credentials_file. */
  readonly credentials?: Uint8Array;
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  /** Connection changes and warnings (a duplicate window too small), for logs. Must not throw. */
  readonly onStatus?: (status: JetStreamSinkStatus) => void;
}

export type JetStreamSinkStatus =
  | { readonly kind: 'connected'; readonly server: string }
  | { readonly kind: 'disconnected'; readonly detail: string }
  | { readonly kind: 'stream_created'; readonly stream: string }
  | { readonly kind: 'warning'; readonly detail: string };

export interface JetStreamSinkStats {
  readonly connected: boolean;
  /** Shares the stream stored for the first time. */
  readonly published: number;
  /** Publishes the stream answered as duplicates (already stored). */
  readonly duplicates: number;
  /** Publishes that failed (batch retried). */
  readonly failures: number;
  /** The stream's duplicate window as last read (ms), or null before the first check. */
  readonly streamDuplicateWindowMs: number | null;
}

export interface JetStreamSharePoster extends SharePoster {
  /** The subject this gateway publishes on (`<subject>.<gateway id>`). */
  readonly subject: string;
  readonly stats: JetStreamSinkStats;
  /** Close the connection (after the forwarder drained). Idempotent. */
  close(): Promise<void>;
}

const _NANOS_PER_MS = 1_000_000;
/** Retry period of the first connection (later ones are the client's, every 250 ms). */
const CONNECT_RETRY_MS = 500;

export function createJetStreamSharePoster(options: JetStreamSinkOptions): JetStreamSharePoster {
  if (options === null || typeof options !== 'object') throw new TypeError(`createJetStreamSharePoster: options must be an object, got ${String(options)}`);
  if (!Array.isArray(options.servers) || options.servers.length === 0) throw new TypeError('createJetStreamSharePoster: servers must be a non-empty array of host:port');
  const subject = `${options.subject}.${options.gatewayId}`;
  const onStatus = (status: JetStreamSinkStatus): void => {
    try {
      options.onStatus?.(status);
    } catch {
      // observer contract: must not throw
    }
  };
  let connected = false;
  let closed = false;
  let published = 0;
  let duplicates = 0;
  let failures = 0;
  let streamDuplicateWindowMs: number | null = null;

  const connectOptions: ConnectionOptions = {
    servers: [...options.servers],
    name: `reservegrid-gateway-${options.gatewayId}`,
    // After the first connection the client reconnects by itself, forever (NATS restart, failover).
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    ...(options.credentials !== undefined ? { authenticator: credsAuthenticator(options.credentials) } : {}),
    ...(options.user !== undefined ? { user: options.user, pass: options.password ?? '' } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
  };
  let client: JetStreamClient | undefined;
  let natsConnection: NatsConnection | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let firstConnected: () => void = () => {};
  const firstConnection = new Promise<void>((resolve) => (firstConnected = resolve));
  // The first connection is ours to retry (the client's own retry would keep a process that
  // never reached NATS alive after close()): every CONNECT_RETRY_MS until it works or we close.
  const tryConnect = (): void => {
    connect(connectOptions).then(
      (nc) => {
        if (closed) {
          void nc.close();
          return;
        }
        natsConnection = nc;
        connected = true;
        client = jetstream(nc);
        firstConnected();
        onStatus({ kind: 'connected', server: nc.getServer() });
        void _checkStream(nc);
        void (async () => {
          for await (const s of nc.status()) {
            if (s.type === 'disconnect') {
              connected = false;
              onStatus({ kind: 'disconnected', detail: `disconnected from ${s.server}` });
            } else if (s.type === 'reconnect') {
              connected = true;
              onStatus({ kind: 'connected', server: s.server });
              void _checkStream(nc);
            }
          }
        })().catch(() => {});
      },
      (error: unknown) => {
        if (closed) return;
        onStatus({ kind: 'disconnected', detail: `cannot connect: ${_message(error)}` });
        retryTimer = setTimeout(tryConnect, CONNECT_RETRY_MS);
      },
    );
  };
  tryConnect();

  /** The stream must exist (or be created) with a duplicate window at least duplicateWindowMs. */
  const _checkStream = async (nc: NatsConnection): Promise<void> => {
    try {
      const jsm = await jetstreamManager(nc, { timeout: options.ackTimeoutMs });
      let info;
      try {
        info = await jsm.streams.info(options.stream);
      } catch (error) {
        if (!options.createStream) {
          onStatus({ kind: 'warning', detail: `stream ${options.stream}: ${_message(error)} (nats.create_stream is off: create it with subjects ${options.subject}.> and a duplicate window of at least ${options.duplicateWindowMs} ms)` });
          return;
        }
        info = await jsm.streams.add({ name: options.stream, subjects: [`${options.subject}.>`], duplicate_window: options.duplicateWindowMs * _NANOS_PER_MS });
        onStatus({ kind: 'stream_created', stream: options.stream });
      }
      streamDuplicateWindowMs = Math.floor(info.config.duplicate_window / _NANOS_PER_MS);
      if (streamDuplicateWindowMs < options.duplicateWindowMs) {
        onStatus({ kind: 'warning', detail: `stream ${options.stream} has a duplicate window of ${streamDuplicateWindowMs} ms, below nats.duplicate_window_ms = ${options.duplicateWindowMs}: a share re-published later than that after its first publish would be stored twice` });
      }
    } catch (error) {
      onStatus({ kind: 'warning', detail: `stream ${options.stream}: cannot check (${_message(error)})` });
    }
  };

  const post = async (command: PostCommand): Promise<PostOutcome> => {
    const timeoutMs = Math.max(1, Math.min(options.ackTimeoutMs, command.timeoutMs));
    if (closed) return { kind: 'transport_error', message: 'JetStream sink closed' };
    const js = client;
    if (js === undefined) {
      // Not connected yet: wait for the first connection up to the deadline, then give up this attempt.
      const ready = await Promise.race([firstConnection.then(() => true), _sleep(timeoutMs).then(() => false)]);
      if (!ready || client === undefined) return { kind: 'transport_error', message: `not connected to NATS (${options.servers.join(', ')})` };
    }
    const parsed = parseBatchBody(command.body);
    // Our own forwarder built the body; a parse failure is a bug, reported as a final-looking error.
    if (!parsed.ok) return { kind: 'transport_error', message: `batch body: ${parsed.message}` };
    const encoder = new TextEncoder();
    const results = await Promise.allSettled(
      parsed.value.shares.map((share) =>
        client!.publish(subject, encoder.encode(JSON.stringify(share)), { msgID: share.share_id, timeout: timeoutMs, expect: { streamName: options.stream } }),
      ),
    );
    const dup: BackendShareResult[] = [];
    let fresh = 0;
    let firstError: unknown;
    let timedOut = false;
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        failures++;
        firstError ??= r.reason;
        if (_isTimeout(r.reason)) timedOut = true;
        return;
      }
      const ack: PubAck = r.value;
      if (ack.stream !== options.stream) {
        failures++;
        firstError ??= new Error(`PubAck from stream ${JSON.stringify(ack.stream)}, expected ${JSON.stringify(options.stream)}`);
        return;
      }
      if (ack.duplicate) {
        duplicates++;
        dup.push({ share_id: parsed.value.shares[i]!.share_id, status: 'duplicate' });
      } else {
        published++;
        fresh++;
      }
    });
    if (firstError !== undefined) {
      if (timedOut) return { kind: 'timeout' };
      return { kind: 'transport_error', message: `JetStream publish: ${_message(firstError)}` };
    }
    return { kind: 'response', status: 200, body: encodeBackendAnswer({ new: fresh, duplicate: dup.length, rejected: 0 }, dup) };
  };

  return {
    subject,
    post,
    get stats() {
      return { connected, published, duplicates, failures, streamDuplicateWindowMs };
    },
    async close() {
      if (closed) return;
      closed = true;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      // A connect still in flight closes itself when it lands (see tryConnect).
      await natsConnection?.close().catch(() => {});
    },
  };
}

function _sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function _isTimeout(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.name === 'TimeoutError' || /timeout|timed out/i.test(error.message);
}

function _message(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.name && error.name !== 'Error' ? `${error.name}: ${error.message}` : error.message;
}

/**
 * The sink's series on the gateway's /metrics (docs/metrics.md, the Grafana "JetStream sink"
 * row). Registered whatever `share.sink` is, so dashboards always find them: with the http sink
 * they stay 0 and `reservegrid_share_sink_info{sink="http"}` says why.
 */
export function registerJetStreamMetrics(
  registry: MetricsRegistry,
  sink: 'http' | 'jetstream',
  source: () => JetStreamSinkStats | null,
): void {
  const info = registry.gauge({ name: 'reservegrid_share_sink_info', help: 'share.sink in force: 1 for the configured sink (http, jetstream).', labels: ['sink'], seriesMax: 2 });
  const connected = registry.gauge({ name: 'reservegrid_jetstream_connected', help: 'JetStream sink: 1 while connected to a NATS server.' });
  const publishes = registry.counter({ name: 'reservegrid_jetstream_publishes_total', help: 'JetStream sink publishes by PubAck result: stored (new in the stream), duplicate (already stored: a retry or a restart), failed (no ack; the batch is retried).', labels: ['result'], seriesMax: 3 });
  const window = registry.gauge({ name: 'reservegrid_jetstream_duplicate_window_seconds', help: 'JetStream sink: the stream\'s duplicate window as last read (0 before the first check).' });
  info.set({ sink: 'http' }, sink === 'http' ? 1 : 0);
  info.set({ sink: 'jetstream' }, sink === 'jetstream' ? 1 : 0);
  for (const result of ['stored', 'duplicate', 'failed']) publishes.touch({ result });
  let last = { published: 0, duplicates: 0, failures: 0 };
  registry.addCollector(() => {
    const s = source();
    if (s === null) return;
    connected.set(undefined, s.connected ? 1 : 0);
    window.set(undefined, s.streamDuplicateWindowMs === null ? 0 : s.streamDuplicateWindowMs / 1000);
    publishes.inc({ result: 'stored' }, s.published - last.published);
    publishes.inc({ result: 'duplicate' }, s.duplicates - last.duplicates);
    publishes.inc({ result: 'failed' }, s.failures - last.failures);
    last = { published: s.published, duplicates: s.duplicates, failures: s.failures };
  });
}
