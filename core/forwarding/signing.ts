// Request signing for share batches (SPEC §8, docs/share-forwarding.md "Signature").
//
//   signed payload = ASCII(timestamp) ‖ "." ‖ body bytes (exactly as sent)
//   signature      = HMAC-SHA256(share_upstream_secret as UTF-8, signed payload), lowercase hex
//   headers        X-ReserveGrid-Timestamp: <unix seconds>
//                  X-ReserveGrid-Signature: v1=<hex>
//                  X-ReserveGrid-Gateway:   <gateway.id>
//
// Why a timestamp inside the MAC: a captured request cannot be replayed outside the backend's
// window (default 300 s) because changing the timestamp breaks the signature; inside the window
// the backend refuses a signature it has already seen, and de-duplicates by share id anyway.
// Why seconds and `v1=`: the same shape as Stripe/Slack webhook signatures, which backend
// authors already know; `v1` leaves room for a future scheme, and a header may carry several
// `v1=` values (comma-separated) so a secret can be rotated without a flag day.
import { bytesToHex, equalBytes, hexToBytes, utf8 } from '../bytes.ts';
import type { CryptoProvider } from '../crypto/provider.ts';

export const HEADER_TIMESTAMP = 'X-ReserveGrid-Timestamp';
export const HEADER_SIGNATURE = 'X-ReserveGrid-Signature';
export const HEADER_GATEWAY = 'X-ReserveGrid-Gateway';
export const HEADER_BATCH = 'X-ReserveGrid-Batch';
export const SIGNATURE_SCHEME = 'v1';
/** Default verification window: |now − timestamp| ≤ 300 s. */
export const SIGNATURE_MAX_AGE_SECS_DEFAULT = 300;

const DOT = 0x2e;

/** HMAC-SHA256 over `timestamp + "." + body`, lowercase hex. */
export function signBody(provider: CryptoProvider, secret: Uint8Array, timestampSecs: number, body: Uint8Array): string {
  if (!(secret instanceof Uint8Array) || secret.length === 0) throw new TypeError(`signBody: secret must be non-empty bytes, got ${typeof secret}`);
  if (!(Number.isSafeInteger(timestampSecs) && timestampSecs >= 0)) throw new RangeError(`signBody: timestampSecs must be a non-negative integer, got ${timestampSecs}`);
  if (!(body instanceof Uint8Array)) throw new TypeError(`signBody: body must be a Uint8Array, got ${typeof body}`);
  const prefix = utf8(String(timestampSecs));
  const payload = new Uint8Array(prefix.length + 1 + body.length);
  payload.set(prefix, 0);
  payload[prefix.length] = DOT;
  payload.set(body, prefix.length + 1);
  return bytesToHex(provider.hmacSha256(secret, payload));
}

/** The three signature headers for one request sent at `wallMs`. */
export function signatureHeaders(
  provider: CryptoProvider,
  secret: Uint8Array,
  gatewayId: number,
  wallMs: number,
  body: Uint8Array,
): Record<string, string> {
  const timestampSecs = Math.floor(wallMs / 1000);
  return {
    [HEADER_TIMESTAMP]: String(timestampSecs),
    [HEADER_SIGNATURE]: `${SIGNATURE_SCHEME}=${signBody(provider, secret, timestampSecs, body)}`,
    [HEADER_GATEWAY]: String(gatewayId),
  };
}

export type SignatureFailure =
  | 'missing-timestamp'
  | 'malformed-timestamp'
  | 'stale-timestamp'
  | 'future-timestamp'
  | 'missing-signature'
  | 'malformed-signature'
  | 'bad-signature';

export type SignatureCheck =
  | { readonly ok: true; readonly timestampSecs: number; readonly signature: string }
  | { readonly ok: false; readonly code: SignatureFailure; readonly message: string };

const TIMESTAMP_RE = /^[0-9]{1,15}$/;
const HEX64_RE = /^[0-9a-f]{64}$/;

/**
 * Verify a request as a backend must (the sink uses it): timestamp present, an integer, within
 * `maxAgeSecs` of `nowWallMs` either way; some `v1=` value equal, in constant time, to the HMAC
 * of the exact body. Never throws on header contents (they come from the network).
 */
export function verifySignature(
  provider: CryptoProvider,
  secret: Uint8Array,
  headers: { readonly timestamp: string | undefined | null; readonly signature: string | undefined | null },
  body: Uint8Array,
  nowWallMs: number,
  maxAgeSecs: number = SIGNATURE_MAX_AGE_SECS_DEFAULT,
): SignatureCheck {
  if (!(Number.isFinite(maxAgeSecs) && maxAgeSecs >= 0)) throw new RangeError(`verifySignature: maxAgeSecs must be >= 0, got ${maxAgeSecs}`);
  const ts = headers.timestamp?.trim();
  if (ts === undefined || ts === '') return { ok: false, code: 'missing-timestamp', message: `${HEADER_TIMESTAMP} header missing` };
  if (!TIMESTAMP_RE.test(ts)) return { ok: false, code: 'malformed-timestamp', message: `${HEADER_TIMESTAMP} must be unix seconds` };
  const timestampSecs = Number(ts);
  const nowSecs = Math.floor(nowWallMs / 1000);
  if (nowSecs - timestampSecs > maxAgeSecs) {
    return { ok: false, code: 'stale-timestamp', message: `timestamp ${timestampSecs} is ${nowSecs - timestampSecs} s old (max ${maxAgeSecs})` };
  }
  if (timestampSecs - nowSecs > maxAgeSecs) {
    return { ok: false, code: 'future-timestamp', message: `timestamp ${timestampSecs} is ${timestampSecs - nowSecs} s ahead (max ${maxAgeSecs})` };
  }
  const header = headers.signature?.trim();
  if (header === undefined || header === '') return { ok: false, code: 'missing-signature', message: `${HEADER_SIGNATURE} header missing` };
  const candidates = header
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.startsWith(`${SIGNATURE_SCHEME}=`))
    .map((part) => part.slice(SIGNATURE_SCHEME.length + 1).toLowerCase());
  if (candidates.length === 0 || candidates.length > 8 || !candidates.every((c) => HEX64_RE.test(c))) {
    return { ok: false, code: 'malformed-signature', message: `${HEADER_SIGNATURE} must be v1=<64 hex digits>` };
  }
  const expected = hexToBytes(signBody(provider, secret, timestampSecs, body));
  // Compare every candidate (no early exit) so timing does not tell which one matched.
  let match: string | undefined;
  for (const candidate of candidates) if (equalBytes(hexToBytes(candidate), expected) && match === undefined) match = candidate;
  if (match === undefined) return { ok: false, code: 'bad-signature', message: 'signature does not match the body' };
  return { ok: true, timestampSecs, signature: match };
}
