// Noise benchmark (a script, not a test: performance is never asserted in tests, SPEC §13).
// For the current runtime and every available crypto provider it prints:
//   - responder_handshakes_per_s: responder-side work only (NoiseResponderConnection: read a
//     pre-generated act 1, build act 2 with a fresh ephemeral key, split), long-lived static key
//     with a pre-signed certificate as the gateway runs it;
//   - full_handshakes_per_s: a fresh initiator (act 1), the responder, and the initiator
//     checking act 2 including the BIP340 certificate verification;
//   - seal_per_s / open_per_s: transport encryption / decryption of one 100-byte-payload frame.
// One JSON line per measurement (`BENCH {...}`) plus a readable line. Each measurement runs a
// short warm-up and then ~1.5 s.
//
//   node --import tsx test/bench/noise.bench.ts
//   deno run -A test/bench/noise.bench.ts
//   bun test/bench/noise.bench.ts
import { availableProviders } from '../../adapters/crypto-native.ts';
import { systemRandom } from '../../adapters/random.ts';
import { encodeFrame } from '../../core/codec/frame.ts';
import type { CryptoProvider } from '../../core/crypto/provider.ts';
import {
  EncryptedDeframer,
  ExpectResponderHello,
  FrameEncryptor,
  NoiseResponderConnection,
  ResponderIdentity,
  generateAuthorityKeyPair,
  generateSecretKey,
} from '../../core/noise/index.ts';

const runtime = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'node';
const MEASURE_MS = 1_500;
const WARMUP_MS = 300;

/** Run `op` repeatedly for about `durationMs`; return operations per second. */
function opsPerSecond(op: () => void, durationMs: number): number {
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  // Check the clock every few ops so that timing overhead stays negligible for fast ops.
  for (let batch = 1; elapsed < durationMs; batch = Math.min(batch * 2, 1024)) {
    for (let i = 0; i < batch; i++) op();
    count += batch;
    elapsed = performance.now() - start;
  }
  return (count * 1000) / elapsed;
}

function measure(provider: CryptoProvider, name: string, op: () => void): void {
  opsPerSecond(op, WARMUP_MS);
  const value = opsPerSecond(op, MEASURE_MS);
  const rounded = Math.round(value * 10) / 10;
  console.log(`BENCH ${JSON.stringify({ runtime, provider: provider.name, name, value: rounded })}`);
  console.log(`  ${runtime.padEnd(4)} ${provider.name.padEnd(32)} ${name.padEnd(28)} ${rounded.toLocaleString('en-US')}`);
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`benchmark self-check failed: ${what}`);
}

const authority = generateAuthorityKeyPair(systemRandom);
const identity = new ResponderIdentity({ authoritySecretKey: authority.secretKey, validitySecs: 3600, backdateSecs: 300, random: systemRandom });
const nowS = Math.floor(Date.now() / 1000);
const certificate = identity.certificateAt(nowS);

for (const provider of availableProviders()) {
  // Pre-generated act 1 messages, cycled: the responder's cost does not depend on their novelty.
  const act1s = Array.from({ length: 64 }, () => new ExpectResponderHello({ provider, random: systemRandom, certificatePolicy: { kind: 'unverified' } }).initiatorHello);
  let next = 0;
  measure(provider, 'responder_handshakes_per_s', () => {
    const responder = new NoiseResponderConnection({ provider, random: systemRandom, staticKey: identity.staticKey, certificate }, 0);
    responder.receive(act1s[next++ % act1s.length]!, 0);
    check(responder.pollTransmit()?.length === 234, 'act 2 produced');
  });

  measure(provider, 'full_handshakes_per_s', () => {
    const initiator = new ExpectResponderHello({
      provider,
      random: systemRandom,
      certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly },
    });
    const responder = new NoiseResponderConnection({ provider, random: systemRandom, staticKey: identity.staticKey, certificate }, 0);
    responder.receive(initiator.initiatorHello, 0);
    const result = initiator.readResponderHello(responder.pollTransmit()!, nowS);
    check(result.ok, 'initiator accepted act 2');
  });

  const key = generateSecretKey(systemRandom);
  const frame = encodeFrame({ extensionType: 0, channelMsg: true, msgType: 0x1a }, new Uint8Array(100).fill(0x5a));
  const encryptor = new FrameEncryptor(provider, key);
  measure(provider, 'seal_per_s', () => {
    check(encryptor.encryptFrame(frame).ok, 'sealed');
  });

  // Open: 4,096 frames sealed in advance; when they run out, rewind the receive nonce to 0 and
  // decrypt the same batch again, so no sealing happens inside the timed loop.
  const openKey = generateSecretKey(systemRandom);
  const sealer = new FrameEncryptor(provider, openKey);
  const batch: Uint8Array[] = [];
  for (let i = 0; i < 4096; i++) {
    const sealed = sealer.encryptFrame(frame);
    if (sealed.ok) batch.push(sealed.value);
  }
  const deframer = new EncryptedDeframer(provider, openKey);
  let index = 0;
  measure(provider, 'open_per_s', () => {
    if (index === batch.length) {
      index = 0;
      deframer.setNonce(0n);
    }
    deframer.push(batch[index++]!);
    check(deframer.next().kind === 'frame', 'opened');
  });
}
