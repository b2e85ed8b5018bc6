// Synthetic block templates for the policy tests and the verdict bench. Every transaction is a
// real, parseable serialization (1 input, 1 output), hashed with noble's SHA256d; the merkle path
// and witness commitment are computed with core/template's helpers, which test/unit/template.test.ts
// checks against btcd's recorded data, so a template built here is internally consistent the way
// a node's would be.
import { concatBytes, hexToBytes } from '../../core/bytes.ts';
import { sha256d } from '../../core/mining/hash.ts';
import { targetFromNbits } from '../../core/mining/target.ts';
import type { PolicySettings } from '../../core/policy/engine.ts';
import type { ChainView } from '../../core/policy/types.ts';
import {
  coinbaseMerklePath,
  witnessCommitment,
  witnessCommitmentScript,
  type BlockTemplate,
  type TemplateTransaction,
} from '../../core/template/template.ts';

/** P2WPKH of the BIP173 example key (the config example's payout script). */
export const POOL_SCRIPT = hexToBytes('0014751e76e8199196d454941c45d1b3a323f1433bd6');
export const OTHER_SCRIPT = hexToBytes('00141111111111111111111111111111111111111111');

const le32 = (n: number): Uint8Array => new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]);
const le64 = (v: bigint): Uint8Array => {
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
};

/** version 2 ‖ 1 input (prevout = sha256d(seed), index 0, scriptSig of `scriptSigBytes` (< 253)
 * zero bytes) ‖ 1 output ‖ locktime 0. */
export function makeTx(seed: number, fee: bigint, script: Uint8Array = OTHER_SCRIPT, depends: number[] = [], scriptSigBytes = 0): TemplateTransaction {
  const prevout = sha256d(le32(seed));
  const data = concatBytes(le32(2), new Uint8Array([1]), prevout, le32(0), new Uint8Array([scriptSigBytes]), new Uint8Array(scriptSigBytes), le32(0xffffffff), new Uint8Array([1]), le64(10_000n), new Uint8Array([script.length]), script, le32(0));
  const txid = sha256d(data);
  return { data, txid, wtxid: txid, fee, sigops: 4, weight: data.length * 4, depends };
}

export const PREV_HASH = sha256d(new TextEncoder().encode('tip'));
export const OLD_HASH = sha256d(new TextEncoder().encode('old tip'));
export const NBITS = 0x207fffff;
export const HEIGHT = 1000;
const SUBSIDY_AT_1000 = 5_000_000_000n; // 210,000-block halvings: height 1,000 is era 0

export interface TemplateOptions {
  readonly fees?: readonly bigint[];
  readonly transactions?: readonly TemplateTransaction[];
  readonly templateId?: bigint;
  readonly height?: number;
  readonly prevHash?: Uint8Array;
  readonly nbits?: number;
  readonly coinbaseValue?: bigint;
}

export function makeTemplate(options: TemplateOptions = {}): BlockTemplate {
  const txs = options.transactions ?? (options.fees ?? [1000n, 2000n]).map((fee, i) => makeTx(i + 1, fee));
  const fees = txs.reduce((s, t) => s + t.fee, 0n);
  const nbits = options.nbits ?? NBITS;
  return {
    templateId: options.templateId ?? 1n,
    height: options.height ?? HEIGHT,
    version: 0x20000000,
    prevHash: options.prevHash ?? PREV_HASH,
    nbits,
    target: targetFromNbits(nbits) ?? 0n,
    curtime: 1_700_000_000,
    mintime: 1_699_999_000,
    maxtime: 1_700_007_200,
    coinbaseValue: options.coinbaseValue ?? SUBSIDY_AT_1000 + fees,
    transactions: txs,
    defaultWitnessCommitment: witnessCommitmentScript(witnessCommitment(txs.map((t) => t.wtxid))),
    witnessCommitmentSource: 'computed',
    merklePath: coinbaseMerklePath(txs.map((t) => t.txid)),
    sigopLimit: 80_000,
    weightLimit: 4_000_000,
    longpollId: null,
    rules: ['segwit'],
  };
}

export const CHAIN: ChainView = { tipHash: PREV_HASH, tipHeight: HEIGHT - 1, recentHashes: [OLD_HASH], expectedNbits: NBITS };

export function makeSettings(over: Partial<PolicySettings> = {}): PolicySettings {
  return {
    feeTiers: [],
    feeTierRule: 'fixed',
    feeTier: '',
    blocklistTxids: [],
    blocklistScripts: [],
    maxTemplateWeight: 4_000_000,
    maxTemplateSigops: 80_000,
    subsidyHalvingInterval: 210_000,
    verifyCommitments: false,
    payout: [{ scriptPubKey: POOL_SCRIPT, weight: 1 }],
    poolTag: 'ReserveGrid',
    ...over,
  };
}
