// The leader ⇄ worker control channel (issue 13 item 1, docs/scaling.md "One machine, many
// cores"): a small length-prefixed binary protocol over one loopback TCP connection per worker,
// spoken through our socket adapters (adapters/net), so it is byte-identical on Node, Deno and Bun.
//
// Frame (little-endian, like SV2 frames, SV2.md §4):
//
//   length U32 (bytes after this field: 1 + payload) ‖ type U8 ‖ payload
//
// | type | name          | direction | payload |
// |------|---------------|-----------|---------|
// | 1    | HELLO         | w → l     | worker index U16 ‖ process id U32 ‖ bound miner port U16 |
// | 2    | TEMPLATE      | l → w     | JSON: the BlockTemplate the leader's verdict gate released |
// | 3    | GATE          | l → w     | flags U8: bit 0 = stale hold active, bit 1 = refusing miners |
// | 4    | HOLD_EXPIRED  | l → w     | (empty) the stale hold expired: disconnect every miner |
// | 5    | EVENTS        | w → l     | batch U32 ‖ wants_ack U8 ‖ JSON: the pass's gateway events |
// | 6    | ACK           | l → w     | batch U32: every batch up to it is journaled |
// | 7    | SUBMIT_BLOCK  | w → l     | JSON: a submit_block command (core/gateway/block-submitter.ts) |
// | 8    | BLOCK_RESULT  | l → w     | JSON: { block_id, outcome } |
// | 9    | SHUTDOWN      | l → w     | (empty) stop gracefully (CloseChannel 'shutdown') |
// | 10   | TOKEN_CHECK   | w → l     | ticket U32 ‖ full extranonce bytes U8 ‖ user length U8 ‖ user UTF-8 ‖ the SetCustomMiningJob as an SV2 frame (header ‖ payload, SV2.md §4) |
// | 11   | TOKEN_ANSWER  | l → w     | ticket U32 ‖ JSON: {ok:true, declared: null \| {declaration_id, transactions:[bytes…]}} or {ok:false, reason_code, detail} |
//
// TOKEN_CHECK / TOKEN_ANSWER: the Job Declaration tokens live in the leader; a worker asks it to
// check (consume) the token of a SetCustomMiningJob (core/gateway/work-selection.ts,
// docs/scaling.md "Job Declaration with workers"). The job crosses in its own SV2 encoding, so
// the leader decodes it with the same codec (and bounds) as the miner port. A refusal's
// reason_code must be one the token stage can give (CUSTOM_JOB_TOKEN_REFUSALS).
//
// Fixed-width fields are binary; the structured records (templates, events, block commands) are
// UTF-8 JSON with two tagged forms, `{"$n":"<decimal>"}` for a bigint and `{"$x":"<hex>"}` for
// a Uint8Array, so a BlockTemplate crosses unchanged (its ids are bigints, its hashes bytes). A
// template is sent once per worker per release: JSON costs about twice the bytes of the block's
// raw transactions, a few MB at most once per poll, far from the miner fan-out's cost.
//
// Sans-IO and bounded: `WorkerControlDecoder.push(bytes)` buffers at most one frame
// (`frameBytesMax`, judged from the length field before anything is buffered) and hands out
// decoded messages with `poll()`. Any malformed input is a terminal ProtocolError with code
// `worker_control_invalid` (core/reason-codes.ts); it never throws on input.
import { bytesToHex, hexToBytes } from '../bytes.ts';
import { protocolError, type ProtocolError } from '../errors.ts';
import { decodeHeader, decodeMessage, encodeMessage, FRAME_HEADER_BYTES } from '../codec/index.ts';
import { CUSTOM_JOB_TOKEN_REFUSALS, type CustomJobTokenAnswer, type CustomJobTokenCheck, type CustomJobTokenRefusal } from './work-selection.ts';

export const WORKER_CONTROL_TYPES = {
  HELLO: 1,
  TEMPLATE: 2,
  GATE: 3,
  HOLD_EXPIRED: 4,
  EVENTS: 5,
  ACK: 6,
  SUBMIT_BLOCK: 7,
  BLOCK_RESULT: 8,
  SHUTDOWN: 9,
  TOKEN_CHECK: 10,
  TOKEN_ANSWER: 11,
} as const;

/** One frame may carry a whole template (a full block's transactions as JSON): 64 MiB. */
export const WORKER_CONTROL_FRAME_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

export type WorkerControlMessage =
  | { readonly type: 'hello'; readonly index: number; readonly pid: number; readonly port: number }
  | { readonly type: 'template'; readonly template: unknown }
  | { readonly type: 'gate'; readonly holding: boolean; readonly refusingMiners: boolean }
  | { readonly type: 'hold_expired' }
  | { readonly type: 'events'; readonly batch: number; readonly wantsAck: boolean; readonly events: readonly unknown[] }
  | { readonly type: 'ack'; readonly batch: number }
  | { readonly type: 'submit_block'; readonly command: unknown }
  | { readonly type: 'block_result'; readonly blockId: string; readonly outcome: unknown }
  | { readonly type: 'shutdown' }
  | { readonly type: 'token_check'; readonly check: CustomJobTokenCheck }
  | { readonly type: 'token_answer'; readonly id: number; readonly answer: CustomJobTokenAnswer };

const _encoder = new TextEncoder();
const _decoder = new TextDecoder('utf-8', { fatal: true });

/** JSON with bigint and Uint8Array tagged (see the header). */
export function encodeControlJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return { $n: v.toString() };
    if (v instanceof Uint8Array) return { $x: bytesToHex(v) };
    return v;
  });
}

/** The inverse of encodeControlJson; throws SyntaxError/RangeError on bad text (callers map it). */
export function decodeControlJson(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === '$n' && typeof (v as { $n: unknown }).$n === 'string') {
        const digits = (v as { $n: string }).$n;
        if (!/^-?[0-9]{1,80}$/.test(digits)) throw new RangeError(`bad bigint ${JSON.stringify(digits.slice(0, 40))}`);
        return BigInt(digits);
      }
      if (keys.length === 1 && keys[0] === '$x' && typeof (v as { $x: unknown }).$x === 'string') {
        const hex = (v as { $x: string }).$x;
        if (!/^(?:[0-9a-f]{2})*$/.test(hex)) throw new RangeError('bad hex bytes');
        return hexToBytes(hex);
      }
    }
    return v;
  });
}

function _frame(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 1 + body.length, true);
  out[4] = type;
  out.set(body, 5);
  return out;
}

function _u32(n: number, where: string): void {
  if (!(Number.isInteger(n) && n >= 0 && n <= 0xffffffff)) throw new RangeError(`${where} must be a U32, got ${n}`);
}

/** Encode one message as a frame. Misuse (out-of-range fields) throws RangeError. */
export function encodeWorkerControl(message: WorkerControlMessage): Uint8Array {
  const T = WORKER_CONTROL_TYPES;
  switch (message.type) {
    case 'hello': {
      if (!(Number.isInteger(message.index) && message.index >= 0 && message.index <= 0xffff)) throw new RangeError(`hello.index must be a U16, got ${message.index}`);
      _u32(message.pid, 'hello.pid');
      if (!(Number.isInteger(message.port) && message.port >= 0 && message.port <= 0xffff)) throw new RangeError(`hello.port must be a U16, got ${message.port}`);
      const body = new Uint8Array(8);
      const view = new DataView(body.buffer);
      view.setUint16(0, message.index, true);
      view.setUint32(2, message.pid, true);
      view.setUint16(6, message.port, true);
      return _frame(T.HELLO, body);
    }
    case 'template':
      return _frame(T.TEMPLATE, _encoder.encode(encodeControlJson(message.template)));
    case 'gate':
      return _frame(T.GATE, Uint8Array.of((message.holding ? 1 : 0) | (message.refusingMiners ? 2 : 0)));
    case 'hold_expired':
      return _frame(T.HOLD_EXPIRED, new Uint8Array(0));
    case 'events': {
      _u32(message.batch, 'events.batch');
      const json = _encoder.encode(encodeControlJson(message.events));
      const body = new Uint8Array(5 + json.length);
      new DataView(body.buffer).setUint32(0, message.batch, true);
      body[4] = message.wantsAck ? 1 : 0;
      body.set(json, 5);
      return _frame(T.EVENTS, body);
    }
    case 'ack': {
      _u32(message.batch, 'ack.batch');
      const body = new Uint8Array(4);
      new DataView(body.buffer).setUint32(0, message.batch, true);
      return _frame(T.ACK, body);
    }
    case 'submit_block':
      return _frame(T.SUBMIT_BLOCK, _encoder.encode(encodeControlJson(message.command)));
    case 'block_result':
      return _frame(T.BLOCK_RESULT, _encoder.encode(encodeControlJson({ block_id: message.blockId, outcome: message.outcome })));
    case 'shutdown':
      return _frame(T.SHUTDOWN, new Uint8Array(0));
    case 'token_check': {
      const c = message.check;
      _u32(c.id, 'token_check.id');
      if (!(Number.isInteger(c.fullExtranonceBytes) && c.fullExtranonceBytes >= 0 && c.fullExtranonceBytes <= 0xff)) throw new RangeError(`token_check.fullExtranonceBytes must be a U8, got ${c.fullExtranonceBytes}`);
      const user = _encoder.encode(c.user);
      if (user.length > 0xff) throw new RangeError(`token_check.user must be at most 255 UTF-8 bytes (SV2 STR0_255), got ${user.length}`);
      const job = encodeMessage(c.job);
      const body = new Uint8Array(6 + user.length + job.length);
      new DataView(body.buffer).setUint32(0, c.id, true);
      body[4] = c.fullExtranonceBytes;
      body[5] = user.length;
      body.set(user, 6);
      body.set(job, 6 + user.length);
      return _frame(T.TOKEN_CHECK, body);
    }
    case 'token_answer': {
      _u32(message.id, 'token_answer.id');
      const a = message.answer;
      const record = a.ok
        ? { ok: true, declared: a.declared === null ? null : { declaration_id: a.declared.declarationId, transactions: a.declared.transactions } }
        : { ok: false, reason_code: a.reasonCode, detail: a.detail };
      const json = _encoder.encode(encodeControlJson(record));
      const body = new Uint8Array(4 + json.length);
      new DataView(body.buffer).setUint32(0, message.id, true);
      body.set(json, 4);
      return _frame(T.TOKEN_ANSWER, body);
    }
    default: {
      const exhaustive: never = message;
      throw new TypeError(`encodeWorkerControl: unknown message ${JSON.stringify(exhaustive)}`);
    }
  }
}

const _CODE = 'worker_control_invalid';

/** Incremental decoder of one direction of the control channel (see the header). */
export class WorkerControlDecoder {
  readonly #frameBytesMax: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  readonly #out: WorkerControlMessage[] = [];
  #error: ProtocolError | null = null;

  constructor(options: { readonly frameBytesMax?: number } = {}) {
    const max = options.frameBytesMax ?? WORKER_CONTROL_FRAME_BYTES_MAX_DEFAULT;
    if (!(Number.isInteger(max) && max >= 1)) throw new RangeError(`WorkerControlDecoder: frameBytesMax must be a positive integer, got ${max}`);
    this.#frameBytesMax = max;
  }

  /** The first malformed input seen, or null; terminal: later bytes are ignored. */
  get error(): ProtocolError | null {
    return this.#error;
  }

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  push(bytes: Uint8Array): void {
    if (this.#error !== null || bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.#buffered += bytes.length;
    this.#drain();
  }

  poll(): WorkerControlMessage | undefined {
    return this.#out.shift();
  }

  #fail(message: string): void {
    this.#error = protocolError(_CODE, 'remote', message);
    this.#chunks = [];
    this.#buffered = 0;
  }

  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const head = this.#chunks[0]!;
      const want = n - at;
      if (head.length <= want) {
        out.set(head, at);
        at += head.length;
        this.#chunks.shift();
      } else {
        out.set(head.subarray(0, want), at);
        this.#chunks[0] = head.subarray(want);
        at += want;
      }
    }
    this.#buffered -= n;
    return out;
  }

  #peekLength(): number {
    const head = new Uint8Array(4);
    let at = 0;
    for (const chunk of this.#chunks) {
      const n = Math.min(4 - at, chunk.length);
      head.set(chunk.subarray(0, n), at);
      at += n;
      if (at === 4) break;
    }
    return new DataView(head.buffer).getUint32(0, true);
  }

  #drain(): void {
    while (this.#error === null && this.#buffered >= 4) {
      const length = this.#peekLength();
      if (length < 1) return this.#fail('control frame length 0 (no type byte)');
      if (length > this.#frameBytesMax) return this.#fail(`control frame of ${length} bytes exceeds ${this.#frameBytesMax}`);
      if (this.#buffered < 4 + length) return;
      this.#take(4);
      const frame = this.#take(length);
      const decoded = _decodeBody(frame[0]!, frame.subarray(1));
      if (typeof decoded === 'string') return this.#fail(decoded);
      this.#out.push(decoded);
    }
  }
}

function _json(body: Uint8Array): { ok: true; value: unknown } | { ok: false; why: string } {
  try {
    return { ok: true, value: decodeControlJson(_decoder.decode(body)) };
  } catch (error) {
    return { ok: false, why: error instanceof Error ? error.message : String(error) };
  }
}

/** A message, or why the body is malformed. */
function _decodeBody(type: number, body: Uint8Array): WorkerControlMessage | string {
  const T = WORKER_CONTROL_TYPES;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const exact = (n: number, name: string): string | null => (body.length === n ? null : `${name} body must be ${n} bytes, got ${body.length}`);
  switch (type) {
    case T.HELLO:
      return exact(8, 'HELLO') ?? { type: 'hello', index: view.getUint16(0, true), pid: view.getUint32(2, true), port: view.getUint16(6, true) };
    case T.TEMPLATE: {
      const j = _json(body);
      if (!j.ok) return `TEMPLATE: ${j.why}`;
      if (j.value === null || typeof j.value !== 'object' || Array.isArray(j.value)) return 'TEMPLATE: not a JSON object';
      return { type: 'template', template: j.value };
    }
    case T.GATE: {
      const bad = exact(1, 'GATE');
      if (bad !== null) return bad;
      if ((body[0]! & ~3) !== 0) return `GATE: unknown flag bits 0x${body[0]!.toString(16)}`;
      return { type: 'gate', holding: (body[0]! & 1) !== 0, refusingMiners: (body[0]! & 2) !== 0 };
    }
    case T.HOLD_EXPIRED:
      return exact(0, 'HOLD_EXPIRED') ?? { type: 'hold_expired' };
    case T.EVENTS: {
      if (body.length < 5) return `EVENTS body must be at least 5 bytes, got ${body.length}`;
      if (body[4]! > 1) return `EVENTS: wants_ack must be 0 or 1, got ${body[4]}`;
      const j = _json(body.subarray(5));
      if (!j.ok) return `EVENTS: ${j.why}`;
      if (!Array.isArray(j.value)) return 'EVENTS: not a JSON array';
      return { type: 'events', batch: view.getUint32(0, true), wantsAck: body[4] === 1, events: j.value };
    }
    case T.ACK:
      return exact(4, 'ACK') ?? { type: 'ack', batch: view.getUint32(0, true) };
    case T.SUBMIT_BLOCK: {
      const j = _json(body);
      if (!j.ok) return `SUBMIT_BLOCK: ${j.why}`;
      const c = j.value as { type?: unknown; block_id?: unknown; hex?: unknown; attempt?: unknown } | null;
      if (c === null || typeof c !== 'object' || c.type !== 'submit_block' || typeof c.block_id !== 'string' || typeof c.hex !== 'string' || typeof c.attempt !== 'number') {
        return 'SUBMIT_BLOCK: not a submit_block command';
      }
      return { type: 'submit_block', command: c };
    }
    case T.BLOCK_RESULT: {
      const j = _json(body);
      if (!j.ok) return `BLOCK_RESULT: ${j.why}`;
      const r = j.value as { block_id?: unknown; outcome?: unknown } | null;
      if (r === null || typeof r !== 'object' || typeof r.block_id !== 'string' || r.outcome === null || typeof r.outcome !== 'object') return 'BLOCK_RESULT: needs block_id and outcome';
      return { type: 'block_result', blockId: r.block_id, outcome: r.outcome };
    }
    case T.SHUTDOWN:
      return exact(0, 'SHUTDOWN') ?? { type: 'shutdown' };
    case T.TOKEN_CHECK:
      return _decodeTokenCheck(body, view);
    case T.TOKEN_ANSWER:
      return _decodeTokenAnswer(body, view);
    default:
      return `unknown control message type ${type}`;
  }
}

function _decodeTokenCheck(body: Uint8Array, view: DataView): WorkerControlMessage | string {
  if (body.length < 6 + FRAME_HEADER_BYTES) return `TOKEN_CHECK body must be at least ${6 + FRAME_HEADER_BYTES} bytes, got ${body.length}`;
  const id = view.getUint32(0, true);
  const fullExtranonceBytes = body[4]!;
  const userLength = body[5]!;
  if (body.length < 6 + userLength + FRAME_HEADER_BYTES) return `TOKEN_CHECK: user of ${userLength} bytes and an SV2 frame do not fit in ${body.length} bytes`;
  let user: string;
  try {
    user = _decoder.decode(body.subarray(6, 6 + userLength));
  } catch {
    return 'TOKEN_CHECK: user is not UTF-8';
  }
  const at = 6 + userLength;
  const header = decodeHeader(body, at);
  const payload = body.subarray(at + FRAME_HEADER_BYTES);
  if (header.msgLength !== payload.length) return `TOKEN_CHECK: the SV2 frame announces ${header.msgLength} payload bytes, ${payload.length} follow`;
  const decoded = decodeMessage({ header, payload });
  if (!decoded.ok) return `TOKEN_CHECK: ${decoded.error.message}`;
  if (decoded.value.type !== 'SetCustomMiningJob') return `TOKEN_CHECK: carries ${decoded.value.type}, not SetCustomMiningJob`;
  return { type: 'token_check', check: { id, user, fullExtranonceBytes, job: decoded.value } };
}

const _REFUSALS: ReadonlySet<string> = new Set(CUSTOM_JOB_TOKEN_REFUSALS);

function _decodeTokenAnswer(body: Uint8Array, view: DataView): WorkerControlMessage | string {
  if (body.length < 4) return `TOKEN_ANSWER body must be at least 4 bytes, got ${body.length}`;
  const id = view.getUint32(0, true);
  const j = _json(body.subarray(4));
  if (!j.ok) return `TOKEN_ANSWER: ${j.why}`;
  const r = j.value as { ok?: unknown; declared?: unknown; reason_code?: unknown; detail?: unknown } | null;
  if (r === null || typeof r !== 'object' || Array.isArray(r)) return 'TOKEN_ANSWER: not a JSON object';
  if (r.ok === false) {
    if (typeof r.reason_code !== 'string' || !_REFUSALS.has(r.reason_code)) return `TOKEN_ANSWER: reason_code ${JSON.stringify(r.reason_code)} is not a token-stage refusal`;
    if (typeof r.detail !== 'string' || r.detail.length > 1024) return 'TOKEN_ANSWER: detail must be a string of at most 1024 characters';
    return { type: 'token_answer', id, answer: { ok: false, reasonCode: r.reason_code as CustomJobTokenRefusal, detail: r.detail } };
  }
  if (r.ok !== true) return 'TOKEN_ANSWER: ok must be true or false';
  if (r.declared === null) return { type: 'token_answer', id, answer: { ok: true, declared: null } };
  const d = r.declared as { declaration_id?: unknown; transactions?: unknown } | undefined;
  if (d === undefined || typeof d !== 'object' || typeof d.declaration_id !== 'bigint' || d.declaration_id < 0n) return 'TOKEN_ANSWER: declared needs a declaration_id';
  if (!Array.isArray(d.transactions) || !d.transactions.every((t) => t instanceof Uint8Array && t.length > 0)) return 'TOKEN_ANSWER: declared.transactions must be a list of non-empty byte strings';
  return { type: 'token_answer', id, answer: { ok: true, declared: { declarationId: d.declaration_id, transactions: d.transactions as Uint8Array[] } } };
}
