// Many gateways (issue 13 item 3, acceptance "two gateways with different gateway_id never share
// an extranonce"): two real gateways with their pumps on loopback sockets, built from configs
// that differ ONLY in gateway.id — same seed, so the same random boot nonce, the same keys, the
// same template — each serving a sample of miners with standard and extended channels. What the
// miners RECEIVED on the wire (OpenMiningChannel.Success extranonce prefixes, the jobs they
// mined) and what the gateways logged (share_accepted share ids and full extranonces) must never
// coincide across the two, and each prefix must carry its gateway's id in its first two bytes
// (core/channels/extranonce.ts layout) and each share id its gateway's id (core/gateway/share-id.ts).
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { ShareFinder } from '../../core/client/index.ts';
import { fixtureTemplate, STEP_MS, startGatewayUnderTest, until, type GatewayUnderTest } from '../support/gateway-under-test.ts';

const MINERS_PER_GATEWAY = 6;
const SALT = 1330; // the same for both gateways, on purpose

interface Sample {
  readonly prefixes: string[];
  readonly fullExtranonces: string[];
}

async function sampleChannels(world: GatewayUnderTest, tag: string): Promise<Sample> {
  const prefixes: string[] = [];
  const fullExtranonces: string[] = [];
  for (let m = 0; m < MINERS_PER_GATEWAY; m++) {
    const miner = await world.miner();
    try {
      await miner.nextEvent('setup_success', STEP_MS);
      const requests = [
        miner.client.openStandardChannel({ userIdentity: `${tag}.std${m}`, nominalHashRate: 1 }),
        miner.client.openExtendedChannel({ userIdentity: `${tag}.ext${m}`, nominalHashRate: 1, minExtranonceSize: 8 }),
      ];
      miner.flush();
      for (const request of requests) {
        const opened = await miner.nextEvent('channel_opened', STEP_MS, (e) => e.request_id === request);
        prefixes.push(bytesToHex(opened.extranonce_prefix));
        await miner.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === opened.channel_id);
        const work = miner.client.work(opened.channel_id)!;
        // The miner's rollable part (extended; empty for standard) after the server prefix (SV2.md §5.2).
        fullExtranonces.push(bytesToHex(opened.extranonce_prefix) + bytesToHex(work.extranonce ?? new Uint8Array(0)));
        const found = new ShareFinder(work).search(1 << 16).share!;
        const seq = miner.client.submitShare(opened.channel_id, {
          jobId: work.jobId, nonce: found.nonce, ntime: found.ntime, version: found.version,
          ...(opened.kind === 'extended' ? { extranonce: work.extranonce } : {}),
        });
        miner.flush();
        const ack = await miner.nextEvent('shares_accepted', STEP_MS, (e) => e.channel_id === opened.channel_id);
        assert.equal(ack.last_sequence_number, seq);
      }
    } finally {
      miner.close();
    }
  }
  return { prefixes, fullExtranonces };
}

describe(`many gateways (${runtime})`, () => {
  test('two gateways differing only in gateway.id never hand out the same extranonce prefix, mine the same extranonce or log the same share id', async () => {
    const one = await startGatewayUnderTest({ salt: SALT, config: { 'gateway.id': 1 } });
    const two = await startGatewayUnderTest({ salt: SALT, config: { 'gateway.id': 2 } });
    try {
      one.template(fixtureTemplate(1));
      two.template(fixtureTemplate(1));
      const a = await sampleChannels(one, 'gw1');
      const b = await sampleChannels(two, 'gw2');
      const channels = MINERS_PER_GATEWAY * 2;
      for (const [name, s, id] of [['gateway 1', a, 1], ['gateway 2', b, 2]] as const) {
        assert.equal(s.prefixes.length, channels);
        assert.equal(new Set(s.prefixes).size, channels, `${name}: prefixes unique among its own channels`);
        for (const p of s.prefixes) assert.equal(p.slice(0, 4), id.toString(16).padStart(4, '0'), `${name}: prefix ${p} starts with its gateway id`);
      }
      // Same seed ⇒ same boot nonce and counters: only the gateway id keeps them apart.
      assert.deepEqual(a.prefixes.map((p) => p.slice(4)), b.prefixes.map((p) => p.slice(4)), 'the rest of the prefix is identical (the id alone partitions)');
      assert.deepEqual(a.prefixes.filter((p) => b.prefixes.includes(p)), [], 'no prefix on both gateways');
      assert.deepEqual(a.fullExtranonces.filter((x) => b.fullExtranonces.includes(x)), [], 'no full extranonce mined on both');

      const accepted = async (world: GatewayUnderTest) =>
        until('share_accepted of every channel', STEP_MS, () => {
          const list = world.eventsOf('share_accepted');
          return list.length >= channels ? list : undefined;
        });
      const sharesA = await accepted(one);
      const sharesB = await accepted(two);
      const idsA = sharesA.map((e) => e.share_id);
      const idsB = sharesB.map((e) => e.share_id);
      assert.ok(idsA.every((id) => id.startsWith('1-')) && idsB.every((id) => id.startsWith('2-')), `share ids carry the gateway id: ${idsA[0]}, ${idsB[0]}`);
      assert.deepEqual(idsA.filter((id) => idsB.includes(id)), [], 'no share id on both gateways');
      const extranoncesA = sharesA.map((e) => e.extranonce);
      assert.deepEqual(extranoncesA.filter((x) => sharesB.some((e) => e.extranonce === x)), [], 'no logged share extranonce on both');
    } finally {
      await one.close();
      await two.close();
    }
  }, { timeoutMs: 60_000 });
});
