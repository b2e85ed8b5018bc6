// The seal of the prevhash fan-out, variant by variant (issue 13 item 2; docs/performance.md,
// gateway.bench.ts "Where the time goes"). One "switch" = the seals of 1,000 connections ×
// (NewExtendedMiningJob + SetNewPrevHash), each frame a header seal (6 B) and a payload seal
// (the real frames' sizes below), i.e. 4,000 ChaCha20-Poly1305 seals into one buffer, timed as a
// whole, RUNS times; p50 / p99 of the per-switch ms. Variants (node:crypto where the runtime has
// chacha20-poly1305; Bun has none and measures noble only):
//   provider      the provider's aeadEncryptInto as the gateway calls it (selectCryptoProvider('auto'))
//   no_options    createCipheriv without the { authTagLength: 16 } options object (16 is the default)
//   key_object    createCipheriv with a KeyObject made once per key (createSecretKey), not raw bytes
//   noble         @noble/ciphers chacha20poly1305 (the noble provider's aeadEncrypt + copy)
// Every variant's output is checked byte for byte against the provider's before timing.
//
//   node --import tsx test/bench/seal.bench.ts   (or deno run -A / bun; RG_RUNTIMES=node npm run bench seal)
import * as nodeCrypto from 'node:crypto';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { report, runtime } from './bench-util.ts';

const QUICK = process.env['RG_BENCH_QUICK'] === '1';
const RUNS = QUICK ? 30 : 250;
const CONNECTIONS = 1_000;
/** Payload bytes of the bench template's NewExtendedMiningJob (2-level merkle path) and SetNewPrevHash, +16 tag each. */
const PAYLOADS = [191, 48];
const TAG = 16;

const provider = selectCryptoProvider('auto');
const keys = Array.from({ length: CONNECTIONS }, (_, i) => Uint8Array.from({ length: 32 }, (_, j) => (i * 31 + j * 7) & 0xff));
const nonce = new Uint8Array(12);
const empty = new Uint8Array(0);
const header = Uint8Array.of(0, 0, 0x1f, 191, 0, 0);
const payloads = PAYLOADS.map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 13) & 0xff));
const frameBytes = PAYLOADS.reduce((s, n) => s + 6 + TAG + n + TAG, 0);
const out = new Uint8Array(CONNECTIONS * frameBytes);

type SealInto = (key: Uint8Array, keyIndex: number, nonce: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number) => void;

const hasNative = nodeCrypto.getCiphers().includes('chacha20-poly1305');
const keyObjects = hasNative ? keys.map((k) => nodeCrypto.createSecretKey(k)) : [];
const variants: Record<string, SealInto> = {
  provider: (key, _i, n, p, o, at) => {
    if (provider.aeadEncryptInto !== undefined) provider.aeadEncryptInto(key, n, empty, p, o, at);
    else o.set(provider.aeadEncrypt(key, n, empty, p), at);
  },
  noble: (key, _i, n, p, o, at) => o.set(nobleProvider.aeadEncrypt(key, n, empty, p), at),
};
if (hasNative) {
  variants['no_options'] = (key, _i, n, p, o, at) => {
    const c = nodeCrypto.createCipheriv('chacha20-poly1305', key, n);
    o.set(c.update(p), at);
    c.final();
    o.set(c.getAuthTag(), at + p.length);
  };
  variants['key_object'] = (_key, i, n, p, o, at) => {
    const c = nodeCrypto.createCipheriv('chacha20-poly1305', keyObjects[i]!, n, { authTagLength: TAG });
    o.set(c.update(p), at);
    c.final();
    o.set(c.getAuthTag(), at + p.length);
  };
}

/** One switch's seals; the nonce advances per seal as a Noise CipherState's does. */
function sealSwitch(seal: SealInto, counter: { n: number }): void {
  let at = 0;
  for (let c = 0; c < CONNECTIONS; c++) {
    for (const payload of payloads) {
      nonce[4] = counter.n & 0xff;
      nonce[5] = (counter.n >>> 8) & 0xff;
      counter.n++;
      seal(keys[c]!, c, nonce, header, out, at);
      at += header.length + TAG;
      nonce[4] = counter.n & 0xff;
      nonce[5] = (counter.n >>> 8) & 0xff;
      counter.n++;
      seal(keys[c]!, c, nonce, payload, out, at);
      at += payload.length + TAG;
    }
  }
}

function percentile(xs: readonly number[], p: number): number {
  const sorted = xs.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

// Self-check: every variant writes the provider's bytes.
sealSwitch(variants['provider']!, { n: 0 });
const expected = bytesToHex(out);
for (const [name, seal] of Object.entries(variants)) {
  out.fill(0);
  sealSwitch(seal, { n: 0 });
  if (bytesToHex(out) !== expected) throw new Error(`bench self-check: variant ${name} wrote different bytes`);
}

console.log(`  seal bench on ${runtime}, provider ${provider.name}: ${CONNECTIONS * 2 * 2} seals per switch, ${RUNS} runs per variant, variants interleaved`);
const names = Object.keys(variants);
const times = new Map<string, number[]>(names.map((n) => [n, []]));
for (let warm = 0; warm < 5; warm++) for (const n of names) sealSwitch(variants[n]!, { n: 0 });
// Interleaved (run r of every variant, then run r + 1), so machine noise hits all alike.
for (let r = 0; r < RUNS; r++) {
  for (const name of names) {
    const t0 = performance.now();
    sealSwitch(variants[name]!, { n: r });
    times.get(name)!.push(performance.now() - t0);
  }
}
for (const name of names) {
  const xs = times.get(name)!;
  report({ provider: provider.name, name: `seal_switch_p50_ms_${name}`, value: percentile(xs, 50), unit: `ms per 4,000 seals (${RUNS} runs)` });
  report({ provider: provider.name, name: `seal_switch_p99_ms_${name}`, value: percentile(xs, 99), unit: `ms per 4,000 seals (${RUNS} runs)` });
}
