// core/template/embedded-chain.ts: the demo's local chain. Templates must be internally
// consistent (hashes from the serializations, fees from the UTXOs, weights, sigops, depends),
// a valid block (built here by hand, not with the gateway's coinbase builder) must be accepted
// and move the chain, and each kind of invalid block must be refused with bitcoind's reason.
// Cross-checks against data from real software (test/fixtures/README.md): btcd's transactions
// and witness commitment, btcd's and mainnet's merkle roots, real nbits values.
import { readFileSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, test } from '../harness.ts';
import { assert, assertHex } from '../assert.ts';
import { bytesToHex, concatBytes, hexToBytes, reversed } from '../../core/bytes.ts';
import { SeededRandom } from '../../core/random.ts';
import { header80 } from '../../core/mining/header.ts';
import { merkleRootFromPath } from '../../core/mining/merkle.ts';
import { targetFromNbits } from '../../core/mining/target.ts';
import { witnessCommitment, type BlockTemplate } from '../../core/template/template.ts';
import {
  EmbeddedChain,
  REGTEST_NBITS,
  blockSubsidy,
  computeMerkleRoot,
  decodeBlock,
  decodeTransaction,
  nbitsForExpectedHashes,
  nbitsFromTarget,
  type EmbeddedChainOptions,
} from '../../core/template/embedded-chain.ts';

type Json = Record<string, unknown>;
const fixture = (name: string): Json => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as Json;
const internal = (displayHex: string): Uint8Array => reversed(hexToBytes(displayHex));
const gbtWithTxs = fixture('btcd-gbt-with-transactions.json');
const block3 = fixture('btcd-block-3tx.json') as { tx: string[]; merkleroot: string };
const mainnet = fixture('mainnet-block-100000.json') as { tx: string[]; merkleroot: string; bits: string };

// ---- hand-made serialization (independent of core/mining/coinbase.ts) --------------------------

const sha256d = (data: Uint8Array): Uint8Array => sha256(sha256(data));
const le32 = (n: number): Uint8Array => new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]);
const le64 = (n: bigint): Uint8Array => {
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
};
const varint = (n: number): Uint8Array => (n < 0xfd ? new Uint8Array([n]) : new Uint8Array([0xfd, n & 0xff, n >>> 8]));
/** CScript() << height, written out by hand (BIP34). */
const heightPush = (height: number): Uint8Array => {
  if (height <= 16) return new Uint8Array([0x50 + height]);
  const bytes: number[] = [];
  for (let n = height; n > 0; n = Math.floor(n / 256)) bytes.push(n & 0xff);
  if (bytes[bytes.length - 1]! & 0x80) bytes.push(0);
  return new Uint8Array([bytes.length, ...bytes]);
};

interface CoinbaseSpec {
  height: number;
  outputs: { value: bigint; script: Uint8Array }[];
  /** Witness items of the single input; null = no witness (legacy serialization). */
  witness?: Uint8Array[] | null;
  scriptSig?: Uint8Array;
}

/** A coinbase: { full, stripped } serializations (BIP144). */
function coinbaseTx(spec: CoinbaseSpec): { full: Uint8Array; stripped: Uint8Array } {
  const scriptSig = spec.scriptSig ?? concatBytes(heightPush(spec.height), new Uint8Array([0x04, 0xde, 0xad, 0xbe, 0xef]));
  const body = concatBytes(
    new Uint8Array([0x01]), new Uint8Array(32), le32(0xffffffff), varint(scriptSig.length), scriptSig, le32(0xffffffff),
    varint(spec.outputs.length), ...spec.outputs.map((o) => concatBytes(le64(o.value), varint(o.script.length), o.script)),
  );
  const version = le32(2);
  const locktime = le32(0);
  const witness = spec.witness === undefined ? [new Uint8Array(32)] : spec.witness;
  const stripped = concatBytes(version, body, locktime);
  if (witness === null) return { full: stripped, stripped };
  const witnessBytes = concatBytes(varint(witness.length), ...witness.map((w) => concatBytes(varint(w.length), w)));
  return { full: concatBytes(version, new Uint8Array([0x00, 0x01]), body, witnessBytes, locktime), stripped };
}

const PAYOUT = hexToBytes('0014751e76e8199196d454941c45d1b3a323f1433bd6');

interface BlockSpec {
  template: BlockTemplate;
  coinbase?: { full: Uint8Array; stripped: Uint8Array };
  transactions?: Uint8Array[];
  txids?: Uint8Array[];
  prevHash?: Uint8Array;
  merkleRoot?: Uint8Array;
  time?: number;
  nbits?: number;
  version?: number;
  /** 'meet' (default) mines a nonce meeting nbits' target; 'miss' finds one that does not. */
  pow?: 'meet' | 'miss';
}

/** Coinbase for a template: payout of `value` (default the full coinbase value) + its witness commitment. */
function templateCoinbase(template: BlockTemplate, value = template.coinbaseValue, extra: Partial<CoinbaseSpec> = {}) {
  return coinbaseTx({ height: template.height, outputs: [{ value, script: PAYOUT }, { value: 0n, script: template.defaultWitnessCommitment }], ...extra });
}

function buildBlock(spec: BlockSpec): Uint8Array {
  const t = spec.template;
  const coinbase = spec.coinbase ?? templateCoinbase(t);
  const txData = spec.transactions ?? t.transactions.map((x) => x.data);
  const coinbaseTxid = sha256d(coinbase.stripped);
  // The miner's way: coinbase txid folded with the template's merkle path (core/mining, tested
  // against btcd and mainnet data), unless a test supplies the txids or the root.
  const merkleRoot = spec.merkleRoot ?? (spec.txids ? merkleFull([coinbaseTxid, ...spec.txids]) : merkleRootFromPath(coinbaseTxid, t.merklePath));
  const nbits = spec.nbits ?? t.nbits;
  const target = targetFromNbits(nbits)!;
  const header = header80({ version: spec.version ?? t.version, prevHash: spec.prevHash ?? t.prevHash, merkleRoot, ntime: spec.time ?? t.curtime, nbits, nonce: 0 });
  for (let nonce = 0; ; nonce++) {
    header.set(le32(nonce), 76);
    const hash = sha256d(header);
    const meets = BigInt(`0x${bytesToHex(reversed(hash))}`) <= target;
    if (meets === ((spec.pow ?? 'meet') === 'meet')) break;
    if (nonce > 1_000_000) throw new Error('buildBlock: no nonce found');
  }
  return concatBytes(header, varint(1 + txData.length), coinbase.full, ...txData);
}

/** Plain full-tree merkle root for the tests that change the transaction list. */
function merkleFull(hashes: Uint8Array[]): Uint8Array {
  let level = hashes;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(sha256d(concatBytes(level[i]!, level[i + 1] ?? level[i]!)));
    level = next;
  }
  return level[0]!;
}

const NOW_MS = 1_800_000_000_000;
const newChain = (seed: number, options: Partial<EmbeddedChainOptions> = {}): EmbeddedChain =>
  new EmbeddedChain({ random: new SeededRandom(seed), nowMs: NOW_MS, ...options });

// ---- templates ------------------------------------------------------------------------------------

describe('embedded chain: templates', () => {
  test('every transaction: txid/wtxid/weight from its serialization, fee = inputs − outputs, sigops, depends', () => {
    // Few UTXOs and many arrivals: some transactions must spend unconfirmed outputs (depends).
    const chain = newChain(11, { initialUtxos: 3, initialTransactions: 0 });
    assert.equal(chain.addTransactions(40), 40);
    const t = chain.template(7n, NOW_MS);
    assert.equal(t.transactions.length, 40);
    let withDepends = 0;
    let fees = 0n;
    t.transactions.forEach((tx, index) => {
      assertHex(tx.wtxid, bytesToHex(sha256d(tx.data)), `wtxid ${index}`);
      const decoded = decodeTransaction(tx.data);
      assert.ok(decoded !== null && decoded.end === tx.data.length, `decodes ${index}`);
      const d = decoded.tx;
      assert.ok(d.hasWitness, 'segwit serialization');
      assertHex(tx.txid, bytesToHex(sha256d(d.stripped)), `txid ${index}`);
      // Stripped = full minus marker/flag minus witnesses: rebuild it from the parsed fields.
      const rebuilt = concatBytes(
        le32(d.version), varint(d.inputs.length),
        ...d.inputs.map((i) => concatBytes(i.prevTxid, le32(i.vout), varint(i.scriptSig.length), i.scriptSig, le32(i.sequence))),
        varint(d.outputs.length), ...d.outputs.map((o) => concatBytes(le64(o.valueSats), varint(o.scriptPubKey.length), o.scriptPubKey)),
        le32(d.locktime),
      );
      assertHex(d.stripped, bytesToHex(rebuilt), `stripped ${index}`);
      assert.equal(tx.weight, rebuilt.length * 3 + tx.data.length, `weight ${index}`);
      let inSum = 0n;
      let p2wpkhInputs = 0;
      for (const input of d.inputs) {
        const prevout = chain.prevout(input.prevTxid, input.vout);
        assert.ok(prevout !== undefined, `prevout of tx ${index} exists`);
        inSum += prevout.valueSats;
        if (prevout.scriptPubKey.length === 22 && prevout.scriptPubKey[0] === 0 && prevout.scriptPubKey[1] === 0x14) {
          p2wpkhInputs++;
          // P2WPKH witness: <sig> <33-byte pubkey> whose HASH160 is the program... shape only.
          assert.equal(input.witness.length, 2);
          assert.equal(input.witness[1]!.length, 33);
        } else {
          assert.equal(input.witness.length, 1, 'taproot key path: one 64-byte signature');
          assert.equal(input.witness[0]!.length, 64);
        }
        // depends: a parent in the template must come earlier and be listed (1-based).
        const parent = t.transactions.findIndex((x) => bytesToHex(x.txid) === bytesToHex(input.prevTxid));
        if (parent >= 0) {
          assert.ok(parent < index, 'parents come first');
          assert.ok(tx.depends.includes(parent + 1), `depends of ${index} lists ${parent + 1}`);
        }
      }
      const outSum = d.outputs.reduce((s, o) => s + o.valueSats, 0n);
      assert.equal(tx.fee, inSum - outSum, `fee ${index}`);
      assert.ok(tx.fee > 0n);
      assert.equal(tx.sigops, p2wpkhInputs, `sigop cost ${index}`);
      if (tx.depends.length > 0) withDepends++;
      fees += tx.fee;
    });
    assert.ok(withDepends > 0, 'some transactions spend unconfirmed outputs');
    assert.equal(t.coinbaseValue, blockSubsidy(1) + fees);
    assert.equal(t.height, 1);
    assert.equal(t.nbits, REGTEST_NBITS);
    assert.equal(t.templateId, 7n);
    assert.ok(t.mintime <= t.curtime);
  });

  test('witness commitment and merkle path agree with core/template and an independent full-tree computation', () => {
    const chain = newChain(12, { initialTransactions: 5 });
    const t = chain.template(1n, NOW_MS);
    // core/template's BIP141 code (tested against btcd) vs the chain's validator helper.
    const wtxids = t.transactions.map((x) => x.wtxid);
    assertHex(t.defaultWitnessCommitment.subarray(6), bytesToHex(witnessCommitment(wtxids)));
    const root = merkleFull([new Uint8Array(32), ...wtxids]);
    assertHex(t.defaultWitnessCommitment.subarray(6), bytesToHex(sha256d(concatBytes(root, new Uint8Array(32)))));
    assertHex(computeMerkleRoot([new Uint8Array(32), ...wtxids]).root, bytesToHex(root));
    // Merkle path: any coinbase txid folded with it gives the full-tree root.
    const fakeCoinbase = sha256d(new Uint8Array([1, 2, 3]));
    assertHex(merkleRootFromPath(fakeCoinbase, t.merklePath), bytesToHex(merkleFull([fakeCoinbase, ...t.transactions.map((x) => x.txid)])));
  });

  test('templates are cached until something changes; only the template id differs', () => {
    const chain = newChain(13);
    const a = chain.template(1n, NOW_MS);
    const b = chain.template(2n, NOW_MS + 5000);
    assert.equal(b.templateId, 2n);
    assert.equal(a.transactions, b.transactions);
    chain.addTransactions(2);
    const c = chain.template(3n, NOW_MS);
    assert.equal(c.transactions.length, a.transactions.length + 2);
    assert.ok(c.coinbaseValue > a.coinbaseValue);
    assertHex(c.prevHash, bytesToHex(a.prevHash), 'same prevhash');
  });

  test('the mempool is bounded and counts what it refuses', () => {
    const chain = newChain(14, { mempoolTxMax: 5, initialTransactions: 0 });
    assert.equal(chain.addTransactions(8), 5);
    assert.equal(chain.mempoolSize, 5);
    assert.equal(chain.counters.transactionsDroppedMempoolFull, 3);
  });

  test('same seed, same chain (deterministic from the RandomSource)', () => {
    const a = newChain(15).template(1n, NOW_MS);
    const b = newChain(15).template(1n, NOW_MS);
    assert.deepEqual(a.transactions.map((x) => bytesToHex(x.data)), b.transactions.map((x) => bytesToHex(x.data)));
    assert.notDeepEqual(newChain(16).template(1n, NOW_MS).transactions.map((x) => bytesToHex(x.txid)), a.transactions.map((x) => bytesToHex(x.txid)));
  });
});

// ---- blocks ---------------------------------------------------------------------------------------

describe('embedded chain: submitted blocks', () => {
  test('a valid block is accepted and advances the chain; its transactions leave the mempool', () => {
    const chain = newChain(21);
    const t = chain.template(1n, NOW_MS);
    assert.ok(t.transactions.length > 0);
    const block = buildBlock({ template: t });
    const outcome = chain.submitBlock(block, NOW_MS);
    assert.equal(outcome.kind, 'accepted', JSON.stringify(outcome));
    assert.equal(chain.height, 1);
    assertHex(chain.tipHash, bytesToHex(sha256d(block.subarray(0, 80))), 'tip = block hash');
    if (outcome.kind === 'accepted') assert.equal(outcome.blockHash, bytesToHex(reversed(sha256d(block.subarray(0, 80)))));
    assert.equal(chain.mempoolSize, 0);
    const next = chain.template(2n, NOW_MS);
    assert.equal(next.height, 2);
    assertHex(next.prevHash, bytesToHex(chain.tipHash));
    assert.equal(next.transactions.length, 0);
    assert.equal(next.coinbaseValue, blockSubsidy(2));
    // Spent outputs are gone; the block's outputs are confirmed and spendable by new transactions.
    const spent = decodeTransaction(t.transactions[0]!.data)!.tx.inputs[0]!;
    assert.equal(chain.prevout(spent.prevTxid, spent.vout), undefined);
    assert.ok(chain.prevout(t.transactions[t.transactions.length - 1]!.txid, 0) !== undefined);
    // A second block on top, with new transactions, also works; and the empty block before it.
    assert.equal(chain.submitBlock(buildBlock({ template: next }), NOW_MS).kind, 'accepted');
    chain.addTransactions(3);
    const third = chain.template(3n, NOW_MS);
    assert.equal(third.transactions.length, 3);
    assert.equal(chain.submitBlock(buildBlock({ template: third }), NOW_MS).kind, 'accepted');
    assert.equal(chain.height, 3);
    assert.equal(chain.counters.blocksAccepted, 3);
  });

  test('paying less than subsidy + fees is fine; resubmitting is "duplicate"; a block on the old tip is "inconclusive"', () => {
    const chain = newChain(22);
    const t = chain.template(1n, NOW_MS);
    const block = buildBlock({ template: t, coinbase: templateCoinbase(t, t.coinbaseValue - 1000n) });
    assert.equal(chain.submitBlock(block, NOW_MS).kind, 'accepted');
    assert.deepEqual(chain.submitBlock(block, NOW_MS), { kind: 'duplicate', reason: 'duplicate' });
    // A competing block on the same parent (different coinbase): valid, but not on the best chain.
    const rival = buildBlock({ template: t, coinbase: templateCoinbase(t, 1n) });
    const outcome = chain.submitBlock(rival, NOW_MS);
    assert.equal(outcome.kind, 'inconclusive');
    assert.equal(chain.height, 1, 'no reorg');
    assert.equal(chain.submitBlock(rival, NOW_MS).kind, 'inconclusive');
  });

  const rejects: [string, string, (chain: EmbeddedChain, t: BlockTemplate) => Uint8Array][] = [
    ['block-decode-failed', 'truncated block', (_c, t) => buildBlock({ template: t }).subarray(0, 120)],
    ['block-decode-failed', 'trailing bytes', (_c, t) => concatBytes(buildBlock({ template: t }), new Uint8Array([0]))],
    ['high-hash', 'nonce that misses the target', (_c, t) => buildBlock({ template: t, pow: 'miss' })],
    ['prev-blk-not-found', 'unknown parent', (_c, t) => buildBlock({ template: t, prevHash: sha256d(new Uint8Array([9])) })],
    ['bad-diffbits', 'other nbits than the chain\'s (harder, so PoW passes)', (_c, t) => buildBlock({ template: t, nbits: 0x207ffffe })],
    ['time-too-old', 'time at median time past', (c, t) => buildBlock({ template: t, time: c.medianTimePast })],
    ['time-too-new', 'time over 2 h ahead', (_c, t) => buildBlock({ template: t, time: Math.floor(NOW_MS / 1000) + 7201 })],
    ['bad-version(0x00000001)', 'version 1', (_c, t) => buildBlock({ template: t, version: 1 })],
    ['bad-txnmrklroot', 'wrong merkle root', (_c, t) => buildBlock({ template: t, merkleRoot: sha256d(new Uint8Array([1])) })],
    ['bad-cb-missing', 'first transaction is not a coinbase', (_c, t) => {
      const txs = t.transactions.map((x) => x.data);
      return buildBlock({ template: t, coinbase: { full: txs[0]!, stripped: decodeTransaction(txs[0]!)!.tx.stripped }, transactions: txs.slice(1), txids: t.transactions.slice(1).map((x) => x.txid) });
    }],
    ['bad-cb-multiple', 'two coinbases', (_c, t) => {
      const second = coinbaseTx({ height: t.height, outputs: [{ value: 1n, script: PAYOUT }], witness: null });
      return buildBlock({ template: t, transactions: [second.full, ...t.transactions.map((x) => x.data)], txids: [sha256d(second.stripped), ...t.transactions.map((x) => x.txid)] });
    }],
    ['bad-cb-length', 'coinbase scriptSig of 1 byte', (_c, t) => buildBlock({ template: t, coinbase: templateCoinbase(t, t.coinbaseValue, { scriptSig: new Uint8Array([0x51]) }) })],
    ['bad-cb-height', 'coinbase claims another height', (_c, t) => buildBlock({ template: t, coinbase: templateCoinbase(t, t.coinbaseValue, { height: t.height + 1 }) })],
    ['bad-cb-amount', 'coinbase pays subsidy + fees + 1', (_c, t) => buildBlock({ template: t, coinbase: templateCoinbase(t, t.coinbaseValue + 1n) })],
    ['bad-witness-merkle-match', 'commitment over other transactions', (_c, t) => {
      const script = Uint8Array.from(t.defaultWitnessCommitment);
      script[10]! ^= 1;
      return buildBlock({ template: t, coinbase: coinbaseTx({ height: t.height, outputs: [{ value: t.coinbaseValue, script: PAYOUT }, { value: 0n, script }] }) });
    }],
    ['bad-witness-nonce-size', 'reserved value of 31 bytes', (_c, t) => buildBlock({ template: t, coinbase: templateCoinbase(t, t.coinbaseValue, { witness: [new Uint8Array(31)] }) })],
    ['unexpected-witness', 'witness transactions without a commitment', (_c, t) => buildBlock({ template: t, coinbase: coinbaseTx({ height: t.height, outputs: [{ value: t.coinbaseValue, script: PAYOUT }], witness: null }) })],
    ['bad-txns-duplicate', 'merkle mutation: last transaction twice (CVE-2012-2459)', (_c, t) => {
      const txs = t.transactions.map((x) => x.data);
      const txids = t.transactions.map((x) => x.txid);
      // Make the count odd→even by repeating the last one: the root does not change.
      const list = txs.length % 2 === 0 ? txs : txs.slice(0, -1);
      const ids = txs.length % 2 === 0 ? txids : txids.slice(0, -1);
      return buildBlock({ template: t, transactions: [...list, list[list.length - 1]!], txids: [...ids, ids[ids.length - 1]!], coinbase: templateCoinbase(t, blockSubsidy(t.height), { witness: null }) });
    }],
    ['bad-txns-inputs-missingorspent', 'a transaction spending an unknown output', (_c, t) => {
      const fake = spendTx(sha256d(new Uint8Array([7])), 0, 1000n);
      return blockWithExtra(t, fake);
    }],
    ['bad-txns-in-belowout', 'a transaction paying out more than it spends', (_c, t) => {
      // Spends output 0 of the template's LAST transaction (no template transaction spends it).
      const last = t.transactions[t.transactions.length - 1]!;
      const value = decodeTransaction(last.data)!.tx.outputs[0]!.valueSats;
      return blockWithExtra(t, spendTx(last.txid, 0, value + 1n), true);
    }],
  ];

  for (const [reason, what, make] of rejects) {
    test(`${reason}: ${what}`, () => {
      const chain = newChain(31, { initialTransactions: 3, initialUtxos: 8 });
      const t = chain.template(1n, NOW_MS);
      const outcome = chain.submitBlock(make(chain, t), NOW_MS);
      assert.deepEqual(outcome, { kind: 'rejected', reason });
      assert.equal(chain.height, 0, 'chain unchanged');
      assert.equal(chain.counters.blocksRejected, 1);
      // The same template still makes a valid block afterwards (nothing was half-applied).
      assert.equal(chain.submitBlock(buildBlock({ template: t }), NOW_MS).kind, 'accepted');
    });
  }
});

/** A one-input, one-output P2WPKH-looking spend of (txid, vout) paying `value`. */
function spendTx(txid: Uint8Array, vout: number, value: bigint): { full: Uint8Array; stripped: Uint8Array } {
  const body = concatBytes(
    new Uint8Array([1]), txid, le32(vout), new Uint8Array([0]), le32(0xfffffffd),
    new Uint8Array([1]), le64(value), varint(PAYOUT.length), PAYOUT,
  );
  const witness = concatBytes(new Uint8Array([2, 72]), new Uint8Array(72).fill(0x30), new Uint8Array([33, 2]), new Uint8Array(32).fill(7));
  return { full: concatBytes(le32(2), new Uint8Array([0, 1]), body, witness, le32(0)), stripped: concatBytes(le32(2), body, le32(0)) };
}

/** The template's transactions plus `extra`, with a coinbase committing to all of them. */
function blockWithExtra(t: BlockTemplate, extra: { full: Uint8Array; stripped: Uint8Array }, valueFromSubsidy = false): Uint8Array {
  const txs = [...t.transactions.map((x) => x.data), extra.full];
  const txids = [...t.transactions.map((x) => x.txid), sha256d(extra.stripped)];
  const wtxids = [...t.transactions.map((x) => x.wtxid), sha256d(extra.full)];
  const commitment = concatBytes(hexToBytes('6a24aa21a9ed'), sha256d(concatBytes(merkleFull([new Uint8Array(32), ...wtxids]), new Uint8Array(32))));
  const coinbase = coinbaseTx({ height: t.height, outputs: [{ value: valueFromSubsidy ? blockSubsidy(t.height) : t.coinbaseValue, script: PAYOUT }, { value: 0n, script: commitment }] });
  return buildBlock({ template: t, coinbase, transactions: txs, txids });
}

// ---- cross-checks against real software's data -----------------------------------------------------

describe('embedded chain: cross-checks with btcd and mainnet data', () => {
  test('btcd transactions decode to btcd\'s txid, hash (wtxid) and weight', () => {
    const txs = gbtWithTxs['transactions'] as { data: string; txid: string; hash: string; weight: number }[];
    for (const tx of txs) {
      const decoded = decodeTransaction(hexToBytes(tx.data));
      assert.ok(decoded !== null);
      assertHex(reversed(decoded.tx.txid), tx.txid, 'txid');
      assertHex(reversed(decoded.tx.wtxid), tx.hash, 'wtxid');
      assert.equal(decoded.tx.weight, tx.weight);
    }
  });
  test('witness root over btcd\'s wtxids gives btcd\'s default_witness_commitment', () => {
    const txs = gbtWithTxs['transactions'] as { hash: string }[];
    const { root } = computeMerkleRoot([new Uint8Array(32), ...txs.map((x) => internal(x.hash))]);
    assertHex(sha256d(concatBytes(root, new Uint8Array(32))), gbtWithTxs['default_witness_commitment'] as string);
  });
  test('computeMerkleRoot gives mainnet block 100000\'s and btcd\'s merkle roots', () => {
    assertHex(reversed(computeMerkleRoot(mainnet.tx.map(internal)).root), mainnet.merkleroot, 'mainnet 100000');
    assertHex(reversed(computeMerkleRoot(block3.tx.map(internal)).root), block3.merkleroot, 'btcd 3-tx block');
    assert.equal(computeMerkleRoot(mainnet.tx.map(internal)).mutated, false);
  });
  test('nbits round trip on real compact targets; nbitsForExpectedHashes', () => {
    for (const nbits of [0x1d00ffff, parseInt(mainnet.bits, 16), REGTEST_NBITS, 0x17034219, 0x1b0404cb]) {
      assert.equal(nbitsFromTarget(targetFromNbits(nbits)!), nbits, nbits.toString(16));
    }
    // Difficulty 1 = 2^32 hashes on average.
    assert.equal(nbitsForExpectedHashes(2 ** 32), 0x1d00ffff);
    assert.equal(nbitsForExpectedHashes(1), REGTEST_NBITS, 'never easier than regtest');
  });
  test('subsidy schedule: regtest halves every 150 blocks, mainnet (210,000) is 3.125 BTC at 840,000', () => {
    assert.equal(blockSubsidy(0), 5_000_000_000n);
    assert.equal(blockSubsidy(149), 5_000_000_000n);
    assert.equal(blockSubsidy(150), 2_500_000_000n);
    assert.equal(blockSubsidy(840_000, 210_000), 312_500_000n);
    assert.equal(blockSubsidy(150 * 64), 0n);
  });
  test('decoders never throw on arbitrary bytes', () => {
    const random = new SeededRandom(99);
    const chain = newChain(41);
    const valid = buildBlock({ template: chain.template(1n, NOW_MS) });
    for (let i = 0; i < 300; i++) {
      const bytes = Uint8Array.from(valid);
      const flips = 1 + (random.nextU32() % 4);
      for (let f = 0; f < flips; f++) bytes[random.nextU32() % bytes.length] = random.nextU32() & 0xff;
      const cut = bytes.subarray(0, random.nextU32() % (bytes.length + 1));
      decodeBlock(cut);
      decodeTransaction(cut, random.nextU32() % (cut.length + 1));
      chain.submitBlock(cut, NOW_MS);
    }
  });
});
