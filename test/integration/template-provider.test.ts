// The Template Provider listener on a real loopback socket, on node, deno and bun (issue 10): the
// whole stack as `reservegrid run` builds it (adapters/gateway-stack.ts, [template_provider]
// present), our own Template Distribution client (core/client/tdp-client.ts over core/noise,
// pinning the authority key) speaking to it: SetupConnection, CoinbaseOutputConstraints, a tip
// (future NewTemplate + SetNewPrevHash) with the recorded btcd template's real transactions,
// RequestTransactionData, a new tip from upstream, and a SubmitSolution that reaches the
// template source's submitblock byte for byte (the never-lost block path), plus /status.
import { readFileSync } from 'node:fs';
import { describe, seed, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { startGatewayStack, type GatewayStack } from '../../adapters/gateway-stack.ts';
import type { StampedEvent } from '../../adapters/gateway-server.ts';
import type { TemplateSource } from '../../adapters/template-source.ts';
import { bytesToHex, concatBytes, hexToBytes } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { ok } from '../../core/errors.ts';
import { generateAuthorityKeyPair } from '../../core/noise/keys.ts';
import { SeededRandom } from '../../core/random.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { configToml, loadTestConfig } from '../support/stack-world.ts';
import { HOST, STEP_MS, until } from '../support/gateway-under-test.ts';
import { TdpConnection } from '../support/tdp-connection.ts';
import { makeTemplate, makeTx } from '../support/policy-fixtures.ts';
import { findNonce, headerOf, poolCoinbase, rootFromPath, dsha, varint } from '../support/tdp-solution.ts';

const GBT = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;

/** The recorded btcd template (real transactions) on prevhash `prevIndex`, regtest bits: CPU blocks. */
class EasySource implements TemplateSource {
  prevIndex = 1;
  readonly submitted: string[] = [];
  async getBlockTemplate(templateId: bigint) {
    const json = JSON.parse(JSON.stringify(GBT)) as Record<string, unknown>;
    delete json['target'];
    json['bits'] = '207fffff';
    json['previousblockhash'] = this.prevIndex.toString(16).padStart(64, '0');
    const parsed = parseGetBlockTemplate(json, { templateId });
    if (!parsed.ok) throw new Error(`fixture template did not parse: ${parsed.error.message}`);
    return ok(parsed.value as BlockTemplate);
  }
  async submitBlock(block: string | Uint8Array) {
    this.submitted.push(typeof block === 'string' ? block : bytesToHex(block));
    return ok({ kind: 'accepted' as const });
  }
}

/** One synthetic template whose transactions serialize to more than the miners' 4 MiB outbound bound. */
class BigSource extends EasySource {
  readonly big: BlockTemplate;
  constructor() {
    super();
    const txs = Array.from({ length: 13_000 }, (_, i) => makeTx(i + 1, 1000n, undefined, [], 250));
    // A node may report its own limits; this one allows the big block (tailoring honours it).
    this.big = { ...makeTemplate({ transactions: txs }), weightLimit: 40_000_000, sigopLimit: 800_000 };
  }
  override async getBlockTemplate(templateId: bigint) {
    return ok({ ...this.big, templateId } as BlockTemplate);
  }
}

async function start(salt: number, mode: 'observe' | 'shadow' = 'observe', sourceOverride?: EasySource): Promise<{ stack: GatewayStack; source: EasySource; events: StampedEvent[]; connect: () => Promise<TdpConnection>; close: () => Promise<void> }> {
  const clock = new SystemClock();
  const random = new SeededRandom(seed + salt);
  const authority = generateAuthorityKeyPair(random);
  const config = loadTestConfig(configToml({ 'gateway.mode': mode, 'template_provider.listen_addr': '127.0.0.1:0', 'template_provider.fee_update_interval_ms': 0 }, authority));
  const source = sourceOverride ?? new EasySource();
  const events: StampedEvent[] = [];
  const stack = await startGatewayStack({ config, templateSource: source, clock, random, provider: nobleProvider, eventLog: false, shareForwarding: false, onEvent: (e) => events.push(e) });
  const conns: TdpConnection[] = [];
  let clientSalt = 0;
  return {
    stack,
    source,
    events,
    connect: async () => {
      const c = await TdpConnection.connect({
        host: HOST,
        port: stack.tdpAddress!.port,
        clock,
        provider: nobleProvider,
        random: new SeededRandom(seed + salt + 500 + clientSalt++),
        certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly },
        constraints: { additionalSizeBytes: 100, additionalSigops: 4 },
      });
      conns.push(c);
      return c;
    },
    close: async () => {
      for (const c of conns) c.abort();
      await stack.stop();
    },
  };
}

describe('template provider listener (real sockets)', () => {
  test('setup, constraints, tip, transaction data, a new tip, and a solution that reaches submitblock', async () => {
    const world = await start(71);
    try {
      assert.notEqual(world.stack.tdpAddress, null, '[template_provider] opens the listener');
      assert.notEqual(world.stack.tdpAddress!.port, world.stack.address.port);
      await until('the first template', STEP_MS, () => (world.stack.gateway.currentJob === null ? undefined : true));
      const tdp = await world.connect();
      const success = await tdp.next('SetupConnectionSuccess', STEP_MS);
      assert.deepEqual([success.usedVersion, success.flags], [2, 0]);
      const nt = await tdp.next('NewTemplate', STEP_MS);
      const prev = await tdp.next('SetNewPrevHashTdp', STEP_MS);
      assert.equal(nt.futureTemplate, true);
      assert.equal(prev.templateId, nt.templateId);
      assert.equal(bytesToHex(Uint8Array.from(prev.prevHash).reverse()), (1).toString(16).padStart(64, '0'));

      tdp.client.requestTransactionData(nt.templateId);
      tdp.flush();
      const data = await tdp.next('RequestTransactionDataSuccess', STEP_MS);
      const fixtureTxs = (GBT['transactions'] as { data: string }[]).map((t) => t.data);
      assert.deepEqual(data.transactionList.map(bytesToHex), fixtureTxs, 'the node\'s transactions, in template order');

      // /status lists the client.
      const status = world.stack.telemetry.status();
      assert.equal(status.template_provider!.clients.length, 1);
      assert.equal(status.template_provider!.clients[0]!.state, 'serving');
      assert.equal(status.template_provider!.clients[0]!.last_template_id, nt.templateId.toString());
      // docs/http-api.md shows exactly these fields.
      const doc = readFileSync(new URL('../../docs/http-api.md', import.meta.url), 'utf8');
      const shown = /"clients": \[\n\s*(\{[\s\S]*?\}) \] \}/.exec(doc)![1]!;
      const documented = JSON.parse(shown) as Record<string, unknown>;
      assert.deepEqual(Object.keys(documented), Object.keys(status.template_provider!.clients[0]!));
      assert.deepEqual(Object.keys(status.template_provider!).sort(), ['clients', 'listen_addr', 'max_clients', 'port']);

      // A solution on this template: the block goes to the source's submitblock.
      const coinbase = poolCoinbase(nt, hexToBytes('0000000000000001'));
      const root = rootFromPath(dsha(coinbase.stripped), nt.merklePath);
      const nonce = findNonce(nt, prev, root, true);
      tdp.client.submitSolution({ templateId: nt.templateId, version: nt.version, headerTimestamp: prev.headerTimestamp, headerNonce: nonce, coinbaseTx: coinbase.full });
      tdp.flush();
      const expected = bytesToHex(concatBytes(headerOf(nt, prev, root, nonce), varint(1 + data.transactionList.length), coinbase.full, ...data.transactionList));
      await until('submitblock', STEP_MS, () => (world.source.submitted.length > 0 ? true : undefined));
      assert.equal(world.source.submitted[0], expected);
      const result = await until('block_submit_result', STEP_MS, () => world.events.find((e) => e.type === 'block_submit_result'));
      assert.equal((result as Extract<StampedEvent, { type: 'block_submit_result' }>).result, 'accepted');
      assert.ok(world.events.some((e) => e.type === 'tdp_solution' && e.result === 'submitted'));

      // Upstream moves on (our block was accepted: the stack polls at once): a new tip arrives.
      world.source.prevIndex = 2;
      await world.stack.poller.pollNow();
      const nt2 = await tdp.next('NewTemplate', STEP_MS);
      const prev2 = await tdp.next('SetNewPrevHashTdp', STEP_MS);
      assert.equal(nt2.futureTemplate, true);
      assert.ok(nt2.templateId > nt.templateId);
      assert.equal(prev2.templateId, nt2.templateId);
      assert.deepEqual(tdp.violations, []);
      const metrics = world.stack.telemetry.metrics.registry.render();
      assert.match(metrics, /reservegrid_tdp_solutions_total\{result="submitted",reason_code="tdp_solution_submitted"\} 1/);
      assert.match(metrics, /reservegrid_tdp_templates_sent_total\{cause="tip"\} 2/);
      assert.match(metrics, /reservegrid_tdp_transaction_data_total\{result="success",reason_code="tdp_transaction_data_sent"\} 1/);
      assert.match(metrics, /reservegrid_tdp_connections_open 1/);
      assert.match(metrics, /reservegrid_blocks_found_total 1/);
      for (const type of ['tdp_connection_opened', 'tdp_connection_setup', 'tdp_constraints', 'tdp_template_sent', 'tdp_transaction_data', 'tdp_solution']) {
        assert.ok(world.events.some((e) => e.type === type), `event ${type}`);
      }
    } finally {
      await world.close();
    }
  }, { timeoutMs: 60_000 });

  test('a TDP client that closes is forgotten (tdp_connection_closed peer_closed); shutdown closes the rest', async () => {
    const world = await start(72);
    try {
      const a = await world.connect();
      await a.next('SetupConnectionSuccess', STEP_MS);
      const b = await world.connect();
      await b.next('SetupConnectionSuccess', STEP_MS);
      a.socket.close();
      await until('peer_closed', STEP_MS, () => world.events.find((e) => e.type === 'tdp_connection_closed' && e.reason_code === 'peer_closed'));
      assert.equal(world.stack.gateway.stats.tdpOpenClients, 1);
    } finally {
      await world.close();
    }
    assert.ok(world.events.some((e) => e.type === 'tdp_connection_closed' && e.reason_code === 'shutdown'));
  }, { timeoutMs: 60_000 });

  test('shadow mode: the Template Provider listener is not opened (no address), like the miner port', async () => {
    const world = await start(73, 'shadow');
    try {
      assert.equal(world.stack.tdpAddress, null);
      assert.equal(world.stack.gateway.templateProviderEnabled, true);
    } finally {
      await world.close();
    }
  }, { timeoutMs: 60_000 });

  test('a RequestTransactionData.Success larger than the miners\' 4 MiB outbound bound reaches the client (TDP bound: 64 MiB)', async () => {
    const source = new BigSource();
    const world = await start(74, 'observe', source);
    try {
      await until('the first template', STEP_MS, () => (world.stack.gateway.currentJob === null ? undefined : true));
      const tdp = await world.connect();
      const nt = await tdp.next('NewTemplate', STEP_MS);
      tdp.client.requestTransactionData(nt.templateId);
      tdp.client.requestTransactionData(nt.templateId);
      tdp.flush();
      const first = await tdp.next('RequestTransactionDataSuccess', 30_000);
      const second = await tdp.next('RequestTransactionDataSuccess', 30_000);
      const bytes = first.transactionList.reduce((n, t) => n + t.length, 0);
      assert.ok(bytes > 4 * 1024 * 1024, `${bytes} bytes of transactions`);
      assert.equal(first.transactionList.length, 13_000);
      assert.equal(second.transactionList.length, 13_000);
      assert.equal(tdp.closed, false);
      assert.ok(!world.events.some((e) => e.type === 'tdp_connection_closed'), 'not closed as a slow consumer');
    } finally {
      await world.close();
    }
  }, { timeoutMs: 120_000 });
});
