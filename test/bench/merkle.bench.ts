// Merkle-node hashing benchmark (a script, not a test; SPEC §13): double SHA-256 of 64 bytes, the
// per-level cost of extended-channel share validation (SV2.md §5.4), and a whole 12-level fold
// (a ~4,000-transaction block) through core/mining/merkle.ts. Candidates, on this runtime:
//   - sha256d64      core/mining/sha256d64.ts (pure TS, allocation-free, precomputed padding)
//   - noble          sha256(sha256(x)) with @noble/hashes (the previous default)
//   - createHash     node:crypto createHash('sha256') twice (the native provider's sha256)
//   - Bun.SHA256     Bun.SHA256.hash twice (bun only)
// One `BENCH {...}` line per measurement (value: operations per second).
//
//   node --import tsx test/bench/merkle.bench.ts   (or deno run -A / bun)
import * as nodeCrypto from 'node:crypto';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { merkleFold64, sha256d64, sha256d80 } from '../../core/mining/sha256d64.ts';
import { merkleRootFromPath } from '../../core/mining/merkle.ts';
import { nativeProvider } from '../../adapters/crypto-native.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { opsPerSecond, report } from './bench-util.ts';

const input = new Uint8Array(64).map((_, i) => (i * 37 + 11) & 0xff);
const out = new Uint8Array(32);
const expected = bytesToHex(nobleSha256(nobleSha256(input)));

type Candidate = { name: string; hash: (data: Uint8Array) => Uint8Array };
const candidates: Candidate[] = [
  { name: 'sha256d64', hash: (d) => sha256d64(d, out) },
  { name: 'sha256d64_alloc', hash: (d) => sha256d64(d) },
  { name: 'noble', hash: (d) => nobleSha256(nobleSha256(d)) },
  { name: 'createHash', hash: (d) => nodeCrypto.createHash('sha256').update(nodeCrypto.createHash('sha256').update(d).digest()).digest() },
];
const bun = (globalThis as { Bun?: { SHA256: { hash(d: Uint8Array): Uint8Array } } }).Bun;
if (bun !== undefined) candidates.push({ name: 'Bun.SHA256', hash: (d) => bun.SHA256.hash(bun.SHA256.hash(d)) });

for (const c of candidates) {
  if (bytesToHex(new Uint8Array(c.hash(input))) !== expected) throw new Error(`bench self-check: ${c.name} disagrees with noble`);
  opsPerSecond(() => c.hash(input), 300);
  report({ provider: c.name, name: 'sha256d_64B_per_s', value: opsPerSecond(() => c.hash(input), 1_500) });
}

// 12-level fold, as one extended-channel share with ~2,000–4,000 transactions in the block.
const leaf = input.slice(0, 32);
const path = Array.from({ length: 12 }, (_, i) => nobleSha256(new Uint8Array([i])));
const native = nativeProvider();
const folds: { name: string; fold: () => Uint8Array }[] = [
  { name: 'merkleFold64', fold: () => merkleFold64(leaf, path, out) },
  { name: 'merkleRootFromPath(default)', fold: () => merkleRootFromPath(leaf, path) },
  { name: 'merkleRootFromPath(noble)', fold: () => merkleRootFromPath(leaf, path, (d) => nobleSha256(d)) },
  { name: `merkleRootFromPath(${native.name})`, fold: () => merkleRootFromPath(leaf, path, native.sha256.bind(native)) },
];
const root = bytesToHex(merkleRootFromPath(leaf, path, (d) => nobleSha256(d)));
for (const f of folds) {
  if (bytesToHex(f.fold()) !== root) throw new Error(`bench self-check: ${f.name} root differs`);
  opsPerSecond(f.fold, 300);
  report({ provider: f.name, name: 'merkle_fold_12_levels_per_s', value: opsPerSecond(f.fold, 1_500) });
}

// 80-byte header double hash: once per share on every channel kind.
const header = new Uint8Array(80).map((_, i) => (i * 53 + 7) & 0xff);
const headerExpected = bytesToHex(nobleSha256(nobleSha256(header)));
const headerCandidates: Candidate[] = [
  { name: 'sha256d80', hash: (d) => sha256d80(d, out) },
  { name: 'noble', hash: (d) => nobleSha256(nobleSha256(d)) },
  { name: 'createHash', hash: (d) => nodeCrypto.createHash('sha256').update(nodeCrypto.createHash('sha256').update(d).digest()).digest() },
];
if (bun !== undefined) headerCandidates.push({ name: 'Bun.SHA256', hash: (d) => bun.SHA256.hash(bun.SHA256.hash(d)) });
for (const c of headerCandidates) {
  if (bytesToHex(new Uint8Array(c.hash(header))) !== headerExpected) throw new Error(`bench self-check: ${c.name} header hash disagrees with noble`);
  opsPerSecond(() => c.hash(header), 300);
  report({ provider: c.name, name: 'sha256d_80B_per_s', value: opsPerSecond(() => c.hash(header), 1_500) });
}
