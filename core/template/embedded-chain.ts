// The demo's embedded chain (issue 3 item 9, SPEC §12): a small local regtest-like chain that
// builds REAL block templates and validates the blocks mined on them, so `npm start` exercises
// every code path a Bitcoin node would (template → jobs → shares → block → submitblock) with no
// node installed.
//
// What is real: every transaction is a consensus-serialized segwit transaction (BIP144) with
// txid = SHA256d(stripped), wtxid = SHA256d(full), weight = 3·stripped + full (BIP141), sigop
// cost as Bitcoin Core reports it in getblocktemplate, and fee = Σinputs − Σoutputs over a
// UTXO set this file keeps. Templates carry the BIP34 height, coinbase value = subsidy (halving
// schedule) + fees, the coinbase merkle path and the BIP141 default witness commitment.
// Submitted blocks are decoded and checked like bitcoind's `submitblock` does, in its order and
// with its BIP22 reject strings (validation.cpp: AcceptBlockHeader → CheckBlock →
// ContextualCheckBlock → ConnectBlock).
//
// What is synthetic (documented in docs/demo.md): signatures and public keys are random bytes of
// the right shape (72-byte DER-looking ECDSA + 33-byte key for P2WPKH, 64-byte Schnorr for
// P2TR key path): scripts are NOT executed. The initial UTXO set is made up (random outpoints).
// There are no reorganisations: a valid block on a known non-tip parent is answered
// `inconclusive` (Core: valid but not on the best chain) and stays a side block forever.
// Coinbase outputs are never spent (no maturity bookkeeping needed).
//
// Pure (core/ rules): time comes in as `nowMs` (wall clock, for header times), randomness from
// the injected RandomSource, hashing through an optional Sha256. Every map and list is bounded.
import { bytesToHex, concatBytes, utf8 } from '../bytes.ts';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { compactSize, serializeTxOut } from '../mining/coinbase.ts';
import { defaultSha256, sha256d, type Sha256, type Sha256d } from '../mining/hash.ts';
import { header80, HEADER_BYTES } from '../mining/header.ts';
import { hashToDisplayHex, meetsTarget, targetFromNbits, U256_MAX } from '../mining/target.ts';
import type { RandomSource } from '../random.ts';
import {
  MAX_BLOCK_SIGOPS_COST,
  MAX_BLOCK_WEIGHT,
  WITNESS_COMMITMENT_HEADER,
  bip34HeightPush,
  coinbaseMerklePath,
  witnessCommitment,
  witnessCommitmentScript,
  type BlockTemplate,
  type TemplateTransaction,
} from './template.ts';

// ---- constants --------------------------------------------------------------------------------

/** Regtest's nbits (chainparams.cpp, powLimit 7fffff…): about every second hash is a block. */
export const REGTEST_NBITS = 0x207fffff;
/** Regtest's halving interval (chainparams.cpp `nSubsidyHalvingInterval = 150`). */
export const REGTEST_HALVING_INTERVAL = 150;
/** 50 BTC, the initial subsidy (validation.cpp GetBlockSubsidy). */
export const INITIAL_SUBSIDY_SATS = 5_000_000_000n;
/** MAX_MONEY (amount.h): no output or sum may exceed it. */
export const MAX_MONEY_SATS = 2_100_000_000_000_000n;
/** Block version: BIP9 top bits, no deployment signalled. */
export const EMBEDDED_BLOCK_VERSION = 0x20000000;
/** MAX_FUTURE_BLOCK_TIME (chain.h): a header may be at most 2 h ahead of our clock. */
export const MAX_FUTURE_BLOCK_TIME_SECS = 7200;
/** Median-time-past window (chain.h nMedianTimeSpan). */
const MEDIAN_TIME_SPAN = 11;
/** Weight and sigops kept free in a template for the coinbase (Core's miner reserves the same order). */
const COINBASE_WEIGHT_RESERVE = 4000;
const COINBASE_SIGOPS_RESERVE = 400;
/** Smallest output the generator creates (above every standard dust limit: P2WPKH 294, P2TR 330). */
const OUTPUT_SATS_MIN = 1000n;

// ---- public types -----------------------------------------------------------------------------

export interface EmbeddedChainOptions {
  readonly random: RandomSource;
  /** Wall-clock ms at construction: the genesis block's time. */
  readonly nowMs: number;
  /** Compact target of every block (no retargeting). Default REGTEST_NBITS. */
  readonly nbits?: number;
  readonly halvingInterval?: number;
  /** Synthetic confirmed UTXOs at genesis (default 64). */
  readonly initialUtxos?: number;
  /** Transactions already waiting in the mempool at genesis (default 6). */
  readonly initialTransactions?: number;
  /** The generator consolidates when the spendable set is above this (default 256). */
  readonly utxoTarget?: number;
  /** Hard bound on confirmed UTXOs kept (default 20,000). */
  readonly utxosMax?: number;
  /** Hard bound on mempool transactions (default 2,000; further arrivals are counted and dropped). */
  readonly mempoolTxMax?: number;
  /** Blocks kept in the index for prev-hash lookup and duplicates (default 1,000; oldest evicted). */
  readonly blocksKeptMax?: number;
  /** Fee rate range of generated transactions, sat/vB inclusive (default 1..50). */
  readonly feeRateSatsPerVbyteMin?: number;
  readonly feeRateSatsPerVbyteMax?: number;
  readonly sha256?: Sha256;
}

/** What submitblock says (BIP22), in the shape of adapters/bitcoind-rpc.ts SubmitBlockOutcome. */
export type EmbeddedSubmitOutcome =
  | { readonly kind: 'accepted'; readonly height: number; readonly blockHash: string }
  | { readonly kind: 'duplicate'; readonly reason: 'duplicate' }
  /** Valid, but its parent is not the tip (no reorgs here), or a known side block again. */
  | { readonly kind: 'inconclusive'; readonly reason: 'inconclusive' | 'duplicate-inconclusive'; readonly height: number; readonly blockHash: string }
  | { readonly kind: 'rejected'; readonly reason: string };

export interface EmbeddedChainCounters {
  transactionsCreated: number;
  /** Arrivals refused because the mempool or the template weight budget was full. */
  transactionsDroppedMempoolFull: number;
  /** Mempool transactions dropped after a block spent their inputs differently. */
  transactionsDroppedConflict: number;
  /** Generator found nothing spendable (all UTXOs are spent in the mempool). */
  generatorStarved: number;
  blocksAccepted: number;
  blocksInconclusive: number;
  blocksRejected: number;
  blocksEvicted: number;
}

/** A decoded transaction (BIP144 serialization). */
export interface DecodedTransaction {
  readonly version: number;
  readonly inputs: readonly DecodedInput[];
  readonly outputs: readonly { readonly valueSats: bigint; readonly scriptPubKey: Uint8Array }[];
  readonly locktime: number;
  /** Serialized with the BIP144 marker/flag and witnesses. */
  readonly hasWitness: boolean;
  /** The bytes as given (full serialization). */
  readonly data: Uint8Array;
  /** The serialization without marker, flag and witnesses. */
  readonly stripped: Uint8Array;
  /** Internal byte order. */
  readonly txid: Uint8Array;
  readonly wtxid: Uint8Array;
  readonly weight: number;
}

export interface DecodedInput {
  readonly prevTxid: Uint8Array;
  readonly vout: number;
  readonly scriptSig: Uint8Array;
  readonly sequence: number;
  readonly witness: readonly Uint8Array[];
}

export interface DecodedBlock {
  readonly header: Uint8Array;
  readonly version: number;
  readonly prevHash: Uint8Array;
  readonly merkleRoot: Uint8Array;
  readonly time: number;
  readonly nbits: number;
  readonly nonce: number;
  /** SHA256d(header), internal order. */
  readonly hash: Uint8Array;
  readonly transactions: readonly DecodedTransaction[];
  /** 3·stripped size + full size (BIP141). */
  readonly weight: number;
}

// ---- pure helpers (exported for tests and the demo) -------------------------------------------

/** GetBlockSubsidy: 50 BTC halved every `halvingInterval` blocks, 0 after 64 halvings. */
export function blockSubsidy(height: number, halvingInterval = REGTEST_HALVING_INTERVAL): bigint {
  if (!Number.isSafeInteger(height) || height < 0) throw new RangeError(`blockSubsidy: height must be a non-negative integer, got ${height}`);
  if (!Number.isSafeInteger(halvingInterval) || halvingInterval < 1) throw new RangeError(`blockSubsidy: halvingInterval must be >= 1, got ${halvingInterval}`);
  const halvings = Math.floor(height / halvingInterval);
  return halvings >= 64 ? 0n : INITIAL_SUBSIDY_SATS >> BigInt(halvings);
}

/**
 * Target → compact nbits, rounding DOWN like arith_uint256::GetCompact (the 3-byte mantissa
 * keeps the top bytes; a set sign bit moves one byte into the exponent).
 */
export function nbitsFromTarget(target: bigint): number {
  if (typeof target !== 'bigint' || target <= 0n || target > U256_MAX) throw new RangeError(`nbitsFromTarget: target must be 1..2^256-1, got ${String(target)}`);
  let size = 0;
  for (let t = target; t > 0n; t >>= 8n) size++;
  let mantissa = size <= 3 ? Number(target << BigInt(8 * (3 - size))) : Number(target >> BigInt(8 * (size - 3)));
  if ((mantissa & 0x00800000) !== 0) {
    mantissa >>>= 8;
    size++;
  }
  return ((size << 24) | mantissa) >>> 0;
}

/**
 * nbits for which a block takes about `hashes` header hashes on average (target ≈ 2^256 / hashes),
 * never easier than regtest's powLimit.
 */
export function nbitsForExpectedHashes(hashes: number): number {
  if (!Number.isFinite(hashes) || hashes < 1) throw new RangeError(`nbitsForExpectedHashes: hashes must be >= 1, got ${hashes}`);
  const limit = targetFromNbits(REGTEST_NBITS)!;
  const target = (1n << 256n) / BigInt(Math.ceil(hashes)) - 1n;
  return nbitsFromTarget(target > limit ? limit : target < 1n ? 1n : target);
}

/**
 * Merkle root of txids (internal order) computed over the whole tree, independently of the
 * coinbase-path helpers in core/mining/merkle.ts; `mutated` reports two equal siblings
 * (CVE-2012-2459, consensus/merkle.cpp ComputeMerkleRoot), which Core rejects as
 * "bad-txns-duplicate".
 */
export function computeMerkleRoot(hashes: readonly Uint8Array[], sha256: Sha256 = defaultSha256): { root: Uint8Array; mutated: boolean } {
  if (hashes.length === 0) return { root: new Uint8Array(32), mutated: false };
  let level = hashes.slice();
  let mutated = false;
  const pair = new Uint8Array(64);
  while (level.length > 1) {
    for (let i = 0; i + 1 < level.length; i += 2) if (_equal(level[i]!, level[i + 1]!)) mutated = true;
    if (level.length % 2 === 1) level.push(level[level.length - 1]!);
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      pair.set(level[i]!, 0);
      pair.set(level[i + 1]!, 32);
      next.push(sha256d(pair, sha256));
    }
    level = next;
  }
  return { root: level[0]!, mutated };
}

/**
 * Decode one transaction at `offset`; null on any malformed input (never throws on bytes).
 * `sha256dFn`, when given, computes txid and wtxid in one call each (e.g. a provider's native
 * double hash); else SHA256d over `sha256`.
 */
export function decodeTransaction(bytes: Uint8Array, offset = 0, sha256: Sha256 = defaultSha256, sha256dFn?: Sha256d): { tx: DecodedTransaction; end: number } | null {
  const r = new _Reader(bytes, offset);
  const start = offset;
  const version = r.u32();
  let hasWitness = false;
  if (r.peek(0) === 0x00 && r.remaining() >= 2) {
    // BIP144 marker 0x00 + flag; only flag 0x01 is defined (Core: "Unknown transaction optional data").
    if (r.peek(1) !== 0x01) return null;
    r.skip(2);
    hasWitness = true;
  }
  const strippedHeadStart = r.pos;
  const inputCount = r.count(41);
  // An empty input list cannot be expressed without the marker (it would BE the marker).
  if (!r.ok || inputCount === 0) return null;
  const inputs: { prevTxid: Uint8Array; vout: number; scriptSig: Uint8Array; sequence: number; witness: Uint8Array[] }[] = [];
  for (let i = 0; i < inputCount && r.ok; i++) {
    const prevTxid = r.bytes(32);
    const vout = r.u32();
    const scriptSig = r.bytes(r.count(1));
    const sequence = r.u32();
    inputs.push({ prevTxid, vout, scriptSig, sequence, witness: [] });
  }
  const outputCount = r.count(9);
  const outputs: { valueSats: bigint; scriptPubKey: Uint8Array }[] = [];
  for (let i = 0; i < outputCount && r.ok; i++) {
    const valueSats = r.u64();
    const scriptPubKey = r.bytes(r.count(1));
    outputs.push({ valueSats, scriptPubKey });
  }
  const strippedHeadEnd = r.pos;
  if (hasWitness) {
    let anyItem = false;
    for (const input of inputs) {
      const items = r.count(1);
      for (let j = 0; j < items && r.ok; j++) input.witness.push(r.bytes(r.count(1)));
      if (items > 0) anyItem = true;
    }
    // Core: "Superfluous witness record" when the marker is there but every witness is empty.
    if (!anyItem) return null;
  }
  const locktimeAt = r.pos;
  const locktime = r.u32();
  if (!r.ok) return null;
  const data = bytes.subarray(start, r.pos);
  const stripped = hasWitness
    ? concatBytes(bytes.subarray(start, start + 4), bytes.subarray(strippedHeadStart, strippedHeadEnd), bytes.subarray(locktimeAt, locktimeAt + 4))
    : data;
  const txid = sha256dFn !== undefined ? sha256dFn(stripped) : sha256d(stripped, sha256);
  const tx: DecodedTransaction = {
    version, inputs, outputs, locktime, hasWitness, data, stripped, txid,
    wtxid: hasWitness ? (sha256dFn !== undefined ? sha256dFn(data) : sha256d(data, sha256)) : txid,
    weight: stripped.length * 3 + data.length,
  };
  return { tx, end: r.pos };
}

/** Decode a whole serialized block; null on any malformed input or trailing bytes. */
export function decodeBlock(bytes: Uint8Array, sha256: Sha256 = defaultSha256): DecodedBlock | null {
  if (!(bytes instanceof Uint8Array) || bytes.length < HEADER_BYTES + 1) return null;
  const r = new _Reader(bytes, 0);
  const version = r.u32();
  const prevHash = r.bytes(32);
  const merkleRoot = r.bytes(32);
  const time = r.u32();
  const nbits = r.u32();
  const nonce = r.u32();
  const txCount = r.count(60);
  if (!r.ok || txCount === 0) return null;
  const transactions: DecodedTransaction[] = [];
  let at = r.pos;
  let weight = 0;
  for (let i = 0; i < txCount; i++) {
    const decoded = decodeTransaction(bytes, at, sha256);
    if (decoded === null) return null;
    transactions.push(decoded.tx);
    weight += decoded.tx.weight;
    at = decoded.end;
  }
  if (at !== bytes.length) return null;
  // Header and tx-count bytes are the same in both sizes: weight ×4.
  weight += (HEADER_BYTES + compactSize(txCount).length) * 4;
  const header = bytes.subarray(0, HEADER_BYTES);
  return { header, version, prevHash, merkleRoot, time, nbits, nonce, hash: sha256d(header, sha256), transactions, weight };
}

/**
 * Legacy sigops of a script, "inaccurate" mode as for block limits (script.cpp GetSigOpCount
 * with fAccurate=false): CHECKSIG(VERIFY) = 1, CHECKMULTISIG(VERIFY) = 20. Stops at a truncated push.
 */
export function legacySigops(script: Uint8Array): number {
  let count = 0;
  for (let i = 0; i < script.length; ) {
    const op = script[i++]!;
    if (op >= 0x01 && op <= 0x4b) i += op;
    else if (op === 0x4c) i += 1 + (script[i] ?? 0);
    else if (op === 0x4d) i += 2 + ((script[i] ?? 0) | ((script[i + 1] ?? 0) << 8));
    else if (op === 0x4e) i += 4 + ((script[i] ?? 0) | ((script[i + 1] ?? 0) << 8) | ((script[i + 2] ?? 0) << 16)) + (script[i + 3] ?? 0) * 2 ** 24;
    else if (op === 0xac || op === 0xad) count += 1;
    else if (op === 0xae || op === 0xaf) count += 20;
  }
  return count;
}

// ---- the chain --------------------------------------------------------------------------------

type _Kind = 'p2wpkh' | 'p2tr' | 'foreign';

interface _Utxo {
  readonly key: string;
  readonly txid: Uint8Array;
  readonly vout: number;
  readonly valueSats: bigint;
  readonly kind: _Kind;
  /** P2WPKH: the 33-byte public key whose HASH160 the script commits to. */
  readonly pubkey: Uint8Array | null;
  readonly scriptPubKey: Uint8Array;
}

interface _MempoolTx {
  readonly tx: TemplateTransaction;
  readonly txidHex: string;
  readonly spends: readonly string[];
  readonly creates: readonly _Utxo[];
}

interface _BlockEntry {
  readonly hashHex: string;
  readonly hash: Uint8Array;
  readonly height: number;
  readonly time: number;
  /** Times of this block and up to 10 ancestors, newest last (median time past). */
  readonly recentTimes: readonly number[];
  readonly onBestChain: boolean;
}

/** An outpoint as a map key: txid hex (internal order) ':' vout. */
function _outpointKey(txid: Uint8Array, vout: number): string {
  return `${bytesToHex(txid)}:${vout}`;
}

export class EmbeddedChain {
  readonly #random: RandomSource;
  readonly #sha256: Sha256;
  readonly #nbits: number;
  readonly #target: bigint;
  readonly #halvingInterval: number;
  readonly #utxoTarget: number;
  readonly #utxosMax: number;
  readonly #mempoolTxMax: number;
  readonly #blocksKeptMax: number;
  readonly #feeRateMin: number;
  readonly #feeRateMax: number;
  readonly #u32 = new Uint8Array(4);

  /** Confirmed UTXOs at the tip. */
  #utxos = new Map<string, _Utxo>();
  #mempool: _MempoolTx[] = [];
  /** Outputs the generator may spend next: confirmed and not spent in the mempool, plus unspent mempool outputs. */
  #spendable: _Utxo[] = [];
  #spendableIndex = new Map<string, number>();
  readonly #blocks = new Map<string, _BlockEntry>();
  #tip: _BlockEntry;
  #cached: Omit<BlockTemplate, 'templateId'> | null = null;
  #mempoolWeight = 0;
  #mempoolSigops = 0;
  readonly counters: EmbeddedChainCounters = {
    transactionsCreated: 0, transactionsDroppedMempoolFull: 0, transactionsDroppedConflict: 0, generatorStarved: 0,
    blocksAccepted: 0, blocksInconclusive: 0, blocksRejected: 0, blocksEvicted: 0,
  };

  constructor(options: EmbeddedChainOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError(`EmbeddedChain: options must be an object, got ${String(options)}`);
    if (options.random === undefined || typeof options.random.fill !== 'function') throw new TypeError('EmbeddedChain: options.random must be a RandomSource');
    _checkNow(options.nowMs, 'EmbeddedChain');
    this.#random = options.random;
    this.#sha256 = options.sha256 ?? defaultSha256;
    this.#nbits = options.nbits ?? REGTEST_NBITS;
    const target = Number.isInteger(this.#nbits) && this.#nbits >= 0 && this.#nbits <= 0xffffffff ? targetFromNbits(this.#nbits) : null;
    if (target === null) throw new RangeError(`EmbeddedChain: nbits must be a valid compact target, got ${options.nbits}`);
    this.#target = target;
    this.#halvingInterval = _int(options.halvingInterval ?? REGTEST_HALVING_INTERVAL, 'halvingInterval', 1);
    const initialUtxos = _int(options.initialUtxos ?? 64, 'initialUtxos', 1);
    const initialTransactions = _int(options.initialTransactions ?? 6, 'initialTransactions', 0);
    this.#utxoTarget = _int(options.utxoTarget ?? 256, 'utxoTarget', 2);
    this.#utxosMax = _int(options.utxosMax ?? 20_000, 'utxosMax', this.#utxoTarget);
    this.#mempoolTxMax = _int(options.mempoolTxMax ?? 2000, 'mempoolTxMax', 0);
    this.#blocksKeptMax = _int(options.blocksKeptMax ?? 1000, 'blocksKeptMax', 1);
    this.#feeRateMin = _int(options.feeRateSatsPerVbyteMin ?? 1, 'feeRateSatsPerVbyteMin', 1);
    this.#feeRateMax = _int(options.feeRateSatsPerVbyteMax ?? 50, 'feeRateSatsPerVbyteMax', this.#feeRateMin);

    // Genesis: a real block (coinbase + header) whose hash is the first prev hash. Like every
    // genesis block it is not mined: PoW is only checked on blocks built on it.
    const genesisTime = Math.floor(options.nowMs / 1000);
    const genesisCoinbase = this.#genesisCoinbase();
    const genesisHeader = header80({
      version: 1, prevHash: new Uint8Array(32), merkleRoot: sha256d(genesisCoinbase, this.#sha256),
      ntime: genesisTime, nbits: this.#nbits, nonce: 0,
    });
    const hash = sha256d(genesisHeader, this.#sha256);
    this.#tip = { hashHex: bytesToHex(hash), hash, height: 0, time: genesisTime, recentTimes: [genesisTime], onBestChain: true };
    this.#blocks.set(this.#tip.hashHex, this.#tip);

    // A made-up funded wallet: random outpoints of 0.05..2 BTC.
    for (let i = 0; i < initialUtxos; i++) {
      const txid = this.#randomBytes(32);
      const utxo = this.#newOutput(txid, 0, 5_000_000n + BigInt(this.#randomInt(195_000_000)));
      this.#utxos.set(utxo.key, utxo);
    }
    this.#rebuildSpendable();
    this.addTransactions(initialTransactions);
  }

  // ---- reading ------------------------------------------------------------------------------

  get height(): number {
    return this.#tip.height;
  }

  /** Tip hash, internal order. */
  get tipHash(): Uint8Array {
    return this.#tip.hash;
  }

  get tipHashDisplay(): string {
    return hashToDisplayHex(this.#tip.hash);
  }

  get nbits(): number {
    return this.#nbits;
  }

  get target(): bigint {
    return this.#target;
  }

  get mempoolSize(): number {
    return this.#mempool.length;
  }

  get mempoolFeesSats(): bigint {
    let fees = 0n;
    for (const entry of this.#mempool) fees += entry.tx.fee;
    return fees;
  }

  get utxoCount(): number {
    return this.#utxos.size;
  }

  /** Median time past of the tip (seconds): a new block's time must be above it. */
  get medianTimePast(): number {
    return _median(this.#tip.recentTimes);
  }

  /** Subsidy of the next block. */
  get nextSubsidySats(): bigint {
    return blockSubsidy(this.#tip.height + 1, this.#halvingInterval);
  }

  /**
   * The output an outpoint names, confirmed or created by a mempool transaction (so a template's
   * fees can be checked from outside: fee = Σ prevouts − Σ outputs). Undefined when unknown.
   */
  prevout(txid: Uint8Array, vout: number): { readonly valueSats: bigint; readonly scriptPubKey: Uint8Array } | undefined {
    const key = _outpointKey(txid, vout);
    const confirmed = this.#utxos.get(key);
    if (confirmed !== undefined) return { valueSats: confirmed.valueSats, scriptPubKey: confirmed.scriptPubKey };
    for (const entry of this.#mempool) {
      const out = entry.creates.find((u) => u.key === key);
      if (out !== undefined) return { valueSats: out.valueSats, scriptPubKey: out.scriptPubKey };
    }
    return undefined;
  }

  /**
   * The template for the next block. Contents are cached until the tip or the mempool changes,
   * so polling returns equal templates (only `templateId` differs, the caller's counter).
   */
  template(templateId: bigint, nowMs: number): BlockTemplate {
    if (typeof templateId !== 'bigint' || templateId < 0n || templateId >= 1n << 64n) {
      throw new TypeError(`EmbeddedChain.template: templateId must be a U64 bigint, got ${String(templateId)}`);
    }
    _checkNow(nowMs, 'EmbeddedChain.template');
    if (this.#cached === null) this.#cached = this.#buildTemplate(nowMs);
    return { ...this.#cached, templateId };
  }

  // ---- the mempool ----------------------------------------------------------------------------

  /**
   * `count` new transactions arrive (spending the wallet's UTXOs, sometimes unconfirmed ones, so
   * templates have `depends`). Returns how many were added (fewer when the mempool is full or
   * nothing is spendable; counted in `counters`).
   */
  addTransactions(count: number): number {
    _int(count, 'count', 0);
    let added = 0;
    for (let i = 0; i < count; i++) {
      if (this.#mempool.length >= this.#mempoolTxMax) {
        this.counters.transactionsDroppedMempoolFull++;
        continue;
      }
      const entry = this.#generateTransaction();
      if (entry === null) continue;
      if (
        this.#mempoolWeight + entry.tx.weight > MAX_BLOCK_WEIGHT - COINBASE_WEIGHT_RESERVE ||
        this.#mempoolSigops + entry.tx.sigops > MAX_BLOCK_SIGOPS_COST - COINBASE_SIGOPS_RESERVE
      ) {
        this.counters.transactionsDroppedMempoolFull++;
        continue;
      }
      this.#acceptToMempool(entry);
      added++;
    }
    if (added > 0) this.#cached = null;
    return added;
  }

  // ---- submitblock ----------------------------------------------------------------------------

  /**
   * Validate a serialized block and, when valid and on the tip, connect it (the chain advances,
   * the mempool loses the block's transactions). Answers like bitcoind's submitblock (BIP22).
   */
  submitBlock(block: Uint8Array, nowMs: number): EmbeddedSubmitOutcome {
    if (!(block instanceof Uint8Array)) throw new TypeError(`EmbeddedChain.submitBlock: block must be a Uint8Array, got ${String(block)}`);
    _checkNow(nowMs, 'EmbeddedChain.submitBlock');
    const outcome = this.#validateAndConnect(block, nowMs);
    if (outcome.kind === 'accepted') this.counters.blocksAccepted++;
    else if (outcome.kind === 'inconclusive') this.counters.blocksInconclusive++;
    else if (outcome.kind === 'rejected') this.counters.blocksRejected++;
    return outcome;
  }

  #validateAndConnect(bytes: Uint8Array, nowMs: number): EmbeddedSubmitOutcome {
    const sha256 = this.#sha256;
    const block = decodeBlock(bytes, sha256);
    // Core answers an undecodable block with an RPC error ("Block decode failed"); as a value here.
    if (block === null) return _reject('block-decode-failed');
    const hashHex = bytesToHex(block.hash);
    const blockHash = hashToDisplayHex(block.hash);
    // submitblock: "Block does not start with a coinbase" is checked before anything else.
    const txs = block.transactions;
    if (!_isCoinbase(txs[0]!)) return _reject('bad-cb-missing');

    // AcceptBlockHeader: known? → CheckBlockHeader (PoW) → parent → ContextualCheckBlockHeader.
    const known = this.#blocks.get(hashHex);
    if (known !== undefined) {
      return known.onBestChain
        ? { kind: 'duplicate', reason: 'duplicate' }
        : { kind: 'inconclusive', reason: 'duplicate-inconclusive', height: known.height, blockHash };
    }
    const target = targetFromNbits(block.nbits);
    if (target === null || !meetsTarget(block.hash, target)) return _reject('high-hash');
    const parent = this.#blocks.get(bytesToHex(block.prevHash));
    if (parent === undefined) return _reject('prev-blk-not-found');
    const height = parent.height + 1;
    if (block.nbits !== this.#nbits) return _reject('bad-diffbits');
    if (block.time <= _median(parent.recentTimes)) return _reject('time-too-old');
    if (block.time > Math.floor(nowMs / 1000) + MAX_FUTURE_BLOCK_TIME_SECS) return _reject('time-too-new');
    // BIP34/65/66 are active from genesis here: versions below 4 are obsolete.
    if ((block.version | 0) < 4) return _reject(`bad-version(0x${(block.version >>> 0).toString(16).padStart(8, '0')})`);

    // CheckBlock: merkle root (and CVE-2012-2459 mutation), size, coinbase placement, per-tx checks, sigops.
    const merkle = computeMerkleRoot(txs.map((tx) => tx.txid), sha256);
    if (!_equal(merkle.root, block.merkleRoot)) return _reject('bad-txnmrklroot');
    if (merkle.mutated) return _reject('bad-txns-duplicate');
    for (let i = 1; i < txs.length; i++) if (_isCoinbase(txs[i]!)) return _reject('bad-cb-multiple');
    const seenInputs = new Set<string>();
    let legacySigopsCost = 0;
    for (let i = 0; i < txs.length; i++) {
      const tx = txs[i]!;
      if (tx.outputs.length === 0) return _reject('bad-txns-vout-empty');
      let outSum = 0n;
      for (const out of tx.outputs) {
        if (out.valueSats > MAX_MONEY_SATS) return _reject('bad-txns-vout-toolarge');
        outSum += out.valueSats;
        if (outSum > MAX_MONEY_SATS) return _reject('bad-txns-txouttotal-toolarge');
        legacySigopsCost += legacySigops(out.scriptPubKey) * 4;
      }
      if (i === 0) {
        const scriptSig = tx.inputs[0]!.scriptSig;
        if (scriptSig.length < 2 || scriptSig.length > 100) return _reject('bad-cb-length');
        legacySigopsCost += legacySigops(scriptSig) * 4;
        continue;
      }
      for (const input of tx.inputs) {
        const key = _outpointKey(input.prevTxid, input.vout);
        // Core: within one tx "bad-txns-inputs-duplicate"; across the block it is a double spend.
        if (seenInputs.has(key)) return _reject(tx.inputs.filter((x) => _outpointKey(x.prevTxid, x.vout) === key).length > 1 ? 'bad-txns-inputs-duplicate' : 'bad-txns-inputs-missingorspent');
        seenInputs.add(key);
        legacySigopsCost += legacySigops(input.scriptSig) * 4;
      }
    }
    if (legacySigopsCost > MAX_BLOCK_SIGOPS_COST) return _reject('bad-blk-sigops');

    // ContextualCheckBlock: finality, BIP34 height, BIP141 witness commitment, weight.
    for (const tx of txs) {
      if (tx.locktime !== 0 && !_isFinal(tx, height, _median(parent.recentTimes))) return _reject('bad-txns-nonfinal');
    }
    const coinbase = txs[0]!;
    const heightPush = bip34HeightPush(height);
    if (!_startsWith(coinbase.inputs[0]!.scriptSig, heightPush)) return _reject('bad-cb-height');
    const commitmentIndex = _witnessCommitmentIndex(coinbase);
    if (commitmentIndex >= 0) {
      const witness = coinbase.inputs[0]!.witness;
      if (witness.length !== 1 || witness[0]!.length !== 32) return _reject('bad-witness-nonce-size');
      // Witness root over [0x00…00 for the coinbase, wtxid…], then SHA256d(root ‖ reserved value).
      const wtxids = txs.map((tx, i) => (i === 0 ? new Uint8Array(32) : tx.wtxid));
      const root = computeMerkleRoot(wtxids, sha256).root;
      const commitment = sha256d(concatBytes(root, witness[0]!), sha256);
      const script = coinbase.outputs[commitmentIndex]!.scriptPubKey;
      if (!_equal(commitment, script.subarray(WITNESS_COMMITMENT_HEADER.length, WITNESS_COMMITMENT_HEADER.length + 32))) {
        return _reject('bad-witness-merkle-match');
      }
    } else if (txs.some((tx) => tx.hasWitness)) {
      return _reject('unexpected-witness');
    }
    if (block.weight > MAX_BLOCK_WEIGHT) return _reject('bad-blk-weight');

    // Not on the tip: valid as far as a side block can be checked without a UTXO view of its
    // parent. Core would store it and answer "inconclusive"; there are no reorgs here.
    if (!parent.onBestChain || parent !== this.#tip) {
      this.#remember({ hashHex, hash: block.hash, height, time: block.time, recentTimes: _nextTimes(parent, block.time), onBestChain: false });
      return { kind: 'inconclusive', reason: 'inconclusive', height, blockHash };
    }

    // ConnectBlock: inputs exist and are unspent (confirmed, or created earlier in this block),
    // value in ≥ value out, sigop cost with witness sigops, coinbase ≤ subsidy + fees.
    const created = new Map<string, _Utxo>();
    const spent = new Set<string>();
    const mempoolByTxid = new Map(this.#mempool.map((m) => [m.txidHex, m]));
    let fees = 0n;
    let sigopsCost = legacySigopsCost;
    for (let i = 1; i < txs.length; i++) {
      const tx = txs[i]!;
      let inSum = 0n;
      for (const input of tx.inputs) {
        const key = _outpointKey(input.prevTxid, input.vout);
        const prevout = spent.has(key) ? undefined : (created.get(key) ?? this.#utxos.get(key));
        if (prevout === undefined) return _reject('bad-txns-inputs-missingorspent');
        spent.add(key);
        inSum += prevout.valueSats;
        // Witness sigops (BIP141 GetTransactionSigOpCost): P2WPKH counts 1, taproot 0.
        if (prevout.kind === 'p2wpkh' || _isP2wpkh(prevout.scriptPubKey)) sigopsCost += 1;
      }
      const outSum = tx.outputs.reduce((sum, out) => sum + out.valueSats, 0n);
      if (inSum < outSum) return _reject('bad-txns-in-belowout');
      fees += inSum - outSum;
      const txidHex = bytesToHex(tx.txid);
      const ours = mempoolByTxid.get(txidHex);
      tx.outputs.forEach((out, vout) => {
        const key = _outpointKey(tx.txid, vout);
        created.set(key, ours?.creates[vout] ?? { key, txid: tx.txid, vout, valueSats: out.valueSats, kind: 'foreign', pubkey: null, scriptPubKey: out.scriptPubKey });
      });
    }
    if (sigopsCost > MAX_BLOCK_SIGOPS_COST) return _reject('bad-blk-sigops');
    const coinbaseOut = coinbase.outputs.reduce((sum, out) => sum + out.valueSats, 0n);
    if (coinbaseOut > blockSubsidy(height, this.#halvingInterval) + fees) return _reject('bad-cb-amount');

    // Valid: advance the tip.
    for (const key of spent) this.#utxos.delete(key);
    for (const [key, utxo] of created) if (!spent.has(key) && this.#utxos.size < this.#utxosMax) this.#utxos.set(key, utxo);
    const entry: _BlockEntry = { hashHex, hash: block.hash, height, time: block.time, recentTimes: _nextTimes(parent, block.time), onBestChain: true };
    this.#remember(entry);
    this.#tip = entry;
    this.#afterConnect(new Set(txs.slice(1).map((tx) => bytesToHex(tx.txid))));
    return { kind: 'accepted', height, blockHash };
  }

  // ---- internals ----------------------------------------------------------------------------

  #remember(entry: _BlockEntry): void {
    this.#blocks.set(entry.hashHex, entry);
    while (this.#blocks.size > this.#blocksKeptMax) {
      const oldest = this.#blocks.keys().next().value as string;
      this.#blocks.delete(oldest);
      this.counters.blocksEvicted++;
    }
  }

  /** After a connected block: keep the mempool transactions whose inputs still exist, in order. */
  #afterConnect(confirmed: ReadonlySet<string>): void {
    const old = this.#mempool;
    this.#mempool = [];
    this.#mempoolWeight = 0;
    this.#mempoolSigops = 0;
    const available = new Set(this.#utxos.keys());
    for (const entry of old) {
      if (confirmed.has(entry.txidHex)) continue;
      if (!entry.spends.every((key) => available.has(key))) {
        this.counters.transactionsDroppedConflict++;
        continue;
      }
      for (const key of entry.spends) available.delete(key);
      for (const out of entry.creates) available.add(out.key);
      this.#mempool.push(entry);
      this.#mempoolWeight += entry.tx.weight;
      this.#mempoolSigops += entry.tx.sigops;
    }
    this.#rebuildSpendable();
    this.#cached = null;
  }

  #rebuildSpendable(): void {
    this.#spendable = [];
    this.#spendableIndex.clear();
    const spentInMempool = new Set(this.#mempool.flatMap((m) => m.spends));
    for (const utxo of this.#utxos.values()) if (utxo.kind !== 'foreign' && !spentInMempool.has(utxo.key)) this.#addSpendable(utxo);
    for (const entry of this.#mempool) for (const out of entry.creates) if (!spentInMempool.has(out.key)) this.#addSpendable(out);
  }

  #addSpendable(utxo: _Utxo): void {
    if (utxo.valueSats < OUTPUT_SATS_MIN * 4n) return; // too small to pay a fee and stay above dust
    this.#spendableIndex.set(utxo.key, this.#spendable.length);
    this.#spendable.push(utxo);
  }

  /** O(1) removal: swap with the last element. */
  #takeSpendable(index: number): _Utxo {
    const utxo = this.#spendable[index]!;
    const last = this.#spendable.pop()!;
    this.#spendableIndex.delete(utxo.key);
    if (last !== utxo) {
      this.#spendable[index] = last;
      this.#spendableIndex.set(last.key, index);
    }
    return utxo;
  }

  #acceptToMempool(entry: _MempoolTx): void {
    for (const key of entry.spends) {
      const index = this.#spendableIndex.get(key);
      if (index !== undefined) this.#takeSpendable(index);
    }
    for (const out of entry.creates) this.#addSpendable(out);
    this.#mempool.push(entry);
    this.#mempoolWeight += entry.tx.weight;
    this.#mempoolSigops += entry.tx.sigops;
    this.counters.transactionsCreated++;
  }

  /**
   * One "signed-looking" spend: 1–2 inputs, 1–3 outputs (P2WPKH or P2TR), fee = rate × vsize.
   * Inputs are chosen at random among spendable outputs (confirmed or in the mempool: the
   * latter gives the template `depends`). The shape steers the UTXO count towards utxoTarget.
   */
  #generateTransaction(): _MempoolTx | null {
    const pool = this.#spendable.length;
    if (pool === 0) {
      this.counters.generatorStarved++;
      return null;
    }
    const consolidate = pool > this.#utxoTarget || this.#utxos.size >= this.#utxosMax;
    const inputCount = Math.min(pool, consolidate ? 2 : 1 + this.#randomInt(2));
    const outputCount = consolidate ? 1 : pool < this.#utxoTarget / 2 ? 2 + this.#randomInt(2) : 1 + this.#randomInt(2);
    const inputs: _Utxo[] = [];
    for (let i = 0; i < inputCount; i++) inputs.push(this.#spendable[this.#randomInt(pool)]!);
    // The same output drawn twice is spent once (the pool only shrinks when the transaction
    // enters the mempool, #acceptToMempool).
    const unique = [...new Map(inputs.map((u) => [u.key, u])).values()];
    const outputKinds: _Kind[] = [];
    const outputKeys: Uint8Array[] = [];
    for (let i = 0; i < outputCount; i++) {
      const kind: _Kind = this.#randomInt(3) === 0 ? 'p2tr' : 'p2wpkh';
      outputKinds.push(kind);
      outputKeys.push(kind === 'p2tr' ? this.#randomBytes(32) : this.#randomPubkey());
    }
    const witnesses = unique.map((u) => (u.kind === 'p2tr' ? [this.#randomBytes(64)] : [this.#randomDerSignature(), u.pubkey!]));
    const inSum = unique.reduce((sum, u) => sum + u.valueSats, 0n);
    // Serialize once with zero values to learn the size (values are fixed 8 bytes), then for real.
    const scripts = outputKinds.map((kind, i) => _outputScript(kind, outputKeys[i]!));
    const draft = _serializeSpend(unique, scripts.map((s) => ({ valueSats: 0n, scriptPubKey: s })), witnesses);
    const vsize = Math.ceil((draft.stripped.length * 3 + draft.full.length) / 4);
    const feeRate = this.#feeRateMin + this.#randomInt(this.#feeRateMax - this.#feeRateMin + 1);
    const fee = BigInt(feeRate * vsize);
    let spendable = inSum - fee;
    let outs = scripts.length;
    while (outs > 1 && spendable < OUTPUT_SATS_MIN * BigInt(outs)) outs--;
    if (spendable < OUTPUT_SATS_MIN) return null;
    const values: bigint[] = [];
    for (let i = 0; i < outs - 1; i++) {
      // Payments of 5–60 % of what is left; the last output is the change.
      const part = (spendable * BigInt(5 + this.#randomInt(56))) / 100n;
      const value = part < OUTPUT_SATS_MIN ? OUTPUT_SATS_MIN : part;
      values.push(value);
      spendable -= value;
    }
    values.push(spendable);
    const outputs = values.map((valueSats, i) => ({ valueSats, scriptPubKey: scripts[i]! }));
    const { stripped, full } = _serializeSpend(unique, outputs, witnesses);
    const txid = sha256d(stripped, this.#sha256);
    const wtxid = sha256d(full, this.#sha256);
    const spends = unique.map((u) => u.key);
    const creates = outputs.map((out, vout) => this.#newOutput(txid, vout, out.valueSats, outputKinds[vout]!, outputKeys[vout]!));
    // Parents in the mempool, as 1-based positions in the template (GBT `depends`), fixed in #buildTemplate.
    const tx: TemplateTransaction = {
      data: full, txid, wtxid,
      fee: inSum - values.reduce((a, b) => a + b, 0n),
      // Sigop cost (BIP141): no legacy sigops in P2WPKH/P2TR scripts; 1 per P2WPKH input (witness v0 keyhash), 0 for taproot.
      sigops: unique.filter((u) => u.kind === 'p2wpkh').length,
      weight: stripped.length * 3 + full.length,
      depends: [],
    };
    return { tx, txidHex: bytesToHex(txid), spends, creates };
  }

  #buildTemplate(nowMs: number): Omit<BlockTemplate, 'templateId'> {
    const height = this.#tip.height + 1;
    const position = new Map<string, number>();
    const transactions: TemplateTransaction[] = [];
    let fees = 0n;
    for (const entry of this.#mempool) {
      const depends = [...new Set(entry.spends.map((key) => position.get(key.slice(0, 64))).filter((p): p is number => p !== undefined))].sort((a, b) => a - b);
      transactions.push(depends.length === 0 ? entry.tx : { ...entry.tx, depends });
      position.set(entry.txidHex, transactions.length);
      fees += entry.tx.fee;
    }
    const mintime = _median(this.#tip.recentTimes) + 1;
    const nowS = Math.floor(nowMs / 1000);
    return {
      height,
      version: EMBEDDED_BLOCK_VERSION,
      prevHash: this.#tip.hash,
      nbits: this.#nbits,
      target: this.#target,
      curtime: Math.max(nowS, mintime),
      mintime,
      maxtime: nowS + MAX_FUTURE_BLOCK_TIME_SECS,
      coinbaseValue: blockSubsidy(height, this.#halvingInterval) + fees,
      transactions,
      defaultWitnessCommitment: witnessCommitmentScript(witnessCommitment(transactions.map((t) => t.wtxid), undefined, this.#sha256)),
      witnessCommitmentSource: 'computed',
      merklePath: coinbaseMerklePath(transactions.map((t) => t.txid), this.#sha256),
      sigopLimit: MAX_BLOCK_SIGOPS_COST,
      weightLimit: MAX_BLOCK_WEIGHT,
      longpollId: `${this.tipHashDisplay}-${this.counters.transactionsCreated}`,
      rules: ['csv', '!segwit', 'taproot'],
    };
  }

  #genesisCoinbase(): Uint8Array {
    const tag = utf8('ReserveGrid embedded demo chain');
    return concatBytes(
      new Uint8Array([1, 0, 0, 0, 1]), new Uint8Array(32), new Uint8Array([0xff, 0xff, 0xff, 0xff]),
      compactSize(tag.length + 1), new Uint8Array([tag.length]), tag, new Uint8Array([0xff, 0xff, 0xff, 0xff]),
      new Uint8Array([1]), serializeTxOut({ valueSats: INITIAL_SUBSIDY_SATS, scriptPubKey: new Uint8Array([0x6a]) }),
      new Uint8Array(4),
    );
  }

  #newOutput(txid: Uint8Array, vout: number, valueSats: bigint, kind?: _Kind, keyBytes?: Uint8Array): _Utxo {
    const k: _Kind = kind ?? (this.#randomInt(3) === 0 ? 'p2tr' : 'p2wpkh');
    const key = keyBytes ?? (k === 'p2tr' ? this.#randomBytes(32) : this.#randomPubkey());
    return { key: _outpointKey(txid, vout), txid, vout, valueSats, kind: k, pubkey: k === 'p2wpkh' ? key : null, scriptPubKey: _outputScript(k, key) };
  }

  #randomBytes(length: number): Uint8Array {
    return this.#random.fill(new Uint8Array(length));
  }

  /** Uniform-enough integer in [0, bound) for shaping demo data (modulo bias is irrelevant here). */
  #randomInt(bound: number): number {
    if (bound <= 1) return 0;
    const b = this.#random.fill(this.#u32);
    return ((b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0) % bound;
  }

  /** A compressed public key's shape: 0x02/0x03 ‖ 32 bytes. */
  #randomPubkey(): Uint8Array {
    const key = this.#randomBytes(33);
    key[0] = 0x02 | (key[0]! & 1);
    return key;
  }

  /** DER-looking ECDSA signature + SIGHASH_ALL: 30 44 02 20 r 02 20 s 01 (72 bytes, low r/s). */
  #randomDerSignature(): Uint8Array {
    const r = this.#randomBytes(32);
    const s = this.#randomBytes(32);
    r[0] = (r[0]! & 0x7f) | 0x01;
    s[0] = (s[0]! & 0x3f) | 0x01;
    return concatBytes(new Uint8Array([0x30, 0x44, 0x02, 0x20]), r, new Uint8Array([0x02, 0x20]), s, new Uint8Array([0x01]));
  }
}

// ---- private helpers ----------------------------------------------------------------------------

function _reject(reason: string): EmbeddedSubmitOutcome {
  return { kind: 'rejected', reason };
}

function _outputScript(kind: _Kind, key: Uint8Array): Uint8Array {
  // P2WPKH: OP_0 PUSH20 HASH160(pubkey); P2TR: OP_1 PUSH32 output key (BIP141, BIP341).
  if (kind === 'p2tr') return concatBytes(new Uint8Array([0x51, 0x20]), key);
  return concatBytes(new Uint8Array([0x00, 0x14]), ripemd160(defaultSha256(key)));
}

function _isP2wpkh(script: Uint8Array): boolean {
  return script.length === 22 && script[0] === 0x00 && script[1] === 0x14;
}

/** BIP144 serialization of a spend of `inputs` (empty scriptSig, sequence 0xfffffffd: RBF), version 2, locktime 0. */
function _serializeSpend(
  inputs: readonly _Utxo[],
  outputs: readonly { valueSats: bigint; scriptPubKey: Uint8Array }[],
  witnesses: readonly (readonly Uint8Array[])[],
): { stripped: Uint8Array; full: Uint8Array } {
  const version = new Uint8Array([2, 0, 0, 0]);
  const body = concatBytes(
    compactSize(inputs.length),
    ...inputs.map((u) => concatBytes(u.txid, _le32(u.vout), new Uint8Array([0x00]), new Uint8Array([0xfd, 0xff, 0xff, 0xff]))),
    compactSize(outputs.length),
    ...outputs.map((out) => serializeTxOut(out)),
  );
  const witness = concatBytes(...witnesses.map((items) => concatBytes(compactSize(items.length), ...items.map((item) => concatBytes(compactSize(item.length), item)))));
  const locktime = new Uint8Array(4);
  return {
    stripped: concatBytes(version, body, locktime),
    full: concatBytes(version, new Uint8Array([0x00, 0x01]), body, witness, locktime),
  };
}

function _le32(value: number): Uint8Array {
  return new Uint8Array([value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24]);
}

function _isCoinbase(tx: DecodedTransaction): boolean {
  if (tx.inputs.length !== 1) return false;
  const input = tx.inputs[0]!;
  return input.vout === 0xffffffff && input.prevTxid.every((b) => b === 0);
}

/** IsFinalTx: locktime below 500,000,000 is a height, otherwise a time (BIP113: vs median time past); final inputs override. */
function _isFinal(tx: DecodedTransaction, height: number, medianTimePast: number): boolean {
  const limit = tx.locktime < 500_000_000 ? height : medianTimePast;
  if (tx.locktime < limit) return true;
  return tx.inputs.every((input) => input.sequence === 0xffffffff);
}

/** BIP141: the commitment is the LAST output whose script is ≥ 38 bytes and starts with 6a24aa21a9ed. */
function _witnessCommitmentIndex(coinbase: DecodedTransaction): number {
  for (let i = coinbase.outputs.length - 1; i >= 0; i--) {
    const script = coinbase.outputs[i]!.scriptPubKey;
    if (script.length >= 38 && _startsWith(script, WITNESS_COMMITMENT_HEADER)) return i;
  }
  return -1;
}

function _nextTimes(parent: _BlockEntry, time: number): number[] {
  const times = [...parent.recentTimes, time];
  return times.length > MEDIAN_TIME_SPAN ? times.slice(times.length - MEDIAN_TIME_SPAN) : times;
}

/** Median as Core's GetMedianTimePast: sort, take the middle element (upper middle for even counts). */
function _median(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function _startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

// Hashes are public: no constant-time compare needed.
function _equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function _int(value: number, name: string, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`EmbeddedChain: ${name} must be an integer >= ${min}, got ${value}`);
  return value;
}

function _checkNow(nowMs: number, where: string): void {
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs) || nowMs < 0) throw new RangeError(`${where}: nowMs must be a finite wall-clock time in ms, got ${nowMs}`);
}

/** Bounded little-endian reader: on underflow it sets `ok = false` and returns zeros (never throws). */
class _Reader {
  pos: number;
  ok = true;
  readonly #buf: Uint8Array;
  constructor(buf: Uint8Array, offset: number) {
    this.#buf = buf;
    this.pos = offset;
  }
  remaining(): number {
    return this.#buf.length - this.pos;
  }
  peek(ahead: number): number | undefined {
    return this.#buf[this.pos + ahead];
  }
  skip(n: number): void {
    if (this.remaining() < n) this.ok = false;
    else this.pos += n;
  }
  u8(): number {
    if (!this.ok || this.remaining() < 1) return this.#fail();
    return this.#buf[this.pos++]!;
  }
  u32(): number {
    if (!this.ok || this.remaining() < 4) return this.#fail();
    const b = this.#buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }
  u64(): bigint {
    const lo = this.u32();
    const hi = this.u32();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  /** CompactSize used as a count of items at least `itemBytesMin` long each: bounded by what is left. */
  count(itemBytesMin: number): number {
    const first = this.u8();
    let n: number;
    if (first < 0xfd) n = first;
    else if (first === 0xfd) n = this.u8() | (this.u8() << 8);
    else if (first === 0xfe) n = this.u32();
    else {
      this.u64();
      return this.#fail();
    }
    if (!this.ok || n * itemBytesMin > this.remaining()) return this.#fail();
    return n;
  }
  bytes(n: number): Uint8Array {
    if (!this.ok || this.remaining() < n) {
      this.#fail();
      return new Uint8Array(0);
    }
    const out = this.#buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  #fail(): number {
    this.ok = false;
    return 0;
  }
}
