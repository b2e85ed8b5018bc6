// `reservegrid demo` (what `npm start` runs; issue 3 item 9, SPEC §12): the whole gateway on
// real code paths with nothing to set up. An in-memory config (observe mode, open auth, a fresh
// authority key pair), the embedded regtest-like chain as template source and block sink
// (core/template/embedded-chain.ts), the gateway stack on 127.0.0.1:3333 (or the next free
// port), and a few simulated SV2 miners (adapters/fleet.ts) connecting over real TCP and Noise.
// It prints what happens as readable lines, plus the SV2 address any other miner can use.
// docs/demo.md explains the output and the knobs.
import type { CliIo, Command } from '../io.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { loadConfig, formatProblem } from '../../core/config/index.ts';
import type { Config } from '../../core/config/schema.ts';
import { generateAuthorityKeyPair } from '../../core/noise/keys.ts';
import { nbitsForExpectedHashes } from '../../core/template/embedded-chain.ts';
import type { Clock } from '../../core/clock.ts';
import { ShareFinder } from '../../core/client/finder.ts';
import type { CryptoProvider } from '../../core/crypto/provider.ts';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { EmbeddedTemplateSource, type EmbeddedChange } from '../../adapters/embedded-source.ts';
import { startFleet, type Fleet, type FleetChannelKind } from '../../adapters/fleet.ts';
import type { StampedEvent } from '../../adapters/gateway-server.ts';
import { startGatewayStack, type GatewayStack } from '../../adapters/gateway-stack.ts';
import { startShareSink, type ShareSinkServer } from './share-sink.ts';

const USAGE =
  'demo [--miners N] [--duration-secs S] [--port P] [--http-port P] [--host H] [--block-interval-secs S] [--hashrate H] [--channel standard|extended|mixed] [--report-secs S]';

/** The payout of the demo: P2WPKH of the public key of secret key 1 (BIP173's example script). */
const DEMO_PAYOUT_SCRIPT_HEX = '0014751e76e8199196d454941c45d1b3a323f1433bd6';
/** The demo's HTTP API port (gateway.http_listen_addr's default port); the next ones if taken. */
const DEMO_HTTP_PORT = 8080;
/** Ports tried after the default one when it is taken. */
const PORT_ATTEMPTS_MAX = 20;
/** Fleet ticks: hash this often, `hashrate × tick` nonces per miner each time. */
const FLEET_TICK_MS = 50;
/** Fraction of one core's measured hash rate the simulated miners aim for (the rest: gateway, crypto). */
const FLEET_CPU_SHARE = 0.35;
const HASH_RATE_PER_MINER_MIN = 500;
const HASH_RATE_PER_MINER_MAX = 50_000;
/** How long the start-up hash-rate measurement runs. */
const CALIBRATION_MS = 150;
/** The fleet's own bound when the demo runs until Ctrl-C (Fleet caps durationMs at 24 h). */
const FLEET_DURATION_MAX_MS = 24 * 3_600_000;

export interface DemoOptions {
  readonly miners: number;
  /** 0 = until SIGINT/SIGTERM. */
  readonly durationSecs: number;
  readonly host: string;
  readonly port: number;
  /** The port was given explicitly: do not fall back to the next free one. */
  readonly portExplicit: boolean;
  /** The HTTP API (/metrics, /events, /status, /healthz); null = 8080, or 0 when --port is 0. */
  readonly httpPort: number | null;
  /** Mean block interval the chain's nbits is set for, at the fleet's nominal hash rate. */
  readonly blockIntervalSecs: number;
  /** Nominal hash rate per simulated miner (H/s); null = calibrated on this machine at start. */
  readonly hashRate: number | null;
  readonly channel: FleetChannelKind;
  readonly reportSecs: number;
}

export const DEMO_DEFAULTS: DemoOptions = {
  miners: 4,
  durationSecs: 0,
  host: '127.0.0.1',
  port: 3333,
  portExplicit: false,
  httpPort: null,
  blockIntervalSecs: 5,
  hashRate: null,
  channel: 'mixed',
  reportSecs: 5,
};

/** Parse the command line; a string is the problem to print with the usage. */
export function parseDemoArgs(args: readonly string[]): DemoOptions | string {
  const options: { -readonly [K in keyof DemoOptions]: DemoOptions[K] } = { ...DEMO_DEFAULTS };
  const number = (name: string, text: string | undefined, min: number, max: number, integer: boolean): number | string => {
    const value = Number(text);
    if (text === undefined || text.trim() === '' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      return `${name} must be ${integer ? 'an integer' : 'a number'} in ${min}..${max}, got ${text === undefined ? 'nothing' : JSON.stringify(text)}`;
    }
    return value;
  };
  for (let i = 0; i < args.length; i++) {
    const raw = args[i]!;
    const eq = raw.indexOf('=');
    const name = eq > 0 ? raw.slice(0, eq) : raw;
    const value = eq > 0 ? raw.slice(eq + 1) : args[++i];
    let parsed: number | string;
    switch (name) {
      case '--miners':
        parsed = number(name, value, 0, 1000, true);
        if (typeof parsed === 'string') return parsed;
        options.miners = parsed;
        break;
      case '--duration-secs':
        parsed = number(name, value, 0, 30 * 86_400, false);
        if (typeof parsed === 'string') return parsed;
        options.durationSecs = parsed;
        break;
      case '--port':
        parsed = number(name, value, 0, 65_535, true);
        if (typeof parsed === 'string') return parsed;
        options.port = parsed;
        options.portExplicit = true;
        break;
      case '--http-port':
        parsed = number(name, value, 0, 65_535, true);
        if (typeof parsed === 'string') return parsed;
        options.httpPort = parsed;
        break;
      case '--host':
        if (value === undefined || value === '') return `${name} needs a host`;
        options.host = value;
        break;
      case '--block-interval-secs':
        parsed = number(name, value, 0.01, 86_400, false);
        if (typeof parsed === 'string') return parsed;
        options.blockIntervalSecs = parsed;
        break;
      case '--hashrate':
        parsed = number(name, value, 1, 1e9, true);
        if (typeof parsed === 'string') return parsed;
        options.hashRate = parsed;
        break;
      case '--channel':
        if (value !== 'standard' && value !== 'extended' && value !== 'mixed') return `${name} must be standard, extended or mixed, got ${JSON.stringify(value ?? '')}`;
        options.channel = value;
        break;
      case '--report-secs':
        parsed = number(name, value, 0.1, 3600, false);
        if (typeof parsed === 'string') return parsed;
        options.reportSecs = parsed;
        break;
      default:
        return `unknown option ${JSON.stringify(raw)}`;
    }
  }
  return options;
}

/**
 * The demo's configuration, validated by the same loader as `reservegrid run` (so it is a config
 * a real gateway would accept). Difficulty bounds are set for CPUs: shares every few seconds at
 * tens of kH/s.
 */
export function demoConfig(input: {
  listenAddr: string;
  httpListenAddr?: string;
  authorityPublicKey: string;
  authoritySecretKey: string;
  randomHex: (bytes: number) => string;
  /** The demo's in-process share sink (`reservegrid share-sink` code) and its secret. */
  shareUpstreamUrl?: string;
  shareSecret?: string;
}): Config {
  const toml = `
[gateway]
mode = "observe"
id = 1
listen_addr = "${input.listenAddr}"
verifier_addr = "embedded"
upstream_url = "embedded"
upstream_failure_policy = "permit_all"
http_api_key = "${input.randomHex(16)}"
http_listen_addr = "${input.httpListenAddr ?? '127.0.0.1:0'}"
max_connections = 1000

[noise]
authority_public_key = "${input.authorityPublicKey}"
authority_secret_key = "${input.authoritySecretKey}"

[timing]
upstream_poll_interval_ms = 500
job_broadcast_interval_ms = 100
shutdown_drain_timeout_ms = 1000

[share]
# Accepted shares are batched, HMAC-signed and POSTed to the demo's own share sink, which
# verifies every signature and de-duplicates by share id (docs/share-forwarding.md).
share_upstream_url = "${input.shareUpstreamUrl ?? 'http://127.0.0.1:9/demo-share-sink-not-used'}"
share_upstream_secret = "${input.shareSecret ?? input.randomHex(16)}"
share_batch_interval_ms = 500

[auth]
mode = "open"

[mining]
payout = [{ script_hex = "${DEMO_PAYOUT_SCRIPT_HEX}", weight = 1 }]
pool_tag = "ReserveGrid demo"
min_difficulty = 1e-12
max_difficulty = 1e12
shares_per_minute = 30
vardiff_retarget_interval_secs = 30
share_ack_batch_size = 5
`;
  const loaded = loadConfig({ tomlText: toml, fileName: '(demo config)', env: {} });
  if (!loaded.ok) throw new TypeError(`demo config: ${loaded.problems.map(formatProblem).join('; ')}`);
  return loaded.config;
}

export const demoCommand: Command = {
  words: ['demo'],
  usage: USAGE,
  summary: 'Gateway + embedded chain + simulated SV2 miners on this machine; prints what happens (npm start).',
  docs: 'docs/demo.md',
  async run(args, io) {
    const parsed = parseDemoArgs(args);
    if (typeof parsed === 'string') {
      io.stderr(`reservegrid demo: ${parsed}\nUsage: reservegrid ${USAGE}\n`);
      return 2;
    }
    if (parsed.durationSecs === 0 && io.onShutdownSignal === undefined) {
      io.stderr('reservegrid demo: this entry point cannot deliver Ctrl-C; pass --duration-secs\n');
      return 1;
    }
    return runDemo(parsed, io);
  },
};

export const demoCommands: Command[] = [demoCommand];

// ---- the run --------------------------------------------------------------------------------------

async function runDemo(options: DemoOptions, io: CliIo): Promise<number> {
  const clock = io.clock;
  const startedMs = clock.monotonicMs();
  const elapsed = (): string => `[${((clock.monotonicMs() - startedMs) / 1000).toFixed(1).padStart(6)}s]`;
  const say = (text: string): void => io.stdout(`${elapsed()} ${text}\n`);
  const randomHex = (bytes: number): string => bytesToHex(io.random.fill(new Uint8Array(bytes)));

  // Stop on the first of: Ctrl-C / SIGTERM, --duration-secs.
  let requestStop: (why: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => (requestStop = resolve));
  const removeSignalHook = io.onShutdownSignal?.((signal) => requestStop(`${signal} received`)) ?? (() => {});

  const provider = selectCryptoProvider('auto');
  const authority = generateAuthorityKeyPair(io.random);
  // The simulated miners share this thread with the gateway: give them a fraction of what this
  // machine hashes (measured, since a 2-core CI box and a laptop differ by 10×), so blocks come
  // at about the promised interval without starving the gateway.
  const measuredHashRate = options.hashRate === null ? measureHashRate(provider, clock) : null;
  const hashRate = options.hashRate ?? Math.min(HASH_RATE_PER_MINER_MAX, Math.max(HASH_RATE_PER_MINER_MIN, Math.floor((measuredHashRate! * FLEET_CPU_SHARE) / Math.max(1, options.miners))));
  const fleetHashRate = options.miners * hashRate;
  // A block every blockIntervalSecs on average at the fleet's nominal rate (or at 20 kH/s when the
  // demo runs without simulated miners, for outside miners).
  // The fleet hashes for part of each tick and then waits a whole tick, so it runs at about
  // nominal / (1 + its CPU share); the block target is set for that effective rate.
  const effectiveHashRate = fleetHashRate / (1 + FLEET_CPU_SHARE);
  const nbits = nbitsForExpectedHashes(Math.max(effectiveHashRate, 20_000) * options.blockIntervalSecs);
  let stack: GatewayStack | undefined;
  const source = new EmbeddedTemplateSource({
    clock,
    random: io.random,
    chain: { nbits },
    transactionIntervalMs: 4000,
    transactionsPerIntervalMax: 4,
    onChange: (change) => onChainChange(change),
  });

  const tally = { accepted: 0, rejected: 0, rejectedByCode: new Map<string, number>(), blocksFound: 0, blocksAccepted: 0, blocksOther: 0, firstBlockSecs: null as number | null, forwarded: new Map<string, number>(), forwardRetries: 0 };
  const blockHeights = new Map<string, number>();
  const onChainChange = (change: EmbeddedChange): void => {
    // Wake the poller: miners get the new work now rather than at the next poll interval.
    void stack?.poller.pollNow();
    if (change.kind === 'transactions') {
      say(`mempool: ${change.added} new transaction${change.added === 1 ? '' : 's'} arrived (${change.mempoolSize} waiting, ${_btc(change.mempoolFeesSats)} in fees)`);
    }
  };
  const onEvent = (event: StampedEvent): void => {
    const line = describeEvent(event, tally, blockHeights, clock.monotonicMs() - startedMs);
    if (line !== null) say(line);
  };

  // The pool backend of the demo: the reference share sink, in-process on a free loopback port,
  // with the gateway's secret, so forwarding sends real signed batches that are verified.
  const shareSecret = randomHex(16);
  let sink: ShareSinkServer;
  try {
    sink = await startShareSink({ host: '127.0.0.1', port: 0, secret: shareSecret, provider, wallMs: () => clock.wallMs() });
  } catch (error) {
    removeSignalHook();
    io.stderr(`reservegrid demo: cannot start the share sink on 127.0.0.1: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }

  // Listen on the default port, or the next free one.
  const attempts = (options.portExplicit || options.port === 0) && options.httpPort !== null ? 1 : PORT_ATTEMPTS_MAX;
  const hostText = options.host.includes(':') ? `[${options.host}]` : options.host;
  const httpPortBase = options.httpPort ?? (options.port === 0 ? 0 : DEMO_HTTP_PORT);
  let lastError: unknown;
  let apiKey = '';
  for (let i = 0; i < attempts && stack === undefined; i++) {
    const port = options.portExplicit || options.port === 0 ? options.port : options.port + i;
    const httpPort = options.httpPort !== null || httpPortBase === 0 ? httpPortBase : httpPortBase + i;
    const config = demoConfig({ listenAddr: `${hostText}:${port}`, httpListenAddr: `${hostText}:${httpPort}`, authorityPublicKey: authority.publicKey, authoritySecretKey: authority.secretKeyText, randomHex, shareUpstreamUrl: sink.url, shareSecret });
    apiKey = config.gateway.http_api_key;
    try {
      stack = await startGatewayStack({ config, templateSource: source, clock, random: io.random, provider, eventLog: false, onEvent, http: true, shareForwarding: { journal: 'memory' } });
    } catch (error) {
      lastError = error;
    }
  }
  authority.secretKey.fill(0);
  if (stack === undefined) {
    removeSignalHook();
    await sink.close();
    io.stderr(`reservegrid demo: cannot listen on ${options.host}:${options.port}${attempts > 1 ? `..${options.port + attempts - 1}` : ''}: ${lastError instanceof Error ? lastError.message : String(lastError)}\n`);
    return 1;
  }
  source.start();

  const chain = source.chain;
  const lines = [
    `ReserveGrid demo on ${io.runtime}: gateway (observe mode) + embedded regtest-like chain + ${options.miners} simulated SV2 miner${options.miners === 1 ? '' : 's'}`,
    `  SV2 address      ${stack.sv2Url}`,
    `                   any SV2 miner can join (auth open: any user_identity; difficulty starts from your nominal hash rate, low enough for a CPU)`,
    `  miners           ${options.miners} × ${_rate(hashRate)} nominal${measuredHashRate === null ? '' : ` (this machine hashes ${_rate(measuredHashRate)} on one core; the miners get about ${Math.round(FLEET_CPU_SHARE * 100)} %)`}, ${options.channel} channels`,
    `  chain            height ${chain.height}, nbits 0x${nbits.toString(16)} (a block every ~${options.blockIntervalSecs} s at ${_rate(Math.max(effectiveHashRate, 20_000))}), subsidy ${_btc(chain.nextSubsidySats)}, ${chain.mempoolSize} transactions waiting`,
    `  HTTP API         ${stack.telemetry.http?.url ?? '(off)'}  (/metrics, /events, /events/history, /status; /healthz open)`,
    `  API key          ${apiKey}  (header "Authorization: Bearer KEY" or "X-API-Key: KEY")`,
    `                   try: curl -H 'X-API-Key: ${apiKey}' ${stack.telemetry.http?.url ?? ''}/status`,
    `  crypto           ${provider.name}`,
    `  stop             ${options.durationSecs > 0 ? `after ${options.durationSecs} s, or ` : ''}Ctrl-C`,
  ];
  io.stdout(`${lines.join('\n')}\n`);

  let fleet: Fleet | undefined;
  if (options.miners > 0) {
    const attemptsPerTick = Math.max(1, Math.round((hashRate * FLEET_TICK_MS) / 1000));
    try {
      fleet = await startFleet({
        host: options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host,
        port: stack.address.port,
        certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly },
        miners: options.miners,
        channel: options.channel,
        userIdentity: (i) => `demo.miner${i + 1}`,
        nominalHashRate: hashRate,
        attemptsPerTick,
        tickMs: FLEET_TICK_MS,
        durationMs: options.durationSecs > 0 ? Math.min(FLEET_DURATION_MAX_MS, Math.ceil(options.durationSecs * 1000) + 60_000) : FLEET_DURATION_MAX_MS,
        provider,
        clock,
        random: io.random,
      });
    } catch (error) {
      say(`simulated miners could not start: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  // Periodic summary: shares per interval, measured fleet hash rate, chain state.
  let lastReport = { accepted: 0, rejected: 0, hashes: 0, atMs: clock.monotonicMs(), forwarded: new Map<string, number>() };
  let reportTimer: number | undefined;
  const report = (): void => {
    const now = clock.monotonicMs();
    const hashes = fleet?.stats.hashes ?? 0;
    const secs = (now - lastReport.atMs) / 1000;
    const rejectedCodes = [...tally.rejectedByCode].map(([code, n]) => `${code} ${n}`).join(', ');
    say(
      `shares: ${tally.accepted - lastReport.accepted} accepted, ${tally.rejected - lastReport.rejected} rejected in the last ${secs.toFixed(1)} s ` +
        `(total ${tally.accepted} accepted${tally.rejected > 0 ? `, ${tally.rejected} rejected: ${rejectedCodes}` : ''}); ` +
        `miners hashing ${_rate((hashes - lastReport.hashes) / Math.max(secs, 0.001))}; chain height ${chain.height}, ${chain.mempoolSize} tx waiting`,
    );
    const forwarded = [...tally.forwarded].filter(([, n]) => n > 0);
    const fwdNow = [...tally.forwarded].map(([status, n]) => [status, n - (lastReport.forwarded.get(status) ?? 0)] as const).filter(([, n]) => n > 0);
    const s = sink.stats;
    say(
      `forwarding: ${fwdNow.length === 0 ? 'no results' : fwdNow.map(([status, n]) => `${n} ${status}`).join(', ')} in the last ${secs.toFixed(1)} s` +
        ` (total ${forwarded.length === 0 ? '0' : forwarded.map(([status, n]) => `${n} ${status}`).join(', ')}${tally.forwardRetries > 0 ? `, ${tally.forwardRetries} retries` : ''}); ` +
        `share sink verified ${s.batches} signed batch${s.batches === 1 ? '' : 'es'}, ${s.sharesNew} new shares, ${s.sharesDuplicate} duplicates${Object.keys(s.refused).length > 0 ? `, refused ${JSON.stringify(s.refused)}` : ''}`,
    );
    lastReport = { accepted: tally.accepted, rejected: tally.rejected, hashes, atMs: now, forwarded: new Map(tally.forwarded) };
    reportTimer = clock.setTimer(options.reportSecs * 1000, report);
  };
  reportTimer = clock.setTimer(options.reportSecs * 1000, report);
  const durationTimer = options.durationSecs > 0 ? clock.setTimer(options.durationSecs * 1000, () => requestStop(`${options.durationSecs} s elapsed`)) : undefined;

  const why = await stopRequested;
  removeSignalHook();
  if (durationTimer !== undefined) clock.clearTimer(durationTimer);
  if (reportTimer !== undefined) clock.clearTimer(reportTimer);
  say(`${why}: stopping (simulated miners disconnect; the gateway sends CloseChannel "shutdown" to any other miner and settles blocks in flight)`);
  const fleetStats = fleet === undefined ? undefined : await fleet.stop();
  await stack.stop();
  await sink.close();
  source.stop();
  const stats = stack.gateway.stats;
  io.stdout(
    [
      `demo summary: ${((clock.monotonicMs() - startedMs) / 1000).toFixed(1)} s, ${stats.connectionsAccepted} connections, ` +
        `${stats.sharesAccepted} shares accepted, ${stats.sharesRejected} rejected, ${_plural(tally.blocksFound, 'block')} found, ` +
        `${tally.blocksAccepted} accepted by the chain (height ${chain.height})` +
        (tally.firstBlockSecs === null ? ', no block yet' : `, first block after ${tally.firstBlockSecs.toFixed(1)} s`),
      ...(fleetStats === undefined ? [] : [`  simulated miners: ${fleetStats.hashes} hashes, ${fleetStats.sharesSubmitted} shares submitted, ${fleetStats.sharesAccepted} acknowledged`]),
      `  share forwarding: ${[...tally.forwarded].map(([status, n]) => `${n} ${status}`).join(', ') || 'no shares'}; the share sink verified ${sink.stats.batches} signed batches (${sink.stats.sharesNew} new shares)`,
      '',
    ].join('\n'),
  );
  return 0;
}

/** One readable line per interesting event (null = summarised elsewhere or not worth a line). */
function describeEvent(
  event: StampedEvent,
  tally: { accepted: number; rejected: number; rejectedByCode: Map<string, number>; blocksFound: number; blocksAccepted: number; blocksOther: number; firstBlockSecs: number | null; forwarded: Map<string, number>; forwardRetries: number },
  blockHeights: Map<string, number>,
  elapsedMs: number,
): string | null {
  switch (event.type) {
    case 'connection_opened':
      return `miner connected from ${event.remote_address ?? 'unknown'} (connection ${event.conn_id}, ${event.open_connections} open)`;
    case 'connection_refused':
      return `connection from ${event.remote_address ?? 'unknown'} refused: ${event.reason_code}`;
    case 'connection_setup':
      return `connection ${event.conn_id}: Noise handshake done, SetupConnection ok (SV2 v${event.used_version}${event.vendor ? `, ${event.vendor}` : ''}${event.device_id ? ` ${event.device_id}` : ''})`;
    case 'connection_closed':
      return `connection ${event.conn_id} closed: ${event.reason_code}${event.detail && event.detail !== event.reason_code ? ` (${event.detail})` : ''}; ${event.shares_accepted} shares accepted`;
    case 'channel_opened':
      return `connection ${event.conn_id}: ${event.kind} channel ${event.channel_id} open for ${event.identity}, difficulty ${_difficulty(event.difficulty)}`;
    case 'channel_open_rejected':
      return `connection ${event.conn_id}: ${event.kind} channel refused for ${event.identity}: ${event.reason_code}`;
    case 'channel_closed':
      return `connection ${event.conn_id}: channel ${event.channel_id} closed: ${event.reason_code}`;
    case 'share_accepted':
      tally.accepted++;
      return null;
    case 'share_forward_result':
      tally.forwarded.set(event.status, (tally.forwarded.get(event.status) ?? 0) + 1);
      return null;
    case 'share_forward_retry':
      tally.forwardRetries++;
      return `forwarding: batch ${event.batch_id} attempt ${event.attempt} failed (${event.error}${event.http_status === undefined ? '' : ` ${event.http_status}`}: ${event.reason}); retry in ${event.retry_in_ms} ms`;
    case 'share_rejected':
      tally.rejected++;
      tally.rejectedByCode.set(event.reason_code, (tally.rejectedByCode.get(event.reason_code) ?? 0) + 1);
      return null;
    case 'block_found':
      tally.blocksFound++;
      tally.firstBlockSecs ??= elapsedMs / 1000;
      blockHeights.set(event.block_id, event.height);
      return `BLOCK FOUND at height ${event.height} by ${event.identity}: ${event.block_hash} (submitting to the chain)`;
    case 'block_submit_result': {
      const height = blockHeights.get(event.block_id);
      blockHeights.delete(event.block_id);
      if (event.result === 'accepted') {
        tally.blocksAccepted++;
        return `block ${height ?? '?'} accepted by the embedded chain: ${event.block_hash}`;
      }
      tally.blocksOther++;
      return `block ${height ?? '?'} ${event.result}${event.reason ? `: ${event.reason}` : ''} (${event.block_hash})`;
    }
    case 'block_submit_retry':
      return `block ${event.block_hash}: submit failed (${event.error_code}), retry ${event.attempt} in ${event.retry_in_ms} ms`;
    case 'template_received':
      return event.new_prevhash
        ? `upstream: new block template at height ${event.height} on ${event.prev_hash}: ${_plural(event.tx_count, 'transaction')}, coinbase ${_btc(BigInt(event.coinbase_value))}`
        : `upstream: template update at height ${event.height}: ${_plural(event.tx_count, 'transaction')}, coinbase ${_btc(BigInt(event.coinbase_value))}`;
    case 'job_broadcast':
      return event.kind === 'future_prevhash' && event.connections > 0 ? `jobs: future job + SetNewPrevHash sent to ${event.connections} connection${event.connections === 1 ? '' : 's'}` : null;
    case 'upstream_unavailable':
      return `upstream unavailable (${event.error_code}: ${event.message}); miners keep their last job`;
    case 'upstream_recovered':
      return `upstream back after ${event.consecutive_failures} failure${event.consecutive_failures === 1 ? '' : 's'}`;
    case 'gateway_shutdown':
      return `gateway shutdown ${event.phase} (${event.connections} connections, ${event.blocks_pending} blocks pending)`;
    default:
      return null;
  }
}

/** Header hashes per second of one core with the demo's provider (a bounded ShareFinder run). */
function measureHashRate(provider: CryptoProvider, clock: Clock): number {
  const sha256 = (data: Uint8Array): Uint8Array => provider.sha256(data);
  const finder = new ShareFinder(
    {
      channelId: 1, jobId: 1, version: 0x20000000, versionRollingAllowed: false, prevHash: new Uint8Array(32), merkleRoot: new Uint8Array(32),
      // Target 0: nothing is ever a share, so every attempt is a full header hash.
      ntime: 0, nbits: 0x1d00ffff, target: new Uint8Array(32), extranonce: new Uint8Array(0),
    },
    { sha256 },
  );
  finder.search(2000); // warm-up (JIT)
  const started = clock.monotonicMs();
  let hashes = 0;
  while (clock.monotonicMs() - started < CALIBRATION_MS) hashes += finder.search(2000).attempts;
  return (hashes * 1000) / Math.max(1, clock.monotonicMs() - started);
}

function _plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function _btc(sats: bigint): string {
  const whole = sats / 100_000_000n;
  const fraction = (sats % 100_000_000n).toString().padStart(8, '0');
  return `${whole}.${fraction} BTC`;
}

function _rate(hashesPerSecond: number): string {
  if (hashesPerSecond >= 1e6) return `${(hashesPerSecond / 1e6).toFixed(2)} MH/s`;
  if (hashesPerSecond >= 1e3) return `${(hashesPerSecond / 1e3).toFixed(1)} kH/s`;
  return `${hashesPerSecond.toFixed(0)} H/s`;
}

function _difficulty(difficulty: number): string {
  return difficulty >= 1 ? difficulty.toFixed(2) : difficulty.toPrecision(3);
}
