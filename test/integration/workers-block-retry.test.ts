// A killed worker's block still lands (issue 13, docs/scaling.md "A worker's block"): the real
// `reservegrid run` with gateway.workers = 2 as a child of this runtime's entry point, a real
// btcd on regtest behind an HTTP proxy (here) that fails every `submitblock` with HTTP 503 while
// told to and passes everything else through. One miner on one worker finds a block (header
// ground here); the submission fails and is retried (`block_submit_retry` in the leader's log);
// the worker that found it is killed with SIGKILL; the proxy then lets submitblock through, and
// the block lands in btcd: the retry schedule is the leader's, not the dead worker's. The block
// has exactly one block_submit_result, `accepted`.
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, readEnv, runtime, seed } from '../harness.ts';
import { assert } from '../assert.ts';
import { BtcdNode, testWithBtcd } from '../support/btcd.ts';
import { SeededRandom } from '../../core/random.ts';
import { bytesToHex, concatBytes, reversed } from '../../core/bytes.ts';
import { generateAuthorityKeyPair } from '../../core/noise/keys.ts';
import { MinerConnection } from '../../adapters/fleet.ts';
import { spawnCli, type RuntimeChild } from '../support/child.ts';
import { dsha, le32 } from '../support/tdp-solution.ts';
import { until } from '../support/wait.ts';
import { btcdGatewayToml, EVERY_HASH_A_SHARE, sv2AddressOf } from '../support/btcd-run.ts';
import { readEventLog } from '../support/worker-events.ts';

const STEP_MS = 30_000;

interface LogEvent {
  readonly type: string;
  readonly worker?: number;
  readonly pid?: number;
  readonly block_id?: string;
  readonly block_hash?: string;
  readonly result?: string;
  readonly attempt?: number;
  readonly attempts?: number;
  readonly [key: string]: unknown;
}

const events = (path: string): LogEvent[] => readEventLog<LogEvent>(path);

/** JSON-RPC to `target`, except submitblock answered 503 while `failing()`; counts what it refused. */
async function rpcProxy(target: string, failing: () => boolean): Promise<{ url: string; refused: () => number; close: () => Promise<void> }> {
  let refused = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Uint8Array[] = [];
    req.on('data', (c: Uint8Array) => chunks.push(c));
    req.on('end', () => {
      const body = concatBytes(...chunks);
      void (async () => {
        try {
          const method = (JSON.parse(new TextDecoder().decode(body)) as { method?: unknown }).method;
          if (method === 'submitblock' && failing()) {
            refused += 1;
            res.writeHead(503, { 'content-type': 'text/plain' });
            res.end('node unavailable (test proxy)');
            return;
          }
          const answer = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', authorization: req.headers.authorization ?? '' }, body });
          const bytes = new Uint8Array(await answer.arrayBuffer());
          res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
          res.end(bytes);
        } catch (error) {
          res.writeHead(502);
          res.end(String(error));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/`, refused: () => refused, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe(`gateway.workers = 2: a killed worker's block retries (${runtime})`, () => {
  testWithBtcd(`reservegrid run on ${runtime}: submitblock fails, the worker that found the block is killed, the leader's retries land it in btcd`, async () => {
    const node = await BtcdNode.start();
    const dir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', `rg-workers-retry-${runtime}-`));
    const logPath = join(dir, 'events.jsonl');
    let failing = true;
    const proxy = await rpcProxy(node.rpcUrl, () => failing);
    let run: RuntimeChild | undefined;
    let miner: MinerConnection | undefined;
    try {
      const authority = generateAuthorityKeyPair(new SeededRandom(seed + 1401));
      const toml = btcdGatewayToml(node, authority, {
        gateway: { id: 14, workers: 2, upstream_url: proxy.url, event_log_path: logPath, event_log_max_bytes: 0, data_dir: join(dir, 'data') },
        // Retries every 100 ms doubling to 400 ms: several failed attempts before the kill.
        timing: { reconnect_backoff_max_ms: 400, shutdown_drain_timeout_ms: 2000 },
        upstream: { request_timeout_ms: 2000, retry_backoff_initial_ms: 100 },
        mining: EVERY_HASH_A_SHARE,
      });
      const file = join(dir, 'gateway.toml');
      writeFileSync(file, toml);
      run = spawnCli(['run', '--config', file]);
      const address = await sv2AddressOf(run, STEP_MS);
      await until('both workers started', STEP_MS, () => (events(logPath).filter((e) => e.type === 'worker_started').length >= 2 ? true : undefined));

      miner = await MinerConnection.connect({ host: address.host, port: address.port, certificatePolicy: { kind: 'pinned', authorityXOnly: address.authorityXOnly }, random: new SeededRandom(seed + 1402) });
      await miner.nextEvent('setup_success', STEP_MS);
      miner.client.openExtendedChannel({ userIdentity: 'finder.1', nominalHashRate: 1e6 });
      miner.flush();
      const channelId = (await miner.nextEvent('channel_opened', STEP_MS)).channel_id;
      const work = await until('work on a prev hash', STEP_MS, () => miner!.client.work(channelId), 20);
      const worker = miner.client.channel(channelId)!.extranoncePrefix[4]! >> 7;
      // A block: SHA256d(header) at or below the network target (regtest: about every other nonce).
      const networkTarget = BigInt('0x' + (work.nbits & 0xffffff).toString(16)) << (8n * BigInt((work.nbits >>> 24) - 3));
      let nonce = 0;
      let hash: Uint8Array = new Uint8Array(0);
      for (; nonce < 1_000_000; nonce++) {
        hash = dsha(concatBytes(le32(work.version), work.prevHash, work.merkleRoot, le32(work.ntime), le32(work.nbits), le32(nonce)));
        if (BigInt('0x' + bytesToHex(reversed(hash))) <= networkTarget) break;
      }
      const blockHash = bytesToHex(reversed(hash));
      miner.client.submitShare(channelId, { jobId: work.jobId, nonce, ntime: work.ntime, version: work.version, extranonce: work.extranonce });
      miner.flush();

      // The submission fails and is being retried by the leader.
      const found = await until('block_found', STEP_MS, () => events(logPath).find((e) => e.type === 'block_found' && e.block_hash === blockHash));
      await until('two failed attempts, retried', STEP_MS, () => (events(logPath).filter((e) => e.type === 'block_submit_retry' && e.block_id === found.block_id).length >= 2 ? true : undefined));
      assert.ok(proxy.refused() >= 2, `submitblock refused ${proxy.refused()} times`);

      // Kill the worker that found it, mid-schedule.
      const victim = events(logPath).find((e) => e.type === 'worker_started' && e.worker === worker)!;
      spawn('kill', ['-KILL', String(victim.pid)], { stdio: 'ignore' });
      await until(`worker_exited for worker ${worker}`, STEP_MS, () => events(logPath).find((e) => e.type === 'worker_exited' && e.worker === worker));
      const retriesAtKill = events(logPath).filter((e) => e.type === 'block_submit_retry' && e.block_id === found.block_id).length;
      // The retries go on without the worker.
      await until('a retry after the kill', STEP_MS, () => (events(logPath).filter((e) => e.type === 'block_submit_retry' && e.block_id === found.block_id).length > retriesAtKill ? true : undefined));
      failing = false;
      await until('btcd has the block', STEP_MS, async () => ((await node.rpc('getbestblockhash')) === blockHash ? true : undefined), 100);
      const results = await until('block_submit_result accepted', STEP_MS, () => {
        const r = events(logPath).filter((e) => e.type === 'block_submit_result' && e.block_id === found.block_id);
        return r.length > 0 ? r : undefined;
      });
      assert.equal(results.length, 1, `one result for the block: ${JSON.stringify(results)}`);
      assert.equal(results[0]!.result, 'accepted');
      assert.ok((results[0]!.attempts ?? 0) > retriesAtKill, `attempts ${results[0]!.attempts} > ${retriesAtKill} failed before the kill`);
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\nrun stderr:\n${run?.stderr() ?? ''}\nevents: ${JSON.stringify(Object.fromEntries([...new Set(events(logPath).map((e) => e.type))].map((t) => [t, events(logPath).filter((e) => e.type === t).length])))}`);
    } finally {
      miner?.client.close();
      miner?.flush();
      if (run?.running) run.child.kill('SIGKILL');
      await proxy.close();
      await node.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }, { timeoutMs: 120_000 });
});
