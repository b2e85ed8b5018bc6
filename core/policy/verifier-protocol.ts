// The verifier wire protocol (SPEC §7, issue 4 item 3; docs/verifier-protocol.md is the
// operator-facing description and must match this file) and its two sans-IO endpoints:
//   VerifierClientSession — the gateway side, a TemplateVerifier (types.ts) with request ids,
//     pipelining, per-request deadlines and reconnect with exponential backoff;
//   VerifierServerSession — the `reservegrid verifier` side, one per accepted connection.
// The adapters (adapters/verifier-client.ts, adapters/verifier-server.ts) only move bytes and
// run timers.
//
// Frame (all integers little-endian, like SV2):
//   length U32 (bytes after this field, 6..VERIFIER_FRAME_BYTES_MAX) ‖ version U8 (= 1)
//   ‖ kind U8 ‖ request_id U32 ‖ body
// Kinds: 0x01 VERIFY (client → server), 0x81 VERDICT and 0x82 ERROR (server → client).
//   VERIFY body  = json_length U32 ‖ JSON header (UTF-8) ‖ transaction records
//   VERDICT body = JSON {"template_id": "<decimal>", "verdict": {accepted, reason_code, ...}}
//   ERROR body   = JSON {"error": "<text>"}; request_id 0 = about the connection, which the
//                  server then closes.
// Why binary records for transactions and JSON for the rest: a 4,000-transaction template is
// ~1–4 MB; hex in JSON doubles it and JSON.parse of megabytes costs milliseconds, while records
// decode to subarray views without copying (budget: p99 < 20 ms over loopback TCP). The small,
// evolving parts stay readable JSON.
// Transaction record: data_length U32 ‖ data ‖ txid 32 ‖ wtxid 32 ‖ fee U64 ‖ sigops U32
//   ‖ weight U32 ‖ depends_count U16 ‖ depends U32 × count     (hashes in internal byte order)
//
// Pipelining: a client may send any number of VERIFY frames without waiting; the server answers
// each exactly once (VERDICT or ERROR), in any order; the client matches by request_id. Request
// ids are chosen by the client, unique per connection (ours: ascending from 1 over the client's
// whole life, NOT restarting per connection: after a reconnect they go on where they were).
//
// Trust no answer we can check (issue 12 defect 3; docs/verifier-protocol.md "What the gateway
// checks"). The client refuses, as a protocol error with its own reason code, an answer whose
// request_id it never sent on this connection (`verifier_answer_unknown_request`), a VERDICT whose
// template_id is not the request's (`verifier_verdict_template_mismatch`), a verdict that
// contradicts itself (`verifier_verdict_inconsistent`: accepted with a rejection code, rejected
// with template_accepted or an availability code), and any body that is not exactly the
// documented shape (`verifier_answer_malformed`: keys, types, registry codes, length bounds).
// A refused answer is never applied. A verifier that sends one is faulty, so the connection is
// dropped like any protocol error: every request in flight on it (the offending one included)
// ends `verifier_unavailable` at once, i.e. no verdict, and the gate's no-verdict rules
// (fail_closed / permit_all, SPEC §6) decide; the client reconnects with backoff. Each refusal is
// reported once through `pollProtocolError()` (the Gateway emits `verifier_protocol_error`).
import { bytesToHex, hexToBytes } from '../bytes.ts';
import { ByteQueue } from '../byte-queue.ts';
import { isReasonCode, REASON_CODES, type ReasonCode } from '../reason-codes.ts';
import type { BlockTemplate, TemplateTransaction } from '../template/template.ts';
import { unavailableOutcome, type ChainView, type VerifierAnswerRefusal, type PolicyContextValue, type TemplateVerifier, type Verdict, type VerdictOutcome, type VerdictRequest } from './types.ts';

export const VERIFIER_PROTOCOL_VERSION = 1;
export const FRAME_VERIFY = 0x01;
export const FRAME_VERDICT = 0x81;
export const FRAME_ERROR = 0x82;
/** Largest frame (after the length field): a 4 MWU block is at most 4 MB of transaction data
 * plus ~90 bytes of record per transaction; 32 MiB leaves room and bounds a bad peer. */
export const VERIFIER_FRAME_BYTES_MAX = 32 * 1024 * 1024;
const HEADER_BYTES = 4 + 1 + 1 + 4;
const TX_FIXED_BYTES = 4 + 32 + 32 + 8 + 4 + 4 + 2;

const _enc = new TextEncoder();
const _dec = new TextDecoder('utf-8', { fatal: true });

export interface VerifierFrame {
  readonly kind: number;
  readonly requestId: number;
  readonly body: Uint8Array;
}

function _frame(kind: number, requestId: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, out.length - 4, true);
  out[4] = VERIFIER_PROTOCOL_VERSION;
  out[5] = kind;
  view.setUint32(6, requestId >>> 0, true);
  out.set(body, HEADER_BYTES);
  return out;
}

/** Incremental deframer: never throws on input bytes; an error is terminal for the connection. */
export class VerifierDeframer {
  readonly #queue = new ByteQueue();
  readonly #max: number;

  constructor(frameBytesMax = VERIFIER_FRAME_BYTES_MAX) {
    this.#max = frameBytesMax;
  }

  push(bytes: Uint8Array): void {
    this.#queue.push(bytes);
  }

  /** Next complete frame, 'need' for more bytes, or an error text. */
  next(): VerifierFrame | 'need' | { readonly error: string } {
    if (this.#queue.length < 4) return 'need';
    const head = this.#queue.peek(4);
    const length = (head[0]! | (head[1]! << 8) | (head[2]! << 16)) + head[3]! * 0x1000000;
    if (length < HEADER_BYTES - 4) return { error: `frame length ${length} below ${HEADER_BYTES - 4}` };
    if (length > this.#max) return { error: `frame length ${length} above ${this.#max}` };
    if (this.#queue.length < 4 + length) return 'need';
    const frame = this.#queue.take(4 + length);
    if (frame[4] !== VERIFIER_PROTOCOL_VERSION) return { error: `protocol version ${frame[4]} is not ${VERIFIER_PROTOCOL_VERSION}` };
    const requestId = new DataView(frame.buffer, frame.byteOffset, frame.length).getUint32(6, true);
    return { kind: frame[5]!, requestId, body: frame.subarray(HEADER_BYTES) };
  }
}

// ---------------------------------------------------------------------------------------------
// VERIFY: template + chain view.

interface _TemplateHeaderJson {
  template_id: string;
  height: number;
  version: number;
  prev_hash: string;
  nbits: number;
  target: string;
  curtime: number;
  mintime: number;
  maxtime: number | null;
  coinbase_value: string;
  default_witness_commitment: string;
  witness_commitment_source: 'node' | 'computed';
  merkle_path: string[];
  sigop_limit: number;
  weight_limit: number;
  longpoll_id: string | null;
  rules: string[];
  tx_count: number;
  timeout_ms: number;
  chain: { tip_hash: string | null; tip_height: number | null; recent_hashes: string[]; expected_nbits: number | null };
}

export function encodeVerifyRequest(requestId: number, req: VerdictRequest): Uint8Array {
  const t = req.template;
  const header: _TemplateHeaderJson = {
    template_id: t.templateId.toString(),
    height: t.height,
    version: t.version,
    prev_hash: bytesToHex(t.prevHash),
    nbits: t.nbits,
    target: t.target.toString(16),
    curtime: t.curtime,
    mintime: t.mintime,
    maxtime: t.maxtime,
    coinbase_value: t.coinbaseValue.toString(),
    default_witness_commitment: bytesToHex(t.defaultWitnessCommitment),
    witness_commitment_source: t.witnessCommitmentSource,
    merkle_path: t.merklePath.map((h) => bytesToHex(h)),
    sigop_limit: t.sigopLimit,
    weight_limit: t.weightLimit,
    longpoll_id: t.longpollId,
    rules: [...t.rules],
    tx_count: t.transactions.length,
    // An integer on the wire (the server refuses anything else): deadlines derived from a
    // sub-millisecond monotonic clock (performance.now on Deno and Bun) are fractional. Rounded
    // to whole µs first, so float noise (t0 + 5050 − t0 = 5050.000000001) does not add a ms.
    timeout_ms: Math.ceil(Math.round(req.timeoutMs * 1000) / 1000),
    chain: {
      tip_hash: req.chain.tipHash === null ? null : bytesToHex(req.chain.tipHash),
      tip_height: req.chain.tipHeight,
      recent_hashes: req.chain.recentHashes.map((h) => bytesToHex(h)),
      expected_nbits: req.chain.expectedNbits,
    },
  };
  const json = _enc.encode(JSON.stringify(header));
  let size = 4 + json.length;
  for (const tx of t.transactions) size += TX_FIXED_BYTES + tx.data.length + 4 * tx.depends.length;
  const body = new Uint8Array(size);
  const view = new DataView(body.buffer);
  view.setUint32(0, json.length, true);
  body.set(json, 4);
  let at = 4 + json.length;
  for (const tx of t.transactions) {
    if (tx.txid.length !== 32 || tx.wtxid.length !== 32) throw new RangeError('encodeVerifyRequest: txid/wtxid must be 32 bytes');
    view.setUint32(at, tx.data.length, true);
    body.set(tx.data, at + 4);
    at += 4 + tx.data.length;
    body.set(tx.txid, at);
    body.set(tx.wtxid, at + 32);
    view.setBigUint64(at + 64, BigInt.asUintN(64, tx.fee), true);
    view.setUint32(at + 72, tx.sigops >>> 0, true);
    view.setUint32(at + 76, tx.weight >>> 0, true);
    view.setUint16(at + 80, tx.depends.length, true);
    at += 82;
    for (const d of tx.depends) {
      view.setUint32(at, d >>> 0, true);
      at += 4;
    }
  }
  return _frame(FRAME_VERIFY, requestId, body);
}

const _HEX = /^(?:[0-9a-f]{2})*$/;
const _hex = (x: unknown, bytes?: number): Uint8Array | null =>
  typeof x === 'string' && _HEX.test(x) && (bytes === undefined || x.length === bytes * 2) ? hexToBytes(x) : null;
const _int = (x: unknown, min: number, max: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
const _bigDec = (x: unknown): bigint | null => (typeof x === 'string' && /^[0-9]{1,40}$/.test(x) ? BigInt(x) : null);

/** Decode a VERIFY body into a request. Never throws; an error text names the bad field. */
export function decodeVerifyBody(body: Uint8Array): { ok: true; request: VerdictRequest } | { ok: false; error: string } {
  const fail = (error: string) => ({ ok: false as const, error });
  if (body.length < 4) return fail('body shorter than its json_length');
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const jsonLength = view.getUint32(0, true);
  if (4 + jsonLength > body.length) return fail('json_length beyond the body');
  let h: _TemplateHeaderJson;
  try {
    h = JSON.parse(_dec.decode(body.subarray(4, 4 + jsonLength))) as _TemplateHeaderJson;
  } catch {
    return fail('header is not UTF-8 JSON');
  }
  if (h === null || typeof h !== 'object' || h.chain === null || typeof h.chain !== 'object') return fail('header is not an object with a chain object');
  const templateId = _bigDec(h.template_id);
  const prevHash = _hex(h.prev_hash, 32);
  const coinbaseValue = _bigDec(h.coinbase_value);
  const wc = _hex(h.default_witness_commitment);
  const target = typeof h.target === 'string' && /^[0-9a-f]{1,64}$/.test(h.target) ? BigInt(`0x${h.target}`) : null;
  if (templateId === null || templateId > 0xffff_ffff_ffff_ffffn) return fail('template_id');
  if (prevHash === null) return fail('prev_hash');
  if (coinbaseValue === null) return fail('coinbase_value');
  if (wc === null) return fail('default_witness_commitment');
  if (target === null) return fail('target');
  if (!_int(h.height, 0, 0xffffffff)) return fail('height');
  if (!_int(h.version, 0, 0xffffffff)) return fail('version');
  if (!_int(h.nbits, 0, 0xffffffff)) return fail('nbits');
  if (!_int(h.curtime, 0, 0xffffffff) || !_int(h.mintime, 0, 0xffffffff)) return fail('curtime/mintime');
  if (h.maxtime !== null && !_int(h.maxtime, 0, 0xffffffff)) return fail('maxtime');
  if (!_int(h.sigop_limit, 0, 0xffffffff) || !_int(h.weight_limit, 0, 0xffffffff)) return fail('sigop_limit/weight_limit');
  if (!_int(h.tx_count, 0, 1_000_000)) return fail('tx_count');
  if (!_int(h.timeout_ms, 0, 86_400_000)) return fail('timeout_ms');
  if (h.witness_commitment_source !== 'node' && h.witness_commitment_source !== 'computed') return fail('witness_commitment_source');
  if (h.longpoll_id !== null && typeof h.longpoll_id !== 'string') return fail('longpoll_id');
  if (!Array.isArray(h.rules) || !h.rules.every((r) => typeof r === 'string')) return fail('rules');
  if (!Array.isArray(h.merkle_path) || h.merkle_path.length > 255) return fail('merkle_path');
  const merklePath: Uint8Array[] = [];
  for (const x of h.merkle_path) {
    const b = _hex(x, 32);
    if (b === null) return fail('merkle_path entry');
    merklePath.push(b);
  }
  const c = h.chain;
  const tipHash = c.tip_hash === null ? null : _hex(c.tip_hash, 32);
  if (c.tip_hash !== null && tipHash === null) return fail('chain.tip_hash');
  if (c.tip_height !== null && !_int(c.tip_height, 0, 0xffffffff)) return fail('chain.tip_height');
  if (c.expected_nbits !== null && !_int(c.expected_nbits, 0, 0xffffffff)) return fail('chain.expected_nbits');
  if (!Array.isArray(c.recent_hashes) || c.recent_hashes.length > 1000) return fail('chain.recent_hashes');
  const recentHashes: Uint8Array[] = [];
  for (const x of c.recent_hashes) {
    const b = _hex(x, 32);
    if (b === null) return fail('chain.recent_hashes entry');
    recentHashes.push(b);
  }
  const transactions: TemplateTransaction[] = [];
  let at = 4 + jsonLength;
  for (let i = 0; i < h.tx_count; i++) {
    if (at + 4 > body.length) return fail(`transaction ${i} truncated`);
    const dataLength = view.getUint32(at, true);
    const fixedAt = at + 4 + dataLength;
    if (fixedAt + TX_FIXED_BYTES - 4 > body.length) return fail(`transaction ${i} truncated`);
    const dependsCount = view.getUint16(fixedAt + 80, true);
    const end = fixedAt + 82 + 4 * dependsCount;
    if (end > body.length) return fail(`transaction ${i} depends truncated`);
    const depends: number[] = [];
    for (let k = 0; k < dependsCount; k++) depends.push(view.getUint32(fixedAt + 82 + 4 * k, true));
    transactions.push({
      data: body.subarray(at + 4, fixedAt),
      txid: body.subarray(fixedAt, fixedAt + 32),
      wtxid: body.subarray(fixedAt + 32, fixedAt + 64),
      fee: view.getBigUint64(fixedAt + 64, true),
      sigops: view.getUint32(fixedAt + 72, true),
      weight: view.getUint32(fixedAt + 76, true),
      depends,
    });
    at = end;
  }
  if (at !== body.length) return fail('trailing bytes after the transactions');
  const template: BlockTemplate = {
    templateId,
    height: h.height,
    version: h.version,
    prevHash,
    nbits: h.nbits,
    target,
    curtime: h.curtime,
    mintime: h.mintime,
    maxtime: h.maxtime,
    coinbaseValue,
    transactions,
    defaultWitnessCommitment: wc,
    witnessCommitmentSource: h.witness_commitment_source,
    merklePath,
    sigopLimit: h.sigop_limit,
    weightLimit: h.weight_limit,
    longpollId: h.longpoll_id,
    rules: h.rules,
  };
  const chain: ChainView = { tipHash, tipHeight: c.tip_height, recentHashes, expectedNbits: c.expected_nbits };
  return { ok: true, request: { template, chain, timeoutMs: h.timeout_ms } };
}

// ---------------------------------------------------------------------------------------------
// VERDICT / ERROR.

export function encodeVerdictFrame(requestId: number, templateId: bigint, verdict: Verdict): Uint8Array {
  // Key order of the verdict is fixed (the seed's) so the bytes are stable for replay and tests.
  const v = { accepted: verdict.accepted, reason_code: verdict.reason_code, reason_detail: verdict.reason_detail, policy_context: verdict.policy_context };
  return _frame(FRAME_VERDICT, requestId, _enc.encode(JSON.stringify({ template_id: templateId.toString(), verdict: v })));
}

export function encodeErrorFrame(requestId: number, error: string): Uint8Array {
  return _frame(FRAME_ERROR, requestId, _enc.encode(JSON.stringify({ error })));
}

/** Bounds on a verdict's free-form parts (a faulty verifier must not make us keep megabytes). */
export const REASON_DETAIL_CHARS_MAX = 4096;
export const POLICY_CONTEXT_ENTRIES_MAX = 64;
export const POLICY_CONTEXT_KEY_CHARS_MAX = 64;
export const POLICY_CONTEXT_STRING_CHARS_MAX = 1024;
/** ERROR frames' `error` text. */
export const ERROR_TEXT_CHARS_MAX = 4096;

const _VERDICT_KEYS = ['accepted', 'reason_code', 'reason_detail', 'policy_context'];

function _exactKeys(o: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(o);
  return own.length === keys.length && keys.every((k) => Object.prototype.hasOwnProperty.call(o, k));
}

/** Why a verdict object is refused: the first failing check, with its reason code. */
export type VerdictCheckFailure = { readonly code: 'verifier_answer_malformed' | 'verifier_verdict_inconsistent'; readonly detail: string };

/**
 * Check a verdict object from untrusted JSON: exactly the four keys (SPEC §7), the documented
 * types, a registry reason_code, the length bounds above, and consistency of `accepted` with the
 * code (accepted ⇔ template_accepted; a rejection carries a template-policy code).
 */
export function checkVerdict(x: unknown): { ok: true; verdict: Verdict } | ({ ok: false } & VerdictCheckFailure) {
  const malformed = (detail: string) => ({ ok: false as const, code: 'verifier_answer_malformed' as const, detail });
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return malformed('verdict is not an object');
  const o = x as Record<string, unknown>;
  if (!_exactKeys(o, _VERDICT_KEYS)) return malformed(`verdict keys must be exactly ${_VERDICT_KEYS.join(', ')}; got ${Object.keys(o).slice(0, 8).join(', ')}`);
  if (typeof o.accepted !== 'boolean') return malformed('verdict.accepted is not a boolean');
  if (typeof o.reason_code !== 'string' || !isReasonCode(o.reason_code)) return malformed(`verdict.reason_code ${JSON.stringify(String(o.reason_code).slice(0, 64))} is not a registry code`);
  if (typeof o.reason_detail !== 'string' || o.reason_detail.length > REASON_DETAIL_CHARS_MAX) return malformed(`verdict.reason_detail is not a string of at most ${REASON_DETAIL_CHARS_MAX} characters`);
  const ctx = o.policy_context;
  if (ctx === null || typeof ctx !== 'object' || Array.isArray(ctx)) return malformed('verdict.policy_context is not an object');
  const entries = Object.entries(ctx as Record<string, unknown>);
  if (entries.length > POLICY_CONTEXT_ENTRIES_MAX) return malformed(`verdict.policy_context has more than ${POLICY_CONTEXT_ENTRIES_MAX} entries`);
  const context: Record<string, PolicyContextValue> = {};
  for (const [k, val] of entries) {
    if (k.length === 0 || k.length > POLICY_CONTEXT_KEY_CHARS_MAX) return malformed(`verdict.policy_context key of ${k.length} characters (1..${POLICY_CONTEXT_KEY_CHARS_MAX})`);
    if (typeof val === 'string' ? val.length > POLICY_CONTEXT_STRING_CHARS_MAX : typeof val !== 'number' && typeof val !== 'boolean') {
      return malformed(`verdict.policy_context.${k} is not a number, boolean or string of at most ${POLICY_CONTEXT_STRING_CHARS_MAX} characters`);
    }
    context[k] = val as PolicyContextValue;
  }
  const code: ReasonCode = o.reason_code;
  if (o.accepted && code !== 'template_accepted') return { ok: false, code: 'verifier_verdict_inconsistent', detail: `accepted: true with reason_code ${code}` };
  if (!o.accepted && (code === 'template_accepted' || REASON_CODES[code].category !== 'template')) {
    return { ok: false, code: 'verifier_verdict_inconsistent', detail: `accepted: false with reason_code ${code} (not a template-policy rejection)` };
  }
  return { ok: true, verdict: { accepted: o.accepted, reason_code: code, reason_detail: o.reason_detail, policy_context: context } };
}

/** Parse a verdict object from untrusted JSON; null if it is not exactly a consistent Verdict (checkVerdict). */
export function parseVerdict(x: unknown): Verdict | null {
  const r = checkVerdict(x);
  return r.ok ? r.verdict : null;
}

function _json(body: Uint8Array): Record<string, unknown> | null {
  try {
    const x: unknown = JSON.parse(_dec.decode(body));
    return x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Client session.

export type VerifierClientState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

export type VerifierClientAction = { readonly type: 'connect' } | { readonly type: 'disconnect'; readonly reason: string };

export interface VerifierClientOptions {
  /** First reconnect delay; doubles per failed attempt. */
  readonly reconnectInitialMs: number;
  /** timing.reconnect_backoff_max_ms. */
  readonly reconnectMaxMs: number;
  readonly frameBytesMax?: number;
}

interface _Pending {
  readonly templateId: bigint;
  readonly startMs: number;
  readonly deadlineMs: number;
  /** VERIFY bytes while not yet handed to a connection; null once sent. */
  bytes: Uint8Array | null;
}

/** An answer the client refused (header: "Trust no answer we can check"): requestId as the frame carried it (0 when the frame itself was broken), templateId of the request (null when the id matched none). */
export type VerifierProtocolError = VerifierAnswerRefusal;

/** Ids of requests that timed out on the current connection, kept so a late answer is told apart from a bogus one. */
export const EXPIRED_IDS_MAX = 65_536;

export interface VerifierClientStats {
  readonly state: VerifierClientState;
  readonly inFlight: number;
  readonly connects: number;
  readonly connectFailures: number;
  /** Verdicts that arrived after their request had already timed out (dropped). */
  readonly lateVerdicts: number;
  /** Answers refused as protocol errors (pollProtocolError), all kinds. */
  readonly protocolErrors: number;
}

/**
 * The gateway's end of the verifier connection, sans-IO. Driver loop (adapters/verifier-client.ts):
 *   pollAction(): 'connect' → open TCP, then connected(now) or connectFailed(why, now);
 *                 'disconnect' → abort the socket (the session already counts it as lost)
 *   pollTransmit() → bytes to write;  receive(bytes, now);  connectionLost(why, now)
 *   nextDeadlineMs() / onTimeout(now);  pollOutcome() after every call.
 * Availability (never a hang): a request made while the connection is down (backoff) gets
 * `verifier_unavailable` at once; one made while connecting waits for the connection until its
 * deadline; one in flight when the connection drops gets `verifier_unavailable` at once; one
 * still unanswered at its deadline gets `verdict_timeout` (connected) or `verifier_unavailable`.
 */
export class VerifierClientSession implements TemplateVerifier {
  readonly kind = 'remote' as const;
  readonly #opts: Required<VerifierClientOptions>;
  #state: VerifierClientState = 'idle';
  #nextId = 1;
  readonly #pending = new Map<number, _Pending>();
  readonly #outcomes: VerdictOutcome[] = [];
  readonly #transmit: Uint8Array[] = [];
  readonly #actions: VerifierClientAction[] = [{ type: 'connect' }];
  #deframer: VerifierDeframer;
  #backoffMs: number;
  #reconnectAtMs: number | null = null;
  #connects = 0;
  #connectFailures = 0;
  #late = 0;
  #lastError = '';
  /** Requests that timed out while connected on the current connection (oldest first, bounded). */
  readonly #expired = new Set<number>();
  readonly #protocolErrors: VerifierProtocolError[] = [];
  #protocolErrorCount = 0;

  constructor(options: VerifierClientOptions) {
    const { reconnectInitialMs, reconnectMaxMs } = options;
    if (!Number.isFinite(reconnectInitialMs) || reconnectInitialMs <= 0) throw new RangeError(`VerifierClientSession: reconnectInitialMs must be > 0, got ${reconnectInitialMs}`);
    if (!Number.isFinite(reconnectMaxMs) || reconnectMaxMs < reconnectInitialMs) throw new RangeError(`VerifierClientSession: reconnectMaxMs must be >= reconnectInitialMs, got ${reconnectMaxMs}`);
    this.#opts = { reconnectInitialMs, reconnectMaxMs, frameBytesMax: options.frameBytesMax ?? VERIFIER_FRAME_BYTES_MAX };
    this.#backoffMs = reconnectInitialMs;
    this.#deframer = new VerifierDeframer(this.#opts.frameBytesMax);
  }

  get state(): VerifierClientState {
    return this.#state;
  }

  get stats(): VerifierClientStats {
    return { state: this.#state, inFlight: this.#pending.size, connects: this.#connects, connectFailures: this.#connectFailures, lateVerdicts: this.#late, protocolErrors: this.#protocolErrorCount };
  }

  request(req: VerdictRequest, nowMs: number): number {
    if (!Number.isFinite(req.timeoutMs) || req.timeoutMs < 0) throw new RangeError(`VerifierClientSession.request: timeoutMs must be >= 0, got ${req.timeoutMs}`);
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    const templateId = req.template.templateId;
    if (this.#state === 'backoff' || this.#state === 'closed') {
      const why = this.#state === 'closed' ? 'verifier client closed' : `verifier not connected (${this.#lastError || 'down'}); next attempt at +${Math.max(0, (this.#reconnectAtMs ?? nowMs) - nowMs)} ms`;
      this.#outcomes.push(unavailableOutcome(id, templateId, 'verifier_unavailable', why, 0));
      return id;
    }
    let bytes: Uint8Array;
    try {
      bytes = encodeVerifyRequest(id, req);
    } catch (e) {
      // Only a structurally impossible template (hash of the wrong length) cannot be encoded;
      // the one-outcome-per-request guarantee still holds.
      this.#outcomes.push(unavailableOutcome(id, templateId, 'verifier_unavailable', `template cannot be encoded: ${(e as Error).message}`, 0));
      return id;
    }
    this.#pending.set(id, { templateId, startMs: nowMs, deadlineMs: nowMs + req.timeoutMs, bytes: this.#state === 'connected' ? null : bytes });
    if (this.#state === 'connected') this.#transmit.push(bytes);
    return id;
  }

  pollOutcome(): VerdictOutcome | null {
    return this.#outcomes.shift() ?? null;
  }

  pollTransmit(): Uint8Array | null {
    return this.#transmit.shift() ?? null;
  }

  /** Answers refused since the last call (one entry each); drain after `receive`. */
  pollProtocolError(): VerifierProtocolError | null {
    return this.#protocolErrors.shift() ?? null;
  }

  pollAction(): VerifierClientAction | null {
    const a = this.#actions.shift() ?? null;
    if (a?.type === 'connect') this.#state = 'connecting';
    return a;
  }

  connected(_nowMs: number): void {
    if (this.#state !== 'connecting') return;
    this.#state = 'connected';
    this.#connects++;
    this.#backoffMs = this.#opts.reconnectInitialMs;
    this.#deframer = new VerifierDeframer(this.#opts.frameBytesMax);
    this.#expired.clear();
    for (const p of this.#pending.values()) {
      if (p.bytes !== null) {
        this.#transmit.push(p.bytes);
        p.bytes = null;
      }
    }
  }

  connectFailed(reason: string, nowMs: number): void {
    if (this.#state !== 'connecting') return;
    this.#connectFailures++;
    this.#down(`connect failed: ${reason}`, nowMs);
  }

  connectionLost(reason: string, nowMs: number): void {
    if (this.#state !== 'connected') return;
    this.#down(`connection lost: ${reason}`, nowMs);
  }

  receive(bytes: Uint8Array, nowMs: number): void {
    if (this.#state !== 'connected') return;
    this.#deframer.push(bytes);
    for (;;) {
      const f = this.#deframer.next();
      if (f === 'need') return;
      if ('error' in f) return this.#refuse('verifier_answer_malformed', 0, null, f.error, nowMs);
      if (f.kind !== FRAME_VERDICT && f.kind !== FRAME_ERROR) return this.#refuse('verifier_answer_malformed', f.requestId, null, `unexpected frame kind 0x${f.kind.toString(16)}`, nowMs);
      const body = _json(f.body);
      if (body === null) return this.#refuse('verifier_answer_malformed', f.requestId, null, 'frame body is not a JSON object', nowMs);
      if (f.kind === FRAME_ERROR) {
        if (!_exactKeys(body, ['error']) || typeof body.error !== 'string' || body.error.length > ERROR_TEXT_CHARS_MAX) {
          return this.#refuse('verifier_answer_malformed', f.requestId, this.#pending.get(f.requestId)?.templateId ?? null, `ERROR body must be exactly {"error": <string of at most ${ERROR_TEXT_CHARS_MAX} characters>}`, nowMs);
        }
        // request_id 0: about the connection (our request stream was bad); the server closes.
        if (f.requestId === 0) return this.#protocolError(`server error: ${body.error}`, nowMs);
      }
      const p = this.#pending.get(f.requestId);
      if (p === undefined) {
        if (this.#expired.has(f.requestId)) {
          // Sent on this connection, timed out here: a late answer, not a lie.
          this.#expired.delete(f.requestId);
          this.#late++;
          continue;
        }
        return this.#refuse('verifier_answer_unknown_request', f.requestId, null, `answer for request_id ${f.requestId}, which is not waiting for an answer on this connection`, nowMs);
      }
      const latencyMs = nowMs - p.startMs;
      if (f.kind === FRAME_ERROR) {
        this.#pending.delete(f.requestId);
        this.#outcomes.push(unavailableOutcome(f.requestId, p.templateId, 'verifier_unavailable', `verifier error: ${String(body.error)}`, latencyMs));
        continue;
      }
      if (!_exactKeys(body, ['template_id', 'verdict'])) return this.#refuse('verifier_answer_malformed', f.requestId, p.templateId, 'VERDICT body keys must be exactly template_id, verdict', nowMs);
      if (typeof body.template_id !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(body.template_id)) {
        return this.#refuse('verifier_answer_malformed', f.requestId, p.templateId, 'VERDICT template_id is not a decimal string', nowMs);
      }
      if (BigInt(body.template_id) !== p.templateId) {
        return this.#refuse('verifier_verdict_template_mismatch', f.requestId, p.templateId, `VERDICT for template ${body.template_id} answers request ${f.requestId}, which asked about template ${p.templateId}`, nowMs);
      }
      const checked = checkVerdict(body.verdict);
      if (!checked.ok) return this.#refuse(checked.code, f.requestId, p.templateId, checked.detail, nowMs);
      this.#pending.delete(f.requestId);
      this.#outcomes.push({ kind: 'verdict', requestId: f.requestId, templateId: p.templateId, verdict: checked.verdict, latencyMs });
    }
  }

  nextDeadlineMs(): number | null {
    let next = this.#reconnectAtMs;
    for (const p of this.#pending.values()) if (next === null || p.deadlineMs < next) next = p.deadlineMs;
    return next;
  }

  onTimeout(nowMs: number): void {
    for (const [id, p] of this.#pending) {
      if (p.deadlineMs > nowMs) continue;
      this.#pending.delete(id);
      if (this.#state === 'connected' && p.bytes === null) {
        this.#expired.add(id);
        if (this.#expired.size > EXPIRED_IDS_MAX) this.#expired.delete(this.#expired.values().next().value!);
      }
      const code = this.#state === 'connected' ? 'verdict_timeout' : 'verifier_unavailable';
      const detail = code === 'verdict_timeout' ? `no verdict within ${p.deadlineMs - p.startMs} ms` : `verifier not connected within ${p.deadlineMs - p.startMs} ms`;
      this.#outcomes.push(unavailableOutcome(id, p.templateId, code, detail, nowMs - p.startMs));
    }
    if (this.#state === 'backoff' && this.#reconnectAtMs !== null && nowMs >= this.#reconnectAtMs) {
      this.#reconnectAtMs = null;
      this.#state = 'idle';
      this.#actions.push({ type: 'connect' });
    }
  }

  /** Stop: every open request ends `verifier_unavailable`; no more connects. */
  close(nowMs: number): void {
    if (this.#state === 'closed') return;
    const wasConnected = this.#state === 'connected' || this.#state === 'connecting';
    this.#failAll('verifier client closed', nowMs);
    this.#state = 'closed';
    this.#reconnectAtMs = null;
    this.#actions.length = 0;
    if (wasConnected) this.#actions.push({ type: 'disconnect', reason: 'closed' });
  }

  /** A refused answer: report it once, then drop the connection (every request in flight: no verdict). */
  #refuse(reasonCode: VerifierProtocolError['reasonCode'], requestId: number, templateId: bigint | null, detail: string, nowMs: number): void {
    this.#protocolErrorCount++;
    // Each refusal drops the connection, so at most one per connection between two drains; the
    // bound only guards a driver that never drains (the count above stays exact).
    if (this.#protocolErrors.length < 64) this.#protocolErrors.push({ reasonCode, requestId, templateId, detail });
    this.#protocolError(`${reasonCode}: ${detail}`, nowMs);
  }

  #protocolError(error: string, nowMs: number): void {
    this.#actions.push({ type: 'disconnect', reason: error });
    this.#down(`protocol error: ${error}`, nowMs);
  }

  #down(reason: string, nowMs: number): void {
    this.#lastError = reason;
    this.#failAll(reason, nowMs);
    this.#transmit.length = 0;
    this.#state = 'backoff';
    this.#reconnectAtMs = nowMs + this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#opts.reconnectMaxMs);
  }

  #failAll(reason: string, nowMs: number): void {
    for (const [id, p] of this.#pending) this.#outcomes.push(unavailableOutcome(id, p.templateId, 'verifier_unavailable', reason, nowMs - p.startMs));
    this.#pending.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// Server session.

export interface DecodedVerifyRequest {
  readonly requestId: number;
  readonly request: VerdictRequest;
}

/**
 * One accepted connection of `reservegrid verifier`, sans-IO: receive(bytes) → pollRequest()
 * → the adapter evaluates (PolicyEngine.evaluate) → respond(id, templateId, verdict) →
 * pollTransmit(). A request that does not decode gets an ERROR frame for its id and the
 * connection goes on; a broken frame stream gets ERROR(0) and `closed` turns true.
 */
export class VerifierServerSession {
  readonly #deframer: VerifierDeframer;
  readonly #requests: DecodedVerifyRequest[] = [];
  readonly #transmit: Uint8Array[] = [];
  #closed = false;

  constructor(frameBytesMax = VERIFIER_FRAME_BYTES_MAX) {
    this.#deframer = new VerifierDeframer(frameBytesMax);
  }

  /** True once the stream is broken: flush pollTransmit, then close the socket. */
  get closed(): boolean {
    return this.#closed;
  }

  receive(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#deframer.push(bytes);
    for (;;) {
      const f = this.#deframer.next();
      if (f === 'need') return;
      if ('error' in f || f.kind !== FRAME_VERIFY) {
        this.#transmit.push(encodeErrorFrame(0, 'error' in f ? f.error : `unexpected frame kind 0x${f.kind.toString(16)}`));
        this.#closed = true;
        return;
      }
      const r = decodeVerifyBody(f.body);
      if (r.ok) this.#requests.push({ requestId: f.requestId, request: r.request });
      else this.#transmit.push(encodeErrorFrame(f.requestId, `bad request: ${r.error}`));
    }
  }

  pollRequest(): DecodedVerifyRequest | null {
    return this.#requests.shift() ?? null;
  }

  respond(requestId: number, templateId: bigint, verdict: Verdict): void {
    this.#transmit.push(encodeVerdictFrame(requestId, templateId, verdict));
  }

  respondError(requestId: number, error: string): void {
    this.#transmit.push(encodeErrorFrame(requestId, error));
  }

  pollTransmit(): Uint8Array | null {
    return this.#transmit.shift() ?? null;
  }
}
