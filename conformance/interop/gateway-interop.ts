// Interop against OUR GATEWAY (issue 3 item 10), driven by run.ts:
//
//  (d) SRI extended-channel share: `sri-harness extended` opens an extended channel on an
//      in-process gateway (adapters/gateway-stack.ts on 127.0.0.1:0), feeds the gateway's
//      NewExtendedMiningJob + SetNewPrevHash into channels_sv2's client ExtendedChannel, grinds
//      nonces until SRI's own validate_share says the share meets the channel target, submits,
//      and must get SubmitShares.Success for every share; the gateway must emit share_accepted
//      for exactly those share hashes and no share_rejected.
//  (e) SRI translator: translator_sv2 (crates.io, `cargo install --locked` into the machine's
//      interop cache, sri-apps.ts) connects to the same gateway (127.0.0.1 only,
//      our authority key pinned, credential in user_identity per docs/auth.md) and our minimal
//      SV1 miner (sv1-client.ts) mines behind it: every SV1 share must be answered true AND show
//      up as a gateway share_accepted with the same header hash.
//  (f) SRI block: on a second gateway whose chain has an easy network target, the harness
//      submits only a share channels_sv2 reports as BlockFound; the gateway must accept it, build
//      the block, and the embedded chain must validate and connect it (tip = SRI's hash).
//
// Templates come from the demo's embedded chain (adapters/embedded-source.ts) — (d)/(e) at
// network difficulty 1 with new transactions every second (job updates on the same prevhash),
// (f) at about one block per 50,000 hashes. The gateway config is built by core/config
// loadConfig from the inline TOML below: allowlist auth, a per-run authority key, difficulty
// bounds low enough for a CPU, vardiff off and one share per SubmitShares.Success.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SystemClock } from '../../adapters/clock.ts';
import type { StampedEvent } from '../../adapters/gateway-server.ts';
import { startGatewayStack, type GatewayStack } from '../../adapters/gateway-stack.ts';
import { EmbeddedTemplateSource } from '../../adapters/embedded-source.ts';
import { systemRandom } from '../../adapters/random.ts';
import { loadConfig } from '../../core/config/load.ts';
import type { Config } from '../../core/config/schema.ts';
import type { CryptoProvider } from '../../core/crypto/provider.ts';
import type { AuthorityKeyPair } from '../../core/noise/index.ts';
import { nbitsForExpectedHashes } from '../../core/template/embedded-chain.ts';
import { runSv1Miner, type Sv1MinerResult } from './sv1-client.ts';
import { binaryPath, installBundle, TRANSLATOR_BUNDLE } from './sri-apps.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const TARGET_DIR = join(HERE, 'target');

const TRANSLATOR_CRATE = TRANSLATOR_BUNDLE.crates[0]!.crate;
const TRANSLATOR_VERSION = TRANSLATOR_BUNDLE.crates[0]!.version;
const TRANSLATOR_BIN = binaryPath(TRANSLATOR_BUNDLE, TRANSLATOR_BUNDLE.crates[0]!.bin);

const USERNAME = 'interop';
const PASSWORD = 'interop-pw';
/** Extended-channel shares the SRI harness submits, and SV1 shares the miner must get accepted. */
const EXTENDED_SHARES = 3;
const SV1_SHARES = 3;
/** Translator side: 20 kH/s per miner and 60 shares/min → an SV1 share every ~20,000 hashes. */
const TRANSLATOR_MINER_HASHRATE = 20_000;
const TRANSLATOR_SHARES_PER_MINUTE = 60;
/**
 * Gateway side. The translator sends max_target = its SV1 target (hashrate_to_target(20 kH/s,
 * 60/min), difficulty ≈ 4.7e-6), and the gateway refuses a max_target harder than its
 * max_difficulty allows (`max-target-out-of-range`; SRI's pool just clamps), so max_difficulty
 * must be above it. With 120 shares/min the gateway's own initial target (from the same nominal
 * hash rate) is easier than that max_target and is clamped to it: upstream target = SV1 target,
 * so every SV1 share the translator accepts is also forwarded upstream.
 */
const GATEWAY_SHARES_PER_MINUTE = 120;
const GATEWAY_MAX_DIFFICULTY = 1e-4;
const GATEWAY_MIN_DIFFICULTY = 1e-9;

export type Report = (name: string, problems: readonly string[]) => void;

// ---- bounded child processes ----------------------------------------------------------------

interface Child {
  readonly process: ChildProcess;
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>;
  kill(): void;
}

const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

/** Spawns `cmd` with stdout+stderr captured (last 256 KiB), killed after `timeoutMs`. */
function spawnBounded(cmd: string, args: readonly string[], options: { timeoutMs: number; cwd?: string; env?: NodeJS.ProcessEnv }): Child {
  const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  let out = '';
  let timedOut = false;
  const keep = (chunk: string): void => {
    out += chunk;
    if (out.length > 256_000) out = out.slice(-256_000);
  };
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>((resolve) => {
    child.on('error', (error) => keep(`spawn error: ${error.message}\n`));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      resolve({ code, signal, timedOut });
    });
  });
  return { process: child, output: () => out, exited, kill: () => child.kill('SIGKILL') };
}

function jsonLines(text: string): Record<string, any>[] {
  const lines: Record<string, any>[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(t) as Record<string, any>);
    } catch {
      // stderr diagnostics interleaved with stdout: not a JSON line
    }
  }
  return lines;
}

// ---- gateway --------------------------------------------------------------------------------

/** The gateway's config for these runs (TOML, parsed and validated by core/config). */
export function interopConfigToml(keys: AuthorityKeyPair): string {
  return `
[gateway]
mode = "observe"
id = 7
listen_addr = "127.0.0.1:0"
verifier_addr = "embedded"
upstream_url = "embedded"
upstream_failure_policy = "permit_all"
http_api_key = "interop-api-key-not-used"
event_log_path = "-"

[noise]
authority_public_key = "${keys.publicKey}"
authority_secret_key = "${keys.secretKeyText}"

[timing]
upstream_poll_interval_ms = 500
job_broadcast_interval_ms = 50

[share]
share_upstream_url = "http://127.0.0.1:9/shares"
share_upstream_secret = "interop-hmac-secret-not-used"

[auth]
mode = "allowlist"
allowlist = [ { username = "${USERNAME}", password = "${PASSWORD}" } ]

[mining]
payout = [ { script_hex = "0014751e76e8199196d454941c45d1b3a323f1433bd6", weight = 1 } ]
min_difficulty = ${GATEWAY_MIN_DIFFICULTY}
max_difficulty = ${GATEWAY_MAX_DIFFICULTY}
shares_per_minute = ${GATEWAY_SHARES_PER_MINUTE}
vardiff_enabled = false
share_ack_batch_size = 1
`;
}

interface RunningGateway {
  readonly stack: GatewayStack;
  readonly source: EmbeddedTemplateSource;
  readonly events: StampedEvent[];
  readonly label: string;
  stop(): Promise<void>;
}

/**
 * A gateway on 127.0.0.1:0 over the demo's embedded chain (adapters/embedded-source.ts: real
 * templates with transactions and fees; found blocks are validated — header, PoW, merkle root,
 * witness commitment — and connected). `nbits` sets the network target; `transactionIntervalMs`
 * makes templates change on the same prevhash (job updates) while the miners work.
 */
async function startInteropGateway(keys: AuthorityKeyPair, provider: CryptoProvider, nbits: number, transactionIntervalMs: number): Promise<RunningGateway> {
  const clock = new SystemClock();
  const source = new EmbeddedTemplateSource({ clock, random: systemRandom, chain: { nbits }, transactionIntervalMs });
  const label = `embedded chain, nbits 0x${nbits.toString(16)}${transactionIntervalMs > 0 ? `, transactions every ${transactionIntervalMs} ms` : ''}`;
  const loaded = loadConfig({ tomlText: interopConfigToml(keys), fileName: 'interop.toml', env: {} });
  if (!loaded.ok) throw new Error(`interop config: ${loaded.problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
  const config: Config = loaded.config;
  const events: StampedEvent[] = [];
  const stack = await startGatewayStack({
    config,
    templateSource: source,
    clock,
    random: systemRandom,
    provider,
    eventLog: false,
    shareForwarding: false,
    onEvent: (event) => {
      if (events.length < 100_000) events.push(event);
    },
  });
  source.start();
  // A new block or new transactions: poll at once rather than at the next poll interval.
  source.onChange = () => void stack.poller.pollNow();
  const stop = async (): Promise<void> => {
    source.stop();
    await stack.stop();
  };
  return { stack, source, events, label, stop };
}

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

function summarize(events: readonly StampedEvent[], extra: (e: StampedEvent) => boolean = () => true): string {
  return events
    .filter(extra)
    .slice(-12)
    .map((e) => JSON.stringify(e).slice(0, 300))
    .join('\n         ');
}

// ---- (d) SRI extended channel share ----------------------------------------------------------

async function sriExtendedShare(report: Report, harnessBin: string, gw: RunningGateway, keys: AuthorityKeyPair): Promise<void> {
  const label = `(d) SRI channels_sv2 extended channel → our gateway [${gw.label}]`;
  const identity = `${USERNAME}:${PASSWORD}.sri-extended`;
  const child = spawnBounded(harnessBin, [
    'extended', '--addr', `127.0.0.1:${gw.stack.address.port}`, '--authority-pubkey', keys.publicKey,
    '--shares', String(EXTENDED_SHARES), '--user-identity', identity, '--nominal-hash-rate', '1000',
    '--min-extranonce-size', '8', '--timeout-ms', '25000',
  ], { timeoutMs: 30_000 });
  const { code, timedOut } = await child.exited;
  const lines = jsonLines(child.output());
  const result = lines.find((l) => l['event'] === 'result');
  const found = lines.filter((l) => l['event'] === 'share-found');
  const channel = lines.find((l) => l['event'] === 'channel');
  const problems: string[] = [];
  if (code !== 0 || result?.['ok'] !== true) {
    problems.push(`sri-harness extended exit ${code}${timedOut ? ' (killed at timeout)' : ''}: ${JSON.stringify(result ?? null)}`);
    problems.push(`harness output (tail): ${child.output().slice(-1500)}`);
  } else if (result['acknowledged'] !== EXTENDED_SHARES) problems.push(`SRI counts ${result['acknowledged']} acknowledged shares, expected ${EXTENDED_SHARES}`);
  report(`${label}: handshake (pinned), OpenExtendedMiningChannel.Success, future job + SetNewPrevHash into ExtendedChannel, ${EXTENDED_SHARES} shares built by validate_share → SubmitShares.Success`, problems);

  // The gateway's view: an extended channel for that identity, share_accepted for exactly the
  // hashes SRI computed (SRI prints sha256d internal order; events carry display order).
  const channelId = channel?.['channel_id'];
  await waitFor(() => gw.events.filter((e) => e.type === 'share_accepted' && e.channel_id === channelId).length >= found.length, 2_000);
  const gp: string[] = [];
  const opened = gw.events.find((e) => e.type === 'channel_opened' && e.channel_id === channelId && e.kind === 'extended');
  if (opened === undefined) gp.push(`no channel_opened (extended) event for channel ${channelId}`);
  else if (opened.type === 'channel_opened' && opened.identity !== `${USERNAME}.sri-extended`) gp.push(`channel identity ${opened.identity}, expected ${USERNAME}.sri-extended (credential removed)`);
  const accepted = gw.events.filter((e) => e.type === 'share_accepted' && e.channel_id === channelId);
  const acceptedHashes = new Set(accepted.map((e) => (e.type === 'share_accepted' ? e.hash : '')));
  for (const f of found) {
    const display = String(f['hash']).match(/../g)!.reverse().join('');
    if (!acceptedHashes.has(display)) gp.push(`SRI share ${display} (nonce ${f['nonce']}) has no share_accepted event`);
  }
  if (accepted.length !== EXTENDED_SHARES) gp.push(`${accepted.length} share_accepted events, expected ${EXTENDED_SHARES}`);
  const rejected = gw.events.filter((e) => e.type === 'share_rejected' && e.channel_id === channelId);
  if (rejected.length > 0) gp.push(`share_rejected: ${summarize(rejected)}`);
  if (found.length > 0) console.log(`#   SRI ground ${found.at(-1)!['hashes']} hashes for ${found.length} shares in ${found.at(-1)!['grind_ms']} ms; channel target ${channel?.['target']}`);
  report(`${label}: gateway emits share_accepted for exactly SRI's ${EXTENDED_SHARES} share hashes, none rejected`, gp);
}

// ---- (e) SRI translator ----------------------------------------------------------------------

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}

/** The translator's config (format: translator_sv2 0.6.0 README / config-examples). */
export function translatorConfigToml(downstreamPort: number, gatewayPort: number, authorityPublicKey: string): string {
  return `# Written by conformance/interop/gateway-interop.ts for one run; loopback only.
downstream_address = "127.0.0.1"
downstream_port = ${downstreamPort}
max_supported_version = 2
min_supported_version = 2
downstream_extranonce2_size = 4
verify_payout = false
aggregate_channels = true
supported_extensions = []

[downstream_difficulty_config]
min_individual_miner_hashrate = ${TRANSLATOR_MINER_HASHRATE.toFixed(1)}
shares_per_minute = ${TRANSLATOR_SHARES_PER_MINUTE.toFixed(1)}
enable_vardiff = true
job_keepalive_interval_secs = 0

[[upstreams]]
address = "127.0.0.1"
port = ${gatewayPort}
authority_pubkey = "${authorityPublicKey}"
user_identity = "${USERNAME}:${PASSWORD}"
`;
}

async function translatorEndToEnd(report: Report, gw: RunningGateway, keys: AuthorityKeyPair): Promise<void> {
  const label = `(e) SRI ${TRANSLATOR_CRATE} ${TRANSLATOR_VERSION} + our SV1 miner → our gateway [${gw.label}]`;
  const runDir = join(TARGET_DIR, 'translator-run');
  mkdirSync(runDir, { recursive: true });
  const downstreamPort = await freeLoopbackPort();
  const configPath = join(runDir, 'tproxy.toml');
  writeFileSync(configPath, translatorConfigToml(downstreamPort, gw.stack.address.port, keys.publicKey));
  const eventsBefore = gw.events.length;
  const translator = spawnBounded(TRANSLATOR_BIN, ['-c', configPath], {
    timeoutMs: 90_000,
    cwd: runDir,
    env: { ...process.env, RUST_LOG: process.env['RUST_LOG'] ?? 'info', NO_COLOR: '1' },
  });
  try {
    const problems: string[] = [];
    let result: Sv1MinerResult | undefined;
    // The translator connects upstream (SetupConnection) at start and opens its extended
    // channel when the first SV1 miner arrives (aggregated mode).
    const up = await waitFor(() => gw.events.slice(eventsBefore).some((e) => e.type === 'connection_setup'), 20_000);
    let listening = false;
    for (const until = Date.now() + 15_000; up && !listening && Date.now() < until && translator.process.exitCode === null; ) {
      listening = await canConnect(downstreamPort);
      if (!listening) await new Promise((r) => setTimeout(r, 200));
    }
    if (!up) problems.push(`the translator did not set up a connection to the gateway within 20 s; gateway events: ${summarize(gw.events.slice(eventsBefore))}`);
    else if (!listening) problems.push(`the translator does not listen on 127.0.0.1:${downstreamPort}`);
    else {
      const sv1Log: string[] = [];
      try {
        result = await runSv1Miner({
          host: '127.0.0.1',
          port: downstreamPort,
          user: `${USERNAME}.sv1-worker`,
          password: 'x',
          sharesWanted: SV1_SHARES,
          rejectsMax: 3,
          timeoutMs: 45_000,
          log: (l) => sv1Log.push(l.slice(0, 400)),
        });
      } catch (error) {
        problems.push(`SV1 miner: ${(error as Error).message}`);
        problems.push(`SV1 traffic (tail):\n         ${sv1Log.slice(-10).join('\n         ')}`);
      }
    }
    if (problems.length > 0) problems.push(`translator output (tail): ${translator.output().slice(-3000)}`);
    const sv1 = result;
    if (sv1 !== undefined) {
      console.log(
        `#   SV1: extranonce1 ${sv1.extranonce1}, extranonce2_size ${sv1.extranonce2Size}, difficulty ${sv1.difficulties.join(' → ')}, ` +
          `${sv1.notifies} notify, ${sv1.submits.length} submits (${sv1.accepted} true), ${sv1.submits.at(-1)?.hashes ?? 0} hashes`,
      );
    }
    report(`${label}: translator opens an extended channel (pinned key, allowlist credential), SV1 subscribe/authorize/notify, ${SV1_SHARES} mining.submit answered true`, problems);

    // End to end: every SV1 share the translator accepted reached the gateway as share_accepted
    // on the translator's channel with the same header hash; nothing was rejected.
    const ep: string[] = [];
    if (sv1 !== undefined) {
      const mine = new Set(sv1.submits.filter((s) => s.result === true).map((s) => s.hash));
      await waitFor(() => gw.events.slice(eventsBefore).filter((e) => e.type === 'share_accepted' && mine.has(e.hash)).length >= mine.size, 5_000);
      const newEvents = gw.events.slice(eventsBefore);
      const opened = newEvents.filter((e) => e.type === 'channel_opened');
      const extended = opened.find((e) => e.type === 'channel_opened' && e.kind === 'extended');
      if (extended === undefined || extended.type !== 'channel_opened') ep.push(`no extended channel_opened from the translator: ${summarize(opened)}`);
      else if (!extended.identity.startsWith(USERNAME)) ep.push(`translator channel identity ${extended.identity}`);
      const acceptedHashes = new Set(newEvents.filter((e) => e.type === 'share_accepted').map((e) => (e.type === 'share_accepted' ? e.hash : '')));
      for (const h of mine) if (!acceptedHashes.has(h)) ep.push(`SV1 share ${h} accepted by the translator but no share_accepted from the gateway`);
      const rejected = newEvents.filter((e) => e.type === 'share_rejected');
      if (rejected.length > 0) ep.push(`gateway share_rejected: ${summarize(rejected)}`);
      if (ep.length > 0) ep.push(`gateway events (tail): ${summarize(newEvents)}`, `translator output (tail): ${translator.output().slice(-2000)}`);
    } else ep.push('no SV1 shares to follow (see the previous check)');
    report(`${label}: every SV1 share answered true is a gateway share_accepted with the same header hash; no share_rejected`, ep);
  } finally {
    translator.kill();
    await translator.exited;
  }
}

// ---- (f) an SRI-built share that is a block --------------------------------------------------

async function sriExtendedBlock(report: Report, harnessBin: string, gw: RunningGateway, keys: AuthorityKeyPair): Promise<void> {
  const label = `(f) SRI channels_sv2 extended channel → our gateway [${gw.label}]`;
  const heightBefore = gw.source.chain.height;
  const child = spawnBounded(harnessBin, [
    'extended', '--addr', `127.0.0.1:${gw.stack.address.port}`, '--authority-pubkey', keys.publicKey,
    '--shares', '1', '--until-block', '--user-identity', `${USERNAME}:${PASSWORD}.sri-block`, '--nominal-hash-rate', '1000',
    '--timeout-ms', '25000',
  ], { timeoutMs: 30_000 });
  const { code, timedOut } = await child.exited;
  const lines = jsonLines(child.output());
  const result = lines.find((l) => l['event'] === 'result');
  const found = lines.find((l) => l['event'] === 'share-found');
  const problems: string[] = [];
  if (code !== 0 || result?.['ok'] !== true || found?.['block'] !== true) {
    problems.push(`sri-harness extended --until-block exit ${code}${timedOut ? ' (killed at timeout)' : ''}: ${JSON.stringify(result ?? null)}`);
    problems.push(`harness output (tail): ${child.output().slice(-1500)}`);
  }
  report(`${label}: SRI's validate_share reports BlockFound for a share it built; SubmitShares.Success`, problems);

  const bp: string[] = [];
  const display = typeof found?.['hash'] === 'string' ? (found['hash'] as string).match(/../g)!.reverse().join('') : '?';
  await waitFor(() => gw.events.some((e) => e.type === 'block_submit_result' && e.block_hash === display), 5_000);
  const share = gw.events.find((e) => e.type === 'share_accepted' && e.hash === display);
  if (share === undefined || share.type !== 'share_accepted' || !share.block) bp.push(`no share_accepted with block=true for ${display}`);
  if (!gw.events.some((e) => e.type === 'block_found' && e.block_hash === display)) bp.push(`no block_found for ${display}`);
  const submitted = gw.events.find((e) => e.type === 'block_submit_result' && e.block_hash === display);
  if (submitted === undefined || submitted.type !== 'block_submit_result' || submitted.result !== 'accepted') bp.push(`block_submit_result: ${JSON.stringify(submitted ?? null)}`);
  if (gw.source.chain.height !== heightBefore + 1 || gw.source.chain.tipHashDisplay !== display) {
    bp.push(`embedded chain: height ${heightBefore} → ${gw.source.chain.height}, tip ${gw.source.chain.tipHashDisplay}, expected ${display}`);
  }
  if (found !== undefined) console.log(`#   SRI ground ${found['hashes']} hashes in ${found['grind_ms']} ms for block ${display} at height ${gw.source.chain.height}`);
  report(`${label}: the gateway builds the block (share_accepted block=true, block_found) and the embedded chain validates and connects it`, bp);
}

// ---- entry ------------------------------------------------------------------------------------

/** Network difficulty 1 (nbits 0x1d00ffff): no CPU share becomes a block in a run of seconds. */
const NO_BLOCKS_NBITS = 0x1d00ffff;
/** About one block per this many hashes for (f): well under a second for SRI's grinder. */
const BLOCK_EXPECTED_HASHES = 50_000;

/** Runs (d), (e) and (f) against in-process gateways; the translator is installed first. */
export async function gatewayInterop(report: Report, harnessBin: string, keys: AuthorityKeyPair, provider: CryptoProvider): Promise<void> {
  const translatorReady = installBundle(report, TRANSLATOR_BUNDLE);
  const gw = await startInteropGateway(keys, provider, NO_BLOCKS_NBITS, 1000);
  console.log(`# gateway ${gw.stack.sv2Url} (templates: ${gw.label}, crypto: ${provider.name})`);
  try {
    await sriExtendedShare(report, harnessBin, gw, keys);
    if (translatorReady) await translatorEndToEnd(report, gw, keys);
    else report(`(e) SRI ${TRANSLATOR_CRATE} end to end`, ['not run: the translator could not be installed (see above)']);
  } finally {
    await gw.stop();
  }
  const gwBlocks = await startInteropGateway(keys, provider, nbitsForExpectedHashes(BLOCK_EXPECTED_HASHES), 0);
  console.log(`# gateway ${gwBlocks.stack.sv2Url} (templates: ${gwBlocks.label})`);
  try {
    await sriExtendedBlock(report, harnessBin, gwBlocks, keys);
  } finally {
    await gwBlocks.stop();
  }
}
