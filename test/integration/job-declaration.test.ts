// The Job Declaration listener on a real loopback socket, on node, deno and bun (issue 11 step 2):
// the whole stack as `reservegrid run` builds it (adapters/gateway-stack.ts, [job_declaration]
// present), our own Noise initiator (core/client/tdp-client.ts with protocol 1 and
// DECLARE_TX_DATA, pinning the authority key) as the JD client: SetupConnection,
// AllocateMiningJobToken, a DeclareMiningJob over the recorded btcd template's real transactions
// (all resolved from the released template: no ProvideMissingTransactions), the verdict event
// with policy_context in the stack's event stream, one unknown wtxid asked for, and shadow mode
// opening no JD listener.
import { readFileSync } from 'node:fs';
import { describe, seed, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { startGatewayStack } from '../../adapters/gateway-stack.ts';
import { JD_TEMPLATE_TREES } from '../../core/gateway/gateway.ts';
import type { StampedEvent } from '../../adapters/gateway-server.ts';
import type { TemplateSource } from '../../adapters/template-source.ts';
import { bytesToHex, fromUtf8 } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { ok } from '../../core/errors.ts';
import { generateAuthorityKeyPair } from '../../core/noise/keys.ts';
import { SeededRandom } from '../../core/random.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { configToml, loadTestConfig } from '../support/stack-world.ts';
import { HOST, STEP_MS, until } from '../support/gateway-under-test.ts';
import { TdpConnection } from '../support/tdp-connection.ts';
import { declaredJob } from '../../conformance/jds-world.ts';
import { dsha } from '../support/tdp-solution.ts';

const GBT = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;

class FixtureSource implements TemplateSource {
  readonly submitted: string[] = [];
  async getBlockTemplate(templateId: bigint) {
    const parsed = parseGetBlockTemplate(JSON.parse(JSON.stringify(GBT)), { templateId });
    if (!parsed.ok) throw new Error(`fixture template did not parse: ${parsed.error.message}`);
    return ok(parsed.value as BlockTemplate);
  }
  async submitBlock(block: string | Uint8Array) {
    this.submitted.push(typeof block === 'string' ? block : bytesToHex(block));
    return ok({ kind: 'accepted' as const });
  }
}

async function start(salt: number, mode: 'observe' | 'shadow') {
  const clock = new SystemClock();
  const random = new SeededRandom(seed + salt);
  const authority = generateAuthorityKeyPair(random);
  const config = loadTestConfig(configToml({ 'gateway.mode': mode, 'job_declaration.listen_addr': '127.0.0.1:0', 'job_declaration.block_proposals': false, 'mining.allow_work_selection': true }, authority));
  const events: StampedEvent[] = [];
  const stack = await startGatewayStack({ config, templateSource: new FixtureSource(), clock, random, provider: nobleProvider, eventLog: false, shareForwarding: false, onEvent: (e) => events.push(e) });
  const connect = (): Promise<TdpConnection> =>
    TdpConnection.connect({
      host: HOST,
      port: stack.jdAddress!.port,
      clock,
      provider: nobleProvider,
      random: new SeededRandom(seed + salt + 500),
      certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly },
      constraints: null,
      setup: { protocol: 1, flags: 1 },
    });
  return { stack, events, connect };
}

describe('job declaration listener (real sockets)', () => {
  test('setup, a token, a declaration over the template\'s real transactions, and a missing-transactions request', async () => {
    const world = await start(83, 'observe');
    let jd: TdpConnection | undefined;
    try {
      assert.notEqual(world.stack.jdAddress, null, '[job_declaration] opens the listener');
      await until('the first template', STEP_MS, () => (world.stack.gateway.currentJob === null ? undefined : true));
      const t = world.stack.gateway.currentJob!.template;
      // The released template's declaration trees are built by the gateway's own pass right
      // after the release (a deadline at the release instant), before any declaration asks.
      await until('the declaration trees', STEP_MS, () => (world.stack.gateway.templateCache.treesPending === 0 ? true : undefined));
      const cache = world.stack.gateway.templateCache;
      assert.equal(cache.treesMax, JD_TEMPLATE_TREES, 'a JD port turns the trees on');
      jd = await world.connect();
      const success = await jd.next('SetupConnectionSuccess', STEP_MS);
      assert.deepEqual([success.usedVersion, success.flags], [2, 0]);
      jd.client.send({ type: 'AllocateMiningJobToken', userIdentifier: 'alice.jdc', requestId: 1 });
      jd.flush();
      const token = await jd.next('AllocateMiningJobTokenSuccess', STEP_MS);
      assert.equal(token.miningJobToken.length, 16);
      const job = declaredJob(t.transactions, { height: t.height, value: t.coinbaseValue });
      const declare = (requestId: number, miningJobToken: Uint8Array, wtxids: Uint8Array[]): void => {
        jd!.client.send({ type: 'DeclareMiningJob', requestId, miningJobToken, version: t.version, coinbaseTxPrefix: job.prefix, coinbaseTxSuffix: job.suffix, wtxidList: wtxids, excessData: new Uint8Array(0) });
        jd!.flush();
      };
      declare(2, token.miningJobToken, job.wtxids);
      const declared = await jd.next('DeclareMiningJobSuccess', STEP_MS);
      assert.equal(declared.requestId, 2);
      const verdict = await until('the verdict event', STEP_MS, () => world.events.find((e) => e.type === 'jd_declaration_verdict'));
      assert.equal(verdict.type === 'jd_declaration_verdict' && verdict.accepted, true, JSON.stringify(verdict));
      assert.equal(verdict.type === 'jd_declaration_verdict' && verdict.tx_count, t.transactions.length);
      assert.equal(verdict.type === 'jd_declaration_verdict' && verdict.policy_context['tx_count'], t.transactions.length);
      assert.ok(world.stack.gateway.jdsCounts.open >= 1);
      assert.equal(cache.trees()[0]?.template.templateId, t.templateId, 'the declared template has trees');

      // One wtxid no template holds: asked for by position.
      const second = (jd.client.send({ type: 'AllocateMiningJobToken', userIdentifier: 'alice.jdc', requestId: 3 }), jd.flush(), await jd.next('AllocateMiningJobTokenSuccess', STEP_MS));
      declare(4, second.miningJobToken, [...job.wtxids, dsha(new TextEncoder().encode('not in any template'))]);
      const ask = await jd.next('ProvideMissingTransactions', STEP_MS);
      assert.deepEqual(ask.unknownTxPositionList, [job.wtxids.length]);
      jd.client.send({ type: 'ProvideMissingTransactionsSuccess', requestId: 4, transactionList: [] });
      jd.flush();
      const refused = await jd.next('DeclareMiningJobError', STEP_MS);
      assert.equal(refused.errorCode, 'missing-txs');
      assert.equal((JSON.parse(fromUtf8(refused.errorDetails)) as { reason_code: string }).reason_code, 'jd_missing_txs');
    } finally {
      jd?.abort();
      await world.stack.stop();
    }
  }, { timeoutMs: 30_000 });

  test('shadow mode opens no Job Declaration listener', async () => {
    const world = await start(84, 'shadow');
    try {
      assert.equal(world.stack.jdAddress, null);
    } finally {
      await world.stack.stop();
    }
  });
});
