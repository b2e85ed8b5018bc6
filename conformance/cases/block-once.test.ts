// One block, one submission across the gateway's block paths (SPEC §4 never-lost block path;
// issue 11 item 4), on the fake clock, on node, deno and bun. SRI's jd_client_sv2 0.6.0 in
// full-template mode sends a block it finds three ways at once (downstream_message_handler.rs):
// as a share on its custom job to the pool, as SubmitSolution to its Template Provider and as
// PushSolution to its JDS. With ReserveGrid as all three (interop check (h)), the block must be
// submitted and counted once, whichever path comes first: interop (h) saw two `block_found` and a
// second submitblock answered "duplicate" before the share path shared the TDP/JDS dedup.
//
// Here: a standard-channel share that is a block, and a TDP SubmitSolution of the same block
// (same template, the gateway's own coinbase, same header fields), in both orders. The header
// is ground with noble's SHA-256 on plain concatenation, not with core/mining.
import { describe, test } from '../../test/harness.ts';
import { assert } from '../../test/assert.ts';
import { bytesToHex, concatBytes, hexToBytes } from '../../core/bytes.ts';
import { makeTemplate } from '../../test/support/policy-fixtures.ts';
import { decodeBlock } from '../../core/template/embedded-chain.ts';
import { dsha, le32, leInt } from '../../test/support/tdp-solution.ts';
import { TdpWorld, type Msg, type TdpPeer } from '../tdp-world.ts';
import type { Miner } from '../prevhash-world.ts';

interface Rig {
  readonly world: TdpWorld;
  readonly miner: Miner;
  readonly peer: TdpPeer;
  readonly nt: Msg<'NewTemplate'>;
}

/** The same world every time (fixed seed, fake clock): a template, a miner, a TDP client. */
function rig(): Rig {
  const world = new TdpWorld({ seed: 11 });
  world.template(makeTemplate({ templateId: 700n, fees: [1000n, 2000n, 3000n] }));
  const miner = world.miner();
  const peer = world.tdp();
  const nt = peer.take('NewTemplate');
  peer.take('SetNewPrevHashTdp');
  return { world, miner, peer, nt };
}

/** A nonce whose header on the miner's job meets the network target (regtest bits) and the channel's. */
function blockShare(miner: Miner): { nonce: number; ntime: number; version: number; jobId: number; hash: string } {
  const job = miner.lastJob!;
  const prev = miner.lastPrevMsg!;
  const networkTarget = BigInt(prev.nbits & 0xffffff) << BigInt(8 * ((prev.nbits >>> 24) - 3));
  for (let nonce = 0; nonce < 10_000; nonce++) {
    const header = concatBytes(le32(job.version), prev.prevHash, job.merkleRoot, le32(prev.minNtime), le32(prev.nbits), le32(nonce));
    const h = leInt(dsha(header));
    if (h <= networkTarget && h <= leInt(miner.target!)) return { nonce, ntime: prev.minNtime, version: job.version, jobId: job.jobId, hash: bytesToHex(dsha(header).reverse()) };
  }
  throw new Error('no block nonce in 10,000 (regtest bits expected)');
}

function submitShare(r: Rig, s: ReturnType<typeof blockShare>): void {
  r.miner.send({ type: 'SubmitSharesStandard', channelId: r.miner.channelId!, sequenceNumber: 1, jobId: s.jobId, nonce: s.nonce, ntime: s.ntime, version: s.version });
  r.world.pump();
}

function submitSolution(r: Rig, s: ReturnType<typeof blockShare>, coinbaseTx: Uint8Array): void {
  r.peer.noise.submitSolution({ templateId: r.nt.templateId, version: s.version, headerTimestamp: s.ntime, headerNonce: s.nonce, coinbaseTx });
  r.world.pump();
}

describe('block paths: one block, one submission', () => {
  test('a block share, then the same block as a TDP SubmitSolution: submitted and counted once (tdp_solution_duplicate)', () => {
    const r = rig();
    const s = blockShare(r.miner);
    submitShare(r, s);
    assert.equal(r.world.commands.length, 1, 'the share path submitted the block');
    const found = r.world.eventsOf('block_found');
    assert.equal(found.length, 1);
    assert.equal(found[0]!.block_hash, s.hash);
    const block = decodeBlock(hexToBytes(found[0]!.hex))!;
    submitSolution(r, s, block.transactions[0]!.data);
    const solution = r.world.tdpEvents('tdp_solution').at(-1)!;
    assert.equal(solution.reason_code, 'tdp_solution_duplicate', JSON.stringify(solution));
    assert.equal(r.world.commands.length, 1, 'no second submit_block');
    assert.equal(r.world.eventsOf('block_found').length, 1, 'no second block_found');
  });

  test('the same block as a TDP SubmitSolution first, then as a share: the share is accepted, the block not submitted again', () => {
    // The first world only tells us the gateway's coinbase for this channel (deterministic).
    const first = rig();
    const s = blockShare(first.miner);
    submitShare(first, s);
    const coinbase = decodeBlock(hexToBytes(first.world.eventsOf('block_found')[0]!.hex))!.transactions[0]!.data;

    const r = rig();
    assert.equal(blockShare(r.miner).hash, s.hash, 'the second world is the same world');
    submitSolution(r, s, coinbase);
    assert.equal(r.world.tdpEvents('tdp_solution').at(-1)!.result, 'submitted');
    assert.equal(r.world.commands.length, 1);
    submitShare(r, s);
    const accepted = r.world.eventsOf('share_accepted');
    assert.equal(accepted.length, 1, 'the share itself is accepted');
    assert.equal(accepted[0]!.block, true);
    assert.equal(r.world.commands.length, 1, 'no second submit_block');
    const found = r.world.eventsOf('block_found');
    assert.equal(found.length, 1, 'one block_found');
    assert.equal(found[0]!.block_hash, s.hash);
  });
});
