// What a pool does with a NewTemplate to find and submit a block, written independently of
// core/mining and core/template (noble's SHA-256 and plain concatenation only), so the Template
// Provider's conformance and integration tests check it against a second implementation.
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes } from '../../core/bytes.ts';
import type { NewTemplate, SetNewPrevHashTdp } from '../../core/codec/messages/template-distribution.ts';
import { POOL_SCRIPT } from './policy-fixtures.ts';

export const dsha = (b: Uint8Array): Uint8Array => sha256(sha256(b));
export const le32 = (n: number): Uint8Array => new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]);
export const le64 = (v: bigint): Uint8Array => {
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
};
export const varint = (n: number): Uint8Array => (n < 0xfd ? new Uint8Array([n]) : new Uint8Array([0xfd, n & 0xff, n >>> 8]));

/** Bitcoin merkle root over a full txid list (odd levels duplicate their last node). */
export function merkleRootOf(txids: Uint8Array[]): Uint8Array {
  let level = txids;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(dsha(concatBytes(level[i]!, level[i + 1] ?? level[i]!)));
    level = next;
  }
  return level[0]!;
}

export function rootFromPath(leaf: Uint8Array, path: readonly Uint8Array[]): Uint8Array {
  let node = leaf;
  for (const sibling of path) node = dsha(concatBytes(node, sibling));
  return node;
}

/** The coinbase a pool builds from a NewTemplate (SRI channels_sv2 factory layout): returns
 * the with-witness serialization and the stripped one (whose SHA256d is the txid). */
export function poolCoinbase(nt: NewTemplate, extranonce: Uint8Array): { full: Uint8Array; stripped: Uint8Array } {
  const scriptSig = concatBytes(nt.coinbasePrefix, new Uint8Array([extranonce.length]), extranonce);
  const payout = concatBytes(le64(nt.coinbaseTxValueRemaining), varint(POOL_SCRIPT.length), POOL_SCRIPT);
  const body = concatBytes(
    new Uint8Array([1]), new Uint8Array(32), new Uint8Array([0xff, 0xff, 0xff, 0xff]),
    varint(scriptSig.length), scriptSig, le32(nt.coinbaseTxInputSequence),
    varint(1 + nt.coinbaseTxOutputsCount), payout, nt.coinbaseTxOutputs,
  );
  const version = le32(nt.coinbaseTxVersion);
  const lock = le32(nt.coinbaseTxLocktime);
  return {
    full: concatBytes(version, new Uint8Array([0x00, 0x01]), body, new Uint8Array([0x01, 0x20]), new Uint8Array(32), lock),
    stripped: concatBytes(version, body, lock),
  };
}

export function headerOf(nt: NewTemplate, prev: SetNewPrevHashTdp, merkleRoot: Uint8Array, nonce: number): Uint8Array {
  return concatBytes(le32(nt.version), prev.prevHash, merkleRoot, le32(prev.headerTimestamp), le32(prev.nBits), le32(nonce));
}

export const leInt = (b: Uint8Array): bigint => {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
};

/** The first nonce (from `start`) whose header meets (or, with `meets` false, misses) the target. */
export function findNonce(nt: NewTemplate, prev: SetNewPrevHashTdp, root: Uint8Array, meets: boolean, start = 0): number {
  const target = leInt(prev.target);
  for (let nonce = start; nonce < start + 10_000; nonce++) {
    if ((leInt(dsha(headerOf(nt, prev, root, nonce))) <= target) === meets) return nonce;
  }
  throw new Error('no nonce found in 10,000 tries (regtest bits should give ~50%)');
}

