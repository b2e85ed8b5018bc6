// Template Provider benchmark (a script, not a test; issue 10): what serving one template costs.
//   - tailor_4000tx_fits      tailorTemplate on a 4,000-transaction template that fits (sums only)
//   - tailor_4000tx_trimmed   the same with a reservation that drops ~10 %: merkle path and witness
//                             commitment recomputed (the per-client cost after a constraints change)
//   - tip_fanout_<N>_ms       Gateway.releaseTemplate of a new tip to N in-memory TDP clients
//                             (tailor + encode + encrypt NewTemplate and SetNewPrevHash each), until
//                             every client holds both messages (decryption on the client side is
//                             outside the timed section)
// The side-by-side comparison with SRI's pool fed by this TP is the interop runner's.
//
//   node --import tsx test/bench/tdp.bench.ts   (or deno run -A / bun)
import { FakeClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { TdpClient } from '../../core/client/tdp-client.ts';
import { Gateway } from '../../core/gateway/index.ts';
import { generateAuthorityKeyPair, ResponderIdentity } from '../../core/noise/index.ts';
import { sha256d } from '../../core/mining/hash.ts';
import { tailorTemplate } from '../../core/template-provider/tailor.ts';
import { makeTemplate, makeTx } from '../support/policy-fixtures.ts';
import { opsPerSecond, report } from './bench-util.ts';

const txs = Array.from({ length: 4000 }, (_, i) => makeTx(i + 1, BigInt(1000 + i)));
const base = makeTemplate({ transactions: txs });
const totalWeight = txs.reduce((s, t) => s + t.weight, 0);
const fits = { ...base, weightLimit: totalWeight + 10_000 };
const trims = { ...base, weightLimit: Math.floor(totalWeight * 0.9) };
const check = tailorTemplate(trims, { additionalSizeBytes: 0, additionalSigops: 0 });
if (check.droppedCount < 300) throw new Error(`bench self-check: expected ~400 dropped, got ${check.droppedCount}`);
report({ name: 'tailor_4000tx_fits', value: opsPerSecond(() => tailorTemplate(fits, { additionalSizeBytes: 100, additionalSigops: 4 }), 1000), unit: 'per s' });
report({ name: 'tailor_4000tx_trimmed', value: opsPerSecond(() => tailorTemplate(trims, { additionalSizeBytes: 100, additionalSigops: 4 }), 2000), unit: 'per s' });

function fanout(clients: number): number {
  const clock = new FakeClock({ startMs: 1000 });
  const random = new SeededRandom(7);
  const authority = generateAuthorityKeyPair(random);
  const identity = new ResponderIdentity({ authoritySecretKey: authority.secretKey, validitySecs: 3600, backdateSecs: 300, random });
  const gateway = new Gateway(
    {
      gatewayId: 1, mode: 'observe', provider: nobleProvider, random, identity,
      auth: { mode: 'open', maxWorkerIdBytes: 32, maxWorkersPerChannel: 2 },
      channels: { sharesPerMinute: 6, minDifficulty: 0, maxDifficulty: 1e12, vardiffEnabled: false, vardiffRetargetIntervalSecs: 60, shareAckBatchSize: 1, shareAckDelayMs: 100, nonceExpireSecs: 60, extranonceRollableBytesDefault: 8, channelsPerConnectionMax: 8, ntimeFutureSecsMax: 7000, seenSharesMax: 1000 },
      payout: [{ scriptPubKey: new Uint8Array(22), weight: 1 }], poolTag: 'bench', maxConnections: 10, maxFramePayloadBytes: 1 << 20,
      handshakeTimeoutMs: 600_000, idleTimeoutMs: 3_600_000, jobBroadcastIntervalMs: 0, blockRetryInitialMs: 500, blockRetryMaxMs: 2000, shutdownDrainTimeoutMs: 1000,
      templateProvider: { maxClients: clients, settings: { feeUpdateIntervalMs: 0, minFeeDeltaSats: 0n, retainedTemplates: 4, requestsPerSecondMax: 100 } },
    },
    clock.monotonicMs(),
  );
  const peers = new Map<number, TdpClient>();
  for (let i = 0; i < clients; i++) {
    const client = new TdpClient({ provider: nobleProvider, random, certificatePolicy: { kind: 'unverified' }, constraints: { additionalSizeBytes: 100, additionalSigops: 4 } }, clock.monotonicMs());
    peers.set(gateway.acceptTdpConnection(clock.monotonicMs(), { wallMs: clock.wallMs() })!, client);
  }
  const shuttle = (): void => {
    for (let round = 0; round < 100; round++) {
      let moved = false;
      for (const [id, c] of peers) for (let b = c.pollTransmit(); b !== undefined; b = c.pollTransmit()) { gateway.receive(id, b, clock.monotonicMs()); moved = true; }
      for (let item = gateway.pollTransmit(); item !== undefined; item = gateway.pollTransmit()) { if ('bytes' in item) peers.get(item.conn_id)!.receive(item.bytes, clock.monotonicMs()); moved = true; }
      while (gateway.pollEvent() !== undefined) { /* drop */ }
      if (!moved) return;
    }
  };
  gateway.templateUpdated(makeTemplate({ templateId: 1n, transactions: txs.slice(0, 2000) }), clock.monotonicMs());
  shuttle(); // handshakes, setup, constraints, first tip
  // Built before the clock starts: makeTemplate hashes the merkle path and commitment itself.
  const tip = makeTemplate({ templateId: 2n, transactions: txs.slice(0, 2000), prevHash: sha256d(new Uint8Array([2])) });
  const start = performance.now();
  gateway.templateUpdated(tip, clock.monotonicMs());
  let bytes = 0;
  const out: { id: number; b: Uint8Array }[] = [];
  for (let item = gateway.pollTransmit(); item !== undefined; item = gateway.pollTransmit()) if ('bytes' in item) { bytes += item.bytes.length; out.push({ id: item.conn_id, b: item.bytes }); }
  const ms = performance.now() - start;
  for (const { id, b } of out) peers.get(id)!.receive(b, clock.monotonicMs());
  for (const c of peers.values()) if (c.prevHash?.templateId !== 2n) throw new Error('bench self-check: a client did not get the new tip');
  if (bytes === 0) throw new Error('bench self-check: nothing sent');
  return ms;
}

for (const n of [100, 1000]) {
  fanout(Math.min(n, 10)); // warm up
  report({ name: `tip_fanout_${n}_clients`, value: fanout(n), unit: 'ms' });
}
