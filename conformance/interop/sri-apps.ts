// SRI's published applications (crates.io), installed once per machine into a cache OUTSIDE the
// clone, so every CI run on the same machine reuses them instead of rebuilding (pool_sv2 takes
// about 11 minutes on 2 cores; translator_sv2 about 5):
//
//   ${RG_INTEROP_CACHE:-$HOME/.cache/reservegrid-interop}/
//     build/                 one shared cargo --target-dir (artifacts keyed by crate+features)
//     translator-0.6/bin/    translator_sv2 0.6.0
//     sri-0.7/bin/           pool_sv2 0.7.0 and jd_client_sv2 0.6.0 (installed together)
//     harness-build/         the sri-harness target dir (run.ts)
//
// Each root holds a stamp (`.reservegrid-stamp`: the exact crate@version list and cargo flags).
// When the stamp matches and every binary is present nothing runs at all; otherwise
// `cargo install --locked --no-default-features --root <root> --target-dir <build> <crates>`
// runs, which is itself idempotent (cargo says "already installed" for a version it has). A
// changed version list names a new root, so an old install is never mistaken for a new one.
//
// Why --no-default-features for all three: the default `monitoring` feature pulls in an HTTP
// monitoring API and ASIC telemetry (stratum-apps/asic-rs-telemetry, LAN scanning of miner web
// UIs) that these checks never use, and roughly doubles the build. pool_sv2 and jd_client_sv2
// still need Debian's capnproto + libcapnp-dev without it: their `stratum-apps` features
// ("pool", "jd_client") always include bitcoin_core_sv2 (the Bitcoin Core IPC template source,
// capnp schemas compiled at build time). .ci/run installs those packages.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type Report = (name: string, problems: readonly string[]) => void;

/** The cache root: $RG_INTEROP_CACHE, else ~/.cache/reservegrid-interop. */
export function interopCacheDir(): string {
  const fromEnv = process.env['RG_INTEROP_CACHE'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(homedir(), '.cache', 'reservegrid-interop');
}

/** cargo's shared build directory inside the cache. */
export function interopBuildDir(): string {
  return join(interopCacheDir(), 'build');
}

export interface CrateSpec {
  readonly crate: string;
  readonly version: string;
  /** Binary the crate installs (same name as the crate for every SRI app). */
  readonly bin: string;
}

/** One `cargo install` invocation: crates installed together into one root. */
export interface AppBundle {
  readonly label: string;
  /** Directory name under the cache; carries the version so a bump cannot reuse an old root. */
  readonly rootName: string;
  readonly crates: readonly CrateSpec[];
  /** Upper bound for the install (a clean build of pool_sv2 + jd_client_sv2 under load). */
  readonly timeoutMs: number;
}

const exe = (name: string): string => (process.platform === 'win32' ? `${name}.exe` : name);

/** translator_sv2 from crates.io: the current release (`cargo info translator_sv2`). */
export const TRANSLATOR_BUNDLE: AppBundle = {
  label: 'translator_sv2 0.6.0',
  rootName: 'translator-0.6',
  crates: [{ crate: 'translator_sv2', version: '0.6.0', bin: 'translator_sv2' }],
  timeoutMs: 20 * 60_000,
};

/**
 * pool_sv2 0.7.0 and jd_client_sv2 0.6.0, the releases issue 10 names. Installed in ONE cargo
 * invocation (and the same root and target dir as the lead's pre-build on the CI machine), so
 * their shared dependencies are compiled once.
 */
export const SRI_APPS_BUNDLE: AppBundle = {
  label: 'pool_sv2 0.7.0 + jd_client_sv2 0.6.0',
  rootName: 'sri-0.7',
  crates: [
    { crate: 'pool_sv2', version: '0.7.0', bin: 'pool_sv2' },
    { crate: 'jd_client_sv2', version: '0.6.0', bin: 'jd_client_sv2' },
  ],
  timeoutMs: 45 * 60_000,
};

export function bundleRoot(bundle: AppBundle): string {
  return join(interopCacheDir(), bundle.rootName);
}

export function binaryPath(bundle: AppBundle, bin: string): string {
  return join(bundleRoot(bundle), 'bin', exe(bin));
}

function cargoArgs(bundle: AppBundle): string[] {
  return [
    'install', '--locked', '--no-default-features', '--root', bundleRoot(bundle), '--target-dir', interopBuildDir(),
    ...bundle.crates.map((c) => `${c.crate}@${c.version}`),
  ];
}

function stampText(bundle: AppBundle): string {
  return `${JSON.stringify({ crates: bundle.crates.map((c) => `${c.crate}@${c.version}`), flags: ['--locked', '--no-default-features'] })}\n`;
}

const STAMP_FILE = '.reservegrid-stamp';

/** True when the stamp matches and every binary exists: nothing to do, not even cargo. */
export function bundleInstalled(bundle: AppBundle): boolean {
  const stamp = join(bundleRoot(bundle), STAMP_FILE);
  if (!existsSync(stamp)) return false;
  if (readFileSync(stamp, 'utf8') !== stampText(bundle)) return false;
  return bundle.crates.every((c) => existsSync(binaryPath(bundle, c.bin)));
}

/**
 * Installs the bundle unless already present (see the file header). Reports one check; returns
 * whether every binary is there afterwards.
 */
export function installBundle(report: Report, bundle: AppBundle): boolean {
  const started = Date.now();
  if (bundleInstalled(bundle)) {
    report(`${bundle.label}: cached in ${bundleRoot(bundle)} (stamp matches, nothing rebuilt)`, []);
    return true;
  }
  mkdirSync(bundleRoot(bundle), { recursive: true });
  const args = cargoArgs(bundle);
  console.log(`# cargo ${args.join(' ')}`);
  const r = spawnSync('cargo', args, { stdio: ['ignore', 'inherit', 'inherit'], timeout: bundle.timeoutMs, killSignal: 'SIGKILL' });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const problems: string[] = [];
  if (r.error !== undefined) problems.push(`cargo could not run: ${r.error.message}`);
  else if (r.status !== 0) problems.push(`cargo install exit ${r.status}${r.signal ? ` (${r.signal})` : ''}`);
  for (const c of bundle.crates) if (problems.length === 0 && !existsSync(binaryPath(bundle, c.bin))) problems.push(`${binaryPath(bundle, c.bin)} missing after install`);
  if (problems.length === 0) writeFileSync(join(bundleRoot(bundle), STAMP_FILE), stampText(bundle));
  report(`install ${bundle.label} from crates.io into ${bundleRoot(bundle)} (cargo install --locked --no-default-features, ${seconds} s)`, problems);
  return problems.length === 0;
}
