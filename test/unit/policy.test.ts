// Policy engine (SPEC §7, issue 4 items 2 and 6): the seed verdict reproduced exactly, then every
// check's accept and reject, the tier rule, the blocklist, SetCustomMiningJob verification, the
// embedded verifier and the sans-IO verifier protocol (client session on the injected clock).
import { readFileSync } from 'node:fs';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { bytesToHex, concatBytes, hexToBytes, reversed } from '../../core/bytes.ts';
import { loadConfig } from '../../core/config/load.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import { bip34HeightPush, type BlockTemplate } from '../../core/template/template.ts';
import { REASON_CODES, wireString } from '../../core/reason-codes.ts';
import {
  EmbeddedVerifier,
  PolicyEngine,
  VerifierClientSession,
  VerifierServerSession,
  blockSubsidy,
  decodeVerifyBody,
  encodeVerifyRequest,
  forEachOutputScript,
  legacySigops,
  merklePathDepth,
  parseTxOutVec,
  policySettingsFromConfig,
  VerifierDeframer,
  type ChainView,
  type CustomJobProposal,
  type PolicySettings,
  type Verdict,
  type VerdictOutcome,
} from '../../core/policy/index.ts';
import { CHAIN, HEIGHT, NBITS, OLD_HASH, OTHER_SCRIPT, POOL_SCRIPT, PREV_HASH, makeSettings, makeTemplate, makeTx } from '../support/policy-fixtures.ts';

const MID_TIER = { name: 'mid', minAvgFeeSats: 200, minTotalFeesSats: 0, minTxCount: 0, minTemplateWeight: 0 };
const engine = (over: Partial<PolicySettings> = {}): PolicyEngine => new PolicyEngine(makeSettings(over));
const verdict = (over: Partial<PolicySettings>, template: BlockTemplate = makeTemplate(), chain: ChainView = CHAIN): Verdict => engine(over).evaluate(template, chain);

function rejects(v: Verdict, code: string): void {
  assert.equal(v.accepted, false, `expected a rejection ${code}, got ${JSON.stringify(v)}`);
  assert.equal(v.reason_code, code, v.reason_detail);
}
function accepts(v: Verdict): void {
  assert.equal(v.accepted, true, `expected acceptance, got ${JSON.stringify(v)}`);
  assert.equal(v.reason_code, 'template_accepted');
}

// Three transactions paying 100 + 141 + 182 = 423 sats: average floor(423 / 3) = 141.
const AVG_141 = makeTemplate({ fees: [100n, 141n, 182n] });

describe('policy: the seed verdict (SPEC §7)', () => {
  // The literal from the issue text / SPEC §7, as JSON text, not built by our code.
  const SEED = JSON.parse(
    '{"accepted": false, "reason_code": "avg_fee_below_minimum", "reason_detail": "avg_fee=141 < min_avg_fee_used=200", "policy_context": {"fee_tier": "mid", "min_avg_fee_used": 200}}',
  ) as unknown;

  test('mid tier (min average fee 200), template averaging 141 sats: exactly the seed', () => {
    const v = verdict({ feeTiers: [MID_TIER], feeTier: 'mid' }, AVG_141);
    assert.deepEqual(v, SEED);
    // And the JSON an event or the wire carries is the seed's, key for key and in order.
    assert.equal(JSON.stringify(v), JSON.stringify(SEED));
  });

  test('the same from a TOML config through policySettingsFromConfig, and over the verifier wire', () => {
    const toml = readFileSync(new URL('../../deploy/config/example.toml', import.meta.url), 'utf8').replace(
      'fee_tiers = []\nfee_tier_rule = "fixed"\nfee_tier = ""',
      'fee_tiers = [ { name = "low", min_avg_fee_sats = 1 }, { name = "mid", min_avg_fee_sats = 200 } ]\nfee_tier_rule = "fixed"\nfee_tier = "mid"',
    );
    const r = loadConfig({ tomlText: toml, fileName: 'policy.toml', env: {} });
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
    if (!r.ok) return;
    const eng = new PolicyEngine(policySettingsFromConfig(r.config));
    assert.deepEqual(eng.evaluate(AVG_141, CHAIN), SEED);
    // Through the server session and the client session: the verdict survives the wire intact.
    const server = new VerifierServerSession();
    const client = new VerifierClientSession({ reconnectInitialMs: 100, reconnectMaxMs: 1000 });
    assert.deepEqual(client.pollAction(), { type: 'connect' });
    client.connected(0);
    const id = client.request({ template: AVG_141, chain: CHAIN, timeoutMs: 50 }, 0);
    for (let b = client.pollTransmit(); b; b = client.pollTransmit()) server.receive(b);
    const req = server.pollRequest()!;
    server.respond(req.requestId, req.request.template.templateId, eng.evaluate(req.request.template, req.request.chain));
    for (let b = server.pollTransmit(); b; b = server.pollTransmit()) client.receive(b, 7);
    const out = client.pollOutcome()!;
    assert.equal(out.kind, 'verdict');
    assert.equal(out.requestId, id);
    assert.equal(out.latencyMs, 7);
    assert.deepEqual(out.verdict, SEED);
  });
});

describe('policy: checks accept and reject', () => {
  test('a well-formed template on the tip is accepted with its figures in policy_context', () => {
    const v = verdict({ feeTiers: [MID_TIER], feeTier: 'mid' }, makeTemplate({ fees: [300n, 300n] }));
    accepts(v);
    assert.equal(v.reason_detail, 'all policy checks passed');
    assert.equal(v.policy_context.fee_tier, 'mid');
    assert.equal(v.policy_context.tx_count, 2);
    assert.equal(v.policy_context.total_fees, 600);
    assert.equal(v.policy_context.avg_fee, 300);
    assert.equal(v.policy_context.sigops, 8);
  });

  test('btcd regtest template (recorded): accepted, with commitments recomputed', () => {
    const json = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    const parsed = parseGetBlockTemplate(json, { templateId: 9n });
    assert.ok(parsed.ok);
    if (!parsed.ok) return;
    const t = parsed.value;
    const chain: ChainView = { tipHash: t.prevHash, tipHeight: t.height - 1, recentHashes: [], expectedNbits: 0x207fffff };
    const v = verdict({ verifyCommitments: true, subsidyHalvingInterval: 150 }, t, chain);
    accepts(v);
    assert.equal(v.policy_context.total_fees, 23_000); // 11,000 + 12,000 in the fixture
    // Segwit serializations (BIP144 marker) parse: blocklisting the first output script of
    // btcd's first transaction rejects the template at that transaction.
    const scripts: string[] = [];
    assert.equal(forEachOutputScript(t.transactions[0]!.data, (a, b) => void scripts.push(bytesToHex(t.transactions[0]!.data.subarray(a, b)))), true);
    assert.ok(scripts.length >= 1 && scripts.every((x) => x.length >= 4), scripts.join(','));
    const bl = verdict({ subsidyHalvingInterval: 150, blocklistScripts: [hexToBytes(scripts[0]!)] }, t, chain);
    rejects(bl, 'blocklisted_script');
    assert.equal(bl.policy_context.tx_index, 0);
    // Its coinbase value is exactly subsidy + fees: one sat more is rejected.
    rejects(verdict({ subsidyHalvingInterval: 150 }, { ...t, coinbaseValue: t.coinbaseValue + 1n }, chain), 'coinbase_value_too_high');
  });

  test('duplicate txids across a 48-bit prefix collision; fees above MAX_MONEY are malformed', () => {
    const t = makeTemplate({ fees: [1n, 2n, 3n] });
    const [a, , c] = t.transactions;
    // b shares a's first 6 txid bytes (the index key) but is a different transaction.
    const collision = { ...t.transactions[1]!, txid: Uint8Array.from([...a!.txid.subarray(0, 6), ...t.transactions[1]!.txid.subarray(6)]) };
    const withTxs = (txs: (typeof t.transactions)[number][]) => ({ ...t, transactions: txs, merklePath: [txs[0]!.txid, ...t.merklePath.slice(1)] });
    // One engine for every verdict: its duplicate index is reused (a new generation per verdict).
    const policy = engine({});
    const judge = (tpl: BlockTemplate): Verdict => policy.evaluate(tpl, CHAIN);
    accepts(judge(withTxs([a!, collision, c!])));
    assert.equal(judge(withTxs([a!, collision, a!])).reason_code, 'template_malformed', 'duplicate of the first holder of the prefix');
    const v = judge(withTxs([a!, collision, collision]));
    assert.equal(v.reason_code, 'template_malformed', 'duplicate of the colliding transaction');
    assert.match(v.reason_detail, /duplicate txid/);
    // Reused after rejections: no stale entries from earlier verdicts.
    accepts(judge(withTxs([a!, collision, c!])));
    const maxMoney = 2_100_000_000_000_000n;
    assert.match(judge(withTxs([{ ...a!, fee: maxMoney + 1n }, collision, c!])).reason_detail, /exceeds MAX_MONEY/);
    assert.match(judge(withTxs([{ ...a!, fee: maxMoney }, { ...collision, fee: 1n }, c!])).reason_detail, /total fees exceed MAX_MONEY/);
  });

  test('structure: malformed templates are template_malformed, never a throw', () => {
    const t = makeTemplate({ fees: [1n, 2n, 3n] });
    const cases: [string, BlockTemplate][] = [
      ['short prev_hash', { ...t, prevHash: new Uint8Array(31) }],
      ['height 0', { ...t, height: 0 }],
      ['negative coinbase value', { ...t, coinbaseValue: -1n }],
      ['maxtime < mintime', { ...t, maxtime: t.mintime - 1 }],
      ['merkle path too short', { ...t, merklePath: t.merklePath.slice(1) }],
      ['merkle path[0] not tx 0', { ...t, merklePath: [t.transactions[1]!.txid, ...t.merklePath.slice(1)] }],
      ['duplicate txid', { ...t, transactions: [t.transactions[0]!, t.transactions[0]!, t.transactions[2]!], merklePath: [t.transactions[0]!.txid, ...t.merklePath.slice(1)] }],
      ['negative fee', { ...t, transactions: [{ ...t.transactions[0]!, fee: -1n }, ...t.transactions.slice(1)] }],
      ['depends on a later tx', { ...t, transactions: [{ ...t.transactions[0]!, depends: [2] }, ...t.transactions.slice(1)] }],
      ['short txid', { ...t, transactions: [{ ...t.transactions[0]!, txid: new Uint8Array(5) }, ...t.transactions.slice(1)] }],
      ['weight below size', { ...t, transactions: [{ ...t.transactions[0]!, weight: 3 }, ...t.transactions.slice(1)] }],
      ['target not from nbits', { ...t, target: t.target - 1n }],
    ];
    for (const [name, bad] of cases) {
      const v = verdict({}, bad);
      assert.equal(v.reason_code, 'template_malformed', `${name}: ${JSON.stringify(v)}`);
      assert.equal(v.accepted, false, name);
    }
    accepts(verdict({}, t));
    assert.equal(merklePathDepth(0), 0);
    assert.equal(merklePathDepth(1), 1);
    assert.equal(merklePathDepth(2), 2);
    assert.equal(merklePathDepth(3), 2);
    assert.equal(merklePathDepth(4), 3);
  });

  test('prevhash: the tip is accepted, a recent tip is stale, anything else unknown, no tip known = unchecked', () => {
    accepts(verdict({}, makeTemplate()));
    const stale = verdict({}, makeTemplate({ prevHash: OLD_HASH }));
    rejects(stale, 'prevhash_stale');
    assert.equal(stale.policy_context.prev_hash, bytesToHex(reversed(OLD_HASH)));
    rejects(verdict({}, makeTemplate({ prevHash: new Uint8Array(32).fill(7) })), 'prevhash_unknown');
    accepts(verdict({}, makeTemplate({ prevHash: new Uint8Array(32).fill(7) }), { ...CHAIN, tipHash: null, recentHashes: [] }));
  });

  test('nbits: must equal the expected nbits and decode to a target', () => {
    rejects(verdict({}, makeTemplate({ nbits: 0x1d00ffff })), 'nbits_mismatch');
    accepts(verdict({}, makeTemplate({ nbits: 0x1d00ffff }), { ...CHAIN, expectedNbits: 0x1d00ffff }));
    accepts(verdict({}, makeTemplate({ nbits: 0x1d00ffff }), { ...CHAIN, expectedNbits: null }));
    // Negative compact (sign bit) is not a target.
    rejects(verdict({}, { ...makeTemplate(), nbits: 0x1d80ffff }, { ...CHAIN, expectedNbits: null }), 'nbits_mismatch');
  });

  test('BIP34 height: must be tip height + 1', () => {
    const v = verdict({}, makeTemplate({ height: HEIGHT + 1 }));
    rejects(v, 'bip34_height_mismatch');
    assert.deepEqual(v.policy_context, { height: HEIGHT + 1, expected_height: HEIGHT });
    accepts(verdict({}, makeTemplate({ height: HEIGHT + 1 }), { ...CHAIN, tipHeight: HEIGHT }));
  });

  test('coinbase: payout present and paid, value not above subsidy + fees', () => {
    rejects(verdict({ payout: [] }), 'coinbase_payout_missing');
    // Two outputs weighted 1:1 with a 1-sat coinbase: the second would get 0.
    const two = [{ scriptPubKey: POOL_SCRIPT, weight: 1 }, { scriptPubKey: OTHER_SCRIPT, weight: 1 }];
    rejects(verdict({ payout: two }, makeTemplate({ coinbaseValue: 1n })), 'coinbase_payout_unpaid');
    accepts(verdict({ payout: two }, makeTemplate({ coinbaseValue: 2n })));
    const t = makeTemplate({ fees: [500n] });
    accepts(verdict({}, t));
    const over = verdict({}, { ...t, coinbaseValue: t.coinbaseValue + 1n });
    rejects(over, 'coinbase_value_too_high');
    assert.deepEqual(over.policy_context, { coinbase_value: 5_000_000_501, subsidy: 5_000_000_000, total_fees: 500 });
    // Halving: at height 210,000 the subsidy is 25 BTC.
    const h = makeTemplate({ height: 210_000, coinbaseValue: 2_500_000_001n + 3000n });
    rejects(verdict({}, h, { ...CHAIN, tipHeight: 209_999 }), 'coinbase_value_too_high');
    assert.equal(blockSubsidy(209_999, 210_000), 5_000_000_000n);
    assert.equal(blockSubsidy(210_000, 210_000), 2_500_000_000n);
    assert.equal(blockSubsidy(150 * 64, 150), 0n);
  });

  test('witness commitment: format always, content with verify_commitments', () => {
    const t = makeTemplate({ fees: [1n, 2n, 3n] });
    rejects(verdict({}, { ...t, defaultWitnessCommitment: t.defaultWitnessCommitment.subarray(0, 37) }), 'witness_commitment_invalid');
    rejects(verdict({}, { ...t, defaultWitnessCommitment: concatBytes(hexToBytes('6a24aa21a9ee'), t.defaultWitnessCommitment.subarray(6)) }), 'witness_commitment_invalid');
    const wrong = concatBytes(t.defaultWitnessCommitment.subarray(0, 6), new Uint8Array(32));
    accepts(verdict({}, { ...t, defaultWitnessCommitment: wrong }));
    rejects(verdict({ verifyCommitments: true }, { ...t, defaultWitnessCommitment: wrong }), 'witness_commitment_invalid');
    accepts(verdict({ verifyCommitments: true }, t));
    // verify_commitments also recomputes the coinbase merkle path.
    const badPath = [t.merklePath[0]!, new Uint8Array(32).fill(9)];
    accepts(verdict({}, { ...t, merklePath: badPath }));
    rejects(verdict({ verifyCommitments: true }, { ...t, merklePath: badPath }), 'template_malformed');
  });

  test('weight and sigops limits include the gateway coinbase', () => {
    const t = makeTemplate({ fees: [1n, 2n] });
    const w = verdict({}, t).policy_context.weight as number;
    assert.ok(w > t.transactions.reduce((s, x) => s + x.weight, 0) + 320, 'weight counts header and coinbase');
    accepts(verdict({ maxTemplateWeight: w }, t));
    const v = verdict({ maxTemplateWeight: w - 1 }, t);
    rejects(v, 'template_weight_exceeded');
    assert.deepEqual(v.policy_context, { weight: w, max_template_weight: w - 1 });
    accepts(verdict({ maxTemplateSigops: 8 }, t));
    rejects(verdict({ maxTemplateSigops: 7 }, t), 'template_sigops_exceeded');
    // A P2PKH payout (one OP_CHECKSIG) adds 4 sigop cost.
    const p2pkh = hexToBytes('76a914751e76e8199196d454941c45d1b3a323f1433bd688ac');
    assert.equal(legacySigops(p2pkh), 1);
    assert.equal(legacySigops(hexToBytes('5121' + '02'.repeat(33) + '51ae')), 20);
    rejects(verdict({ maxTemplateSigops: 11, payout: [{ scriptPubKey: p2pkh, weight: 1 }] }, t), 'template_sigops_exceeded');
    accepts(verdict({ maxTemplateSigops: 12, payout: [{ scriptPubKey: p2pkh, weight: 1 }] }, t));
    // The node's own limit applies too.
    rejects(verdict({}, { ...t, sigopLimit: 7 }), 'template_sigops_exceeded');
  });

  test('blocklist: txids (display order in config) and output scripts', () => {
    const t = makeTemplate({ transactions: [makeTx(1, 10n), makeTx(2, 10n, hexToBytes('6a0401020304')), makeTx(3, 10n)] });
    accepts(verdict({}, t));
    const v = verdict({ blocklistTxids: [t.transactions[2]!.txid] }, t);
    rejects(v, 'blocklisted_txid');
    assert.equal(v.policy_context.tx_index, 2);
    assert.equal(v.policy_context.txid, bytesToHex(reversed(t.transactions[2]!.txid)));
    const s = verdict({ blocklistScripts: [hexToBytes('6a0401020304')] }, t);
    rejects(s, 'blocklisted_script');
    assert.equal(s.policy_context.tx_index, 1);
    assert.equal(s.policy_context.script_hex, '6a0401020304');
    accepts(verdict({ blocklistScripts: [hexToBytes('6a0401020305'), hexToBytes('6a04010203')] }, t));
    // From config: txids are given in display (RPC) order.
    const cfg = loadConfig({
      tomlText: readFileSync(new URL('../../deploy/config/example.toml', import.meta.url), 'utf8').replace(
        'blocklist_txids = []',
        `blocklist_txids = ["${bytesToHex(reversed(t.transactions[0]!.txid))}"]`,
      ),
      fileName: 'b.toml',
      env: {},
    });
    assert.ok(cfg.ok);
    if (cfg.ok) rejects(new PolicyEngine(policySettingsFromConfig(cfg.config)).evaluate(t, CHAIN), 'blocklisted_txid');
  });

  test('fee tier: minimum tx count, total fees and average fee, each at its boundary', () => {
    const tier = { name: 'high', minAvgFeeSats: 100, minTotalFeesSats: 300, minTxCount: 3, minTemplateWeight: 0 };
    const s = { feeTiers: [tier], feeTier: 'high' };
    accepts(verdict(s, makeTemplate({ fees: [100n, 100n, 100n] })));
    const c = verdict(s, makeTemplate({ fees: [200n, 200n] }));
    rejects(c, 'tx_count_below_minimum');
    assert.deepEqual(c, { accepted: false, reason_code: 'tx_count_below_minimum', reason_detail: 'tx_count=2 < min_tx_count_used=3', policy_context: { fee_tier: 'high', min_tx_count_used: 3 } });
    const f = verdict(s, makeTemplate({ fees: [100n, 100n, 99n] }));
    assert.deepEqual(f, { accepted: false, reason_code: 'total_fees_below_minimum', reason_detail: 'total_fees=299 < min_total_fees_used=300', policy_context: { fee_tier: 'high', min_total_fees_used: 300 } });
    const a = verdict(s, makeTemplate({ fees: [0n, 0n, 0n, 399n] }));
    assert.deepEqual(a, { accepted: false, reason_code: 'avg_fee_below_minimum', reason_detail: 'avg_fee=99 < min_avg_fee_used=100', policy_context: { fee_tier: 'high', min_avg_fee_used: 100 } });
    // No tier = no fee policy; an empty template averages 0.
    accepts(verdict({}, makeTemplate({ fees: [] })));
    rejects(verdict({ feeTiers: [MID_TIER], feeTier: 'mid' }, makeTemplate({ fees: [] })), 'avg_fee_below_minimum');
  });

  test('fee tier rule by_template_weight: the heaviest threshold not above the template weight', () => {
    const tiers = [
      { name: 'low', minAvgFeeSats: 1, minTotalFeesSats: 0, minTxCount: 0, minTemplateWeight: 0 },
      { name: 'mid', minAvgFeeSats: 200, minTotalFeesSats: 0, minTxCount: 0, minTemplateWeight: 2_000 },
      { name: 'high', minAvgFeeSats: 1000, minTotalFeesSats: 0, minTxCount: 0, minTemplateWeight: 1_000_000 },
    ];
    const eng = engine({ feeTiers: tiers, feeTierRule: 'by_template_weight' });
    assert.equal(eng.selectFeeTier(0)!.name, 'low');
    assert.equal(eng.selectFeeTier(1_999)!.name, 'low');
    assert.equal(eng.selectFeeTier(2_000)!.name, 'mid');
    assert.equal(eng.selectFeeTier(999_999)!.name, 'mid');
    assert.equal(eng.selectFeeTier(4_000_000)!.name, 'high');
    // AVG_141 weighs > 2,000 WU (header + coinbase + 3 txs): the mid tier, and exactly the seed.
    const v = eng.evaluate(AVG_141, CHAIN);
    assert.deepEqual(v, { accepted: false, reason_code: 'avg_fee_below_minimum', reason_detail: 'avg_fee=141 < min_avg_fee_used=200', policy_context: { fee_tier: 'mid', min_avg_fee_used: 200 } });
    // No tier at or below the weight: no fee policy.
    const noLow = engine({ feeTiers: tiers.slice(1), feeTierRule: 'by_template_weight' });
    assert.equal(noLow.selectFeeTier(100), null);
    // fixed ignores the thresholds.
    assert.equal(engine({ feeTiers: tiers, feeTierRule: 'fixed', feeTier: 'high' }).selectFeeTier(0)!.name, 'high');
    assert.throws(() => engine({ feeTiers: tiers, feeTier: 'nope' }), RangeError);
  });

  test('check order: the first failing check is the verdict', () => {
    // Stale prevhash AND fee too low: the prevhash wins (docs/policy.md order).
    rejects(verdict({ feeTiers: [MID_TIER], feeTier: 'mid' }, makeTemplate({ prevHash: OLD_HASH, fees: [1n] })), 'prevhash_stale');
    // Blocklisted AND fee too low: the blocklist wins.
    const t = makeTemplate({ fees: [1n] });
    rejects(verdict({ feeTiers: [MID_TIER], feeTier: 'mid', blocklistTxids: [t.transactions[0]!.txid] }, t), 'blocklisted_txid');
  });
});

// ---------------------------------------------------------------------------------------------

const subsidy = 5_000_000_000n;
function txOutVec(outs: [bigint, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array([outs.length])];
  for (const [v, s] of outs) {
    const value = new Uint8Array(8);
    for (let i = 0; i < 8; i++) value[i] = Number((v >> BigInt(8 * i)) & 0xffn);
    parts.push(value, new Uint8Array([s.length]), s);
  }
  return concatBytes(...parts);
}
const WITNESS_OUT = hexToBytes('6a24aa21a9ed' + '11'.repeat(32));
function job(over: Partial<CustomJobProposal> = {}): CustomJobProposal {
  return {
    version: 0x20000000,
    prevHash: PREV_HASH,
    minNtime: 1_700_000_000,
    nbits: NBITS,
    coinbasePrefix: concatBytes(bip34HeightPush(HEIGHT), hexToBytes('00')),
    coinbaseTxOutputs: txOutVec([[subsidy + 1234n, POOL_SCRIPT], [0n, WITNESS_OUT]]),
    merklePath: [new Uint8Array(32)],
    ...over,
  };
}
const JOB_CTX = { chain: CHAIN, minNtime: 1_699_999_000, maxNtime: 1_700_007_200 };

describe('policy: SetCustomMiningJob (miner-proposed work)', () => {
  const eng = engine({ blocklistScripts: [hexToBytes('6a0401020304')] });
  function fails(r: ReturnType<PolicyEngine['verifyCustomJob']>, code: keyof typeof REASON_CODES, wire: string): void {
    assert.equal(r.ok, false, JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    if (r.ok) return;
    assert.equal(r.reasonCode, code, r.detail);
    assert.equal(r.wire, wire);
    // The wire string is the registry's for that code (SRI's SetCustomMiningJob.Error string).
    assert.equal(wireString(r.reasonCode), wire);
  }

  test('a job on the tip paying the pool is accepted', () => {
    const r = eng.verifyCustomJob(job(), JOB_CTX);
    assert.deepEqual(r, { ok: true, poolPaidSats: subsidy + 1234n });
  });

  test('prev_hash not the tip, or tip unknown: stale-chain-tip', () => {
    fails(eng.verifyCustomJob(job({ prevHash: OLD_HASH }), JOB_CTX), 'custom_job_stale_chain_tip', 'stale-chain-tip');
    fails(eng.verifyCustomJob(job(), { ...JOB_CTX, chain: { ...CHAIN, tipHash: null } }), 'custom_job_stale_chain_tip', 'stale-chain-tip');
  });

  test('nbits, min_ntime, version', () => {
    fails(eng.verifyCustomJob(job({ nbits: 0x1d00ffff }), JOB_CTX), 'custom_job_invalid_nbits', 'invalid-nbits');
    fails(eng.verifyCustomJob(job({ minNtime: 1_699_998_999 }), JOB_CTX), 'custom_job_invalid_min_ntime', 'invalid-min-ntime');
    fails(eng.verifyCustomJob(job({ minNtime: 1_700_007_201 }), JOB_CTX), 'custom_job_invalid_min_ntime', 'invalid-min-ntime');
    assert.equal(eng.verifyCustomJob(job({ minNtime: 1_699_999_000 }), JOB_CTX).ok, true);
    assert.equal(eng.verifyCustomJob(job({ minNtime: 1_700_007_200 }), JOB_CTX).ok, true);
    fails(eng.verifyCustomJob(job({ version: 0x40000000 }), JOB_CTX), 'custom_job_invalid_version', 'invalid-version');
    assert.equal(eng.verifyCustomJob(job({ version: 0x3fffe000 }), JOB_CTX).ok, true);
  });

  test('coinbase prefix must carry the BIP34 height of tip + 1', () => {
    fails(eng.verifyCustomJob(job({ coinbasePrefix: bip34HeightPush(HEIGHT - 1) }), JOB_CTX), 'custom_job_invalid_coinbase_prefix', 'invalid-coinbase-prefix');
    fails(eng.verifyCustomJob(job({ coinbasePrefix: new Uint8Array(0) }), JOB_CTX), 'custom_job_invalid_coinbase_prefix', 'invalid-coinbase-prefix');
    fails(eng.verifyCustomJob(job({ coinbasePrefix: concatBytes(bip34HeightPush(HEIGHT), new Uint8Array(70)) }), JOB_CTX), 'custom_job_invalid_coinbase_prefix', 'invalid-coinbase-prefix');
  });

  test('merkle path depth is bounded', () => {
    assert.equal(eng.verifyCustomJob(job({ merklePath: Array.from({ length: 15 }, () => new Uint8Array(32)) }), JOB_CTX).ok, true);
    fails(eng.verifyCustomJob(job({ merklePath: Array.from({ length: 16 }, () => new Uint8Array(32)) }), JOB_CTX), 'custom_job_invalid_merkle_path', 'invalid-merkle-path');
  });

  test('coinbase outputs: must parse, must not pay a blocklisted script, must pay the pool', () => {
    fails(eng.verifyCustomJob(job({ coinbaseTxOutputs: hexToBytes('0100') }), JOB_CTX), 'custom_job_invalid_coinbase_outputs', 'invalid-coinbase-tx-outputs');
    fails(eng.verifyCustomJob(job({ coinbaseTxOutputs: concatBytes(txOutVec([[subsidy, POOL_SCRIPT]]), new Uint8Array([0])) }), JOB_CTX), 'custom_job_invalid_coinbase_outputs', 'invalid-coinbase-tx-outputs');
    fails(eng.verifyCustomJob(job({ coinbaseTxOutputs: txOutVec([[subsidy, POOL_SCRIPT], [0n, hexToBytes('6a0401020304')]]) }), JOB_CTX), 'custom_job_invalid_coinbase_outputs', 'invalid-coinbase-tx-outputs');
    fails(eng.verifyCustomJob(job({ coinbaseTxOutputs: txOutVec([[subsidy, POOL_SCRIPT], [1n, OTHER_SCRIPT]]) }), JOB_CTX), 'custom_job_pool_not_paid', 'invalid-coinbase-tx-outputs');
    fails(eng.verifyCustomJob(job({ coinbaseTxOutputs: txOutVec([[subsidy - 1n, POOL_SCRIPT]]) }), JOB_CTX), 'custom_job_pool_not_paid', 'invalid-coinbase-tx-outputs');
    assert.equal(eng.verifyCustomJob(job({ coinbaseTxOutputs: txOutVec([[subsidy, POOL_SCRIPT]]) }), JOB_CTX).ok, true);
    assert.equal(parseTxOutVec(new Uint8Array([0xfd, 0xff])), null);
    assert.deepEqual(parseTxOutVec(new Uint8Array([0])), []);
  });
});

// ---------------------------------------------------------------------------------------------

describe('policy: embedded verifier and the verifier protocol (sans-IO)', () => {
  test('embedded: one outcome per request, ids ascending, verdict ready at once', () => {
    const ev = new EmbeddedVerifier(engine({ feeTiers: [MID_TIER], feeTier: 'mid' }));
    const a = ev.request({ template: AVG_141, chain: CHAIN, timeoutMs: 50 }, 10);
    const b = ev.request({ template: makeTemplate({ templateId: 2n, fees: [500n] }), chain: CHAIN, timeoutMs: 50 }, 11);
    assert.deepEqual([a, b], [1, 2]);
    const o1 = ev.pollOutcome()!;
    const o2 = ev.pollOutcome()!;
    assert.equal(ev.pollOutcome(), null);
    assert.equal(o1.kind === 'verdict' && o1.verdict.reason_code, 'avg_fee_below_minimum');
    assert.equal(o2.kind === 'verdict' && o2.verdict.accepted, true);
    assert.equal(o2.templateId, 2n);
    assert.equal(ev.nextDeadlineMs(), null);
  });

  test('VERIFY round trip: the decoded template judges the same and keeps every field', () => {
    const t = makeTemplate({ fees: [5n, 6n, 7n], templateId: 0xffff_ffff_ffff_ffffn });
    const tx2 = { ...t.transactions[2]!, depends: [1, 2] };
    const t2: BlockTemplate = { ...t, transactions: [t.transactions[0]!, t.transactions[1]!, tx2], longpollId: 'lp', maxtime: null };
    const bytes = encodeVerifyRequest(77, { template: t2, chain: CHAIN, timeoutMs: 123 });
    const d = new VerifierDeframer();
    d.push(bytes.subarray(0, 3));
    assert.equal(d.next(), 'need');
    d.push(bytes.subarray(3));
    const f = d.next();
    if (f === 'need' || 'error' in f) return assert.fail(`expected a frame, got ${JSON.stringify(f)}`);
    assert.equal(f.requestId, 77);
    const r = decodeVerifyBody(f.body);
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.equal(r.request.timeoutMs, 123);
    const u = r.request.template;
    assert.equal(u.templateId, t2.templateId);
    assert.equal(u.longpollId, 'lp');
    assert.equal(u.maxtime, null);
    assert.equal(u.target, t2.target);
    assert.deepEqual(u.transactions.map((x) => [bytesToHex(x.data), bytesToHex(x.txid), x.fee, x.weight, x.sigops, [...x.depends]]), t2.transactions.map((x) => [bytesToHex(x.data), bytesToHex(x.txid), x.fee, x.weight, x.sigops, [...x.depends]]));
    assert.deepEqual(r.request.chain.recentHashes.map((h) => bytesToHex(h)), [bytesToHex(OLD_HASH)]);
    assert.deepEqual(engine().evaluate(u, r.request.chain), engine().evaluate(t2, CHAIN));
  });

  test('VERIFY: a fractional deadline (sub-ms monotonic clocks: Deno, Bun) goes out rounded up, and the server accepts it', () => {
    const f = new VerifierDeframer();
    f.push(encodeVerifyRequest(3, { template: makeTemplate(), chain: CHAIN, timeoutMs: 1049.33 }));
    const frame = f.next();
    if (frame === 'need' || 'error' in frame) return assert.fail(`expected a frame, got ${JSON.stringify(frame)}`);
    const r = decodeVerifyBody(frame.body);
    assert.ok(r.ok, r.ok ? '' : r.error);
    if (r.ok) assert.equal(r.request.timeoutMs, 1050);
  });

  test('decoders never throw on arbitrary bytes; a broken stream closes the server session', () => {
    const bytes = encodeVerifyRequest(5, { template: makeTemplate(), chain: CHAIN, timeoutMs: 5 });
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 300; i++) {
      const mutated = bytes.slice();
      for (let k = 0; k < 4; k++) mutated[10 + Math.floor(rnd() * (mutated.length - 10))] = Math.floor(rnd() * 256);
      const s = new VerifierServerSession();
      s.receive(mutated);
      const req = s.pollRequest();
      if (req) engine().evaluate(req.request.template, req.request.chain); // a verdict, never a throw
      decodeVerifyBody(mutated.subarray(10, 10 + Math.floor(rnd() * (mutated.length - 10))));
    }
    const s = new VerifierServerSession();
    s.receive(new Uint8Array([6, 0, 0, 0, 9, 1, 0, 0, 0, 0]));
    assert.equal(s.closed, true);
    const err = s.pollTransmit()!;
    assert.equal(err[5], 0x82);
    // A bad body is answered with ERROR for its id and the connection goes on.
    const s2 = new VerifierServerSession();
    const bad = bytes.slice();
    bad[10] = 0xff; // json_length far beyond the body
    s2.receive(bad);
    s2.receive(bytes);
    assert.equal(s2.closed, false);
    assert.equal(s2.pollTransmit()![5], 0x82);
    assert.equal(s2.pollRequest()!.requestId, 5);
  });

  test('client: pipelined requests, out-of-order verdicts matched by id, deadline → verdict_timeout', () => {
    const c = new VerifierClientSession({ reconnectInitialMs: 100, reconnectMaxMs: 800 });
    const server = new VerifierServerSession();
    assert.equal(c.pollAction()?.type, 'connect');
    assert.equal(c.state, 'connecting');
    // Requests made while connecting wait for the connection.
    const r1 = c.request({ template: makeTemplate({ templateId: 1n }), chain: CHAIN, timeoutMs: 50 }, 0);
    assert.equal(c.pollTransmit(), null);
    c.connected(1);
    const r2 = c.request({ template: makeTemplate({ templateId: 2n }), chain: CHAIN, timeoutMs: 50 }, 2);
    const r3 = c.request({ template: makeTemplate({ templateId: 3n }), chain: CHAIN, timeoutMs: 50 }, 3);
    for (let b = c.pollTransmit(); b; b = c.pollTransmit()) server.receive(b);
    const reqs = [server.pollRequest()!, server.pollRequest()!, server.pollRequest()!];
    assert.deepEqual(reqs.map((r) => r.requestId), [r1, r2, r3]);
    // Answer 3 then 1; leave 2 unanswered.
    for (const r of [reqs[2]!, reqs[0]!]) server.respond(r.requestId, r.request.template.templateId, engine().evaluate(r.request.template, r.request.chain));
    const wire = concatBytes(server.pollTransmit()!, server.pollTransmit()!);
    c.receive(wire.subarray(0, 5), 10);
    c.receive(wire.subarray(5), 10);
    const outs: VerdictOutcome[] = [c.pollOutcome()!, c.pollOutcome()!];
    assert.deepEqual(outs.map((o) => [o.kind, o.requestId, o.templateId]), [['verdict', r3, 3n], ['verdict', r1, 1n]]);
    assert.equal(c.nextDeadlineMs(), 52);
    c.onTimeout(51);
    assert.equal(c.pollOutcome(), null);
    c.onTimeout(52);
    const t = c.pollOutcome()!;
    assert.equal(t.kind, 'unavailable');
    assert.equal(t.kind === 'unavailable' && t.reasonCode, 'verdict_timeout');
    assert.deepEqual([t.requestId, t.latencyMs, t.verdict.accepted, t.verdict.reason_code], [r2, 50, false, 'verdict_timeout']);
    // The late verdict is dropped and counted.
    server.respond(reqs[1]!.requestId, 2n, engine().evaluate(reqs[1]!.request.template, CHAIN));
    c.receive(server.pollTransmit()!, 60);
    assert.equal(c.pollOutcome(), null);
    assert.equal(c.stats.lateVerdicts, 1);
  });

  test('client: connection lost → in-flight unavailable at once; backoff doubles to the cap; reconnect resets it', () => {
    const c = new VerifierClientSession({ reconnectInitialMs: 100, reconnectMaxMs: 250 });
    c.pollAction();
    c.connected(0);
    c.request({ template: makeTemplate(), chain: CHAIN, timeoutMs: 1000 }, 0);
    c.connectionLost('reset', 5);
    const o = c.pollOutcome()!;
    assert.equal(o.kind === 'unavailable' && o.reasonCode, 'verifier_unavailable');
    assert.equal(o.latencyMs, 5);
    // Down: a request is answered at once, never queued.
    c.request({ template: makeTemplate(), chain: CHAIN, timeoutMs: 1000 }, 6);
    assert.equal(c.pollOutcome()?.verdict.reason_code, 'verifier_unavailable');
    assert.equal(c.nextDeadlineMs(), 105);
    c.onTimeout(104);
    assert.equal(c.pollAction(), null);
    c.onTimeout(105);
    assert.equal(c.pollAction()?.type, 'connect');
    c.connectFailed('refused', 106);
    assert.equal(c.nextDeadlineMs(), 106 + 200);
    c.onTimeout(306);
    c.pollAction();
    c.connectFailed('refused', 306);
    assert.equal(c.nextDeadlineMs(), 306 + 250, 'capped');
    c.onTimeout(556);
    c.pollAction();
    // A request while connecting fails with the connect failure, unavailable (not a timeout).
    c.request({ template: makeTemplate(), chain: CHAIN, timeoutMs: 1000 }, 556);
    c.connectFailed('refused', 557);
    assert.equal(c.pollOutcome()?.verdict.reason_code, 'verifier_unavailable');
    c.onTimeout(557 + 250);
    c.pollAction();
    c.connected(900);
    assert.equal(c.stats.connects, 2);
    c.connectionLost('eof', 901);
    assert.equal(c.nextDeadlineMs(), 1001, 'backoff reset to the initial delay after a connect');
    // Still connecting at the deadline: unavailable, not timeout.
    c.onTimeout(1001);
    c.pollAction();
    c.request({ template: makeTemplate(), chain: CHAIN, timeoutMs: 20 }, 1001);
    c.onTimeout(1021);
    const u = c.pollOutcome()!;
    assert.equal(u.kind === 'unavailable' && u.reasonCode, 'verifier_unavailable');
  });

  test('client: a garbage stream is a protocol error → disconnect action, requests unavailable; close ends all', () => {
    const c = new VerifierClientSession({ reconnectInitialMs: 10, reconnectMaxMs: 10 });
    c.pollAction();
    c.connected(0);
    c.request({ template: makeTemplate(), chain: CHAIN, timeoutMs: 100 }, 0);
    c.receive(new Uint8Array([1, 0, 0, 0, 0]), 1);
    assert.equal(c.pollAction()?.type, 'disconnect');
    assert.equal(c.pollOutcome()?.verdict.reason_code, 'verifier_unavailable');
    assert.equal(c.state, 'backoff');
    c.close(2);
    c.request({ template: makeTemplate(), chain: CHAIN, timeoutMs: 100 }, 3);
    assert.equal(c.pollOutcome()?.verdict.reason_detail, 'verifier client closed');
    c.onTimeout(1000);
    assert.equal(c.pollAction(), null);
  });
});
