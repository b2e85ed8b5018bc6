// Share forwarding over real sockets (issue 5 acceptance): the forwarder pump
// (adapters/share-forwarding.ts) posts with fetch (adapters/share-poster.ts) to
// `reservegrid share-sink` (runtimes/commands/share-sink.ts, node:http) on this runtime. Every
// signature verifies; the sink's faults (5xx, slowness past the timeout, going away) end in
// retries that the sink de-duplicates; a tampered body, an old timestamp and a replayed request
// are refused with 401; the CLI command starts, prints and stops.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { systemRandom } from '../../adapters/random.ts';
import { attachShareForwarding, type ShareForwarding } from '../../adapters/share-forwarding.ts';
import { createSharePoster, type SharePoster } from '../../adapters/share-poster.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { fromUtf8, utf8 } from '../../core/bytes.ts';
import { HEADER_SIGNATURE, HEADER_TIMESTAMP, signatureHeaders, type PostCommand, type ShareForwardEvent, type ShareForwardResultEvent, type ShareForwardingConfig } from '../../core/forwarding/index.ts';
import { startShareSink } from '../../runtimes/commands/share-sink.ts';
import { main } from '../../runtimes/cli.ts';
import type { CliIo } from '../../runtimes/io.ts';
import { sleep } from '../support/wait.ts';

const SECRET = 'integration-share-secret-0123';

function forwardingConfig(url: string, dataDir: string, overrides: Partial<ShareForwardingConfig['share']> = {}): ShareForwardingConfig {
  return {
    gateway: { id: 7, data_dir: dataDir },
    timing: { shutdown_drain_timeout_ms: 10_000 },
    share: {
      share_upstream_url: url,
      share_upstream_secret: SECRET,
      share_forward_queue_size: 100_000,
      share_forward_max_in_flight: 4,
      share_batch_interval_ms: 20,
      share_batch_max_shares: 100,
      share_forward_timeout_ms: 2000,
      share_forward_retry_initial_ms: 20,
      share_forward_retry_max_ms: 200,
      ...overrides,
    },
  };
}


function tempDir(): string {
  return mkdtempSync(join(tmpdir(), `rg-share-sink-${runtime}-`));
}

interface Run {
  readonly forwarding: ShareForwarding;
  readonly events: ShareForwardEvent[];
  readonly commands: PostCommand[];
  results(): ShareForwardResultEvent[];
}

function attach(config: ShareForwardingConfig, journal: 'file' | 'memory' = 'memory', attemptsMax?: number): Run {
  const events: ShareForwardEvent[] = [];
  const commands: PostCommand[] = [];
  const real = createSharePoster({ url: config.share.share_upstream_url });
  const poster: SharePoster = { post: (c) => (commands.push(c), real.post(c)) };
  const forwarding = attachShareForwarding({
    config,
    clock: new SystemClock(),
    random: systemRandom,
    provider: nobleProvider,
    journal,
    poster,
    onEvent: (e) => events.push(e),
    ...(attemptsMax === undefined ? {} : { attemptsMax }),
  });
  return { forwarding, events, commands, results: () => events.filter((e): e is ShareForwardResultEvent => e.type === 'share_forward_result') };
}

const shareEvent = (n: number) => ({
  type: 'share_accepted',
  seq: n,
  ts: new Date().toISOString(),
  share_id: `7-it${runtime}-${n}`,
  conn_id: 1,
  channel_id: 1,
  sequence_number: n,
  job_id: 1,
  template_id: '1',
  identity: 'pool.w1',
  worker: 'w1',
  difficulty: 1,
  hash: '00'.repeat(32),
  block: false,
});

describe(`share forwarding to share-sink (${runtime})`, () => {
  test('every share reaches the sink once as new, every signature verifies, through 5xx, slowness and the sink going away', async () => {
    const dir = tempDir();
    const sinkLines: string[] = [];
    let sink = await startShareSink({ host: '127.0.0.1', port: 0, secret: SECRET, provider: nobleProvider, log: (l) => sinkLines.push(l), seed: 5 });
    const port = sink.port;
    const run = attach(forwardingConfig(sink.url, dir, { share_forward_timeout_ms: 150 }), 'file');
    try {
      // Phase 1: healthy.
      for (let i = 1; i <= 300; i++) run.forwarding.handleEvent(shareEvent(i));
      await sleep(300);
      // Phase 2: one answer in three is a 503 before processing.
      sink.setFailRate(0.35);
      for (let i = 301; i <= 600; i++) {
        run.forwarding.handleEvent(shareEvent(i));
        if (i % 10 === 0) await sleep(15); // many small batches, many draws
      }
      await sleep(300);
      sink.setFailRate(0);
      // Phase 3: slower than the forward timeout: the sink records, the gateway times out and
      // retries, the retry is a duplicate.
      sink.setDelayMs(300);
      for (let i = 601; i <= 700; i++) run.forwarding.handleEvent(shareEvent(i));
      await sleep(450);
      sink.setDelayMs(0);
      await sleep(300);
      // Phase 4: the sink goes away, then comes back on the same port (de-dup state is lost with
      // it, as with a backend restart that keeps no state; the shares here are all new to it).
      const before = sink.stats;
      await sink.close();
      for (let i = 701; i <= 800; i++) run.forwarding.handleEvent(shareEvent(i));
      await sleep(150);
      const counted = { sharesNew: before.sharesNew, sharesDuplicate: before.sharesDuplicate, refused: before.refused };
      sink = await startShareSink({ host: '127.0.0.1', port, secret: SECRET, provider: nobleProvider, log: (l) => sinkLines.push(l) });
      await run.forwarding.stop(10_000);

      const results = run.results();
      const ids = new Set(results.map((r) => r.share_id));
      assert.equal(results.length, 800, 'one result per share');
      assert.equal(ids.size, 800);
      const statuses = results.reduce<Record<string, number>>((acc, r) => ((acc[r.status] = (acc[r.status] ?? 0) + 1), acc), {});
      assert.deepEqual(statuses, { ok: 800 }, JSON.stringify(results.filter((r) => r.status !== 'ok').slice(0, 3)));
      const after = sink.stats;
      assert.equal(counted.sharesNew + after.sharesNew, 800, 'every share new exactly once across both sink lives');
      assert.ok(counted.sharesDuplicate > 0, 'slowness past the timeout produced duplicates the sink absorbed');
      assert.deepEqual(counted.refused, {}, 'every signature verified (first sink)');
      assert.deepEqual(after.refused, {}, 'every signature verified (second sink)');
      assert.ok(before.induced > 0, 'the fail-rate phase failed some requests');
      assert.ok(run.events.some((e) => e.type === 'share_forward_retry' && e.error === 'transport_error'), 'the sink going away was retried');
      assert.ok(run.events.some((e) => e.type === 'share_forward_retry' && e.error === 'timeout'));
      assert.ok(run.events.some((e) => e.type === 'share_forward_retry' && e.error === 'http_error' && e.http_status === 503));
      assert.ok(sinkLines.some((l) => /^share-sink: batch 7-[0-9a-f]{16}-b\d+ attempt \d+ from gateway 7: \d+ shares, \d+ new, \d+ duplicate/.test(l)), sinkLines[0]);
      assert.equal(run.forwarding.metrics.unsettled, 0);
      assert.equal(run.forwarding.fileJournal!.stats.liveShares, 0);
    } finally {
      await sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, { timeoutMs: 30_000 });

  test('the sink refuses a tampered body, an old timestamp and a replay with 401, and accepts the genuine request', async () => {
    const sink = await startShareSink({ host: '127.0.0.1', port: 0, secret: SECRET, provider: nobleProvider });
    // Capture one genuine request without delivering it.
    const captured: PostCommand[] = [];
    const forwarding = attachShareForwarding({
      config: forwardingConfig(sink.url, '/nonexistent-unused'),
      clock: new SystemClock(),
      random: systemRandom,
      provider: nobleProvider,
      journal: 'memory',
      poster: { post: (c) => (captured.push(c), new Promise(() => {})) },
    });
    try {
      forwarding.handleEvent(shareEvent(1));
      for (let i = 0; i < 100 && captured.length === 0; i++) await sleep(10);
      assert.equal(captured.length, 1);
      const c = captured[0]!;
      const send = async (headers: Record<string, string>, body: Uint8Array): Promise<[number, string]> => {
        // fetch's BodyInit takes only ArrayBuffer-backed views (lib.dom, as `deno check` types it).
        const response = await fetch(sink.url, { method: 'POST', headers, body: new Uint8Array(body) });
        return [response.status, await response.text()];
      };
      const tampered = utf8(fromUtf8(c.body).replace('"difficulty":1', '"difficulty":1000'));
      assert.notEqual(fromUtf8(tampered), fromUtf8(c.body));
      const [tamperedStatus, tamperedText] = await send({ ...c.headers }, tampered);
      assert.equal(tamperedStatus, 401);
      assert.match(tamperedText, /bad-signature/);
      // Old timestamp, correctly signed for it: refused by the window, not by the MAC.
      const old = signatureHeaders(nobleProvider, utf8(SECRET), 7, Date.now() - 10 * 60_000, c.body);
      const [oldStatus, oldText] = await send({ ...c.headers, ...old }, c.body);
      assert.equal(oldStatus, 401);
      assert.match(oldText, /stale-timestamp/);
      const [okStatus, okText] = await send({ ...c.headers }, c.body);
      assert.equal(okStatus, 200, okText);
      assert.deepEqual(JSON.parse(okText), { new: 1, duplicate: 0, rejected: 0, results: [] });
      const [replayStatus, replayText] = await send({ ...c.headers }, c.body);
      assert.equal(replayStatus, 401);
      assert.match(replayText, /replay/);
      const [wrongKeyStatus] = await send({ ...c.headers, ...signatureHeaders(nobleProvider, utf8('not-the-secret-xyz'), 7, Date.now(), c.body) }, c.body);
      assert.equal(wrongKeyStatus, 401);
      const [missingStatus] = await send({ 'Content-Type': 'application/json', [HEADER_TIMESTAMP]: c.headers[HEADER_TIMESTAMP]! }, c.body);
      assert.equal(missingStatus, 401);
      assert.ok(c.headers[HEADER_SIGNATURE]!.startsWith('v1='));
      assert.deepEqual(sink.stats.refused, { 'bad-signature': 2, 'stale-timestamp': 1, replay: 1, 'missing-signature': 1 });
      assert.equal(sink.stats.sharesNew, 1);
    } finally {
      await forwarding.stop(0);
      await sink.close();
    }
  }, { timeoutMs: 15_000 });

  test('`reservegrid share-sink` listens, prints a line per batch and stops on SIGINT; bad options give the usage', async () => {
    let out = '';
    let err = '';
    let hook: ((signal: 'SIGINT' | 'SIGTERM') => void) | undefined;
    const io: CliIo = {
      runtime,
      env: {},
      readFile: () => {
        throw new Error('no files');
      },
      stdout: (t) => void (out += t),
      stderr: (t) => void (err += t),
      clock: new SystemClock(),
      random: systemRandom,
      onShutdownSignal: (callback) => {
        hook = callback;
        return () => void (hook = undefined);
      },
    };
    const running = main(['share-sink', '--listen', '127.0.0.1:0', '--secret', SECRET, '--seed', '3'], io);
    for (let i = 0; i < 200 && !out.includes('listening'); i++) await sleep(10);
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+\/shares)/.exec(out)?.[1];
    assert.ok(url !== undefined, out + err);
    const run = attach(forwardingConfig(url, '/unused'));
    for (let i = 1; i <= 5; i++) run.forwarding.handleEvent(shareEvent(i));
    await run.forwarding.stop(5000);
    assert.deepEqual(run.results().map((r) => r.status), ['ok', 'ok', 'ok', 'ok', 'ok']);
    hook!('SIGINT');
    assert.equal(await running, 0);
    assert.match(out, /share-sink: batch 7-[0-9a-f]+-b1 attempt 1 from gateway 7: 5 shares, 5 new, 0 duplicate, 0 rejected \(total 5 new, 0 duplicate\)/);
    assert.match(out, /SIGINT: stopped after 1 batches, 5 new shares/);
    assert.equal(err, '');
    let err2 = '';
    const code = await main(['share-sink', '--listen', '127.0.0.1:0'], { ...io, stderr: (t) => void (err2 += t) });
    assert.equal(code, 2);
    assert.match(err2, /--secret .* is required[\s\S]*Usage: reservegrid share-sink --listen HOST:PORT/);
  }, { timeoutMs: 15_000 });
});
