// Hostile clients over real loopback sockets (issue 12 Build item 4), on node, deno and bun:
// the real gateway built from config (test/support/gateway-under-test.ts) against clients that
// are not miners or are miners acting in bad faith. Each case checks the refusal (registry
// reason_code in the event, the counter in /metrics computed from the events as the stack does)
// and then that a legitimate miner still connects AND mines: a job and an acknowledged share
// (test/support/hostile.ts assertStillMines).
//
// Extends test/integration/gateway-bad-input.test.ts, which already covers truncated messages,
// bad MACs (header and payload), oversized frame headers, garbage act 1, short act 1, a
// handshake without SetupConnection and gateway.max_connections; those are not repeated here.
//
// Everything binds 127.0.0.1 with port 0, every loop is bounded, and no assertion depends on
// wall-clock time: bounds are proven by counts (how many rejections a flood got processed
// before its connection was closed) and orderings; the timing figures go to the soak's output.
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { encodeMessage } from '../../core/codec/index.ts';
import { ShareFinder } from '../../core/client/index.ts';
import type { TcpCloseInfo, TcpSocket } from '../../adapters/net/index.ts';
import { fixtureTemplate, sleep, STEP_MS, startGatewayUnderTest, until, type GatewayUnderTest } from '../support/gateway-under-test.ts';
import { findGc } from '../support/gc.ts';
import { assertStillMines, httpRequest, memoryNow, metricsOf, sampleValue, tlsClientHello } from '../support/hostile.ts';
import { spawnScript } from '../support/child.ts';

const TEST_TIMEOUT_MS = 120_000;
const ACT1_BYTES = 64;
const ENCRYPTED_HEADER_BYTES = 22;
const HARD = 1e15; // nominal hash rate whose target no CPU hash meets (see gateway-under-test BASE_CONFIG)

/** A plain socket that records what it got and how it ended. */
async function probe(world: GatewayUnderTest): Promise<{ socket: TcpSocket; received: () => number; closed: () => TcpCloseInfo | undefined }> {
  const socket = await world.tcp();
  let received = 0;
  let closed: TcpCloseInfo | undefined;
  socket.onData((b) => (received += b.length));
  socket.onClose((info) => (closed = info));
  return { socket, received: () => received, closed: () => closed };
}

const closedReasons = (world: GatewayUnderTest): string[] => world.eventsOf('connection_closed').map((e) => e.reason_code);

describe(`gateway hostile clients over TCP (${runtime})`, () => {
  test('HTTP, TLS ClientHello, 1 MiB of garbage and a frame cut by FIN before the handshake: each closed with its reason, counted, and a miner still mines', async () => {
    // A handshake timeout far beyond the test, so only the bytes decide (a loaded machine may
    // take long to read them; the timeout cases are the next test's, where the timer decides).
    const world = await startGatewayUnderTest({ salt: 1201, config: { 'timing.handshake_timeout_ms': 120_000 } });
    try {
      world.template(fixtureTemplate(1));
      // What the gateway makes of each (SV2.md §3.3, §3.7): the first 64 bytes are act 1 (any 64
      // bytes decode as an ElligatorSwift key), so it answers act 2 (234 bytes); then the next
      // 22 bytes are an encrypted frame header whose MAC cannot verify.
      //  - an HTTP request of 80 bytes: act 1 + 16 bytes of a header → act 2, then it waits;
      //  - a TLS ClientHello (> 86 bytes) and 1 MiB of garbage → act 2, then decrypt_failed.
      const http = await probe(world);
      const tls = await probe(world);
      const flood = await probe(world);
      const hello = tlsClientHello();
      assert.ok(hello.length > ACT1_BYTES + ENCRYPTED_HEADER_BYTES, `ClientHello is ${hello.length} bytes`);
      http.socket.write(httpRequest(80));
      tls.socket.write(hello);
      flood.socket.write(Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7919 + 13) & 0xff));
      // A raw Noise client that completes the handshake, sends half of an encrypted frame and FIN.
      const cut = await world.raw();
      await cut.handshake();
      const sealed = cut.seal(encodeMessage({ type: 'OpenStandardMiningChannel', requestId: 1, userIdentity: 'cut.frame', nominalHashRate: 1, maxTarget: new Uint8Array(32).fill(0xff) }));
      cut.writeRaw(sealed.subarray(0, Math.floor(sealed.length / 2)));
      cut.socket.close();

      await until('act 2 for the HTTP request', STEP_MS, () => (http.received() === 234 ? true : undefined));
      await until('three connections closed', STEP_MS, () => (world.eventsOf('connection_closed').length === 3 ? true : undefined));
      assert.equal(http.closed(), undefined, 'the 80-byte request waits for the rest of its "frame header"');
      http.socket.abort();
      await until('four connections closed', STEP_MS, () => (world.eventsOf('connection_closed').length === 4 ? true : undefined));
      const byConn = new Map(world.eventsOf('connection_closed').map((e) => [e.conn_id, e.reason_code]));
      const opened = world.eventsOf('connection_opened').map((e) => e.conn_id);
      // Connection ids in accept order: http, tls, flood, cut.
      assert.deepEqual(opened.map((id) => byConn.get(id)), ['peer_closed', 'decrypt_failed', 'decrypt_failed', 'peer_closed']);
      await until('the probes see their sockets closed', STEP_MS, () => (tls.closed() && flood.closed() ? true : undefined));
      assert.equal(tls.received(), 234, 'act 2, then nothing');
      assert.ok(flood.received() <= 234, 'nothing but act 2 in answer to 1 MiB');
      assert.equal(world.eventsOf('channel_opened').length, 0, 'no channel from half a frame');
      const metrics = metricsOf(world);
      assert.equal(sampleValue(metrics, 'reservegrid_connections_closed_total', { reason_code: 'decrypt_failed' }), 2);
      assert.equal(sampleValue(metrics, 'reservegrid_handshakes_total', { result: 'decrypt_failed' }), 2);
      await assertStillMines(world);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test('a short HTTP request and one of 80 bytes, then silence: both dropped at timing.handshake_timeout_ms', async () => {
    // Short, but not so short that the health check's own handshake could miss it on a loaded machine.
    const world = await startGatewayUnderTest({ salt: 1207, config: { 'timing.handshake_timeout_ms': 4000 } });
    try {
      world.template(fixtureTemplate(1));
      const short = await probe(world);
      const http = await probe(world);
      short.socket.write(httpRequest(40));
      http.socket.write(httpRequest(80));
      await until('both dropped', STEP_MS, () => (short.closed() && http.closed() ? true : undefined));
      assert.deepEqual(closedReasons(world), ['handshake_timeout', 'handshake_timeout']);
      assert.equal(short.received(), 0, 'nothing before a full act 1');
      assert.equal(sampleValue(metricsOf(world), 'reservegrid_handshakes_total', { result: 'handshake_timeout' }), 2);
      await assertStillMines(world);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test('2,000 half-open connections from another process are held within limits.max_handshaking_per_ip, memory per connection measured, a miner still mines, all are dropped at the handshake timeout', async () => {
    const count = 2000;
    const perIpMax = count + 50;
    // Long enough that a loaded machine connects all 2,000 before the first is dropped (the
    // fake-clock twin in test/unit/admission.test.ts proves the exact boundary).
    const handshakeTimeoutMs = 20_000;
    const world = await startGatewayUnderTest({
      salt: 1202,
      config: {
        'gateway.max_connections': 5000,
        'timing.handshake_timeout_ms': handshakeTimeoutMs,
        'limits.max_handshaking': 5000,
        'limits.max_handshaking_per_ip': perIpMax,
        'limits.connection_burst_per_ip': 5000,
        'limits.connection_rate_per_ip': 5000,
      },
    });
    const gc = await findGc();
    let flood: ReturnType<typeof spawnScript> | undefined;
    let extra: ReturnType<typeof spawnScript> | undefined;
    try {
      world.template(fixtureTemplate(1));
      const before = await memoryNow(gc);
      const startedMs = world.clock.monotonicMs();
      flood = spawnScript('test/support/half-open-flood.ts', ['--port', String(world.server.port), '--count', String(count), '--send-bytes', '0']);
      const child = flood;
      await until('the flood to connect', 60_000, () => {
        if (!child.running && !child.stdout().includes('"held"')) throw new Error(`flood child exited: ${child.stderr()}`);
        return child.stdout().includes('"held"') ? true : undefined;
      });
      await until('every flood connection accepted', 60_000, () => (world.gateway.stats.openConnections === count ? true : undefined));
      const connectMs = Math.round(world.clock.monotonicMs() - startedMs);
      const held = await memoryNow(gc);
      assert.equal(world.gateway.admission.handshaking, count);
      assert.equal(sampleValue(metricsOf(world), 'reservegrid_connections_handshaking'), count, 'the half-open gauge');
      const perConnRss = (held.rssBytes - before.rssBytes) / count;
      const perConnHeap = (held.heapBytes - before.heapBytes) / count;
      console.log(`    [${runtime}] ${count} half-open connections held: gateway process +${((held.rssBytes - before.rssBytes) / 1048576).toFixed(1)} MiB RSS, +${((held.heapBytes - before.heapBytes) / 1048576).toFixed(1)} MiB heap: ${Math.round(perConnRss)} B RSS, ${Math.round(perConnHeap)} B heap per half-open connection (connect phase ${connectMs} ms)`);

      // A legitimate miner is admitted and mines while the 2,000 are held.
      await assertStillMines(world, 'during.flood');

      // 100 more half-open from the same address: only the per-IP headroom (50) is accepted.
      extra = spawnScript('test/support/half-open-flood.ts', ['--port', String(world.server.port), '--count', '100', '--parallel', '1']);
      const extraChild = extra;
      await until('the extra flood to connect', 60_000, () => (extraChild.stdout().includes('"held"') ? true : undefined));
      await until('the per-IP refusals', STEP_MS, () => (world.eventsOf('connection_refused').length === 50 ? true : undefined));
      assert.ok(world.eventsOf('connection_refused').every((e) => e.reason_code === 'handshake_limit_per_ip'));
      assert.equal(world.gateway.admission.handshaking, perIpMax);
      assert.equal(sampleValue(metricsOf(world), 'reservegrid_connections_refused_total', { reason_code: 'handshake_limit_per_ip' }), 50);

      // Everything half-open is dropped at the handshake timeout; the gateway is empty again.
      await until('every half-open connection dropped', handshakeTimeoutMs + 30_000, () => (world.gateway.stats.openConnections === 0 ? true : undefined));
      const dropped = world.eventsOf('connection_closed').filter((e) => e.reason_code === 'handshake_timeout').length;
      assert.equal(dropped, perIpMax);
      assert.equal(world.gateway.admission.handshaking, 0);
      assert.equal(sampleValue(metricsOf(world), 'reservegrid_connections_handshaking'), 0);
      assert.equal(world.gateway.admission.trackedIps <= 1, true, 'one address tracked at most');
      await assertStillMines(world, 'after.flood');
    } finally {
      flood?.child.kill('SIGKILL');
      extra?.child.kill('SIGKILL');
      await world.close();
    }
  }, { timeoutMs: 180_000 });

  test('a connect flood is cut at limits.connection_burst_per_ip (connection_rate_limited), and the address is served again once its bucket refills', async () => {
    const burst = 40;
    // A slow refill (5/s): the 200 connects finish long before the bucket could refill 160.
    const world = await startGatewayUnderTest({ salt: 1203, config: { 'limits.connection_burst_per_ip': burst, 'limits.connection_rate_per_ip': 5 } });
    try {
      world.template(fixtureTemplate(1));
      const sockets: TcpSocket[] = [];
      for (let i = 0; i < 200; i++) {
        const s = await world.tcp();
        s.onData(() => undefined);
        sockets.push(s);
      }
      await until('200 connects answered', STEP_MS, () => (world.eventsOf('connection_opened').length + world.eventsOf('connection_refused').length === 200 ? true : undefined));
      const accepted = world.eventsOf('connection_opened').length;
      // The bucket refills at 5/s while the loop runs: at least the burst, a few more on a slow machine.
      assert.ok(accepted >= burst && accepted < 200, `accepted ${accepted} of 200`);
      assert.ok(world.eventsOf('connection_refused').every((e) => e.reason_code === 'connection_rate_limited'));
      assert.equal(sampleValue(metricsOf(world), 'reservegrid_connections_refused_total', { reason_code: 'connection_rate_limited' }), 200 - accepted);
      for (const s of sockets) s.abort();
      await until('flood sockets gone', STEP_MS, () => (world.gateway.stats.openConnections === 0 ? true : undefined));
      // The bucket refills at 5/s: 500 ms give at least 2 tokens for the health check.
      await sleep(500);
      await assertStillMines(world);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test('limits.max_connections_per_ip: the next connection from the address is refused unread (connection_limit_per_ip); a slot frees when one leaves', async () => {
    const world = await startGatewayUnderTest({ salt: 1204, config: { 'limits.max_connections_per_ip': 3 } });
    try {
      world.template(fixtureTemplate(1));
      const raws = [await world.raw(), await world.raw(), await world.raw()];
      for (const r of raws) await r.setup();
      const refused = await probe(world);
      refused.socket.write(new Uint8Array(ACT1_BYTES));
      await until('refused socket closed', STEP_MS, () => refused.closed());
      assert.equal(refused.received(), 0, 'a refused connection gets nothing');
      const events = world.eventsOf('connection_refused');
      assert.deepEqual(events.map((e) => e.reason_code), ['connection_limit_per_ip']);
      raws[0]!.abort();
      await until('slot freed', STEP_MS, () => (world.gateway.stats.openConnections === 2 ? true : undefined));
      await assertStillMines(world);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test('messages before SetupConnection, an oversized worker identity and too many channels: each refused with its code; the connection or gateway keeps serving', async () => {
    const world = await startGatewayUnderTest({ salt: 1205, config: { 'limits.max_channels_per_connection': 2, 'auth.max_worker_id_bytes': 32 } });
    try {
      world.template(fixtureTemplate(1));
      const open = (requestId: number, userIdentity: string) => ({ type: 'OpenStandardMiningChannel', requestId, userIdentity, nominalHashRate: 1, maxTarget: new Uint8Array(32).fill(0xff) }) as const;
      // (a) OpenStandardMiningChannel and SubmitSharesStandard right after the handshake.
      for (const message of [open(1, 'early.bird'), { type: 'SubmitSharesStandard', channelId: 1, sequenceNumber: 0, jobId: 1, nonce: 0, ntime: 0, version: 0x20000000 } as const]) {
        const early = await world.raw();
        await early.handshake();
        early.send(message);
        await early.closedByServer();
      }
      assert.deepEqual(closedReasons(world), ['unexpected_message', 'unexpected_message']);
      assert.deepEqual(world.eventsOf('connection_closed').map((e) => e.detail), ['OpenStandardMiningChannel before SetupConnection', 'SubmitSharesStandard before SetupConnection']);

      // (b) A worker name of 250 bytes (the longest user_identity the wire allows is 255).
      const raw = await world.raw();
      await raw.setup();
      raw.send(open(2, `acct.${'w'.repeat(250)}`));
      const refusedOpen = await raw.nextMessage('OpenMiningChannelError');
      // SRI has no worker-specific string: the registry sends its 'invalid-user-identity'.
      assert.equal(refusedOpen.errorCode, 'invalid-user-identity');
      // (c) Two channels, then a third: channel-limit-reached; the connection stays up.
      raw.send(open(3, 'acct.one'));
      raw.send(open(4, 'acct.two'));
      await raw.nextMessage('OpenStandardMiningChannelSuccess');
      await raw.nextMessage('OpenStandardMiningChannelSuccess');
      raw.send(open(5, 'acct.three'));
      const limit = await raw.nextMessage('OpenMiningChannelError');
      assert.deepEqual([limit.requestId, limit.errorCode], [5, 'channel-limit-reached']);
      assert.deepEqual(world.eventsOf('channel_open_rejected').map((e) => e.reason_code), ['worker_id_too_long', 'channel_limit_reached']);
      assert.equal(raw.closeInfo, undefined, 'refused opens do not close the connection');
      const metrics = metricsOf(world);
      assert.equal(sampleValue(metrics, 'reservegrid_channel_open_rejected_total', { channel_type: 'standard', reason_code: 'channel_limit_reached' }), 1);
      assert.equal(sampleValue(metrics, 'reservegrid_connections_closed_total', { reason_code: 'unexpected_message' }), 2);
      await assertStillMines(world);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test('5,000 invalid shares in one write: the connection is closed after exactly limits.max_invalid_shares_per_minute + 1 rejections, and a miner submitting meanwhile is acknowledged', async () => {
    const budget = 100;
    const flood = 5000;
    const world = await startGatewayUnderTest({ salt: 1206, config: { 'limits.max_invalid_shares_per_minute': budget } });
    try {
      world.template(fixtureTemplate(1));
      // The honest miner first, with its channel open and work in hand.
      const honest = await world.miner();
      await honest.nextEvent('setup_success', STEP_MS);
      const request = honest.client.openStandardChannel({ userIdentity: 'honest.rig', nominalHashRate: 1 });
      honest.flush();
      const opened = await honest.nextEvent('channel_opened', STEP_MS, (e) => e.request_id === request);
      await honest.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === opened.channel_id);
      const work = honest.client.work(opened.channel_id)!;
      const share = new ShareFinder(work).search(1 << 16).share!;

      // The attacker: a channel whose target no CPU hash meets, then 5,000 shares at once.
      const raw = await world.raw();
      await raw.setup();
      raw.send({ type: 'OpenStandardMiningChannel', requestId: 1, userIdentity: 'mallory.flood', nominalHashRate: HARD, maxTarget: new Uint8Array(32).fill(0xff) });
      const ch = await raw.nextMessage('OpenStandardMiningChannelSuccess');
      const job = await raw.nextMessage('NewMiningJob');
      const connId = world.eventsOf('channel_opened').find((e) => e.identity === 'mallory.flood')!.conn_id;
      const frames: Uint8Array[] = [];
      for (let i = 0; i < flood; i++) {
        frames.push(raw.seal(encodeMessage({ type: 'SubmitSharesStandard', channelId: ch.channelId, sequenceNumber: i, jobId: job.jobId, nonce: i, ntime: 0x66000000, version: job.version })));
      }
      const total = frames.reduce((n, f) => n + f.length, 0);
      const bytes = new Uint8Array(total);
      let at = 0;
      for (const f of frames) {
        bytes.set(f, at);
        at += f.length;
      }
      raw.writeRaw(bytes);
      const seq = honest.client.submitShare(opened.channel_id, { jobId: work.jobId, nonce: share.nonce, ntime: share.ntime, version: share.version });
      honest.flush();

      const closed = await world.closedEvent(connId);
      assert.equal(closed.reason_code, 'invalid_share_budget_exceeded');
      const rejected = world.eventsOf('share_rejected').filter((e) => e.conn_id === connId);
      assert.equal(rejected.length, budget + 1, 'validation work done for the flood is one budget, whatever was sent');
      assert.equal(closed.shares_rejected, budget + 1);
      const ack = await honest.nextEvent('shares_accepted', STEP_MS, (e) => e.channel_id === opened.channel_id);
      assert.equal(ack.last_sequence_number, seq);
      assert.equal(sampleValue(metricsOf(world), 'reservegrid_connections_closed_total', { reason_code: 'invalid_share_budget_exceeded' }), 1);
      assert.equal(honest.client.state, 'ready');
      await assertStillMines(world);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });
});
