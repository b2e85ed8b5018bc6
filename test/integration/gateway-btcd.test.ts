// The whole gateway against a real Bitcoin node (issue 3 items 1, 6 and 8): btcd on regtest,
// startGatewayStack in observe mode on a real loopback listener (ephemeral port), and simulated
// SV2 miners (adapters/fleet.ts) on standard and extended channels over real TCP and Noise.
//  1. Miners handshake, get a future job then SetNewPrevHash, shares are acknowledged, and a
//     block found by the fleet is submitted and ACCEPTED by btcd (its hash becomes btcd's best
//     block hash and the height grows).
//  2. btcd stopped mid-run: upstream_unavailable while miners keep getting shares acknowledged on
//     the last job; btcd restarted: polling recovers (template_received) and mining continues.
//  3. `reservegrid run --config <file>` as a child process of this runtime's own entry point:
//     prints its address, serves a miner, exits 0 on SIGTERM.
// Skipped with a reason when btcd is not installed (scripts/install-btcd.sh installs it).
// The last block tests the runner adapters alone (poller, block executor, event log) on a fake
// clock with a scripted source: change detection, backoff, classification, rotation.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, readEnv, runtime, seed, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { BtcdNode, sleep, testWithBtcd } from '../support/btcd.ts';
import { loadConfig } from '../../core/config/index.ts';
import type { Config } from '../../core/config/schema.ts';
import { SeededRandom } from '../../core/random.ts';
import { FakeClock } from '../../core/clock.ts';
import { err, ok, type Result } from '../../core/errors.ts';
import type { BlockSubmitOutcome } from '../../core/gateway/block-submitter.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { generateAuthorityKeyPair, type AuthorityKeyPair } from '../../core/noise/keys.ts';
import type { ClientEvent } from '../../core/client/index.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { startFleet, MinerConnection, type Fleet } from '../../adapters/fleet.ts';
import { startGatewayStack, type GatewayStack } from '../../adapters/gateway-stack.ts';
import type { StampedEvent } from '../../adapters/gateway-server.ts';
import { BlockExecutor } from '../../adapters/block-executor.ts';
import { createEventLog, type LoggableEvent } from '../../adapters/event-log.ts';
import { TemplatePoller } from '../../adapters/template-poller.ts';
import { upstreamError, type SubmitBlockOutcome, type TemplateSource, type UpstreamError } from '../../adapters/template-source.ts';
import { assertWorkersLine, defaultWorkerCount, spawnCli, type RuntimeChild } from '../support/child.ts';
import { until as waitUntil } from '../support/wait.ts';
import { btcdGatewayToml, EVERY_HASH_A_SHARE, QUICK_UPSTREAM_RETRY, sv2AddressOf } from '../support/btcd-run.ts';

const HOST = '127.0.0.1';
// Every 20 ms: some polls call btcd's RPC.
const until = <T>(what: string, timeoutMs: number, poll: () => T | undefined | Promise<T | undefined>): Promise<T> => waitUntil(what, timeoutMs, poll, 20);
const STEP_MS = 15_000;


function configToml(node: BtcdNode, authority: AuthorityKeyPair, extra: { eventLogPath?: string; dataDir?: string } = {}): string {
  return btcdGatewayToml(node, authority, {
    gateway: { id: 7, event_log_path: extra.eventLogPath ?? '-', ...(extra.dataDir === undefined ? {} : { data_dir: extra.dataDir }) },
    timing: { job_broadcast_interval_ms: 50, reconnect_backoff_max_ms: 1000, shutdown_drain_timeout_ms: 2000 },
    mining: { pool_tag: 'RG-btcd-test', ...EVERY_HASH_A_SHARE },
    upstream: QUICK_UPSTREAM_RETRY,
  });
}

function loadTestConfig(toml: string): Config {
  const result = loadConfig({ tomlText: toml, fileName: 'gateway-btcd-test.toml', env: {} });
  if (!result.ok) throw new Error(`test config does not load: ${result.problems.map((p) => p.message).join('; ')}`);
  return result.config;
}

interface World {
  readonly node: BtcdNode;
  readonly stack: GatewayStack;
  readonly events: StampedEvent[];
  readonly authority: AuthorityKeyPair;
  /** Per miner index: the client events in order. */
  readonly minerEvents: Map<number, ClientEvent[]>;
  fleet: Fleet | undefined;
  close(): Promise<void>;
}

async function startWorld(salt: number): Promise<World> {
  const node = await BtcdNode.start();
  const random = new SeededRandom(seed + salt);
  const authority = generateAuthorityKeyPair(random);
  const events: StampedEvent[] = [];
  let stack: GatewayStack;
  try {
    stack = await startGatewayStack({
      config: loadTestConfig(configToml(node, authority)),
      clock: new SystemClock(),
      random,
      eventLog: false,
      // No pool backend here (share.share_upstream_url is a dead port): shares stop at the gateway.
      shareForwarding: false,
      onEvent: (event) => events.push(event),
    });
  } catch (error) {
    await node.dispose();
    throw error;
  }
  const world: World = {
    node,
    stack,
    events,
    authority,
    minerEvents: new Map(),
    fleet: undefined,
    close: async () => {
      try {
        await world.fleet?.stop();
        await stack.stop();
      } finally {
        await node.dispose();
      }
    },
  };
  return world;
}

async function startWorldFleet(world: World, salt: number, miners: number): Promise<Fleet> {
  world.fleet = await startFleet({
    host: HOST,
    port: world.stack.address.port,
    certificatePolicy: { kind: 'pinned', authorityXOnly: world.authority.publicKeyXOnly },
    miners,
    channel: 'mixed',
    // A few hashes per second per miner: on regtest about half of them are blocks.
    attemptsPerTick: 1,
    tickMs: 250,
    durationMs: 55_000,
    random: new SeededRandom(seed + salt),
    onEvent: (index, event) => {
      let list = world.minerEvents.get(index);
      if (list === undefined) world.minerEvents.set(index, (list = []));
      if (list.length < 5_000) list.push(event);
    },
  });
  return world.fleet;
}

function ofType<T extends StampedEvent['type']>(events: readonly StampedEvent[], type: T): Extract<StampedEvent, { type: T }>[] {
  return events.filter((e) => e.type === type) as Extract<StampedEvent, { type: T }>[];
}

/** Each miner's channel got a future job first, then SetNewPrevHash activating that job. */
function assertFutureJobThenPrevHash(world: World, miners: number): void {
  for (let index = 0; index < miners; index++) {
    const list = world.minerEvents.get(index) ?? [];
    const firstJob = list.findIndex((e) => e.type === 'new_job');
    const firstPrevHash = list.findIndex((e) => e.type === 'new_prev_hash');
    assert.ok(firstJob >= 0 && firstPrevHash > firstJob, `miner ${index}: job at ${firstJob}, prevhash at ${firstPrevHash}`);
    const job = list[firstJob] as Extract<ClientEvent, { type: 'new_job' }>;
    const prevHash = list[firstPrevHash] as Extract<ClientEvent, { type: 'new_prev_hash' }>;
    assert.equal(job.future, true, `miner ${index}: first job is a future job`);
    assert.equal(prevHash.job_id, job.job_id, `miner ${index}: SetNewPrevHash activates the future job`);
    assert.equal(prevHash.job_known, true);
    assert.equal(job.extended, index % 2 === 1, `miner ${index}: channel kind (mixed fleet: odd = extended)`);
  }
}

describe(`gateway with a real btcd (${runtime})`, () => {
  testWithBtcd('standard and extended miners: future job then SetNewPrevHash, shares acknowledged, a found block accepted by btcd', async () => {
    const started = Date.now();
    const world = await startWorld(301);
    try {
      const heightBefore = (await world.node.rpc('getblockcount')) as number;
      await until('first template_received', STEP_MS, () => ofType(world.events, 'template_received')[0]);
      const miners = 4;
      const fleet = await startWorldFleet(world, 302, miners);

      // A block found by the fleet that btcd made its tip.
      const accepted = await until('a fleet block that is btcd\'s best block', 40_000, async () => {
        const found = ofType(world.events, 'block_found');
        if (found.length === 0) return undefined;
        const best = (await world.node.rpc('getbestblockhash')) as string;
        return found.find((f) => f.block_hash === best);
      });
      const firstMs = Date.now() - started;
      const heightAfter = (await world.node.rpc('getblockcount')) as number;
      assert.ok(heightAfter > heightBefore, `height ${heightBefore} → ${heightAfter}`);
      // Mining goes on across tips: each new block → a new template → future job + SetNewPrevHash
      // → the next block. Three more fleet blocks on top, every one of them ours.
      const target = heightAfter + 3;
      await until(`height ${target}`, 30_000, async () => ((await world.node.rpc('getblockcount')) as number) >= target ? true : undefined);
      const foundHashes = new Set(ofType(world.events, 'block_found').map((b) => b.block_hash));
      for (let height = heightBefore + 1; height <= target; height++) {
        const hash = (await world.node.rpc('getblockhash', [height])) as string;
        assert.ok(foundHashes.has(hash), `block ${height} (${hash}) was found by the fleet through the gateway`);
      }
      const result = ofType(world.events, 'block_submit_result').find((r) => r.block_id === accepted.block_id);
      assert.ok(result !== undefined, 'block_submit_result for the accepted block');
      assert.equal(result.result, 'accepted');
      // The block hash in the event is btcd's own view of the block.
      const header = (await world.node.rpc('getblockheader', [accepted.block_hash])) as { height: number };
      assert.equal(header.height, accepted.height);

      await until('acknowledged shares on both channel kinds', STEP_MS, () => {
        const ok = ofType(world.events, 'share_accepted');
        const channels = new Set(ok.map((s) => `${s.conn_id}`));
        return fleet.stats.sharesAccepted >= miners && channels.size >= 2 ? true : undefined;
      });
      assertFutureJobThenPrevHash(world, miners);
      const stats = fleet.stats;
      assert.equal(stats.channelsOpened, miners);
      assert.equal(stats.disconnects, 0, stats.errors.join('; '));
      assert.ok(ofType(world.events, 'job_broadcast').some((b) => b.kind === 'future_prevhash' && b.connections > 0), 'a prevhash switch reached the miners');
      // Every share the gateway accepted has a unique id (gateway_id-boot_id-counter).
      const ids = ofType(world.events, 'share_accepted').map((s) => s.share_id);
      assert.equal(new Set(ids).size, ids.length);
      assert.ok(ids.every((id) => id.startsWith('7-')), 'share ids carry gateway.id');
      console.log(`    [${runtime}] first block accepted after ${firstMs} ms, height ${heightBefore} → ${target} after ${Date.now() - started} ms; ` +
        `${stats.sharesAccepted} shares acked, ${ofType(world.events, 'block_found').length} blocks found, ${stats.sharesRejected} rejected ${JSON.stringify(stats.rejectedByCode)}`);
    } finally {
      await world.close();
    }
  }, { timeoutMs: 60_000 });

  testWithBtcd('btcd stopped mid-run: upstream_unavailable, miners keep working; btcd back: polling recovers and mining continues', async () => {
    const started = Date.now();
    const world = await startWorld(311);
    try {
      await until('first template_received', STEP_MS, () => ofType(world.events, 'template_received')[0]);
      const fleet = await startWorldFleet(world, 312, 2);
      await until('shares acknowledged', STEP_MS, () => (fleet.stats.sharesAccepted > 0 ? true : undefined));

      await world.node.stop();
      const stoppedAt = world.events.length;
      const unavailable = await until('upstream_unavailable', STEP_MS, () => ofType(world.events.slice(stoppedAt), 'upstream_unavailable')[0]);
      assert.equal(unavailable.reason_code, 'upstream_unavailable');
      assert.equal(unavailable.error_code, 'upstream-unreachable');
      // Miners keep working on their last job: more shares acknowledged while the node is down.
      const ackedWhileDown = fleet.stats.sharesAccepted;
      await until('shares acknowledged while btcd is down', STEP_MS, () => (fleet.stats.sharesAccepted > ackedWhileDown + 2 ? true : undefined));
      await until('repeated failures with backoff', STEP_MS, () => ofType(world.events.slice(stoppedAt), 'upstream_unavailable').length >= 3 ? true : undefined);
      assert.equal(ofType(world.events.slice(stoppedAt), 'template_received').length, 0, 'no template while btcd is down');
      assert.equal(world.stack.gateway.state, 'running');
      const downFor = Date.now();

      // Index taken before the restart: the poller may reach btcd before restart() returns.
      const restartedAt = world.events.length;
      await world.node.restart();
      const recovered = await until('template_received after restart', STEP_MS, () => ofType(world.events.slice(restartedAt), 'template_received')[0]);
      assert.ok(ofType(world.events.slice(restartedAt), 'upstream_recovered').length === 1, 'upstream_recovered once');
      // btcd wipes its regtest chain at start: the first template builds on genesis, a new prevhash.
      assert.equal(recovered.new_prevhash, true);
      assert.equal(recovered.height, 1);
      const ackedAtRecovery = fleet.stats.sharesAccepted;
      await until('a block on the restarted node', 30_000, async () => {
        const count = (await world.node.rpc('getblockcount')) as number;
        return count >= 1 && fleet.stats.sharesAccepted > ackedAtRecovery ? true : undefined;
      });
      const best = (await world.node.rpc('getbestblockhash')) as string;
      assert.ok(ofType(world.events, 'block_found').some((b) => b.block_hash === best), 'the restarted node\'s tip was found by the fleet');
      assert.equal(fleet.stats.disconnects, 0, fleet.stats.errors.join('; '));
      assert.equal(world.stack.gateway.state, 'running');
      console.log(`    [${runtime}] outage ${Date.now() - downFor} ms incl. restart; ${ofType(world.events, 'upstream_unavailable').length} upstream_unavailable, ` +
        `${ofType(world.events, 'block_submit_retry').length} block retries; total ${Date.now() - started} ms`);
    } finally {
      await world.close();
    }
  }, { timeoutMs: 60_000 });

  // The config has no gateway.workers key: `run` on the default ("auto", one socket worker per
  // core; one process on a one-core machine), as an operator's first start is.
  testWithBtcd(`reservegrid run --config on ${runtime}, gateway.workers by default: one socket worker per core, prints its SV2 address, serves a miner, exits 0 on SIGTERM`, async () => {
    const node = await BtcdNode.start();
    const dir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', 'rg-run-'));
    let run: RuntimeChild | undefined;
    let miner: MinerConnection | undefined;
    try {
      const authority = generateAuthorityKeyPair(new SeededRandom(seed + 321));
      const file = join(dir, 'gateway.toml');
      // data_dir: the share journal of `run` goes to the temp dir, not the repository.
      writeFileSync(file, configToml(node, authority, { dataDir: dir }));
      const started = Date.now();
      const child = spawnCli(['run', '--config', file]);
      run = child;
      const address = await sv2AddressOf(child, 20_000);
      const startupMs = Date.now() - started;
      const workers = defaultWorkerCount();
      assertWorkersLine(child, workers);
      assert.equal(address.host, HOST);
      assert.equal(address.authorityPublicKey, authority.publicKey);

      miner = await MinerConnection.connect({
        host: address.host,
        port: address.port,
        certificatePolicy: { kind: 'pinned', authorityXOnly: address.authorityXOnly },
        random: new SeededRandom(seed + 322),
      });
      await miner.nextEvent('setup_success', STEP_MS);
      miner.client.openExtendedChannel({ userIdentity: 'run-test.w1', nominalHashRate: 10 });
      miner.flush();
      const opened = await miner.nextEvent('channel_opened', STEP_MS);
      await miner.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === opened.channel_id);
      // The JSON event lines on stdout (event_log_path = "-") show the connection and the channel.
      await until('channel_opened event line', STEP_MS, () => (/"type":"channel_opened"/.test(child.stdout()) ? true : undefined));

      const stopAt = Date.now();
      // SIGTERM from outside, as a supervisor sends it. Not child.kill(): Deno's node:child_process
      // then reports the exit as "killed by SIGTERM" even when the child exited 0 on its own
      // (checked with Deno 2.9.5), which would hide the exit code this test is about.
      spawn('kill', ['-TERM', String(child.child.pid)], { stdio: 'ignore' });
      const channelClosed = await miner.nextEvent('channel_closed', STEP_MS);
      assert.equal(channelClosed.reason_code, 'shutdown');
      const exit = await Promise.race([child.exited, sleep(15_000).then(() => 'hung' as const)]);
      assert.equal(exit === 'hung' ? exit : exit.code, 0, `exit code; stderr: ${child.stderr()}`);
      const stdout = child.stdout();
      const stopMs = Date.now() - stopAt;
      assert.match(stdout, /SIGTERM received, shutting down/);
      // The stop line counts over all workers with workers ≥ 2 (docs/running.md).
      assert.match(stdout, workers >= 2 ? new RegExp(`stopped \\(socket workers ${workers}, restarts 0, shares accepted `) : /stopped \(connections 1, /);
      const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
      const types = lines.map((l) => (JSON.parse(l) as { type: string }).type);
      for (const t of ['template_received', 'connection_opened', 'channel_opened', 'gateway_shutdown']) assert.ok(types.includes(t), `event ${t} logged`);
      assert.ok(!stdout.includes(node.rpcPassword), 'the RPC password is never printed');
      assert.ok(!stdout.includes(authority.secretKeyText), 'the authority secret is never printed');
      console.log(`    [${runtime}] run (${workers} socket worker${workers === 1 ? ', one process' : 's'}): address printed after ${startupMs} ms, stopped ${stopMs} ms after SIGTERM, ${lines.length} event lines`);
    } finally {
      miner?.abort();
      if (run?.running) run.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      await node.dispose();
    }
  }, { timeoutMs: 60_000 });
});

// ---- the runner adapters on their own: fake clock, scripted source, no node needed ------------

const GBT = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;

/** The recorded btcd template, edited: `edit` changes the JSON before it is parsed. */
function gbtTemplate(templateId: bigint, edit: (json: Record<string, unknown>) => void = () => {}): BlockTemplate {
  const json = JSON.parse(JSON.stringify(GBT)) as Record<string, unknown>;
  edit(json);
  const parsed = parseGetBlockTemplate(json, { templateId });
  if (!parsed.ok) throw new Error(`fixture template did not parse: ${parsed.error.message}`);
  return parsed.value;
}

/** Let promise callbacks (the scripted source's answers) run. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** Run pending microtasks only (scripted answers resolve there), so fake time stands still. */
async function microtasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

describe(`runner adapters (${runtime})`, () => {
  test('template poller: only changed templates, dense ids, backoff doubling to the cap, recovery handed over', async () => {
    type Step = { kind: 'ok'; edit?: (json: Record<string, unknown>) => void } | { kind: 'fail' } | { kind: 'throw' };
    const steps: Step[] = [
      { kind: 'ok' }, // T1 → forwarded (id 1)
      { kind: 'ok', edit: (j) => (j['curtime'] = (j['curtime'] as number) + 5) }, // only curtime: unchanged
      { kind: 'ok', edit: (j) => { // one transaction fewer (a different tx set and fees) → forwarded (id 2)
        j['transactions'] = (j['transactions'] as unknown[]).slice(0, 1);
        delete j['default_witness_commitment'];
        j['coinbasevalue'] = 5_000_011_000;
      } },
      { kind: 'fail' }, { kind: 'fail' }, { kind: 'throw' }, { kind: 'fail' }, { kind: 'fail' },
      { kind: 'ok', edit: (j) => { // the same template as before the outage: handed over anyway (recovery)
        j['transactions'] = (j['transactions'] as unknown[]).slice(0, 1);
        delete j['default_witness_commitment'];
        j['coinbasevalue'] = 5_000_011_000;
      } },
      { kind: 'ok', edit: (j) => (j['previousblockhash'] = '00'.repeat(31) + '01') }, // new prevhash → forwarded
    ];
    const requestedIds: bigint[] = [];
    const source: TemplateSource = {
      async getBlockTemplate(templateId) {
        requestedIds.push(templateId);
        const step = steps.shift() ?? { kind: 'ok' };
        if (step.kind === 'throw') throw new Error('boom');
        if (step.kind === 'fail') return err(upstreamError('upstream-unreachable', 'getblocktemplate', 'connection refused'));
        return ok(gbtTemplate(templateId, step.edit));
      },
      async submitBlock() {
        return ok({ kind: 'accepted' as const });
      },
    };
    const clock = new FakeClock();
    const forwarded: { id: bigint; atMs: number; txs: number }[] = [];
    const failures: { code: string; atMs: number }[] = [];
    let inputs = 0;
    const poller = new TemplatePoller({
      source,
      clock,
      pollIntervalMs: 1000,
      backoffInitialMs: 100,
      backoffMaxMs: 300,
      onGatewayInput: () => inputs++,
      gateway: {
        templateUpdated: (t, nowMs) => forwarded.push({ id: t.templateId, atMs: nowMs, txs: t.transactions.length }),
        upstreamFailed: (e, nowMs) => failures.push({ code: e.code, atMs: nowMs }),
      },
    });
    poller.start();
    // 1 ms steps with the answers delivered in between: every time below is exact.
    clock.advance(0); // the first poll is due at once
    for (let i = 0; i < 10_000 && steps.length > 0; i++) {
      await microtasks();
      clock.advance(1);
    }
    await microtasks();
    poller.stop();
    assert.deepEqual(forwarded.map((f) => [f.id, f.txs]), [[1n, 2], [2n, 1], [3n, 1], [4n, 2]]);
    // Polls at 0, 1000, 2000 (ok), then failures at 3000, +100, +200, +300 (cap), +300; recovery at +300.
    assert.deepEqual(forwarded.map((f) => f.atMs), [0, 2000, 3000 + 100 + 200 + 300 + 300 + 300, 3000 + 100 + 200 + 300 + 300 + 300 + 1000]);
    assert.deepEqual(failures.map((f) => f.atMs), [3000, 3100, 3300, 3600, 3900]);
    assert.deepEqual(failures.map((f) => f.code), ['upstream-unreachable', 'upstream-unreachable', 'upstream-unreachable', 'upstream-unreachable', 'upstream-unreachable']);
    // The unchanged template did not spend an id; ids requested during failures are reused.
    assert.deepEqual(requestedIds, [1n, 2n, 2n, 3n, 3n, 3n, 3n, 3n, 3n, 4n]);
    assert.equal(inputs, forwarded.length + failures.length);
    assert.equal(poller.stats.templatesUnchanged, 1);
    assert.equal(poller.stats.consecutiveFailures, 0);
  });

  test('block executor: node answers are definitive, transport failures (and a throwing source) retry, RPC -25 is a rejection', async () => {
    const answers: (() => Promise<Result<SubmitBlockOutcome, UpstreamError>>)[] = [
      async () => ok({ kind: 'accepted' }),
      async () => ok({ kind: 'rejected', reason: 'high-hash' }),
      async () => err(upstreamError('upstream-timeout', 'submitblock', 'no answer within 2000 ms')),
      async () => err({ ...upstreamError('upstream-rpc-error', 'submitblock', 'RPC error -25: bad block'), rpcCode: -25, rpcMessage: 'bad block' }),
      async () => err({ ...upstreamError('upstream-rpc-error', 'submitblock', 'RPC error -28: Loading block index'), rpcCode: -28, rpcMessage: 'Loading block index' }),
      async () => {
        throw new Error('socket hang up');
      },
    ];
    const submitted: string[] = [];
    const results: { id: string; outcome: BlockSubmitOutcome }[] = [];
    const executor = new BlockExecutor({
      source: {
        submitBlock: (hex) => {
          submitted.push(String(hex));
          return answers.shift()!();
        },
      },
      gateway: { blockSubmitResult: (id, outcome) => results.push({ id, outcome }) },
      clock: new FakeClock(),
    });
    for (let i = 0; i < 6; i++) executor.execute({ type: 'submit_block', block_id: `b${i}`, hex: `0${i}`, attempt: 1 });
    await executor.idle();
    assert.deepEqual(submitted, ['00', '01', '02', '03', '04', '05']);
    assert.deepEqual(results.map((r) => [r.id, r.outcome.kind]), [
      ['b0', 'accepted'], ['b1', 'rejected'], ['b2', 'transport_error'], ['b3', 'rejected'], ['b4', 'transport_error'], ['b5', 'transport_error'],
    ]);
    assert.deepEqual(results[3]!.outcome, { kind: 'rejected', reason: 'bad block' });
    assert.equal(executor.stats.transportErrors, 3);
    assert.equal(executor.stats.definitive, 3);
    assert.equal(executor.stats.inFlight, 0);
  });

  test('event log: JSON lines, size rotation keeps max_files, never throws on an unwritable path', async () => {
    const dir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', 'rg-eventlog-'));
    try {
      const path = join(dir, 'events.jsonl');
      const log = createEventLog({ path, maxBytes: 400, maxFiles: 2 });
      for (let i = 0; i < 40; i++) {
        log.write({ type: 'share_accepted', share_id: `7-abc-${i}`, n: i, big: 1n << 70n } as unknown as LoggableEvent);
        if (i % 5 === 4) await settle(); // several flushes, as a running pump would do
      }
      log.close();
      log.write({ type: 'late' });
      assert.equal(log.stats.linesWritten, 40);
      assert.equal(log.stats.linesDropped, 1);
      assert.ok(log.stats.rotations >= 2, `rotations ${log.stats.rotations}`);
      assert.equal(existsSync(`${path}.3`), false, 'only max_files rotated files are kept');
      const lines = [`${path}.2`, `${path}.1`, path].flatMap((p) => readFileSync(p, 'utf8').split('\n').filter((l) => l !== ''));
      const parsed = lines.map((l) => JSON.parse(l) as { n: number; big: string });
      const ns = parsed.map((p) => p.n);
      assert.deepEqual(ns, [...ns].sort((a, b) => a - b), 'oldest file first, lines in order');
      assert.equal(ns[ns.length - 1], 39, 'the newest line is in the live file');
      assert.equal(parsed[0]!.big, (1n << 70n).toString(), 'bigints are decimal strings');

      const stdoutChunks: string[] = [];
      const toStdout = createEventLog({ path: '-', maxBytes: 0, maxFiles: 1, stdout: (t) => stdoutChunks.push(t) });
      for (let i = 0; i < 10; i++) toStdout.write({ type: 'share_accepted', n: i });
      await settle();
      assert.equal(stdoutChunks.length, 1, 'one write per turn of the event loop');
      assert.equal(stdoutChunks[0]!.split('\n').length, 11);

      const broken = createEventLog({ path: join(dir, 'missing-dir', 'events.jsonl'), maxBytes: 0, maxFiles: 1 });
      broken.write({ type: 'connection_opened' });
      broken.flush();
      broken.close();
      assert.equal(broken.stats.errors, 1);
      assert.equal(broken.stats.linesDropped, 1);
      assert.match(broken.stats.firstError ?? '', /^write: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
