// gateway.workers = 2 (issue 13 item 1, docs/scaling.md "One machine, many cores"): the real
// `reservegrid run` as a child of this runtime's entry point, templates from a real btcd on
// regtest, shares forwarded to the real share sink (runtimes/commands/share-sink.ts).
//
//  1. Two workers share the miner port: miners connect one at a time until connections landed
//     on both workers (the worker index is the top bit of the extranonce counter, and the event
//     log's conn_id names the worker process through its worker_started conn_id_base). Each
//     miner gets the same job — prev hash, merkle path, coinbase prefix and suffix — and a
//     distinct extranonce prefix, partitioned by worker.
//  2. kill -9 of one worker while a fleet (standard and extended channels, every hash a share)
//     is mining: the leader logs worker_exited and respawns the worker (worker_started,
//     restarts 1); every SubmitShares.Success any miner received is matched by shares of that
//     miner's identity in the sink, none lost; /metrics and /status at the leader count the
//     workers and the restart; new miners mine on the respawned pair.
//  3. SIGTERM: the leader stops its workers and exits 0.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, readEnv, runtime, seed } from '../harness.ts';
import { assert } from '../assert.ts';
import { BtcdNode, sleep, testWithBtcd } from '../support/btcd.ts';
import { loadConfig } from '../../core/config/index.ts';
import { SeededRandom } from '../../core/random.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { generateAuthorityKeyPair } from '../../core/noise/keys.ts';
import { MinerConnection, startFleet, type Fleet } from '../../adapters/fleet.ts';
import { startShareSink } from '../../runtimes/commands/share-sink.ts';
import { spawnCli, type RuntimeChild } from '../support/child.ts';
import { until } from '../support/wait.ts';
import { btcdGatewayToml, EVERY_HASH_A_SHARE, QUICK_UPSTREAM_RETRY, sv2AddressOf, type Sv2Address } from '../support/btcd-run.ts';
import { readEventLog, workerOfConn } from '../support/worker-events.ts';

const HOST = '127.0.0.1';
const SECRET = 'workers-test-secret-0123456789';
const STEP_MS = 30_000;

interface LogEvent {
  readonly type: string;
  readonly worker?: number;
  readonly pid?: number;
  readonly conn_id?: number;
  readonly conn_id_base?: number;
  readonly restarts?: number;
  readonly reason_code?: string;
  readonly extranonce_prefix?: string;
  readonly share_id?: string;
}

const events = (path: string): LogEvent[] => readEventLog<LogEvent>(path);


interface MinerView {
  readonly prefix: string;
  readonly worker: number;
  readonly job: string;
}

async function oneMiner(address: Sv2Address, i: number): Promise<{ conn: MinerConnection; view: MinerView }> {
  const conn = await MinerConnection.connect({
    host: address.host,
    port: address.port,
    certificatePolicy: { kind: 'pinned', authorityXOnly: address.authorityXOnly },
    random: new SeededRandom(seed + 900 + i),
  });
  await conn.nextEvent('setup_success', STEP_MS);
  conn.client.openExtendedChannel({ userIdentity: `probe.${i}`, nominalHashRate: 1e6 });
  conn.flush();
  const channelId = (await conn.nextEvent('channel_opened', STEP_MS)).channel_id;
  const view = await until(`probe ${i}: an active job on a prev hash`, STEP_MS, () => {
    const ch = conn.client.channel(channelId);
    if (ch === undefined || ch.activeJobId === undefined || ch.prevHash === undefined) return undefined;
    const job = ch.jobs.get(ch.activeJobId)!;
    const prefix = ch.extranoncePrefix;
    return {
      prefix: bytesToHex(prefix),
      // Counter's top bit: the worker index of 2 (core/channels/extranonce.ts partition).
      worker: prefix[4]! >> 7,
      job: [bytesToHex(ch.prevHash), ...(job.merklePath ?? []).map((p) => bytesToHex(p)), bytesToHex(job.coinbaseTxPrefix!), bytesToHex(job.coinbaseTxSuffix!)].join('|'),
    };
  }, 20);
  return { conn, view };
}

describe(`gateway.workers = 2 (${runtime})`, () => {
  testWithBtcd(`reservegrid run on ${runtime} with two socket workers: one port, the same job, disjoint extranonces; kill -9 of a worker loses no acknowledged share and it is respawned`, async () => {
    const node = await BtcdNode.start();
    const dir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', `rg-workers-${runtime}-`));
    // Every share the sink stores, by the miner identity that sent it.
    const stored = new Map<string, Set<string>>();
    const sink = await startShareSink({
      host: HOST,
      port: 0,
      secret: SECRET,
      provider: nobleProvider,
      rejectShare: (share) => {
        const identity = String((share as { identity?: unknown }).identity);
        let ids = stored.get(identity);
        if (ids === undefined) stored.set(identity, (ids = new Set()));
        ids.add(share.share_id);
        return undefined;
      },
    });
    let run: RuntimeChild | undefined;
    const logPath = join(dir, 'events.jsonl');
    const probes: MinerConnection[] = [];
    const fleets: Fleet[] = [];
    try {
      const authority = generateAuthorityKeyPair(new SeededRandom(seed + 801));
      const toml = btcdGatewayToml(node, authority, {
        gateway: { id: 11, workers: 2, http_listen_addr: '127.0.0.1:0', event_log_path: logPath, event_log_max_bytes: 0, data_dir: join(dir, 'data') },
        timing: { job_broadcast_interval_ms: 50, reconnect_backoff_max_ms: 1000, shutdown_drain_timeout_ms: 2000 },
        share: { share_upstream_url: sink.url, share_upstream_secret: SECRET, share_batch_interval_ms: 50 },
        mining: { pool_tag: 'RG-workers-test', ...EVERY_HASH_A_SHARE },
        upstream: QUICK_UPSTREAM_RETRY,
      });
      const loaded = loadConfig({ tomlText: toml, fileName: 'workers.toml', env: {} });
      assert.ok(loaded.ok, `test config loads: ${loaded.ok ? '' : loaded.problems.map((p) => p.message).join('; ')}`);
      const file = join(dir, 'gateway.toml');
      writeFileSync(file, toml);
      run = spawnCli(['run', '--config', file]);
      const address = await sv2AddressOf(run, STEP_MS);
      assert.match(run.stdout(), /2 socket workers share the miner port/);
      const started = await until('both workers started', STEP_MS, () => {
        const s = events(logPath).filter((e) => e.type === 'worker_started');
        return s.length >= 2 ? s : undefined;
      });
      assert.deepEqual(started.map((e) => e.worker).sort(), [0, 1]);
      assert.ok(started.every((e) => e.restarts === 0 && (e.conn_id_base ?? 0) > 0), 'first starts, each with its connection-id base');

      // ---- 1. one port, both workers, the same job, disjoint extranonce space ------------------
      const views: MinerView[] = [];
      for (let i = 0; i < 16 && new Set(views.map((v) => v.worker)).size < 2; i++) {
        const { conn, view } = await oneMiner(address, i);
        probes.push(conn);
        views.push(view);
      }
      assert.deepEqual([...new Set(views.map((v) => v.worker))].sort(), [0, 1], `connections landed on both workers (${views.length} tried)`);
      const jobs = new Set(views.map((v) => v.job));
      if (jobs.size > 1) {
        // A template may have been released between two probes (btcd's mempool or time): the
        // newest job is what every channel must hold once the broadcast is through.
        await sleep(500);
      }
      // Same prev hash, merkle path and coinbase halves on every worker: one job from one input.
      const current = await until('every probe on one job', STEP_MS, () => {
        const now = probes.map((c) => {
          const ch = [...c.client.channels.values()][0]!;
          const job = ch.jobs.get(ch.activeJobId!)!;
          return [bytesToHex(ch.prevHash!), ...(job.merklePath ?? []).map((p) => bytesToHex(p)), bytesToHex(job.coinbaseTxPrefix!), bytesToHex(job.coinbaseTxSuffix!)].join('|');
        });
        return new Set(now).size === 1 ? now[0] : undefined;
      }, 50);
      assert.ok(current.length > 64, 'a job was compared');
      assert.equal(new Set(views.map((v) => v.prefix)).size, views.length, 'every channel has its own extranonce prefix');
      // The control channel's view agrees with the extranonce bit: each prefix the log recorded
      // for a conn_id belongs to the worker that conn_id names.
      // The log is written asynchronously (batched flushes): wait until every channel is in it.
      const log1 = await until('every probe channel in the event log', STEP_MS, () => {
        const log = events(logPath);
        return views.every((v) => log.some((e) => e.type === 'channel_opened' && e.extranonce_prefix === v.prefix)) ? log : undefined;
      });
      for (const v of views) {
        const opened = log1.find((e) => e.type === 'channel_opened' && e.extranonce_prefix === v.prefix);
        assert.ok(opened !== undefined, `channel with prefix ${v.prefix} logged`);
        assert.equal(workerOfConn(log1, opened.conn_id!), v.worker, `prefix ${v.prefix}: worker by conn_id`);
      }
      for (const c of probes) c.client.close();
      for (const c of probes) c.flush();

      // ---- 2. kill -9 of a worker mid-stream --------------------------------------------------
      // Every SubmitShares.Success each miner received (its acknowledged share count).
      const acked = new Map<string, number>();
      const fleet = await startFleet({
        host: address.host,
        port: address.port,
        certificatePolicy: { kind: 'pinned', authorityXOnly: address.authorityXOnly },
        // The kernel spreads connections over the two SO_REUSEPORT listeners by a hash of the
        // 4-tuple: if it spreads them evenly, 8 miners all land on one worker once in 128 runs (a CI
        // failure on Deno, "shares acknowledged by both workers"); 24 miners, once in 8 million.
        miners: 24,
        channel: 'mixed',
        attemptsPerTick: 1,
        tickMs: 100,
        durationMs: 60_000,
        userIdentity: (i) => `fleet.${i}`,
        random: new SeededRandom(seed + 802),
        onEvent: (i, event) => {
          if (event.type === 'shares_accepted') acked.set(`fleet.${i}`, (acked.get(`fleet.${i}`) ?? 0) + event.accepted_count);
        },
      });
      fleets.push(fleet);
      const victim = await until('shares acknowledged by both workers', STEP_MS, () => {
        const log = events(logPath);
        const byWorker = new Set(log.filter((e) => e.type === 'share_accepted').map((e) => workerOfConn(log, e.conn_id!)));
        return byWorker.has(0) && byWorker.has(1) ? log.find((e) => e.type === 'worker_started' && e.worker === 1) : undefined;
      });
      // Outside this runtime's process API, as the other kill tests do (Deno and Bun alike).
      spawn('kill', ['-KILL', String(victim.pid)], { stdio: 'ignore' });
      const exited = await until('worker_exited for worker 1', STEP_MS, () => events(logPath).find((e) => e.type === 'worker_exited' && e.worker === 1));
      assert.equal(exited.pid, victim.pid);
      assert.equal(exited.reason_code, 'worker_exited');
      const respawned = await until('worker 1 respawned', STEP_MS, () => events(logPath).find((e) => e.type === 'worker_started' && e.worker === 1 && e.restarts === 1));
      assert.ok(respawned.pid !== victim.pid && respawned.conn_id_base! > victim.conn_id_base!, 'a new process with a new connection-id base');
      // The leader aggregates: /metrics and /status count the workers and the restart.
      const httpUrl = /HTTP (http:\/\/\S+):/.exec(run.stdout())?.[1];
      assert.ok(httpUrl !== undefined, `HTTP address printed: ${run.stdout()}`);
      const get = async (path: string): Promise<string> => {
        const res = await fetch(`${httpUrl}${path}`, { headers: { authorization: 'Bearer test-api-key-0123456789' } });
        assert.equal(res.status, 200, path);
        return res.text();
      };
      await until('metrics: 2 running, 1 restart', STEP_MS, async () => {
        const text = await get('/metrics');
        return /^reservegrid_workers\{state="running"\} 2$/m.test(text) && /^reservegrid_worker_restarts_total 1$/m.test(text) ? true : undefined;
      });
      const status = JSON.parse(await get('/status')) as { workers?: Record<string, unknown> & { count: number; restarts: number; port: number; slots: ({ worker: number; state: string; restarts: number } & Record<string, unknown>)[] } };
      assert.equal(status.workers?.count, 2);
      // docs/http-api.md shows exactly these fields.
      const apiDoc = readFileSync(new URL('../../docs/http-api.md', import.meta.url), 'utf8');
      const shown = JSON.parse(`{${/```json\n("workers": [\s\S]*?)\n```/.exec(apiDoc)![1]!}}`) as { workers: Record<string, unknown> & { slots: Record<string, unknown>[] } };
      assert.deepEqual(Object.keys(status.workers!).sort(), Object.keys(shown.workers).sort(), '/status workers fields as documented');
      assert.deepEqual(Object.keys(status.workers!.slots[0]!).sort(), Object.keys(shown.workers.slots[0]!).sort(), '/status workers slot fields as documented');
      assert.equal(status.workers?.port_sharing, runtime === 'node' ? 'node:cluster' : 'SO_REUSEPORT');
      assert.equal(status.workers?.port, address.port);
      assert.deepEqual(status.workers?.slots.map((w) => [w.worker, w.state, w.restarts]), [[0, 'running', 0], [1, 'running', 1]]);
      // Let the surviving miners mine on, then stop them and let every share settle at the sink.
      await sleep(1000);
      const stats = await fleet.stop();
      assert.ok(stats.sharesAccepted > 0 && stats.disconnects > 0, `the fleet mined and lost the killed worker's connections (${JSON.stringify({ accepted: stats.sharesAccepted, disconnects: stats.disconnects })})`);
      await until('every acknowledged share stored by the sink', STEP_MS, () => {
        for (const [identity, n] of acked) if ((stored.get(identity)?.size ?? 0) < n) return undefined;
        return true;
      });
      for (const [identity, n] of acked) assert.ok((stored.get(identity)?.size ?? 0) >= n, `${identity}: ${n} acknowledged, ${stored.get(identity)?.size ?? 0} stored`);
      const totalAcked = [...acked.values()].reduce((a, b) => a + b, 0);
      assert.ok(totalAcked > 0, 'shares were acknowledged');

      // New miners mine on the respawned pair (the port never closed: worker 0 kept it).
      const after = await startFleet({
        host: address.host,
        port: address.port,
        certificatePolicy: { kind: 'pinned', authorityXOnly: address.authorityXOnly },
        miners: 4,
        channel: 'mixed',
        attemptsPerTick: 1,
        tickMs: 100,
        durationMs: 30_000,
        sharesMax: 20,
        random: new SeededRandom(seed + 803),
      });
      fleets.push(after);
      const afterStats = await after.done;
      assert.ok(afterStats.sharesAccepted >= 1 && afterStats.connectFailures === 0, `miners mine after the respawn (${JSON.stringify(afterStats.errors)})`);

      // ---- 3. SIGTERM: workers stopped cleanly, exit 0 ----------------------------------------
      spawn('kill', ['-TERM', String(run.child.pid)], { stdio: 'ignore' });
      const exit = await Promise.race([run.exited, sleep(20_000).then(() => undefined)]);
      assert.ok(exit !== undefined, `run stopped within 20 s of SIGTERM; stderr: ${run.stderr()}`);
      assert.equal(exit.code, 0, `run exit (${JSON.stringify(exit)}); stderr: ${run.stderr()}`);
      assert.match(run.stdout(), /stopped \(socket workers 2, restarts 1, shares accepted [1-9]/);
      const final = events(logPath);
      assert.ok(final.some((e) => e.type === 'gateway_shutdown'), 'gateway_shutdown logged');
      // No orphan: both worker processes of the end are gone.
      for (const w of final.filter((e) => e.type === 'worker_started')) {
        let alive = true;
        try {
          process.kill(w.pid!, 0);
        } catch {
          alive = false;
        }
        assert.ok(!alive || w.pid === victim.pid, `worker pid ${w.pid} exited`);
      }
    } catch (error) {
      // What the leader and its workers said (stderr) explains most failures.
      throw new Error(`${error instanceof Error ? error.message : String(error)}\nrun stderr:\n${run?.stderr() ?? ''}\nevents: ${JSON.stringify(Object.fromEntries([...new Set(events(logPath).map((e) => e.type))].map((t) => [t, events(logPath).filter((e) => e.type === t).length])))}`);
    } finally {
      for (const f of fleets) await f.stop();
      for (const c of probes) c.client.close();
      if (run?.running) run.child.kill('SIGKILL');
      await sink.close();
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, { timeoutMs: 240_000 });
});
