// Side-by-side benchmark (issue 10): the SAME load against ReserveGrid's gateway and against
// SRI's pool_sv2 0.7.0 fed by ReserveGrid's Template Provider, in one run, on this runtime.
// A script, not a test (SPEC §13). docs/performance.md ("ReserveGrid and SRI's pool side by
// side") explains every figure.
//
// One process of this runtime runs the gateway stack (adapters/gateway-stack.ts, observe mode,
// open auth, easiest share target, a recorded btcd template with a hard network target so no
// share is a block) with [template_provider] on 127.0.0.1:0; pool_sv2 connects to that TP
// (Sv2Tp, our key pinned). The load is test/bench/gateway-load.ts (Node, native crypto), a fresh
// process per target, driven by the same commands:
//
//   handshakes_per_s      N connections, each Noise NX + SetupConnection + one extended channel
//                         until its first job + SetNewPrevHash, 32 at a time
//   shares_per_s          answered shares/s through the N connections, `window` (10 = one ack
//                         batch: share_ack_batch_size / share_batch_size = 10 on both) in flight
//                         per channel; ack_p50_ms / ack_p99_ms at that load
//   prevhash_1k_ms        a new prev hash in the template (the same trigger for both: the TP/
//   prevhash_10k_ms       gateway polls it) until the load process decoded every channel's
//                         SetNewPrevHash: N channels, then 10·N (9 more per connection). For SRI
//                         this includes our TP → pool hop (one TDP message pair on loopback).
//   idle_conn_rss_bytes   RSS growth of the server process (/proc/<pid>/status VmRSS) from
//                         before to after the N connections, divided by N
//   load_cpu_share_*      the load process's CPU time / wall time during the share phase and
//                         the handshake phase: well below 1.0 (one core; the process is
//                         single-threaded) it was not the bottleneck
//
// Printed per target and as ReserveGrid/SRI ratios (> 1 = ReserveGrid better, for latencies and
// memory the inverse ratio so "> 1 = better" holds throughout). Skips with a reason when the SRI
// binaries are absent (npm run test:interop installs them; conformance/interop/sri-apps.ts).
//
//   node --import tsx test/bench/sri-side-by-side.bench.ts   (deno run -A / bun; or
//   RG_RUNTIMES=node npm run bench side-by-side). RG_BENCH_QUICK=1: 200 connections, 2 s.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SystemClock } from '../../adapters/clock.ts';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { startGatewayStack, type GatewayStack } from '../../adapters/gateway-stack.ts';
import { systemRandom } from '../../adapters/random.ts';
import type { SubmitBlockOutcome, TemplateSource, UpstreamError } from '../../adapters/template-source.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { loadConfig } from '../../core/config/load.ts';
import { ok, type Result } from '../../core/errors.ts';
import { generateAuthorityKeyPair } from '../../core/noise/index.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { report, runtime } from './bench-util.ts';
import { benchTemplateJson, HOST, rssBytes, sriSkipReason, startPool, type Pool } from './sri-pool.ts';
import { startLoad } from './load-process.ts';
import { sleep } from '../support/wait.ts';

const env = (name: string): string | undefined => (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name];
const QUICK = env('RG_BENCH_QUICK') === '1';
const CONNECTIONS = QUICK ? 200 : 1_000;
const MORE_CHANNELS_PER_CONNECTION = 9; // 1 + 9 = 10 channels per connection: 10,000 channels
const SATURATE_MS = QUICK ? 2_000 : 5_000;
const WINDOW = 10;
const root = fileURLToPath(new URL('../..', import.meta.url));
const runDir = join(root, '.tmp', 'bench-sri');
const wallNowMs = (): number => performance.timeOrigin + performance.now();
const provider = selectCryptoProvider('auto');

const skip = sriSkipReason();
if (skip !== undefined) {
  console.log(`SKIP sri-side-by-side: ${skip}`);
  process.exit(0);
}

// ---- a template source we can move: the recorded btcd template, prev hash chosen ------------

class BenchSource implements TemplateSource {
  prevIndex = 0;
  getBlockTemplate(templateId: bigint): Promise<Result<BlockTemplate, UpstreamError>> {
    const parsed = parseGetBlockTemplate(benchTemplateJson(this.prevIndex), { templateId });
    if (!parsed.ok) throw new Error(`fixture template: ${parsed.error.message}`);
    return Promise.resolve(ok(parsed.value));
  }
  submitBlock(): Promise<Result<SubmitBlockOutcome, UpstreamError>> {
    throw new Error('no block can be found on a difficulty-1 template in this benchmark');
  }
}

// ---- ReserveGrid: gateway + Template Provider -------------------------------------------------

const authority = generateAuthorityKeyPair(systemRandom);
const source = new BenchSource();

async function startReserveGrid(): Promise<{ stack: GatewayStack; tpPort: number }> {
  const toml = `
[gateway]
mode = "observe"
id = 1
listen_addr = "127.0.0.1:0"
verifier_addr = "embedded"
upstream_url = "embedded"
upstream_failure_policy = "permit_all"
http_api_key = "bench-api-key-not-used"
event_log_path = "-"
max_connections = 20000

[noise]
authority_public_key = "${authority.publicKey}"
authority_secret_key = "${authority.secretKeyText}"

[timing]
upstream_poll_interval_ms = 60000
job_broadcast_interval_ms = 100
handshake_timeout_ms = 120000

[share]
share_upstream_url = "http://127.0.0.1:9/shares"
share_upstream_secret = "bench-hmac-secret-not-used"

[auth]
mode = "open"

[mining]
payout = [ { script_hex = "0014751e76e8199196d454941c45d1b3a323f1433bd6", weight = 1 } ]
min_difficulty = 1e-12
vardiff_enabled = false
share_ack_batch_size = ${WINDOW}

[template_provider]
listen_addr = "127.0.0.1:0"
`;
  const loaded = loadConfig({ tomlText: toml, fileName: 'bench.toml', env: {} });
  if (!loaded.ok) throw new Error(`bench config: ${loaded.problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
    // min_difficulty 0 (the easiest target, as in gateway.bench.ts) has no config value (> 0), so
  // it comes through the channel settings the stack accepts for benchmarks.
  const stack = await startGatewayStack({
    config: loaded.config, templateSource: source, clock: new SystemClock(), random: systemRandom, provider, eventLog: false, shareForwarding: false,
    gatewayDeps: { channels: { minDifficulty: 0 } },
  });
  await stack.poller.pollNow();
  const tp = (stack as unknown as { tdpAddress: { port: number } | null }).tdpAddress;
  if (tp === null || tp === undefined) throw new Error('the gateway stack has no Template Provider listener');
  return { stack, tpPort: tp.port };
}

// ---- one target --------------------------------------------------------------------------------

interface Figures {
  handshakesPerS: number;
  sharesPerS: number;
  ackP50Ms: number;
  ackP99Ms: number;
  rejected: number;
  loadCpuShare: number;
  handshakeLoadCpuShare: number;
  prevhash1kMs: number;
  prevhash10kMs: number;
  idleConnRssBytes: number;
}

async function measure(label: string, port: number, authorityXOnlyHex: string, pid: number | 'self'): Promise<Figures> {
  // Replies read field by field (`any`): the load process's protocol is JSON, checked by use.
  const load = startLoad<Record<string, any>>();
  try {
    const rss0 = rssBytes(pid);
    const c = await load.request({ cmd: 'connect', host: HOST, port, authority: authorityXOnlyHex, connections: CONNECTIONS, channelsPerConnection: 1, kind: 'extended' });
    if (c['channelsActive'] !== CONNECTIONS) throw new Error(`${label}: ${c['channelsActive']} of ${CONNECTIONS} channels active after connect`);
    await sleep(500);
    const rss1 = rssBytes(pid);
    const sat = await load.request({ cmd: 'saturate', durationMs: SATURATE_MS, window: WINDOW });
    const prevhash = async (expected: number): Promise<number> => {
      const watching = load.expect('watching');
      const done = load.request({ cmd: 'watch_prevhash', expected });
      await watching;
      const t0 = wallNowMs();
      source.prevIndex++;
      await reserveGrid.stack.poller.pollNow();
      const r = await Promise.race([done, sleep(60_000).then(() => { throw new Error(`${label}: ${expected} SetNewPrevHash not seen within 60 s`); })]);
      return (r['lastWallMs'] as number) - t0;
    };
    const prevhash1kMs = await prevhash(CONNECTIONS);
    const more = await load.request({ cmd: 'open', kind: 'extended', channelsPerConnection: MORE_CHANNELS_PER_CONNECTION });
    if (more['channelsActive'] < CONNECTIONS * (1 + MORE_CHANNELS_PER_CONNECTION)) throw new Error(`${label}: only ${more['channelsActive']} channels active after opening more`);
    await sleep(500);
    const prevhash10kMs = await prevhash(CONNECTIONS * (1 + MORE_CHANNELS_PER_CONNECTION));
    const figures: Figures = {
      handshakesPerS: (CONNECTIONS * 1000) / (c['connectMs'] as number),
      sharesPerS: sat['ackedPerS'] as number,
      ackP50Ms: sat['latencyP50Ms'] as number,
      ackP99Ms: sat['latencyP99Ms'] as number,
      rejected: sat['rejected'] as number,
      loadCpuShare: (sat['loadCpuMs'] as number) / (sat['loadWallMs'] as number),
      handshakeLoadCpuShare: (c['loadCpuMs'] as number) / (c['loadWallMs'] as number),
      prevhash1kMs,
      prevhash10kMs,
      idleConnRssBytes: (rss1 - rss0) / CONNECTIONS,
    };
    console.log(`# ${label}: ${JSON.stringify(figures)}${figures.rejected > 0 ? ` rejected by ${JSON.stringify(sat['rejectedBy'])}` : ''}`);
    return figures;
  } finally {
    await load.close();
  }
}

// ---- the run -------------------------------------------------------------------------------------

const reserveGrid = await startReserveGrid();
let pool: Pool | undefined;
try {
  const rgPort = reserveGrid.stack.address.port;
  console.log(`# ${runtime}: ReserveGrid gateway 127.0.0.1:${rgPort}, TP 127.0.0.1:${reserveGrid.tpPort}; ${CONNECTIONS} connections`);
  const rg = await measure('ReserveGrid', rgPort, bytesToHex(authority.publicKeyXOnly), 'self');
  pool = await startPool({ tpPort: reserveGrid.tpPort, tpAuthorityPublicKey: authority.publicKey, runDir, shareBatchSize: WINDOW });
  console.log(`# SRI pool_sv2 0.7.0 on 127.0.0.1:${pool.port} (pid ${pool.child.pid}), fed by our TP`);
  const sri = await measure('SRI pool_sv2', pool.port, pool.authorityXOnlyHex, pool.child.pid!);
  const p = provider.name;
  const rows: [string, keyof Figures, string, boolean][] = [
    ['handshakes_per_s', 'handshakesPerS', '/s', true],
    ['shares_per_s', 'sharesPerS', '/s', true],
    ['ack_p50_ms', 'ackP50Ms', 'ms', false],
    ['ack_p99_ms', 'ackP99Ms', 'ms', false],
    ['prevhash_1k_ms', 'prevhash1kMs', 'ms', false],
    ['prevhash_10k_ms', 'prevhash10kMs', 'ms', false],
    ['idle_conn_rss_bytes', 'idleConnRssBytes', 'B', false],
  ];
  for (const [name, key, unit, higherIsBetter] of rows) {
    report({ provider: p, name: `sbs_${name}_rg`, value: rg[key], unit });
    report({ provider: p, name: `sbs_${name}_sri`, value: sri[key], unit });
    const ratio = higherIsBetter ? rg[key] / sri[key] : sri[key] / rg[key];
    report({ provider: p, name: `sbs_${name}_ratio`, value: ratio, unit: higherIsBetter ? 'RG/SRI' : 'SRI/RG (>1: RG better)' });
  }
  report({ provider: p, name: 'sbs_load_cpu_share_shares_rg', value: rg.loadCpuShare, unit: 'cores' });
  report({ provider: p, name: 'sbs_load_cpu_share_shares_sri', value: sri.loadCpuShare, unit: 'cores' });
  report({ provider: p, name: 'sbs_load_cpu_share_handshakes_rg', value: rg.handshakeLoadCpuShare, unit: 'cores' });
  report({ provider: p, name: 'sbs_load_cpu_share_handshakes_sri', value: sri.handshakeLoadCpuShare, unit: 'cores' });
} finally {
  if (pool !== undefined) await pool.stop();
  await reserveGrid.stack.stop();
}
process.exit(0);
