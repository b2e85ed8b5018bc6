// Miner-proposed work (issue 4 item 6, SPEC §3 "SetCustomMiningJob verified by policy before it
// is accepted"): the WorkSelectionHandler the session calls for SetCustomMiningJob on a
// connection that negotiated REQUIRES_WORK_SELECTION (SV2.md §4). Pure and synchronous.
//
//   1. the channel must be an open EXTENDED channel of this connection, else `invalid-channel-id`
//      (standard channels are refused at open on such a connection: session.ts)
//   2. PolicyEngine.verifyCustomJob against the chain view of the RELEASED template (the one
//      miners are working on): prev_hash must be its prevhash, nbits its nbits, min_ntime within
//      [mintime, maxtime], BIP9 version, BIP34 coinbase_prefix, merkle path depth, outputs that
//      parse and pay the pool at least the subsidy (engine.ts). A failure answers
//      SetCustomMiningJob.Error with SRI's string (SV2.md §5.8) and emits `custom_job_rejected`
//      with the registry code.
//   3. the job is built with SRI's custom coinbase (SV2.md §5.4; core/channels/custom-job.ts)
//      and installed in the channel (MiningChannels.addCustomJob), so shares against its job id
//      validate; SetCustomMiningJob.Success {channel_id, request_id, job_id}; `custom_job_accepted`.
//
// DECISIONS:
// - Chain view = the released template (gateway.currentJob), not the newest template seen: in
//   inline mode a custom job on a tip whose template has no acceptable verdict yet is refused as
//   `stale-chain-tip` (fail closed, SPEC §6). Before any template, every custom job is stale.
// - mining_job_token is not checked: there is no Job Declaration Server here (SRI's pool checks
//   it against its JDS, `invalid-mining-job-token`); policy is what gates the job.
// - Transactions: only the merkle path is sent. When it equals the released template's path, the
//   block uses that template's transactions; an empty path is a coinbase-only block; otherwise
//   a found block is recorded with an empty hex and not submitted (custom-job.ts).
import { bytesToHex, equalBytes, reversed } from '../bytes.ts';
import type { Sv2Message } from '../codec/index.ts';
import type { SetCustomMiningJob } from '../codec/messages/mining.ts';
import { CustomJobSource, type JobTemplate, type MiningChannels } from '../channels/index.ts';
import { parseTxOutVec } from '../policy/bitcoin.ts';
import type { PolicyEngine } from '../policy/engine.ts';
import { EMPTY_CHAIN_VIEW, type ChainView } from '../policy/types.ts';
import { targetFromNbits } from '../mining/target.ts';
import { wireString, type ReasonCode } from '../reason-codes.ts';
import type { TemplateTransaction } from '../template/template.ts';
import type { GatewayEventSink } from './events.ts';
import type { WorkSelectionHandler } from './session.ts';

export interface PolicyWorkSelectionOptions {
  readonly engine: PolicyEngine;
  /** The released template miners work on (Gateway.currentJob); null before the first. */
  readonly currentJob: () => JobTemplate | null;
}

function _samePath(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!equalBytes(a[i]!, b[i]!)) return false;
  return true;
}

export class PolicyWorkSelection implements WorkSelectionHandler {
  readonly #engine: PolicyEngine;
  readonly #currentJob: () => JobTemplate | null;
  /** Counters for tests and /status. */
  readonly counters = { accepted: 0, rejected: 0 };

  constructor(options: PolicyWorkSelectionOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError(`PolicyWorkSelection: options must be an object, got ${String(options)}`);
    if (options.engine === null || typeof options.engine !== 'object' || typeof options.engine.verifyCustomJob !== 'function') {
      throw new TypeError('PolicyWorkSelection: options.engine must be a PolicyEngine');
    }
    if (typeof options.currentJob !== 'function') throw new TypeError('PolicyWorkSelection: options.currentJob must be a function');
    this.#engine = options.engine;
    this.#currentJob = options.currentJob;
  }

  /** The chain view and min_ntime bounds from the released template. */
  static chainOf(current: JobTemplate | null): { chain: ChainView; minNtime: number | null; maxNtime: number | null } {
    if (current === null) return { chain: EMPTY_CHAIN_VIEW, minNtime: null, maxNtime: null };
    return {
      chain: { tipHash: current.prevHash, tipHeight: current.height - 1, recentHashes: [], expectedNbits: current.nbits },
      minNtime: current.template.mintime,
      maxNtime: current.maxNtime,
    };
  }

  handleSetCustomMiningJob(connId: number, channels: MiningChannels, m: SetCustomMiningJob, nowMs: number, emit: GatewayEventSink): Sv2Message[] {
    const refuse = (reasonCode: ReasonCode, wire: string, detail: string): Sv2Message[] => {
      this.counters.rejected += 1;
      emit({ type: 'custom_job_rejected', conn_id: connId, channel_id: m.channelId, request_id: m.requestId, reason_code: reasonCode, wire, detail });
      return [{ type: 'SetCustomMiningJobError', channelId: m.channelId, requestId: m.requestId, errorCode: wire }];
    };
    const info = channels.channelInfo(m.channelId);
    if (info === undefined || info.kind !== 'extended') {
      return refuse('invalid_channel_id', wireString('invalid_channel_id'), `channel ${m.channelId} is not an open extended channel of this connection`);
    }
    const current = this.#currentJob();
    const { chain, minNtime, maxNtime } = PolicyWorkSelection.chainOf(current);
    const verdict = this.#engine.verifyCustomJob(m, { chain, minNtime, maxNtime });
    if (!verdict.ok) return refuse(verdict.reasonCode, verdict.wire, verdict.detail);
    // verifyCustomJob checked that these parse and that the tip (hence `current`) is known.
    const outputs = parseTxOutVec(m.coinbaseTxOutputs)!;
    const networkTarget = targetFromNbits(m.nbits >>> 0)!;
    let transactions: readonly Pick<TemplateTransaction, 'data'>[] | null = null;
    if (m.merklePath.length === 0) transactions = [];
    else if (current !== null && _samePath(m.merklePath, current.merklePath)) transactions = current.template.transactions;
    const height = chain.tipHeight! + 1;
    const source = new CustomJobSource({ fields: m, outputs, height, networkTarget, transactions });
    const jobId = channels.addCustomJob(m.channelId, source, m.minNtime, nowMs);
    if (jobId === null) return refuse('invalid_channel_id', wireString('invalid_channel_id'), `channel ${m.channelId} is not an open extended channel of this connection`);
    this.counters.accepted += 1;
    emit({
      type: 'custom_job_accepted',
      conn_id: connId,
      channel_id: m.channelId,
      request_id: m.requestId,
      job_id: jobId,
      prev_hash: bytesToHex(reversed(m.prevHash)),
      height,
      pool_paid_sats: verdict.poolPaidSats.toString(),
      transactions_known: transactions !== null,
    });
    return [{ type: 'SetCustomMiningJobSuccess', channelId: m.channelId, requestId: m.requestId, jobId }];
  }
}
