// Miner-proposed work (issue 4 item 6) through the whole gateway in memory: NoiseInitiatorConnection
// miners on a FakeClock, a Gateway with the PolicyWorkSelection handler (core/gateway/work-selection.ts).
// SetCustomMiningJob → policy → .Success with a job the channel validates shares against (the
// expected header hash and block are computed HERE from SV2.md §5.4's custom-coinbase rule, not
// with the gateway's coinbase code), or .Error with SRI's string (SV2.md §5.8) and a registry
// code in `custom_job_rejected`. Also: standard channels refused on a work-selection connection,
// the flag refused when work selection is off, and createGateway's mining.allow_work_selection.
import { readFileSync } from 'node:fs';
import { describe, seed, test } from '../harness.ts';
import { pumpGateway } from '../support/memory-pump.ts';
import { assert } from '../assert.ts';
import { FakeClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { bytesToHex, concatBytes, hexToBytes, reversed } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { decodeMessage, encodeMessage, type Sv2Message } from '../../core/codec/index.ts';
import { NoiseInitiatorConnection, ResponderIdentity, generateAuthorityKeyPair } from '../../core/noise/index.ts';
import { sha256d } from '../../core/mining/hash.ts';
import { targetFromNbits, targetFromU256 } from '../../core/mining/target.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { loadConfig } from '../../core/config/index.ts';
import { PolicyEngine, type PolicySettings } from '../../core/policy/engine.ts';
import { createGateway, Gateway, PolicyWorkSelection, type GatewayEvent } from '../../core/gateway/index.ts';
import { isReasonCode, wireString } from '../../core/reason-codes.ts';
import { MiningJobTokens, rebuildDeclaredCoinbase, type DeclaredJob } from '../../core/job-declaration/index.ts';
import { acceptedVerdict } from '../../core/policy/types.ts';
import { coinbaseMerklePath } from '../../core/mining/merkle.ts';
import { answerCustomJobTokenCheck, CUSTOM_JOB_TOKEN_CHECK_TIMEOUT_MS, type CustomJobTokenAnswer, type CustomJobTokenCheck } from '../../core/gateway/work-selection.ts';
import { HELD_INPUT_BYTES_MAX } from '../../core/gateway/session.ts';
import { encodeWorkerControl, WorkerControlDecoder, type WorkerControlMessage } from '../../core/gateway/worker-control.ts';

type Msg<T extends Sv2Message['type']> = Extract<Sv2Message, { type: T }>;

/** One message through the control channel's encoder and decoder (core/gateway/worker-control.ts). */
function controlRoundTrip(message: WorkerControlMessage): WorkerControlMessage {
  const decoder = new WorkerControlDecoder();
  decoder.push(encodeWorkerControl(message));
  assert.equal(decoder.error, null, 'the control frame decodes');
  const out = decoder.poll();
  assert.ok(out !== undefined && decoder.poll() === undefined, 'exactly one message');
  return out;
}

const GBT = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;
let templateCounter = 0n;
function template(bits: string): BlockTemplate {
  const json = JSON.parse(JSON.stringify(GBT)) as Record<string, unknown>;
  delete json['target'];
  json['bits'] = bits;
  templateCounter += 1n;
  const parsed = parseGetBlockTemplate(json, { templateId: templateCounter });
  if (!parsed.ok) throw new Error(`fixture template did not parse: ${parsed.error.message}`);
  return parsed.value;
}

const POOL_SCRIPT = hexToBytes('0014751e76e8199196d454941c45d1b3a323f1433bd6');
const OTHER_SCRIPT = hexToBytes('0014ebe1b7dcc293ccaa0ee743a86f89df8258c208fc');
const WORK_SELECTION = 0b10;

// ---- independent encoders (Bitcoin consensus serialization, written out here) ------------------

function le32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
function le64(v: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; i < 8; i++) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
  return out;
}
/** Vec<TxOut>: count (< 0xfd here) ‖ (value LE64 ‖ len ‖ script)*. */
function txOutVec(outs: { value: bigint; script: Uint8Array }[]): Uint8Array {
  const bytes: number[] = [outs.length];
  for (const o of outs) bytes.push(...le64(o.value), o.script.length, ...o.script);
  return new Uint8Array(bytes);
}
/** BIP34: push of the height, minimal little-endian (height 105 → 01 69). */
function heightPush(height: number): Uint8Array {
  const bytes: number[] = [];
  for (let h = height; h > 0; h = Math.floor(h / 256)) bytes.push(h & 0xff);
  if (bytes[bytes.length - 1]! & 0x80) bytes.push(0);
  return new Uint8Array([bytes.length, ...bytes]);
}

// ---- the world ---------------------------------------------------------------------------------

class Miner {
  readonly noise: NoiseInitiatorConnection;
  readonly connId: number;
  readonly inbox: Sv2Message[] = [];
  closedByServer = false;

  constructor(readonly world: World) {
    const { clock, random, authority, gateway } = world;
    this.noise = new NoiseInitiatorConnection(
      { provider: nobleProvider, random, certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly }, wallClock: clock },
      clock.monotonicMs(),
    );
    const id = gateway.acceptConnection(clock.monotonicMs(), { wallMs: clock.wallMs() });
    assert.notEqual(id, null, 'connection accepted');
    this.connId = id!;
    world.miners.set(this.connId, this);
  }

  send(message: Sv2Message): void {
    assert.ok(this.noise.send(encodeMessage(message)).ok, 'client send');
    this.world.pump();
  }

  take<T extends Sv2Message['type']>(type: T): Msg<T> {
    const i = this.inbox.findIndex((m) => m.type === type);
    assert.ok(i >= 0, `expected a ${type}, inbox has [${this.inbox.map((m) => m.type).join(', ')}]`);
    return this.inbox.splice(i, 1)[0] as Msg<T>;
  }

  drain(): void {
    for (let e = this.noise.pollEvent(); e !== undefined; e = this.noise.pollEvent()) {
      if (e.type !== 'frame') continue;
      const m = decodeMessage(e.frame);
      assert.ok(m.ok, 'server frame decodes');
      this.inbox.push(m.value);
    }
  }

  setup(flags: number): void {
    this.send({
      type: 'SetupConnection', protocol: 0, minVersion: 2, maxVersion: 2, flags,
      endpointHost: '127.0.0.1', endpointPort: 34255, vendor: 'test', hardwareVersion: 'hw', firmware: 'fw', deviceId: 'dev',
    });
  }

  /** max_target with the top byte 0x7f: about half of all hashes are shares, so validation matters. */
  openExtended(requestId = 2): Msg<'OpenExtendedMiningChannelSuccess'> {
    const maxTarget = new Uint8Array(32).fill(0xff);
    maxTarget[31] = 0x7f;
    this.send({ type: 'OpenExtendedMiningChannel', requestId, userIdentity: 'alice.rig', nominalHashRate: 1, maxTarget, minExtranonceSize: 4 });
    const success = this.take('OpenExtendedMiningChannelSuccess');
    this.inbox.length = 0; // the pool's own job + SetNewPrevHash
    return success;
  }
}

class World {
  readonly clock = new FakeClock({ startMs: 1_000 });
  readonly random: SeededRandom;
  readonly authority: ReturnType<typeof generateAuthorityKeyPair>;
  readonly identity: ResponderIdentity;
  readonly gateway: Gateway;
  readonly handler: PolicyWorkSelection;
  readonly miners = new Map<number, Miner>();
  readonly events: GatewayEvent[] = [];
  readonly commands: NonNullable<ReturnType<Gateway['pollCommand']>>[] = [];

  readonly tokens: MiningJobTokens<DeclaredJob> | undefined;

  /** remote: the SetCustomMiningJob token checks this "worker" sent, not yet answered by the test's leader. */
  readonly checks: CustomJobTokenCheck[] = [];

  /**
   * `remote`: this gateway is a socket worker (gateway.workers ≥ 2): `tokens` is the LEADER's
   * table (given, to share one leader between two worker worlds, or made here) and the handler
   * asks it through `checks` + answerLeader(), as adapters/workers/{worker,leader}.ts do.
   */
  constructor(options: { workSelection?: boolean; build?: (w: World) => Gateway; tokens?: boolean; remote?: boolean; leaderTokens?: MiningJobTokens<DeclaredJob> } = {}) {
    this.random = new SeededRandom(seed);
    this.authority = generateAuthorityKeyPair(this.random);
    this.identity = new ResponderIdentity({ authoritySecretKey: this.authority.secretKey, validitySecs: 3600, backdateSecs: 300, random: this.random });
    const settings: PolicySettings = {
      feeTiers: [], feeTierRule: 'fixed', feeTier: '', blocklistTxids: [], blocklistScripts: [],
      maxTemplateWeight: 4_000_000, maxTemplateSigops: 80_000,
      subsidyHalvingInterval: 150, // regtest: the fixture is at height 104
      verifyCommitments: false, payout: [{ scriptPubKey: POOL_SCRIPT, weight: 1 }], poolTag: 'Test',
    };
    let gw: Gateway | undefined;
    this.tokens = options.leaderTokens ?? (options.tokens === true || options.remote === true ? new MiningJobTokens<DeclaredJob>({ allocatedExpiryMs: 600_000, declaredExpiryMs: 10_000, capacity: 100, tombstoneMs: 60_000 }, this.random) : undefined);
    const tokenSource = options.remote === true
      ? { remoteTokens: { timeoutMs: CUSTOM_JOB_TOKEN_CHECK_TIMEOUT_MS, request: (check: CustomJobTokenCheck) => void this.checks.push(check) } }
      : this.tokens === undefined ? {} : { tokens: this.tokens };
    this.handler = new PolicyWorkSelection({ engine: new PolicyEngine(settings), currentJob: () => gw?.currentJob ?? null, ...tokenSource });
    gw =
      options.build?.(this) ??
      new Gateway(
        {
          gatewayId: 7, mode: 'observe', provider: nobleProvider, random: this.random, identity: this.identity,
          auth: { mode: 'open', maxWorkerIdBytes: 32, maxWorkersPerChannel: 2 },
          channels: {
            sharesPerMinute: 6, minDifficulty: 0, maxDifficulty: 1e12, vardiffEnabled: false, vardiffRetargetIntervalSecs: 60,
            shareAckBatchSize: 1, shareAckDelayMs: 100, nonceExpireSecs: 60, extranonceRollableBytesDefault: 8,
            channelsPerConnectionMax: 8, ntimeFutureSecsMax: 7000, seenSharesMax: 1000,
          },
          payout: [{ scriptPubKey: POOL_SCRIPT, weight: 1 }], poolTag: 'Test',
          maxConnections: 10, maxFramePayloadBytes: 65_536, handshakeTimeoutMs: 5_000, idleTimeoutMs: 600_000,
          jobBroadcastIntervalMs: 0, blockRetryInitialMs: 500, blockRetryMaxMs: 2_000, shutdownDrainTimeoutMs: 5_000,
          ...(options.workSelection === false ? {} : { workSelection: this.handler }),
        },
        this.clock.monotonicMs(),
      );
    this.gateway = gw;
  }

  get now(): number {
    return this.clock.monotonicMs();
  }

  pump(): void {
    pumpGateway(this.gateway, this.miners, this.now, { command: (c) => this.commands.push(c), event: (e) => this.events.push(e) });
  }

  connect(): Miner {
    const miner = new Miner(this);
    this.pump();
    return miner;
  }

  /**
   * The leader's side, over the control channel's real encoding: each pending check crosses as a
   * TOKEN_CHECK frame, is answered from the leader's `tokens` on the clock `leaderNowMs` (default
   * this world's), and the TOKEN_ANSWER frame goes back to this worker's gateway.
   */
  answerLeader(leaderNowMs = this.now): CustomJobTokenAnswer[] {
    const answers: CustomJobTokenAnswer[] = [];
    for (const check of this.checks.splice(0)) {
      const atLeader = controlRoundTrip({ type: 'token_check', check });
      assert.equal(atLeader.type, 'token_check');
      const answer = answerCustomJobTokenCheck(this.tokens, (atLeader as { check: CustomJobTokenCheck }).check, leaderNowMs);
      const atWorker = controlRoundTrip({ type: 'token_answer', id: check.id, answer });
      assert.equal(atWorker.type, 'token_answer');
      const back = atWorker as { id: number; answer: CustomJobTokenAnswer };
      answers.push(back.answer);
      this.gateway.customJobTokenAnswer(back.id, back.answer, this.now);
    }
    this.pump();
    return answers;
  }

  eventsOf<T extends GatewayEvent['type']>(type: T): Extract<GatewayEvent, { type: T }>[] {
    return this.events.filter((e) => e.type === type) as Extract<GatewayEvent, { type: T }>[];
  }
}

// ---- custom jobs -------------------------------------------------------------------------------

/** A proposal the policy accepts: the released template's tip, nbits and transactions, a
 * coinbase paying the pool the whole value plus the witness commitment. */
function goodJob(t: BlockTemplate, channelId: number, requestId = 10): Msg<'SetCustomMiningJob'> {
  return {
    type: 'SetCustomMiningJob', channelId, requestId, miningJobToken: new Uint8Array([1, 2, 3]),
    version: 0x20000000, prevHash: t.prevHash, minNtime: t.curtime, nbits: t.nbits,
    coinbaseTxVersion: 2,
    coinbasePrefix: concatBytes(heightPush(t.height), new TextEncoder().encode('/miner-chosen/')),
    coinbaseTxInputNSequence: 0xfffffffe,
    coinbaseTxOutputs: txOutVec([{ value: t.coinbaseValue, script: POOL_SCRIPT }, { value: 0n, script: t.defaultWitnessCommitment }]),
    coinbaseTxLocktime: t.height - 1,
    merklePath: t.merklePath.map((h) => Uint8Array.from(h)),
  };
}

/** SV2.md §5.4 for SetCustomMiningJob: scriptSig = coinbase_prefix ‖ full extranonce, no push opcode. */
function expectedCoinbase(job: Msg<'SetCustomMiningJob'>, fullExtranonce: Uint8Array, witness: boolean): Uint8Array {
  const scriptSig = concatBytes(job.coinbasePrefix, fullExtranonce);
  return new Uint8Array([
    ...le32(job.coinbaseTxVersion), ...(witness ? [0x00, 0x01] : []),
    0x01, ...new Uint8Array(32), 0xff, 0xff, 0xff, 0xff, scriptSig.length, ...scriptSig, ...le32(job.coinbaseTxInputNSequence),
    ...job.coinbaseTxOutputs,
    ...(witness ? [0x01, 0x20, ...new Uint8Array(32)] : []),
    ...le32(job.coinbaseTxLocktime),
  ]);
}

function headerFor(job: Msg<'SetCustomMiningJob'>, fullExtranonce: Uint8Array, nonce: number, ntime: number): Uint8Array {
  let root = sha256d(expectedCoinbase(job, fullExtranonce, false));
  for (const node of job.merklePath) root = sha256d(concatBytes(root, node));
  return new Uint8Array([...le32(job.version), ...job.prevHash, ...root, ...le32(ntime), ...le32(job.nbits), ...le32(nonce)]);
}

/** One miner on a work-selection connection with an extended channel, after a template. */
function customWorld(bits: string, options: ConstructorParameters<typeof World>[0] = {}) {
  const world = new World(options);
  const t = template(bits);
  world.gateway.templateUpdated(t, world.now);
  world.pump();
  const miner = world.connect();
  miner.setup(WORK_SELECTION);
  assert.deepEqual(miner.take('SetupConnectionSuccess'), { type: 'SetupConnectionSuccess', usedVersion: 2, flags: 0 });
  const ext = miner.openExtended();
  return { world, t, miner, ext };
}

function grind(job: Msg<'SetCustomMiningJob'>, full: Uint8Array, want: (hash: bigint) => boolean): { nonce: number; hash: Uint8Array } {
  for (let nonce = 0; nonce < 100_000; nonce++) {
    const hash = sha256d(headerFor(job, full, nonce, job.minNtime));
    if (want(targetFromU256(hash))) return { nonce, hash };
  }
  throw new Error('nothing found');
}

// ---- tests ---------------------------------------------------------------------------------------

describe('work selection: SetCustomMiningJob accepted', () => {
  test('verified → .Success {channel_id, request_id, job_id}; shares validate against the miner\'s coinbase', () => {
    const { world, t, miner, ext } = customWorld('1e00ffff');
    const job = goodJob(t, ext.channelId);
    miner.send(job);
    const success = miner.take('SetCustomMiningJobSuccess');
    assert.equal(success.channelId, ext.channelId);
    assert.equal(success.requestId, 10);
    assert.ok(success.jobId > 0);
    const accepted = world.eventsOf('custom_job_accepted');
    assert.equal(accepted.length, 1);
    assert.equal(accepted[0]!.job_id, success.jobId);
    assert.equal(accepted[0]!.height, t.height);
    assert.equal(accepted[0]!.pool_paid_sats, t.coinbaseValue.toString());
    assert.equal(accepted[0]!.transactions_known, true);

    const rolled = new Uint8Array(ext.extranonceSize).fill(0x5a);
    const full = concatBytes(ext.extranoncePrefix, rolled);
    const shareTarget = targetFromU256(ext.target);
    const network = targetFromNbits(t.nbits)!;
    const good = grind(job, full, (h) => h <= shareTarget && h > network);
    miner.send({ type: 'SubmitSharesExtended', channelId: ext.channelId, sequenceNumber: 1, jobId: success.jobId, nonce: good.nonce, ntime: job.minNtime, version: job.version, extranonce: rolled });
    const ack = miner.take('SubmitSharesSuccess');
    assert.equal(ack.lastSequenceNumber, 1);
    const share = world.eventsOf('share_accepted').at(-1)!;
    assert.equal(share.job_id, success.jobId);
    assert.equal(share.hash, bytesToHex(reversed(good.hash)), 'the gateway hashed the header of the miner\'s own coinbase');
    assert.equal(share.template_id, '0');

    // A share above the target on the same job: the hash is checked, not just the job id.
    const low = grind(job, full, (h) => h > shareTarget);
    miner.send({ type: 'SubmitSharesExtended', channelId: ext.channelId, sequenceNumber: 2, jobId: success.jobId, nonce: low.nonce, ntime: job.minNtime, version: job.version, extranonce: rolled });
    assert.equal(miner.take('SubmitSharesError').errorCode, 'difficulty-too-low');
  });

  test('a block on a custom job is built from the miner\'s coinbase and the template\'s transactions', () => {
    const { world, t, miner, ext } = customWorld('207fffff');
    const job = goodJob(t, ext.channelId);
    miner.send(job);
    const { jobId } = miner.take('SetCustomMiningJobSuccess');
    const rolled = new Uint8Array(ext.extranonceSize).fill(0x11);
    const full = concatBytes(ext.extranoncePrefix, rolled);
    const shareTarget = targetFromU256(ext.target);
    const network = targetFromNbits(t.nbits)!;
    const found = grind(job, full, (h) => h <= network && h <= shareTarget);
    miner.send({ type: 'SubmitSharesExtended', channelId: ext.channelId, sequenceNumber: 1, jobId, nonce: found.nonce, ntime: job.minNtime, version: job.version, extranonce: rolled });
    assert.equal(world.commands.length, 1, 'submit_block queued');
    const expected = concatBytes(
      headerFor(job, full, found.nonce, job.minNtime),
      new Uint8Array([1 + t.transactions.length]),
      expectedCoinbase(job, full, true),
      ...t.transactions.map((tx) => tx.data),
    );
    assert.equal(world.commands[0]!.hex, bytesToHex(expected));
    const block = world.eventsOf('block_found')[0]!;
    assert.equal(block.block_hash, bytesToHex(reversed(found.hash)));
  });

  test('unknown transactions (a merkle path of no known template): the block is recorded, not submitted', () => {
    const { world, t, miner, ext } = customWorld('207fffff');
    const job = { ...goodJob(t, ext.channelId), merklePath: [new Uint8Array(32).fill(0xab)] };
    miner.send(job);
    const { jobId } = miner.take('SetCustomMiningJobSuccess');
    assert.equal(world.eventsOf('custom_job_accepted')[0]!.transactions_known, false);
    const rolled = new Uint8Array(ext.extranonceSize);
    const full = concatBytes(ext.extranoncePrefix, rolled);
    const network = targetFromNbits(t.nbits)!;
    const shareTarget = targetFromU256(ext.target);
    const found = grind(job, full, (h) => h <= network && h <= shareTarget);
    miner.send({ type: 'SubmitSharesExtended', channelId: ext.channelId, sequenceNumber: 1, jobId, nonce: found.nonce, ntime: job.minNtime, version: job.version, extranonce: rolled });
    assert.equal(world.commands.length, 0, 'nothing to submit');
    const block = world.eventsOf('block_found')[0]!;
    assert.equal(block.hex, '');
    assert.equal(block.block_hash, bytesToHex(reversed(found.hash)));
  });
});

describe('work selection: SetCustomMiningJob.Error', () => {
  const cases: { name: string; wire: string; reason: string; edit: (job: Msg<'SetCustomMiningJob'>, t: BlockTemplate) => Msg<'SetCustomMiningJob'> }[] = [
    {
      name: 'pool not paid (value to another script)', wire: 'invalid-coinbase-tx-outputs', reason: 'custom_job_pool_not_paid',
      edit: (j, t) => ({ ...j, coinbaseTxOutputs: txOutVec([{ value: t.coinbaseValue, script: OTHER_SCRIPT }, { value: 0n, script: t.defaultWitnessCommitment }]) }),
    },
    {
      name: 'pool paid less than the subsidy', wire: 'invalid-coinbase-tx-outputs', reason: 'custom_job_pool_not_paid',
      edit: (j, t) => ({ ...j, coinbaseTxOutputs: txOutVec([{ value: 1000n, script: POOL_SCRIPT }, { value: 0n, script: t.defaultWitnessCommitment }]) }),
    },
    { name: 'stale chain tip', wire: 'stale-chain-tip', reason: 'custom_job_stale_chain_tip', edit: (j) => ({ ...j, prevHash: new Uint8Array(32).fill(0xbb) }) },
    { name: 'nbits other than the chain\'s', wire: 'invalid-nbits', reason: 'custom_job_invalid_nbits', edit: (j) => ({ ...j, nbits: 0x1d00ffff }) },
    { name: 'min_ntime below mintime', wire: 'invalid-min-ntime', reason: 'custom_job_invalid_min_ntime', edit: (j, t) => ({ ...j, minNtime: t.mintime - 1 }) },
    { name: 'min_ntime beyond maxtime', wire: 'invalid-min-ntime', reason: 'custom_job_invalid_min_ntime', edit: (j, t) => ({ ...j, minNtime: t.maxtime! + 1 }) },
    { name: 'version without the BIP9 top bits', wire: 'invalid-version', reason: 'custom_job_invalid_version', edit: (j) => ({ ...j, version: 0x40000000 }) },
    { name: 'coinbase outputs that do not parse', wire: 'invalid-coinbase-tx-outputs', reason: 'custom_job_invalid_coinbase_outputs', edit: (j) => ({ ...j, coinbaseTxOutputs: new Uint8Array([0x02, 0x00, 0x01]) }) },
    { name: 'coinbase prefix without the BIP34 height', wire: 'invalid-coinbase-prefix', reason: 'custom_job_invalid_coinbase_prefix', edit: (j) => ({ ...j, coinbasePrefix: new Uint8Array([0x01, 0x01, 0x00]) }) },
    { name: 'merkle path deeper than any block', wire: 'invalid-merkle-path', reason: 'custom_job_invalid_merkle_path', edit: (j) => ({ ...j, merklePath: Array.from({ length: 16 }, () => new Uint8Array(32)) }) },
    { name: 'a channel that is not open', wire: 'invalid-channel-id', reason: 'invalid_channel_id', edit: (j) => ({ ...j, channelId: 999 }) },
  ];
  for (const c of cases) {
    test(`${c.name} → '${c.wire}' with ${c.reason}`, () => {
      const { world, t, miner, ext } = customWorld('1e00ffff');
      const job = c.edit(goodJob(t, ext.channelId, 33), t);
      miner.send(job);
      assert.deepEqual(miner.take('SetCustomMiningJobError'), { type: 'SetCustomMiningJobError', channelId: job.channelId, requestId: 33, errorCode: c.wire });
      const rejected = world.eventsOf('custom_job_rejected');
      assert.equal(rejected.length, 1);
      assert.equal(rejected[0]!.reason_code, c.reason);
      assert.ok(isReasonCode(c.reason));
      assert.equal(rejected[0]!.wire, c.wire);
      assert.equal(wireString(rejected[0]!.reason_code), c.wire, 'the registry names the same wire string');
      assert.equal(world.eventsOf('custom_job_accepted').length, 0);
      assert.ok(!miner.closedByServer, 'the connection stays open');
    });
  }

  test('before any template every custom job is a stale chain tip (fail closed)', () => {
    const world = new World();
    const miner = world.connect();
    miner.setup(WORK_SELECTION);
    miner.take('SetupConnectionSuccess');
    const ext = miner.openExtended();
    miner.send(goodJob(template('1e00ffff'), ext.channelId));
    assert.equal(miner.take('SetCustomMiningJobError').errorCode, 'stale-chain-tip');
  });
});

describe('work selection: connection rules', () => {
  test('a standard channel on a work-selection connection → OpenMiningChannel.Error standard-channels-not-supported-for-custom-work', () => {
    const { world, miner } = customWorld('1e00ffff');
    miner.send({ type: 'OpenStandardMiningChannel', requestId: 5, userIdentity: 'alice.rig', nominalHashRate: 1, maxTarget: new Uint8Array(32).fill(0xff) });
    assert.deepEqual(miner.take('OpenMiningChannelError'), { type: 'OpenMiningChannelError', requestId: 5, errorCode: 'standard-channels-not-supported-for-custom-work' });
    const rejected = world.eventsOf('channel_open_rejected').at(-1)!;
    assert.equal(rejected.reason_code, 'standard_channels_not_supported');
    assert.equal(rejected.wire, 'standard-channels-not-supported-for-custom-work');
  });

  test('without REQUIRES_WORK_SELECTION: standard channels open, and SetCustomMiningJob closes with unexpected_message', () => {
    const world = new World();
    world.gateway.templateUpdated(template('1e00ffff'), world.now);
    const miner = world.connect();
    miner.setup(0);
    miner.take('SetupConnectionSuccess');
    miner.send({ type: 'OpenStandardMiningChannel', requestId: 5, userIdentity: 'alice.rig', nominalHashRate: 1, maxTarget: new Uint8Array(32).fill(0xff) });
    miner.take('OpenStandardMiningChannelSuccess');
    const ext = miner.openExtended();
    miner.send(goodJob(world.gateway.currentJob!.template, ext.channelId));
    assert.ok(miner.closedByServer);
    assert.equal(world.eventsOf('connection_closed').at(-1)!.reason_code, 'unexpected_message');
  });

  test('work selection disabled → REQUIRES_WORK_SELECTION refused with the flag in .Error.flags', () => {
    const world = new World({ workSelection: false });
    const miner = world.connect();
    miner.setup(WORK_SELECTION | 0b100);
    assert.deepEqual(miner.take('SetupConnectionError'), { type: 'SetupConnectionError', flags: WORK_SELECTION, errorCode: 'unsupported-feature-flags' });
    assert.ok(miner.closedByServer);
  });

  for (const allow of [false, true]) {
    test(`createGateway with mining.allow_work_selection = ${allow}`, () => {
      const example = readFileSync(new URL('../../deploy/config/example.toml', import.meta.url), 'utf8');
      // [job_declaration] needs allow_work_selection (a config cross rule): off only without it.
      const text = allow ? example : example.replace(/\[job_declaration\][\s\S]*$/, '');
      const loaded = loadConfig({ tomlText: text, env: { RESERVEGRID_GATEWAY__MODE: 'observe', RESERVEGRID_MINING__ALLOW_WORK_SELECTION: String(allow) } });
      assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.problems));
      assert.equal(loaded.config.mining.allow_work_selection, allow);
      const world = new World({ build: (w) => createGateway(loaded.config, { provider: nobleProvider, random: w.random, identity: w.identity, nowMs: w.clock.monotonicMs() }) });
      const miner = world.connect();
      miner.setup(WORK_SELECTION);
      if (allow) miner.take('SetupConnectionSuccess');
      else assert.equal(miner.take('SetupConnectionError').flags, WORK_SELECTION);
    });
  }
});

// ---- issue 11 item 4: SetCustomMiningJob with a Job Declaration token --------------------------

/**
 * Declare `job` (its coinbase as DeclareMiningJob carries it: WITH the BIP141 fields, the
 * extranonce slot the channel's size) with `transactions`, for `user`; returns the declared token.
 */
function declare(world: World, job: Msg<'SetCustomMiningJob'>, fullExtranonceBytes: number, transactions: BlockTemplate['transactions'], user = 'alice'): Uint8Array {
  const tokens = world.tokens!;
  const prefix = new Uint8Array([...le32(job.coinbaseTxVersion), 0x00, 0x01, 0x01, ...new Uint8Array(32), 0xff, 0xff, 0xff, 0xff, job.coinbasePrefix.length + fullExtranonceBytes, ...job.coinbasePrefix]);
  const suffix = new Uint8Array([...le32(job.coinbaseTxInputNSequence), ...job.coinbaseTxOutputs, 0x01, 0x20, ...new Uint8Array(32), ...le32(job.coinbaseTxLocktime)]);
  const rebuilt = rebuildDeclaredCoinbase(prefix, suffix);
  assert.ok(rebuilt.ok, rebuilt.ok ? '' : rebuilt.error);
  const t = world.gateway.currentJob!.template;
  const declared: DeclaredJob = {
    declarationId: 41n, connId: 99, requestId: 1, user, version: job.version, coinbasePrefix: prefix, coinbaseSuffix: suffix, coinbase: rebuilt.value,
    transactions, merklePath: coinbaseMerklePath(transactions.map((x) => x.txid)), prevHash: t.prevHash, height: t.height, nbits: t.nbits, target: t.target,
    declaredAtMs: world.now, verdict: acceptedVerdict({}),
  };
  const allocated = tokens.allocate(user, 99, false, world.now);
  assert.ok(tokens.takeAllocated(allocated, 99, world.now).ok);
  return tokens.declare(allocated, declared, world.now);
}

describe('work selection: SetCustomMiningJob with Job Declaration tokens', () => {
  test('a declared token: accepted once; a block holds exactly the DECLARED transactions and is submitted', () => {
    const { world, t, miner, ext } = customWorld('207fffff', { tokens: true });
    const declaredTxs = t.transactions.slice(0, 1);
    const base = { ...goodJob(t, ext.channelId), merklePath: coinbaseMerklePath(declaredTxs.map((x) => x.txid)) };
    const full = concatBytes(ext.extranoncePrefix, new Uint8Array(ext.extranonceSize).fill(0x22));
    const job = { ...base, miningJobToken: declare(world, base, full.length, declaredTxs) };
    miner.send(job);
    const { jobId } = miner.take('SetCustomMiningJobSuccess');
    const accepted = world.eventsOf('custom_job_accepted')[0]!;
    assert.equal(accepted.declaration_id, '41');
    assert.equal(accepted.transactions_known, true, 'the declaration carries the transactions (no lost block)');
    const found = grind(job, full, (h) => h <= targetFromNbits(t.nbits)! && h <= targetFromU256(ext.target));
    miner.send({ type: 'SubmitSharesExtended', channelId: ext.channelId, sequenceNumber: 1, jobId, nonce: found.nonce, ntime: job.minNtime, version: job.version, extranonce: full.subarray(ext.extranoncePrefix.length) });
    assert.equal(world.commands.length, 1, 'submit_block queued');
    const expected = concatBytes(headerFor(job, full, found.nonce, job.minNtime), new Uint8Array([1 + declaredTxs.length]), expectedCoinbase(job, full, true), ...declaredTxs.map((x) => x.data));
    assert.equal(world.commands[0]!.hex, bytesToHex(expected));
    // Single use.
    miner.send({ ...job, requestId: 11 });
    assert.equal(miner.take('SetCustomMiningJobError').errorCode, 'invalid-mining-job-token');
    assert.equal(world.eventsOf('custom_job_rejected').at(-1)!.reason_code, 'jd_token_reused');
  });

  test('unknown, foreign and expired (10 s after DeclareMiningJob.Success) tokens → invalid-mining-job-token', () => {
    const { world, t, miner, ext } = customWorld('1e00ffff', { tokens: true });
    const full = ext.extranoncePrefix.length + ext.extranonceSize;
    miner.send(goodJob(t, ext.channelId));
    assert.equal(miner.take('SetCustomMiningJobError').errorCode, 'invalid-mining-job-token');
    assert.equal(world.eventsOf('custom_job_rejected').at(-1)!.reason_code, 'jd_token_unknown');
    const bobs = declare(world, goodJob(t, ext.channelId), full, t.transactions, 'bob');
    miner.send({ ...goodJob(t, ext.channelId, 11), miningJobToken: bobs });
    assert.equal(miner.take('SetCustomMiningJobError').errorCode, 'invalid-mining-job-token');
    assert.equal(world.eventsOf('custom_job_rejected').at(-1)!.reason_code, 'jd_token_foreign');
    const late = declare(world, goodJob(t, ext.channelId), full, t.transactions);
    const onTime = declare(world, goodJob(t, ext.channelId), full, t.transactions);
    world.clock.advanceTo(world.now + 9_999);
    miner.send({ ...goodJob(t, ext.channelId, 12), miningJobToken: onTime });
    miner.take('SetCustomMiningJobSuccess');
    world.clock.advanceTo(world.now + 1);
    miner.send({ ...goodJob(t, ext.channelId, 13), miningJobToken: late });
    assert.equal(miner.take('SetCustomMiningJobError').errorCode, 'invalid-mining-job-token');
    assert.equal(world.eventsOf('custom_job_rejected').at(-1)!.reason_code, 'jd_token_expired');
  });

  test('a declared job on the old tip after a prevhash switch → stale-chain-tip (fail closed), token spent', () => {
    const { world, t, miner, ext } = customWorld('1e00ffff', { tokens: true });
    const base = goodJob(t, ext.channelId);
    const token = declare(world, base, ext.extranoncePrefix.length + ext.extranonceSize, t.transactions);
    const next = { ...template('1e00ffff'), prevHash: sha256d(new TextEncoder().encode('the next block')), height: t.height + 1 };
    world.gateway.templateUpdated(next, world.now);
    world.pump();
    assert.equal(bytesToHex(world.gateway.currentJob!.prevHash), bytesToHex(next.prevHash), 'switched to the new tip');
    miner.send({ ...base, miningJobToken: token });
    assert.equal(miner.take('SetCustomMiningJobError').errorCode, 'stale-chain-tip');
    assert.equal(world.eventsOf('custom_job_rejected').at(-1)!.reason_code, 'custom_job_stale_chain_tip');
  });

  test('each field that differs from the declaration → SRI\'s SetCustomMiningJob.Error string', () => {
    const cases: [string, (j: Msg<'SetCustomMiningJob'>) => Msg<'SetCustomMiningJob'>, string, string][] = [
      ['prev_hash', (j) => ({ ...j, prevHash: new Uint8Array(32).fill(3) }), 'stale-chain-tip', 'custom_job_stale_chain_tip'],
      ['nbits', (j) => ({ ...j, nbits: 0x1d00ffff }), 'invalid-nbits', 'custom_job_invalid_nbits'],
      ['version', (j) => ({ ...j, version: 0x20000004 }), 'invalid-version', 'custom_job_invalid_version'],
      ['coinbase_tx_version', (j) => ({ ...j, coinbaseTxVersion: 1 }), 'invalid-coinbase-tx-version', 'custom_job_invalid_coinbase_tx_version'],
      ['coinbase_prefix', (j) => ({ ...j, coinbasePrefix: concatBytes(j.coinbasePrefix, new Uint8Array([0x51])) }), 'invalid-coinbase-prefix', 'custom_job_invalid_coinbase_prefix'],
      ['input nSequence', (j) => ({ ...j, coinbaseTxInputNSequence: 0xffffffff }), 'invalid-coinbase-tx-input-n-sequence', 'custom_job_invalid_input_sequence'],
      ['outputs', (j) => ({ ...j, coinbaseTxOutputs: concatBytes(j.coinbaseTxOutputs.subarray(0, 1), new Uint8Array([1]), j.coinbaseTxOutputs.subarray(2)) }), 'invalid-coinbase-tx-outputs', 'custom_job_invalid_coinbase_outputs'],
      ['locktime', (j) => ({ ...j, coinbaseTxLocktime: 0 }), 'invalid-coinbase-tx-locktime', 'custom_job_invalid_locktime'],
      ['merkle_path', (j) => ({ ...j, merklePath: j.merklePath.slice(1) }), 'invalid-merkle-path', 'custom_job_invalid_merkle_path'],
    ];
    for (const [name, edit, wire, reason] of cases) {
      const { world, t, miner, ext } = customWorld('1e00ffff', { tokens: true });
      const base = goodJob(t, ext.channelId);
      const token = declare(world, base, ext.extranoncePrefix.length + ext.extranonceSize, t.transactions);
      miner.send(edit({ ...base, miningJobToken: token }));
      assert.equal(miner.take('SetCustomMiningJobError').errorCode, wire, name);
      assert.equal(world.eventsOf('custom_job_rejected').at(-1)!.reason_code, reason, name);
    }
  });
});

// ---- issue 13: gateway.workers ≥ 2 — the tokens are the leader's -----------------------------

describe('work selection on a socket worker: the token check goes to the leader', () => {
  test('a declared token through the leader: accepted once, the block holds the declared transactions; reuse, another worker\'s reuse and a foreign user refused', () => {
    const { world, t, miner, ext } = customWorld('207fffff', { remote: true });
    const declaredTxs = t.transactions.slice(0, 1);
    const base = { ...goodJob(t, ext.channelId), merklePath: coinbaseMerklePath(declaredTxs.map((x) => x.txid)) };
    const full = concatBytes(ext.extranoncePrefix, new Uint8Array(ext.extranonceSize).fill(0x22));
    const job = { ...base, miningJobToken: declare(world, base, full.length, declaredTxs) };
    miner.send(job);
    // Nothing is answered before the leader is: the check is out, the input held.
    assert.deepEqual(miner.inbox.map((m) => m.type), []);
    assert.equal(world.checks.length, 1);
    assert.deepEqual([world.checks[0]!.user, world.checks[0]!.fullExtranonceBytes], ['alice.rig', full.length]);
    const [answer] = world.answerLeader();
    assert.ok(answer!.ok && answer!.declared !== null && answer!.declared.declarationId === 41n);
    const { jobId } = miner.take('SetCustomMiningJobSuccess');
    const accepted = world.eventsOf('custom_job_accepted')[0]!;
    assert.deepEqual([accepted.declaration_id, accepted.transactions_known], ['41', true]);
    const found = grind(job, full, (h) => h <= targetFromNbits(t.nbits)! && h <= targetFromU256(ext.target));
    miner.send({ type: 'SubmitSharesExtended', channelId: ext.channelId, sequenceNumber: 1, jobId, nonce: found.nonce, ntime: job.minNtime, version: job.version, extranonce: full.subarray(ext.extranoncePrefix.length) });
    assert.equal(world.commands.length, 1, 'submit_block queued on the worker');
    const expected = concatBytes(headerFor(job, full, found.nonce, job.minNtime), new Uint8Array([1 + declaredTxs.length]), expectedCoinbase(job, full, true), ...declaredTxs.map((x) => x.data));
    assert.equal(world.commands[0]!.hex, bytesToHex(expected), 'the block: header, coinbase, the declared transactions');
    // Reuse on the same worker.
    miner.send({ ...job, requestId: 11 });
    world.answerLeader();
    assert.equal(miner.take('SetCustomMiningJobError').errorCode, 'invalid-mining-job-token');
    assert.equal(world.eventsOf('custom_job_rejected').at(-1)!.reason_code, 'jd_token_reused');
    // Reuse on ANOTHER worker of the same leader: one table, so refused as well.
    const other = customWorld('207fffff', { remote: true, leaderTokens: world.tokens! });
    other.miner.send({ ...job, channelId: other.ext.channelId, requestId: 12 });
    other.world.answerLeader();
    assert.equal(other.miner.take('SetCustomMiningJobError').errorCode, 'invalid-mining-job-token');
    assert.equal(other.world.eventsOf('custom_job_rejected').at(-1)!.reason_code, 'jd_token_reused');
    // Bob's declared token on alice's channel.
    const bobs = declare(world, base, full.length, declaredTxs, 'bob');
    miner.send({ ...job, requestId: 13, miningJobToken: bobs });
    world.answerLeader();
    assert.equal(miner.take('SetCustomMiningJobError').errorCode, 'invalid-mining-job-token');
    assert.equal(world.eventsOf('custom_job_rejected').at(-1)!.reason_code, 'jd_token_foreign');
    // A field that differs from the declaration: the leader compares, with SRI's string.
    const fresh = declare(world, base, full.length, declaredTxs);
    miner.send({ ...job, requestId: 14, miningJobToken: fresh, coinbaseTxLocktime: 0 });
    world.answerLeader();
    assert.equal(miner.take('SetCustomMiningJobError').errorCode, 'invalid-coinbase-tx-locktime');
    assert.equal(world.eventsOf('custom_job_rejected').at(-1)!.reason_code, 'custom_job_invalid_locktime');
    assert.equal(world.handler.pendingChecks, 0);
  });

  test('expiry is the leader\'s: 10 s after DeclareMiningJob.Success on its clock, ±1 ms', () => {
    const { world, t, miner, ext } = customWorld('1e00ffff', { remote: true });
    const full = ext.extranoncePrefix.length + ext.extranonceSize;
    const declaredAt = world.now;
    const onTime = declare(world, goodJob(t, ext.channelId), full, t.transactions);
    const late = declare(world, goodJob(t, ext.channelId), full, t.transactions);
    miner.send({ ...goodJob(t, ext.channelId, 12), miningJobToken: onTime });
    world.answerLeader(declaredAt + 9_999);
    miner.take('SetCustomMiningJobSuccess');
    miner.send({ ...goodJob(t, ext.channelId, 13), miningJobToken: late });
    world.answerLeader(declaredAt + 10_000);
    assert.equal(miner.take('SetCustomMiningJobError').errorCode, 'invalid-mining-job-token');
    assert.equal(world.eventsOf('custom_job_rejected').at(-1)!.reason_code, 'jd_token_expired');
  });

  test('per-connection order: frames after a SetCustomMiningJob wait for its answer; another connection is not held', () => {
    const { world, t, miner, ext } = customWorld('1e00ffff', { remote: true });
    const full = ext.extranoncePrefix.length + ext.extranonceSize;
    const token = declare(world, goodJob(t, ext.channelId), full, t.transactions);
    miner.send({ ...goodJob(t, ext.channelId, 20), miningJobToken: token });
    // Sent before the first is answered: the same token again, then a RequestExtensions.
    miner.send({ ...goodJob(t, ext.channelId, 21), miningJobToken: token });
    miner.send({ type: 'RequestExtensions', requestId: 22, requestedExtensions: [0x0002] });
    assert.equal(world.checks.length, 1, 'the second check waits for the first answer');
    assert.deepEqual(miner.inbox.map((m) => m.type), [], 'nothing handled past the pending job');
    // Meanwhile another miner on this worker is served at once.
    const bystander = world.connect();
    bystander.setup(WORK_SELECTION);
    bystander.take('SetupConnectionSuccess');
    world.answerLeader();
    assert.equal(world.checks.length, 1, 'the held SetCustomMiningJob went out in turn');
    assert.deepEqual(miner.inbox.map((m) => m.type), ['SetCustomMiningJobSuccess'], 'RequestExtensions still held behind the second job');
    world.answerLeader();
    assert.deepEqual(miner.inbox.map((m) => m.type), ['SetCustomMiningJobSuccess', 'SetCustomMiningJobError', 'RequestExtensionsSuccess']);
    assert.equal(world.eventsOf('custom_job_rejected').at(-1)!.reason_code, 'jd_token_reused');
  });

  test('no answer within 2,000 ms → custom_job_token_check_timeout (fail closed), the held input resumes; a late answer changes nothing', () => {
    const { world, t, miner, ext } = customWorld('1e00ffff', { remote: true });
    const full = ext.extranoncePrefix.length + ext.extranonceSize;
    const token = declare(world, goodJob(t, ext.channelId), full, t.transactions);
    const sentAt = world.now;
    miner.send({ ...goodJob(t, ext.channelId, 30), miningJobToken: token });
    miner.send({ type: 'RequestExtensions', requestId: 31, requestedExtensions: [0x0002] });
    world.clock.advanceTo(sentAt + CUSTOM_JOB_TOKEN_CHECK_TIMEOUT_MS - 1);
    world.gateway.onTimeout(world.now);
    world.pump();
    assert.deepEqual(miner.inbox.map((m) => m.type), [], 'still waiting 1 ms before the deadline');
    world.clock.advanceTo(sentAt + CUSTOM_JOB_TOKEN_CHECK_TIMEOUT_MS);
    world.gateway.onTimeout(world.now);
    world.pump();
    assert.deepEqual(miner.inbox.map((m) => m.type), ['SetCustomMiningJobError', 'RequestExtensionsSuccess']);
    assert.equal(miner.inbox[0]!.type === 'SetCustomMiningJobError' && miner.inbox[0]!.errorCode, 'invalid-mining-job-token');
    const rejected = world.eventsOf('custom_job_rejected').at(-1)!;
    assert.deepEqual([rejected.reason_code, rejected.request_id], ['custom_job_token_check_timeout', 30]);
    assert.ok(isReasonCode('custom_job_token_check_timeout') && wireString('custom_job_token_check_timeout') === 'invalid-mining-job-token');
    // The leader answers after all (it spent the token): counted, nothing sent, nothing installed.
    const accepted = world.eventsOf('custom_job_accepted').length;
    world.answerLeader();
    assert.deepEqual([world.handler.counters.late, world.handler.counters.timedOut, world.eventsOf('custom_job_accepted').length], [1, 1, accepted]);
    assert.equal(miner.inbox.length, 2);
  });

  test('more than 1 MiB sent while waiting → closed with custom_job_held_input_exceeded; a closed connection\'s answer is late', () => {
    const { world, t, miner, ext } = customWorld('1e00ffff', { remote: true });
    const full = ext.extranoncePrefix.length + ext.extranonceSize;
    miner.send({ ...goodJob(t, ext.channelId, 40), miningJobToken: declare(world, goodJob(t, ext.channelId), full, t.transactions) });
    // SetCustomMiningJobs of ~64 KB each (a long coinbase_tx_outputs): held undecoded, counted by size.
    const big = { ...goodJob(t, ext.channelId, 41), coinbaseTxOutputs: new Uint8Array(65_000) };
    const frameBytes = encodeMessage(big).length;
    const fit = Math.floor(HELD_INPUT_BYTES_MAX / frameBytes);
    for (let i = 0; i < fit; i++) miner.send(big);
    assert.equal(miner.closedByServer, false, `${fit} frames (${fit * frameBytes} bytes) still held`);
    miner.send(big);
    const closed = world.eventsOf('connection_closed').find((e) => e.conn_id === miner.connId);
    assert.equal(closed?.reason_code, 'custom_job_held_input_exceeded');
    assert.equal(world.handler.pendingChecks, 0, 'the pending check was abandoned with the connection');
    world.answerLeader();
    assert.equal(world.handler.counters.late, 1);
  });
});

describe('leader: a socket worker\'s block is adopted by this gateway (docs/scaling.md "A worker\'s block")', () => {
  test('adoptWorkerBlock: submitted and retried by this gateway\'s submitter, one result; a pending id or no block refused', () => {
    const world = new World();
    const header = new Uint8Array(80).map((_, i) => i);
    const hex = bytesToHex(concatBytes(header, Uint8Array.of(0)));
    assert.equal(world.gateway.adoptWorkerBlock('7-1-9', hex, world.now), true);
    assert.equal(world.gateway.adoptWorkerBlock('7-1-9', hex, world.now), false, 'already pending');
    for (const bad of ['zz', hex.slice(0, 160), hex.toUpperCase(), hex.slice(1)]) assert.equal(world.gateway.adoptWorkerBlock('7-1-10', bad, world.now), false, `no block: ${bad.slice(0, 12)}…`);
    world.pump();
    assert.deepEqual(world.commands, [{ type: 'submit_block', block_id: '7-1-9', hex, attempt: 1 }]);
    world.gateway.blockSubmitResult('7-1-9', { kind: 'transport_error', code: 'upstream-timeout', message: 'no answer' }, world.now);
    world.pump();
    const retry = world.eventsOf('block_submit_retry')[0]!;
    assert.deepEqual([retry.block_id, retry.block_hash, retry.retry_in_ms], ['7-1-9', bytesToHex(reversed(sha256d(header))), 500]);
    world.clock.advanceTo(world.now + 500);
    world.gateway.onTimeout(world.now);
    world.pump();
    assert.deepEqual(world.commands.map((c) => c.attempt), [1, 2], 'retried here, after the backoff');
    world.gateway.blockSubmitResult('7-1-9', { kind: 'accepted' }, world.now);
    world.pump();
    assert.deepEqual(world.eventsOf('block_submit_result').map((e) => [e.block_id, e.result, e.attempts]), [['7-1-9', 'accepted', 2]]);
  });
});
