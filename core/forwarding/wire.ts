// Wire format of a share batch and of the backend's answer (docs/share-forwarding.md "Wire
// format"). JSON, UTF-8, one POST per batch:
//
//   request  {"v":1,"gateway_id":7,"batch_id":"7-3f9a…-b12","attempt":1,"shares":[{share},…]}
//   answer   2xx, optionally {"results":[{"share_id":"…","status":"duplicate"|"rejected","reason":"…"}], …}
//
// A 2xx means "received"; shares the answer lists as `rejected` settle as rejected, every other
// share of the batch as ok (listed as `ok`/`duplicate`, or not listed at all: the reference sink
// lists only the shares that are not plainly new, so an answer stays small). An unreadable 2xx body is still a 2xx (the backend has the batch).
// The share objects are built once per share (JSON text cached at accept), so a batch body is a
// string concatenation, not a re-serialization, and retries only change `attempt`.
import { fromUtf8 } from '../bytes.ts';
import type { ShareRecord } from './types.ts';

export const WIRE_VERSION = 1;
/** Longest reason text kept from a backend answer (events and logs stay bounded). */
export const REASON_CHARS_MAX = 200;

export function encodeBatchBody(gatewayId: number, batchId: string, attempt: number, shareJson: readonly string[]): string {
  return `{"v":${WIRE_VERSION},"gateway_id":${gatewayId},"batch_id":${JSON.stringify(batchId)},"attempt":${attempt},"shares":[${shareJson.join(',')}]}`;
}

export interface BatchBody {
  readonly v: number;
  readonly gateway_id: number;
  readonly batch_id: string;
  readonly attempt: number;
  readonly shares: readonly ShareRecord[];
}

/** Parse a request body (receivers: the sink, tests). Never throws. */
export function parseBatchBody(body: Uint8Array | string): { ok: true; value: BatchBody } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(typeof body === 'string' ? body : fromUtf8(body));
  } catch {
    return { ok: false, message: 'body is not JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, message: 'body must be a JSON object' };
  const o = value as Record<string, unknown>;
  if (o['v'] !== WIRE_VERSION) return { ok: false, message: `v must be ${WIRE_VERSION}` };
  if (!Number.isInteger(o['gateway_id'])) return { ok: false, message: 'gateway_id must be an integer' };
  if (typeof o['batch_id'] !== 'string') return { ok: false, message: 'batch_id must be a string' };
  if (!Number.isInteger(o['attempt'])) return { ok: false, message: 'attempt must be an integer' };
  const shares = o['shares'];
  if (!Array.isArray(shares)) return { ok: false, message: 'shares must be an array' };
  for (let i = 0; i < shares.length; i++) {
    const s = shares[i] as unknown;
    if (s === null || typeof s !== 'object' || typeof (s as { share_id?: unknown }).share_id !== 'string') {
      return { ok: false, message: `shares[${i}].share_id must be a string` };
    }
  }
  return { ok: true, value: o as unknown as BatchBody };
}

export type BackendShareStatus = 'ok' | 'duplicate' | 'rejected';

export interface BackendShareResult {
  readonly share_id: string;
  readonly status: BackendShareStatus;
  readonly reason?: string;
}

/** The reference sink's answer: counts, and only the shares that were not new. */
export function encodeBackendAnswer(counts: { readonly new: number; readonly duplicate: number; readonly rejected: number }, notNew: readonly BackendShareResult[]): string {
  return JSON.stringify({ new: counts.new, duplicate: counts.duplicate, rejected: counts.rejected, results: notNew });
}

/**
 * The per-share refusals in a 2xx answer: share id → reason. Anything unreadable yields an
 * empty map (the batch counts as received). Never throws.
 */
export function parseBackendRejections(body: string): Map<string, string> {
  const rejected = new Map<string, string>();
  // Fast path: most answers refuse nothing, and parsing them would cost a JSON.parse per batch.
  if (body.length === 0 || !body.includes('"rejected"')) return rejected;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return rejected;
  }
  const results = value !== null && typeof value === 'object' ? (value as { results?: unknown }).results : undefined;
  if (!Array.isArray(results)) return rejected;
  for (const r of results as unknown[]) {
    if (r === null || typeof r !== 'object') continue;
    const { share_id: id, status, reason } = r as { share_id?: unknown; status?: unknown; reason?: unknown };
    if (typeof id === 'string' && status === 'rejected') rejected.set(id, clipReason(typeof reason === 'string' ? reason : 'rejected by backend'));
  }
  return rejected;
}

export function clipReason(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= REASON_CHARS_MAX ? oneLine : `${oneLine.slice(0, REASON_CHARS_MAX - 1)}…`;
}
