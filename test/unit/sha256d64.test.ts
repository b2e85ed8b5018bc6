// core/mining/sha256d64.ts (allocation-free double SHA-256 of merkle nodes and headers) against
// @noble/hashes (random inputs, seeded) and against recorded chain data: mainnet block 100000's
// merkle root and block hash (test/fixtures/mainnet-block-100000.json), and btcd's regtest block
// with 3 transactions (odd level).
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, propertyParams, test } from '../harness.ts';
import { assert, assertHex } from '../assert.ts';
import { bytesToHex, concatBytes, hexToBytes, reversed } from '../../core/bytes.ts';
import { merkleFold64, sha256d64, sha256d80, sha256dPair } from '../../core/mining/sha256d64.ts';
import { coinbaseMerklePath, merkleRootFromPath } from '../../core/mining/merkle.ts';
import { header80 } from '../../core/mining/header.ts';

const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as T;
const internal = (displayHex: string): Uint8Array => reversed(hexToBytes(displayHex));
const mainnet = fixture<{ tx: string[]; merkleroot: string; hash: string; version: number; previousblockhash: string; time: number; bits: string; nonce: number }>(
  'mainnet-block-100000.json',
);
const block3 = fixture<{ tx: string[]; merkleroot: string }>('btcd-block-3tx.json');
const nobleD = (data: Uint8Array): string => bytesToHex(sha256(sha256(data)));

describe('sha256d64 against @noble/hashes', () => {
  test('random 64-byte inputs (seeded)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), (data) => {
        assert.equal(bytesToHex(sha256d64(data)), nobleD(data));
        assert.equal(bytesToHex(sha256dPair(data.slice(0, 32), data.slice(32))), nobleD(data));
      }),
      propertyParams(500),
    );
  });
  test('edge inputs: all zero, all 0xff, alternating', () => {
    for (const fill of [0x00, 0xff, 0x80, 0x7f]) {
      const data = new Uint8Array(64).fill(fill);
      assert.equal(bytesToHex(sha256d64(data)), nobleD(data), `fill ${fill}`);
    }
  });
  test('random 80-byte headers (seeded)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 80, maxLength: 80 }), (data) => {
        assert.equal(bytesToHex(sha256d80(data)), nobleD(data));
      }),
      propertyParams(500),
    );
  });
  test('results do not depend on earlier calls (module scratch state is fully reset)', () => {
    const a = new Uint8Array(64).fill(1);
    const first = bytesToHex(sha256d64(a));
    sha256d80(new Uint8Array(80).fill(9));
    merkleFold64(new Uint8Array(32).fill(3), [new Uint8Array(32).fill(4), new Uint8Array(32).fill(5)]);
    assert.equal(bytesToHex(sha256d64(a)), first);
  });
  test('writes into a caller array, which may alias the input', () => {
    const data = new Uint8Array(64).map((_, i) => i);
    const expected = nobleD(data);
    const out = new Uint8Array(40).fill(0xee);
    assert.equal(sha256d64(data, out), out);
    assert.equal(bytesToHex(out.subarray(0, 32)), expected);
    assert.equal(out[32], 0xee, 'bytes after 32 untouched');
    const aliased = data.slice();
    sha256d64(aliased, aliased);
    assert.equal(bytesToHex(aliased.subarray(0, 32)), expected);
  });
  test('wrong lengths are RangeErrors naming the argument', () => {
    assert.throws(() => sha256d64(new Uint8Array(63)), (e: unknown) => e instanceof RangeError && /data must be 64 bytes, got 63/.test(e.message));
    assert.throws(() => sha256d64(new Uint8Array(64), new Uint8Array(31)), /out must be/);
    assert.throws(() => sha256dPair(new Uint8Array(32), new Uint8Array(33)), /right must be 32 bytes, got 33/);
    assert.throws(() => sha256d80(new Uint8Array(81)), /header must be 80 bytes, got 81/);
    assert.throws(() => merkleFold64(new Uint8Array(32), [new Uint8Array(32), new Uint8Array(5)]), /path\[1\] must be 32 bytes, got 5/);
  });
});

describe('sha256d64 on recorded chain data', () => {
  test('mainnet block 100000: merkle tree of the 4 txids built with sha256dPair equals the header root', () => {
    const [t0, t1, t2, t3] = mainnet.tx.map(internal);
    const root = sha256dPair(sha256dPair(t0!, t1!), sha256dPair(t2!, t3!));
    assertHex(reversed(root), mainnet.merkleroot, 'merkle root');
  });
  test('mainnet block 100000: merkleFold64 over the coinbase path equals the header root', () => {
    const [coinbase, ...rest] = mainnet.tx.map(internal);
    const path = coinbaseMerklePath(rest);
    assertHex(reversed(merkleFold64(coinbase!, path)), mainnet.merkleroot, 'merkleFold64');
    // merkleRootFromPath's default-hash fast path and its injected-hash path agree.
    assertHex(reversed(merkleRootFromPath(coinbase!, path)), mainnet.merkleroot, 'merkleRootFromPath default');
    assertHex(reversed(merkleRootFromPath(coinbase!, path, (d) => sha256(d))), mainnet.merkleroot, 'merkleRootFromPath injected');
  });
  test('mainnet block 100000: sha256d80 of the header equals the block hash', () => {
    const header = header80({
      version: mainnet.version, prevHash: internal(mainnet.previousblockhash), merkleRoot: internal(mainnet.merkleroot),
      ntime: mainnet.time, nbits: parseInt(mainnet.bits, 16), nonce: mainnet.nonce,
    });
    assertHex(reversed(sha256d80(header)), mainnet.hash, 'block hash');
  });
  test('btcd regtest block with 3 transactions: odd level duplicates the last node', () => {
    const [coinbase, ...rest] = block3.tx.map(internal);
    assertHex(reversed(merkleFold64(coinbase!, coinbaseMerklePath(rest))), block3.merkleroot, 'merkle root');
  });
  test('empty path: root is a copy of the leaf, never the same array', () => {
    const leaf = internal(mainnet.tx[0]!);
    const root = merkleRootFromPath(leaf, []);
    assert.deepEqual(root, leaf);
    assert.notEqual(root, leaf);
    assert.deepEqual(merkleFold64(leaf, []), leaf);
  });
  test('a 12-level fold equals the generic fold with noble', () => {
    const leaf = sha256(new Uint8Array([1]));
    const path = Array.from({ length: 12 }, (_, i) => sha256(new Uint8Array([2, i])));
    let root = leaf;
    for (const node of path) root = sha256(sha256(concatBytes(root, node)));
    assert.equal(bytesToHex(merkleFold64(leaf, path)), bytesToHex(root));
  });
});
