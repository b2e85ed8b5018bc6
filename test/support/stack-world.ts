// The whole gateway stack (adapters/gateway-stack.ts startGatewayStack, as `reservegrid run`
// builds it) on loopback sockets, for tests that need the wiring: the verifier from
// gateway.verifier_addr, share forwarding, the pump. Templates come from a scripted
// TemplateSource serving the recorded btcd template (real transactions and fees) with a prevhash
// the test moves on demand (`newBlock()`), so each "block" is a new prevhash (SPEC §6).
// Miners are our SV2 client (adapters/fleet.ts MinerConnection) over real TCP and Noise.
// Only node:fs / node:path / node:child_process / the runtime's TCP adapter: node, deno and bun.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEnv, seed } from '../harness.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { MinerConnection } from '../../adapters/fleet.ts';
import type { StampedEvent } from '../../adapters/gateway-server.ts';
import { startGatewayStack, type GatewayStack, type GatewayStackOptions } from '../../adapters/gateway-stack.ts';
import { listenTcp } from '../../adapters/net/index.ts';
import type { TemplateSource } from '../../adapters/template-source.ts';
import { ShareFinder, type MiningWork } from '../../core/client/index.ts';
import { loadConfig, type Config } from '../../core/config/index.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { ok } from '../../core/errors.ts';
import { generateAuthorityKeyPair, type AuthorityKeyPair } from '../../core/noise/keys.ts';
import { SeededRandom } from '../../core/random.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { HARD_BITS, HOST, STEP_MS, sleep, until } from './gateway-under-test.ts';
import { spawnCli, type RuntimeChild } from './child.ts';

export { HOST, STEP_MS, sleep, until };

const GBT = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;

/** The recorded template on prevhash `prevIndex` (display hex), hard nbits (no CPU blocks). */
export function templateOn(prevIndex: number, templateId: bigint): BlockTemplate {
  const json = JSON.parse(JSON.stringify(GBT)) as Record<string, unknown>;
  delete json['target'];
  json['bits'] = HARD_BITS;
  json['previousblockhash'] = prevIndex.toString(16).padStart(64, '0');
  const parsed = parseGetBlockTemplate(json, { templateId });
  if (!parsed.ok) throw new Error(`fixture template did not parse: ${parsed.error.message}`);
  return parsed.value;
}

/** The display prevhash of `templateOn(prevIndex)`, as events report it. */
export function prevHashText(prevIndex: number): string {
  return prevIndex.toString(16).padStart(64, '0');
}

/** Serves templateOn(prevIndex); `prevIndex` moves when the test says a block was found. */
export class ScriptedSource implements TemplateSource {
  prevIndex = 1;
  async getBlockTemplate(templateId: bigint) {
    return ok(templateOn(this.prevIndex, templateId));
  }
  async submitBlock() {
    return ok({ kind: 'accepted' as const });
  }
}

type TomlValue = string | number | boolean;

const BASE: Readonly<Record<string, TomlValue>> = {
  'gateway.mode': 'inline',
  'gateway.id': 11,
  'gateway.listen_addr': '127.0.0.1:0',
  'gateway.verifier_addr': 'embedded',
  // A TemplateSource is passed in (ScriptedSource); "embedded" needs no RPC credentials.
  'gateway.upstream_url': 'embedded',
  'gateway.upstream_failure_policy': 'fail_closed',
  'gateway.http_api_key': 'test-api-key-0123456789',
  'gateway.max_connections': 100,
  'timing.upstream_poll_interval_ms': 60_000,
  'timing.job_broadcast_interval_ms': 0,
  'timing.handshake_timeout_ms': 10_000,
  'timing.shutdown_drain_timeout_ms': 1000,
  'timing.reconnect_backoff_max_ms': 200,
  'share.share_upstream_url': 'http://127.0.0.1:9/shares',
  'share.share_upstream_secret': 'test-share-secret-0123456789',
  'auth.mode': 'open',
  'mining.pool_tag': 'RG-wiring',
  'mining.min_difficulty': 1e-12,
  'mining.max_difficulty': 1e12,
  'mining.shares_per_minute': 6,
  'mining.vardiff_enabled': false,
  'mining.share_ack_batch_size': 1,
};

export function configToml(values: Readonly<Record<string, TomlValue>>, authority: AuthorityKeyPair): string {
  const sections = new Map<string, string[]>();
  const put = (section: string, line: string): void => {
    if (!sections.has(section)) sections.set(section, []);
    sections.get(section)!.push(line);
  };
  for (const [path, value] of Object.entries({ ...BASE, ...values })) {
    const dot = path.indexOf('.');
    put(path.slice(0, dot), `${path.slice(dot + 1)} = ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
  }
  put('noise', `authority_public_key = ${JSON.stringify(authority.publicKey)}`);
  put('noise', `authority_secret_key = ${JSON.stringify(authority.secretKeyText)}`);
  put('mining', 'payout = [ { script_hex = "0014751e76e8199196d454941c45d1b3a323f1433bd6", weight = 1 } ]');
  return [...sections].map(([name, lines]) => `[${name}]\n${lines.join('\n')}\n`).join('\n');
}

export function loadTestConfig(toml: string): Config {
  const loaded = loadConfig({ tomlText: toml, fileName: 'stack-world.toml', env: {} });
  if (!loaded.ok) throw new Error(`test config does not load: ${loaded.problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
  return loaded.config;
}

/** A stamped event with the monotonic time the test saw it. */
export type SeenEvent = StampedEvent & { readonly atMs: number };

export interface StackWorld {
  readonly stack: GatewayStack;
  readonly config: Config;
  readonly toml: string;
  readonly source: ScriptedSource;
  readonly authority: AuthorityKeyPair;
  readonly clock: SystemClock;
  readonly events: SeenEvent[];
  eventsOf<T extends StampedEvent['type']>(type: T): (Extract<StampedEvent, { type: T }> & { atMs: number })[];
  /** The first event of `type` matching `match`, waited for (bounded). */
  waitEvent<T extends StampedEvent['type']>(type: T, match?: (e: Extract<StampedEvent, { type: T }> & { atMs: number }) => boolean, timeoutMs?: number): Promise<Extract<StampedEvent, { type: T }> & { atMs: number }>;
  /** Upstream moved to prevhash `prevIndex`; the poller fetches it now. */
  newBlock(prevIndex: number): Promise<void>;
  miner(salt: number): Promise<Miner>;
  close(): Promise<void>;
}

export interface Miner {
  readonly connection: MinerConnection;
  readonly channelId: number;
  readonly kind: 'standard' | 'extended';
}

export async function startStackWorld(options: {
  salt: number;
  config?: Readonly<Record<string, TomlValue>>;
  stack?: Partial<Pick<GatewayStackOptions, 'shareForwarding' | 'gatewayDeps' | 'listenTcp'>>;
  /** Runs with the config text before the stack starts (e.g. start the verifier process on it). */
  beforeStart?: (toml: string) => Promise<void>;
}): Promise<StackWorld> {
  const clock = new SystemClock();
  const random = new SeededRandom(seed + options.salt);
  const authority = generateAuthorityKeyPair(random);
  const toml = configToml(options.config ?? {}, authority);
  const config = loadTestConfig(toml);
  await options.beforeStart?.(toml);
  const source = new ScriptedSource();
  const events: SeenEvent[] = [];
  const stack = await startGatewayStack({
    config,
    templateSource: source,
    clock,
    random,
    provider: nobleProvider,
    eventLog: false,
    shareForwarding: { journal: 'memory' },
    ...options.stack,
    onEvent: (event) => events.push({ ...event, atMs: clock.monotonicMs() } as SeenEvent),
  });
  const miners: MinerConnection[] = [];
  const eventsOf = <T extends StampedEvent['type']>(type: T) => events.filter((e) => e.type === type) as (Extract<StampedEvent, { type: T }> & { atMs: number })[];
  return {
    stack,
    config,
    toml,
    source,
    authority,
    clock,
    events,
    eventsOf,
    waitEvent: (type, match = () => true, timeoutMs = STEP_MS) => until(`event ${type}`, timeoutMs, () => eventsOf(type).find((e) => match(e))),
    newBlock: async (prevIndex) => {
      source.prevIndex = prevIndex;
      await stack.poller.pollNow();
    },
    miner: async (salt) => {
      const connection = await MinerConnection.connect({
        host: HOST,
        port: stack.address.port,
        clock,
        random: new SeededRandom(seed + options.salt + 1000 + salt),
        certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly },
        client: { requestExtensions: [] },
      });
      miners.push(connection);
      await connection.nextEvent('setup_success', STEP_MS);
      // Alternate kinds: odd salts extended, even standard (share_accepted.extranonce differs).
      const kind = salt % 2 === 1 ? 'extended' : 'standard';
      // nominal 1 H/s at 6 shares/min: an easy target, so a share takes ~11 hashes.
      const request =
        kind === 'extended'
          ? connection.client.openExtendedChannel({ userIdentity: `wiring.m${salt}`, nominalHashRate: 1, minExtranonceSize: 8 })
          : connection.client.openStandardChannel({ userIdentity: `wiring.m${salt}`, nominalHashRate: 1 });
      connection.flush();
      const opened = await connection.nextEvent('channel_opened', STEP_MS, (e) => e.request_id === request);
      return { connection, channelId: opened.channel_id, kind };
    },
    close: async () => {
      for (const m of miners) m.abort();
      await stack.stop();
    },
  };
}

/** A share on the miner's active work (never a block: hard nbits); bounded. */
export function findShare(miner: Miner): { work: MiningWork; nonce: number; ntime: number; version: number } {
  for (let round = 0; round < 64; round++) {
    const work = miner.connection.client.work(miner.channelId);
    if (work === undefined) throw new Error(`channel ${miner.channelId} has no work`);
    const result = new ShareFinder(work).search(4096);
    if (result.share !== undefined && !result.share.isBlock) return { work, nonce: result.share.nonce, ntime: result.share.ntime, version: result.share.version };
  }
  throw new Error('no share in 64 × 4096 attempts');
}

/** Submit one share on the active work; returns its sequence number and the work used. */
export function submitShare(miner: Miner): { sequenceNumber: number; work: MiningWork; nonce: number; ntime: number; version: number } {
  const found = findShare(miner);
  const sequenceNumber = miner.connection.client.submitShare(miner.channelId, {
    jobId: found.work.jobId,
    nonce: found.nonce,
    ntime: found.ntime,
    version: found.version,
    ...(miner.kind === 'extended' ? { extranonce: found.work.extranonce } : {}),
  });
  miner.connection.flush();
  return { sequenceNumber, ...found };
}

export async function freePort(): Promise<number> {
  const l = await listenTcp({ host: HOST, port: 0 }, (s) => s.abort());
  const port = l.port;
  await l.close();
  return port;
}

/** `reservegrid verifier --config <file>` as a child process of this runtime's entry point. */
export interface VerifierProcess {
  readonly process: RuntimeChild;
  /**
   * Sends the signal from outside, as a supervisor does (Deno's child.kill misreports the exit,
   * see gateway-btcd.test.ts), and waits up to 15 s: the exit code, or null (killed or hung).
   */
  kill(signal: 'KILL' | 'TERM'): Promise<number | null>;
}

export function writeTempConfig(toml: string, prefix: string): string {
  const dir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', prefix));
  const file = join(dir, 'gateway.toml');
  writeFileSync(file, toml);
  return file;
}

export async function startVerifierProcess(configFile: string): Promise<VerifierProcess> {
  const child = spawnCli(['verifier', '--config', configFile]);
  const proc: VerifierProcess = {
    process: child,
    kill: async (signal) => {
      if (child.running) spawn('kill', [`-${signal}`, String(child.child.pid)], { stdio: 'ignore' });
      const exit = await Promise.race([child.exited, sleep(15_000).then(() => undefined)]);
      return exit?.code ?? null;
    },
  };
  await until('verifier process listening', 60_000, () => {
    if (!child.running) throw new Error(`verifier exited early (${child.child.exitCode}): ${child.stderr()}`);
    return /listening on /.test(child.stdout()) ? true : undefined;
  });
  return proc;
}
