// Interop check (h), issue 11 acceptance: SRI's jd_client_sv2 0.6.0 in FULLTEMPLATE mode with
// ReserveGrid as its Template Provider, its pool (mining port, work selection) and its Job
// Declaration Server, on btcd regtest holding REAL mempool transactions, and our SV2 miner behind
// JDC. Driven by run.ts after (g); reuses tp-interop.ts's bounded children and miner.
//
// Set-up: btcd mines 110 blocks to TEST_MINING_KEY (P2WPKH), so the coinbases of blocks 1..10 are
// mature. The test builds and signs spends of them with @scure/btc-signer:
//   tx1    P2WPKH coinbase of block 1 → a P2PKH output + P2WPKH change   (segwit: wtxid ≠ txid)
//   tx2    spends tx1's P2PKH output (legacy scriptSig, no witness)        (wtxid = txid; tx1's child)
//   tx3    P2WPKH coinbase of block 2 → P2WPKH                            (segwit)
//   bad    spends tx3's output; its txid is in A's and B's policy.blocklist_txids
//   cheap  spends tx1's change into 200 P2WPKH outputs: about 25,000 WU for 10,000 sats
//   cheap2 the same shape from the coinbase of block 3
// tx1..tx3 go to btcd (sendrawtransaction) before any gateway starts and must be in btcd's
// getblocktemplate. `bad` and `cheap` are sent later ((h2)/(h3)), `cheap2` later still ((h3)).
//
// Three gateways (adapters/gateway-stack.ts, in process), each with [template_provider],
// [job_declaration] (the docs/job-declaration.md snippet), `mining.allow_work_selection` and
// share forwarding to the real share sink (runtimes/commands/share-sink.ts, HMAC):
//   A  gateway.mode = "inline"    the blocklist
//   B  gateway.mode = "observe"   the blocklist and the fee tier
//   C  gateway.mode = "inline"    the fee tier, no blocklist
// The fee tier: fee_tier_rule = "by_template_weight", one tier `bulk` from 20,000 WU with
// min_avg_fee_sats 20,000 (docs/policy.md: a template lighter than every tier has no fee policy).
// So an empty template and h1's tx1..tx3 have no tier, and only cheap or cheap2 make a template
// heavy enough; {bad, cheap} averages 17,500 and {cheap2} 10,000 sats: both fail the tier. Why
// this shape: a gateway whose own templates all fail its tier releases none on the tip (inline
// keeps the old one: stale hold, and its JDS, which judges declarations on the released
// template's tip, refuses one on the new tip for that, not for its fee); an empty template
// averages 0 and fails any fixed tier with a positive minimum. So C refuses on T1 (below), where
// it released a template before `cheap` came. C has no blocklist because the blocklist is checked
// before the fee tier (core/policy/engine.ts steps 8 and 9): with it, C's refusal would be
// blocklisted_txid.
// The test checks these premises (weights and averages) before anything starts.
//
// (h1) JDC #1 (docs/job-declaration.md snippet `sri-jdc-fulltemplate`): TP, pool and JDS = A.
//      Our miner connects first (JDC opens its pool channel, and so declares, only for its first
//      miner). JDC declares btcd's template (tx1..tx3): jd_declaration_verdict accepted (inline),
//      every wtxid known from A's released template, tx count and total fees = ours;
//      DeclareMiningJob.Success (JDC's log); SetCustomMiningJob accepted on A's mining port
//      (custom_job_accepted joined to the verdict); JDC's shares go share_accepted →
//      share_forward_result ok, the sink counts them new with valid signatures; the block found
//      on the declared job lands in btcd holding exactly the declared transactions = the ones we
//      broadcast (txids), its witness commitment is the one of our wtxids, its coinbase pays A's
//      payout; JDC sends it three ways (share, SubmitSolution, PushSolution): one block_found.
// (h2) `bad` and `cheap` are broadcast once all three gateways released a template on the new
//      tip T1, in a new second; btcd puts them in its template only when it regenerates one on an
//      unchanged tip, 60 s later (btcd v0.26.2 rpcserver.go gbtRegenerateSeconds): the one bounded
//      wait, shared by (h2) and (h3). A (inline) refuses that template (template_verdict
//      blocklisted_txid) and keeps its released one; B (observe) releases it, its verdict
//      blocklisted_txid although its tier fails too (the order); C (inline) refuses it with
//      avg_fee_below_minimum and keeps its released one. JDC #2 takes its templates from B and has
//      two upstreams, [A, B]. It declares the template with `bad` and `cheap` to A: A asks for
//      both (ProvideMissingTransactions: A never released them), computes their fees from tx3's
//      and tx1's outputs (transactions of a template A released) and refuses:
//      DeclareMiningJob.Error `invalid-job` with {"reason_code":"blocklisted_txid"} in
//      error_details, verdict accepted:false enforced:true. JDC's source
//      (channel_manager/jd_message_handler.rs handle_declare_mining_job_error): any code but
//      stale-chain-tip is a fallback; jdc_runtime.rs then drops pool, JDS and miners and tries the
//      next configured upstream (a used one is flagged), solo mining only when none is left; its
//      new channel manager waits for the next tip. Our miner makes that tip T2 on A's own job
//      (empty); btcd's template for it carries `bad` and `cheap`; JDC declares it to B (observe):
//      .Success with a logged rejection (accepted:false, enforced:false, answered_success:true,
//      blocklisted_txid), SetCustomMiningJob accepted on B, shares there, and the block T3 (with
//      `bad` and `cheap`: observe does not enforce) lands in btcd.
// (h3) JDC #3 runs beside JDC #2: templates from B, upstreams [C, B]. On T1 it declares the same
//      template to C, which asks for both transactions, prices them from the outputs they spend
//      and refuses: DeclareMiningJob.Error `invalid-job`, error_details {"reason_code":
//      "avg_fee_below_minimum","reason_detail":"avg_fee=17500 < min_avg_fee_used=20000"}, verdict
//      accepted:false enforced:true, total_fees_sats 35000, policy_context {fee_tier: "bulk",
//      min_avg_fee_used: 20000}. JDC #3 falls back to B and waits for the next tip like JDC #2;
//      it gets no miner until T3. `cheap2` is broadcast after btcd built T2's template and before
//      T3 is mined, so btcd's template for T3 holds cheap2 alone. JDC #2 is stopped; our miner
//      connects to JDC #3, which declares that template to B (observe): .Success with a logged
//      rejection (accepted:false, enforced:false, answered_success:true, avg_fee_below_minimum
//      "avg_fee=10000 < min_avg_fee_used=20000", the same policy_context, btcd's proposal valid);
//      its SetCustomMiningJob is accepted on B, shares arrive there, and the block with cheap2 (and
//      nothing else) lands in btcd.
//
// Bounds: each SRI app is killed after 120 s (tp-interop.ts), every wait is bounded and names
// what did not arrive; everything binds or connects to 127.0.0.1.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import * as btc from '@scure/btc-signer';
import { stringify as stringifyToml } from 'smol-toml';
import { SystemClock } from '../../adapters/clock.ts';
import type { StampedEvent } from '../../adapters/gateway-server.ts';
import { startGatewayStack, type GatewayStack } from '../../adapters/gateway-stack.ts';
import { systemRandom } from '../../adapters/random.ts';
import { bytesToHex, hexToBytes } from '../../core/bytes.ts';
import { loadConfig } from '../../core/config/load.ts';
import type { CryptoProvider } from '../../core/crypto/provider.ts';
import { hashToDisplayHex } from '../../core/mining/target.ts';
import { generateAuthorityKeyPair, type AuthorityKeyPair } from '../../core/noise/index.ts';
import { witnessCommitmentScript, witnessCommitment } from '../../core/template/template.ts';
import { startShareSink, type ShareSinkServer } from '../../runtimes/commands/share-sink.ts';
import { BtcdNode, TEST_MINING_KEY, findBtcd, freeLoopbackPort } from '../../test/support/btcd.ts';
import { btcdGatewayToml } from '../../test/support/btcd-run.ts';
import { binaryPath, installBundle, SRI_APPS_BUNDLE, type Report } from './sri-apps.ts';
import { anyEvent, blockAt, connectMiner, mineUntilBlock, RUN_DIR, startApp, summarize, waitFor, type App, type Miner } from './tp-interop.ts';
import { docSnippet, JDC_FULLTEMPLATE_KEYS, JDC_UPSTREAM_KEYS, JOB_DECLARATION_DOC, RESERVEGRID_JDS_KEYS, scriptOfAddrDescriptor, snippetKeyProblems, type TomlTable } from './tp-doc-snippets.ts';

const JDC_BIN = binaryPath(SRI_APPS_BUNDLE, 'jd_client_sv2');

const APP_READY_MS = 30_000;
const DECLARE_MS = 30_000;
const BLOCK_MS = 45_000;
/** btcd regenerates a template on an unchanged tip 60 s after the last one; plus slack. */
const REGENERATE_MS = 80_000;
const SHARE_SECRET = 'interop-jds-share-secret-0123';

/** Fees of the test's transactions (sats). */
const FEE_1 = 20_000n;
const FEE_2 = 15_000n;
const FEE_3 = 30_000n;
const FEE_BAD = 25_000n;
const FEE_CHEAP = 10_000n;
const FEE_CHEAP2 = 10_000n;
const COINBASE_SATS = 5_000_000_000n;
const P2PKH_SATS = 1_000_000_000n;

/**
 * The fee tier of gateways B and C ((h3)), `policy.fee_tier_rule = "by_template_weight"`: templates
 * of at least BULK_MIN_WEIGHT weight units must average BULK_MIN_AVG_FEE sats per transaction;
 * lighter ones have no tier (docs/policy.md: no tier at or below the weight = no fee policy), so
 * the empty templates of a fresh tip and h1's tx1..tx3 pass. Only `cheap` and `cheap2` (BULK_OUTPUTS
 * P2WPKH outputs each, about 25,000 WU) make a template that heavy.
 */
const BULK_TIER = 'bulk';
const BULK_MIN_WEIGHT = 20_000;
const BULK_MIN_AVG_FEE = 20_000;
const BULK_OUTPUTS = 200;
const BULK_OUTPUT_SATS = 1_000_000n;

// ---- transactions ----------------------------------------------------------------------------

interface BuiltTx {
  readonly name: string;
  readonly hex: string;
  /** Display order (as RPCs print them). */
  readonly txid: string;
  readonly wtxid: string;
  readonly feeSats: bigint;
  readonly segwit: boolean;
  /** BIP141 weight units. */
  readonly weight: number;
}

const P2WPKH = btc.p2wpkh(TEST_MINING_KEY.publicKey);
const P2PKH = btc.p2pkh(TEST_MINING_KEY.publicKey);

function built(name: string, tx: btc.Transaction, feeSats: bigint): BuiltTx {
  tx.sign(TEST_MINING_KEY.privateKey);
  tx.finalize();
  const wtxid = hashToDisplayHex(sha256(sha256(tx.toBytes(true, tx.hasWitnesses))));
  return { name, hex: tx.hex, txid: tx.id, wtxid, feeSats, segwit: tx.hasWitnesses, weight: tx.weight };
}

/** The coinbase txid (display) of block `height`, paying TEST_MINING_KEY COINBASE_SATS at vout 0. */
async function coinbaseOf(node: BtcdNode, height: number): Promise<string> {
  const block = await blockAt(node, (await node.rpc('getblockhash', [height])) as string);
  const cb = block.transactions[0]!;
  if (cb.outputs[0]?.valueSats !== COINBASE_SATS || bytesToHex(cb.outputs[0].scriptPubKey) !== bytesToHex(TEST_MINING_KEY.scriptPubKey)) {
    throw new Error(`block ${height}'s coinbase does not pay ${COINBASE_SATS} sats to TEST_MINING_KEY at vout 0`);
  }
  return hashToDisplayHex(cb.txid);
}

/** The policy transactions of (h2) and (h3). */
interface PolicyTxs {
  readonly bad: BuiltTx;
  readonly cheap: BuiltTx;
  readonly cheap2: BuiltTx;
}

/** A P2WPKH spend into BULK_OUTPUTS P2WPKH outputs (the last one the change), paying `feeSats`. */
function bulky(name: string, input: { txid: string; index: number; amountSats: bigint }, feeSats: bigint): BuiltTx {
  const tx = new btc.Transaction({ version: 2 });
  tx.addInput({ txid: input.txid, index: input.index, witnessUtxo: { script: P2WPKH.script, amount: input.amountSats } });
  for (let i = 0; i < BULK_OUTPUTS - 1; i++) tx.addOutput({ script: P2WPKH.script, amount: BULK_OUTPUT_SATS });
  tx.addOutput({ script: P2WPKH.script, amount: input.amountSats - BigInt(BULK_OUTPUTS - 1) * BULK_OUTPUT_SATS - feeSats });
  return built(name, tx, feeSats);
}

async function buildTransactions(node: BtcdNode): Promise<{ good: BuiltTx[] } & PolicyTxs> {
  const spendCoinbase = (txid: string, outputs: { script: Uint8Array; amount: bigint }[]): btc.Transaction => {
    const tx = new btc.Transaction({ version: 2 });
    tx.addInput({ txid, index: 0, witnessUtxo: { script: P2WPKH.script, amount: COINBASE_SATS } });
    for (const o of outputs) tx.addOutput(o);
    return tx;
  };
  const tx1raw = spendCoinbase(await coinbaseOf(node, 1), [
    { script: P2PKH.script, amount: P2PKH_SATS },
    { script: P2WPKH.script, amount: COINBASE_SATS - P2PKH_SATS - FEE_1 },
  ]);
  const tx1 = built('tx1 (P2WPKH → P2PKH + P2WPKH)', tx1raw, FEE_1);
  const tx2raw = new btc.Transaction({ version: 2 });
  tx2raw.addInput({ txid: tx1.txid, index: 0, nonWitnessUtxo: hexToBytes(tx1.hex) });
  tx2raw.addOutput({ script: P2WPKH.script, amount: P2PKH_SATS - FEE_2 });
  const tx2 = built('tx2 (P2PKH child of tx1)', tx2raw, FEE_2);
  const tx3 = built('tx3 (P2WPKH → P2WPKH)', spendCoinbase(await coinbaseOf(node, 2), [{ script: P2WPKH.script, amount: COINBASE_SATS - FEE_3 }]), FEE_3);
  const badRaw = new btc.Transaction({ version: 2 });
  badRaw.addInput({ txid: tx3.txid, index: 0, witnessUtxo: { script: P2WPKH.script, amount: COINBASE_SATS - FEE_3 } });
  badRaw.addOutput({ script: P2WPKH.script, amount: COINBASE_SATS - FEE_3 - FEE_BAD });
  const bad = built('bad (spends tx3; txid blocklisted)', badRaw, FEE_BAD);
  // cheap spends tx1's change (vout 1): C never releases a template with cheap, so C prices it
  // from that output, which is in the template C released at the start (tx1..tx3).
  const cheap = bulky('cheap (spends tx1\'s change; heavy, low fee)', { txid: tx1.txid, index: 1, amountSats: COINBASE_SATS - P2PKH_SATS - FEE_1 }, FEE_CHEAP);
  // cheap2 spends the coinbase of block 3; B prices it from its own released template.
  const cheap2 = bulky('cheap2 (P2WPKH coinbase of block 3; heavy, low fee)', { txid: await coinbaseOf(node, 3), index: 0, amountSats: COINBASE_SATS }, FEE_CHEAP2);
  return { good: [tx1, tx2, tx3], bad, cheap, cheap2 };
}

async function broadcast(node: BtcdNode, tx: BuiltTx): Promise<void> {
  const txid = (await node.rpc('sendrawtransaction', [tx.hex])) as string;
  if (txid !== tx.txid) throw new Error(`btcd answered txid ${txid} for ${tx.name}, we computed ${tx.txid}`);
}

// ---- gateways --------------------------------------------------------------------------------

type GwName = 'A' | 'B' | 'C';

interface Gw {
  readonly name: GwName;
  readonly mode: 'inline' | 'observe';
  readonly stack: GatewayStack;
  readonly events: StampedEvent[];
  readonly keys: AuthorityKeyPair;
  readonly tpPort: number;
  readonly miningPort: number;
  readonly jdPort: number;
}

const typeCounts = (events: readonly StampedEvent[]): string => JSON.stringify(events.reduce<Record<string, number>>((acc, e) => ((acc[e.type] = (acc[e.type] ?? 0) + 1), acc), {}));
const ev = (gw: Gw, type: string, from = 0): Record<string, unknown>[] => gw.events.slice(from).map(anyEvent).filter((e) => e['type'] === type);

/** [policy] of a gateway: the blocklist ((h2)) and/or the `bulk` fee tier ((h3)). */
interface GwPolicy {
  readonly blocklistTxids: readonly string[];
  readonly bulkTier: boolean;
}

const GATEWAY_IDS: Record<GwName, number> = { A: 21, B: 22, C: 23 };

async function startGateway(name: GwName, mode: 'inline' | 'observe', node: BtcdNode, sink: ShareSinkServer, policy: GwPolicy, provider: CryptoProvider): Promise<Gw> {
  const keys = generateAuthorityKeyPair(systemRandom);
  // The ReserveGrid side is the doc's snippet ([mining] allow_work_selection, [job_declaration]),
  // with the port replaced by 0 (kernel-chosen).
  const doc = docSnippet('reservegrid-jds', undefined, JOB_DECLARATION_DOC).table;
  const toml = btcdGatewayToml(node, keys, {
    gateway: { mode, id: GATEWAY_IDS[name], upstream_failure_policy: 'fail_closed', http_api_key: 'interop-api-key-not-used' },
    timing: { job_broadcast_interval_ms: 50, prevhash_stale_hold_ms: 30_000 },
    share: { share_upstream_url: sink.url, share_upstream_secret: SHARE_SECRET },
    // Every hash a share on JDC's extended channel (regtest: about every other hash a block).
    mining: { ...(doc['mining'] as TomlTable), min_difficulty: 1e-12, shares_per_minute: 600, vardiff_enabled: false, share_ack_batch_size: 1 },
    policy: {
      subsidy_halving_interval: 150,
      blocklist_txids: [...policy.blocklistTxids],
      ...(policy.bulkTier ? { fee_tier_rule: 'by_template_weight', fee_tiers: [{ name: BULK_TIER, min_template_weight: BULK_MIN_WEIGHT, min_avg_fee_sats: BULK_MIN_AVG_FEE }] } : {}),
    },
    template_provider: { listen_addr: '127.0.0.1:0' },
    job_declaration: { ...(doc['job_declaration'] as TomlTable), listen_addr: '127.0.0.1:0' },
  });
  const loaded = loadConfig({ tomlText: toml, fileName: `jds-interop-${name}.toml`, env: {} });
  if (!loaded.ok) throw new Error(`gateway ${name} config: ${loaded.problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
  const events: StampedEvent[] = [];
  const stack = await startGatewayStack({
    config: loaded.config, clock: new SystemClock(), random: systemRandom, provider, eventLog: false, shareForwarding: { journal: 'memory' },
    onEvent: (e) => {
      if (events.length < 200_000) events.push(e);
    },
  });
  if (stack.tdpAddress === null || stack.jdAddress === null) throw new Error(`gateway ${name}: no Template Provider or Job Declaration listener`);
  return { name, mode, stack, events, keys, tpPort: stack.tdpAddress.port, miningPort: stack.address.port, jdPort: stack.jdAddress.port };
}

// ---- JDC -------------------------------------------------------------------------------------

interface Jdc {
  readonly app: App;
  readonly port: number;
  readonly keys: AuthorityKeyPair;
  readonly payoutScript: Uint8Array;
}

function startJdc(label: string, tp: Gw, upstreams: readonly Gw[], port: number): Jdc {
  const snippet = docSnippet('sri-jdc-fulltemplate', undefined, JOB_DECLARATION_DOC);
  const keys = generateAuthorityKeyPair(systemRandom);
  const table = structuredClone(snippet.table) as TomlTable;
  table['authority_public_key'] = keys.publicKey;
  table['authority_secret_key'] = keys.secretKeyText;
  table['listening_address'] = `127.0.0.1:${port}`;
  const sv2tp = (table['template_provider_type'] as TomlTable)['Sv2Tp'] as TomlTable;
  sv2tp['address'] = `127.0.0.1:${tp.tpPort}`;
  sv2tp['public_key'] = tp.keys.publicKey;
  // The doc's one upstream, once per gateway: pool = the mining port, JDS = the JD port, both
  // pinned to that gateway's authority key; later entries are JDC's fallbacks, in order.
  const template = (table['upstreams'] as TomlTable[])[0]!;
  table['upstreams'] = upstreams.map((gw) => ({ ...template, authority_pubkey: gw.keys.publicKey, pool_address: '127.0.0.1', pool_port: gw.miningPort, jds_address: '127.0.0.1', jds_port: gw.jdPort }));
  mkdirSync(RUN_DIR, { recursive: true });
  const path = join(RUN_DIR, `${label}.toml`);
  writeFileSync(path, `# Written by conformance/interop/jds-interop.ts from docs/job-declaration.md (snippet sri-jdc-fulltemplate); loopback only.\n${stringifyToml(table)}`);
  const app = startApp(`jd_client_sv2 (${label})`, JDC_BIN, path);
  return { app, port, keys, payoutScript: scriptOfAddrDescriptor(String(table['coinbase_reward_script'])) };
}

/** JDC's downstream port accepts our miner once JDC runs (it listens after its upstream set-up). */
async function connectMinerToJdc(jdc: Jdc, provider: CryptoProvider, timeoutMs: number): Promise<Miner> {
  let last = '';
  return waitFor(`our miner to open a channel on ${jdc.app.name} (last error: ${last})`, timeoutMs, async () => {
    if (jdc.app.exitCode() !== undefined) throw new Error(`${jdc.app.name} exited (${jdc.app.exitCode()}):\n${jdc.app.output().slice(-3000)}`);
    try {
      return await connectMiner(jdc.port, jdc.keys.publicKeyXOnly, 'interop-jdc-miner', provider);
    } catch (error) {
      last = (error as Error).message;
      return undefined;
    }
  }, 500);
}

const logHas = (app: App, re: RegExp): boolean => app.lines().some((l) => re.test(l));

/** JDC's log lines for a received DeclareMiningJob.Error. */
function loggedDeclareErrors(app: App): string[] {
  return app.lines().filter((l) => /DeclareMiningJobError|DeclareMiningJob\.Error/.test(l) && /Received/.test(l)).map((l) => l.slice(0, 600));
}

/** error_details of a logged DeclareMiningJobError (`B064K(<hex>)`), parsed as our JSON. */
function errorDetails(line: string): Record<string, unknown> | undefined {
  const hex = /error_details: B064K\(([0-9a-f]*)\)/.exec(line)?.[1];
  if (hex === undefined) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(hexToBytes(hex))) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

// ---- (h1) ------------------------------------------------------------------------------------

async function declaredBlock(report: Report, a: Gw, node: BtcdNode, sink: ShareSinkServer, good: readonly BuiltTx[], provider: CryptoProvider): Promise<string | undefined> {
  const label = '(h1) SRI jd_client_sv2 0.6.0 FULLTEMPLATE on ReserveGrid (TP + pool + JDS, inline)';
  const jdc = startJdc('jdc-fulltemplate', a, [a], await freeLoopbackPort());
  let miner: Miner | undefined;
  try {
    // JDC opens its channel on the pool, and so declares, only once a miner connects to it
    // (channel_manager: the upstream channel is opened for the first downstream).
    miner = await connectMinerToJdc(jdc, provider, APP_READY_MS);
    // JDC declares btcd's template; A judges it (inline) and answers Success.
    const dp: string[] = [];
    const feeSum = good.reduce((s, t) => s + t.feeSats, 0n);
    const verdict = await waitFor(`a jd_declaration_verdict on A with our ${good.length} transactions`, DECLARE_MS, () => {
      if (jdc.app.exitCode() !== undefined) throw new Error(`${jdc.app.name} exited (${jdc.app.exitCode()}):\n${jdc.app.output().slice(-3000)}`);
      return ev(a, 'jd_declaration_verdict').find((e) => e['tx_count'] === good.length);
    }, 100).catch((e: Error) => {
      dp.push(e.message, `verdicts: ${summarize(ev(a, 'jd_declaration_verdict'))}`, `JDC (tail): ${jdc.app.output().slice(-2500)}`);
      return undefined;
    });
    if (verdict !== undefined) {
      if (verdict['accepted'] !== true || verdict['answered_success'] !== true || verdict['enforced'] !== true || verdict['mode'] !== 'inline') dp.push(`verdict ${JSON.stringify(verdict)}`);
      // Every declared wtxid resolved against the template A released (btcd's transactions = ours).
      if (verdict['missing_count'] !== 0) dp.push(`verdict missing_count ${verdict['missing_count']}: A did not know every declared wtxid from its released template`);
      if (String(verdict['total_fees_sats']) !== String(feeSum)) dp.push(`verdict total_fees_sats ${verdict['total_fees_sats']}, our transactions pay ${feeSum}`);
      if (verdict['prev_hash'] !== (await node.rpc('getbestblockhash'))) dp.push(`verdict prev_hash ${verdict['prev_hash']} is not btcd's tip`);
      // The node's BIP23 proposal is part of the verdict (job_declaration.block_proposals, on by
      // default): btcd must have judged JDC's declared block valid before A answered Success.
      const context = verdict['policy_context'] as Record<string, unknown> | undefined;
      if (context?.['proposal_result'] !== 'valid') dp.push(`verdict policy_context.proposal_result ${JSON.stringify(context?.['proposal_result'])}, expected "valid" (btcd's BIP23 proposal): ${JSON.stringify(context).slice(0, 400)}`);
      await waitFor('JDC to log DeclareMiningJob.Success', 5_000, () => (logHas(jdc.app, /Received:.*DeclareMiningJobSuccess|Received:.*DeclareMiningJob\.Success/) ? true : undefined)).catch((e: Error) => dp.push(e.message));
    }
    report(`${label}: JDC declares btcd's template (${good.map((t) => t.name.split(' ')[0]).join(', ')}: ${good.length} transactions, ${feeSum} sats of fees); jd_declaration_verdict accepted (inline; every wtxid one of A's released template, none missing; fees = ours; btcd's tip; btcd's BIP23 proposal: valid); JDC logs DeclareMiningJob.Success`, dp);

    // SetCustomMiningJob from JDC on A's mining port, joined to the verdict.
    const cp: string[] = [];
    const custom = await waitFor('custom_job_accepted on A for the declared job', DECLARE_MS, () =>
      ev(a, 'custom_job_accepted').find((e) => verdict !== undefined && e['declaration_id'] === verdict['declaration_id']), 100).catch((e: Error) => {
      cp.push(e.message, `custom jobs: ${summarize([...ev(a, 'custom_job_accepted'), ...ev(a, 'custom_job_rejected')])}`);
      return undefined;
    });
    if (custom !== undefined && custom['transactions_known'] !== true) cp.push(`custom_job_accepted ${JSON.stringify(custom)}: transactions_known false`);
    if (ev(a, 'custom_job_rejected').length > 0) cp.push(`custom_job_rejected: ${summarize(ev(a, 'custom_job_rejected'))}`);
    report(`${label}: JDC's SetCustomMiningJob with the declared token is accepted on the mining port (custom_job_accepted, declaration_id = the verdict's, transactions known)`, cp);

    // Our miner behind JDC mines on JDC's job from the declared template until a block.
    const mined = await mineUntilBlock(miner, node, BLOCK_MS);
    const bestHash: string | undefined = mined.bestHash;
    console.log(`#   ${mined.shares} shares to JDC, block shares ${mined.blockShares.join(', ')}`);

    // Shares JDC forwarded on its extended channel: the HMAC lifecycle to the real sink.
    const sp: string[] = [];
    const accepted = ev(a, 'share_accepted').filter((e) => custom !== undefined && e['conn_id'] === custom['conn_id']);
    if (accepted.length === 0) sp.push(`no share_accepted on JDC's connection: ${summarize([...ev(a, 'share_accepted'), ...ev(a, 'share_rejected')])}`);
    const ids = new Set(accepted.map((e) => String(e['share_id'])));
    await waitFor(`share_forward_result for all ${ids.size} shares`, 10_000, () => (ev(a, 'share_forward_result').filter((e) => ids.has(String(e['share_id']))).length >= ids.size ? true : undefined)).catch((e: Error) => sp.push(e.message));
    const results = ev(a, 'share_forward_result').filter((e) => ids.has(String(e['share_id'])));
    const notOk = results.filter((r) => r['status'] !== 'ok');
    if (notOk.length > 0) sp.push(`share_forward_result not ok: ${summarize(notOk)}`);
    if (Object.keys(sink.stats.refused).length > 0) sp.push(`the sink refused signatures: ${JSON.stringify(sink.stats.refused)}`);
    if (sink.stats.sharesNew < ids.size) sp.push(`the sink counted ${sink.stats.sharesNew} new shares, A accepted ${ids.size} from JDC`);
    report(`${label}: JDC's shares on the declared job: share_accepted (${ids.size}) → share_forward_result ok, signatures verified and counted new by the share sink`, sp);

    // The block: in btcd, exactly the declared transactions = ours.
    const bp: string[] = [];
    if (bestHash === undefined) bp.push('no block');
    else {
      await waitFor(`block_submit_result for ${bestHash} on A`, 5_000, () => (ev(a, 'block_submit_result').some((e) => e['block_hash'] === bestHash) ? true : undefined)).catch((e: Error) => bp.push(e.message));
      // JDC sends the block three ways (jd_client_sv2 downstream_message_handler.rs): the share
      // upstream (our never-lost path), SubmitSolution to its TP and PushSolution to its JDS.
      // One block, one submission (core/gateway/gateway.ts #firstSubmission): one block_found,
      // one block_submit_result, accepted.
      await new Promise((r) => setTimeout(r, 500)); // the other two paths arrive meanwhile
      const results = ev(a, 'block_submit_result').filter((e) => e['block_hash'] === bestHash);
      const found = ev(a, 'block_found').filter((e) => e['block_hash'] === bestHash);
      const paths = [...found, ...ev(a, 'tdp_solution'), ...results].filter((e) => e['block_hash'] === bestHash);
      console.log(`#   block ${bestHash.slice(0, 16)}… on A: ${paths.map((e) => `${e['type']}${e['result'] === undefined ? '' : `=${e['result']}`}`).join(', ')}`);
      if (results.length !== 1 || results[0]!['result'] !== 'accepted' || found.length !== 1) bp.push(`expected one block_found and one block_submit_result accepted: ${summarize(paths)}`);
      const block = await blockAt(node, bestHash);
      const txs = block.transactions.slice(1);
      const inBlock = txs.map((t) => hashToDisplayHex(t.txid));
      const ours = good.map((t) => t.txid);
      if ([...inBlock].sort().join() !== [...ours].sort().join()) bp.push(`block txids ${inBlock.join(', ')}; we broadcast ${ours.join(', ')}`);
      if (verdict !== undefined && txs.length !== verdict['tx_count']) bp.push(`block has ${txs.length} transactions, the declaration ${verdict['tx_count']}`);
      const wtxidsInBlock = txs.map((t) => hashToDisplayHex(t.wtxid));
      for (const t of good) if (!wtxidsInBlock.includes(t.wtxid)) bp.push(`${t.name}: wtxid ${t.wtxid} not in the block (${wtxidsInBlock.join(', ')})`);
      if (!good.some((t) => t.segwit && t.wtxid !== t.txid) || !good.some((t) => !t.segwit && t.wtxid === t.txid)) bp.push('the transaction mix lacks a segwit (wtxid ≠ txid) or a legacy (wtxid = txid) one');
      // The coinbase JDC declared commits to the wtxids (the JDS checked that against the
      // declared wtxid_list): recompute the commitment from OUR wtxids in block order.
      const expected = bytesToHex(witnessCommitmentScript(witnessCommitment(txs.map((t) => t.wtxid))));
      const coinbase = block.transactions[0]!;
      if (!coinbase.outputs.some((o) => bytesToHex(o.scriptPubKey) === expected)) bp.push(`coinbase has no witness commitment to our wtxids (${expected})`);
      const pool = coinbase.outputs.filter((o) => bytesToHex(o.scriptPubKey) === bytesToHex(TEST_MINING_KEY.scriptPubKey));
      const paid = pool.reduce((s, o) => s + o.valueSats, 0n);
      if (paid !== COINBASE_SATS + feeSum) bp.push(`coinbase pays A's payout ${paid} sats, expected subsidy + fees = ${COINBASE_SATS + feeSum}`);
    }
    report(`${label}: a block found on the declared job lands in btcd (${bestHash?.slice(0, 16) ?? '?'}…) with exactly the declared transactions (txids = what we broadcast, wtxids in its witness commitment, segwit and legacy), its coinbase paying A's payout subsidy + fees; one block_found and one submission on A although JDC sends it three ways`, bp);
    // (h2) builds on a working declared-job path.
    return custom === undefined ? undefined : bestHash;
  } catch (error) {
    report(`${label}: ran to the end`, [(error as Error).message, `${jdc.app.name} output (tail): ${jdc.app.output().slice(-3000)}`]);
    return undefined;
  } finally {
    miner?.conn.close();
    await jdc.app.kill();
    writeFileSync(join(RUN_DIR, 'jdc-fulltemplate.log'), jdc.app.output());
  }
}

// ---- (h2) and (h3) ---------------------------------------------------------------------------

/** The gateway released a template on `tip` (its work switched to that prev hash). */
const releasedOn = (gw: Gw, tip: string): boolean =>
  ev(gw, 'prevhash_switch').some((e) => e['prev_hash'] === tip) || ev(gw, 'tdp_template_sent').some((e) => e['prev_hash'] === tip);

/** The first template_verdict since `from` whose verdict has `reasonCode`. */
const verdictWith = (gw: Gw, from: number, reasonCode: string): Record<string, unknown> | undefined =>
  ev(gw, 'template_verdict', from).find((e) => (e['verdict'] as { reason_code?: string } | undefined)?.reason_code === reasonCode);

/** Problems of `got` against every key of `want` (exact values). */
function mismatches(what: string, got: Record<string, unknown>, want: Record<string, unknown>): string[] {
  return Object.entries(want)
    .filter(([k, v]) => JSON.stringify(got[k]) !== JSON.stringify(v))
    .map(([k, v]) => `${what} ${k} = ${JSON.stringify(got[k])}, expected ${JSON.stringify(v)}: ${JSON.stringify(got).slice(0, 600)}`);
}

/** The `bulk` tier's refusal of these transactions, exactly (core/policy/engine.ts step 9). */
function bulkRefusal(txs: readonly BuiltTx[]): { reason_code: string; reason_detail: string; policy_context: Record<string, unknown> } {
  const avg = txs.reduce((s, t) => s + t.feeSats, 0n) / BigInt(txs.length);
  return {
    reason_code: 'avg_fee_below_minimum',
    reason_detail: `avg_fee=${avg} < min_avg_fee_used=${BULK_MIN_AVG_FEE}`,
    policy_context: { fee_tier: BULK_TIER, min_avg_fee_used: BULK_MIN_AVG_FEE },
  };
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => [...a].sort().join() === [...b].sort().join();

async function refusedAndFallback(report: Report, gws: { a: Gw; b: Gw; c: Gw }, node: BtcdNode, t: PolicyTxs, provider: CryptoProvider): Promise<void> {
  const { a, b, c } = gws;
  const label = '(h2) a declaration with a blocklisted transaction';
  const feeLabel = '(h3) a declaration below its fee tier';
  const declared1 = [t.bad, t.cheap];
  const feeWant1 = bulkRefusal(declared1);
  const feeWant3 = bulkRefusal([t.cheap2]);
  // Every gateway released a template on the current tip before `bad` and `cheap` exist anywhere:
  // the tip the inline JDSes A and C judge the declarations on (a refused template leaves it).
  const tip = (await node.rpc('getbestblockhash')) as string;
  for (const gw of [a, b, c]) await waitFor(`gateway ${gw.name} to release a template on btcd's tip ${tip}`, 20_000, () => (releasedOn(gw, tip) ? true : undefined), 100);
  // btcd compares the mempool's last-update time in whole SECONDS (mempool.go stores
  // time.Now().Unix()): a transaction accepted in the same second as the block's removal of
  // tx1..tx3 leaves that time unchanged and btcd never regenerates its template on this tip
  // (seen in this check). So the broadcast waits for the next second.
  await new Promise((r) => setTimeout(r, 1_100));
  const aFrom = a.events.length;
  const bFrom = b.events.length;
  const cFrom = c.events.length;
  for (const tx of declared1) await broadcast(node, tx);
  const broadcastAt = Date.now();
  console.log(`#   broadcast ${t.bad.name} ${t.bad.txid} and ${t.cheap.name} ${t.cheap.txid} (${t.cheap.weight} WU); waiting for btcd's next template on the same tip (≤ ${REGENERATE_MS / 1000} s)`);
  // One wait (btcd's 60 s) for both checks: A and B judge `bad` first (the blocklist is step 8,
  // the fee tier step 9: B's verdict names the blocklist although the tier fails too); C, with no
  // blocklist, refuses the same template for its fee tier.
  const tp: string[] = [];
  const tpWaited = await waitFor(`template_verdicts blocklisted_txid on A and B and avg_fee_below_minimum on C (btcd's template with ${t.bad.txid} and ${t.cheap.txid})`, REGENERATE_MS, () =>
    verdictWith(a, aFrom, 'blocklisted_txid') !== undefined && verdictWith(b, bFrom, 'blocklisted_txid') !== undefined && verdictWith(c, cFrom, 'avg_fee_below_minimum') !== undefined ? true : undefined, 200)
    .catch((e: Error) => (tp.push(e.message, ...[a, b, c].map((gw) => `${gw.name}: ${summarize(ev(gw, 'template_verdict', gw === a ? aFrom : gw === b ? bFrom : cFrom))}`), `A's events since: ${typeCounts(a.events.slice(aFrom))}`), false));
  if (!tpWaited) {
    const gbt = (await node.rpc('getblocktemplate', [{ rules: ['segwit'] }])) as { transactions: { txid?: string; hash: string }[]; previousblockhash: string };
    tp.push(`btcd now: mempool ${JSON.stringify(await node.rpc('getrawmempool'))}, getblocktemplate on ${gbt.previousblockhash} has ${gbt.transactions.map((x) => x.txid ?? x.hash).join(', ') || 'no transactions'}; A's poller ${JSON.stringify(a.stack.poller.stats)}`);
  } else {
    console.log(`#   btcd's template with ${t.bad.name.split(' ')[0]} and ${t.cheap.name.split(' ')[0]} judged by A, B and C ${((Date.now() - broadcastAt) / 1000).toFixed(1)} s after the broadcast`);
  }
  const cVerdict = verdictWith(c, cFrom, 'avg_fee_below_minimum');
  const tfp: string[] = [];
  if (cVerdict !== undefined) {
    tfp.push(...mismatches('C template_verdict', cVerdict, { enforced: true, mode: 'inline' }), ...mismatches('C template_verdict.verdict', cVerdict['verdict'] as Record<string, unknown>, { accepted: false, ...feeWant1 }));
  }
  report(`${label}: btcd's template with it (txid in policy.blocklist_txids) is refused by A (inline) and released with a logged rejection by B (observe): template_verdict blocklisted_txid on both`, tp);
  report(`${feeLabel}: the same template (${t.cheap.name.split(' ')[0]}: ${t.cheap.weight} WU, ${FEE_CHEAP} sats) is refused by C (inline, tier "${BULK_TIER}" from ${BULK_MIN_WEIGHT} WU, no blocklist): template_verdict ${feeWant1.reason_code} "${feeWant1.reason_detail}", policy_context ${JSON.stringify(feeWant1.policy_context)}`, [...(tpWaited ? [] : tp), ...tfp]);
  if (!tpWaited) return;

  // JDC #2 (h2): templates from B, upstreams [A, B]. JDC #3 (h3): templates from B, upstreams
  // [C, B]. Both declare btcd's template with `bad` and `cheap`, on the same tip.
  const jdc = startJdc('jdc-fallback', b, [a, b], await freeLoopbackPort());
  const feeJdc = startJdc('jdc-fee', b, [c, b], await freeLoopbackPort());
  let miner: Miner | undefined;
  let feeMiner: Miner | undefined;
  let jdcKilled = false;
  try {
    const [m2, m3] = await Promise.allSettled([connectMinerToJdc(jdc, provider, APP_READY_MS), connectMinerToJdc(feeJdc, provider, APP_READY_MS)]);
    if (m2.status === 'fulfilled') miner = m2.value;
    if (m3.status === 'fulfilled') feeMiner = m3.value;
    if (m2.status === 'rejected') throw m2.reason;
    if (m3.status === 'rejected') throw m3.reason;
    const refusal = async (gw: Gw, from: number, app: App, want: Record<string, unknown>, context: Record<string, unknown>, problems: string[]): Promise<Record<string, unknown> | undefined> => {
      const refused = await waitFor(`a refusing jd_declaration_verdict on ${gw.name}`, DECLARE_MS, () => {
        if (app.exitCode() !== undefined) throw new Error(`${app.name} exited (${app.exitCode()}):\n${app.output().slice(-3000)}`);
        return ev(gw, 'jd_declaration_verdict', from).find((e) => e['accepted'] === false);
      }, 100).catch((e: Error) => {
        problems.push(e.message, `${gw.name} verdicts: ${summarize(ev(gw, 'jd_declaration_verdict', from))}`, `JDC (tail): ${app.output().slice(-2500)}`);
        return undefined;
      });
      if (refused === undefined) return undefined;
      problems.push(...mismatches('verdict', refused, { answered_success: false, enforced: true, mode: 'inline', wire: 'invalid-job', ...want }));
      problems.push(...mismatches('verdict policy_context', refused['policy_context'] as Record<string, unknown>, context));
      if (!ev(gw, 'jd_missing_transactions', from).some((e) => e['conn_id'] === refused['conn_id'])) problems.push(`${gw.name} did not ask JDC for the transactions it never released (no jd_missing_transactions)`);
      // JDC's log: SRI's code string and our reason code in error_details.
      const code = String(want['reason_code']);
      await waitFor(`${app.name} to log the DeclareMiningJob.Error with reason_code ${code}`, 5_000, () => (loggedDeclareErrors(app).some((l) => /error_code: invalid-job\b/.test(l) && errorDetails(l)?.['reason_code'] === code && (want['reason_detail'] === undefined || errorDetails(l)?.['reason_detail'] === want['reason_detail'])) ? true : undefined))
        .catch((e: Error) => problems.push(e.message, `JDC logged: ${loggedDeclareErrors(app).join(' | ') || 'nothing'}`));
      return refused;
    };
    // (h2) Inline (A): DeclareMiningJob.Error with SRI's string and our reason_code.
    const ip: string[] = [];
    await refusal(a, aFrom, jdc.app, { reason_code: 'blocklisted_txid', tx_count: declared1.length }, {}, ip);
    report(`${label}: inline (A): DeclareMiningJob.Error "invalid-job", error_details carrying reason_code blocklisted_txid (JDC's log), verdict accepted:false enforced:true, after ProvideMissingTransactions`, ip);
    // (h3) Inline (C): the same, for the fee tier, with the exact detail and context.
    const fp: string[] = [];
    const total1 = String(declared1.reduce((s, x) => s + x.feeSats, 0n));
    await refusal(c, cFrom, feeJdc.app, { reason_code: feeWant1.reason_code, reason_detail: feeWant1.reason_detail, tx_count: declared1.length, total_fees_sats: total1 }, feeWant1.policy_context, fp);
    report(`${feeLabel}: inline (C): DeclareMiningJob.Error "invalid-job", error_details carrying reason_code ${feeWant1.reason_code} and "${feeWant1.reason_detail}" (JDC's log); verdict accepted:false enforced:true, total_fees_sats ${total1} (C priced both transactions from the outputs they spend), policy_context ${JSON.stringify(feeWant1.policy_context)}`, fp);

    // Both JDCs fall back: drop pool, JDS and miners, connect to their next upstream, B, and
    // (a new channel manager, jdc_runtime.rs cleanup_for_fallback) serve miners again only after
    // a future NewTemplate + SetNewPrevHash from their TP: the next chain tip. Our miner makes
    // that tip on A's own job (A's released template, without `bad` or `cheap`); btcd's template
    // for the new tip carries both (still in its mempool): A and C refuse it, B (observe)
    // releases it as the tip JDC #2 waits for, and JDC #2 declares it to B. Observe: .Success
    // with a logged rejection; B's blocklist comes first, so the reason is blocklisted_txid.
    const op: string[] = [];
    const lf: string[] = [];
    const countLines = (app: App, re: RegExp): number => app.lines().filter((l) => re.test(l)).length;
    const fellBack = (app: App, problems: string[]): Promise<unknown> =>
      waitFor(`${app.name}'s fallback to its upstream 2 of 2 (pool and JDS connected)`, DECLARE_MS, () => (countLines(app, /Trying upstream 2 of 2/) > 0 && countLines(app, /Connection established with JD Server/) >= 2 ? true : undefined), 100)
        .catch((e: Error) => problems.push(e.message, `JDC (tail): ${app.output().slice(-2500)}`));
    await Promise.all([fellBack(jdc.app, op), fellBack(feeJdc.app, lf)]);
    miner?.conn.close();
    feeMiner?.conn.close();
    feeMiner = undefined;
    const direct = await connectMiner(a.miningPort, a.keys.publicKeyXOnly, 'interop-direct-miner', provider);
    let tipBlock: string | undefined;
    try {
      tipBlock = (await mineUntilBlock(direct, node, BLOCK_MS)).bestHash;
    } finally {
      direct.conn.close();
    }
    const tipTxs = (await blockAt(node, tipBlock)).transactions.map((x) => hashToDisplayHex(x.txid));
    for (const tx of declared1) if (tipTxs.includes(tx.txid)) op.push(`the new tip ${tipBlock} mined on A's job contains ${tx.txid}`);
    miner = await connectMinerToJdc(jdc, provider, APP_READY_MS);
    const observed = await waitFor('a jd_declaration_verdict on B after JDC fell back', DECLARE_MS, () => ev(b, 'jd_declaration_verdict', bFrom).find((e) => e['prev_hash'] === tipBlock), 100).catch((e: Error) => {
      op.push(e.message, `B verdicts: ${summarize(ev(b, 'jd_declaration_verdict', bFrom))}`, `JDC (tail): ${jdc.app.output().slice(-2500)}`);
      return undefined;
    });
    if (observed !== undefined) {
      op.push(...mismatches('verdict', observed, { accepted: false, enforced: false, answered_success: true, mode: 'observe', reason_code: 'blocklisted_txid', tx_count: declared1.length }));
      // observe proposes policy rejections too, so the log says what the node thought: the
      // blocklisted transaction is consensus-valid, so btcd says valid.
      const context = observed['policy_context'] as Record<string, unknown> | undefined;
      if (context?.['proposal_result'] !== 'valid') op.push(`verdict policy_context.proposal_result ${JSON.stringify(context?.['proposal_result'])}, expected "valid" (btcd's BIP23 proposal of a consensus-valid block)`);
      await waitFor('JDC to log DeclareMiningJob.Success from B', 5_000, () => (countLines(jdc.app, /Received: DeclareMiningJobSuccess/) >= 1 ? true : undefined)).catch((e: Error) => op.push(e.message));
    }
    if (!logHas(jdc.app, /requested fallback|fallback triggered/i)) op.push('JDC logged no fallback');
    if (!logHas(feeJdc.app, /requested fallback|fallback triggered/i)) lf.push('JDC #3 logged no fallback');
    report(`${label}: JDC falls back as its source says (any DeclareMiningJob.Error but stale-chain-tip): drops A, connects to its next upstream B and waits for the next tip; observe (B): its declaration with the blocklisted transaction gets DeclareMiningJob.Success with a logged rejection (accepted:false, enforced:false, answered_success:true, blocklisted_txid: the blocklist is judged before the fee tier)`, op);
    report(`${feeLabel}: JDC #3 falls back the same way: drops C, connects to its next upstream B (pool and JDS)`, lf);

    // After the fallback: JDC #2's job on B and shares there.
    const hp: string[] = [];
    const custom = await waitFor('custom_job_accepted on B', DECLARE_MS, () => ev(b, 'custom_job_accepted', bFrom).find((e) => observed !== undefined && e['declaration_id'] === observed['declaration_id']), 100).catch((e: Error) => {
      hp.push(e.message, `B custom jobs: ${summarize([...ev(b, 'custom_job_accepted', bFrom), ...ev(b, 'custom_job_rejected', bFrom)])}`);
      return undefined;
    });
    // (h3) needs a heavy low-fee transaction in btcd's template on the tip after JDC #2's block:
    // cheap2, broadcast now, after btcd built this tip's template (so not in JDC #2's job; btcd
    // would add it only after its 60 s) and before the block (so in the next tip's template).
    await broadcast(node, t.cheap2);
    // Our miner's shares on the fallback job reach B. On regtest they are blocks too: observe
    // does not enforce, so the block with the blocklisted transaction is B's to submit.
    let mined: { bestHash: string } | undefined;
    if (custom !== undefined) mined = await mineUntilBlock(miner, node, BLOCK_MS).catch((e: Error) => (hp.push(e.message), undefined));
    const shares = ev(b, 'share_accepted', bFrom).filter((e) => custom !== undefined && e['conn_id'] === custom['conn_id']);
    if (custom !== undefined && shares.length === 0) hp.push(`no share_accepted on B from JDC's connection: ${summarize(ev(b, 'share_accepted', bFrom))}`);
    if (mined !== undefined) {
      const inBlock = (await blockAt(node, mined.bestHash)).transactions.slice(1).map((x) => hashToDisplayHex(x.txid));
      if (!sameSet(inBlock, declared1.map((x) => x.txid))) hp.push(`B's block ${mined.bestHash} has ${inBlock.join(', ') || 'no transactions'}; declared ${declared1.map((x) => x.txid).join(', ')}`);
    }
    report(`${label}: after the fallback JDC's SetCustomMiningJob is accepted on B, its shares arrive there (share_accepted) and the block found lands in btcd with the declared transactions, the blocklisted one too (observe logs, does not enforce)`, hp);
    if (mined === undefined) {
      report(`${feeLabel}: observe (B) on the tip after (h2)'s block`, ["not run: (h2)'s block on B did not land, and cheap2 is offered only on the tip after it"]);
      return;
    }

    // (h3) observe (B): JDC #3 declares btcd's template on the new tip, which holds cheap2 alone.
    // JDC #2 goes first, so that every declaration on B from here on is JDC #3's.
    miner.conn.close();
    miner = undefined;
    await jdc.app.kill();
    jdcKilled = true;
    const tip3 = mined.bestHash;
    const bFrom3 = b.events.length;
    const ob: string[] = [];
    feeMiner = await connectMinerToJdc(feeJdc, provider, APP_READY_MS);
    const feeObserved = await waitFor(`a jd_declaration_verdict on B from JDC #3 on the tip ${tip3}`, DECLARE_MS, () => ev(b, 'jd_declaration_verdict', bFrom3).find((e) => e['prev_hash'] === tip3), 100).catch((e: Error) => {
      ob.push(e.message, `B verdicts: ${summarize(ev(b, 'jd_declaration_verdict', bFrom3))}`, `JDC #3 (tail): ${feeJdc.app.output().slice(-2500)}`);
      return undefined;
    });
    if (feeObserved !== undefined) {
      ob.push(...mismatches('verdict', feeObserved, {
        accepted: false, enforced: false, answered_success: true, mode: 'observe', wire: null,
        reason_code: feeWant3.reason_code, reason_detail: feeWant3.reason_detail, tx_count: 1, missing_count: 0, total_fees_sats: String(FEE_CHEAP2),
      }));
      const context = (feeObserved['policy_context'] ?? {}) as Record<string, unknown>;
      ob.push(...mismatches('verdict policy_context', context, { ...feeWant3.policy_context, proposal_result: 'valid' }));
      await waitFor('JDC #3 to log DeclareMiningJob.Success from B', 5_000, () => (countLines(feeJdc.app, /Received: DeclareMiningJobSuccess/) >= 1 ? true : undefined)).catch((e: Error) => ob.push(e.message));
    }
    report(`${feeLabel}: observe (B): JDC #3's declaration of btcd's next template (${t.cheap2.name.split(' ')[0]} alone: ${t.cheap2.weight} WU, ${FEE_CHEAP2} sats) gets DeclareMiningJob.Success with a logged rejection: accepted:false enforced:false answered_success:true, ${feeWant3.reason_code} "${feeWant3.reason_detail}", policy_context ${JSON.stringify(feeWant3.policy_context)} and btcd's proposal valid`, ob);

    const fb: string[] = [];
    const feeCustom = await waitFor('custom_job_accepted on B for JDC #3', DECLARE_MS, () => ev(b, 'custom_job_accepted', bFrom3).find((e) => feeObserved !== undefined && e['declaration_id'] === feeObserved['declaration_id']), 100).catch((e: Error) => {
      fb.push(e.message, `B custom jobs: ${summarize([...ev(b, 'custom_job_accepted', bFrom3), ...ev(b, 'custom_job_rejected', bFrom3)])}`);
      return undefined;
    });
    let feeMined: { bestHash: string } | undefined;
    if (feeCustom !== undefined) feeMined = await mineUntilBlock(feeMiner, node, BLOCK_MS).catch((e: Error) => (fb.push(e.message), undefined));
    if (feeCustom !== undefined && !ev(b, 'share_accepted', bFrom3).some((e) => e['conn_id'] === feeCustom['conn_id'])) fb.push(`no share_accepted on B from JDC #3's connection: ${summarize(ev(b, 'share_accepted', bFrom3))}`);
    if (feeMined !== undefined) {
      const hash = feeMined.bestHash;
      await waitFor(`block_submit_result accepted for ${hash} on B`, 5_000, () => (ev(b, 'block_submit_result', bFrom3).some((e) => e['block_hash'] === hash && e['result'] === 'accepted') ? true : undefined)).catch((e: Error) => fb.push(e.message));
      const inBlock = (await blockAt(node, hash)).transactions.slice(1).map((x) => hashToDisplayHex(x.txid));
      if (!sameSet(inBlock, [t.cheap2.txid])) fb.push(`B's block ${hash} has ${inBlock.join(', ') || 'no transactions'}; JDC #3 declared ${t.cheap2.txid}`);
    }
    report(`${feeLabel}: JDC #3's SetCustomMiningJob is accepted on B, its shares arrive there, and the block found lands in btcd with the declared transaction (observe logs the fee tier, does not enforce)`, fb);
  } catch (error) {
    report(`${label} and ${feeLabel}: ran to the end`, [(error as Error).message, `${jdc.app.name} output (tail): ${jdc.app.output().slice(-2000)}`, `${feeJdc.app.name} output (tail): ${feeJdc.app.output().slice(-2000)}`]);
  } finally {
    miner?.conn.close();
    feeMiner?.conn.close();
    if (!jdcKilled) await jdc.app.kill();
    await feeJdc.app.kill();
    writeFileSync(join(RUN_DIR, 'jdc-fallback.log'), jdc.app.output());
    writeFileSync(join(RUN_DIR, 'jdc-fee.log'), feeJdc.app.output());
  }
}

// ---- entry -------------------------------------------------------------------------------------

/** Runs (h1)–(h3). */
export async function jobDeclarationInterop(report: Report, provider: CryptoProvider): Promise<void> {
  const jdcDoc = docSnippet('sri-jdc-fulltemplate', undefined, JOB_DECLARATION_DOC).table;
  const snippetProblems = [
    ...snippetKeyProblems('sri-jdc-fulltemplate', jdcDoc, JDC_FULLTEMPLATE_KEYS),
    ...((jdcDoc['upstreams'] as TomlTable[] | undefined) ?? [{}]).flatMap((u, i) => snippetKeyProblems(`sri-jdc-fulltemplate upstreams[${i}]`, u, JDC_UPSTREAM_KEYS)),
    ...snippetKeyProblems('reservegrid-jds', docSnippet('reservegrid-jds', undefined, JOB_DECLARATION_DOC).table, RESERVEGRID_JDS_KEYS),
  ];
  report('docs/job-declaration.md: the JDC FULLTEMPLATE and ReserveGrid snippets parse and have exactly the documented keys', snippetProblems);
  // The doc's section on this check quotes (h3)'s tier and answers: they are this file's constants.
  const docText = readFileSync(JOB_DECLARATION_DOC, 'utf8');
  const section = docText.slice(docText.indexOf("## Tested against SRI's JD client"));
  const quoted = [
    `a tier \`${BULK_TIER}\` from ${BULK_MIN_WEIGHT.toLocaleString('en-US')} WU with \`min_avg_fee_sats = ${BULK_MIN_AVG_FEE}\``,
    `paying ${FEE_CHEAP.toLocaleString('en-US')} sats`,
    JSON.stringify({ reason_code: 'avg_fee_below_minimum', reason_detail: `avg_fee=${(FEE_BAD + FEE_CHEAP) / 2n} < min_avg_fee_used=${BULK_MIN_AVG_FEE}` }),
    JSON.stringify({ fee_tier: BULK_TIER, min_avg_fee_used: BULK_MIN_AVG_FEE }),
  ];
  report(`docs/job-declaration.md "Tested against SRI's JD client": its (h3) tier and answers are the check's`, quoted.filter((q) => !section.replace(/\s+/g, ' ').includes(q)).map((q) => `the section does not say ${q}`));
  if (!installBundle(report, SRI_APPS_BUNDLE)) return;
  if (findBtcd() === null) {
    report('(h) btcd for the Job Declaration interop', ['btcd not found: run scripts/install-btcd.sh (or set BTCD_BIN); CI installs it before this step']);
    return;
  }
  const node = await BtcdNode.start({ initialBlocks: 110 });
  const sink = await startShareSink({ host: '127.0.0.1', port: 0, secret: SHARE_SECRET, provider });
  const gateways: Gw[] = [];
  try {
    const { good, bad, cheap, cheap2 } = await buildTransactions(node);
    const mp: string[] = [];
    for (const t of good) await broadcast(node, t);
    const gbt = (await node.rpc('getblocktemplate', [{ rules: ['segwit'] }])) as { transactions: { txid?: string; hash: string }[] };
    const inGbt = gbt.transactions.map((t) => t.txid ?? t.hash);
    for (const t of good) if (!inGbt.includes(t.txid)) mp.push(`${t.name} ${t.txid} not in btcd's getblocktemplate (${inGbt.join(', ')})`);
    report(`(h) btcd regtest mempool: ${good.length} transactions built and signed with @scure/btc-signer from matured coinbases (${good.map((t) => `${t.name} ${t.segwit ? 'wtxid≠txid' : 'wtxid=txid'}`).join('; ')}) are in btcd's getblocktemplate`, mp);
    // The premises of (h3), checked rather than assumed: only cheap and cheap2 are heavy enough
    // for the `bulk` tier (the gateway's coinbase adds well under 4,000 WU), and the tier fails
    // for {bad, cheap} and for {cheap2}.
    const tier: string[] = [];
    const light = [...good, bad];
    const lightWeight = light.reduce((w, x) => w + x.weight, 0);
    if (lightWeight + 4_000 >= BULK_MIN_WEIGHT) tier.push(`tx1..tx3 and bad weigh ${lightWeight} WU: too close to the bulk tier's ${BULK_MIN_WEIGHT} WU`);
    for (const x of [cheap, cheap2]) if (x.weight < BULK_MIN_WEIGHT) tier.push(`${x.name} weighs ${x.weight} WU < ${BULK_MIN_WEIGHT} WU`);
    if ((FEE_BAD + FEE_CHEAP) / 2n >= BigInt(BULK_MIN_AVG_FEE) || FEE_CHEAP2 >= BigInt(BULK_MIN_AVG_FEE)) tier.push('the test fees do not fall below the bulk tier');
    report(`(h3) premises: ${cheap.name.split(' ')[0]} (${cheap.weight} WU) and ${cheap2.name.split(' ')[0]} (${cheap2.weight} WU) alone reach the "${BULK_TIER}" tier (${BULK_MIN_WEIGHT} WU; tx1..tx3 and bad weigh ${lightWeight} WU), and average below its ${BULK_MIN_AVG_FEE} sats`, tier);
    if (tier.length > 0) return;
    // A: inline, blocklist. B: observe, blocklist and the bulk tier (blocklist judged first).
    // C: inline, the bulk tier and no blocklist (else the blocklist would decide (h3) too).
    gateways.push(await startGateway('A', 'inline', node, sink, { blocklistTxids: [bad.txid], bulkTier: false }, provider));
    gateways.push(await startGateway('B', 'observe', node, sink, { blocklistTxids: [bad.txid], bulkTier: true }, provider));
    gateways.push(await startGateway('C', 'inline', node, sink, { blocklistTxids: [], bulkTier: true }, provider));
    const [a, b, c] = gateways as [Gw, Gw, Gw];
    console.log(`# btcd ${node.rpcUrl}; ${gateways.map((gw) => `gateway ${gw.name} (${gw.mode}) TP ${gw.tpPort} pool ${gw.miningPort} JDS ${gw.jdPort}`).join('; ')}`);
    for (const gw of gateways) await waitFor(`gateway ${gw.name} to take a template from btcd`, 20_000, () => (gw.events.some((e) => e.type === 'template_received') ? true : undefined));
    // C must have RELEASED btcd's first template (tx1..tx3, light: no tier), or it could not
    // price `cheap` (it spends tx1's change) in (h3).
    await waitFor("gateway C to release btcd's template with tx1..tx3", 20_000, () => (ev(c, 'prevhash_switch').length > 0 ? true : undefined), 100);
    const block = await declaredBlock(report, a, node, sink, good, provider);
    if (block !== undefined) await refusedAndFallback(report, { a, b, c }, node, { bad, cheap, cheap2 }, provider);
  } finally {
    for (const gw of gateways) await gw.stack.stop();
    await sink.close();
    await node.dispose();
  }
}
