// Job Declaration with gateway.workers = 2 (issue 13, docs/scaling.md "Job Declaration with
// workers"): the real `reservegrid run` as a child of this runtime's entry point, templates from a
// real btcd on regtest whose mempool holds two real signed transactions (A spends a matured
// coinbase, B spends A). The JD tokens live in the leader; SetCustomMiningJob arrives on the
// workers' miner connections.
//
//  - Our own JD client (Noise, pinning the authority key) allocates a token for `alice.jdc` on the
//    leader's JD port and declares btcd's template (A, B) with a coinbase paying the pool.
//  - Work-selection miner connections (REQUIRES_WORK_SELECTION, extended channels) are opened until
//    one landed on each worker (the worker index is the top bit of the extranonce counter, and the
//    event log's conn_id names the worker process through its worker_started conn_id_base).
//  - The declared token is accepted on worker 1 exactly once; its reuse there and on worker 0 is
//    refused (`invalid-mining-job-token`, `jd_token_reused`); bob's channel presenting alice's
//    fresh token is refused (`jd_token_foreign`) without spending it, so worker 0 then starts it.
//  - A block found on worker 1's custom job (header ground here, from SV2.md §5.4's custom-coinbase
//    rule) lands in btcd with exactly the declared transactions, in order.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, readEnv, runtime, seed } from '../harness.ts';
import { assert } from '../assert.ts';
import { BtcdNode, TEST_MINING_KEY, freeLoopbackPort, sendParentAndChild, testWithBtcd } from '../support/btcd.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { loadConfig } from '../../core/config/index.ts';
import { SeededRandom } from '../../core/random.ts';
import { bytesToHex, concatBytes, hexToBytes, reversed } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { generateAuthorityKeyPair } from '../../core/noise/keys.ts';
import type { Sv2Message } from '../../core/codec/index.ts';
import { declaredJob } from '../../conformance/jds-world.ts';
import { spawnCli, type RuntimeChild } from '../support/child.ts';
import { TdpConnection } from '../support/tdp-connection.ts';
import { dsha, le32 } from '../support/tdp-solution.ts';
import { until } from '../support/wait.ts';
import { btcdGatewayToml, EVERY_HASH_A_SHARE, sv2AddressOf } from '../support/btcd-run.ts';
import { readEventLog, workerOfConn } from '../support/worker-events.ts';

const HOST = '127.0.0.1';
const STEP_MS = 30_000;
const FEE_SATS = 10_000n;
const REQUIRES_WORK_SELECTION = 0b10;

type Msg<T extends Sv2Message['type']> = Extract<Sv2Message, { type: T }>;

interface LogEvent {
  readonly type: string;
  readonly worker?: number;
  readonly conn_id?: number;
  readonly conn_id_base?: number;
  readonly tx_count?: number;
  readonly reason_code?: string;
  readonly request_id?: number;
  readonly declaration_id?: string;
  readonly result?: string;
  readonly [key: string]: unknown;
}

const events = (path: string): LogEvent[] => readEventLog<LogEvent>(path);


interface WsMiner {
  readonly conn: TdpConnection;
  readonly channel: Msg<'OpenExtendedMiningChannelSuccess'>;
  /** The counter's top bit: the worker index of 2 (core/channels/extranonce.ts). */
  readonly worker: number;
}

describe(`gateway.workers = 2 with [job_declaration] (${runtime})`, () => {
  testWithBtcd(`reservegrid run on ${runtime}, two workers: a declared token is checked by the leader — accepted once across workers, reuse and another user refused; the block found on a worker lands in btcd with the declared transactions`, async () => {
    // Coinbase maturity is 100 blocks: block 1's coinbase is spendable on top of block 102.
    const node = await BtcdNode.start({ initialBlocks: 102 });
    const dir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', `rg-workers-jd-${runtime}-`));
    const clock = new SystemClock();
    const logPath = join(dir, 'events.jsonl');
    let run: RuntimeChild | undefined;
    const conns: TdpConnection[] = [];
    try {
      const { a, b } = await sendParentAndChild(node, FEE_SATS);

      const authority = generateAuthorityKeyPair(new SeededRandom(seed + 1301));
      const jdPort = await freeLoopbackPort();
      const toml = btcdGatewayToml(node, authority, {
        gateway: { id: 13, workers: 2, event_log_path: logPath, event_log_max_bytes: 0, data_dir: join(dir, 'data') },
        timing: { job_broadcast_interval_ms: 50, shutdown_drain_timeout_ms: 2000 },
        mining: { allow_work_selection: true, ...EVERY_HASH_A_SHARE },
        // Generous: this test is about who checks the token, not about the node's speed.
        job_declaration: { listen_addr: `${HOST}:${jdPort}`, proposal_timeout_ms: 15_000 },
      });
      const loaded = loadConfig({ tomlText: toml, fileName: 'workers-jd.toml', env: {} });
      assert.ok(loaded.ok, `workers = 2 with [job_declaration] loads: ${loaded.ok ? '' : loaded.problems.map((p) => p.message).join('; ')}`);
      const file = join(dir, 'gateway.toml');
      writeFileSync(file, toml);
      run = spawnCli(['run', '--config', file]);
      const address = await sv2AddressOf(run, STEP_MS);
      assert.match(run.stdout(), /2 socket workers share the miner port/);
      assert.match(run.stdout(), new RegExp(`Job Declaration Server \\(SV2 Job Declaration\\) on ${HOST}:${jdPort}`));
      await until('both workers started', STEP_MS, () => (events(logPath).filter((e) => e.type === 'worker_started').length >= 2 ? true : undefined));
      // The gateway released btcd's template with both mempool transactions.
      await until('a template with both mempool transactions', STEP_MS, () => events(logPath).find((e) => e.type === 'template_received' && e.tx_count === 2));
      const gbt = (await node.rpc('getblocktemplate', [{ rules: ['segwit'] }])) as { previousblockhash: string; height: number; coinbasevalue: number; bits: string; curtime: number; version: number; transactions: { txid: string; hash: string }[] };
      assert.deepEqual(gbt.transactions.map((t) => t.txid), [a, b].map((t) => bytesToHex(reversed(t.txid))), 'btcd orders the parent first');
      const pinned = { kind: 'pinned' as const, authorityXOnly: address.authorityXOnly };

      // ---- work-selection miners, until one landed on each worker ---------------------------------
      const open = async (i: number, identity: string): Promise<WsMiner> => {
        const conn = await TdpConnection.connect({ host: address.host, port: address.port, clock, provider: nobleProvider, random: new SeededRandom(seed + 1310 + i), certificatePolicy: pinned, constraints: null, setup: { protocol: 0, flags: REQUIRES_WORK_SELECTION } });
        conns.push(conn);
        await conn.next('SetupConnectionSuccess', STEP_MS);
        const maxTarget = new Uint8Array(32).fill(0xff);
        conn.client.send({ type: 'OpenExtendedMiningChannel', requestId: 1, userIdentity: identity, nominalHashRate: 1e6, maxTarget, minExtranonceSize: 8 });
        conn.flush();
        const channel = await conn.next('OpenExtendedMiningChannelSuccess', STEP_MS);
        return { conn, channel, worker: channel.extranoncePrefix[4]! >> 7 };
      };
      const byWorker = new Map<number, WsMiner>();
      for (let i = 0; i < 16 && byWorker.size < 2; i++) {
        const m = await open(i, `alice.m${i}`);
        if (!byWorker.has(m.worker)) byWorker.set(m.worker, m);
      }
      assert.deepEqual([...byWorker.keys()].sort(), [0, 1], 'work-selection connections on both workers');
      const w0 = byWorker.get(0)!;
      const w1 = byWorker.get(1)!;
      const bob = await open(20, 'bob.m1');
      const fullExtranonceBytes = w1.channel.extranoncePrefix.length + w1.channel.extranonceSize;
      assert.equal(w0.channel.extranoncePrefix.length + w0.channel.extranonceSize, fullExtranonceBytes, 'both workers give the same extranonce size');

      // ---- the JD client declares btcd's template on the leader's port ---------------------------
      const jd = await TdpConnection.connect({ host: HOST, port: jdPort, clock, provider: nobleProvider, random: new SeededRandom(seed + 1302), certificatePolicy: pinned, constraints: null, setup: { protocol: 1, flags: 1 } });
      conns.push(jd);
      await jd.next('SetupConnectionSuccess', STEP_MS);
      const txs = [a, b];
      const job = declaredJob(txs, { height: gbt.height, value: BigInt(gbt.coinbasevalue), extranonceBytes: fullExtranonceBytes, outputs: [{ value: BigInt(gbt.coinbasevalue), script: TEST_MINING_KEY.scriptPubKey }] });
      const declare = async (requestId: number): Promise<Uint8Array> => {
        jd.client.send({ type: 'AllocateMiningJobToken', userIdentifier: 'alice.jdc', requestId });
        jd.flush();
        const allocated = (await jd.next('AllocateMiningJobTokenSuccess', STEP_MS)).miningJobToken;
        jd.client.send({ type: 'DeclareMiningJob', requestId: requestId + 1, miningJobToken: allocated, version: gbt.version, coinbaseTxPrefix: job.prefix, coinbaseTxSuffix: job.suffix, wtxidList: job.wtxids, excessData: new Uint8Array(0) });
        jd.flush();
        const success = await jd.next('DeclareMiningJobSuccess', STEP_MS);
        assert.equal(success.requestId, requestId + 1);
        return success.newMiningJobToken;
      };
      const token1 = await declare(1);

      // SetCustomMiningJob from the declaration (SV2.md §5.4: scriptSig = coinbase_prefix ‖ full extranonce).
      // prefix = version ‖ 00 01 ‖ 01 ‖ outpoint(36) ‖ varint(len) ‖ head: the head is what follows the 1-byte length.
      const head = job.prefix.subarray(4 + 2 + 1 + 36 + 1);
      // suffix = nSequence(4) ‖ outputs ‖ 01 20 ‖ reserved(32) ‖ locktime(4).
      const outputs = job.suffix.subarray(4, job.suffix.length - 4 - 34);
      // Merkle path of the coinbase over [coinbase, A, B]: A, then SHA256d(B ‖ B) (odd level duplicated).
      const merklePath = [a.txid, dsha(concatBytes(b.txid, b.txid))];
      const prevHash = reversed(hexToBytes(gbt.previousblockhash));
      const nbits = parseInt(gbt.bits, 16);
      const custom = (m: WsMiner, requestId: number, token: Uint8Array): Msg<'SetCustomMiningJob'> => ({
        type: 'SetCustomMiningJob', channelId: m.channel.channelId, requestId, miningJobToken: token, version: gbt.version, prevHash, minNtime: gbt.curtime, nbits,
        coinbaseTxVersion: 2, coinbasePrefix: head, coinbaseTxInputNSequence: 0xffffffff, coinbaseTxOutputs: outputs, coinbaseTxLocktime: 0, merklePath,
      });
      const answerTo = async (m: WsMiner, message: Msg<'SetCustomMiningJob'>): Promise<Msg<'SetCustomMiningJobSuccess'> | Msg<'SetCustomMiningJobError'>> => {
        m.conn.client.send(message);
        m.conn.flush();
        return until(`the answer to SetCustomMiningJob ${message.requestId}`, STEP_MS, () =>
          m.conn.messages.find((x): x is Msg<'SetCustomMiningJobSuccess'> | Msg<'SetCustomMiningJobError'> => (x.type === 'SetCustomMiningJobSuccess' || x.type === 'SetCustomMiningJobError') && x.requestId === message.requestId));
      };

      // ---- single use across workers, another user's channel -------------------------------------
      const first = await answerTo(w1, custom(w1, 10, token1));
      assert.equal(first.type, 'SetCustomMiningJobSuccess', JSON.stringify(first));
      const jobId = (first as Msg<'SetCustomMiningJobSuccess'>).jobId;
      const again = await answerTo(w1, custom(w1, 11, token1));
      assert.deepEqual([again.type, (again as Msg<'SetCustomMiningJobError'>).errorCode], ['SetCustomMiningJobError', 'invalid-mining-job-token'], 'reuse on the same worker');
      const elsewhere = await answerTo(w0, custom(w0, 12, token1));
      assert.deepEqual([elsewhere.type, (elsewhere as Msg<'SetCustomMiningJobError'>).errorCode], ['SetCustomMiningJobError', 'invalid-mining-job-token'], 'reuse on the other worker');
      const token2 = await declare(3);
      const foreign = await answerTo(bob, custom(bob, 13, token2));
      assert.deepEqual([foreign.type, (foreign as Msg<'SetCustomMiningJobError'>).errorCode], ['SetCustomMiningJobError', 'invalid-mining-job-token'], 'bob presenting alice\'s token');
      const second = await answerTo(w0, custom(w0, 14, token2));
      assert.equal(second.type, 'SetCustomMiningJobSuccess', `the foreign attempt did not spend alice's token: ${JSON.stringify(second)}`);

      // Our codes in the leader's log, each on the worker that handled it.
      const rejected = await until('the three refusals logged', STEP_MS, () => {
        const log = events(logPath);
        const r = log.filter((e) => e.type === 'custom_job_rejected');
        return r.length >= 3 ? { log, r } : undefined;
      });
      const byRequest = new Map(rejected.r.map((e) => [e.request_id, e]));
      assert.deepEqual([11, 12, 13].map((id) => byRequest.get(id)?.reason_code), ['jd_token_reused', 'jd_token_reused', 'jd_token_foreign']);
      assert.deepEqual([11, 12].map((id) => workerOfConn(rejected.log, byRequest.get(id)!.conn_id!)), [1, 0], 'refused on worker 1 and on worker 0');

      // ---- a block on worker 1's custom job ------------------------------------------------------
      const extranonce = new Uint8Array(w1.channel.extranonceSize).fill(0x5a);
      const full = concatBytes(w1.channel.extranoncePrefix, extranonce);
      const coinbase = concatBytes(le32(2), Uint8Array.of(1), new Uint8Array(32), le32(0xffffffff), Uint8Array.of(head.length + full.length), head, full, le32(0xffffffff), outputs, le32(0));
      let root = dsha(coinbase);
      for (const sibling of merklePath) root = dsha(concatBytes(root, sibling));
      const networkTarget = BigInt('0x' + (nbits & 0xffffff).toString(16)) << (8n * BigInt((nbits >>> 24) - 3));
      let nonce = 0;
      let blockHash: Uint8Array = new Uint8Array(0);
      for (; nonce < 1_000_000; nonce++) {
        blockHash = dsha(concatBytes(le32(gbt.version), prevHash, root, le32(gbt.curtime), le32(nbits), le32(nonce)));
        if (BigInt('0x' + bytesToHex(reversed(blockHash))) <= networkTarget) break;
      }
      w1.conn.client.send({ type: 'SubmitSharesExtended', channelId: w1.channel.channelId, sequenceNumber: 0, jobId, nonce, ntime: gbt.curtime, version: gbt.version, extranonce });
      w1.conn.flush();
      const display = bytesToHex(reversed(blockHash));
      await until('btcd has the block', STEP_MS, async () => ((await node.rpc('getbestblockhash')) === display ? true : undefined), 100);
      const mined = (await node.rpc('getblock', [display])) as { tx: string[] };
      assert.deepEqual(mined.tx.slice(1), [a, b].map((t) => bytesToHex(reversed(t.txid))), 'the declared transactions, in declared order');
      const log = await until('block_submit_result accepted', STEP_MS, () => {
        const l = events(logPath);
        return l.some((e) => e.type === 'block_submit_result' && e.result === 'accepted') ? l : undefined;
      });
      const found = log.find((e) => e.type === 'block_found');
      assert.ok(found !== undefined && workerOfConn(log, found.conn_id!) === 1, 'found on worker 1');
      const accepted = log.filter((e) => e.type === 'custom_job_accepted');
      assert.deepEqual(accepted.map((e) => workerOfConn(log, e.conn_id!)).sort(), [0, 1], 'one custom job accepted on each worker');
      assert.ok(accepted.every((e) => typeof e.declaration_id === 'string' && e.transactions_known === true), 'both carry the declaration and its transactions');
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)}\nrun stderr:\n${run?.stderr() ?? ''}\nevents: ${JSON.stringify(Object.fromEntries([...new Set(events(logPath).map((e) => e.type))].map((t) => [t, events(logPath).filter((e) => e.type === t).length])))}`);
    } finally {
      for (const c of conns) c.abort();
      if (run?.running) run.child.kill('SIGKILL');
      await node.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }, { timeoutMs: 180_000 });
});
