// The NATS JetStream share sink (issue 13 item 4; adapters/share-jetstream.ts) against a real
// nats-server with JetStream on loopback (test/support/nats-server.ts), on node, deno and bun
// (the client is @nats-io/transport-node on all three). Skipped with a reason when nats-server is
// absent, unless RG_REQUIRE_NATS=1 (.ci/run installs it and sets that).
//
//  1. The poster alone: a batch lands once per share with Nats-Msg-Id = share_id; the same
//     batch again is answered as duplicates (settled ok by the forwarder) and stores nothing;
//     a stream the server does not route the subject to, and no server at all, are failures
//     the forwarder retries (not silent successes).
//  2. The real forwarding pump with the poster, through a NATS restart: every accepted share gets
//     exactly one `ok` result and the stream holds each exactly once.
//  3. Two gateway processes (`reservegrid run`, different gateway.id, templates from a real
//     btcd, simulated SV2 miners) publishing into one stream; gateway A is killed with SIGKILL
//     mid-run, NATS is restarted while A is down, A restarts from its journal; then the stream
//     holds each share exactly once and a consumer's count equals the share_accepted count of
//     both gateways' logs (plus the end-of-turn window of the kill, test/support/crash-windows.ts).
// Everything binds 127.0.0.1; every wait is bounded.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { describe, readEnv, runtime, seed } from '../harness.ts';
import { assert } from '../assert.ts';
import { NatsServer, testWithNats } from '../support/nats-server.ts';
import { BtcdNode, findBtcd, BTCD_MISSING_REASON, freeLoopbackPort, sleep } from '../support/btcd.ts';
import { until } from '../support/wait.ts';
import { spawnCli, type RuntimeChild } from '../support/child.ts';
import { killWindows, readJournal } from '../support/crash-windows.ts';
import { btcdGatewayToml, EVERY_HASH_A_SHARE, parseEventLines, QUICK_UPSTREAM_RETRY, shareIdsOf, startMixedFleet, sv2AddressOf, type RunEvent, type Sv2Address } from '../support/btcd-run.ts';
import { createJetStreamSharePoster, type JetStreamSharePoster } from '../../adapters/share-jetstream.ts';
import { attachShareForwarding } from '../../adapters/share-forwarding.ts';
import { SystemClock } from '../../adapters/clock.ts';
import type { Fleet } from '../../adapters/fleet.ts';
import { encodeBatchBody, parseBackendRejections } from '../../core/forwarding/wire.ts';
import type { PostCommand } from '../../core/forwarding/types.ts';
import { utf8 } from '../../core/bytes.ts';
import { loadConfig } from '../../core/config/index.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { SeededRandom } from '../../core/random.ts';
import { generateAuthorityKeyPair, type AuthorityKeyPair } from '../../core/noise/keys.ts';

const STREAM = 'RG_TEST_SHARES';
const SUBJECT = 'rg.test.shares';
const WINDOW_MS = 10 * 60_000;
const STEP_MS = 30_000;

async function createStream(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: [`${SUBJECT}.>`], duplicate_window: WINDOW_MS * 1_000_000 });
}

/** Every message of the stream through an ordered consumer: its Nats-Msg-Id and share_id. */
async function consumeAll(nc: NatsConnection): Promise<{ msgIds: string[]; shareIds: string[]; subjects: Set<string> }> {
  const jsm = await jetstreamManager(nc);
  const total = (await jsm.streams.info(STREAM)).state.messages;
  const consumer = await jetstream(nc).consumers.get(STREAM);
  const msgIds: string[] = [];
  const shareIds: string[] = [];
  const subjects = new Set<string>();
  for (let round = 0; round < 1000 && msgIds.length < total; round++) {
    const batch = await consumer.fetch({ max_messages: 500, expires: 1000 });
    for await (const m of batch) {
      msgIds.push(m.headers?.get('Nats-Msg-Id') ?? '');
      shareIds.push((m.json() as { share_id: string }).share_id);
      subjects.add(m.subject);
    }
  }
  return { msgIds, shareIds, subjects };
}

const command = (requestId: number, ids: readonly string[], timeoutMs = 2000): PostCommand => ({
  type: 'post',
  request_id: requestId,
  batch_id: `b-${requestId}`,
  attempt: 1,
  shares: ids.length,
  body: utf8(encodeBatchBody(7, `b-${requestId}`, 1, ids.map((id) => JSON.stringify({ share_id: id, difficulty: 1 })))),
  headers: {},
  timeoutMs,
});

function poster(server: NatsServer, overrides: Partial<Parameters<typeof createJetStreamSharePoster>[0]> = {}): JetStreamSharePoster {
  return createJetStreamSharePoster({ servers: [server.url], stream: STREAM, subject: SUBJECT, gatewayId: 7, ackTimeoutMs: 2000, duplicateWindowMs: WINDOW_MS, createStream: false, ...overrides });
}

describe(`JetStream share sink (${runtime})`, () => {
  testWithNats('a batch lands once per share with Nats-Msg-Id = share_id; the same batch again is all duplicates; wrong stream and no server are failures', async () => {
    const server = await NatsServer.start();
    const nc = await connect({ servers: server.url });
    // The stream first: the posters read its duplicate window when they connect.
    await createStream(nc);
    const sink = poster(server);
    const wrong = poster(server, { stream: 'NOT_THE_STREAM' });
    try {
      const ids = Array.from({ length: 50 }, (_, i) => `7-0011223344556677-${i + 1}`);
      const first = await sink.post(command(1, ids));
      assert.equal(first.kind, 'response', JSON.stringify(first));
      assert.deepEqual(JSON.parse((first as { body: string }).body), { new: 50, duplicate: 0, rejected: 0, results: [] });
      const again = await sink.post(command(2, ids.slice(0, 20)));
      const answer = JSON.parse((again as { body: string }).body) as { new: number; duplicate: number; results: { share_id: string; status: string }[] };
      assert.equal(answer.new, 0);
      assert.equal(answer.duplicate, 20);
      assert.deepEqual(answer.results.map((r) => r.status), new Array(20).fill('duplicate'));
      // The forwarder's reading of that answer: nothing rejected, so every share settles ok.
      assert.equal(parseBackendRejections((again as { body: string }).body).size, 0);
      const stored = await consumeAll(nc);
      assert.deepEqual(stored.msgIds, ids, 'one message per share, in order, Nats-Msg-Id = share_id');
      assert.deepEqual(stored.shareIds, ids);
      assert.deepEqual([...stored.subjects], [`${SUBJECT}.7`], 'subject ends with the gateway id');
      await until('the stream check done', STEP_MS, () => (sink.stats.streamDuplicateWindowMs !== null ? true : undefined));
      assert.deepEqual(sink.stats, { connected: true, published: 50, duplicates: 20, failures: 0, streamDuplicateWindowMs: WINDOW_MS });
      // The server checks the expected stream (and we check the ack): a failure, retried.
      const mismatch = await wrong.post(command(3, ['7-0011223344556677-999']));
      assert.equal(mismatch.kind, 'transport_error', JSON.stringify(mismatch));
      assert.match((mismatch as { message: string }).message, /stream/i);
      assert.equal((await jetstreamManager(nc).then((j) => j.streams.info(STREAM))).state.messages, 50, 'nothing stored by the refused publish');
      // A stream whose duplicate window is below nats.duplicate_window_ms is reported; create_stream
      // makes a missing stream with the configured window.
      const statuses: string[] = [];
      const demanding = poster(server, { duplicateWindowMs: 2 * WINDOW_MS, onStatus: (st) => void statuses.push(`${st.kind}: ${'detail' in st ? st.detail : ''}`) });
      const creator = poster(server, { stream: 'RG_CREATED', subject: 'rg.created', createStream: true, onStatus: (st) => void statuses.push(st.kind) });
      try {
        await until('window warning and stream created', STEP_MS, () => (statuses.some((x) => /duplicate window of 600000 ms, below/.test(x)) && statuses.includes('stream_created') ? true : undefined));
        const created = await (await jetstreamManager(nc)).streams.info('RG_CREATED');
        assert.equal(created.config.duplicate_window, WINDOW_MS * 1_000_000);
        assert.deepEqual(created.config.subjects, ['rg.created.>']);
        assert.equal((await creator.post(command(5, ['7-0011223344556677-1']))).kind, 'response');
      } finally {
        await demanding.close();
        await creator.close();
      }
    } finally {
      await sink.close();
      await wrong.close();
      await nc.close();
      await server.dispose();
    }
    // No server at all: the attempt fails within its timeout instead of hanging.
    const nowhere = createJetStreamSharePoster({ servers: [`127.0.0.1:${await freeLoopbackPort()}`], stream: STREAM, subject: SUBJECT, gatewayId: 7, ackTimeoutMs: 300, duplicateWindowMs: WINDOW_MS, createStream: false });
    try {
      const outcome = await nowhere.post(command(4, ['7-0011223344556677-1'], 300));
      assert.equal(outcome.kind, 'transport_error', JSON.stringify(outcome));
      assert.equal(nowhere.stats.connected, false);
    } finally {
      await nowhere.close();
    }
  });

  testWithNats('the forwarding pump through a NATS restart: exactly one ok result per accepted share, each stored once', async () => {
    const server = await NatsServer.start();
    const admin = await connect({ servers: server.url });
    const clock = new SystemClock();
    const sink = poster(server);
    const results = new Map<string, string[]>();
    const forwarding = attachShareForwarding({
      config: {
        gateway: { id: 7, data_dir: '/nonexistent' },
        timing: { shutdown_drain_timeout_ms: 5000 },
        share: {
          share_upstream_url: 'http://127.0.0.1:9/unused',
          share_upstream_secret: 'unused-secret-0123456789',
          share_forward_queue_size: 100_000,
          share_forward_max_in_flight: 4,
          share_batch_interval_ms: 10,
          share_batch_max_shares: 50,
          share_forward_timeout_ms: 2000,
          share_forward_retry_initial_ms: 100,
          share_forward_retry_max_ms: 500,
        },
      },
      clock,
      random: new SeededRandom(seed + 1310),
      provider: nobleProvider,
      journal: 'memory',
      poster: sink,
      attemptsMax: 100,
      onEvent: (e) => {
        if (e.type === 'share_forward_result') results.set(e.share_id, [...(results.get(e.share_id) ?? []), e.status]);
      },
    });
    let restartedWhileQueued = false;
    try {
      await createStream(admin);
      await admin.close();
      const ids: string[] = [];
      const accept = (n: number): void => {
        for (let i = 0; i < n; i++) {
          const id = `7-aabbccddeeff0011-${ids.length + 1}`;
          ids.push(id);
          forwarding.accept({ share_id: id, difficulty: 1 });
        }
      };
      accept(300);
      await until('first shares settled', STEP_MS, () => (results.size >= 100 ? true : undefined));
      await server.stop();
      accept(300); // accepted while NATS is down: queued and retried
      await sleep(300);
      restartedWhileQueued = forwarding.metrics.unsettled > 0;
      await server.launch();
      accept(300);
      await until('every share settled', STEP_MS, () => (results.size === ids.length ? true : undefined));
      for (const id of ids) assert.deepEqual(results.get(id), ['ok'], `share ${id}`);
      assert.ok(restartedWhileQueued, 'shares were waiting while NATS was down');
      const nc = await connect({ servers: server.url });
      try {
        const stored = await consumeAll(nc);
        assert.equal(stored.msgIds.length, ids.length, 'the stream holds every share');
        assert.deepEqual(new Set(stored.msgIds), new Set(ids), 'and each exactly once');
      } finally {
        await nc.close();
      }
      console.log(`    [${runtime}] pump through a NATS restart: ${ids.length} shares, ${sink.stats.failures} failed publishes retried, ${sink.stats.duplicates} duplicate acks, ${forwarding.metrics.retries} retries`);
    } finally {
      await forwarding.stop(1000);
      await sink.close();
      await server.dispose();
    }
  });

  testWithNats(
    `two reservegrid run processes on ${runtime} into one stream: kill -9 of one, a NATS restart, a restart from the journal; each share stored once, consumer count = share_accepted count`,
    async () => twoGateways(),
    { timeoutMs: 150_000, alsoNeeds: { present: findBtcd() !== null, reason: BTCD_MISSING_REASON } },
  );
});

// ---- two gateway processes ---------------------------------------------------------------------

function configToml(gatewayId: number, node: BtcdNode, nats: NatsServer, authority: AuthorityKeyPair, dir: string, workers?: number): string {
  return btcdGatewayToml(node, authority, {
    gateway: {
      id: gatewayId,
      ...(workers === undefined ? {} : { workers }),
      http_listen_addr: '127.0.0.1:0',
      event_log_path: join(dir, 'events.jsonl'),
      event_log_max_bytes: 0,
      data_dir: join(dir, 'data'),
    },
    timing: { job_broadcast_interval_ms: 50, reconnect_backoff_max_ms: 1000, shutdown_drain_timeout_ms: 5000 },
    share: {
      sink: 'jetstream',
      share_upstream_url: 'http://127.0.0.1:9/unused',
      share_upstream_secret: 'unused-share-secret-0123',
      share_batch_interval_ms: 50,
      share_batch_max_shares: 20,
      share_forward_timeout_ms: 2000,
      share_forward_retry_initial_ms: 100,
      share_forward_retry_max_ms: 1000,
    },
    nats: { servers: [nats.url], stream: STREAM, subject: SUBJECT, ack_timeout_ms: 2000, duplicate_window_ms: WINDOW_MS },
    mining: { pool_tag: 'RG-nats-test', ...EVERY_HASH_A_SHARE },
    upstream: QUICK_UPSTREAM_RETRY,
  });
}

const fleetFor = (address: Sv2Address, salt: number): Promise<Fleet> => startMixedFleet(address, { miners: 2, durationMs: 60_000, salt });

async function twoGateways(): Promise<void> {
  const started = Date.now();
  const nats = await NatsServer.start();
  const node = await BtcdNode.start();
  const dirA = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', `rg-nats-a-${runtime}-`));
  const dirB = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', `rg-nats-b-${runtime}-`));
  const runs: RuntimeChild[] = [];
  const fleets: Fleet[] = [];
  try {
    {
      const nc = await connect({ servers: nats.url });
      await createStream(nc);
      await nc.close();
    }
    const fileOf = (id: number, dir: string, salt: number, workers?: number): string => {
      const toml = configToml(id, node, nats, generateAuthorityKeyPair(new SeededRandom(seed + salt)), dir, workers);
      const loaded = loadConfig({ tomlText: toml, fileName: `gateway-${id}.toml`, env: {} });
      assert.ok(loaded.ok, `config ${id} loads: ${loaded.ok ? '' : loaded.problems.map((p) => p.message).join('; ')}`);
      const file = join(dir, 'gateway.toml');
      writeFileSync(file, toml);
      return file;
    };
    // A is one process (workers = 1): the kill -9 is of THE gateway, journal and miners in it.
    // B runs on the default (one socket worker per core) and publishes the same way.
    const fileA = fileOf(21, dirA, 1311, 1);
    const fileB = fileOf(22, dirB, 1312);
    const logOf = (dir: string): string => (existsSync(join(dir, 'events.jsonl')) ? readFileSync(join(dir, 'events.jsonl'), 'utf8') : '');
    const whole = (text: string): string => text.slice(0, text.lastIndexOf('\n') + 1);
    const eventsOf = (dir: string, from = 0): RunEvent[] => parseEventLines(whole(logOf(dir).slice(from)), dir);

    // ---- both gateways mining and publishing ----------------------------------------------------
    const a1 = spawnCli(['run', '--config', fileA]);
    const b = spawnCli(['run', '--config', fileB]);
    runs.push(a1, b);
    const fleetA1 = await fleetFor(await sv2AddressOf(a1, STEP_MS), 1321);
    const fleetB = await fleetFor(await sv2AddressOf(b, STEP_MS), 1322);
    fleets.push(fleetA1, fleetB);
    await until('both gateways publishing (results, and shares still unsettled on A)', STEP_MS, () => {
      const ea = eventsOf(dirA);
      const eb = eventsOf(dirB);
      const ra = shareIdsOf(ea, 'share_forward_result').length;
      return ra >= 20 && shareIdsOf(eb, 'share_forward_result').length >= 20 && shareIdsOf(ea, 'share_accepted').length > ra ? true : undefined;
    }, 20);

    // ---- kill -9 gateway A mid-run ----------------------------------------------------------------
    a1.child.kill('SIGKILL');
    const exitA1 = await Promise.race([a1.exited, sleep(10_000).then(() => undefined)]);
    assert.equal(exitA1?.signal, 'SIGKILL', `A was killed (${JSON.stringify(exitA1)})`);
    await fleetA1.stop();
    const textA1 = logOf(dirA);
    assert.ok(textA1.endsWith('\n'), 'A\'s log ends with a whole line');
    const eventsA1 = parseEventLines(textA1, 'A run 1');
    const journal = readJournal(join(dirA, 'data', 'share-journal.jsonl'));
    const { unlogged, resultUnlogged } = killWindows(eventsA1, journal);

    // ---- NATS restart while A is down and B keeps accepting ---------------------------------------
    await nats.stop();
    const bAcceptedBefore = shareIdsOf(eventsOf(dirB), 'share_accepted').length;
    await until('B accepts shares while NATS is down', STEP_MS, () => (shareIdsOf(eventsOf(dirB), 'share_accepted').length >= bAcceptedBefore + 5 ? true : undefined), 20);
    // A restarts from its journal while NATS is still down: recovered shares wait and retry.
    const a2 = spawnCli(['run', '--config', fileA]);
    runs.push(a2);
    const fleetA2 = await fleetFor(await sv2AddressOf(a2, STEP_MS), 1323);
    fleets.push(fleetA2);
    await sleep(500);
    await nats.launch();

    await until('A recovered its journal and forwarded new shares; B forwarded after the restart', STEP_MS, () => {
      const e2 = eventsOf(dirA, textA1.length);
      const recovered = e2.filter((e) => e.type === 'share_forward_result' && e.recovered === true).length;
      const fresh = e2.filter((e) => e.type === 'share_forward_result' && e.recovered !== true).length;
      const bResults = shareIdsOf(eventsOf(dirB), 'share_forward_result').length;
      return recovered >= journal.unsettled.size && fresh >= 10 && bResults >= bAcceptedBefore + 5 ? true : undefined;
    }, 20);
    await fleetA2.stop();
    await fleetB.stop();
    const settled = (events: RunEvent[]): boolean => {
      const open = new Set(shareIdsOf(events, 'share_accepted'));
      for (const id of shareIdsOf(events, 'share_forward_result')) open.delete(id);
      return open.size === 0;
    };
    await until('every share settled on both gateways', STEP_MS, () => (settled(eventsOf(dirA, textA1.length)) && settled(eventsOf(dirB)) ? true : undefined), 20);
    // What an operator sees on B: /status names the sink and its acks, /metrics counts them.
    const http = /HTTP (http:\/\/127\.0\.0\.1:\d+)/.exec(b.stdout())?.[1];
    assert.ok(http !== undefined, b.stdout());
    const headers = { 'X-API-Key': 'test-api-key-0123456789' };
    const status = (await (await fetch(`${http}/status`, { headers })).json()) as { share_sink: { kind: string; connected: boolean; published: number; duplicates: number } };
    assert.equal(status.share_sink.kind, 'jetstream');
    assert.equal(status.share_sink.connected, true);
    // Each of B's shares was acked `stored` once, or only as a duplicate (its first publish was
    // stored but the ack was lost in the NATS restart): stored ≤ accepted ≤ stored + duplicates.
    const acceptedB = shareIdsOf(eventsOf(dirB), 'share_accepted').length;
    assert.ok(status.share_sink.published <= acceptedB && acceptedB <= status.share_sink.published + status.share_sink.duplicates, JSON.stringify({ acceptedB, ...status.share_sink }));
    const metricsText = await (await fetch(`${http}/metrics`, { headers })).text();
    assert.match(metricsText, /^reservegrid_jetstream_connected 1$/m);
    assert.match(metricsText, /^reservegrid_share_sink_info\{sink="jetstream"\} 1$/m);
    assert.match(metricsText, new RegExp(`^reservegrid_jetstream_publishes_total\\{result="stored"\\} ${status.share_sink.published}$`, 'm'));
    for (const run of [a2, b]) spawn('kill', ['-TERM', String(run.child.pid)], { stdio: 'ignore' });
    for (const [name, run] of [['A', a2], ['B', b]] as const) {
      const exit = await Promise.race([run.exited, sleep(15_000).then(() => undefined)]);
      assert.equal(exit?.code, 0, `${name} stopped with 0 (${JSON.stringify(exit)}); stderr: ${run.stderr()}`);
      assert.match(run.stderr(), /jetstream connected/, `${name} reported its NATS connection`);
    }

    // ---- the invariants ---------------------------------------------------------------------------
    const eventsA2 = eventsOf(dirA, textA1.length);
    const eventsB = eventsOf(dirB);
    const acceptedIds = [...shareIdsOf(eventsA1, 'share_accepted'), ...shareIdsOf(eventsA2, 'share_accepted'), ...shareIdsOf(eventsB, 'share_accepted')];
    const accepted = new Set(acceptedIds);
    assert.equal(accepted.size, acceptedIds.length, 'share ids unique across gateways and runs');
    assert.ok(acceptedIds.some((id) => id.startsWith('21-')) && acceptedIds.some((id) => id.startsWith('22-')), 'both gateway ids in the share ids');
    const resultCount = new Map<string, number>();
    const all = [...eventsA1, ...eventsA2, ...eventsB];
    for (const e of all) if (e.type === 'share_forward_result') resultCount.set(e.share_id!, (resultCount.get(e.share_id!) ?? 0) + 1);
    for (const id of accepted) assert.equal(resultCount.get(id) ?? 0, resultUnlogged.has(id) ? 0 : 1, `share ${id}: ${resultCount.get(id) ?? 0} results`);
    assert.deepEqual([...new Set(all.filter((e) => e.type === 'share_forward_result').map((e) => e.status))], ['ok'], 'every share reached JetStream');
    const recovered = eventsA2.filter((e) => e.type === 'share_forward_result' && e.recovered === true).map((e) => e.share_id!);
    assert.deepEqual(new Set(recovered), journal.unsettled, 'A recovered exactly its journal\'s unsettled shares');

    const nc = await connect({ servers: nats.url });
    let stored: Awaited<ReturnType<typeof consumeAll>>;
    try {
      stored = await consumeAll(nc);
    } finally {
      await nc.close();
    }
    // What must be in the stream: every logged share, plus the journaled-but-unlogged ones of the
    // kill's last turn (A's run 2 recovered and published them).
    const expected = new Set([...accepted, ...unlogged]);
    assert.equal(new Set(stored.msgIds).size, stored.msgIds.length, 'no share twice in the stream');
    assert.equal(stored.msgIds.length, expected.size, `consumer count ${stored.msgIds.length} vs share_accepted ${accepted.size} (+${unlogged.size} of the kill window)`);
    assert.deepEqual(new Set(stored.msgIds), expected);
    assert.deepEqual(stored.msgIds, stored.shareIds, 'Nats-Msg-Id is the share id');
    assert.deepEqual([...stored.subjects].sort(), [`${SUBJECT}.21`, `${SUBJECT}.22`]);
    console.log(
      `    [${runtime}] two gateways: A ${shareIdsOf(eventsA1, 'share_accepted').length} + ${shareIdsOf(eventsA2, 'share_accepted').length} accepted ` +
        `(${journal.unsettled.size} recovered after kill -9; window ${unlogged.size} unlogged, ${resultUnlogged.size} results unlogged), ` +
        `B ${shareIdsOf(eventsB, 'share_accepted').length}; stream ${stored.msgIds.length} messages, consumer count = share_accepted; ${Date.now() - started} ms`,
    );
  } finally {
    for (const fleet of fleets) await fleet.stop().catch(() => undefined);
    for (const run of runs) if (run.running) run.child.kill('SIGKILL');
    await Promise.all(runs.map((run) => Promise.race([run.exited, sleep(5_000)])));
    await node.dispose();
    await nats.dispose();
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
}
