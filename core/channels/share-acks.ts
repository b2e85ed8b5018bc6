// Batched SubmitShares.Success (SV2.md §5.3): one Success acknowledges several accepted submits.
// `last_sequence_number` is the latest accepted sequence number; `new_submits_accepted_count`
// and `new_shares_sum` cover THIS batch only. A batch goes out when it holds `batchSize` shares
// (SRI `share_batch_size`, config mining.share_ack_batch_size) or `delayMs` after its first share,
// whichever comes first, so a slow miner is never left without an acknowledgement.
//
// new_shares_sum is a U64 integer: floor(sum of the batch's credited difficulties). A channel
// below difficulty 1 (CPU miners) can report 0; the count still says how many were accepted.
import type { SubmitSharesSuccess } from '../codec/messages/mining.ts';

const U64_MAX = (1n << 64n) - 1n;

export class ShareAckBatcher {
  readonly channelId: number;
  readonly batchSize: number;
  readonly delayMs: number;
  #count = 0;
  #sum = 0;
  #lastSequenceNumber = 0;
  #firstAtMs = 0;

  constructor(options: { channelId: number; batchSize: number; delayMs: number }) {
    const { channelId, batchSize, delayMs } = options;
    if (!Number.isInteger(channelId) || channelId < 0 || channelId > 0xffffffff) throw new RangeError(`ShareAckBatcher: channelId must be a U32, got ${channelId}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`ShareAckBatcher: batchSize must be an integer >= 1, got ${batchSize}`);
    if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError(`ShareAckBatcher: delayMs must be >= 0, got ${delayMs}`);
    this.channelId = channelId;
    this.batchSize = batchSize;
    this.delayMs = delayMs;
  }

  /** Shares accepted but not yet acknowledged. */
  get pending(): number {
    return this.#count;
  }

  /** Record one accepted share; returns the Success to send now when the batch is full. */
  add(sequenceNumber: number, difficulty: number, nowMs: number): SubmitSharesSuccess | null {
    if (this.#count === 0) this.#firstAtMs = nowMs;
    this.#count++;
    if (Number.isFinite(difficulty) && difficulty > 0) this.#sum += difficulty;
    this.#lastSequenceNumber = sequenceNumber;
    return this.#count >= this.batchSize ? this.flush() : null;
  }

  /** When the pending partial batch is due, or null when nothing is pending. */
  deadlineMs(): number | null {
    return this.#count === 0 ? null : this.#firstAtMs + this.delayMs;
  }

  /** The partial batch if its deadline has passed (harmless early or twice). */
  poll(nowMs: number): SubmitSharesSuccess | null {
    const due = this.deadlineMs();
    return due !== null && nowMs >= due ? this.flush() : null;
  }

  /** Whatever is pending, now (shutdown, channel close). */
  flush(): SubmitSharesSuccess | null {
    if (this.#count === 0) return null;
    let sum = BigInt(Math.floor(this.#sum));
    if (sum > U64_MAX) sum = U64_MAX;
    const message: SubmitSharesSuccess = {
      type: 'SubmitSharesSuccess',
      channelId: this.channelId,
      lastSequenceNumber: this.#lastSequenceNumber,
      newSubmitsAcceptedCount: this.#count,
      newSharesSum: sum,
    };
    this.#count = 0;
    this.#sum = 0;
    return message;
  }
}
