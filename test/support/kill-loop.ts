// The kill -9 loop (issue 12 acceptance: "kill -9 at random points, hundreds of times in a
// bounded run on each runtime: every acknowledged share reaches the backend exactly once").
//
// One data directory, `kills` runs of the real gateway stack (test/support/kill-child.ts, on
// this runtime), each killed with SIGKILL at a seeded random moment — while it starts and
// recovers, or while miners mine and batches are in flight —, then a last run that is stopped
// gracefully. Miners live in this process (core/client over adapters/fleet.ts MinerConnection),
// reconnect to every run, submit shares continuously and record every SubmitShares.Success
// (share_ack_batch_size = 1: one ack names one sequence number). The backend is the reference
// share-sink in this process; its rejectShare hook (which accepts everything) records every share
// record it receives, so each acknowledged share is found by what the miner knows of it: its
// channel's extranonce prefix and its sequence number.
//
// Checked at the end:
//   - every acknowledged share reached the backend under exactly one share_id (never two ids for
//     one share: that would be credited twice), and the backend stored each id once;
//   - no share settled `dropped_shutdown` in the last run (everything drained);
//   - the backend refused no batch (bad signature, replay, stale timestamp).
// An acknowledged share that never reached the backend is a loss. With the journal written
// before the acknowledgement (issue 12 defect 2) there must be none (`ackAfterJournal: true`);
// before that fix, the documented window (docs/share-forwarding.md "Durability") allows losses
// only in the last turn before a kill, so on each connection of each run the lost shares must be
// the LAST acknowledgements it received from that run (an ordering fact, no clock involved);
// anything else fails. The report says how many losses that window accounted for.
//
// Each run removes `<dir>/stop` first: the last run is asked to stop by creating it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runtime } from '../harness.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { MinerConnection } from '../../adapters/fleet.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { ShareFinder, type ClientEvent, type MiningWork } from '../../core/client/index.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { generateAuthorityKeyPair } from '../../core/noise/keys.ts';
import { SeededRandom } from '../../core/random.ts';
import { startShareSink } from '../../runtimes/commands/share-sink.ts';
import { spawnScript, type RuntimeChild } from './child.ts';
import { sleep, until } from './wait.ts';

const SECRET = 'kill-loop-secret-0123456789';
const CHILD = 'test/support/kill-child.ts';

export interface KillLoopOptions {
  readonly kills: number;
  readonly seed: number;
  /** Miners connected to every run. Default 3. */
  readonly miners?: number;
  /** Range of the kill moment after the run's first acknowledgement (ms). Default 0..600. */
  readonly killAfterFirstAckMs?: readonly [number, number];
  /** Share of kills aimed at start-up and recovery (before `ready` is awaited). Default 0.2. */
  readonly startupKillShare?: number;
  /** Losses must be zero (journal before ack), rather than confined to the last turn. */
  readonly ackAfterJournal: boolean;
  /** Progress lines (every 10 kills); default none. */
  readonly log?: (line: string) => void;
}

export interface KillLoopReport {
  readonly runtime: string;
  readonly seed: number;
  readonly kills: number;
  readonly startupKills: number;
  readonly durationMs: number;
  readonly acked: number;
  readonly ackedInBackend: number;
  readonly lostInLastTurn: number;
  /** Shares the backend stored that no miner saw acknowledged (accepted, then the kill). */
  readonly storedUnacked: number;
  readonly backendNew: number;
  readonly backendDuplicates: number;
  readonly recovered: number;
  readonly violations: readonly string[];
}

interface _AckRecord {
  readonly key: string;
  readonly run: number;
  readonly conn: number;
}

/** A miner that mines continuously on one run's gateway, recording acknowledgements. */
class _LoopMiner {
  readonly acks: _AckRecord[] = [];
  #connection: MinerConnection | undefined;
  #channelId: number | undefined;
  #prefixHex = '';
  #finder: ShareFinder | undefined;
  #work: MiningWork | undefined;
  #inFlight = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  constructor(readonly run: number, readonly conn: number) {}

  async connect(port: number, authorityXOnly: Uint8Array, clock: SystemClock, random: SeededRandom): Promise<void> {
    const onEvent = (event: ClientEvent): void => this.#on(event);
    this.#connection = await MinerConnection.connect({
      host: '127.0.0.1',
      port,
      clock,
      random,
      certificatePolicy: { kind: 'pinned', authorityXOnly },
      onEvent,
    });
    this.#connection.flush();
    this.#timer = setInterval(() => this.#topUp(), 5);
  }

  /** Stop submitting; in-flight shares may still be acknowledged. */
  stopSubmitting(): void {
    this.#stopped = true;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  abort(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#connection?.abort();
  }

  #on(event: ClientEvent): void {
    const c = this.#connection!;
    switch (event.type) {
      case 'setup_success':
        c.client.openStandardChannel({ userIdentity: `kill.loop${this.conn}`, nominalHashRate: 1 });
        // Sent after this dispatch returns (flush is what is dispatching this event).
        queueMicrotask(() => c.flush());
        break;
      case 'channel_opened':
        this.#channelId = event.channel_id;
        this.#prefixHex = bytesToHex(event.extranonce_prefix);
        break;
      case 'new_prev_hash':
      case 'new_job':
        if (this.#channelId !== undefined) {
          this.#work = c.client.work(this.#channelId);
          this.#finder = this.#work === undefined ? undefined : new ShareFinder(this.#work);
        }
        break;
      case 'shares_accepted':
        // share_ack_batch_size = 1: the ack names the one share it accepts.
        this.acks.push({ key: `${this.#prefixHex}:${event.last_sequence_number}`, run: this.run, conn: this.conn });
        this.#inFlight = Math.max(0, this.#inFlight - event.accepted_count);
        break;
      case 'share_rejected':
        this.#inFlight = Math.max(0, this.#inFlight - 1);
        break;
      default:
        break;
    }
  }

  #topUp(): void {
    const c = this.#connection;
    if (c === undefined || this.#stopped || c.socketClosed || this.#channelId === undefined || this.#work === undefined || this.#finder === undefined) return;
    let sent = 0;
    while (this.#inFlight < 4 && sent < 4) {
      const found = this.#finder.search(1 << 12).share;
      if (found === undefined) return;
      c.client.submitShare(this.#channelId, { jobId: this.#work.jobId, nonce: found.nonce, ntime: found.ntime, version: found.version });
      this.#inFlight++;
      sent++;
    }
    if (sent > 0) c.flush();
  }
}

const linesOf = (child: RuntimeChild): { type: string; port?: number; recovered?: number }[] =>
  child
    .stdout()
    .split('\n')
    .slice(0, -1)
    .filter((t) => t.startsWith('{'))
    .map((t) => JSON.parse(t) as { type: string; port?: number; recovered?: number });

export async function runKillLoop(options: KillLoopOptions): Promise<KillLoopReport> {
  const startedMs = Date.now();
  const random = new SeededRandom(options.seed);
  const uniform = (lo: number, hi: number): number => lo + (random.nextU32() / 2 ** 32) * (hi - lo);
  const [afterLo, afterHi] = options.killAfterFirstAckMs ?? [0, 600];
  const startupShare = options.startupKillShare ?? 0.2;
  const minersPerRun = options.miners ?? 3;
  const clock = new SystemClock();
  const authority = generateAuthorityKeyPair(new SeededRandom(options.seed ^ 0x5eed));
  const dir = mkdtempSync(join(tmpdir(), `rg-kill-loop-${runtime}-`));
  // What the backend saw: extranonce:sequence → share ids.
  const received = new Map<string, Set<string>>();
  const sink = await startShareSink({
    host: '127.0.0.1',
    port: 0,
    secret: SECRET,
    provider: nobleProvider,
    delayMs: 10,
    rejectShare: (share) => {
      const record = share as { share_id: string; extranonce?: string; sequence_number?: number };
      const key = `${record.extranonce ?? ''}:${record.sequence_number ?? -1}`;
      let ids = received.get(key);
      if (ids === undefined) received.set(key, (ids = new Set()));
      ids.add(record.share_id);
      return undefined;
    },
  });
  const args = ['--dir', dir, '--sink', sink.url, '--secret', SECRET, '--authority-public', authority.publicKey, '--authority-secret', authority.secretKeyText];
  const miners: _LoopMiner[] = [];
  const violations: string[] = [];
  let startupKills = 0;
  let recovered = 0;
  let connSeq = 0;

  const startRun = async (run: number, killAtStartup: boolean): Promise<{ child: RuntimeChild; port: number | undefined; runMiners: _LoopMiner[] }> => {
    rmSync(join(dir, 'stop'), { force: true });
    const child = spawnScript(CHILD, args);
    if (killAtStartup) {
      // Somewhere in start-up: module load, journal recovery, re-forwarding recovered shares.
      await sleep(uniform(0, 1500));
      if (!linesOf(child).some((l) => l.type === 'ready')) return { child, port: undefined, runMiners: [] };
    }
    const ready = await until(`run ${run} ready`, 60_000, () => {
      if (!child.running) throw new Error(`run ${run} exited before ready: ${child.stderr()}`);
      return linesOf(child).find((l) => l.type === 'ready');
    }, 10);
    recovered += ready.recovered ?? 0;
    const runMiners: _LoopMiner[] = [];
    for (let i = 0; i < minersPerRun; i++) {
      const m = new _LoopMiner(run, connSeq++);
      await m.connect(ready.port!, authority.publicKeyXOnly, clock, new SeededRandom(options.seed + run * 100 + i));
      runMiners.push(m);
      miners.push(m);
    }
    return { child, port: ready.port, runMiners };
  };

  try {
    for (let run = 0; run < options.kills; run++) {
      const atStartup = random.nextU32() / 2 ** 32 < startupShare;
      const { child, runMiners } = await startRun(run, atStartup);
      if (runMiners.length === 0) startupKills++;
      else {
        // From this run's first acknowledgement (so every such kill lands with shares acked and
        // batches in flight, however slow the machine is to start a run), a random moment.
        await until(`run ${run}: a first ack`, 30_000, () => (runMiners.some((m) => m.acks.length > 0) ? true : undefined), 5).catch(() => undefined);
        await sleep(uniform(afterLo, afterHi));
      }
      child.child.kill('SIGKILL');
      const exit = await child.exited;
      if (exit.signal !== 'SIGKILL') violations.push(`run ${run} was not killed by SIGKILL (${JSON.stringify(exit)}): ${child.stderr().slice(0, 500)}`);
      for (const m of runMiners) m.abort();
      if ((run + 1) % 10 === 0) options.log?.(`[${runtime}] kill loop: ${run + 1}/${options.kills} kills, ${miners.reduce((n, m) => n + m.acks.length, 0)} acks so far, ${Math.round((Date.now() - startedMs) / 1000)} s`);
    }

    // The last run: mine a little, stop submitting, let everything drain, stop gracefully.
    const last = await startRun(options.kills, false);
    await until('the last run: a first ack', 30_000, () => (last.runMiners.some((m) => m.acks.length > 0) ? true : undefined), 5).catch(() => undefined);
    await sleep(300);
    for (const m of last.runMiners) m.stopSubmitting();
    await until('last acks', 20_000, () => (last.runMiners.every((m) => m.inFlight === 0) ? true : undefined), 20).catch(() => undefined);
    const lastKeys = last.runMiners.flatMap((m) => m.acks.map((a) => a.key));
    await until('the last run forwards its shares', 30_000, () => (lastKeys.every((k) => received.has(k)) ? true : undefined), 20).catch(() => undefined);
    let quiet = sink.stats.batches;
    for (let i = 0; i < 50; i++) {
      await sleep(200);
      if (sink.stats.batches === quiet) break;
      quiet = sink.stats.batches;
    }
    writeFileSync(join(dir, 'stop'), '');
    const exit = await last.child.exited;
    if (exit.code !== 0) violations.push(`the last run did not stop cleanly (${JSON.stringify(exit)}): ${last.child.stderr().slice(0, 500)}`);
    for (const m of last.runMiners) m.abort();

    // ---- the invariant ------------------------------------------------------------------------
    const acks = miners.flatMap((m) => m.acks);
    let inBackend = 0;
    let lostInLastTurn = 0;
    const ackedKeys = new Set<string>();
    for (const m of miners) {
      // Lost shares of one connection must be a suffix of its acks (the kill's last turn).
      let seenDelivered = false;
      for (let i = m.acks.length - 1; i >= 0; i--) {
        const a = m.acks[i]!;
        ackedKeys.add(a.key);
        const ids = received.get(a.key);
        if (ids !== undefined && ids.size === 1) {
          inBackend++;
          seenDelivered = true;
        } else if (ids !== undefined) {
          violations.push(`share ${a.key} (run ${a.run}) reached the backend under ${ids.size} share ids: ${[...ids].join(', ')}`);
        } else if (options.ackAfterJournal) {
          violations.push(`acknowledged share ${a.key} (run ${a.run}, connection ${a.conn}) never reached the backend`);
        } else if (seenDelivered) {
          violations.push(`acknowledged share ${a.key} (run ${a.run}, connection ${a.conn}) never reached the backend, and a later ack on its connection did: not the kill's last turn`);
        } else {
          lostInLastTurn++;
        }
      }
    }
    const storedUnacked = [...received.keys()].filter((k) => !ackedKeys.has(k)).length;
    const stats = sink.stats;
    if (Object.keys(stats.refused).length > 0) violations.push(`the backend refused batches: ${JSON.stringify(stats.refused)}`);
    if (stats.sharesNew !== [...received.values()].reduce((n, ids) => n + ids.size, 0)) violations.push(`backend stored ${stats.sharesNew} new shares, saw ${received.size} distinct`);
    const log = readFileSync(join(dir, 'events.jsonl'), 'utf8');
    const dropped = (log.match(/"status":"dropped_shutdown"/g) ?? []).length;
    if (dropped > 0) violations.push(`${dropped} shares settled dropped_shutdown`);
    if (acks.length === 0) violations.push('no share was acknowledged at all: the loop proved nothing');
    return {
      runtime,
      seed: options.seed,
      kills: options.kills,
      startupKills,
      durationMs: Date.now() - startedMs,
      acked: acks.length,
      ackedInBackend: inBackend,
      lostInLastTurn,
      storedUnacked,
      backendNew: stats.sharesNew,
      backendDuplicates: stats.sharesDuplicate,
      recovered,
      violations,
    };
  } finally {
    for (const m of miners) m.abort();
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatKillLoopReport(r: KillLoopReport): string {
  return (
    `[${r.runtime}] kill -9 loop (seed ${r.seed}): ${r.kills} kills (${r.startupKills} during start-up/recovery) in ${(r.durationMs / 1000).toFixed(1)} s; ` +
    `${r.acked} shares acknowledged, ${r.ackedInBackend} reached the backend exactly once, ${r.lostInLastTurn} lost in a kill's last turn; ` +
    `${r.storedUnacked} stored without an ack (killed before it left); ${r.recovered} recovered from journals; backend ${r.backendNew} new, ${r.backendDuplicates} duplicates; ` +
    `${r.violations.length === 0 ? 'invariant holds' : `${r.violations.length} VIOLATIONS`}`
  );
}
