// Encode once, stamp per channel (issue 3: the 10,000-channel prevhash switch). During one job
// broadcast every extended channel with the same full-extranonce length gets byte-identical
// NewExtendedMiningJob and SetNewPrevHash payloads except for the first two fields, channel_id
// (U32 LE, payload offset 0) and job_id (U32 LE, payload offset 4) (SV2.md §5.3 field order:
// NewExtendedMiningJob = channel_id, job_id, min_ntime, version, version_rolling_allowed,
// merkle_path, coinbase_tx_prefix, coinbase_tx_suffix; SetNewPrevHash = channel_id, job_id,
// prev_hash, min_ntime, nbits). So the plaintext frame is encoded once per distinct remainder and
// each channel gets a copy with 8 bytes patched, instead of a full re-encode (which was ~11 % of
// the switch, docs/performance.md).
//
// One encoder lives for ONE broadcast (Gateway.#broadcast creates it): the byte arrays it keys
// on (coinbase prefix/suffix, merkle path, prev hash) are compared by identity, and within one
// broadcast they are the JobFactory's cached, never-mutated arrays, so identity ⇒ same content.
// A different array with equal content is merely a miss (encoded normally). Every other message
// type is encoded normally.
import { encodeMessage, type Sv2Message } from '../codec/index.ts';
import { FRAME_HEADER_BYTES } from '../codec/frame.ts';
import type { NewExtendedMiningJob, SetNewPrevHash } from '../codec/messages/mining.ts';

/** Distinct remainders kept (extranonce lengths × message kinds in one broadcast is small). */
const ENTRIES_MAX = 16;

interface Entry {
  readonly message: NewExtendedMiningJob | SetNewPrevHash;
  readonly frame: Uint8Array;
}

function _sameRemainder(a: NewExtendedMiningJob | SetNewPrevHash, b: NewExtendedMiningJob | SetNewPrevHash): boolean {
  if (a.type === 'SetNewPrevHash') {
    return b.type === 'SetNewPrevHash' && a.prevHash === b.prevHash && a.minNtime === b.minNtime && a.nbits === b.nbits;
  }
  return (
    b.type === 'NewExtendedMiningJob' &&
    a.coinbaseTxPrefix === b.coinbaseTxPrefix &&
    a.coinbaseTxSuffix === b.coinbaseTxSuffix &&
    a.merklePath === b.merklePath &&
    a.minNtime === b.minNtime &&
    a.version === b.version &&
    a.versionRollingAllowed === b.versionRollingAllowed
  );
}

function _writeU32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value & 0xff;
  out[offset + 1] = (value >>> 8) & 0xff;
  out[offset + 2] = (value >>> 16) & 0xff;
  out[offset + 3] = (value >>> 24) & 0xff;
}

export class BroadcastEncoder {
  readonly #entries: Entry[] = [];
  #replace = 0;

  /**
   * The plaintext frame of `message` (byte-identical to encodeMessage's). Valid only until the
   * next `encode` call: shared frames are patched in place, so the caller must consume (encrypt)
   * it at once and never keep it — Session.setTemplate hands it straight to Noise `send`.
   */
  encode(message: Sv2Message): Uint8Array {
    if (message.type !== 'NewExtendedMiningJob' && message.type !== 'SetNewPrevHash') return encodeMessage(message);
    const entries = this.#entries;
    let template: Uint8Array | undefined;
    for (let i = 0; i < entries.length; i++) {
      if (_sameRemainder(entries[i]!.message, message)) {
        template = entries[i]!.frame;
        break;
      }
    }
    if (template === undefined) {
      const frame = encodeMessage(message);
      const entry = { message, frame };
      if (entries.length < ENTRIES_MAX) entries.push(entry);
      else {
        entries[this.#replace] = entry;
        this.#replace = (this.#replace + 1) % ENTRIES_MAX;
      }
      return frame;
    }
    // Patched in place: no copy per channel (see encode's contract).
    _writeU32(template, FRAME_HEADER_BYTES, message.channelId);
    _writeU32(template, FRAME_HEADER_BYTES + 4, message.jobId);
    return template;
  }
}
