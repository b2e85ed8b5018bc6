// One socket worker (adapters/workers/worker.ts, issue 13 item 1) in process, against a leader
// written here from the control-channel spec (core/gateway/worker-control.ts header), over real
// loopback sockets and Noise, on node, deno and bun:
//  - HELLO names the worker and its bound port; the first connection id is spawn × 2^32 + 1;
//  - the released TEMPLATE becomes the miner's job; the extranonce counter carries the index;
//  - journal first, then acknowledge: the SubmitShares.Success for an accepted share does not
//    leave the worker until the leader ACKs the EVENTS frame that carried the share_accepted;
//  - HOLD_EXPIRED closes the miner (miner_disconnected, stale_hold_expired) and new miners are
//    refused until GATE says otherwise;
//  - a malformed frame from the leader ends the worker (exit code 1: no leader, no acks).
import { describe, seed, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { MinerConnection } from '../../adapters/fleet.ts';
import { listenTcp, type ListenTcp, type TcpSocket } from '../../adapters/net/index.ts';
import { startSocketWorker, WORKER_CONN_ID_STRIDE } from '../../adapters/workers/worker.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { encodeWorkerControl, WorkerControlDecoder, type WorkerControlMessage } from '../../core/gateway/worker-control.ts';
import { generateAuthorityKeyPair } from '../../core/noise/keys.ts';
import { SeededRandom } from '../../core/random.ts';
import { configToml, HOST, loadTestConfig, STEP_MS, sleep, submitShare, templateOn, until } from '../support/stack-world.ts';

// The in-process worker binds without SO_REUSEPORT (Deno needs --unstable-net for it, and one
// worker shares nothing); the option itself is exercised by test/integration/workers.test.ts.
const plainListen: ListenTcp = (address, onConnection) => listenTcp(address, onConnection);

describe('socket worker against a scripted leader', () => {
  test('HELLO, template → job, partitioned extranonce, ack held until the leader journaled, hold expiry, malformed leader', async () => {
    const clock = new SystemClock();
    const random = new SeededRandom(seed + 71);
    const authority = generateAuthorityKeyPair(random);
    const config = loadTestConfig(configToml({ 'gateway.mode': 'observe' }, authority));
    const received: WorkerControlMessage[] = [];
    let leaderSide: TcpSocket | undefined;
    const leader = await listenTcp({ host: HOST, port: 0 }, (socket) => {
      leaderSide = socket;
      const decoder = new WorkerControlDecoder();
      socket.onData((bytes) => {
        decoder.push(bytes);
        for (let m = decoder.poll(); m !== undefined; m = decoder.poll()) received.push(m);
      });
    });
    const send = (m: WorkerControlMessage): void => void leaderSide!.write(encodeWorkerControl(m));
    const events = (): Record<string, unknown>[] => received.flatMap((m) => (m.type === 'events' ? (m.events as Record<string, unknown>[]) : []));
    const worker = await startSocketWorker({ config, clock, random, provider: nobleProvider, leader: { host: HOST, port: leader.port }, index: 1, count: 2, spawn: 3, port: 0, pid: 4242, listenTcp: plainListen });
    const miners: MinerConnection[] = [];
    try {
      const hello = await until('HELLO', STEP_MS, () => received.find((m) => m.type === 'hello'));
      assert.deepEqual(hello, { type: 'hello', index: 1, pid: 4242, port: worker.server.port });

      send({ type: 'gate', holding: false, refusingMiners: false });
      send({ type: 'template', template: templateOn(1, 1n) });
      const connect = async (i: number): Promise<MinerConnection> => {
        const c = await MinerConnection.connect({ host: HOST, port: worker.server.port, clock, random: new SeededRandom(seed + 72 + i), certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly }, client: { requestExtensions: [] } });
        miners.push(c);
        return c;
      };
      const conn = await connect(0);
      await conn.nextEvent('setup_success', STEP_MS);
      const request = conn.client.openExtendedChannel({ userIdentity: 'w.m0', nominalHashRate: 1, minExtranonceSize: 8 });
      conn.flush();
      const opened = await conn.nextEvent('channel_opened', STEP_MS, (e) => e.request_id === request);
      // Worker 1 of 2: the counter's top bit is set (core/channels/extranonce.ts).
      assert.equal(opened.extranonce_prefix[4]! >> 7, 1, 'worker index in the extranonce counter');
      assert.equal(opened.extranonce_prefix[0]! * 256 + opened.extranonce_prefix[1]!, 11, 'gateway id first');
      const miner = { connection: conn, channelId: opened.channel_id, kind: 'extended' as const };
      await until('a job on the released prev hash', STEP_MS, () => (conn.client.channel(miner.channelId)?.activeJobId !== undefined ? true : undefined));
      const openedEvent = await until('connection_opened forwarded', STEP_MS, () => events().find((e) => e['type'] === 'connection_opened'));
      assert.equal(openedEvent['conn_id'], 3 * WORKER_CONN_ID_STRIDE + 1, 'connection ids start at spawn × 2^32 + 1');

      // ---- journal first, then acknowledge -------------------------------------------------
      let acks = 0;
      const counting = setInterval(() => {
        for (const ch of conn.client.channels.values()) acks = ch.stats.accepted;
      }, 5);
      try {
        submitShare(miner);
        const frame = await until('EVENTS with the share_accepted, asking for an ACK', STEP_MS, () =>
          received.find((m): m is Extract<WorkerControlMessage, { type: 'events' }> => m.type === 'events' && m.wantsAck && m.events.some((e) => (e as { type: string }).type === 'share_accepted')),
        );
        // The leader has not journaled yet: no SubmitShares.Success may reach the miner.
        await sleep(400);
        assert.equal(acks, 0, 'no acknowledgement before the ACK');
        send({ type: 'ack', batch: frame.batch });
        await until('the acknowledgement after the ACK', STEP_MS, () => (acks === 1 ? true : undefined));
      } finally {
        clearInterval(counting);
      }

      // ---- the leader's hold expired --------------------------------------------------------
      send({ type: 'hold_expired' });
      await until('the miner closed', STEP_MS, () => (conn.socketClosed ? true : undefined));
      const disconnected = await until('miner_disconnected', STEP_MS, () => events().find((e) => e['type'] === 'miner_disconnected'));
      assert.equal(disconnected['reason_code'], 'stale_hold_expired');
      const second = await connect(1);
      await until('the new miner refused', STEP_MS, () => (second.socketClosed ? true : undefined));
      const refused = await until('connection_refused', STEP_MS, () => events().find((e) => e['type'] === 'connection_refused'));
      assert.equal(refused['reason_code'], 'stale_hold_expired');
      send({ type: 'gate', holding: false, refusingMiners: false });
      const third = await connect(2);
      await third.nextEvent('setup_success', STEP_MS);

      // ---- a malformed frame from the leader ends the worker --------------------------------
      leaderSide!.write(Uint8Array.of(1, 0, 0, 0, 0x63));
      const code = await Promise.race([worker.done, sleep(STEP_MS).then(() => 'hung')]);
      assert.equal(code, 1, 'the worker stops without a sane leader');
      assert.match(worker.leaderError ?? '', /unknown control message type 99/);
    } finally {
      for (const m of miners) m.abort();
      await worker.server.close();
      await leader.close();
      leaderSide?.abort();
    }
  });
});
