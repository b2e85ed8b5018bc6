// What every server-side SV2 connection does the same way, whatever the protocol behind it: the
// mining Session (core/gateway/session.ts), the Template Distribution TdpSession
// (core/template-provider/tdp-session.ts) and the Job Declaration JdsSession
// (core/job-declaration/jds-session.ts) share the Noise responder identity, the mapping of
// Noise errors to registry reasons, the decode-error rules and the SetupConnection checks
// (SV2.md §3.8, §4). Pure functions and one constructor helper, no state: each session keeps
// its own state machine, close and events (STYLE.md #1, #7).
import type { Sv2Message } from '../codec/index.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import type { ProtocolError } from '../errors.ts';
import { NoiseResponderConnection } from '../noise/connection.ts';
import type { RandomSource } from '../random.ts';
import type { ReasonCode } from '../reason-codes.ts';

/** The only SV2 version there is (SV2.md §4). */
export const SV2_VERSION = 2;

/** The responder identity and Noise limits both ports share (the same key and certificate). */
export interface ResponderContext {
  readonly provider: CryptoProvider;
  readonly random: RandomSource;
  /** Responder static key and the certificate valid at the accept's wall time. */
  readonly staticKey: ConstructorParameters<typeof NoiseResponderConnection>[0]['staticKey'];
  readonly certificateAt: (wallMs: number) => Uint8Array;
  readonly handshakeTimeoutMs: number;
  readonly payloadBytesMax: number;
}

/** The Noise NX responder for a connection accepted at `nowMs` (monotonic) / `wallMs`. */
export function openNoiseResponder(ctx: ResponderContext, nowMs: number, wallMs: number): NoiseResponderConnection {
  return new NoiseResponderConnection(
    {
      provider: ctx.provider,
      random: ctx.random,
      staticKey: ctx.staticKey,
      certificate: ctx.certificateAt(wallMs),
      payloadBytesMax: ctx.payloadBytesMax,
      handshakeTimeoutMs: ctx.handshakeTimeoutMs,
    },
    nowMs,
  );
}

/** Noise error code → registry reason (core/noise/*.ts codes; SV2.md §3). */
export function noiseCloseReason(code: string, handshaking: boolean): ReasonCode {
  switch (code) {
    case 'handshake-timeout':
      return 'handshake_timeout';
    case 'decrypt-failed':
      return 'decrypt_failed';
    case 'frame-too-large':
      return 'frame_too_large';
    case 'nonce-exhausted':
    case 'internal-error':
      return 'internal_error';
    default:
      // A responder cannot fail on act 1's content (every 64 bytes decode, SV2.md §3.3), so an
      // unknown failure while handshaking is ours; after it, the peer sent something bad.
      return handshaking ? 'internal_error' : 'malformed_message';
  }
}

/** Why a connection closes instead of handling a frame. */
export interface FrameRefusal {
  readonly reason: ReasonCode;
  readonly detail: string;
  readonly field?: string | undefined;
}

/**
 * Why a client frame that does not decode closes the connection: an unknown message type is
 * `unexpected_message`; a frame that does not decode as the message its header names is
 * `malformed_message`, with the decoder's field. (The decode itself stays at the call site: it
 * is on the share path, and the success case allocates nothing extra.)
 */
export function decodeFailureRefusal(error: ProtocolError): FrameRefusal {
  if (error.code === 'unknown-message') return { reason: 'unexpected_message', detail: error.message };
  return { reason: 'malformed_message', detail: `${error.code}: ${error.message}`, field: error.field };
}

export type SetupRefusalReason = 'unsupported_protocol' | 'protocol_version_mismatch' | 'unsupported_feature_flags';

/**
 * The SetupConnection checks (SV2.md §4): `protocol` must match; the version range must contain
 * 2 (SRI `get_version`: fail if min > 2 or max < 2); requested flags outside `supportedFlags`
 * are refused with exactly those bits (the `.Error.flags` to send). Null when accepted.
 */
export function setupConnectionRefusal(
  m: Extract<Sv2Message, { type: 'SetupConnection' }>,
  protocol: number,
  supportedFlags: number,
): { readonly reason: SetupRefusalReason; readonly flags: number } | null {
  if (m.protocol !== protocol) return { reason: 'unsupported_protocol', flags: 0 };
  if (m.minVersion > SV2_VERSION || m.maxVersion < SV2_VERSION) return { reason: 'protocol_version_mismatch', flags: 0 };
  const unsupported = (m.flags & ~supportedFlags) >>> 0;
  if (unsupported !== 0) return { reason: 'unsupported_feature_flags', flags: unsupported };
  return null;
}

/** SetupConnection in words, for the close detail of a refusal. */
export function describeSetupConnection(m: Extract<Sv2Message, { type: 'SetupConnection' }>): string {
  return `protocol ${m.protocol}, versions ${m.minVersion}..${m.maxVersion}, flags 0x${m.flags.toString(16)}`;
}
