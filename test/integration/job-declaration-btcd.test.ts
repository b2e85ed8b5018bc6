// The Job Declaration Server's consensus check through a REAL node (issue 11 item 3): btcd on
// regtest holds two real mempool transactions (A spends a matured coinbase, B spends A), the
// whole stack runs as `reservegrid run` builds it (adapters/gateway-stack.ts, inline mode,
// [job_declaration] with block_proposals on, BitcoindRpc as template source and proposal target),
// and our own JD client (Noise, pinning the authority key) declares:
//   1. the template's transactions in order → btcd's BIP23 proposal says valid → Success, and
//      the verdict event records proposal_result "valid" with its latency;
//   2. the same transactions child first ([B, A]): every policy check passes (fees known, the
//      commitment matches the declared order), but the block spends an output not yet created,
//      so btcd refuses the proposal → DeclareMiningJob.Error `invalid-job` with
//      `jd_proposal_rejected` and btcd's own reject string.
// Then the block of declaration 1, as core/job-declaration/proposal.ts assembles it, with a
// nonce ground to the regtest target, is submitted to btcd and accepted: the proposal bytes are
// a real block, byte for byte. Last, adapters/proposal-executor.ts against real answers: bytes
// that are no block → invalid with btcd's message; that block proposed again once the tip moved
// past it → one of the stale-tip strings (btcd: "bad-prevblk"); a closed port → node_error. Skipped with a
// reason when btcd is not installed.
import { describe, seed } from '../harness.ts';
import { assert } from '../assert.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { startGatewayStack } from '../../adapters/gateway-stack.ts';
import type { StampedEvent } from '../../adapters/gateway-server.ts';
import { BitcoindRpc } from '../../adapters/bitcoind-rpc.ts';
import { bytesToHex, fromUtf8, hexToBytes, reversed } from '../../core/bytes.ts';
import { loadConfig } from '../../core/config/index.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { assembleProposalBlock, PROPOSAL_STALE_TIP_REASONS, rebuildDeclaredCoinbase } from '../../core/job-declaration/index.ts';
import { sha256d } from '../../core/mining/hash.ts';
import { meetsTarget } from '../../core/mining/target.ts';
import { generateAuthorityKeyPair } from '../../core/noise/keys.ts';
import { SeededRandom } from '../../core/random.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { declaredJob } from '../../conformance/jds-world.ts';
import { BtcdNode, freeLoopbackPort, sendParentAndChild, testWithBtcd } from '../support/btcd.ts';
import { ProposalExecutor } from '../../adapters/proposal-executor.ts';
import { btcdGatewayToml } from '../support/btcd-run.ts';
import { TdpConnection } from '../support/tdp-connection.ts';
import { until } from '../support/wait.ts';

const STEP_MS = 20_000;
const FEE_SATS = 10_000n;

describe('job declaration with btcd: BIP23 proposals in the verdict', () => {
  testWithBtcd('a valid declared job is accepted by btcd\'s proposal; a child-before-parent one is refused with btcd\'s string; the proposed bytes are a block btcd accepts', async () => {
    // Coinbase maturity is 100 blocks: block 1's coinbase is spendable on top of block 102.
    const node = await BtcdNode.start({ initialBlocks: 102 });
    const clock = new SystemClock();
    let stack: Awaited<ReturnType<typeof startGatewayStack>> | undefined;
    let jd: TdpConnection | undefined;
    try {
      const { a, b } = await sendParentAndChild(node, FEE_SATS);

      const random = new SeededRandom(seed + 1101);
      const authority = generateAuthorityKeyPair(random);
      const toml = btcdGatewayToml(node, authority, {
        gateway: { mode: 'inline', id: 7 },
        mining: { allow_work_selection: true },
        // Generous: this test is about what the node says, not about time (the fake-clock suite is).
        job_declaration: { listen_addr: '127.0.0.1:0', proposal_timeout_ms: 15_000 },
      });
      const loaded = loadConfig({ tomlText: toml, fileName: 'jd-btcd.toml', env: {} });
      assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.problems));
      const events: StampedEvent[] = [];
      stack = await startGatewayStack({ config: loaded.config, clock, random, provider: nobleProvider, eventLog: false, shareForwarding: false, onEvent: (e) => events.push(e) });
      const gateway = stack.gateway;
      const template: BlockTemplate = await until('a released template with both mempool transactions', STEP_MS, () => {
        const t = gateway.currentJob?.template;
        return t !== undefined && t.transactions.length === 2 ? t : undefined;
      }, 50);
      assert.deepEqual(template.transactions.map((t) => bytesToHex(t.txid)), [a, b].map((t) => bytesToHex(t.txid)), 'btcd orders the parent first');

      jd = await TdpConnection.connect({
        host: '127.0.0.1',
        port: stack.jdAddress!.port,
        clock,
        provider: nobleProvider,
        random: new SeededRandom(seed + 1102),
        certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly },
        constraints: null,
        setup: { protocol: 1, flags: 1 },
      });
      await jd.next('SetupConnectionSuccess', STEP_MS);
      const allocate = async (requestId: number): Promise<Uint8Array> => {
        jd!.client.send({ type: 'AllocateMiningJobToken', userIdentifier: 'alice.jdc', requestId });
        jd!.flush();
        return (await jd!.next('AllocateMiningJobTokenSuccess', STEP_MS)).miningJobToken;
      };
      const declare = (requestId: number, token: Uint8Array, job: ReturnType<typeof declaredJob>): void => {
        jd!.client.send({ type: 'DeclareMiningJob', requestId, miningJobToken: token, version: template.version, coinbaseTxPrefix: job.prefix, coinbaseTxSuffix: job.suffix, wtxidList: job.wtxids, excessData: new Uint8Array(0) });
        jd!.flush();
      };
      const verdictOf = (requestId: number) =>
        until(`the verdict of request ${requestId}`, STEP_MS, () => events.find((e): e is Extract<StampedEvent, { type: 'jd_declaration_verdict' }> => e.type === 'jd_declaration_verdict' && e.request_id === requestId));

      // 1. In order: valid.
      const good = declaredJob(template.transactions, { height: template.height, value: template.coinbaseValue });
      declare(2, await allocate(1), good);
      assert.equal((await jd.next('DeclareMiningJobSuccess', STEP_MS)).requestId, 2);
      const v1 = await verdictOf(2);
      assert.deepEqual([v1.accepted, v1.reason_code, v1.policy_context['proposal_result']], [true, 'template_accepted', 'valid'], JSON.stringify(v1));
      assert.equal(typeof v1.policy_context['proposal_latency_ms'], 'number');

      // 2. Child before parent: the policy lets it through, the node does not.
      const swapped = declaredJob([template.transactions[1]!, template.transactions[0]!], { height: template.height, value: template.coinbaseValue });
      declare(4, await allocate(3), swapped);
      const refused = await jd.next('DeclareMiningJobError', STEP_MS);
      assert.equal(refused.errorCode, 'invalid-job');
      const detail = JSON.parse(fromUtf8(refused.errorDetails)) as { reason_code: string; reason_detail: string };
      assert.equal(detail.reason_code, 'jd_proposal_rejected');
      const v2 = await verdictOf(4);
      assert.equal(v2.policy_context['proposal_result'], 'invalid');
      assert.equal(v2.reason_detail, detail.reason_detail);
      // btcd's BIP22-style reject string for an input that is not (yet) in the UTXO set
      // ("bad-txns-missinginput"; Bitcoin Core says "bad-txns-inputs-missingorspent").
      assert.match(detail.reason_detail, /^bad-txns-.*missing/, detail.reason_detail);

      // The proposed bytes of declaration 1 are a real block: ground to the target, btcd takes it.
      const coinbase = rebuildDeclaredCoinbase(good.prefix, good.suffix);
      assert.ok(coinbase.ok);
      const block = assembleProposalBlock({ version: template.version, tip: template, coinbase: coinbase.value, transactions: template.transactions });
      let nonce = 0;
      for (; nonce < 100_000; nonce++) {
        block.set([nonce & 0xff, (nonce >>> 8) & 0xff, (nonce >>> 16) & 0xff, 0], 76);
        if (meetsTarget(sha256d(block.subarray(0, 80)), template.target)) break;
      }
      const rpc = new BitcoindRpc({ url: node.rpcUrl, auth: { kind: 'userpass', user: node.rpcUser, password: node.rpcPassword } });
      const submitted = await rpc.submitBlock(block);
      assert.ok(submitted.ok && submitted.value.kind === 'accepted', JSON.stringify(submitted));
      const best = (await node.rpc('getbestblockhash')) as string;
      assert.equal(best, bytesToHex(reversed(sha256d(block.subarray(0, 80)))));
      const mined = (await node.rpc('getblock', [best])) as { tx: string[] };
      assert.deepEqual(mined.tx.slice(1), [a, b].map((t) => bytesToHex(reversed(t.txid))), 'the declared transactions, in declared order');

      // The executor's mapping of what a real node answers: bytes that are no block → btcd's
      // RPC error -22 → invalid with btcd's message; a port nobody listens on → node_error.
      const answers: { conn: number; id: string; answer: unknown }[] = [];
      const sink = { blockProposalResult: (conn: number, id: string, answer: unknown) => void answers.push({ conn, id, answer }) };
      const executor = new ProposalExecutor({ source: rpc, gateway: sink, clock, timeoutMs: 5_000 });
      executor.execute({ type: 'propose_block', conn_id: 1, declaration_id: '9', block: new Uint8Array([0]) });
      // Declaration 1's block again, now that it is the tip's parent: the tip moved under it, the
      // race every new block brings. btcd's string must be one core/job-declaration/proposal.ts
      // folds into prevhash_stale (answered stale-chain-tip), not a rejection of the block.
      executor.execute({ type: 'propose_block', conn_id: 3, declaration_id: '11', block });
      const closedPort = await freeLoopbackPort();
      const nobody = new BitcoindRpc({ url: `http://127.0.0.1:${closedPort}/`, auth: { kind: 'userpass', user: 'x', password: 'y' } });
      const down = new ProposalExecutor({ source: nobody, gateway: sink, clock, timeoutMs: 5_000 });
      down.execute({ type: 'propose_block', conn_id: 2, declaration_id: '10', block });
      await executor.idle();
      await down.idle();
      const byConn = new Map(answers.map((x) => [x.conn, x]));
      const garbage = byConn.get(1)!.answer as { kind: string; reason?: string };
      assert.equal(garbage.kind, 'invalid', JSON.stringify(garbage));
      assert.ok((garbage.reason ?? '').length > 0);
      const moved = byConn.get(3)!.answer as { kind: string; reason?: string };
      assert.equal(moved.kind, 'invalid', JSON.stringify(moved));
      assert.ok(PROPOSAL_STALE_TIP_REASONS.has(moved.reason ?? ''), `btcd's answer to a proposal on the old tip: ${JSON.stringify(moved)}`);
      assert.deepEqual([byConn.get(2)!.id, (byConn.get(2)!.answer as { kind: string; code: string }).kind, (byConn.get(2)!.answer as { code: string }).code], ['10', 'node_error', 'upstream-unreachable']);
    } finally {
      jd?.abort();
      await stack?.stop();
      await node.dispose();
    }
  }, { timeoutMs: 120_000 });
});
