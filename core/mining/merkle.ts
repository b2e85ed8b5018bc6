// Coinbase txid and merkle root (SV2.md §5.4). Every hash here is 32 raw bytes in Bitcoin's
// internal order: nothing is reversed, and SV1's 4-byte word swap does not exist in SV2.
import { concatBytes } from '../bytes.ts';
import { defaultSha256, fastSha256d, sha256d, type Sha256, type Sha256d } from './hash.ts';
import { merkleFold64 } from './sha256d64.ts';

/**
 * txid of the stripped coinbase assembled from a job's pieces:
 * SHA256d(coinbase_tx_prefix ‖ extranonce_prefix ‖ extranonce ‖ coinbase_tx_suffix). For a
 * standard channel pass the channel's full extranonce (prefix) and an empty `extranonce`.
 */
export function coinbaseTxid(
  coinbaseTxPrefix: Uint8Array,
  extranoncePrefix: Uint8Array,
  extranonce: Uint8Array,
  coinbaseTxSuffix: Uint8Array,
  sha256: Sha256 = defaultSha256,
): Uint8Array {
  return sha256d(concatBytes(coinbaseTxPrefix, extranoncePrefix, extranonce, coinbaseTxSuffix), sha256);
}

/**
 * root = fold(txid, path): root = SHA256d(root ‖ node); path[0] is the leaf-level sibling.
 * With the default hash this runs on the allocation-free 64-byte double SHA-256
 * (sha256d64.ts: ~1.8× noble's sha256d on Node, ~2.8× on Deno, and faster than node:crypto's
 * createHash, whose per-call cost dominates at 64 bytes; docs/performance.md). An injected
 * hash (e.g. Bun's native SHA-256, faster still) is used as given.
 */
export function merkleRootFromPath(coinbaseTxid: Uint8Array, merklePath: readonly Uint8Array[], sha256: Sha256 = defaultSha256): Uint8Array {
  if (coinbaseTxid.length !== 32) throw new RangeError(`merkleRootFromPath: coinbaseTxid must be 32 bytes, got ${coinbaseTxid.length}`);
  if (sha256 === defaultSha256) {
    merklePath.forEach((node, i) => {
      if (node.length !== 32) throw new RangeError(`merkleRootFromPath: merklePath[${i}] must be 32 bytes, got ${node.length}`);
    });
    // A fresh array even for an empty path, so the result never aliases the caller's txid.
    return merkleFold64(coinbaseTxid, merklePath, new Uint8Array(32));
  }
  let root = coinbaseTxid;
  const pair = new Uint8Array(64);
  merklePath.forEach((node, i) => {
    if (node.length !== 32) throw new RangeError(`merkleRootFromPath: merklePath[${i}] must be 32 bytes, got ${node.length}`);
    pair.set(root, 0);
    pair.set(node, 32);
    root = sha256d(pair, sha256);
  });
  return root;
}

/**
 * merkleRootFromPath with a double hash (core/mining/hash.ts resolveSha256d rule), written into
 * `out` (may alias `coinbaseTxid`). The pure-TS `fastSha256d` folds on state words
 * (merkleFold64); any other (a provider's native one) goes level by level through one 64-byte
 * pair buffer.
 */
export function merkleRootWith(coinbaseTxid: Uint8Array, merklePath: readonly Uint8Array[], hash: Sha256d, out: Uint8Array = new Uint8Array(32)): Uint8Array {
  if (coinbaseTxid.length !== 32) throw new RangeError(`merkleRootWith: coinbaseTxid must be 32 bytes, got ${coinbaseTxid.length}`);
  if (hash === fastSha256d) return merkleFold64(coinbaseTxid, merklePath, out);
  const pair = new Uint8Array(64);
  pair.set(coinbaseTxid, 0);
  for (let i = 0; i < merklePath.length; i++) {
    const node = merklePath[i]!;
    if (node.length !== 32) throw new RangeError(`merkleRootWith: merklePath[${i}] must be 32 bytes, got ${node.length}`);
    pair.set(node, 32);
    hash(pair, pair.subarray(0, 32));
  }
  out.set(pair.subarray(0, 32));
  return out;
}

/**
 * The merkle path of the coinbase (leaf 0) given the other transactions' txids in block order
 * (internal byte order). This is what NewTemplate.merkle_path carries and what a job engine
 * computes from getblocktemplate. Bitcoin duplicates the last node of an odd level.
 */
export function coinbaseMerklePath(txids: readonly Uint8Array[], sha256: Sha256 = defaultSha256): Uint8Array[] {
  const path: Uint8Array[] = [];
  // Level 0 = [coinbase slot, ...txids]; the coinbase's running hash is never needed
  // because the path only holds siblings, so track the level without it.
  let level = txids.slice();
  while (level.length > 0) {
    path.push(level[0]!);
    // Next level: hash pairs of (level) excluding the coinbase branch's own pair.
    const next: Uint8Array[] = [];
    for (let i = 1; i < level.length; i += 2) {
      const left = level[i]!;
      const right = level[i + 1] ?? left;
      next.push(sha256d(concatBytes(left, right), sha256));
    }
    level = next;
  }
  return path;
}
