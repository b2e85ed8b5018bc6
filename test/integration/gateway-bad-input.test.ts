// Bad input over real loopback sockets (issue 3 acceptance, fourth bullet): the real gateway
// built from config (test/support/gateway-under-test.ts), and clients that misbehave on purpose:
// a RawNoiseClient completes Noise NX with core's initiator and then writes truncated payloads,
// corrupted MACs or oversized headers; plain TCP sockets send garbage or nothing. Each case
// checks that the gateway closes only the offending connection, with the registry reason_code
// in `connection_closed` and the counters moving, and — no crash — that a fresh client still
// handshakes, opens a channel and gets a job afterwards.
//
// Frames are built by hand from SV2.md §1.1 (header) and §5.1 (field layouts); the encrypted
// layout is SV2.md §3.7 (22-byte header ciphertext = 6 + 16-byte MAC, then payload chunks).
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { ShareFinder } from '../../core/client/index.ts';
import { encodeMessage } from '../../core/codec/index.ts';
import type { TcpCloseInfo } from '../../adapters/net/index.ts';
import {
  assertStillServes,
  fixtureTemplate,
  frameHeader,
  STEP_MS,
  startGatewayUnderTest,
  until,
  type GatewayUnderTest,
  type RawNoiseClient,
} from '../support/gateway-under-test.ts';

const TEST_TIMEOUT_MS = 60_000;
const ENCRYPTED_HEADER_BYTES = 22;

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

/**
 * OpenStandardMiningChannel (0x10) cut short: request_id U32 = 1, then user_identity STR0_255
 * announcing 9 bytes of which only 7 follow; nominal_hash_rate and max_target missing.
 */
function truncatedOpenChannelFrame(): Uint8Array {
  const payload = Uint8Array.of(1, 0, 0, 0, 9, ...ascii('alice.s'));
  return Uint8Array.of(...frameHeader(0x0000, 0x10, payload.length), ...payload);
}

/** SubmitSharesStandard (0x1a, channel bit set) with 20 of its 24 payload bytes. */
function truncatedSubmitFrame(channelId: number): Uint8Array {
  const payload = new Uint8Array(20);
  new DataView(payload.buffer).setUint32(0, channelId, true);
  return Uint8Array.of(...frameHeader(0x8000, 0x1a, payload.length), ...payload);
}

/** A frame of `payloadBytes` zero bytes under an experimental extension id (0x4001): receivers ignore it. */
function unknownExtensionFrame(payloadBytes: number): Uint8Array {
  return Uint8Array.of(...frameHeader(0x4001, 0x00, payloadBytes), ...new Uint8Array(payloadBytes));
}

/** The connection id of the raw client that just finished SetupConnection (vendor 'raw-test'). */
function lastSetupConnId(world: GatewayUnderTest): number {
  const setups = world.eventsOf('connection_setup').filter((e) => e.vendor === 'raw-test');
  assert.ok(setups.length > 0, 'a raw client finished SetupConnection');
  return setups[setups.length - 1]!.conn_id;
}

async function rawReady(world: GatewayUnderTest): Promise<{ raw: RawNoiseClient; connId: number }> {
  const raw = await world.raw();
  await raw.setup();
  return { raw, connId: lastSetupConnId(world) };
}

/** The server closed `raw` (not us), and the gateway said why. */
async function expectClosedWith(world: GatewayUnderTest, raw: RawNoiseClient, connId: number, reasonCode: string) {
  const info = await raw.closedByServer();
  assert.equal(info.local, false, 'closed by the gateway');
  const closed = await world.closedEvent(connId);
  assert.equal(closed.reason_code, reasonCode, `connection_closed: ${closed.detail}`);
  assert.ok(closed.detail.length > 0, 'a human-readable detail');
  return closed;
}

describe(`gateway bad input over TCP (${runtime})`, () => {
  test('a malformed message after setup closes the connection with malformed_message', async () => {
    const world = await startGatewayUnderTest({ salt: 401 });
    try {
      world.template(fixtureTemplate(1));
      // A well-behaved miner on the same gateway, to show only the offender is closed.
      const healthy = await world.miner();
      await healthy.nextEvent('setup_success', STEP_MS);

      // 1. A truncated OpenStandardMiningChannel right after SetupConnection.Success.
      const a = await rawReady(world);
      a.raw.writeRaw(a.raw.seal(truncatedOpenChannelFrame()));
      const closedA = await expectClosedWith(world, a.raw, a.connId, 'malformed_message');
      assert.ok(closedA.field !== undefined && closedA.field.length > 0, `the offending field is named (${closedA.field})`);

      // 2. A truncated SubmitSharesStandard on an open channel.
      const b = await rawReady(world);
      b.raw.send({ type: 'OpenStandardMiningChannel', requestId: 7, userIdentity: 'bob.raw', nominalHashRate: 1, maxTarget: new Uint8Array(32).fill(0xff) });
      const opened = await b.raw.nextMessage('OpenStandardMiningChannelSuccess');
      b.raw.writeRaw(b.raw.seal(truncatedSubmitFrame(opened.channelId)));
      const closedB = await expectClosedWith(world, b.raw, b.connId, 'malformed_message');
      assert.equal(closedB.channels, 1, 'the event counts the channels the connection had');
      // Nothing in answer to the bad frames (b only got its channel's job and SetNewPrevHash).
      assert.deepEqual(a.raw.received.map((m) => m.type), []);
      assert.deepEqual(b.raw.received.map((m) => m.type), ['NewMiningJob', 'SetNewPrevHash']);

      // Counters: both connections counted closed (gateway) and their sockets gone (pump).
      const closedReasons = world.eventsOf('connection_closed').map((e) => e.reason_code);
      assert.deepEqual(closedReasons, ['malformed_message', 'malformed_message']);
      await until('offenders forgotten', STEP_MS, () => (world.gateway.stats.openConnections === 1 && world.server.stats.openSockets === 1 ? true : undefined));
      assert.equal(world.gateway.stats.connectionsAccepted, 3);
      assert.equal(healthy.client.state, 'ready', 'the healthy miner is untouched');
      await assertStillServes(world);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test('garbage as act 1, a short act 1, or a handshake without SetupConnection: dropped at handshake_timeout_ms', async () => {
    const handshakeTimeoutMs = 600;
    const world = await startGatewayUnderTest({ salt: 402, config: { 'timing.handshake_timeout_ms': handshakeTimeoutMs } });
    try {
      world.template(fixtureTemplate(1));
      const startedMs = Date.now();
      // (a) 64 garbage bytes: a full act 1. Any 64 bytes decode as an ElligatorSwift key (SV2.md
      //     §3.3), so the gateway answers act 2 (234 bytes) and then waits for SetupConnection.
      // (b) 10 garbage bytes: act 1 never completes.
      const garbage = Uint8Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);
      const sockets = [await world.tcp(), await world.tcp()];
      const received = [0, 0];
      const closes: (TcpCloseInfo & { atMs: number })[][] = [[], []];
      sockets.forEach((socket, i) => {
        socket.onData((bytes) => (received[i]! += bytes.length));
        socket.onClose((info) => closes[i]!.push({ ...info, atMs: Date.now() }));
      });
      sockets[0]!.write(garbage);
      sockets[1]!.write(garbage.subarray(0, 10));
      // (c) a real Noise handshake, then silence.
      const silent = await world.raw();
      await silent.handshake();

      await until('all three dropped', STEP_MS, () => (closes[0]!.length > 0 && closes[1]!.length > 0 && silent.closeInfo !== undefined ? true : undefined));
      for (const [i, close] of closes.entries()) {
        const elapsedMs = close[0]!.atMs - startedMs;
        assert.equal(close[0]!.local, false, `socket ${i} closed by the gateway`);
        assert.ok(elapsedMs >= handshakeTimeoutMs - 50 && elapsedMs < handshakeTimeoutMs + 5000, `socket ${i} dropped after ${elapsedMs} ms`);
      }
      assert.deepEqual(received, [234, 0], 'act 2 for the full garbage act 1, nothing for the short one');
      await until('three connection_closed', STEP_MS, () => (world.eventsOf('connection_closed').length === 3 ? true : undefined));
      assert.deepEqual(world.eventsOf('connection_closed').map((e) => e.reason_code), ['handshake_timeout', 'handshake_timeout', 'handshake_timeout']);
      assert.equal(world.eventsOf('connection_setup').length, 0);
      assert.equal(world.gateway.stats.openConnections, 0);
      await assertStillServes(world);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test('a bad MAC after the handshake closes the connection with decrypt_failed (header and payload)', async () => {
    const world = await startGatewayUnderTest({ salt: 403 });
    try {
      world.template(fixtureTemplate(1));
      const open = { type: 'OpenStandardMiningChannel', requestId: 1, userIdentity: 'mallory.mac', nominalHashRate: 1, maxTarget: new Uint8Array(32).fill(0xff) } as const;
      // (a) the header MAC: the last of the first 22 bytes.
      const a = await rawReady(world);
      const sealedA = a.raw.seal(encodeMessage(open));
      sealedA[ENCRYPTED_HEADER_BYTES - 1]! ^= 0x01;
      a.raw.writeRaw(sealedA);
      const closedA = await expectClosedWith(world, a.raw, a.connId, 'decrypt_failed');
      assert.equal(closedA.field, 'header');
      // (b) the payload MAC: the last byte of the frame.
      const b = await rawReady(world);
      const sealedB = b.raw.seal(encodeMessage(open));
      sealedB[sealedB.length - 1]! ^= 0x80;
      b.raw.writeRaw(sealedB);
      const closedB = await expectClosedWith(world, b.raw, b.connId, 'decrypt_failed');
      assert.equal(closedB.field, 'payload');
      assert.equal(world.eventsOf('channel_opened').length, 0, 'no channel from a forged frame');
      assert.equal(world.gateway.stats.openConnections, 0);
      await assertStillServes(world);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test('a frame announcing more than gateway.max_frame_payload_bytes is refused (frame_too_large) before its payload is sent', async () => {
    const maxPayloadBytes = 1024; // the schema's minimum
    const world = await startGatewayUnderTest({ salt: 404, config: { 'gateway.max_frame_payload_bytes': maxPayloadBytes } });
    try {
      world.template(fixtureTemplate(1));
      const { raw, connId } = await rawReady(world);
      // At the limit: accepted, and ignored as an unknown extension (SV2.md §1.1).
      raw.writeRaw(raw.seal(unknownExtensionFrame(maxPayloadBytes)));
      await until('the limit-sized frame is read', STEP_MS, () => (world.gateway.session(connId)?.ignoredFrames === 1 ? true : undefined));
      assert.equal(raw.closeInfo, undefined);
      // One byte over: only the 22-byte encrypted header goes out; the payload never does.
      const sealed = raw.seal(unknownExtensionFrame(maxPayloadBytes + 1));
      assert.equal(sealed.length, ENCRYPTED_HEADER_BYTES + maxPayloadBytes + 1 + 16);
      raw.writeRaw(sealed.subarray(0, ENCRYPTED_HEADER_BYTES));
      const closed = await expectClosedWith(world, raw, connId, 'frame_too_large');
      assert.match(closed.detail, new RegExp(`${maxPayloadBytes + 1}`), 'the announced size is in the detail');
      assert.equal(world.gateway.stats.openConnections, 0);
      await assertStillServes(world);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test('connections over gateway.max_connections are refused (connection_limit_reached) while existing ones keep mining', async () => {
    const world = await startGatewayUnderTest({ salt: 405, config: { 'gateway.max_connections': 2 } });
    try {
      world.template(fixtureTemplate(1));
      const miner = await world.miner();
      await miner.nextEvent('setup_success', STEP_MS);
      const request = miner.client.openStandardChannel({ userIdentity: 'carol.rig', nominalHashRate: 1 });
      miner.flush();
      const channel = await miner.nextEvent('channel_opened', STEP_MS, (e) => e.request_id === request);
      await miner.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === channel.channel_id);
      const second = await rawReady(world);

      // Two over the limit: closed without a byte, each with an event.
      for (let i = 0; i < 2; i++) {
        const refused = await world.tcp();
        let bytes = 0;
        refused.onData((b) => (bytes += b.length));
        let closedInfo: TcpCloseInfo | undefined;
        refused.onClose((info) => (closedInfo = info));
        refused.write(new Uint8Array(64)); // an act 1 the gateway must not even read
        await until('refused socket closed', STEP_MS, () => closedInfo);
        assert.equal(bytes, 0, 'a refused connection gets nothing');
      }
      const refusedEvents = world.eventsOf('connection_refused');
      assert.equal(refusedEvents.length, 2);
      for (const e of refusedEvents) {
        assert.deepEqual([e.reason_code, e.open_connections, e.max_connections], ['connection_limit_reached', 2, 2]);
      }
      assert.equal(world.server.stats.socketsRefused, 2);
      assert.equal(world.gateway.stats.connectionsRefused, 2);

      // The existing connections keep working: a share is acknowledged, the raw one still answers.
      const work = miner.client.work(channel.channel_id)!;
      const found = new ShareFinder(work).search(1 << 16).share;
      assert.ok(found !== undefined, 'a share on the easy target');
      const seq = miner.client.submitShare(channel.channel_id, { jobId: work.jobId, nonce: found.nonce, ntime: found.ntime, version: found.version });
      miner.flush();
      const ack = await miner.nextEvent('shares_accepted', STEP_MS, (e) => e.channel_id === channel.channel_id);
      assert.equal(ack.last_sequence_number, seq);
      second.raw.send({ type: 'OpenStandardMiningChannel', requestId: 3, userIdentity: 'dave.raw', nominalHashRate: 1, maxTarget: new Uint8Array(32).fill(0xff) });
      await second.raw.nextMessage('OpenStandardMiningChannelSuccess');

      // A slot frees up when one leaves: the next client is served.
      second.raw.abort();
      const left = await world.closedEvent(second.connId);
      assert.equal(left.reason_code, 'peer_closed');
      await until('slot freed', STEP_MS, () => (world.gateway.stats.openConnections === 1 ? true : undefined));
      await assertStillServes(world);
      assert.equal(world.eventsOf('connection_refused').length, 2);
      assert.equal(miner.client.state, 'ready');
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test.skip(
    'a client that stops reading while the gateway sends is closed with slow_consumer',
    'covered in test/integration/net-gateway-server.test.ts ("a miner that stops reading ..."): loopback kernel buffers take several MiB before the pump\'s queue grows, so a second copy here would cost tens of thousands of broadcasts on a loaded machine',
  );

  test('no crash: every kind of bad input on one gateway at once, then a fresh client still handshakes and gets a job', async () => {
    const world = await startGatewayUnderTest({
      salt: 406,
      config: { 'timing.handshake_timeout_ms': 1500, 'gateway.max_frame_payload_bytes': 1024, 'gateway.max_connections': 6 },
    });
    try {
      world.template(fixtureTemplate(1));
      const healthy = await world.miner();
      await healthy.nextEvent('setup_success', STEP_MS);
      // Garbage act 1 and silence; a truncated message; a bad MAC; an oversized header.
      const garbage = await world.tcp();
      garbage.write(Uint8Array.from({ length: 64 }, (_, i) => (i * 101 + 7) & 0xff));
      const malformed = await rawReady(world);
      const badMac = await rawReady(world);
      const tooLarge = await rawReady(world);
      const filler = await rawReady(world);
      // Six open now (healthy, garbage, four raw): the limit. One more is refused.
      const refused = await world.tcp();
      let refusedClosed = false;
      refused.onClose(() => (refusedClosed = true));
      malformed.raw.writeRaw(malformed.raw.seal(truncatedOpenChannelFrame()));
      const sealed = badMac.raw.seal(unknownExtensionFrame(8));
      sealed[3]! ^= 0xff;
      badMac.raw.writeRaw(sealed);
      tooLarge.raw.writeRaw(tooLarge.raw.seal(unknownExtensionFrame(4096)).subarray(0, ENCRYPTED_HEADER_BYTES));
      await expectClosedWith(world, malformed.raw, malformed.connId, 'malformed_message');
      await expectClosedWith(world, badMac.raw, badMac.connId, 'decrypt_failed');
      await expectClosedWith(world, tooLarge.raw, tooLarge.connId, 'frame_too_large');
      await until('refused socket closed', STEP_MS, () => (refusedClosed ? true : undefined));
      assert.equal(world.eventsOf('connection_refused')[0]?.reason_code, 'connection_limit_reached');
      await until('garbage dropped at the timeout', STEP_MS, () =>
        world.eventsOf('connection_closed').find((e) => e.reason_code === 'handshake_timeout'),
      );
      filler.raw.abort();
      await world.closedEvent(filler.connId);

      assert.equal(world.gateway.state, 'running');
      assert.deepEqual(
        world.eventsOf('connection_closed').map((e) => e.reason_code).sort(),
        ['decrypt_failed', 'frame_too_large', 'handshake_timeout', 'malformed_message', 'peer_closed'],
      );
      await until('only the healthy miner left', STEP_MS, () => (world.gateway.stats.openConnections === 1 ? true : undefined));
      assert.equal(healthy.client.state, 'ready');
      await assertStillServes(world);
      // The gateway still moves work: a new prevhash reaches the fresh state.
      world.template(fixtureTemplate(2));
      await until('second job broadcast', STEP_MS, () => (world.eventsOf('job_broadcast').length === 2 ? true : undefined));
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });
});
