// The soak (issue 12 Build item 5), on the runtime that runs this file; `npm run soak`
// (scripts/soak-all.mjs) runs it on node, deno and bun in turn. Not part of `npm test`.
//
// Phase 1, churn (RG_SOAK_SECS, default 30 s): the real gateway stack in this process
// (adapters/gateway-stack.ts: pump, file journal, event log file, signed forwarding) on the
// embedded chain with a target that makes blocks every few seconds; miner slots that connect,
// open a channel, mine for a random while and disconnect (cleanly or by abort), over and over;
// a hostile slot that sends garbage and half-open connections; and a share backend (the
// reference sink) that goes down and comes back on the same port every few seconds. Measured
// after a warm-up and again at the end (miners gone, forwarding drained), after GC: RSS and the
// process's open file descriptors (/proc/self/fd: sockets, files, pipes on every runtime).
// FAILS when RSS grows by more than RSS_GROWTH_BYTES_MAX, descriptors by more than
// FDS_GROWTH_MAX, or an invariant breaks:
//   - exactly one share_forward_result per share_accepted, every one `ok` (outages only delay);
//   - every acknowledged share reached the backend under exactly one share_id;
//   - every found block was settled by the source; the gateway ends with no connection, no
//     pending block, no deadline left for closed connections, no tracked IP.
// Phase 2, kill -9 (RG_SOAK_KILLS, default 200): test/support/kill-loop.ts, strict (the
// journal is written before the ack, so no acknowledged share may be lost).
//
// Seeded (RG_SEED); the seed is printed. Every loop is bounded by count and time.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEnv, runtime, seed } from '../harness.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { systemRandom } from '../../adapters/random.ts';
import { EmbeddedTemplateSource } from '../../adapters/embedded-source.ts';
import { startGatewayStack } from '../../adapters/gateway-stack.ts';
import { MinerConnection } from '../../adapters/fleet.ts';
import { connectTcp } from '../../adapters/net/index.ts';
import type { StampedEvent } from '../../adapters/gateway-server.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { ShareFinder, type ClientEvent, type MiningWork } from '../../core/client/index.ts';
import { loadConfig, formatProblem } from '../../core/config/index.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { generateAuthorityKeyPair } from '../../core/noise/keys.ts';
import { SeededRandom } from '../../core/random.ts';
import { nbitsForExpectedHashes } from '../../core/template/embedded-chain.ts';
import { startShareSink, type ShareSinkServer } from '../../runtimes/commands/share-sink.ts';
import { findGc } from '../support/gc.ts';
import { memoryNow } from '../support/hostile.ts';
import { RawNoiseClient } from '../support/gateway-under-test.ts';
import { encodeMessage } from '../../core/codec/index.ts';
import { formatKillLoopReport, runKillLoop } from '../support/kill-loop.ts';
import { sleep, until } from '../support/wait.ts';

/** End-of-run RSS may exceed the post-warm-up reading by this much (allocator slack, JIT). */
const RSS_GROWTH_BYTES_MAX = 48 * 1024 * 1024;
/** Open descriptors may exceed the post-warm-up count by this many (runtime worker pipes). */
const FDS_GROWTH_MAX = 8;
const MINER_SLOTS = 8;
/** limits.max_invalid_shares_per_minute in the soak's gateway. */
const INVALID_SHARE_BUDGET = 50;
const SECRET = 'soak-secret-0123456789';

const soakSecs = Number(readEnv('RG_SOAK_SECS') ?? '30');
const kills = Number(readEnv('RG_SOAK_KILLS') ?? '200');
const random = new SeededRandom(seed);
const uniform = (lo: number, hi: number): number => lo + (random.nextU32() / 2 ** 32) * (hi - lo);
const out = (line: string): void => console.log(`[${runtime}] ${line}`);
const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;
const fds = (): number => readdirSync('/proc/self/fd').length;

out(`soak: seed ${seed} (RG_SEED=${seed} reproduces), churn ${soakSecs} s, ${kills} kills`);
const violations: string[] = [];

// ---- phase 1: churn ------------------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), `rg-soak-${runtime}-`));
const authority = generateAuthorityKeyPair(new SeededRandom(seed ^ 0xc0ffee));
const received = new Map<string, Set<string>>();
const rejectShare = (share: { readonly share_id: string }): undefined => {
  const r = share as { share_id: string; extranonce?: string; sequence_number?: number };
  const key = `${r.extranonce ?? ''}:${r.sequence_number ?? -1}`;
  let ids = received.get(key);
  if (ids === undefined) received.set(key, (ids = new Set()));
  ids.add(r.share_id);
  return undefined;
};
let sink: ShareSinkServer | undefined = await startShareSink({ host: '127.0.0.1', port: 0, secret: SECRET, provider: nobleProvider, rejectShare });
const sinkPort = sink.port;
let outages = 0;
let sinkRefused = 0;

const toml = `
[gateway]
mode = "observe"
id = 12
listen_addr = "127.0.0.1:0"
verifier_addr = "embedded"
upstream_url = "embedded"
upstream_failure_policy = "permit_all"
http_api_key = "soak-api-key-0123456789"
event_log_path = "${join(dir, 'events.jsonl')}"
event_log_max_bytes = 8388608
event_log_max_files = 2
# Small, so the bounded in-memory event history is full by the end of the warm-up and cannot pass
# for growth at the end.
event_buffer_size = 1000
data_dir = "${join(dir, 'data')}"

[limits]
max_invalid_shares_per_minute = ${INVALID_SHARE_BUDGET}

[timing]
upstream_poll_interval_ms = 200
job_broadcast_interval_ms = 50
handshake_timeout_ms = 1000
shutdown_drain_timeout_ms = 20000

[share]
share_upstream_url = "http://127.0.0.1:${sinkPort}/shares"
share_upstream_secret = "${SECRET}"
share_batch_interval_ms = 50
share_batch_max_shares = 100
share_forward_timeout_ms = 5000
share_forward_retry_initial_ms = 100
share_forward_retry_max_ms = 1000

[auth]
mode = "open"

[noise]
authority_public_key = "${authority.publicKey}"
authority_secret_key = "${authority.secretKeyText}"

[mining]
payout = [ { script_hex = "0014751e76e8199196d454941c45d1b3a323f1433bd6", weight = 1 } ]
pool_tag = "RG-soak"
min_difficulty = 1e-12
shares_per_minute = 600
vardiff_enabled = false
share_ack_batch_size = 1
`;
const loaded = loadConfig({ tomlText: toml, fileName: 'soak.toml', env: {} });
if (!loaded.ok) throw new Error(loaded.problems.map(formatProblem).join('; '));
const clock = new SystemClock();
// Blocks: about one per 300 hashes; on the easy share target nearly every hash is a share, and
// the miners submit a few hundred per second between them.
const source = new EmbeddedTemplateSource({ clock, random: systemRandom, chain: { nbits: nbitsForExpectedHashes(300) }, transactionIntervalMs: 1000, transactionsPerIntervalMax: 3 });
const accepted = new Map<string, number>();
const results = new Map<string, number>();
const statuses = new Map<string, number>();
let blocksFound = 0;
/** conn_id → shares rejected, and the close reasons, for the invalid-share floods. */
const rejectedByConn = new Map<number, number>();
const closeReasonByConn = new Map<number, string>();
const openedFloods = new Set<number>();
let blocksSettled = 0;
let eventsSeen = 0;
const onEvent = (e: StampedEvent): void => {
  eventsSeen++;
  const ev = e as StampedEvent & { share_id?: string; status?: string };
  if (ev.type === 'share_accepted') accepted.set(ev.share_id!, (accepted.get(ev.share_id!) ?? 0) + 1);
  else if ((ev.type as string) === 'share_forward_result') {
    results.set(ev.share_id!, (results.get(ev.share_id!) ?? 0) + 1);
    statuses.set(ev.status!, (statuses.get(ev.status!) ?? 0) + 1);
  } else if (ev.type === 'block_found') blocksFound++;
  else if (ev.type === 'share_rejected') rejectedByConn.set(ev.conn_id, (rejectedByConn.get(ev.conn_id) ?? 0) + 1);
  else if (ev.type === 'connection_closed') closeReasonByConn.set(ev.conn_id, ev.reason_code);
  else if (ev.type === 'channel_opened' && ev.identity === 'soak.flood') openedFloods.add(ev.conn_id);
  else if (ev.type === 'block_submit_result') blocksSettled++;
};
const stack = await startGatewayStack({ config: loaded.config, templateSource: source, clock, random: systemRandom, onEvent });
source.start();
const port = stack.address.port;

interface Ack {
  readonly key: string;
}
const acks: Ack[] = [];
const ackLatencyMs: number[] = [];
let sessions = 0;
let hostileConnections = 0;

/** One miner session: connect, open, mine until `untilMs`, leave (close or abort). */
async function minerSession(slot: number, untilMs: number): Promise<void> {
  let channelId: number | undefined;
  let prefixHex = '';
  let work: MiningWork | undefined;
  let finder: ShareFinder | undefined;
  const sentAt = new Map<number, number>();
  let conn: MinerConnection | undefined;
  const onClientEvent = (event: ClientEvent): void => {
    if (conn === undefined) return;
    const c = conn;
    if (event.type === 'setup_success') {
      c.client.openStandardChannel({ userIdentity: `soak.slot${slot}`, nominalHashRate: 1 });
      queueMicrotask(() => c.flush());
    } else if (event.type === 'channel_opened') {
      channelId = event.channel_id;
      prefixHex = bytesToHex(event.extranonce_prefix);
    } else if ((event.type === 'new_prev_hash' || event.type === 'new_job') && channelId !== undefined) {
      work = c.client.work(channelId);
      finder = work === undefined ? undefined : new ShareFinder(work);
    } else if (event.type === 'shares_accepted') {
      acks.push({ key: `${prefixHex}:${event.last_sequence_number}` });
      const at = sentAt.get(event.last_sequence_number);
      if (at !== undefined) ackLatencyMs.push(clock.monotonicMs() - at);
      sentAt.delete(event.last_sequence_number);
    } else if (event.type === 'share_rejected') {
      sentAt.delete(event.sequence_number);
    }
  };
  conn = await MinerConnection.connect({ host: '127.0.0.1', port, clock, random: new SeededRandom(seed + 7919 * ++sessions), certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly }, onEvent: onClientEvent });
  conn.flush();
  while (clock.monotonicMs() < untilMs && !conn.socketClosed) {
    if (channelId !== undefined && work !== undefined && finder !== undefined && sentAt.size < 2) {
      const found = finder.search(1 << 12).share;
      if (found !== undefined) {
        const seq = conn.client.submitShare(channelId, { jobId: work.jobId, nonce: found.nonce, ntime: found.ntime, version: found.version });
        sentAt.set(seq, clock.monotonicMs());
        conn.flush();
      }
    }
    await sleep(5);
  }
  if (random.nextU32() % 2 === 0) conn.close();
  else conn.abort();
}

const FLOOD_SHARES = 1000;
const floodConnIds: number[] = [];

/** An invalid-share flood: a channel no CPU hash can satisfy, FLOOD_SHARES shares in one write. */
async function invalidShareFlood(): Promise<void> {
  const raw = await RawNoiseClient.connect({ port, authorityXOnly: authority.publicKeyXOnly, clock, random: new SeededRandom(seed + 104_729 * ++hostileConnections) });
  await raw.setup();
  raw.send({ type: 'OpenStandardMiningChannel', requestId: 1, userIdentity: 'soak.flood', nominalHashRate: 1e15, maxTarget: new Uint8Array(32).fill(0xff) });
  const ch = await raw.nextMessage('OpenStandardMiningChannelSuccess');
  const job = await raw.nextMessage('NewMiningJob');
  const frames = Array.from({ length: FLOOD_SHARES }, (_, i) => raw.seal(encodeMessage({ type: 'SubmitSharesStandard', channelId: ch.channelId, sequenceNumber: i, jobId: job.jobId, nonce: i, ntime: 0x66000000, version: job.version })));
  const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  frames.reduce((at, f) => (bytes.set(f, at), at + f.length), 0);
  // Ours is the newest connection whose channel is 'soak.flood' (known from the events).
  const connId = [...openedFloods].at(-1);
  if (connId !== undefined) floodConnIds.push(connId);
  raw.writeRaw(bytes);
  await raw.closedByServer().catch(() => raw.abort());
}

/** Hostile slot: garbage, an HTTP request, a half-open connection, an invalid-share flood. */
async function hostileSession(): Promise<void> {
  if (random.nextU32() % 4 === 3) {
    await invalidShareFlood();
    return;
  }
  const socket = await connectTcp({ host: '127.0.0.1', port });
  hostileConnections++;
  socket.onData(() => undefined);
  const kind = random.nextU32() % 3;
  if (kind === 0) socket.write(Uint8Array.from({ length: 300 }, (_, i) => (i * 31 + hostileConnections) & 0xff));
  else if (kind === 1) socket.write(new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  await new Promise<void>((resolve) => socket.onClose(() => resolve()));
}

async function churn(untilMs: number): Promise<void> {
  const slots = Array.from({ length: MINER_SLOTS }, async (_, slot) => {
    while (clock.monotonicMs() < untilMs) await minerSession(slot, Math.min(untilMs, clock.monotonicMs() + uniform(300, 3000)));
  });
  const hostile = (async () => {
    while (clock.monotonicMs() < untilMs) {
      await hostileSession();
      await sleep(uniform(50, 300));
    }
  })();
  const backend = (async () => {
    while (clock.monotonicMs() + 4000 < untilMs) {
      await sleep(uniform(2000, 5000));
      // Outage: the backend goes away (connections cut), and comes back on the same port.
      sinkRefused += Object.values(sink!.stats.refused).reduce((n, v) => n + v, 0);
      await sink!.close();
      sink = undefined;
      outages++;
      await sleep(uniform(500, 2000));
      for (let attempt = 0; sink === undefined && attempt < 50; attempt++) {
        try {
          sink = await startShareSink({ host: '127.0.0.1', port: sinkPort, secret: SECRET, provider: nobleProvider, rejectShare });
        } catch {
          await sleep(100);
        }
      }
      if (sink === undefined) throw new Error(`the backend could not listen on ${sinkPort} again`);
    }
  })();
  await Promise.all([...slots, hostile, backend]);
}

const gc = await findGc();
const t0 = clock.monotonicMs();
await churn(t0 + 3000); // warm-up: JIT, buffers, pools
await until('warm-up drained', 30_000, () => (stack.forwarding!.metrics.unsettled === 0 && stack.gateway.stats.openConnections === 0 ? true : undefined), 50);
const start = { ...(await memoryNow(gc)), fds: fds() };
out(`start (after 3 s warm-up): RSS ${mib(start.rssBytes)}, heap ${mib(start.heapBytes)}, ${start.fds} open fds`);
await churn(clock.monotonicMs() + soakSecs * 1000);
await until('everything forwarded', 60_000, () => (stack.forwarding!.metrics.unsettled === 0 && stack.gateway.stats.openConnections === 0 ? true : undefined), 50).catch((e: Error) => violations.push(e.message));
const end = { ...(await memoryNow(gc)), fds: fds() };
const g = stack.gateway;
// Closed sessions' deadlines stay in the heap until they fall due (then are dropped): bounded by
// the connections closed within timing.channel_idle_timeout_ms, reported, not a leak.
out(`deadline heap: ${g.stats.deadlineHeapSize} entries for ${g.stats.openConnections} open connections after ${sessions + hostileConnections} connections came and went`);
out(`end: RSS ${mib(end.rssBytes)} (${end.rssBytes >= start.rssBytes ? '+' : ''}${mib(end.rssBytes - start.rssBytes)}), heap ${mib(end.heapBytes)}, ${end.fds} open fds (${end.fds - start.fds >= 0 ? '+' : ''}${end.fds - start.fds})`);
if (end.rssBytes - start.rssBytes > RSS_GROWTH_BYTES_MAX) violations.push(`RSS grew by ${mib(end.rssBytes - start.rssBytes)} (bound ${mib(RSS_GROWTH_BYTES_MAX)})`);
if (end.fds - start.fds > FDS_GROWTH_MAX) violations.push(`open fds grew by ${end.fds - start.fds} (bound ${FDS_GROWTH_MAX})`);

// Invariants.
for (const [id, n] of accepted) if (n !== 1 || results.get(id) !== 1) violations.push(`share ${id}: ${n} share_accepted, ${results.get(id) ?? 0} share_forward_result`);
for (const id of results.keys()) if (!accepted.has(id)) violations.push(`share_forward_result for ${id} without share_accepted`);
for (const [status, n] of statuses) if (status !== 'ok') violations.push(`${n} shares settled ${status}`);
let ackedOnce = 0;
for (const a of acks) {
  const ids = received.get(a.key);
  if (ids?.size === 1) ackedOnce++;
  else violations.push(`acknowledged share ${a.key} reached the backend under ${ids?.size ?? 0} share ids`);
}
// Each flood was cut at its budget: exactly budget + 1 of its shares were ever validated.
let floodsCut = 0;
for (const id of floodConnIds) {
  const reason = closeReasonByConn.get(id);
  const n = rejectedByConn.get(id) ?? 0;
  if (reason === 'invalid_share_budget_exceeded' && n === INVALID_SHARE_BUDGET + 1) floodsCut++;
  else violations.push(`invalid-share flood on conn ${id}: closed ${reason ?? 'never'} after ${n} rejections (budget ${INVALID_SHARE_BUDGET})`);
}
if (blocksSettled !== blocksFound) violations.push(`${blocksFound} blocks found, ${blocksSettled} settled`);
if (g.stats.blocksPending !== 0 || g.stats.openConnections !== 0 || g.admission.handshaking !== 0 || g.admission.trackedIps > 1) {
  violations.push(`gateway not idle at the end: ${JSON.stringify({ ...g.stats, handshaking: g.admission.handshaking, trackedIps: g.admission.trackedIps })}`);
}
if (stack.server.stats.openSockets !== 0) violations.push(`${stack.server.stats.openSockets} sockets still open in the pump`);
if (sink !== undefined) sinkRefused += Object.values(sink.stats.refused).reduce((n, v) => n + v, 0);
if (sinkRefused > 0) violations.push(`the backend refused ${sinkRefused} requests`);
if (acks.length === 0 || blocksFound === 0 || outages === 0) violations.push(`the soak proved too little: ${acks.length} acks, ${blocksFound} blocks, ${outages} outages`);
const sorted = [...ackLatencyMs].sort((a, b) => a - b);
const pct = (p: number): string => (sorted.length === 0 ? '-' : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(1));
out(
  `churn: ${sessions} miner sessions, ${hostileConnections} hostile connections (${floodsCut} invalid-share floods of ${FLOOD_SHARES}, each cut after ${INVALID_SHARE_BUDGET + 1}), ${outages} backend outages, ${blocksFound} blocks found (${blocksSettled} settled); ` +
    `${accepted.size} shares accepted, ${results.size} forwarded (${JSON.stringify(Object.fromEntries(statuses))}); ${acks.length} acks, ${ackedOnce} in the backend exactly once; ` +
    `ack latency p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${pct(100)} ms; ${eventsSeen} events`,
);
await stack.stop();
source.stop();
await sink?.close();
rmSync(dir, { recursive: true, force: true });

// ---- phase 2: kill -9 ------------------------------------------------------------------------

if (kills > 0) {
  const report = await runKillLoop({ kills, seed, ackAfterJournal: true, log: (line) => console.log(line) });
  out(formatKillLoopReport(report).replace(/^\[\w+\] /, ''));
  violations.push(...report.violations.slice(0, 20));
}

if (violations.length > 0) {
  out(`SOAK FAILED: ${violations.length} violations`);
  for (const v of violations.slice(0, 30)) out(`  - ${v}`);
  // Exit non-zero through the runtime's process object (node:process works on all three).
  const { default: process } = await import('node:process');
  process.exit(1);
}
out('SOAK PASSED');
const { default: process } = await import('node:process');
process.exit(0);
