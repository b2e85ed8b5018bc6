// Crash test of the REAL gateway (issue 5 acceptance): `reservegrid run --config <file>` as a
// child process of this runtime's own entry point, templates from a real btcd on regtest, shares
// from simulated SV2 miners (standard and extended channels) forwarded to an in-process, slow
// share-sink. Run 1 is killed with SIGKILL while batches are in flight; run 2 starts on the same
// config and gateway.data_dir, forwards the journal's unsettled shares (results `recovered: true`)
// and some new ones, and stops on SIGTERM with exit 0. Over both runs' event log (one file,
// appended by both; split at the length it had at the kill) and the sink:
//   - every share_accepted share_id has exactly one share_forward_result (run 1, or run 2 recovered);
//   - no share_forward_result without a share_accepted;
//   - run 2 recovered exactly the journal's unsettled shares, and those are the shares run 1
//     logged as accepted and never settled;
//   - every forwarded share is known to the sink and counted new exactly once (sharesNew equals
//     their number); the batch held in flight at the kill came back as duplicates.
//
// The documented gap (docs/share-forwarding.md "Durability"): a kill between a share's ack to the
// miner and the end of that event-loop turn loses the share. The journal is written before the
// log in every turn, so such a share leaves no trace in either and the log-based invariant
// cannot see it; the test prints how many acks the miners counted beyond the logged shares (`unlogged
// acks`, normally 0 since acks trail the log). When the kill lands between the turn's two writes
// (journal and log, microseconds apart), the log and the journal disagree about that last turn's
// shares; test/support/crash-windows.ts tolerates exactly that and nothing else, and the counts
// are printed (`end-of-turn window`). Nothing else is tolerated: a duplicate result, a result
// without a logged or journaled share, a recovered share that was not in the journal, or a share
// the sink counted twice fails the test.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, readEnv, runtime, seed } from '../harness.ts';
import { assert } from '../assert.ts';
import { BtcdNode, sleep, testWithBtcd } from '../support/btcd.ts';
import { loadConfig } from '../../core/config/index.ts';
import { SeededRandom } from '../../core/random.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { generateAuthorityKeyPair, type AuthorityKeyPair } from '../../core/noise/keys.ts';
import type { Fleet } from '../../adapters/fleet.ts';
import { startShareSink } from '../../runtimes/commands/share-sink.ts';
import { killWindows, readJournal } from '../support/crash-windows.ts';
import { spawnCli, type RuntimeChild } from '../support/child.ts';
import { until as waitUntil } from '../support/wait.ts';
import { btcdGatewayToml, EVERY_HASH_A_SHARE, parseEventLines, QUICK_UPSTREAM_RETRY, shareIdsOf, startMixedFleet, sv2AddressOf, type RunEvent, type Sv2Address } from '../support/btcd-run.ts';

const HOST = '127.0.0.1';
// Every 20 ms: these polls re-read the event log file.
const until = <T>(what: string, timeoutMs: number, poll: () => T | undefined | Promise<T | undefined>): Promise<T> => waitUntil(what, timeoutMs, poll, 20);
const SECRET = 'gateway-crash-secret-0123456789';
const STEP_MS = 20_000;


function configToml(node: BtcdNode, authority: AuthorityKeyPair, dir: string, sinkUrl: string): string {
  return btcdGatewayToml(node, authority, {
    gateway: {
      id: 9,
      http_listen_addr: '127.0.0.1:0',
      // One process: the test kills -9 THE gateway (miners, journal and forwarder in it) and
      // reads per-process conn ids; the workers' kill is workers.test.ts's.
      workers: 1,
      // Both runs append to one file; never rotated, so the test reads everything back.
      event_log_path: join(dir, 'events.jsonl'),
      event_log_max_bytes: 0,
      data_dir: join(dir, 'data'),
    },
    timing: { job_broadcast_interval_ms: 50, reconnect_backoff_max_ms: 1000, shutdown_drain_timeout_ms: 2000 },
    share: {
      share_upstream_url: sinkUrl,
      share_upstream_secret: SECRET,
      // Small batches, often: many batches in flight behind the slow sink at the kill.
      share_batch_interval_ms: 50,
      share_batch_max_shares: 20,
      // Well above the sink's delay: no timeout or retry muddles the count of results.
      share_forward_timeout_ms: 20000,
    },
    // As in gateway-btcd.test.ts: every hash is a share (and about half are regtest blocks).
    mining: { pool_tag: 'RG-crash-test', ...EVERY_HASH_A_SHARE },
    upstream: QUICK_UPSTREAM_RETRY,
  });
}

type Run = RuntimeChild;

const startRun = (file: string): Run => spawnCli(['run', '--config', file]);

const fleetFor = (address: Sv2Address, miners: number, salt: number): Promise<Fleet> => startMixedFleet(address, { miners, durationMs: 45_000, salt });

describe(`gateway crash (${runtime})`, () => {
  testWithBtcd(`reservegrid run on ${runtime}: kill -9 with shares in flight, restart on the same data_dir: exactly one result per accepted share, none counted twice`, async () => {
    const started = Date.now();
    const node = await BtcdNode.start();
    const dir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', `rg-gateway-crash-${runtime}-`));
    // Batches are recorded by the sink at once and answered 400 ms later: several in flight.
    const sink = await startShareSink({ host: HOST, port: 0, secret: SECRET, provider: nobleProvider, delayMs: 400 });
    const runs: Run[] = [];
    const fleets: Fleet[] = [];
    try {
      const authority = generateAuthorityKeyPair(new SeededRandom(seed + 501));
      const toml = configToml(node, authority, dir, sink.url);
      const loaded = loadConfig({ tomlText: toml, fileName: 'gateway-crash.toml', env: {} });
      assert.ok(loaded.ok, `test config loads: ${loaded.ok ? '' : loaded.problems.map((p) => p.message).join('; ')}`);
      const file = join(dir, 'gateway.toml');
      writeFileSync(file, toml);
      const logPath = join(dir, 'events.jsonl');
      const logText = (): string => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
      // While a run is alive, its last line may be half written when we read: whole lines only.
      const wholeLines = (text: string): string => text.slice(0, text.lastIndexOf('\n') + 1);

      // ---- run 1: shares flowing, then SIGKILL with batches in flight --------------------------
      const run1 = startRun(file);
      runs.push(run1);
      const fleet1 = await fleetFor(await sv2AddressOf(run1, STEP_MS), 4, 502);
      fleets.push(fleet1);
      await until('run 1: results, unsettled shares and the sink holding shares', STEP_MS, () => {
        const events = parseEventLines(wholeLines(logText()), 'run 1 log');
        const accepted = shareIdsOf(events, 'share_accepted').length;
        const results = shareIdsOf(events, 'share_forward_result').length;
        const channels = new Set(events.filter((e) => e.type === 'share_accepted').map((e) => e.conn_id)).size;
        return results >= 20 && accepted > results && sink.stats.sharesNew > results && channels >= 2 ? true : undefined;
      });
      // Hold every batch that arrives from now on: at least one is certainly in flight at the kill
      // (recorded by the sink, unanswered), so run 2 must re-send it and the sink must see duplicates.
      sink.setDelayMs(60_000);
      const batchesBefore = sink.stats.batches;
      await until('a batch held by the sink', STEP_MS, () => (sink.stats.batches > batchesBefore ? true : undefined));
      run1.child.kill('SIGKILL');
      const exit1 = await Promise.race([run1.exited, sleep(10_000).then(() => undefined)]);
      assert.ok(exit1 !== undefined, 'run 1 died after SIGKILL');
      assert.equal(exit1.signal, 'SIGKILL', `run 1 was killed (${JSON.stringify(exit1)})`);
      const fleet1Stats = await fleet1.stop();
      const text1 = logText();
      // A kill in the middle of a log write would leave a torn line (and hide an event).
      assert.ok(text1.endsWith('\n'), 'run 1 log ends with a whole line');
      const events1 = parseEventLines(text1, 'run 1 log');
      const accepted1 = shareIdsOf(events1, 'share_accepted');
      const results1 = shareIdsOf(events1, 'share_forward_result');
      const unsettled1 = new Set(accepted1);
      for (const id of results1) unsettled1.delete(id);
      assert.ok(unsettled1.size > 0, 'some shares were unsettled at the kill');
      assert.ok(results1.length > 0, 'some shares settled in run 1');
      assert.ok(!events1.some((e) => e.type === 'gateway_shutdown'), 'run 1 did not shut down gracefully');
      // What run 2 will recover: the journal's accepted-and-never-settled records
      // (docs/share-forwarding.md "Durability": {"a":{share}} accepted, {"s":"<id>"} settled).
      const journal = readJournal(join(dir, 'data', 'share-journal.jsonl'));
      const journaled = journal.unsettled;
      // The end-of-turn windows (header): the log behind the journal's acceptances (unlogged) or
      // behind its settle records (resultUnlogged). Never ahead of it: the event log writes the
      // journal before every batch of lines (beforeFlush in adapters/gateway-stack.ts), and
      // killWindows fails on a logged share the journal never saw.
      const { unlogged, resultUnlogged } = killWindows(events1, journal);
      const newAtKill = sink.stats.sharesNew;

      // ---- run 2: same config and data_dir; recovers, forwards new shares, stops on SIGTERM ----
      sink.setDelayMs(0);
      const run2 = startRun(file);
      runs.push(run2);
      const events2 = (): RunEvent[] => parseEventLines(wholeLines(logText().slice(text1.length)), 'run 2 log');
      const fleet2 = await fleetFor(await sv2AddressOf(run2, STEP_MS), 2, 503);
      fleets.push(fleet2);
      await until('run 2: every unsettled share recovered and new shares on both channel kinds forwarded', STEP_MS, () => {
        const events = events2();
        const recovered = events.filter((e) => e.type === 'share_forward_result' && e.recovered === true).length;
        const fresh = events.filter((e) => e.type === 'share_forward_result' && e.recovered !== true).length;
        const channels = new Set(events.filter((e) => e.type === 'share_accepted').map((e) => e.conn_id)).size;
        return recovered >= journaled.size && fresh >= 4 && channels >= 2 ? true : undefined;
      });
      const fleet2Stats = await fleet2.stop();
      // No miner any more: let every share run 2 accepted settle before the graceful stop, so the
      // drain has nothing left and every result is `ok` (none dropped_shutdown).
      await until('run 2: every share settled', STEP_MS, () => {
        const events = events2();
        const open = new Set(shareIdsOf(events, 'share_accepted'));
        for (const id of shareIdsOf(events, 'share_forward_result')) open.delete(id);
        return open.size === 0 ? true : undefined;
      });
      // SIGTERM from outside, as in gateway-btcd.test.ts (Deno's child.kill reports the signal,
      // hiding the exit code).
      spawn('kill', ['-TERM', String(run2.child.pid)], { stdio: 'ignore' });
      const exit2 = await Promise.race([run2.exited, sleep(15_000).then(() => undefined)]);
      assert.ok(exit2 !== undefined, `run 2 stopped within 15 s of SIGTERM; stderr: ${run2.stderr()}`);
      assert.equal(exit2.code, 0, `run 2 exit (${JSON.stringify(exit2)}); stderr: ${run2.stderr()}`);
      assert.match(run2.stdout(), /SIGTERM received, shutting down/);

      // ---- the invariant across both runs ----------------------------------------------------
      const all2 = events2();
      assert.ok(all2.some((e) => e.type === 'gateway_shutdown'), 'run 2 logged gateway_shutdown');
      const accepted2 = shareIdsOf(all2, 'share_accepted');
      const results2 = all2.filter((e) => e.type === 'share_forward_result');
      const recovered2 = results2.filter((e) => e.recovered === true).map((e) => e.share_id!);
      assert.deepEqual(new Set(recovered2), journaled, 'run 2 recovered exactly the journal\'s unsettled shares');
      assert.equal(recovered2.length, journaled.size, 'each recovered share has one result');
      const acceptedIds = [...accepted1, ...accepted2];
      const accepted = new Set(acceptedIds);
      assert.equal(accepted.size, acceptedIds.length, 'share ids are unique across runs');
      const resultCount = new Map<string, number>();
      for (const id of [...results1, ...results2.map((e) => e.share_id!)]) resultCount.set(id, (resultCount.get(id) ?? 0) + 1);
      for (const id of accepted) {
        // The tolerated exceptions, checked by killWindows: the kill's last turn.
        const expected = resultUnlogged.has(id) ? 0 : 1;
        assert.equal(resultCount.get(id) ?? 0, expected, `share ${id}: ${resultCount.get(id) ?? 0} results`);
      }
      for (const id of resultCount.keys()) assert.ok(accepted.has(id) || unlogged.has(id), `result for ${id} without share_accepted`);
      const statuses = new Set([...events1, ...all2].filter((e) => e.type === 'share_forward_result').map((e) => e.status));
      assert.deepEqual([...statuses], ['ok'], 'every share reached the sink');
      // The sink: every forwarded share once as new, none twice; the batch held at the kill was re-sent.
      const stats = sink.stats;
      const forwarded = new Set([...accepted, ...unlogged]);
      for (const id of forwarded) assert.ok(sink.sink.has(id), `the sink has ${id}`);
      assert.equal(stats.sharesNew, forwarded.size, `sink new ${stats.sharesNew} vs forwarded ${forwarded.size}`);
      assert.ok(stats.sharesDuplicate > 0, 'shares in flight at the kill were re-sent and de-duplicated');
      assert.deepEqual(stats.refused, {});

      // The documented gap, observed not asserted (header): acks the run-1 miners counted beyond
      // the shares run 1 logged. Acks trail the log (share_ack_batch_size 4), so 0 is normal.
      const unloggedAcks = Math.max(0, fleet1Stats.sharesAccepted - accepted1.length);
      console.log(
        `    [${runtime}] run 1: ${accepted1.length} accepted, ${results1.length} settled, ${unsettled1.size} unsettled at the kill ` +
          `(sink had ${newAtKill} new); miners acked ${fleet1Stats.sharesAccepted} (unlogged acks ${unloggedAcks}); ` +
          `end-of-turn window: ${unlogged.size} unlogged, ${resultUnlogged.size} results unlogged; run 2: ${recovered2.length} recovered, ${accepted2.length} new (miners acked ${fleet2Stats.sharesAccepted}); ` +
          `sink ${stats.sharesNew} new, ${stats.sharesDuplicate} duplicate in ${stats.batches} batches; ${Date.now() - started} ms`,
      );
    } finally {
      for (const fleet of fleets) await fleet.stop().catch(() => undefined);
      for (const run of runs) if (run.running) run.child.kill('SIGKILL');
      await Promise.all(runs.map((run) => Promise.race([run.exited, sleep(5_000)])));
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
      await node.dispose();
    }
  }, { timeoutMs: 90_000 });
});
