// SRI's real applications on ReserveGrid's Template Provider (issue 10, SPEC §14), driven by
// run.ts as check (g). One btcd on regtest (test/support/btcd.ts), one ReserveGrid gateway with
// `[template_provider]` and the verifier INLINE (gateway.mode = "inline", embedded verifier,
// a blocklisted script in [policy]), and, one after the other:
//
//  (g1) SRI's pool_sv2 0.7.0 with `[template_provider_type.Sv2Tp]` pointing at our TP and pinning
//       our authority key. Our own SV2 miner (adapters/fleet.ts MinerConnection over core/client,
//       CPU share finder) opens a standard channel on the pool, gets jobs, and mines until a
//       share is a block (regtest target: about every other hash). Proven:
//        - the pool's jobs are built from our templates: every template id the pool logs as
//          received was sent by our TP (tdp events), and the prev hash of the miner's job is
//          the one our TP sent and btcd's tip;
//        - the block goes pool → SubmitSolution → ReserveGrid (block_found, block_submit_result
//          accepted) → btcd, whose best block hash becomes the block's hash;
//        - the solved template (tdp_solution) is one our TP sent on that connection, with the
//          block's prev hash and transaction count; the block's coinbase (decoded from btcd's
//          own serialization, getblock verbosity 0) pays the pool's configured script the
//          coinbase_tx_value_remaining our TP sent.
//  (g2) SRI's jd_client_sv2 0.6.0 in SOLOMINING mode on our TP, our miner behind it: a block
//       found that way reaches btcd the same way, coinbase paying JDC's configured script.
//  (g3) Inline rejection on the pool: control first (a block through the pool gives a new tip
//       whose template reaches the pool and the miner's job); then a transaction paying the
//       blocklisted script enters btcd's mempool and the next block makes btcd's new-tip
//       template carry it: template_verdict rejected (blocklisted_script), stale hold, and no
//       NewTemplate reaches the pool (its log, tdp_template_sent); its jobs keep the previous
//       template's prev hash. (Why a new tip and not a same-tip fee bump: see poolInlineRejection.)
//
// The pool and JDC configs are the snippets of docs/template-provider.md, parsed and checked
// (exact key sets; no monitoring_address or [miner_telemetry], which scan a LAN range); only
// addresses, ports and keys are replaced by this run's. Every child is bounded (timeout, killed
// on exit); everything binds or connects to 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as stringifyToml } from 'smol-toml';
import { SystemClock } from '../../adapters/clock.ts';
import { MinerConnection } from '../../adapters/fleet.ts';
import type { StampedEvent } from '../../adapters/gateway-server.ts';
import { startGatewayStack, type GatewayStack } from '../../adapters/gateway-stack.ts';
import { systemRandom } from '../../adapters/random.ts';
import { bytesToHex, concatBytes, hexToBytes } from '../../core/bytes.ts';
import { ShareFinder, type ClientEvent, type MiningWork } from '../../core/client/index.ts';
import { loadConfig } from '../../core/config/load.ts';
import type { CryptoProvider } from '../../core/crypto/provider.ts';
import { hashToDisplayHex } from '../../core/mining/target.ts';
import { generateAuthorityKeyPair, type AuthorityKeyPair } from '../../core/noise/index.ts';
import { decodeBlock, type DecodedBlock } from '../../core/template/embedded-chain.ts';
import { BtcdNode, TEST_MINING_KEY, findBtcd, freeLoopbackPort, spendTestKeyOutput } from '../../test/support/btcd.ts';
import { btcdGatewayToml } from '../../test/support/btcd-run.ts';
import { binaryPath, installBundle, SRI_APPS_BUNDLE, type Report } from './sri-apps.ts';
import { docSnippet, JDC_KEYS, POOL_KEYS, RESERVEGRID_KEYS, scriptOfAddrDescriptor, snippetKeyProblems, type TomlTable } from './tp-doc-snippets.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const RUN_DIR = join(HERE, 'target', 'tp-run');

const POOL_BIN = binaryPath(SRI_APPS_BUNDLE, 'pool_sv2');
const JDC_BIN = binaryPath(SRI_APPS_BUNDLE, 'jd_client_sv2');

/** Bounds (every wait says what it waited for when it gives up). */
const APP_TIMEOUT_MS = 120_000;
const APP_READY_MS = 30_000;
const BLOCK_MS = 45_000;
const TEMPLATE_MS = 30_000;
/** Our miner's nominal rate: the apps' share target is then ~10,000 hashes; regtest's network
 * target (nbits 0x207fffff, about every other hash) is far easier, so every share is a block. */
const MINER_HASHRATE = 1_000;

/** A script the policy blocklists: P2WPKH of secret key 4 (worthless outside regtest). */
const BLOCKED_SCRIPT_HEX = '0014c42e7ef92fdb603af844d064faad95db9bcdfd3d';
/** Fee of the blocklisted mempool transaction in (g3). */
const TX_FEE_SATS = 50_000n;
/** Stale hold long enough that (g3) looks at the held state, not at the expiry's disconnects. */
const STALE_HOLD_MS = 30_000;

// ---- bounded children ------------------------------------------------------------------------

export interface App {
  readonly name: string;
  readonly child: ChildProcess;
  output(): string;
  /** Lines of output so far (ANSI colours stripped). */
  lines(): string[];
  readonly exited: Promise<number | null>;
  exitCode(): number | null | undefined;
  kill(): Promise<void>;
}

const liveApps = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of liveApps) child.kill('SIGKILL');
});

export function startApp(name: string, bin: string, configPath: string): App {
  const child = spawn(bin, ['-c', configPath], {
    cwd: RUN_DIR,
    // No POOL__* / JDC__* overrides from the caller's environment: the config file is the test.
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: RUN_DIR, RUST_LOG: 'info', NO_COLOR: '1', RUST_BACKTRACE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveApps.add(child);
  let out = '';
  const keep = (chunk: string): void => {
    out += chunk;
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
  };
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let code: number | null | undefined;
  const timer = setTimeout(() => child.kill('SIGKILL'), APP_TIMEOUT_MS);
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (error) => keep(`spawn error: ${error.message}\n`));
    child.on('close', (c) => {
      clearTimeout(timer);
      liveApps.delete(child);
      code = c;
      resolve(c);
    });
  });
  // eslint-disable-next-line no-control-regex
  const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');
  return {
    name,
    child,
    output: () => strip(out),
    lines: () => strip(out).split('\n'),
    exited,
    exitCode: () => code,
    kill: async () => {
      if (code === undefined) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

export async function waitFor<T>(what: string, timeoutMs: number, poll: () => T | undefined | Promise<T | undefined>, intervalMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await poll();
    if (v !== undefined) return v;
    if (Date.now() >= until) throw new Error(`timeout after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Template ids in the app's `Received: NewTemplate(...)` log lines, in order, with future flag. */
export function loggedNewTemplates(app: App): { templateId: string; future: boolean; line: string }[] {
  const out: { templateId: string; future: boolean; line: string }[] = [];
  for (const line of app.lines()) {
    if (!/NewTemplate\s*\(/.test(line) || !/Received/.test(line)) continue;
    const id = /template_id:\s*(\d+)/.exec(line);
    const future = /future_template:\s*(true|false)/.exec(line);
    if (id !== null) out.push({ templateId: id[1]!, future: future?.[1] === 'true', line: line.slice(0, 400) });
  }
  return out;
}

// ---- our miner on the SRI app ----------------------------------------------------------------

export interface Miner {
  readonly conn: MinerConnection;
  readonly events: ClientEvent[];
  channelId: number;
}

export async function connectMiner(port: number, authorityXOnly: Uint8Array, userIdentity: string, provider: CryptoProvider): Promise<Miner> {
  const events: ClientEvent[] = [];
  const conn = await MinerConnection.connect({
    host: '127.0.0.1',
    port,
    provider,
    certificatePolicy: { kind: 'pinned', authorityXOnly },
    // REQUIRES_STANDARD_JOBS (bit 0): the SRI apps then send NewMiningJob per standard channel.
    client: { setup: { flags: 1, endpointHost: '127.0.0.1', endpointPort: port } },
    onEvent: (e) => {
      if (events.length < 10_000) events.push(e);
    },
  });
  const miner: Miner = { conn, events, channelId: -1 };
  await waitFor('SetupConnection.Success from the SRI app', 10_000, () => (events.some((e) => e.type === 'setup_success') ? true : closedError(events)));
  conn.client.openStandardChannel({ userIdentity, nominalHashRate: MINER_HASHRATE });
  conn.flush();
  const opened = await waitFor('OpenStandardMiningChannel.Success', 10_000, () => events.find((e) => e.type === 'channel_opened') ?? closedError(events));
  if (opened.type === 'channel_opened') miner.channelId = opened.channel_id;
  await waitFor('a job and its SetNewPrevHash', TEMPLATE_MS, () => (conn.client.work(miner.channelId) !== undefined ? true : closedError(events)));
  return miner;
}

export function closedError(events: readonly ClientEvent[]): undefined {
  const closed = events.find((e) => e.type === 'closed' || e.type === 'setup_error' || e.type === 'channel_open_failed');
  if (closed !== undefined) throw new Error(`miner: ${JSON.stringify(closed, (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? bytesToHex(v) : v))}`);
  return undefined;
}

const sameWork = (a: MiningWork, b: MiningWork): boolean => a.jobId === b.jobId && bytesToHex(a.prevHash) === bytesToHex(b.prevHash) && bytesToHex(a.merkleRoot) === bytesToHex(b.merkleRoot);

/**
 * Mine on the miner's channel until btcd's best block changes (a share we submitted was a
 * block and went all the way). Returns the new best hash and the block shares submitted.
 */
const BLOCK_SHARE_PAUSE_MS = 3_000;

export async function mineUntilBlock(miner: Miner, node: BtcdNode, timeoutMs: number): Promise<{ bestHash: string; blockShares: string[]; shares: number; work: MiningWork }> {
  const before = (await node.rpc('getbestblockhash')) as string;
  const blockShares: string[] = [];
  let shares = 0;
  let finder: ShareFinder | undefined;
  let lastWork: MiningWork | undefined;
  const until = Date.now() + timeoutMs;
  let lastPollMs = 0;
  let lastBlockShareMs = -Infinity;
  while (Date.now() < until) {
    closedError(miner.events);
    const work = miner.conn.client.work(miner.channelId);
    if (work !== undefined && (finder === undefined || !sameWork(finder.work, work))) finder = new ShareFinder(work);
    // One block per call: after a block share, stop hashing and wait for btcd's tip (the
    // miner would otherwise build on the next tip before we look, and the caller's idea of
    // "the tip" would be a block behind). Resume after BLOCK_SHARE_PAUSE_MS in case the app
    // refused that share (a job that went stale meanwhile).
    const paused = Date.now() - lastBlockShareMs < BLOCK_SHARE_PAUSE_MS;
    if (finder !== undefined && !paused && blockShares.length < 20) {
      const r = finder.search(2_000);
      if (r.share !== undefined) {
        miner.conn.client.submitShare(miner.channelId, { jobId: finder.work.jobId, nonce: r.share.nonce, ntime: r.share.ntime, version: r.share.version });
        miner.conn.flush();
        shares++;
        if (r.share.isBlock) {
          lastBlockShareMs = Date.now();
          blockShares.push(hashToDisplayHex(r.share.hash));
          lastWork = finder.work;
        }
      }
      if (r.exhausted) finder = undefined;
    }
    if (Date.now() - lastPollMs > 100) {
      lastPollMs = Date.now();
      const best = (await node.rpc('getbestblockhash')) as string;
      if (best !== before) return { bestHash: best, blockShares, shares, work: lastWork ?? finder!.work };
    }
    await new Promise((r) => setTimeout(r, blockShares.length > 0 ? 20 : 1));
  }
  throw new Error(`no new best block at btcd within ${timeoutMs} ms (${shares} shares submitted, ${blockShares.length} of them blocks: ${blockShares.join(', ')})`);
}

export async function blockAt(node: BtcdNode, hash: string): Promise<DecodedBlock> {
  const hex = (await node.rpc('getblock', [hash, 0])) as string;
  const block = decodeBlock(hexToBytes(hex));
  if (block === null) throw new Error(`btcd's block ${hash} does not decode`);
  return block;
}

// ---- the gateway with its Template Provider ---------------------------------------------------

function gatewayToml(node: BtcdNode, keys: AuthorityKeyPair): string {
  // The [template_provider] section is the doc's, with the port replaced by 0 (kernel-chosen).
  const tp = docSnippet('reservegrid').table['template_provider'] as TomlTable;
  return btcdGatewayToml(node, keys, {
    gateway: { mode: 'inline', id: 9, upstream_failure_policy: 'fail_closed', http_api_key: 'interop-api-key-not-used' },
    timing: { job_broadcast_interval_ms: 50, prevhash_stale_hold_ms: STALE_HOLD_MS },
    share: { share_upstream_secret: 'interop-hmac-secret-not-used' },
    policy: { subsidy_halving_interval: 150, blocklist_scripts_hex: [BLOCKED_SCRIPT_HEX] },
    template_provider: { ...tp, listen_addr: '127.0.0.1:0' },
  });
}

interface Rig {
  readonly node: BtcdNode;
  readonly stack: GatewayStack;
  readonly events: StampedEvent[];
  readonly keys: AuthorityKeyPair;
  readonly tpPort: number;
  /** Next matured coinbase (height) of TEST_MINING_KEY to spend. */
  nextCoinbaseHeight: number;
}

/** The TP's bound port (listen_addr port 0). */
function templateProviderPort(stack: GatewayStack): number {
  const port = (stack as unknown as { tdpAddress: { port: number } | null }).tdpAddress?.port;
  if (port === undefined) throw new Error('the gateway stack has no Template Provider listener ([template_provider] missing?)');
  return port;
}

export const anyEvent = (e: StampedEvent): Record<string, unknown> => e as unknown as Record<string, unknown>;
const tdpEvents = (rig: Rig, type: string): Record<string, unknown>[] => rig.events.map(anyEvent).filter((e) => e['type'] === type);
export const summarize = (events: readonly unknown[]): string => events.slice(-8).map((e) => JSON.stringify(e).slice(0, 300)).join('\n         ');

// ---- the scenarios ---------------------------------------------------------------------------

function writeAppConfig(name: string, table: TomlTable): string {
  mkdirSync(RUN_DIR, { recursive: true });
  const path = join(RUN_DIR, `${name}.toml`);
  writeFileSync(path, `# Written by conformance/interop/tp-interop.ts from docs/template-provider.md (snippet ${name}); loopback only.\n${stringifyToml(table)}`);
  return path;
}

async function startSriApp(rig: Rig, kind: 'pool' | 'jdc'): Promise<{ app: App; port: number; appKeys: AuthorityKeyPair; payoutScript: Uint8Array }> {
  const snippet = docSnippet(kind === 'pool' ? 'sri-pool' : 'sri-jdc-solo');
  const appKeys = generateAuthorityKeyPair(systemRandom);
  const port = await freeLoopbackPort();
  const table = structuredClone(snippet.table) as TomlTable;
  table['authority_public_key'] = appKeys.publicKey;
  table['authority_secret_key'] = appKeys.secretKeyText;
  table[kind === 'pool' ? 'listen_address' : 'listening_address'] = `127.0.0.1:${port}`;
  const sv2tp = (table['template_provider_type'] as TomlTable)['Sv2Tp'] as TomlTable;
  sv2tp['address'] = `127.0.0.1:${rig.tpPort}`;
  sv2tp['public_key'] = rig.keys.publicKey;
  const payoutScript = scriptOfAddrDescriptor(String(table['coinbase_reward_script']));
  const app = startApp(kind === 'pool' ? 'pool_sv2' : 'jd_client_sv2', kind === 'pool' ? POOL_BIN : JDC_BIN, writeAppConfig(kind, table));
  // Ready = it took our templates (a NewTemplate in its log) and listens for miners.
  await waitFor(`${app.name} to receive a NewTemplate from our TP`, APP_READY_MS, () => {
    if (app.exitCode() !== undefined) throw new Error(`${app.name} exited (${app.exitCode()}):\n${app.output().slice(-3000)}`);
    return loggedNewTemplates(app).length > 0 ? true : undefined;
  }, 100);
  return { app, port, appKeys, payoutScript };
}

/** Checks common to (g1) and (g2): block went app → SubmitSolution → us → btcd, pays the app. */
async function checkBlock(report: Report, label: string, rig: Rig, app: App, mined: { bestHash: string; blockShares: string[] }, payoutScript: Uint8Array): Promise<DecodedBlock | undefined> {
  const problems: string[] = [];
  if (!mined.blockShares.includes(mined.bestHash)) problems.push(`btcd's new best block ${mined.bestHash} is none of the block shares our miner submitted (${mined.blockShares.join(', ')})`);
  await waitFor('block_submit_result', 5_000, () => (rig.events.some((e) => e.type === 'block_submit_result' && e.block_hash === mined.bestHash) ? true : undefined)).catch(() => undefined);
  const found = rig.events.find((e) => e.type === 'block_found' && e.block_hash === mined.bestHash);
  const result = rig.events.find((e) => e.type === 'block_submit_result' && e.block_hash === mined.bestHash);
  if (found === undefined) problems.push(`no block_found for ${mined.bestHash}: ${summarize(rig.events.filter((e) => e.type.startsWith('block') || e.type.startsWith('tdp')))}`);
  if (result === undefined || result.type !== 'block_submit_result' || result.result !== 'accepted') problems.push(`block_submit_result: ${JSON.stringify(result ?? null)}`);
  const solution = tdpEvents(rig, 'tdp_solution').find((e) => e['block_hash'] === mined.bestHash);
  if (solution === undefined) problems.push(`no tdp_solution for ${mined.bestHash} (SubmitSolution from ${app.name}): ${summarize(tdpEvents(rig, 'tdp_solution'))}`);
  else if (solution['result'] !== 'submitted') problems.push(`tdp_solution ${JSON.stringify(solution)}`);
  // The solved template is one our TP sent on that connection: same prev hash, same
  // transaction count as the block btcd now has.
  const sent = solution === undefined ? undefined : tdpEvents(rig, 'tdp_template_sent').find((e) => e['conn_id'] === solution['conn_id'] && e['template_id'] === solution['template_id']);
  let solvedBlock: DecodedBlock | undefined;
  if (solution !== undefined && sent === undefined) problems.push(`no tdp_template_sent for the solved template ${solution['template_id']} on connection ${solution['conn_id']}`);
  else if (sent !== undefined) {
    solvedBlock = await blockAt(rig.node, mined.bestHash);
    if (sent['prev_hash'] !== hashToDisplayHex(solvedBlock.prevHash)) problems.push(`solved template's prev hash ${sent['prev_hash']}, block's ${hashToDisplayHex(solvedBlock.prevHash)}`);
    if (sent['tx_count'] !== solvedBlock.transactions.length - 1) problems.push(`solved template has ${sent['tx_count']} transactions, the block ${solvedBlock.transactions.length - 1}`);
  }
  report(`${label}: the block goes ${app.name} → SubmitSolution (of a template our TP sent: same prev hash and transaction count) → ReserveGrid (block_found, block_submit_result accepted) → btcd (best block hash ${mined.bestHash.slice(0, 16)}…)`, problems);

  const bp: string[] = [];
  let block: DecodedBlock | undefined;
  try {
    block = await blockAt(rig.node, mined.bestHash);
    const coinbase = block.transactions[0]!;
    const pays = coinbase.outputs.filter((o) => bytesToHex(o.scriptPubKey) === bytesToHex(payoutScript));
    if (pays.length === 0) bp.push(`coinbase outputs ${coinbase.outputs.map((o) => `${o.valueSats}→${bytesToHex(o.scriptPubKey)}`).join(', ')} do not pay ${bytesToHex(payoutScript)}`);
    else {
      // The app set that output's value to our NewTemplate's coinbase_tx_value_remaining.
      const remaining = new Set(app.lines().map((l) => /Received: NewTemplate\(.*coinbase_tx_value_remaining:\s*(\d+)/.exec(l)?.[1]).filter((v): v is string => v !== undefined));
      if (!remaining.has(String(pays[0]!.valueSats))) bp.push(`coinbase pays ${pays[0]!.valueSats} sats, which is no coinbase_tx_value_remaining our TP sent to ${app.name} (${[...remaining].join(', ')})`);
    }
  } catch (error) {
    bp.push((error as Error).message);
  }
  report(`${label}: btcd's block pays ${app.name}'s configured coinbase_reward_script (${bytesToHex(payoutScript)}) the coinbase_tx_value_remaining of our NewTemplate`, bp);
  return block;
}

/** (g1): pool_sv2 on our TP, our miner on the pool, a block. */
async function poolBlock(report: Report, rig: Rig, provider: CryptoProvider): Promise<void> {
  const label = '(g1) SRI pool_sv2 0.7.0 on ReserveGrid TP [btcd regtest, inline]';
  const { app, port, appKeys, payoutScript } = await startSriApp(rig, 'pool');
  try {
    const miner = await connectMiner(port, appKeys.publicKeyXOnly, 'interop-miner', provider);
    try {
      // Jobs come from our templates: every template the pool logged was sent by our TP, and the
      // job's prev hash is the one our TP announced and btcd's tip.
      const jp: string[] = [];
      const logged = loggedNewTemplates(app);
      const sentIds = new Set(tdpEvents(rig, 'tdp_template_sent').map((e) => String(e['template_id'])));
      for (const t of logged) if (!sentIds.has(t.templateId)) jp.push(`pool logged NewTemplate ${t.templateId}, which our TP never sent (tdp_template_sent ids: ${[...sentIds].join(', ')})`);
      const work = miner.conn.client.work(miner.channelId)!;
      const tip = (await rig.node.rpc('getbestblockhash')) as string;
      if (hashToDisplayHex(work.prevHash) !== tip) jp.push(`miner's job prev hash ${hashToDisplayHex(work.prevHash)} is not btcd's tip ${tip}`);
      // A `tip` template is the future NewTemplate + SetNewPrevHash pair (core/template-provider).
      const prevhashes = tdpEvents(rig, 'tdp_template_sent').filter((e) => e['cause'] === 'tip').map((e) => String(e['prev_hash']));
      if (!prevhashes.includes(hashToDisplayHex(work.prevHash))) jp.push(`our TP never sent prev hash ${hashToDisplayHex(work.prevHash)} (tdp_template_sent tip: ${prevhashes.join(', ')})`);
      report(`${label}: handshake pinned to our key, ${logged.length} NewTemplate from our TP; our miner's standard channel gets jobs on btcd's tip from them`, jp);

      const mined = await mineUntilBlock(miner, rig.node, BLOCK_MS);
      console.log(`#   ${mined.shares} shares to the pool, block shares ${mined.blockShares.join(', ')}`);
      await checkBlock(report, label, rig, app, mined, payoutScript);
    } finally {
      miner.conn.close();
    }
  } catch (error) {
    report(`${label}: ran to the end`, [(error as Error).message, `${app.name} output (tail): ${app.output().slice(-3000)}`]);
  } finally {
    await app.kill();
  }
}

/** (g2): jd_client_sv2 SOLOMINING on our TP, our miner behind it, a block. */
async function jdcBlock(report: Report, rig: Rig, provider: CryptoProvider): Promise<void> {
  const label = '(g2) SRI jd_client_sv2 0.6.0 SOLOMINING on ReserveGrid TP [btcd regtest, inline]';
  const { app, port, appKeys, payoutScript } = await startSriApp(rig, 'jdc');
  try {
    const miner = await connectMiner(port, appKeys.publicKeyXOnly, 'interop-solo-miner', provider);
    try {
      const work = miner.conn.client.work(miner.channelId)!;
      const tip = (await rig.node.rpc('getbestblockhash')) as string;
      report(`${label}: JDC takes our templates and our miner gets jobs on btcd's tip`, hashToDisplayHex(work.prevHash) === tip ? [] : [`job prev hash ${hashToDisplayHex(work.prevHash)}, btcd tip ${tip}`]);
      const mined = await mineUntilBlock(miner, rig.node, BLOCK_MS);
      console.log(`#   ${mined.shares} shares to JDC, block shares ${mined.blockShares.join(', ')}`);
      await checkBlock(report, label, rig, app, mined, payoutScript);
    } finally {
      miner.conn.close();
    }
  } catch (error) {
    report(`${label}: ran to the end`, [(error as Error).message, `${app.name} output (tail): ${app.output().slice(-3000)}`]);
  } finally {
    await app.kill();
  }
}

/** A transaction spending the next matured coinbase of TEST_MINING_KEY, paying `script`. */
async function sendSpend(rig: Rig, script: Uint8Array): Promise<string> {
  const height = rig.nextCoinbaseHeight++;
  const hash = (await rig.node.rpc('getblockhash', [height])) as string;
  const { tx } = (await rig.node.rpc('getblock', [hash])) as { tx: string[] };
  const spend = spendTestKeyOutput({ txid: hexToBytes(tx[0]!).reverse(), vout: 0, valueSats: 5_000_000_000n }, [{ valueSats: 5_000_000_000n - TX_FEE_SATS, scriptPubKey: script }]);
  const txid = (await rig.node.rpc('sendrawtransaction', [bytesToHex(spend.data)])) as string;
  return txid;
}

/**
 * (g3): a template the policy rejects never reaches the pool; its jobs keep the previous one.
 *
 * Why around a new tip and not a fee bump on the same tip: btcd v0.26.2 regenerates a template
 * on an unchanged tip only 60 s after the previous one (rpcserver.go gbtRegenerateSeconds = 60),
 * but at once on a new tip. So: the blocklisted transaction goes into btcd's mempool, our miner
 * finds a block through the pool on the current (clean) template, and btcd's template for the
 * new tip carries the transaction. Inline, that template is rejected and the gateway enters the
 * stale hold (SPEC §6): no NewTemplate / SetNewPrevHash for it reaches any TDP client.
 */
async function poolInlineRejection(report: Report, rig: Rig, provider: CryptoProvider): Promise<void> {
  const label = '(g3) inline policy on ReserveGrid TP → SRI pool_sv2';
  const { app, port, appKeys } = await startSriApp(rig, 'pool');
  try {
    const miner = await connectMiner(port, appKeys.publicKeyXOnly, 'interop-miner', provider);
    const jobPrevHash = (): string | undefined => {
      const w = miner.conn.client.work(miner.channelId);
      return w === undefined ? undefined : hashToDisplayHex(w.prevHash);
    };
    try {
      // Control: a new tip with an acceptable template reaches the pool and our miner.
      const cp: string[] = [];
      const first = await mineUntilBlock(miner, rig.node, BLOCK_MS);
      await waitFor(`the pool's job on the new tip ${first.bestHash}`, TEMPLATE_MS, () => (jobPrevHash() === first.bestHash ? true : undefined), 50).catch((e: Error) => cp.push(e.message));
      if (!tdpEvents(rig, 'tdp_template_sent').some((e) => e['cause'] === 'tip' && e['prev_hash'] === first.bestHash)) cp.push(`no tdp_template_sent (tip) for ${first.bestHash}`);
      report(`${label}: control: an accepted template on a new tip (our block ${first.bestHash.slice(0, 16)}…) reaches the pool and our miner's job`, cp);

      // The blocklisted transaction, then a block on the clean template: btcd's next template
      // has the transaction, the policy rejects it, nothing reaches the pool.
      const rp: string[] = [];
      const badTxid = await sendSpend(rig, hexToBytes(BLOCKED_SCRIPT_HEX));
      const eventsBefore = rig.events.length;
      const sentBefore = tdpEvents(rig, 'tdp_template_sent').length;
      const second = await mineUntilBlock(miner, rig.node, BLOCK_MS);
      const loggedAtBlock = loggedNewTemplates(app).length;
      const block = await blockAt(rig.node, second.bestHash);
      if (block.transactions.slice(1).some((t) => hashToDisplayHex(t.txid) === badTxid)) rp.push(`block ${second.bestHash} (from the template before the transaction) already contains ${badTxid}`);
      const rejected = await waitFor(`a template_verdict rejecting the template with ${badTxid}`, TEMPLATE_MS, () =>
        rig.events.slice(eventsBefore).map(anyEvent).find((e) => e['type'] === 'template_verdict' && (e['verdict'] as { accepted?: boolean } | undefined)?.accepted === false), 50).catch((e: Error) => {
        rp.push(e.message, `events: ${summarize(rig.events.slice(eventsBefore).filter((e) => e.type === 'template_verdict' || e.type.startsWith('tdp') || e.type.startsWith('stale')))}`);
        return undefined;
      });
      if (rejected !== undefined) {
        const verdict = rejected['verdict'] as { reason_code?: string };
        if (verdict.reason_code !== 'blocklisted_script') rp.push(`verdict reason ${verdict.reason_code}, expected blocklisted_script`);
        if (!rig.events.slice(eventsBefore).some((e) => e.type === 'stale_hold_started')) rp.push('no stale_hold_started after the rejected new-prevhash template');
        // Give a wrong release time to show: several poll intervals and broadcast ticks.
        await new Promise((r) => setTimeout(r, 2_000));
        const sentAfter = tdpEvents(rig, 'tdp_template_sent').slice(sentBefore);
        if (sentAfter.some((e) => e['prev_hash'] === second.bestHash)) rp.push(`our TP sent the rejected tip's template: ${summarize(sentAfter)}`);
        const loggedAfter = loggedNewTemplates(app).slice(loggedAtBlock);
        if (loggedAfter.length > 0) rp.push(`the pool logged NewTemplate after the rejection: ${loggedAfter.map((t) => t.line).join(' | ')}`);
        // The previous template's prev hash = the parent of the rejected tip.
        const previous = hashToDisplayHex(block.prevHash);
        if (jobPrevHash() !== previous) {
          rp.push(`our miner's job moved to prev hash ${jobPrevHash()}, expected it to stay on ${previous} (the rejected tip is ${second.bestHash}; block shares ${first.blockShares.join(',')} then ${second.blockShares.join(',')})`);
          rp.push(`TP templates since: ${summarize(sentAfter)}`, `pool NewTemplate log since the block: ${loggedNewTemplates(app).slice(loggedAtBlock - 2).map((t) => t.line.slice(0, 160)).join(' | ')}`);
          rp.push(`miner events: ${miner.events.slice(-12).map((e) => e.type).join(', ')}`);
        }
      }
      report(`${label}: btcd's template for the new tip carries a transaction paying a blocklisted script: template_verdict rejected (blocklisted_script), stale hold; no NewTemplate reaches the pool (its log, tdp_template_sent) and its jobs keep the previous template's prev hash`, rp);
    } finally {
      miner.conn.close();
    }
  } catch (error) {
    report(`${label}: ran to the end`, [(error as Error).message, `${app.name} output (tail): ${app.output().slice(-3000)}`]);
  } finally {
    await app.kill();
  }
}

// ---- entry -------------------------------------------------------------------------------------

/** Runs (g1)–(g3). Installs the SRI apps (cached, sri-apps.ts) first. */
export async function templateProviderInterop(report: Report, provider: CryptoProvider): Promise<void> {
  const snippetProblems = [
    ...snippetKeyProblems('sri-pool', docSnippet('sri-pool').table, POOL_KEYS),
    ...snippetKeyProblems('sri-jdc-solo', docSnippet('sri-jdc-solo').table, JDC_KEYS),
    ...snippetKeyProblems('reservegrid', docSnippet('reservegrid').table, RESERVEGRID_KEYS),
  ];
  report('docs/template-provider.md: the pool, JDC and ReserveGrid snippets parse and have exactly the documented keys', snippetProblems);
  if (!installBundle(report, SRI_APPS_BUNDLE)) return;
  if (findBtcd() === null) {
    report('(g) btcd for the Template Provider interop', ['btcd not found: run scripts/install-btcd.sh (or set BTCD_BIN); CI installs it before this step']);
    return;
  }
  // 110 blocks: the coinbases of blocks 1..10 are mature (100 confirmations) for (g3)'s spends.
  const node = await BtcdNode.start({ initialBlocks: 110 });
  const keys = generateAuthorityKeyPair(systemRandom);
  const events: StampedEvent[] = [];
  let stack: GatewayStack | undefined;
  try {
    const loaded = loadConfig({ tomlText: gatewayToml(node, keys), fileName: 'tp-interop.toml', env: {} });
    if (!loaded.ok) throw new Error(`gateway config: ${loaded.problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
    stack = await startGatewayStack({
      config: loaded.config, clock: new SystemClock(), random: systemRandom, provider, eventLog: false, shareForwarding: false,
      onEvent: (e) => {
        if (events.length < 200_000) events.push(e);
      },
    });
    const rig: Rig = { node, stack, events, keys, tpPort: templateProviderPort(stack), nextCoinbaseHeight: 1 };
    console.log(`# btcd ${node.rpcUrl}; ReserveGrid TP 127.0.0.1:${rig.tpPort} (inline, authority ${keys.publicKey})`);
    await waitFor('the gateway to take a template from btcd', 20_000, () => (events.some((e) => e.type === 'template_received') ? true : undefined));
    await poolBlock(report, rig, provider);
    await jdcBlock(report, rig, provider);
    await poolInlineRejection(report, rig, provider);
  } finally {
    await stack?.stop();
    await node.dispose();
  }
}
