// Template Provider conformance (issue 10 acceptance), on the fake clock, on node, deno and bun:
// the ordering rules (setup, constraints first, future template before its SetNewPrevHash, ids
// strictly increasing, fee bumps no sooner than the interval), constraints changed mid-connection
// (re-trimmed template with a valid weight), transaction data consistent with the merkle path
// (the merkle root rebuilt from coinbase + returned transactions equals the one the path gives),
// stale and unknown ids, solutions on the never-lost block path, bad input with its codes, and
// the stale-hold rule for TDP clients (inline: what the miners do not get, TDP clients do not get).
//
// Independence: the merkle root of a full transaction list and the expected block bytes are
// computed here with noble's SHA-256 and plain concatenation, not with core/mining or
// core/template, so a shared bug cannot make both sides agree.
import { describe, test } from '../../test/harness.ts';
import { assert } from '../../test/assert.ts';
import { bytesToHex, concatBytes, hexToBytes } from '../../core/bytes.ts';
import { makeTemplate, makeTx, PREV_HASH } from '../../test/support/policy-fixtures.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { TDP_DEFAULTS, TdpWorld, type Msg, type TdpPeer } from '../tdp-world.ts';
import { NoiseInitiatorConnection } from '../../core/noise/index.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { dsha, findNonce, headerOf, merkleRootOf, poolCoinbase, rootFromPath, varint } from '../../test/support/tdp-solution.ts';

/** A template on `prev` with `n` transactions of `fee` each (ids unique per call). */
let nextId = 100n;
function tpl(options: { prev?: Uint8Array; fees?: bigint[]; weightLimit?: number; transactions?: ReturnType<typeof makeTx>[] } = {}): BlockTemplate {
  nextId += 1n;
  const t = makeTemplate({
    templateId: nextId,
    ...(options.prev === undefined ? {} : { prevHash: options.prev }),
    ...(options.transactions !== undefined ? { transactions: options.transactions } : { fees: options.fees ?? [1000n, 2000n, 3000n] }),
  });
  return options.weightLimit === undefined ? t : { ...t, weightLimit: options.weightLimit };
}

const PREV_B = dsha(new TextEncoder().encode('tip B'));
const PREV_C = dsha(new TextEncoder().encode('tip C'));

function tipOf(peer: TdpPeer): { nt: Msg<'NewTemplate'>; prev: Msg<'SetNewPrevHashTdp'> } {
  const types = peer.types();
  const i = types.indexOf('NewTemplate');
  assert.ok(i >= 0 && types[i + 1] === 'SetNewPrevHashTdp', `a future NewTemplate then its SetNewPrevHash, got [${types.join(', ')}]`);
  const nt = peer.take('NewTemplate');
  const prev = peer.take('SetNewPrevHashTdp');
  assert.equal(nt.futureTemplate, true);
  assert.equal(prev.templateId, nt.templateId, 'SetNewPrevHash names the future template just sent');
  return { nt, prev };
}

// ---- cases -------------------------------------------------------------------------------------

describe('template provider: setup and ordering', () => {
  test('SetupConnection(protocol 2) → Success{2, 0}; constraints → future NewTemplate X then SetNewPrevHash X', () => {
    const world = new TdpWorld();
    world.template(tpl());
    const peer = world.tdp();
    const success = peer.setupSuccess!;
    assert.deepEqual([success.usedVersion, success.flags], [2, 0]);
    assert.equal(peer.ready, true);
    const { nt, prev } = tipOf(peer);
    assert.equal(nt.templateId, 1n, 'ids start at 1 per connection');
    assert.equal(bytesToHex(prev.prevHash), bytesToHex(PREV_HASH));
    assert.equal(prev.nBits, 0x207fffff);
    assert.equal(nt.coinbaseTxOutputsCount, 1);
    assert.equal(bytesToHex(nt.coinbasePrefix), '02e803', 'BIP34 push of height 1000');
    assert.deepEqual(peer.violations, []);
    const sent = world.tdpEvents('tdp_template_sent');
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.cause, 'tip');
    assert.equal(sent[0]!.future, true);
  });

  test('nothing is served before CoinbaseOutputConstraints; the first one gets the current tip', () => {
    const world = new TdpWorld();
    world.template(tpl());
    const peer = world.tdp({ constraints: null });
    world.template(tpl({ prev: PREV_B }));
    assert.deepEqual(peer.types(), [], 'no template before the constraints');
    assert.equal(world.gateway.tdpSession(peer.connId)!.state, 'expect_constraints');
    peer.noise.setConstraints(0, 0);
    world.pump();
    const { prev } = tipOf(peer);
    assert.equal(bytesToHex(prev.prevHash), bytesToHex(PREV_B));
  });

  test('a client connected before any template gets the first released one as a tip', () => {
    const world = new TdpWorld();
    const peer = world.tdp();
    assert.deepEqual(peer.types(), []);
    world.template(tpl());
    tipOf(peer);
  });

  test('every new tip is future + SetNewPrevHash; ids strictly increase; no SetNewPrevHash names an unknown template', () => {
    const world = new TdpWorld();
    world.template(tpl());
    const peer = world.tdp();
    const ids: bigint[] = [tipOf(peer).nt.templateId];
    for (const prev of [PREV_B, PREV_C, PREV_HASH]) {
      world.template(tpl({ prev }));
      const tip = tipOf(peer);
      ids.push(tip.nt.templateId);
      assert.equal(bytesToHex(tip.prev.prevHash), bytesToHex(prev));
    }
    assert.deepEqual(ids, [1n, 2n, 3n, 4n]);
    assert.deepEqual(peer.violations, []);
  });

  test('fee bump: a non-future NewTemplate only when fees rise by min_fee_delta_sats, no sooner than fee_update_interval_ms', () => {
    const world = new TdpWorld();
    world.template(tpl({ fees: [1000n] }));
    const peer = world.tdp();
    tipOf(peer);
    const t0 = world.now;
    // +999 sats: below the 1000-sat delta, never sent.
    world.template(tpl({ fees: [1999n] }));
    world.advance(2000);
    assert.deepEqual(peer.types(), [], 'a rise below the delta is not sent');
    // +1000 sats after the interval: sent at once, non-future.
    world.template(tpl({ fees: [2000n] }));
    const bump = peer.take('NewTemplate');
    assert.equal(bump.futureTemplate, false);
    assert.equal(bump.templateId, 2n);
    assert.equal(bump.coinbaseTxValueRemaining, 5_000_000_000n + 2000n);
    const bumpAt = world.now;
    assert.ok(bumpAt >= t0 + 1000);
    // Another qualifying rise 400 ms later waits for the interval: sent at exactly bumpAt + 1000.
    world.advance(400);
    world.template(tpl({ fees: [3000n] }));
    assert.deepEqual(peer.types(), [], 'too early: waits');
    world.advance(599);
    assert.deepEqual(peer.types(), [], '1 ms before the interval: still waiting');
    world.advance(1);
    const late = peer.take('NewTemplate');
    assert.equal(late.futureTemplate, false);
    assert.equal(late.coinbaseTxValueRemaining, 5_000_000_000n + 3000n);
    const sent = world.tdpEvents('tdp_template_sent');
    assert.deepEqual(sent.map((e) => e.cause), ['tip', 'fee_update', 'fee_update']);
    assert.deepEqual(peer.violations, []);
  });

  test('a pending fee bump is dropped by a new tip (the tip is sent instead, future + SetNewPrevHash)', () => {
    const world = new TdpWorld();
    world.template(tpl({ fees: [1000n] }));
    const peer = world.tdp();
    tipOf(peer);
    world.advance(100);
    world.template(tpl({ fees: [5000n] })); // qualifies, too early
    world.template(tpl({ prev: PREV_B, fees: [1000n] }));
    tipOf(peer);
    world.advance(5000);
    assert.deepEqual(peer.types(), [], 'the old-tip fee bump never goes out');
  });
});

describe('template provider: SetupConnection refusals (SRI strings)', () => {
  const cases: [string, { protocol?: number; minVersion?: number; maxVersion?: number; flags?: number }, string, string][] = [
    ['mining protocol on the TP port', { protocol: 0 }, 'unsupported-protocol', 'unsupported_protocol'],
    ['versions 3..3', { minVersion: 3, maxVersion: 3 }, 'protocol-version-mismatch', 'protocol_version_mismatch'],
    ['a flag bit', { flags: 1 }, 'unsupported-feature-flags', 'unsupported_feature_flags'],
  ];
  for (const [name, setup, wire, code] of cases) {
    test(`${name} → SetupConnection.Error '${wire}', then close (${code})`, () => {
      const world = new TdpWorld();
      const peer = world.tdp({ setup });
      assert.equal(peer.setupError, wire);
      assert.equal(peer.closedByServer, true);
      const closed = world.tdpEvents('tdp_connection_closed');
      assert.equal(closed.length, 1);
      assert.equal(closed[0]!.reason_code, code);
      assert.equal(closed[0]!.wire, wire);
    });
  }
});

describe('template provider: bad input', () => {
  test('a client that completes Noise but never sends SetupConnection is closed at the handshake timeout (handshake_timeout), to the millisecond', () => {
    const world = new TdpWorld();
    const noise = new NoiseInitiatorConnection({ provider: nobleProvider, random: world.random, certificatePolicy: { kind: 'unverified' } }, world.now);
    const connId = world.gateway.acceptTdpConnection(world.now, { wallMs: world.clock.wallMs() })!;
    const peer = { connId, noise, closedByServer: false, drain: () => { while (noise.pollEvent() !== undefined) { /* handshake events only */ } } };
    (world.miners as Map<number, unknown>).set(connId, peer);
    const t0 = world.now;
    world.pump();
    assert.equal(world.gateway.tdpSession(connId)!.state, 'expect_setup');
    world.advanceTo(t0 + 600_000 - 1);
    assert.equal(peer.closedByServer, false);
    world.advanceTo(t0 + 600_000);
    assert.equal(peer.closedByServer, true);
    assert.equal(world.tdpEvents('tdp_connection_closed')[0]!.reason_code, 'handshake_timeout');
  });

  test('a mining message on the TP port closes with unexpected_message', () => {
    const world = new TdpWorld();
    const peer = world.tdp();
    peer.noise.send({ type: 'OpenStandardMiningChannel', requestId: 1, userIdentity: 'x', nominalHashRate: 1, maxTarget: new Uint8Array(32).fill(0xff) });
    world.pump();
    assert.equal(peer.closedByServer, true);
    assert.equal(world.tdpEvents('tdp_connection_closed')[0]!.reason_code, 'unexpected_message');
  });

  test('a server-to-client message (NewTemplate) from the client closes with unexpected_message', () => {
    const world = new TdpWorld();
    world.template(tpl());
    const peer = world.tdp();
    const { nt } = tipOf(peer);
    peer.noise.send(nt);
    world.pump();
    assert.equal(peer.closedByServer, true);
    assert.equal(world.tdpEvents('tdp_connection_closed')[0]!.reason_code, 'unexpected_message');
  });

  test('a second SetupConnection closes with unexpected_message', () => {
    const world = new TdpWorld();
    const peer = world.tdp();
    peer.noise.send({ type: 'SetupConnection', protocol: 2, minVersion: 2, maxVersion: 2, flags: 0, endpointHost: '', endpointPort: 0, vendor: '', hardwareVersion: '', firmware: '', deviceId: '' });
    world.pump();
    assert.equal(world.tdpEvents('tdp_connection_closed')[0]!.reason_code, 'unexpected_message');
  });

  test('RequestTransactionData before any template is answered template-id-not-found (not fatal)', () => {
    const world = new TdpWorld();
    const peer = world.tdp({ constraints: null });
    peer.noise.requestTransactionData(1n);
    world.pump();
    const error = peer.take('RequestTransactionDataError');
    assert.equal(error.errorCode, 'template-id-not-found');
    assert.equal(peer.closedByServer, false);
  });

  test('constraints no block can hold close with tdp_constraints_too_large (weight, 64 KiB coinbase, sigops)', () => {
    for (const [size, sigops, what] of [[1_000_000, 0, 'reservation over 4,000,000 WU'], [70_000, 0, 'coinbase over B0_64K'], [0, 1001, 'sigops over the node\'s 1,000 limit']] as const) {
      const world = new TdpWorld();
      world.template({ ...tpl(), sigopLimit: 1000 });
      const peer = world.tdp({ constraints: { additionalSizeBytes: size, additionalSigops: sigops } });
      assert.equal(peer.closedByServer, true, what);
      const c = world.tdpEvents('tdp_constraints')[0]!;
      assert.equal(c.accepted, false, what);
      assert.equal(c.reason_code, 'tdp_constraints_too_large', what);
      assert.equal(world.tdpEvents('tdp_connection_closed')[0]!.reason_code, 'tdp_constraints_too_large', what);
      assert.deepEqual(peer.all('NewTemplate'), [], `${what}: nothing served`);
    }
  });

  test('constraints accepted earlier that a later template\'s own limits cannot hold close the connection (no throw)', () => {
    const world = new TdpWorld();
    world.template(tpl());
    const peer = world.tdp({ constraints: { additionalSizeBytes: 1000, additionalSigops: 0 } });
    tipOf(peer);
    world.template({ ...tpl({ prev: PREV_B }), weightLimit: 5000 }); // 1168 + 4,000 > 5,000
    assert.equal(peer.closedByServer, true);
    assert.equal(world.tdpEvents('tdp_connection_closed')[0]!.reason_code, 'tdp_constraints_too_large');
  });

  test('the largest request that still fits is served (boundary of the reservation)', () => {
    const world = new TdpWorld();
    world.template(tpl({ transactions: [] }));
    // 1168 + 4 × 65,299 = 262,364 WU, and a 200 + 36 + 65,299 = 65,535-byte coinbase: exactly
    // B0_64K; sigops: the U16 maximum, under the 80,000 block limit.
    const peer = world.tdp({ constraints: { additionalSizeBytes: 65_299, additionalSigops: 65_535 } });
    assert.equal(peer.closedByServer, false);
    tipOf(peer);
  });

  test(`more than max_requests_per_second requests in one second close with tdp_request_flood`, () => {
    const world = new TdpWorld();
    world.template(tpl());
    const peer = world.tdp();
    tipOf(peer);
    // The constraints were request 1 of this second; 19 more are allowed, the 21st is not.
    for (let i = 0; i < 19; i++) peer.noise.requestTransactionData(1n);
    world.pump();
    assert.equal(peer.closedByServer, false, '20 requests in one second are fine');
    world.advance(1000); // a new window
    for (let i = 0; i < 21; i++) peer.noise.requestTransactionData(1n);
    world.pump();
    assert.equal(peer.closedByServer, true);
    assert.equal(world.tdpEvents('tdp_connection_closed')[0]!.reason_code, 'tdp_request_flood');
  });

  test('an undecodable frame closes with malformed_message', () => {
    const world = new TdpWorld();
    const peer = world.tdp();
    // RequestTransactionData (0x73) with a 3-byte payload: template_id is a U64.
    peer.noise.sendRawFrame(new Uint8Array([0x00, 0x00, 0x73, 0x03, 0x00, 0x00, 1, 2, 3]));
    world.pump();
    assert.equal(peer.closedByServer, true);
    assert.equal(world.tdpEvents('tdp_connection_closed')[0]!.reason_code, 'malformed_message');
  });

  test('a frame over gateway.max_frame_payload_bytes closes with frame_too_large before it is buffered', () => {
    const world = new TdpWorld();
    const peer = world.tdp();
    const length = 65_537; // the world's max_frame_payload_bytes is 65,536
    const frame = new Uint8Array(6 + length);
    frame.set([0x00, 0x00, 0x76, length & 0xff, (length >>> 8) & 0xff, length >>> 16]);
    peer.noise.sendRawFrame(frame);
    world.pump();
    assert.equal(peer.closedByServer, true);
    assert.equal(world.tdpEvents('tdp_connection_closed')[0]!.reason_code, 'frame_too_large');
  });

  test('frames of an unknown extension type are ignored (counted), the connection stays', () => {
    const world = new TdpWorld();
    const peer = world.tdp();
    peer.noise.sendRawFrame(new Uint8Array([0x34, 0x12, 0x01, 0x00, 0x00, 0x00]));
    world.pump();
    assert.equal(peer.closedByServer, false);
    assert.equal(world.gateway.tdpSession(peer.connId)!.ignoredFrames, 1);
  });
});

describe('template provider: coinbase constraints and trimming', () => {
  test('constraints changed mid-connection: the current template is re-trimmed and sent non-future, with a valid weight', () => {
    const world = new TdpWorld();
    // Ten transactions, each makeTx(…, scriptSigBytes 200) ≈ 1,148 WU; a block limit that holds all ten with a 100-byte reservation only.
    const txs = Array.from({ length: 10 }, (_, i) => makeTx(i + 1, BigInt(1000 * (i + 1)), undefined, [], 200));
    const txWeight = txs.reduce((s, t) => s + t.weight, 0);
    const weightLimit = 1168 + 4 * 100 + txWeight;
    world.template(tpl({ transactions: txs, weightLimit }));
    const peer = world.tdp({ constraints: { additionalSizeBytes: 100, additionalSigops: 4 } });
    const { nt: first } = tipOf(peer);
    assert.equal(first.merklePath.length, 4, '10 txs + coinbase → 4 levels');
    // Re-sent with 700 more bytes: 2,800 WU more to reserve → the last three transactions go.
    peer.noise.setConstraints(800, 4);
    world.pump();
    const retrimmed = peer.take('NewTemplate');
    assert.equal(retrimmed.futureTemplate, false, 'same tip: non-future');
    assert.ok(retrimmed.templateId > first.templateId);
    const sent = world.tdpEvents('tdp_template_sent').at(-1)!;
    assert.equal(sent.cause, 'constraints_changed');
    assert.equal(sent.dropped_tx_count, 3);
    assert.equal(sent.tx_count, 7);
    const keptWeight = txs.slice(0, 7).reduce((s, t) => s + t.weight, 0);
    assert.equal(sent.transactions_weight, keptWeight);
    assert.ok(keptWeight + 1168 + 4 * 800 <= weightLimit, 'kept weight + reservation fits the block');
    assert.ok(txs.slice(0, 8).reduce((s, t) => s + t.weight, 0) + 1168 + 4 * 800 > weightLimit, 'one more would not fit (trimmed no more than needed)');
    // Fees and the coinbase value follow the kept transactions.
    const keptFees = txs.slice(0, 7).reduce((s, t) => s + t.fee, 0n);
    assert.equal(retrimmed.coinbaseTxValueRemaining, 5_000_000_000n + keptFees);
    // The transaction data of the re-trimmed id: exactly the kept seven, and the path commits to them.
    peer.noise.requestTransactionData(retrimmed.templateId);
    world.pump();
    const data = peer.take('RequestTransactionDataSuccess');
    assert.deepEqual(data.transactionList.map(bytesToHex), txs.slice(0, 7).map((t) => bytesToHex(t.data)));
    const coinbase = poolCoinbase(retrimmed, new Uint8Array(8));
    const cbTxid = dsha(coinbase.stripped);
    assert.equal(bytesToHex(rootFromPath(cbTxid, retrimmed.merklePath)), bytesToHex(merkleRootOf([cbTxid, ...data.transactionList.map(dsha)])));
    // The witness commitment in the outputs is over the kept wtxids (BIP141, witness root with the coinbase as 32×00).
    const witnessRoot = merkleRootOf([new Uint8Array(32), ...txs.slice(0, 7).map((t) => t.wtxid)]);
    const commitment = dsha(concatBytes(witnessRoot, new Uint8Array(32)));
    assert.equal(bytesToHex(retrimmed.coinbaseTxOutputs), '0000000000000000' + '26' + '6a24aa21a9ed' + bytesToHex(commitment));
    // The first id keeps its own (untrimmed) transactions.
    peer.noise.requestTransactionData(first.templateId);
    world.pump();
    assert.equal(peer.take('RequestTransactionDataSuccess').transactionList.length, 10);
  });

  test('sigops are reserved too: additional sigops evict transactions from the end', () => {
    const world = new TdpWorld();
    const txs = [makeTx(1, 1000n), makeTx(2, 1000n), makeTx(3, 1000n)]; // sigop cost 4 each
    world.template({ ...tpl({ transactions: txs }), sigopLimit: 112 });
    // 112 − 104 = 8 sigop cost left: two transactions fit, the third goes.
    const peer = world.tdp({ constraints: { additionalSizeBytes: 0, additionalSigops: 104 } });
    const { nt } = tipOf(peer);
    const sent = world.tdpEvents('tdp_template_sent')[0]!;
    assert.equal(sent.tx_count, 2);
    assert.equal(sent.dropped_tx_count, 1);
    assert.equal(nt.coinbaseTxValueRemaining, 5_000_000_000n + 2000n);
  });

  test('a transaction whose depends names a dropped (or later) transaction is dropped, and so are its dependants', () => {
    const world = new TdpWorld();
    // GBT lists parents first, so trimming from the end never strands a child. A node that breaks
    // the order (child 2 names transaction 3) gets the child dropped, and child 4 (naming 2) too.
    const txs = [makeTx(1, 1000n), makeTx(2, 1000n, undefined, [3]), makeTx(3, 1000n), makeTx(4, 1000n, undefined, [2])];
    world.template(tpl({ transactions: txs }));
    const peer = world.tdp({ constraints: { additionalSizeBytes: 0, additionalSigops: 0 } });
    const { nt } = tipOf(peer);
    const sent = world.tdpEvents('tdp_template_sent')[0]!;
    assert.equal(sent.tx_count, 2);
    assert.equal(sent.dropped_tx_count, 2);
    peer.noise.requestTransactionData(nt.templateId);
    world.pump();
    assert.deepEqual(peer.take('RequestTransactionDataSuccess').transactionList.map(bytesToHex), [txs[0]!, txs[2]!].map((t) => bytesToHex(t.data)));
  });
});

describe('template provider: transaction data and retention', () => {
  test('RequestTransactionData.Success: the transactions in template order; merkle root from coinbase + list = root from merkle_path', () => {
    const world = new TdpWorld();
    world.template(tpl({ fees: [100n, 200n, 300n, 400n, 500n] }));
    const peer = world.tdp();
    const { nt } = tipOf(peer);
    peer.noise.requestTransactionData(nt.templateId);
    world.pump();
    const data = peer.take('RequestTransactionDataSuccess');
    assert.equal(data.templateId, nt.templateId);
    assert.equal(data.excessData.length, 0);
    assert.equal(data.transactionList.length, 5);
    const coinbase = poolCoinbase(nt, hexToBytes('0102030405060708'));
    const cbTxid = dsha(coinbase.stripped);
    assert.equal(bytesToHex(rootFromPath(cbTxid, nt.merklePath)), bytesToHex(merkleRootOf([cbTxid, ...data.transactionList.map(dsha)])));
    const ev = world.tdpEvents('tdp_transaction_data')[0]!;
    assert.equal(ev.result, 'success');
    assert.equal(ev.reason_code, 'tdp_transaction_data_sent');
    assert.equal(ev.tx_count, 5);
  });

  test('stale and unknown ids: an id on an older tip → stale-template-id; never sent or evicted → template-id-not-found', () => {
    const world = new TdpWorld();
    world.template(tpl());
    const peer = world.tdp();
    const { nt: old } = tipOf(peer);
    world.template(tpl({ prev: PREV_B }));
    const { nt: current } = tipOf(peer);
    for (const [id, wire, code] of [[old.templateId, 'stale-template-id', 'tdp_stale_template_id'], [99n, 'template-id-not-found', 'tdp_template_id_not_found']] as const) {
      peer.noise.requestTransactionData(id);
      world.pump();
      const error = peer.take('RequestTransactionDataError');
      assert.equal(error.templateId, id);
      assert.equal(error.errorCode, wire);
      assert.equal(world.tdpEvents('tdp_transaction_data').at(-1)!.reason_code, code);
    }
    peer.noise.requestTransactionData(current.templateId);
    world.pump();
    peer.take('RequestTransactionDataSuccess');
    // retained_templates = 4: after four more tips the first id is gone entirely.
    for (const prev of [PREV_C, PREV_HASH, PREV_B, PREV_C]) {
      world.template(tpl({ prev }));
      tipOf(peer);
    }
    peer.noise.requestTransactionData(old.templateId);
    world.pump();
    assert.equal(peer.take('RequestTransactionDataError').errorCode, 'template-id-not-found');
    assert.deepEqual(world.gateway.tdpSession(peer.connId)!.retainedTemplateIds, [3n, 4n, 5n, 6n]);
  });
});

describe('template provider: SubmitSolution', () => {
  function solvedWorld(): { world: TdpWorld; peer: TdpPeer; nt: Msg<'NewTemplate'>; prev: Msg<'SetNewPrevHashTdp'>; txs: readonly Uint8Array[]; coinbase: { full: Uint8Array; stripped: Uint8Array }; root: Uint8Array } {
    const world = new TdpWorld();
    world.template(tpl({ fees: [100n, 200n, 300n] }));
    const peer = world.tdp();
    const { nt, prev } = tipOf(peer);
    peer.noise.requestTransactionData(nt.templateId);
    world.pump();
    const txs = peer.take('RequestTransactionDataSuccess').transactionList;
    const coinbase = poolCoinbase(nt, hexToBytes('00000001deadbeef'));
    const root = rootFromPath(dsha(coinbase.stripped), nt.merklePath);
    return { world, peer, nt, prev, txs, coinbase, root };
  }

  test('a solution that meets the target becomes the block header ‖ count ‖ coinbase ‖ transactions, submitted first, never lost', () => {
    const { world, peer, nt, prev, txs, coinbase, root } = solvedWorld();
    const nonce = findNonce(nt, prev, root, true);
    peer.noise.submitSolution({ templateId: nt.templateId, version: nt.version, headerTimestamp: prev.headerTimestamp, headerNonce: nonce, coinbaseTx: coinbase.full });
    world.pump();
    assert.equal(world.commands.length, 1, 'one submit_block');
    const expected = concatBytes(headerOf(nt, prev, root, nonce), varint(1 + txs.length), coinbase.full, ...txs);
    assert.equal(world.commands[0]!.hex, bytesToHex(expected));
    const found = world.eventsOf('block_found');
    assert.equal(found.length, 1);
    assert.equal(found[0]!.hex, bytesToHex(expected));
    const hash = bytesToHex(dsha(headerOf(nt, prev, root, nonce)).reverse());
    assert.equal(found[0]!.block_hash, hash);
    const solution = world.tdpEvents('tdp_solution')[0]!;
    assert.equal(solution.result, 'submitted');
    assert.equal(solution.reason_code, 'tdp_solution_submitted');
    assert.equal(solution.block_id, found[0]!.block_id);
    assert.equal(world.commands[0]!.block_id, found[0]!.block_id);
    // The node answers: the one block path settles it with block_submit_result.
    world.gateway.blockSubmitResult(found[0]!.block_id, { kind: 'accepted' }, world.now);
    world.pump();
    assert.equal(world.eventsOf('block_submit_result')[0]!.result, 'accepted');
    // The same solution again: one block, one submission.
    peer.noise.submitSolution({ templateId: nt.templateId, version: nt.version, headerTimestamp: prev.headerTimestamp, headerNonce: nonce, coinbaseTx: coinbase.full });
    world.pump();
    assert.equal(world.commands.length, 1);
    assert.equal(world.tdpEvents('tdp_solution')[1]!.reason_code, 'tdp_solution_duplicate');
  });

  test('a solution on a retained template of the previous tip is still submitted (stale: true): the node decides', () => {
    const { world, peer, nt, prev, coinbase, root } = solvedWorld();
    world.template(tpl({ prev: PREV_B }));
    tipOf(peer);
    const nonce = findNonce(nt, prev, root, true);
    peer.noise.submitSolution({ templateId: nt.templateId, version: nt.version, headerTimestamp: prev.headerTimestamp, headerNonce: nonce, coinbaseTx: coinbase.full });
    world.pump();
    assert.equal(world.commands.length, 1);
    const solution = world.tdpEvents('tdp_solution')[0]!;
    assert.equal(solution.result, 'submitted');
    assert.equal(solution.stale, true);
  });

  test('rejected solutions: above the target, malformed coinbase, unknown template — each a code, nothing submitted, connection stays', () => {
    const { world, peer, nt, prev, coinbase, root } = solvedWorld();
    const miss = findNonce(nt, prev, root, false);
    peer.noise.submitSolution({ templateId: nt.templateId, version: nt.version, headerTimestamp: prev.headerTimestamp, headerNonce: miss, coinbaseTx: coinbase.full });
    peer.noise.submitSolution({ templateId: nt.templateId, version: nt.version, headerTimestamp: prev.headerTimestamp, headerNonce: 0, coinbaseTx: coinbase.full.subarray(0, 50) });
    peer.noise.submitSolution({ templateId: nt.templateId, version: nt.version, headerTimestamp: prev.headerTimestamp, headerNonce: 0, coinbaseTx: concatBytes(coinbase.full, new Uint8Array([0])) });
    peer.noise.submitSolution({ templateId: 77n, version: nt.version, headerTimestamp: prev.headerTimestamp, headerNonce: 0, coinbaseTx: coinbase.full });
    world.pump();
    assert.equal(world.commands.length, 0);
    assert.deepEqual(world.tdpEvents('tdp_solution').map((e) => e.reason_code), ['tdp_solution_high_hash', 'tdp_solution_malformed', 'tdp_solution_malformed', 'tdp_template_id_not_found']);
    assert.equal(peer.closedByServer, false);
    assert.equal(world.gateway.tdpSession(peer.connId)!.solutionsRejected, 4);
  });
});

describe('template provider: policy and the stale-hold rule (one rule for miners and TDP clients)', () => {
  test('inline: a rejected same-tip template never reaches the TDP client; an accepted one does', () => {
    const world = new TdpWorld({ mode: 'inline' });
    const bad = new Set<bigint>();
    world.verifier.script = (t) => (bad.has(t.templateId) ? { kind: 'reject', latencyMs: 0 } : { kind: 'accept', latencyMs: 0 });
    world.template(tpl({ fees: [1000n] }));
    const peer = world.tdp();
    tipOf(peer);
    world.advance(2000);
    const rejected = tpl({ fees: [50_000n] });
    bad.add(rejected.templateId);
    world.template(rejected);
    world.advance(2000);
    assert.deepEqual(peer.types(), [], 'the rejected template (a big fee rise) is not served');
    world.template(tpl({ fees: [9000n] }));
    assert.equal(peer.take('NewTemplate').coinbaseTxValueRemaining, 5_000_000_000n + 9000n);
  });

  test('inline stale hold: no new prevhash reaches a TDP client during the hold; at expiry it is disconnected (stale_hold_expired) and new TDP clients are refused', () => {
    const world = new TdpWorld({ mode: 'inline', policy: 'fail_closed' });
    const bad = new Set<bigint>();
    world.verifier.script = (t) => (bad.has(t.templateId) ? { kind: 'reject', latencyMs: 0 } : { kind: 'accept', latencyMs: 0 });
    world.template(tpl());
    const peer = world.tdp();
    tipOf(peer);
    const next = tpl({ prev: PREV_B });
    bad.add(next.templateId);
    world.template(next);
    assert.equal(world.gateway.gate.phase, 'holding');
    world.advance(world.verdictTimeoutMs + world.staleHoldMs - 1);
    assert.deepEqual(peer.types(), [], 'nothing during the hold');
    assert.equal(peer.closedByServer, false);
    world.advance(1);
    assert.equal(peer.closedByServer, true, 'disconnected at the hold expiry, like every miner');
    const closed = world.tdpEvents('tdp_connection_closed')[0]!;
    assert.equal(closed.reason_code, 'stale_hold_expired');
    assert.equal(world.eventsOf('miner_disconnected')[0]!.conn_id, peer.connId);
    assert.equal(world.gateway.acceptTdpConnection(world.now, { wallMs: world.clock.wallMs() }), null);
    world.pump();
    assert.equal(world.tdpEvents('tdp_connection_refused')[0]!.reason_code, 'stale_hold_expired');
  });

  test('inline stale hold ended by an accepted template: the TDP client gets that tip as future + SetNewPrevHash', () => {
    const world = new TdpWorld({ mode: 'inline', policy: 'fail_closed' });
    const bad = new Set<bigint>();
    world.verifier.script = (t) => (bad.has(t.templateId) ? { kind: 'reject', latencyMs: 0 } : { kind: 'accept', latencyMs: 0 });
    world.template(tpl());
    const peer = world.tdp();
    tipOf(peer);
    const next = tpl({ prev: PREV_B });
    bad.add(next.templateId);
    world.template(next);
    world.advance(1000);
    assert.deepEqual(peer.types(), []);
    world.template(tpl({ prev: PREV_B }));
    const { prev } = tipOf(peer);
    assert.equal(bytesToHex(prev.prevHash), bytesToHex(PREV_B));
  });

  test('permit_all: no verdict by the timeout releases the new tip to TDP clients too', () => {
    const world = new TdpWorld({ mode: 'inline', policy: 'permit_all' });
    world.template(tpl());
    const peer = world.tdp();
    tipOf(peer);
    world.verifier.script = () => ({ kind: 'never' });
    world.template(tpl({ prev: PREV_B }));
    world.advance(world.verdictTimeoutMs - 1);
    assert.deepEqual(peer.types(), []);
    world.advance(1);
    tipOf(peer);
  });

  test('shadow mode serves no TDP clients (shadow_mode), like miners', () => {
    const world = new TdpWorld({ mode: 'shadow' });
    assert.equal(world.gateway.acceptTdpConnection(world.now, { wallMs: world.clock.wallMs() }), null);
    world.pump();
    assert.equal(world.tdpEvents('tdp_connection_refused')[0]!.reason_code, 'shadow_mode');
  });

  test('max_clients: the next TDP connection is refused with connection_limit_reached', () => {
    const world = new TdpWorld({ templateProvider: { ...TDP_DEFAULTS, maxClients: 1 } });
    world.tdp();
    assert.equal(world.gateway.acceptTdpConnection(world.now, { wallMs: world.clock.wallMs() }), null);
    world.pump();
    assert.equal(world.tdpEvents('tdp_connection_refused')[0]!.reason_code, 'connection_limit_reached');
  });
});
