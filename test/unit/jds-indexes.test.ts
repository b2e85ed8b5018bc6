// The Job Declaration verdict's indexes and caches (issue 11, docs/job-declaration.md
// "Performance"): DigestMap (32-byte keys without hex), merkle trees over flat buffers with
// reuse of a template's nodes, the TemplateCache's declaration trees (bounded, dropped with their
// template), the structural output walk of parents, positional resolution and the provided-
// transaction cache. Every fast path is checked against an independent slow one: noble's SHA-256
// by plain concatenation (test/support/tdp-solution.ts), a hex-keyed Map, decodeTransaction.
import fc from 'fast-check';
import { describe, propertyParams, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { bytesToHex, concatBytes } from '../../core/bytes.ts';
import { availableProviders } from '../../adapters/crypto-native.ts';
import { DigestMap, digestKey } from '../../core/digest-map.ts';
import { doubleHashOf } from '../../core/mining/hash.ts';
import { computeLevels, matchedBefore, nodeHasherOf, pathOfLeaf0, rootOf, SparseMerkle } from '../../core/mining/merkle-tree.ts';
import { TemplateCache } from '../../core/template-provider/template-cache.ts';
import { PolicyEngine } from '../../core/policy/engine.ts';
import { rebuildDeclaredCoinbase } from '../../core/job-declaration/declared-coinbase.ts';
import { judgeDeclaration } from '../../core/job-declaration/declaration.ts';
import {
  decodeProvided,
  NO_DEPENDS,
  NO_TRANSACTIONS,
  outputValues,
  ProvidedTransactions,
  providedTransaction,
  resolveDeclaration,
  resolveFees,
  type DeclaredTransaction,
} from '../../core/job-declaration/transactions.ts';
import { CHAIN, makeSettings, makeTemplate, makeTx } from '../support/policy-fixtures.ts';
import { dsha, le32, le64, merkleRootOf, rootFromPath, varint } from '../support/tdp-solution.ts';
import { declaredJob, spend } from '../../conformance/jds-world.ts';
import type { TemplateTransaction } from '../../core/template/template.ts';

const providers = await availableProviders();
const ZERO = new Uint8Array(32);
const hash32 = (seed: number): Uint8Array => dsha(le32(seed));
const flat = (leaves: readonly Uint8Array[]): Uint8Array => concatBytes(...leaves);

describe('jds indexes: DigestMap', () => {
  test('behaves as a hex-keyed Map under random set/get/delete (seeded), including 48-bit prefix collisions', () => {
    // Keys from a small pool, half of them sharing the first 6 bytes with another key.
    const pool: Uint8Array[] = [];
    for (let i = 0; i < 16; i++) {
      const k = hash32(i);
      pool.push(k);
      const twin = k.slice();
      twin[31] ^= 0xff;
      pool.push(twin);
    }
    assert.equal(digestKey(pool[0]!), digestKey(pool[1]!), 'the twins collide on the Map key');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('set', 'get', 'delete'), fc.nat(pool.length - 1), fc.nat()), { maxLength: 200 }), (ops) => {
        const fast = new DigestMap<number>();
        const slow = new Map<string, number>();
        for (const [op, i, v] of ops) {
          const key = pool[i]!;
          if (op === 'set') {
            fast.set(key, v);
            slow.set(bytesToHex(key), v);
          } else if (op === 'delete') {
            assert.equal(fast.delete(key), slow.delete(bytesToHex(key)));
          }
          assert.equal(fast.get(key), slow.get(bytesToHex(key)));
          assert.equal(fast.size, slow.size);
        }
        assert.deepEqual(new Map([...fast.entries()].map(([k, v]) => [bytesToHex(k), v])), slow);
      }),
      propertyParams(200),
    );
  });

  test('a key that is not 32 bytes is never found and cannot be set', () => {
    const m = new DigestMap<number>();
    m.set(hash32(1), 1);
    assert.equal(m.get(hash32(1).subarray(0, 31)), undefined);
    assert.equal(m.delete(new Uint8Array(0)), false);
    assert.throws(() => m.set(new Uint8Array(33), 2), /32 bytes/);
  });
});

describe('jds indexes: merkle trees over flat buffers', () => {
  for (const provider of providers) {
    const hash = nodeHasherOf(doubleHashOf(provider));
    test(`root and coinbase path equal noble's by concatenation, 1..70 leaves (${provider.name})`, () => {
      for (let n = 1; n <= 70; n++) {
        const leaves = Array.from({ length: n }, (_, i) => (i === 0 ? ZERO : hash32(n * 1000 + i)));
        const tree = computeLevels(flat(leaves), n, hash);
        assert.equal(bytesToHex(rootOf(tree)), bytesToHex(merkleRootOf(leaves)), `root of ${n}`);
        const coinbase = hash32(-n);
        const path = pathOfLeaf0(tree);
        assert.equal(bytesToHex(rootFromPath(coinbase, path)), bytesToHex(merkleRootOf([coinbase, ...leaves.slice(1)])), `path of ${n}`);
      }
    });
  }

  test('SparseMerkle with a base tree gives the root and path of hashing everything (random edits, seeded)', () => {
    const hash = nodeHasherOf();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 90 }),
        fc.integer({ min: 1, max: 90 }),
        fc.array(fc.nat(89), { maxLength: 6 }),
        fc.boolean(),
        (baseCount, count, edits, underClaim) => {
          const base = Array.from({ length: baseCount }, (_, i) => (i === 0 ? ZERO : hash32(i)));
          const leaves = Array.from({ length: count }, (_, i) => (i === 0 ? ZERO : hash32(i)));
          for (const e of edits) if (e > 0 && e < count) leaves[e] = hash32(10_000 + e);
          const baseTree = computeLevels(flat(base), baseCount, hash);
          const match = new Uint8Array(count);
          for (let i = 0; i < Math.min(count, baseCount); i++) match[i] = bytesToHex(leaves[i]!) === bytesToHex(base[i]!) ? 1 : 0;
          // A match that under-claims is allowed (only TRUE ones may be claimed): drop one.
          if (underClaim && count > 1) match[1] = 0;
          const reuse = { base: baseTree, matchedBefore: matchedBefore(match, count) };
          const sparse = new SparseMerkle(count, (i) => leaves[i]!, hash, reuse);
          const root = sparse.root();
          const fresh = computeLevels(flat(leaves), count, hash);
          assert.equal(bytesToHex(root), bytesToHex(rootOf(fresh)));
          assert.equal(bytesToHex(root), bytesToHex(merkleRootOf(leaves)));
          assert.deepEqual(new SparseMerkle(count, (i) => leaves[i]!, hash, reuse).pathOfLeaf0().map(bytesToHex), pathOfLeaf0(fresh).map(bytesToHex));
          assert.deepEqual(new SparseMerkle(count, (i) => leaves[i]!, hash).pathOfLeaf0().map(bytesToHex), pathOfLeaf0(fresh).map(bytesToHex));
          // Identical leaves and length: the root is the base's, nothing hashed.
          if (count === baseCount && edits.every((e) => e === 0 || e >= count) && !underClaim) assert.equal(sparse.hashed, 0);
        },
      ),
      propertyParams(300),
    );
  });

  test('SparseMerkle touches only what changed: a 4,001-leaf declaration with its last 400 leaves new hashes ~2 × 400 nodes, not 4,000', () => {
    const hash = nodeHasherOf();
    const base = Array.from({ length: 4001 }, (_, i) => (i === 0 ? ZERO : hash32(i)));
    const leaves = base.map((l, i) => (i > 3600 ? hash32(50_000 + i) : l));
    const match = Uint8Array.from(leaves, (l, i) => (i <= 3600 ? 1 : 0));
    const sparse = new SparseMerkle(4001, (i) => leaves[i]!, hash, { base: computeLevels(flat(base), 4001, hash), matchedBefore: matchedBefore(match, 4001) });
    assert.equal(bytesToHex(sparse.root()), bytesToHex(merkleRootOf(leaves)));
    assert.ok(sparse.hashed > 400 && sparse.hashed < 2 * 400 + 2 * 13, `hashed ${sparse.hashed}`);
  });

  test('a tree with one leaf is its leaf, with an empty path', () => {
    const tree = computeLevels(hash32(5), 1, nodeHasherOf());
    assert.equal(bytesToHex(rootOf(tree)), bytesToHex(hash32(5)));
    assert.deepEqual(pathOfLeaf0(tree), []);
    assert.throws(() => computeLevels(new Uint8Array(31), 1, nodeHasherOf()), RangeError);
  });
});

describe('jds indexes: TemplateCache declaration trees', () => {
  const template = (id: number, n: number, from = 0) => makeTemplate({ templateId: BigInt(id), transactions: Array.from({ length: n }, (_, i) => makeTx(from + i + 1, 1000n)) });

  test('built once per template after the release, for the newest treesMax only; dropped with their template', () => {
    const cache = new TemplateCache(3, { treesMax: 2 });
    cache.add(template(1, 5));
    assert.equal(cache.treesPending, 1);
    cache.buildTrees();
    assert.equal(cache.treesPending, 0);
    const t1 = cache.trees()[0]!;
    assert.equal(bytesToHex(rootOf(t1.wtxids)), bytesToHex(merkleRootOf([ZERO, ...t1.template.transactions.map((t) => t.wtxid)])));
    assert.equal(bytesToHex(rootFromPath(hash32(7), pathOfLeaf0(t1.txids))), bytesToHex(merkleRootOf([hash32(7), ...t1.template.transactions.map((t) => t.txid)])));
    cache.add(template(2, 5, 100));
    cache.add(template(3, 5, 200));
    // trees() builds what is pending; only the newest 2 keep trees.
    assert.deepEqual(cache.trees().map((t) => t.template.templateId), [3n, 2n]);
    assert.equal(cache.trees()[0], cache.trees()[0], 'built once, not per call');
    cache.add(template(4, 5, 300));
    cache.add(template(5, 5, 400));
    cache.add(template(6, 5, 500));
    cache.add(template(7, 5, 600));
    assert.deepEqual(cache.trees().map((t) => t.template.templateId), [7n, 6n]);
    assert.equal(cache.size, 3);
    assert.equal(cache.transactionCount, 15, 'index entries of evicted templates are gone');
    assert.equal(cache.wtxidCount, 15);
    assert.equal(cache.byWtxid(makeTx(1, 1000n).wtxid), undefined);
    assert.notEqual(cache.byWtxid(makeTx(601, 1000n).wtxid), undefined);
  });

  test('memory stays bounded over many templates: index = the cached templates\' transactions, trees <= treesMax', () => {
    const cache = new TemplateCache(4, { treesMax: 2 });
    for (let id = 1; id <= 60; id++) {
      cache.add(template(id, 20, id * 7)); // overlapping transaction sets, as consecutive templates are
      if (id % 3 === 0) cache.buildTrees();
      const distinct = new Set(cache.templates().flatMap((t) => t.transactions.map((x) => bytesToHex(x.txid))));
      assert.equal(cache.transactionCount, distinct.size);
      assert.equal(cache.wtxidCount, distinct.size);
      assert.ok(cache.trees().length <= 2);
      assert.ok(cache.treesPending <= 2);
    }
  });

  test('without treesMax no trees are built (a Template Provider without JD pays nothing)', () => {
    const cache = new TemplateCache(4);
    cache.add(template(1, 50));
    assert.equal(cache.treesPending, 0);
    assert.deepEqual(cache.trees(), []);
  });
});

/** A transaction with witness: version ‖ 00 01 ‖ inputs ‖ outputs ‖ witness ‖ locktime. */
function witnessTx(seed: number, values: bigint[]): Uint8Array {
  const outs = values.flatMap((v) => [le64(v), varint(22), concatBytes(new Uint8Array([0, 20]), hash32(seed).subarray(0, 20))]);
  return concatBytes(le32(2), new Uint8Array([0, 1, 1]), hash32(seed + 1), le32(seed % 4), new Uint8Array([0]), le32(0xfffffffd), varint(values.length), ...outs, new Uint8Array([2, 3, 1, 2, 3, 1, 9]), le32(0));
}

describe('jds indexes: the structural output walk', () => {
  const samples = [witnessTx(1, [5n, 2n ** 40n + 3n]), makeTx(3, 1n).data, spend(makeTx(4, 1n), 0, 123n).data, witnessTx(9, [0n, 1n, 2n])];

  test('outputValues = decodeTransaction\'s outputs, its prevoutsAt = where the decode\'s outpoints are, and null exactly where the decode fails (mutations, seeded)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.array(fc.tuple(fc.constantFrom('flip', 'cut', 'insert'), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        (sample, mutations) => {
          let data = sample.slice();
          for (const [kind, at, byte] of mutations) {
            const i = at % (data.length + 1);
            if (kind === 'flip' && i < data.length) data[i] = byte;
            else if (kind === 'cut') data = data.slice(0, i);
            else data = concatBytes(data.slice(0, i), new Uint8Array([byte]), data.slice(i));
          }
          const decoded = decodeProvided(data);
          const prevoutsAt = [7]; // stale content: the walk must clear it
          const walked = outputValues(data, prevoutsAt);
          if (decoded === null) assert.equal(walked, null, `walk accepted ${bytesToHex(data)}`);
          else {
            assert.deepEqual(walked, decoded.outputs.map((o) => o.valueSats));
            assert.deepEqual(
              prevoutsAt.map((at) => [bytesToHex(data.subarray(at, at + 32)), (data[at + 32]! | (data[at + 33]! << 8) | (data[at + 34]! << 16) | (data[at + 35]! << 24)) >>> 0]),
              decoded.inputs.map((i) => [bytesToHex(i.prevTxid), i.vout]),
            );
          }
        },
      ),
      propertyParams(2000),
    );
  });
});

describe('jds indexes: positional resolution and the verdict', () => {
  const engine = new PolicyEngine(makeSettings({ subsidyHalvingInterval: 210_000 }));
  const txs = Array.from({ length: 37 }, (_, i) => makeTx(i + 1, 1000n + BigInt(i)));
  const tpl = makeTemplate({ transactions: txs });
  const cache = new TemplateCache(4, { treesMax: 2 });
  cache.add(tpl);
  const lookups = [{ source: 'template' as const, lookup: cache }, { source: 'mempool' as const, lookup: NO_TRANSACTIONS }];
  // Transactions outside the template resolve from the provided cache (fee known), so every
  // declaration below is complete and judged.
  const extra = new ProvidedTransactions(100);
  for (let i = 0; i < 45; i++) {
    const t = makeTx(500 + i, 700n);
    extra.add({ data: t.data, txid: t.txid, wtxid: t.wtxid, fee: t.fee, sigops: t.sigops, weight: t.weight, depends: NO_DEPENDS, source: 'provided' });
  }
  const judge = (declared: readonly Pick<TemplateTransaction, 'wtxid' | 'fee'>[], reuse: boolean) => {
    const r = resolveDeclaration(declared.map((t) => t.wtxid), lookups, extra);
    assert.deepEqual(r.missing, []);
    const job = declaredJob(declared, { value: 5_000_000_000n + declared.reduce((s, t) => s + t.fee, 0n) });
    const rebuilt = rebuildDeclaredCoinbase(job.prefix, job.suffix);
    assert.ok(rebuilt.ok);
    return { r, j: judgeDeclaration({ declarationId: 1n, version: 0x20000000, coinbase: rebuilt.value, transactions: r.resolved as DeclaredTransaction[], tip: tpl, chain: CHAIN, reuse: reuse ? r.reuse : null }, engine) };
  };

  test('the template\'s order resolves every position from the template and reuses its trees; the verdict is the same without them', () => {
    const { r, j } = judge(txs, true);
    assert.deepEqual(r.missing, []);
    assert.ok(r.reuse !== null && r.reuse.match.every((m) => m === 1));
    assert.ok(r.resolved.every((t, i) => t?.source === 'template' && t.txid === txs[i]!.txid));
    const plain = judge(txs, false).j;
    assert.equal(j.verdict.accepted, true, j.verdict.reason_detail);
    assert.deepEqual(j.verdict, plain.verdict);
    assert.deepEqual(j.template!.merklePath.map(bytesToHex), plain.template!.merklePath.map(bytesToHex));
    assert.equal(bytesToHex(rootFromPath(hash32(3), j.template!.merklePath)), bytesToHex(merkleRootOf([hash32(3), ...txs.map((t) => t.txid)])));
  });

  test('edits, truncation, extension and another order: same transactions and the same verdict and path as without reuse (seeded)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 45 }), fc.array(fc.nat(44), { maxLength: 4 }), (count, swaps) => {
        const declared: TemplateTransaction[] = Array.from({ length: count }, (_, i) => txs[i] ?? makeTx(500 + i, 700n));
        for (const s of swaps) {
          const a = s % count;
          const b = (s * 7 + 3) % count;
          [declared[a], declared[b]] = [declared[b]!, declared[a]!];
        }
        const withReuse = judge(declared, true);
        const without = judge(declared, false);
        assert.deepEqual(withReuse.r.missing, without.r.missing);
        assert.deepEqual(withReuse.j.verdict, without.j.verdict);
        assert.deepEqual(withReuse.j.template?.merklePath.map(bytesToHex), without.j.template?.merklePath.map(bytesToHex));
        // The positional hits are exactly the positions equal to the template's.
        if (withReuse.r.reuse !== null) {
          for (let i = 0; i < count; i++) assert.equal(withReuse.r.reuse.match[i + 1], i < txs.length && declared[i] === txs[i] ? 1 : 0);
        }
      }),
      propertyParams(150),
    );
  });

  test('a declaration whose first wtxid is no template\'s first gets no positional base (lookups only)', () => {
    const declared = [txs[5]!, txs[0]!, txs[1]!];
    const r = resolveDeclaration(declared.map((t) => t.wtxid), lookups, extra);
    assert.equal(r.reuse, null);
    assert.deepEqual(r.missing, []);
    assert.ok(r.resolved.every((t) => t?.source === 'template'));
  });
});

describe('jds indexes: provided transactions', () => {
  const provided = (seed: number): DeclaredTransaction => providedTransaction(decodeProvided(spend(makeTx(seed, 1n), 0, 9_000n, seed % 251).data)!);

  test('newest `capacity` kept, re-adding refreshes age, a known fee is kept over an unknown one', () => {
    const cache = new ProvidedTransactions(3);
    const [a, b, c, d] = [provided(1), provided(2), provided(3), provided(4)];
    cache.add({ ...a, fee: 10n });
    cache.add(b);
    cache.add(c);
    cache.add(a); // fee unknown this time: the known one stays, and a is now the newest
    assert.equal(cache.byWtxid(a.wtxid)?.fee, 10n);
    cache.add(d);
    assert.equal(cache.size, 3);
    assert.equal(cache.evicted, 1);
    assert.equal(cache.byWtxid(b.wtxid), undefined, 'the oldest went');
    assert.equal(cache.byTxid(b.txid), undefined);
    assert.notEqual(cache.byTxid(a.txid), undefined);
    assert.equal(new ProvidedTransactions(0).size, 0);
  });

  test('a provided transaction\'s fee comes from its parents\' outputs (template, earlier in the list, or provided before); never from a guess', () => {
    const parent = makeTx(77, 1n); // output 0 = 10,000 sats
    const cache = new TemplateCache(2);
    cache.add(makeTemplate({ transactions: [parent] }));
    const child = providedTransaction(decodeProvided(spend(parent, 0, 9_000n, 1).data)!);
    const grandchild = providedTransaction(decodeProvided(spend(child, 0, 8_500n, 2).data)!);
    const orphan = providedTransaction(decodeProvided(spend(makeTx(78, 1n), 0, 1n, 3).data)!);
    const lookups = [{ lookup: cache }];
    const fees = resolveFees([child, grandchild, orphan], lookups, new ProvidedTransactions(10)).map((t) => t.fee);
    assert.deepEqual(fees, [1_000n, 500n, null]);
    // The grandchild alone: its parent is known only once provided (by any connection: the
    // bytes are checked against the wtxid and the fee is computed, never claimed).
    const shared = new ProvidedTransactions(10);
    assert.deepEqual(resolveFees([grandchild], lookups, shared).map((t) => t.fee), [null]);
    shared.add(child);
    assert.deepEqual(resolveFees([grandchild], lookups, shared).map((t) => t.fee), [500n]);
  });
});
