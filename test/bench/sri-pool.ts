// What the benchmarks that run SRI's pool_sv2 beside ReserveGrid share (sri-side-by-side.bench.ts,
// scale.bench.ts): the pool process on a Template Provider, free loopback ports, a connect probe,
// a process's RSS, and the bench template (the recorded btcd template with a hard network
// target, so that no share of a run is a block, and a prev hash the bench chooses).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as stringifyToml } from 'smol-toml';
import { systemRandom } from '../../adapters/random.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { generateAuthorityKeyPair } from '../../core/noise/index.ts';
import { binaryPath, SRI_APPS_BUNDLE } from '../../conformance/interop/sri-apps.ts';
import { until } from '../support/wait.ts';

export const HOST = '127.0.0.1';
export const POOL_BIN = binaryPath(SRI_APPS_BUNDLE, 'pool_sv2');

const env = (name: string): string | undefined => (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name];

/** Why a bench that needs pool_sv2 and /proc cannot run here, or undefined when it can. */
export function sriSkipReason(): string | undefined {
  if (!existsSync(POOL_BIN)) return `${POOL_BIN} is not installed (npm run test:interop installs SRI's apps; conformance/interop/sri-apps.ts)`;
  if (!existsSync('/proc/self/status')) return 'needs /proc (Linux) to read the server processes';
  return undefined;
}

const GBT = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;

/**
 * The recorded btcd getblocktemplate result (2 transactions, a 2-level merkle path) with
 * bits 1d00ffff (difficulty 1: no share of a benchmark is a block) and the previous block hash
 * set from `prevIndex`, so each index is a distinct tip. A fresh object each call.
 */
export function benchTemplateJson(prevIndex: number): Record<string, unknown> {
  const json = JSON.parse(JSON.stringify(GBT)) as Record<string, unknown>;
  delete json['target'];
  json['bits'] = '1d00ffff';
  json['previousblockhash'] = (0xbe000000 + prevIndex).toString(16).padStart(64, '0');
  return json;
}

export interface Pool {
  readonly child: ChildProcess;
  readonly port: number;
  /** The pool's authority key, x-only hex, for the miners to pin. */
  readonly authorityXOnlyHex: string;
  output(): string;
  /** SIGTERM, then SIGKILL after 7 s. */
  stop(): Promise<void>;
}

/**
 * pool_sv2 0.7.0 on the Template Provider at 127.0.0.1:`tpPort` (Sv2Tp, `tpAuthorityPublicKey`
 * pinned), listening on a free loopback port, files in `runDir`. SRI's example config
 * (config-examples/*\/pool-config-local-sv2-tp-example.toml) without monitoring_address;
 * acknowledgements in batches of `shareBatchSize` like ours.
 */
export async function startPool(options: { tpPort: number; tpAuthorityPublicKey: string; runDir: string; shareBatchSize: number }): Promise<Pool> {
  const poolKeys = generateAuthorityKeyPair(systemRandom);
  const port = await freePort();
  mkdirSync(options.runDir, { recursive: true });
  const config = join(options.runDir, 'pool.toml');
  writeFileSync(config, stringifyToml({
    authority_public_key: poolKeys.publicKey, authority_secret_key: poolKeys.secretKeyText, cert_validity_sec: 3600,
    listen_address: `${HOST}:${port}`, coinbase_reward_script: 'addr(bcrt1qq6hag67dl53wl99vzg42z8eyzfz2xlkvwk6f7m)',
    server_id: 1, pool_signature: 'Stratum V2 SRI Pool', shares_per_minute: 6.0, share_batch_size: options.shareBatchSize,
    template_provider_type: { Sv2Tp: { address: `${HOST}:${options.tpPort}`, public_key: options.tpAuthorityPublicKey } },
  }));
  // RUST_LOG=warn: the pool logs every share at info, which would measure its logging.
  const child = spawn(POOL_BIN, ['-c', config], { cwd: options.runDir, env: { PATH: env('PATH') ?? '/usr/bin:/bin', HOME: options.runDir, RUST_LOG: 'warn', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (c: Uint8Array): void => {
    out = (out + new TextDecoder().decode(c)).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30 * 60_000);
  child.on('exit', () => clearTimeout(timer));
  await until('pool_sv2 to listen', 30_000, async () => {
    if (child.exitCode !== null) throw new Error(`pool_sv2 exited ${child.exitCode}: ${out}`);
    return (await canConnect(port)) ? true : undefined;
  }, 100);
  return {
    child, port, authorityXOnlyHex: bytesToHex(poolKeys.publicKeyXOnly), output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 7000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const a = server.address();
      server.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export async function canConnect(port: number): Promise<boolean> {
  const { createConnection } = await import('node:net');
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    const done = (v: boolean): void => {
      socket.destroy();
      resolve(v);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}

export function rssBytes(pid: number | 'self'): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}
