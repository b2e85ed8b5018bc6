// Share forwarding timing and outcomes at exact fake-clock boundaries (SPEC §8, issue 5
// acceptance "fake-clock conformance"): batching at the interval, the in-flight cap, the request
// timeout, overflow → dropped_queue_full, retry timing, the drain deadline, recovery, signatures.
// The HMAC is checked against WebCrypto (an independent implementation on every runtime).
import { describe, test } from '../../test/harness.ts';
import { assert } from '../../test/assert.ts';
import { FakeClock } from '../../core/clock.ts';
import { bytesToHex, fromUtf8, utf8 } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import {
  HEADER_GATEWAY,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  MemoryShareJournal,
  ShareForwarder,
  parseBatchBody,
  verifySignature,
  type ForwardCommand,
  type ShareForwardEvent,
  type ShareForwardResultEvent,
  type ShareForwarderOptions,
  type ShareJournal,
  type ShareRecord,
} from '../../core/forwarding/index.ts';

const SECRET = 'conformance-secret-0123456789';

function options(overrides: Partial<ShareForwarderOptions> = {}): ShareForwarderOptions {
  return {
    gatewayId: 7,
    bootId: 'b007',
    secret: utf8(SECRET),
    provider: nobleProvider,
    queueSize: 100,
    maxInFlight: 4,
    batchIntervalMs: 100,
    batchMaxShares: 10,
    timeoutMs: 1000,
    retryInitialMs: 250,
    retryMaxMs: 2000,
    attemptsMax: 8,
    ...overrides,
  };
}

const share = (n: number): ShareRecord => ({ share_id: `7-b007-${n}`, channel_id: 1, identity: 'pool.worker', worker: 'w', job_id: 3, template_id: '9', hash: '00ff', difficulty: 1, block: false });

class Rig {
  readonly clock = new FakeClock({ startMs: 0, wallOriginMs: 1_700_000_000_000 });
  readonly f: ShareForwarder;
  readonly commands: ForwardCommand[] = [];
  /** [timeMs, command] in the order handed out. */
  readonly sent: Array<[number, ForwardCommand]> = [];
  readonly events: ShareForwardEvent[] = [];

  constructor(opts: Partial<ShareForwarderOptions> = {}) {
    this.f = new ShareForwarder(options(opts), 0);
  }

  /** Run onTimeout at every deadline up to and including `toMs`, collecting outputs. */
  runTo(toMs: number): void {
    for (;;) {
      const next = this.f.nextDeadlineMs();
      if (next === undefined || next > toMs) break;
      this.clock.advanceTo(Math.max(this.clock.monotonicMs(), next));
      this.f.onTimeout(this.clock.monotonicMs(), this.clock.wallMs());
      this.collect();
    }
    this.clock.advanceTo(toMs);
  }

  collect(): void {
    for (let c = this.f.pollCommand(); c; c = this.f.pollCommand()) {
      this.commands.push(c);
      this.sent.push([this.clock.monotonicMs(), c]);
    }
    for (let e = this.f.pollEvent(); e; e = this.f.pollEvent()) this.events.push(e);
  }

  accept(n: number): string {
    const r = this.f.accept(share(n), this.clock.monotonicMs());
    this.collect();
    return r;
  }

  answer(command: ForwardCommand, status = 200, body = ''): boolean {
    const r = this.f.postResult(command.request_id, { kind: 'response', status, body }, this.clock.monotonicMs());
    this.collect();
    return r;
  }

  results(): ShareForwardResultEvent[] {
    return this.events.filter((e): e is ShareForwardResultEvent => e.type === 'share_forward_result');
  }

  sharesOf(command: ForwardCommand): string[] {
    const parsed = parseBatchBody(command.body);
    assert.ok(parsed.ok);
    return parsed.value.shares.map((s) => s.share_id);
  }
}

describe('share forwarding (fake clock)', () => {
  test('batching: nothing before the interval, one batch at exactly accept + share_batch_interval_ms', () => {
    const r = new Rig();
    r.clock.advanceTo(10);
    r.accept(1);
    assert.equal(r.f.nextDeadlineMs(), 110);
    r.clock.advanceTo(50);
    r.accept(2);
    r.runTo(109);
    r.accept(3);
    r.f.onTimeout(109, r.clock.wallMs()); // early call is harmless
    r.collect();
    assert.equal(r.commands.length, 0, 'nothing sent before the window closes');
    r.runTo(110);
    assert.equal(r.commands.length, 1);
    assert.equal(r.sent[0]![0], 110);
    assert.deepEqual(r.sharesOf(r.commands[0]!), ['7-b007-1', '7-b007-2', '7-b007-3']);
    assert.equal(r.commands[0]!.timeoutMs, 1000);
    // A share after the batch opens a new window.
    r.clock.advanceTo(150);
    r.accept(4);
    r.runTo(249);
    assert.equal(r.commands.length, 1);
    r.runTo(250);
    assert.equal(r.commands.length, 2);
    assert.deepEqual(r.sharesOf(r.commands[1]!), ['7-b007-4']);
    assert.notEqual(r.commands[0]!.batch_id, r.commands[1]!.batch_id);
    assert.match(r.commands[0]!.batch_id, /^7-b007-b\d+$/);
  });

  test('in-flight cap: at most share_forward_max_in_flight open requests; a freed slot sends at once', () => {
    const r = new Rig({ maxInFlight: 2, batchMaxShares: 2 });
    for (let i = 1; i <= 7; i++) r.accept(i);
    r.runTo(100);
    assert.equal(r.commands.length, 2, 'two requests, the cap');
    assert.equal(r.f.metrics.inFlightRequests, 2);
    assert.equal(r.f.metrics.inFlightShares, 4);
    assert.equal(r.f.metrics.queueDepth, 3);
    r.runTo(500);
    assert.equal(r.commands.length, 2, 'nothing more while the cap is reached');
    r.answer(r.commands[0]!);
    assert.equal(r.f.nextDeadlineMs(), 500, 'a freed slot with due shares wakes at once');
    r.runTo(500);
    assert.equal(r.commands.length, 3);
    assert.deepEqual(r.sharesOf(r.commands[2]!), ['7-b007-5', '7-b007-6']);
    assert.equal(r.f.metrics.inFlightRequests, 2);
    r.answer(r.commands[1]!);
    r.runTo(501);
    assert.deepEqual(r.sharesOf(r.commands[3]!), ['7-b007-7']);
    assert.equal(r.sent[3]![0], 500);
  });

  test('timeout: an unanswered request fails at exactly share_forward_timeout_ms; a late answer is ignored', () => {
    const r = new Rig({ timeoutMs: 1000 });
    r.accept(1);
    r.runTo(100);
    const first = r.commands[0]!;
    r.runTo(1099);
    assert.equal(r.events.length, 0);
    r.runTo(1100);
    const retry = r.events.find((e) => e.type === 'share_forward_retry');
    assert.ok(retry && retry.type === 'share_forward_retry');
    assert.equal(retry.error, 'timeout');
    assert.equal(retry.attempt, 1);
    assert.equal(retry.retry_in_ms, 250);
    assert.equal(r.answer(first), false, 'late answer for the timed-out request is ignored');
    assert.equal(r.results().length, 0);
    r.runTo(1349);
    assert.equal(r.commands.length, 1);
    r.runTo(1350);
    assert.equal(r.commands.length, 2);
    assert.equal(r.commands[1]!.batch_id, first.batch_id, 'same batch id on retry');
    assert.equal(r.commands[1]!.attempt, 2);
    assert.deepEqual(r.sharesOf(r.commands[1]!), ['7-b007-1'], 'same share ids on retry');
    assert.notEqual(r.commands[1]!.request_id, first.request_id);
    r.answer(r.commands[1]!);
    const [result] = r.results();
    assert.deepEqual(
      { ...result, latency_ms: result!.latency_ms },
      { type: 'share_forward_result', share_id: '7-b007-1', status: 'ok', attempts: 2, latency_ms: 1350, batch_id: first.batch_id, recovered: false, http_status: 200 },
    );
  });

  test('overflow: beyond share_forward_queue_size a share settles at once as dropped_queue_full', () => {
    const r = new Rig({ queueSize: 3 });
    assert.equal(r.accept(1), 'queued');
    assert.equal(r.accept(2), 'queued');
    assert.equal(r.accept(3), 'queued');
    assert.equal(r.accept(4), 'dropped_queue_full');
    assert.equal(r.results().length, 1);
    const drop = r.results()[0]!;
    assert.equal(drop.share_id, '7-b007-4');
    assert.equal(drop.status, 'dropped_queue_full');
    assert.equal(drop.attempts, 0);
    assert.equal(drop.batch_id, null);
    assert.equal(r.f.metrics.results.dropped_queue_full, 1);
    // In-flight shares still count against the bound until they settle.
    r.runTo(100);
    assert.equal(r.accept(5), 'dropped_queue_full');
    r.answer(r.commands[0]!);
    assert.equal(r.accept(6), 'queued');
  });

  test('retry timing: 5xx backs off initial·2^(n−1) capped at max; after the last attempt the shares settle as http_error', () => {
    const r = new Rig({ retryInitialMs: 250, retryMaxMs: 1000, attemptsMax: 5 });
    r.accept(1);
    r.accept(2);
    r.runTo(100);
    const expectedDelays = [250, 500, 1000, 1000];
    let t = 100;
    for (let attempt = 1; attempt <= 5; attempt++) {
      const command = r.commands[attempt - 1]!;
      assert.equal(command.attempt, attempt);
      assert.equal(r.sent[attempt - 1]![0], t, `attempt ${attempt} sent at ${t}`);
      r.clock.advanceTo(t + 10);
      r.answer(command, 503, 'busy');
      if (attempt < 5) {
        t += 10 + expectedDelays[attempt - 1]!;
        r.runTo(t - 1);
        assert.equal(r.commands.length, attempt, `no retry before ${t}`);
        r.runTo(t);
        assert.equal(r.commands.length, attempt + 1, `retry at ${t}`);
      }
    }
    const results = r.results();
    assert.equal(results.length, 2);
    for (const result of results) {
      assert.equal(result.status, 'http_error');
      assert.equal(result.attempts, 5);
      assert.equal(result.http_status, 503);
      assert.match(result.reason!, /http 503: busy/);
    }
    assert.equal(r.f.metrics.retries, 4);
    assert.equal(r.f.metrics.requests, 5);
    assert.equal(r.events.filter((e) => e.type === 'share_forward_retry').length, 4);
    // 408, 429 and transport errors are retried like 5xx.
    const q = new Rig({ attemptsMax: 2 });
    q.accept(1);
    q.runTo(100);
    q.answer(q.commands[0]!, 429, 'slow down');
    q.runTo(350);
    q.f.postResult(q.commands[1]!.request_id, { kind: 'transport_error', message: 'ECONNREFUSED' }, 350);
    q.collect();
    assert.equal(q.results()[0]!.status, 'transport_error');
    assert.equal(q.results()[0]!.attempts, 2);
  });

  test('backend said no: 4xx rejects the batch with its reason; per-share rejected and duplicate in a 2xx answer', () => {
    const r = new Rig();
    r.accept(1);
    r.accept(2);
    r.runTo(100);
    r.answer(r.commands[0]!, 401, '{"error":"bad-signature"}');
    assert.deepEqual(
      r.results().map((e) => [e.status, e.attempts, e.http_status, e.reason]),
      [
        ['rejected', 1, 401, 'http 401: {"error":"bad-signature"}'],
        ['rejected', 1, 401, 'http 401: {"error":"bad-signature"}'],
      ],
    );
    const s = new Rig();
    s.accept(1);
    s.accept(2);
    s.accept(3);
    s.runTo(100);
    s.answer(
      s.commands[0]!,
      200,
      JSON.stringify({ results: [{ share_id: '7-b007-1', status: 'ok' }, { share_id: '7-b007-2', status: 'duplicate' }, { share_id: '7-b007-3', status: 'rejected', reason: 'low difficulty' }] }),
    );
    assert.deepEqual(
      s.results().map((e) => [e.share_id, e.status, e.reason]),
      [
        ['7-b007-1', 'ok', undefined],
        ['7-b007-2', 'ok', undefined],
        ['7-b007-3', 'rejected', 'low difficulty'],
      ],
    );
  });

  test('graceful shutdown: waiting shares go at once, the drain deadline settles the rest as dropped_shutdown', () => {
    const r = new Rig({ maxInFlight: 1, batchMaxShares: 1 });
    r.accept(1);
    r.accept(2);
    r.accept(3);
    r.clock.advanceTo(20);
    r.f.shutdown(20, 500);
    r.runTo(20);
    assert.equal(r.commands.length, 1, 'sent at shutdown, without waiting for the window');
    assert.equal(r.sent[0]![0], 20);
    assert.equal(r.accept(4), 'dropped_shutdown');
    r.clock.advanceTo(30);
    r.answer(r.commands[0]!);
    r.runTo(30);
    assert.equal(r.commands.length, 2);
    r.runTo(519);
    assert.equal(r.f.finished, false);
    r.runTo(520);
    assert.equal(r.f.finished, true);
    const byId = new Map(r.results().map((e) => [e.share_id, e]));
    assert.equal(byId.size, 4);
    assert.equal(byId.get('7-b007-1')!.status, 'ok');
    assert.equal(byId.get('7-b007-2')!.status, 'dropped_shutdown');
    assert.equal(byId.get('7-b007-2')!.attempts, 1, 'was in flight');
    assert.equal(byId.get('7-b007-3')!.status, 'dropped_shutdown');
    assert.equal(byId.get('7-b007-3')!.attempts, 0);
    assert.equal(byId.get('7-b007-4')!.status, 'dropped_shutdown');
    assert.equal(r.answer(r.commands[1]!), false, 'answers after the deadline are ignored');
    assert.equal(r.results().length, 4);
    assert.equal(r.f.nextDeadlineMs(), undefined);
    // Everything settled before the deadline: finished early.
    const e = new Rig();
    e.accept(1);
    e.f.shutdown(0, 10_000);
    e.runTo(0);
    e.answer(e.commands[0]!);
    assert.equal(e.f.finished, true);
  });

  test('journal: accepted before it can be sent, committed before posting, settled before the event; recovery sends first with recovered: true', () => {
    const log: string[] = [];
    const memory = new MemoryShareJournal();
    const journal: ShareJournal = {
      accepted: (s, json) => (log.push(`accepted ${s.share_id}`), memory.accepted(s, json)),
      settled: (id, status) => (log.push(`settled ${id} ${status}`), memory.settled(id, status)),
      commit: () => (log.push('commit'), memory.commit()),
    };
    const r = new Rig({ journal });
    r.accept(1);
    r.accept(2);
    r.runTo(100);
    log.push(`posted ${r.commands.length}`);
    assert.deepEqual(log, ['accepted 7-b007-1', 'accepted 7-b007-2', 'commit', 'posted 1']);
    // Crash here: both shares unsettled in the journal. A new forwarder takes them over.
    const recovered = memory.unsettled();
    assert.deepEqual(recovered.map((s) => s.share_id), ['7-b007-1', '7-b007-2']);
    const next = new ShareForwarder(options({ journal: memory, recovered, bootId: 'b008' }), 0);
    assert.equal(next.nextDeadlineMs(), 0, 'recovered shares are due at once');
    next.accept(share(10), 0);
    next.onTimeout(0, 1_700_000_000_000);
    const c = next.pollCommand()!;
    const body = parseBatchBody(c.body);
    assert.ok(body.ok);
    assert.deepEqual(body.value.shares.map((s) => s.share_id), ['7-b007-1', '7-b007-2', '7-b007-10'], 'recovered first');
    assert.match(c.batch_id, /^7-b008-b/, 'a new run never reuses batch ids');
    next.postResult(c.request_id, { kind: 'response', status: 200, body: '' }, 40);
    const results: ShareForwardResultEvent[] = [];
    for (let e = next.pollEvent(); e; e = next.pollEvent()) if (e.type === 'share_forward_result') results.push(e);
    assert.deepEqual(results.map((e) => [e.share_id, e.recovered]), [
      ['7-b007-1', true],
      ['7-b007-2', true],
      ['7-b007-10', false],
    ]);
    assert.deepEqual(memory.unsettled(), []);
    assert.equal(next.metrics.recovered, 2);
    // Settled record precedes the event (checked on the first rig: the journal sees it when the event is polled).
    const before = log.length;
    r.answer(r.commands[0]!);
    assert.deepEqual(log.slice(before), ['settled 7-b007-1 ok', 'settled 7-b007-2 ok']);
  });

  test('misuse throws naming the argument; a duplicate unsettled share id is refused', () => {
    assert.throws(() => new ShareForwarder(options({ queueSize: 0 }), 0), /queueSize must be an integer >= 1, got 0/);
    assert.throws(() => new ShareForwarder(options({ retryMaxMs: 10, retryInitialMs: 20 }), 0), /retryMaxMs \(10\) must be >= retryInitialMs \(20\)/);
    const r = new Rig();
    r.accept(1);
    assert.throws(() => r.accept(1), /already unsettled/);
    assert.throws(() => r.f.accept({ share_id: '' }, 0), /share_id must be a string/);
  });

  test('metrics: results by status and the latency histogram', () => {
    const r = new Rig();
    r.accept(1);
    r.accept(2);
    r.runTo(100);
    r.clock.advanceTo(130);
    r.answer(r.commands[0]!);
    const m = r.f.metrics;
    assert.equal(m.results.ok, 2);
    assert.equal(m.unsettled, 0);
    assert.equal(m.latency.count, 2);
    assert.equal(m.latency.sumMs, 130 + 130);
    const bucket = m.latency.bucketsMs.indexOf(250);
    assert.equal(m.latency.counts[bucket], 2, '130 ms falls in the ≤250 bucket');
    assert.equal(m.latency.counts.reduce((a, b) => a + b, 0), 2);
  });
});

describe('share forwarding signatures', () => {
  // WebCrypto takes only ArrayBuffer-backed views (lib.dom as `deno check` types it), hence the
  // `new Uint8Array(...)` copies of our Uint8Array<ArrayBufferLike> values.
  async function webCryptoHmacHex(key: string, data: Uint8Array): Promise<string> {
    const k = await crypto.subtle.importKey('raw', new Uint8Array(utf8(key)), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return bytesToHex(new Uint8Array(await crypto.subtle.sign('HMAC', k, new Uint8Array(data))));
  }

  test('headers: timestamp in unix seconds, v1=HMAC-SHA256(secret, timestamp "." body) as WebCrypto computes it', async () => {
    const r = new Rig();
    r.clock.advanceTo(5);
    r.accept(1);
    r.runTo(105);
    const c = r.commands[0]!;
    const ts = c.headers[HEADER_TIMESTAMP]!;
    assert.equal(ts, String(Math.floor((1_700_000_000_000 + 105) / 1000)));
    assert.equal(c.headers[HEADER_GATEWAY], '7');
    assert.equal(c.headers['Content-Type'], 'application/json');
    const expected = await webCryptoHmacHex(SECRET, utf8(`${ts}.${fromUtf8(c.body)}`));
    assert.equal(c.headers[HEADER_SIGNATURE], `v1=${expected}`);
  });

  test('verifySignature: accepts the real request; refuses a tampered body, an old or future timestamp, garbage', () => {
    const r = new Rig();
    r.accept(1);
    r.runTo(100);
    const c = r.commands[0]!;
    const secret = utf8(SECRET);
    const headers = { timestamp: c.headers[HEADER_TIMESTAMP]!, signature: c.headers[HEADER_SIGNATURE]! };
    const now = r.clock.wallMs();
    assert.equal(verifySignature(nobleProvider, secret, headers, c.body, now).ok, true);
    const tampered = Uint8Array.from(c.body);
    tampered[tampered.length - 3] ^= 0x01;
    const check = (result: ReturnType<typeof verifySignature>): string => (result.ok ? 'ok' : result.code);
    assert.equal(check(verifySignature(nobleProvider, secret, headers, tampered, now)), 'bad-signature');
    assert.equal(check(verifySignature(nobleProvider, utf8('another-secret-123'), headers, c.body, now)), 'bad-signature');
    // The window is in whole seconds: the request was signed at second T; T + 300 is still fine.
    const signedMs = Number(headers.timestamp) * 1000;
    assert.equal(check(verifySignature(nobleProvider, secret, headers, c.body, signedMs + 300_999)), 'ok', 'at the edge of the 300 s window');
    assert.equal(check(verifySignature(nobleProvider, secret, headers, c.body, signedMs + 301_000)), 'stale-timestamp');
    assert.equal(check(verifySignature(nobleProvider, secret, headers, c.body, signedMs - 300_000)), 'ok');
    assert.equal(check(verifySignature(nobleProvider, secret, headers, c.body, signedMs - 301_000)), 'future-timestamp');
    assert.equal(check(verifySignature(nobleProvider, secret, { ...headers, timestamp: undefined }, c.body, now)), 'missing-timestamp');
    assert.equal(check(verifySignature(nobleProvider, secret, { ...headers, timestamp: '12a' }, c.body, now)), 'malformed-timestamp');
    assert.equal(check(verifySignature(nobleProvider, secret, { ...headers, signature: 'v1=zz' }, c.body, now)), 'malformed-signature');
    assert.equal(check(verifySignature(nobleProvider, secret, { ...headers, signature: null }, c.body, now)), 'missing-signature');
    // Rotation: several v1 values, one of them right.
    const rotated = `v1=${'0'.repeat(64)}, ${headers.signature}`;
    assert.equal(check(verifySignature(nobleProvider, secret, { ...headers, signature: rotated }, c.body, now)), 'ok');
    // A changed timestamp with the old signature fails (the timestamp is inside the MAC).
    assert.equal(check(verifySignature(nobleProvider, secret, { ...headers, timestamp: String(Number(headers.timestamp) + 1) }, c.body, now)), 'bad-signature');
  });
});
