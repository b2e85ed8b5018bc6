// Job factory (SPEC §4, SV2.md §5.4): BlockTemplate + payout outputs + pool tag → coinbase
// pieces for jobs, cached per full-extranonce length, and the block for a winning share.
//
// One JobFactory per gateway; one JobTemplate per template. Every channel whose full extranonce
// (server prefix + rollable bytes) has the same length shares one CoinbaseParts object, so a
// prevhash switch to 10,000 extended channels builds the coinbase once per distinct length, and
// NewExtendedMiningJob messages reference the same prefix/suffix arrays.
//
// Coinbase outputs: the pool payout outputs (config mining.payout, value = subsidy + fees split
// by weight, remainder to the first output) followed by the template's outputs, which for a GBT
// template is the BIP141 witness commitment (value 0). Jobs carry the STRIPPED coinbase (txid
// form, SV2.md §9.10); blocks carry the full one with the witness reserved value.
import type { Config } from '../config/schema.ts';
import { buildCoinbase, coinbaseWithWitness, serializeTxOut, type CoinbaseParts, type TxOut } from '../mining/coinbase.ts';
import { payoutScript } from '../mining/address.ts';
import { defaultSha256, resolveSha256d, type Sha256, type Sha256d } from '../mining/hash.ts';
import { bip34HeightPush, serializeBlock, type BlockTemplate } from '../template/template.ts';

/** A payout script and its relative weight (config mining.payout). */
export interface PayoutScript {
  readonly scriptPubKey: Uint8Array;
  readonly weight: number;
}

export function payoutFromConfig(config: Pick<Config, 'mining'>): PayoutScript[] {
  return config.mining.payout.map((p) => ({ scriptPubKey: payoutScript(p), weight: p.weight }));
}

/** NewTemplate fields that a getblocktemplate result has no place for (SV2.md §5.4, §6). */
export interface CoinbaseOverrides {
  /** BIP34 scriptSig prefix; default bip34HeightPush(height). */
  readonly scriptSigPrefix?: Uint8Array;
  /** Default 2. */
  readonly coinbaseTxVersion?: number;
  /** Default 0xffffffff. */
  readonly inputSequence?: number;
  /** Default 0. */
  readonly locktime?: number;
}

/** The cached coinbase of one full-extranonce length, with a scratch buffer for share hashing. */
export interface JobCoinbase {
  readonly parts: CoinbaseParts;
  /** prefix ‖ extranonce slot ‖ suffix (stripped); the slot is overwritten per share. */
  readonly scratch: Uint8Array;
  /** Offset of the extranonce slot in `scratch` (= parts.prefix.length). */
  readonly extranonceOffset: number;
}

export class JobTemplate {
  readonly template: BlockTemplate;
  readonly templateId: bigint;
  readonly height: number;
  /** 32 bytes, internal order: SetNewPrevHash.prev_hash. */
  readonly prevHash: Uint8Array;
  readonly nbits: number;
  /** Block version (U32 bit pattern); jobs carry it, shares may roll bits in 0x1FFFFFE0. */
  readonly version: number;
  /** SetNewPrevHash.min_ntime: max(curtime, mintime) (SRI sends the TDP header_timestamp). */
  readonly minNtime: number;
  /** Largest ntime the node accepts (BIP23 maxtime), or null. */
  readonly maxNtime: number | null;
  /** Network target from nbits: a header hash ≤ this is a block (SV2.md §5.5). */
  readonly networkTarget: bigint;
  readonly merklePath: readonly Uint8Array[];
  readonly poolOutputs: readonly TxOut[];
  readonly #input: Omit<Parameters<typeof buildCoinbase>[0], 'extranonceBytes'>;
  readonly #byLength = new Map<number, JobCoinbase>();

  constructor(template: BlockTemplate, input: Omit<Parameters<typeof buildCoinbase>[0], 'extranonceBytes'>) {
    this.template = template;
    this.templateId = template.templateId;
    this.height = template.height;
    this.prevHash = template.prevHash;
    this.nbits = template.nbits;
    this.version = template.version >>> 0;
    this.minNtime = Math.max(template.curtime, template.mintime);
    this.maxNtime = template.maxtime;
    this.networkTarget = template.target;
    this.merklePath = template.merklePath;
    this.poolOutputs = input.poolOutputs;
    this.#input = input;
    // Build one length now so configuration errors (tag or scriptSig too long) surface at
    // addTemplate, not in the middle of a broadcast.
    this.coinbase(0);
  }

  /** Coinbase pieces for channels with this full extranonce length (0..32); cached. */
  coinbaseParts(fullExtranonceBytes: number): CoinbaseParts {
    return this.coinbase(fullExtranonceBytes).parts;
  }

  /** Cached coinbase with its share-hashing scratch buffer. */
  coinbase(fullExtranonceBytes: number): JobCoinbase {
    let entry = this.#byLength.get(fullExtranonceBytes);
    if (entry === undefined) {
      const parts = buildCoinbase({ ...this.#input, extranonceBytes: fullExtranonceBytes });
      const scratch = new Uint8Array(parts.prefix.length + fullExtranonceBytes + parts.suffix.length);
      scratch.set(parts.prefix, 0);
      scratch.set(parts.suffix, parts.prefix.length + fullExtranonceBytes);
      entry = { parts, scratch, extranonceOffset: parts.prefix.length };
      this.#byLength.set(fullExtranonceBytes, entry);
    }
    return entry;
  }

  /** The full coinbase (with witness) and the serialized block for a winning header. */
  assembleBlock(header: Uint8Array, fullExtranonce: Uint8Array): { coinbase: Uint8Array; block: Uint8Array } {
    const coinbase = coinbaseWithWitness(this.coinbaseParts(fullExtranonce.length), fullExtranonce);
    return { coinbase, block: serializeBlock(header, coinbase, this.template.transactions) };
  }
}

export class JobFactory {
  readonly poolTag: string;
  readonly minerTag: string;
  readonly sha256: Sha256;
  /**
   * The double hash channels use for merkle roots and header hashes (core/mining/hash.ts
   * resolveSha256d: `sha256d` if given, else `sha256` if given, else the pure-TS one).
   */
  readonly sha256d: Sha256d;
  readonly #payout: readonly PayoutScript[];
  #current: JobTemplate | null = null;

  constructor(options: { payout: readonly PayoutScript[]; poolTag?: string; minerTag?: string; sha256?: Sha256; sha256d?: Sha256d }) {
    const { payout } = options;
    if (!Array.isArray(payout) || payout.length === 0) throw new RangeError('JobFactory: payout must list at least one output');
    payout.forEach((p, i) => {
      if (!(p.scriptPubKey instanceof Uint8Array) || p.scriptPubKey.length === 0) throw new TypeError(`JobFactory: payout[${i}].scriptPubKey must be non-empty bytes`);
      if (!Number.isInteger(p.weight) || p.weight < 1) throw new RangeError(`JobFactory: payout[${i}].weight must be an integer >= 1, got ${p.weight}`);
    });
    this.#payout = payout.slice();
    this.poolTag = options.poolTag ?? '';
    this.minerTag = options.minerTag ?? '';
    this.sha256 = options.sha256 ?? defaultSha256;
    this.sha256d = resolveSha256d(options);
  }

  /** The latest template (new channels get their first job from it), or null before the first. */
  get current(): JobTemplate | null {
    return this.#current;
  }

  /** Wrap a template; it becomes `current`. Throws RangeError if the coinbase cannot be built. */
  addTemplate(template: BlockTemplate, overrides: CoinbaseOverrides = {}): JobTemplate {
    const job = new JobTemplate(template, {
      version: overrides.coinbaseTxVersion ?? 2,
      scriptSigPrefix: overrides.scriptSigPrefix ?? bip34HeightPush(template.height),
      poolTag: this.poolTag,
      minerTag: this.minerTag,
      inputSequence: overrides.inputSequence ?? 0xffffffff,
      poolOutputs: splitReward(template.coinbaseValue, this.#payout),
      templateOutputs: serializeTxOut({ valueSats: 0n, scriptPubKey: template.defaultWitnessCommitment }, 'witnessCommitment'),
      templateOutputsCount: 1,
      locktime: overrides.locktime ?? 0,
    });
    this.#current = job;
    return job;
  }
}

/** Split `value` by weight (floor each; the remainder goes to the first output). */
export function splitReward(value: bigint, payout: readonly PayoutScript[]): TxOut[] {
  const total = BigInt(payout.reduce((s, p) => s + p.weight, 0));
  const outs = payout.map((p) => ({ valueSats: (value * BigInt(p.weight)) / total, scriptPubKey: p.scriptPubKey }));
  const assigned = outs.reduce((s, o) => s + o.valueSats, 0n);
  outs[0] = { valueSats: outs[0]!.valueSats + (value - assigned), scriptPubKey: outs[0]!.scriptPubKey };
  return outs;
}
