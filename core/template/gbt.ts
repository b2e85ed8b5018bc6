// getblocktemplate JSON → BlockTemplate (SPEC §4; BIP22, BIP23, BIP9 GBT changes, BIP141/BIP145).
// Pure: the caller (adapters/bitcoind-rpc.ts) does the I/O. Never throws on any input: a result
// that does not validate is a ProtocolError `invalid-block-template` whose `field` is the JSON
// path (e.g. `transactions.3.txid`). Only misuse (templateId not a U64 bigint) throws.
//
// Byte order (SV2.md §5.5): GBT's `previousblockhash`, `transactions[].txid` and
// `transactions[].hash` are DISPLAY hex (reversed); they are reversed here into internal order.
// `data`, `default_witness_commitment` and the coinbase scripts are raw bytes (not reversed).
// `target` is a big-endian number in hex.
//
// Where Bitcoin Core and btcd (v0.26.2, rpcserver.go blockTemplateResult) differ:
//  1. default_witness_commitment — Core: the whole 38-byte output script `6a24aa21a9ed‖c`, present
//     whenever segwit is active (even with no transactions). btcd: only the 32-byte commitment
//     `c` (mining.AddWitnessCommitment returns the hash, not the script), and only when a template
//     transaction has witness data. Both forms are accepted; the result is always the script,
//     computed by us when absent, and a node-given one must equal our computation (a cheap check
//     that our wtxid byte order and merkle code agree with the node's).
//  2. bits — Core: 8 hex digits, zero-padded. btcd: strconv.FormatInt(bits, 16), unpadded.
//     Accepted: 1–8 hex digits.
//  3. rules / vbavailable / vbrequired — Core only (BIP9). btcd omits them: rules = [].
//     (Core also REQUIRES the request to carry rules ["segwit"]; btcd ignores it.)
//  4. sigoplimit / weightlimit / sizelimit — both send them; absent → consensus defaults.
//  5. Very old Core (< 0.13) sent `hash` = txid and no `txid`: not supported (no segwit).
//  6. target — both send CompactToBig(bits) as 64 hex digits; it must equal the nbits expansion
//     (block detection uses nbits, SV2.md §5.5, so a disagreement is refused, not guessed at).
import * as v from 'valibot';
import { bytesToHex, hexToBytes, reversed } from '../bytes.ts';
import { err, ok, protocolError, type ProtocolError, type Result } from '../errors.ts';
import { defaultSha256, sha256d, type Sha256 } from '../mining/hash.ts';
import { targetFromNbits } from '../mining/target.ts';
import {
  MAX_BLOCK_SIGOPS_COST,
  MAX_BLOCK_WEIGHT,
  WITNESS_COMMITMENT_HEADER,
  coinbaseMerklePath,
  witnessCommitment,
  witnessCommitmentScript,
  type BlockTemplate,
  type TemplateTransaction,
} from './template.ts';

export interface ParseGbtOptions {
  /** Our id for this template (a counter): U64 bigint. */
  readonly templateId: bigint;
  /**
   * Also check wtxid = SHA256d(data) for every transaction, and txid = wtxid for those without
   * witness data. Hashes every byte of the template (≈ 10 ms per MB with noble), so it is off by
   * default: the witness commitment check already catches byte-order mistakes cheaply. Tests on.
   */
  readonly verifyTransactionHashes?: boolean;
  readonly sha256?: Sha256;
}

const U64_MAX = (1n << 64n) - 1n;

// --- schema ----------------------------------------------------------------------------------

const hash32Hex = v.pipe(v.string('must be a string'), v.regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits'));
const evenHex = v.pipe(v.string('must be a string'), v.regex(/^(?:[0-9a-fA-F]{2})+$/, 'must be non-empty hex with an even number of digits'));
const count = v.pipe(v.number('must be a number'), v.safeInteger('must be an integer'), v.minValue(0, 'must be >= 0'));
const u32Seconds = v.pipe(count, v.maxValue(0xffffffff, 'must fit in a U32'));

const gbtTransactionSchema = v.looseObject({
  data: evenHex,
  txid: hash32Hex,
  hash: hash32Hex,
  fee: count,
  sigops: count,
  weight: count,
  depends: v.optional(v.array(count, 'must be an array'), []),
});

const gbtSchema = v.looseObject({
  // int32 in both nodes' JSON; a U32 bit pattern in the header.
  version: v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(-(2 ** 31), 'must be >= -2^31'), v.maxValue(2 ** 32 - 1, 'must be < 2^32')),
  previousblockhash: hash32Hex,
  transactions: v.array(gbtTransactionSchema, 'must be an array'),
  coinbasevalue: count,
  bits: v.pipe(v.string('must be a string'), v.regex(/^[0-9a-fA-F]{1,8}$/, 'must be 1 to 8 hex digits')),
  target: v.optional(hash32Hex),
  curtime: u32Seconds,
  mintime: v.optional(u32Seconds),
  maxtime: v.optional(u32Seconds),
  height: v.pipe(count, v.minValue(1, 'must be >= 1'), v.maxValue(0x7fffffff, 'must be < 2^31')),
  sigoplimit: v.optional(count),
  weightlimit: v.optional(count),
  default_witness_commitment: v.optional(
    v.pipe(v.string('must be a string'), v.regex(/^(?:6a24aa21a9ed)?[0-9a-fA-F]{64}$/i, 'must be a 32-byte commitment or a 6a24aa21a9ed… script in hex')),
  ),
  longpollid: v.optional(v.string('must be a string')),
  rules: v.optional(v.array(v.string('must be a string'), 'must be an array')),
});

type GbtJson = v.InferOutput<typeof gbtSchema>;

// --- parse -----------------------------------------------------------------------------------

export function parseGetBlockTemplate(json: unknown, options: ParseGbtOptions): Result<BlockTemplate> {
  const { templateId } = options;
  if (typeof templateId !== 'bigint' || templateId < 0n || templateId > U64_MAX) {
    throw new TypeError(`parseGetBlockTemplate: templateId must be a U64 bigint, got ${String(templateId)}`);
  }
  const sha256 = options.sha256 ?? defaultSha256;
  const checked = v.safeParse(gbtSchema, json);
  if (!checked.success) {
    const issue = checked.issues[0];
    const path = v.getDotPath(issue) ?? '(root)';
    return invalid(path, `${path}: ${issue.message}${describeInput(issue.input)}`);
  }
  const gbt: GbtJson = checked.output;

  const nbits = parseInt(gbt.bits, 16);
  const target = targetFromNbits(nbits);
  if (target === null) return invalid('bits', `bits: 0x${gbt.bits} is not a valid compact target`);
  if (gbt.target !== undefined && BigInt(`0x${gbt.target}`) !== target) {
    return invalid('target', `target: ${gbt.target} disagrees with bits 0x${gbt.bits}`);
  }

  const transactions: TemplateTransaction[] = [];
  for (let i = 0; i < gbt.transactions.length; i++) {
    const tx = gbt.transactions[i]!;
    const where = `transactions.${i}`;
    for (const d of tx.depends) {
      // 1-based indexes into the template's list, so an earlier tx of this one has index 1..i.
      if (d < 1 || d > i) return invalid(`${where}.depends`, `${where}.depends: ${d} is not an earlier transaction (1..${i})`);
    }
    const entry: TemplateTransaction = {
      data: hexToBytes(tx.data),
      txid: reversed(hexToBytes(tx.txid)),
      wtxid: reversed(hexToBytes(tx.hash)),
      fee: BigInt(tx.fee),
      sigops: tx.sigops,
      weight: tx.weight,
      depends: tx.depends,
    };
    if (options.verifyTransactionHashes) {
      const problem = checkTransactionHashes(entry, sha256);
      if (problem !== null) return invalid(`${where}.${problem.field}`, `${where}.${problem.field}: ${problem.message}`);
    }
    transactions.push(entry);
  }

  // BIP141 commitment: computed always; the node's (if any) must agree (difference 1 above).
  const computed = witnessCommitmentScript(witnessCommitment(transactions.map((t) => t.wtxid), undefined, sha256));
  let source: 'node' | 'computed' = 'computed';
  if (gbt.default_witness_commitment !== undefined) {
    let given: Uint8Array = hexToBytes(gbt.default_witness_commitment);
    if (given.length === 32) given = witnessCommitmentScript(given);
    if (!equalPublic(given, computed)) {
      return invalid('default_witness_commitment', `default_witness_commitment: node sent ${gbt.default_witness_commitment}, transactions commit to ${bytesToHex(computed.subarray(WITNESS_COMMITMENT_HEADER.length))}`);
    }
    source = 'node';
  }

  return ok({
    templateId,
    height: gbt.height,
    version: gbt.version >>> 0,
    prevHash: reversed(hexToBytes(gbt.previousblockhash)),
    nbits,
    target,
    curtime: gbt.curtime,
    mintime: gbt.mintime ?? gbt.curtime,
    maxtime: gbt.maxtime ?? null,
    coinbaseValue: BigInt(gbt.coinbasevalue),
    transactions,
    defaultWitnessCommitment: computed,
    witnessCommitmentSource: source,
    merklePath: coinbaseMerklePath(transactions.map((t) => t.txid), sha256),
    sigopLimit: gbt.sigoplimit ?? MAX_BLOCK_SIGOPS_COST,
    weightLimit: gbt.weightlimit ?? MAX_BLOCK_WEIGHT,
    longpollId: gbt.longpollid ?? null,
    rules: gbt.rules ?? [],
  });
}

/**
 * wtxid must be SHA256d(data). For a transaction without the segwit marker (byte 4 = 0x00 and a
 * nonzero flag, BIP144) the stripped form is the data itself, so txid must equal wtxid too.
 * (Witness transactions' txids are covered by the node accepting the merkle root.)
 */
function checkTransactionHashes(tx: TemplateTransaction, sha256: Sha256): { field: string; message: string } | null {
  const wtxid = sha256d(tx.data, sha256);
  if (!equalPublic(wtxid, tx.wtxid)) return { field: 'hash', message: `is not SHA256d(data) (${bytesToHex(reversed(wtxid))})` };
  const hasWitness = tx.data.length > 5 && tx.data[4] === 0x00 && tx.data[5] !== 0x00;
  if (!hasWitness && !equalPublic(tx.txid, tx.wtxid)) return { field: 'txid', message: 'differs from hash for a transaction without witness data' };
  return null;
}

function invalid(field: string, message: string): { ok: false; error: ProtocolError } {
  return err(protocolError('invalid-block-template', 'remote', message, field));
}

function describeInput(input: unknown): string {
  if (input === undefined) return ' (missing)';
  const text = JSON.stringify(input) ?? String(input);
  return `, got ${text.length > 80 ? `${text.slice(0, 80)}…` : text}`;
}

// Hashes are public: no need for the constant-time compare of core/bytes.ts.
function equalPublic(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
