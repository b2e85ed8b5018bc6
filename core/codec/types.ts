// binary_sv2 data types (SV2.md §2): a Reader and a Writer over Uint8Array, and one `DataType`
// object per SV2 type so message field lists (core/codec/messages/*.ts) are plain data.
//
// Receive leniently, send strictly (SV2.md §1.1, §9):
//  - Reading never throws. The Reader keeps the FIRST failure (sticky, like a Result that is
//    checked once per message instead of once per field: no allocation per field on the share
//    hot path) and every later read is a no-op returning a neutral value. `readValue` and the
//    message decoders turn that into a `Result`. Codes: `truncated` (buffer too short),
//    `invalid-length` (a length prefix over its type maximum, e.g. B0_32 with len 33),
//    `invalid-option` (OPTION count byte > 1). The error's `field` names the field.
//  - Writing checks every value and throws TypeError/RangeError naming the field and the value
//    (a string over 255 bytes, a B0_32 over 32 bytes, a U16 of 70000, ...).
//
// Byte fields (U256, PUBKEY, SIGNATURE, B0_*) are decoded as COPIES, never views of the input:
// frames come out of the deframer's queue and may share memory with later network reads, so an
// aliasing view would be a trap. They are small (≤ 32 bytes) except coinbase/transaction blobs,
// whose copy is cheap next to the Noise decryption that produced them.
import { fromUtf8, utf8 } from '../bytes.ts';
import { err, ok, protocolError, type ProtocolError, type Result } from '../errors.ts';

const EMPTY = new Uint8Array(0);
// One scratch for F32 decode/encode: a DataView pins little-endian whatever the host is.
const f32Scratch = new DataView(new ArrayBuffer(4));

/** Cursor over a byte array with a sticky first failure. Never throws on any input. */
export class Reader {
  readonly bytes: Uint8Array;
  /** Next byte to read. */
  offset: number;
  /** One past the last readable byte. */
  readonly end: number;
  /** The first failure, if any; once set, reads return neutral values and do not advance. */
  failure: ProtocolError | undefined = undefined;

  constructor(bytes: Uint8Array, offset = 0, end = bytes.length) {
    this.bytes = bytes;
    this.offset = offset;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  /** Record a failure (only the first one is kept). */
  fail(code: string, field: string, message: string): void {
    if (this.failure === undefined) this.failure = protocolError(code, 'remote', message, field);
  }

  /** True if `n` more bytes exist; otherwise records `truncated` for `field`. */
  need(n: number, field: string): boolean {
    if (this.failure !== undefined) return false;
    if (this.end - this.offset >= n) return true;
    this.fail('truncated', field, `${field}: need ${n} bytes, ${this.end - this.offset} left`);
    return false;
  }

  u8(field: string): number {
    if (!this.need(1, field)) return 0;
    return this.bytes[this.offset++]!;
  }

  u16(field: string): number {
    if (!this.need(2, field)) return 0;
    const b = this.bytes;
    const o = this.offset;
    this.offset = o + 2;
    return b[o]! | (b[o + 1]! << 8);
  }

  u24(field: string): number {
    if (!this.need(3, field)) return 0;
    const b = this.bytes;
    const o = this.offset;
    this.offset = o + 3;
    return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);
  }

  u32(field: string): number {
    if (!this.need(4, field)) return 0;
    const b = this.bytes;
    const o = this.offset;
    this.offset = o + 4;
    // `>>> 0` keeps the top bit unsigned.
    return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
  }

  u64(field: string): bigint {
    if (!this.need(8, field)) return 0n;
    const lo = this.u32(field);
    const hi = this.u32(field);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  f32(field: string): number {
    if (!this.need(4, field)) return 0;
    const b = this.bytes;
    const o = this.offset;
    this.offset = o + 4;
    f32Scratch.setUint8(0, b[o]!);
    f32Scratch.setUint8(1, b[o + 1]!);
    f32Scratch.setUint8(2, b[o + 2]!);
    f32Scratch.setUint8(3, b[o + 3]!);
    return f32Scratch.getFloat32(0, true);
  }

  /** SV2.md §2: SRI looks only at the LSB on read (`(b<<7)>>7`); the spec says to ignore the rest. */
  bool(field: string): boolean {
    return (this.u8(field) & 1) === 1;
  }

  /** `n` bytes as a fresh copy (never aliases the input). */
  copy(n: number, field: string): Uint8Array {
    if (!this.need(n, field)) return EMPTY;
    const o = this.offset;
    this.offset = o + n;
    return this.bytes.slice(o, o + n);
  }

  /** `n` bytes as a view into the input (aliases it; for transient use such as UTF-8 decode). */
  view(n: number, field: string): Uint8Array {
    if (!this.need(n, field)) return EMPTY;
    const o = this.offset;
    this.offset = o + n;
    return this.bytes.subarray(o, o + n);
  }

  /** Everything left, as a view; advances to the end. */
  rest(): Uint8Array {
    if (this.failure !== undefined) return EMPTY;
    const o = this.offset;
    this.offset = this.end;
    return this.bytes.subarray(o, this.end);
  }
}

/** Growable output buffer. Every typed write checks its value and throws on misuse. */
export class Writer {
  #buffer: Uint8Array<ArrayBuffer>;
  #length = 0;

  constructor(capacityBytes = 64) {
    this.#buffer = new Uint8Array(capacityBytes);
  }

  get length(): number {
    return this.#length;
  }

  /** The underlying buffer (valid up to `length`); for patching a reserved header. */
  get buffer(): Uint8Array<ArrayBuffer> {
    return this.#buffer;
  }

  #ensure(n: number): number {
    const at = this.#length;
    const needed = at + n;
    if (needed > this.#buffer.length) {
      let capacity = this.#buffer.length * 2 || 64;
      while (capacity < needed) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.#buffer.subarray(0, at));
      this.#buffer = grown;
    }
    this.#length = needed;
    return at;
  }

  /** Reserve `n` zero bytes (e.g. a frame header filled in after the payload). */
  skip(n: number): void {
    this.#ensure(n);
  }

  raw(bytes: Uint8Array): void {
    const at = this.#ensure(bytes.length);
    this.#buffer.set(bytes, at);
  }

  u8(value: number, field: string): void {
    _checkUint(value, 0xff, field, 'U8');
    // #ensure may replace #buffer: call it before reading the field (evaluation order matters).
    const at = this.#ensure(1);
    this.#buffer[at] = value;
  }

  u16(value: number, field: string): void {
    _checkUint(value, 0xffff, field, 'U16');
    const at = this.#ensure(2);
    this.#buffer[at] = value & 0xff;
    this.#buffer[at + 1] = value >>> 8;
  }

  u24(value: number, field: string): void {
    _checkUint(value, 0xffffff, field, 'U24');
    const at = this.#ensure(3);
    this.#buffer[at] = value & 0xff;
    this.#buffer[at + 1] = (value >>> 8) & 0xff;
    this.#buffer[at + 2] = value >>> 16;
  }

  u32(value: number, field: string): void {
    _checkUint(value, 0xffffffff, field, 'U32');
    const at = this.#ensure(4);
    const b = this.#buffer;
    b[at] = value & 0xff;
    b[at + 1] = (value >>> 8) & 0xff;
    b[at + 2] = (value >>> 16) & 0xff;
    b[at + 3] = value >>> 24;
  }

  u64(value: bigint, field: string): void {
    if (typeof value !== 'bigint') throw new TypeError(`${field}: U64 must be a bigint, got ${_show(value)}`);
    if (value < 0n || value > 0xffff_ffff_ffff_ffffn) {
      throw new RangeError(`${field}: U64 must be 0..2^64-1, got ${value}`);
    }
    // Two U32 halves: 2 BigInt operations instead of 16.
    const lo = Number(value & 0xffff_ffffn);
    const hi = Number(value >> 32n);
    const at = this.#ensure(8);
    const b = this.#buffer;
    b[at] = lo & 0xff;
    b[at + 1] = (lo >>> 8) & 0xff;
    b[at + 2] = (lo >>> 16) & 0xff;
    b[at + 3] = lo >>> 24;
    b[at + 4] = hi & 0xff;
    b[at + 5] = (hi >>> 8) & 0xff;
    b[at + 6] = (hi >>> 16) & 0xff;
    b[at + 7] = hi >>> 24;
  }

  /** IEEE-754 binary32 LE (SV2.md §2 F32); any JS number is rounded to the nearest f32. */
  f32(value: number, field: string): void {
    if (typeof value !== 'number') throw new TypeError(`${field}: F32 must be a number, got ${_show(value)}`);
    f32Scratch.setFloat32(0, value, true);
    const at = this.#ensure(4);
    const b = this.#buffer;
    b[at] = f32Scratch.getUint8(0);
    b[at + 1] = f32Scratch.getUint8(1);
    b[at + 2] = f32Scratch.getUint8(2);
    b[at + 3] = f32Scratch.getUint8(3);
  }

  bool(value: boolean, field: string): void {
    if (typeof value !== 'boolean') throw new TypeError(`${field}: BOOL must be a boolean, got ${_show(value)}`);
    const at = this.#ensure(1);
    this.#buffer[at] = value ? 1 : 0;
  }

  /** Exactly `size` raw bytes (U256, PUBKEY, SIGNATURE). */
  fixed(value: Uint8Array, size: number, field: string, typeName: string): void {
    if (!(value instanceof Uint8Array)) throw new TypeError(`${field}: ${typeName} must be a Uint8Array, got ${_show(value)}`);
    if (value.length !== size) throw new RangeError(`${field}: ${typeName} must be ${size} bytes, got ${value.length}`);
    this.raw(value);
  }

  /** The written bytes, exactly `length` long (the buffer itself when it fits exactly). */
  finish(): Uint8Array {
    return this.#length === this.#buffer.length ? this.#buffer : this.#buffer.slice(0, this.#length);
  }
}

function _show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  return String(value);
}

function _checkUint(value: number, max: number, field: string, typeName: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${field}: ${typeName} must be an integer 0..${max}, got ${_show(value)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// DataType objects: one per binary_sv2 type, composable (SEQ/OPTION take an element type).

/** A binary_sv2 type: how to read it (lenient, sticky failure) and write it (strict, throws). */
export interface DataType<T> {
  /** binary_sv2 name, e.g. `U32`, `SEQ0_255[U256]`. */
  readonly name: string;
  /** Encoded size if every value has the same size (used to reject impossible SEQ counts early). */
  readonly fixedBytes?: number;
  read(reader: Reader, field: string): T;
  write(writer: Writer, value: T, field: string): void;
}

/** The JS type a DataType decodes to. */
export type ValueOf<D> = D extends DataType<infer T> ? T : never;

export const BOOL: DataType<boolean> = {
  name: 'BOOL',
  fixedBytes: 1,
  read: (r, f) => r.bool(f),
  write: (w, v, f) => w.bool(v, f),
};
export const U8: DataType<number> = { name: 'U8', fixedBytes: 1, read: (r, f) => r.u8(f), write: (w, v, f) => w.u8(v, f) };
export const U16: DataType<number> = { name: 'U16', fixedBytes: 2, read: (r, f) => r.u16(f), write: (w, v, f) => w.u16(v, f) };
export const U24: DataType<number> = { name: 'U24', fixedBytes: 3, read: (r, f) => r.u24(f), write: (w, v, f) => w.u24(v, f) };
export const U32: DataType<number> = { name: 'U32', fixedBytes: 4, read: (r, f) => r.u32(f), write: (w, v, f) => w.u32(v, f) };
export const U64: DataType<bigint> = { name: 'U64', fixedBytes: 8, read: (r, f) => r.u64(f), write: (w, v, f) => w.u64(v, f) };
export const F32: DataType<number> = { name: 'F32', fixedBytes: 4, read: (r, f) => r.f32(f), write: (w, v, f) => w.f32(v, f) };

function _fixedBytes(name: string, size: number): DataType<Uint8Array> {
  return {
    name,
    fixedBytes: size,
    read: (r, f) => r.copy(size, f),
    write: (w, v, f) => w.fixed(v, size, f, name),
  };
}

/** 32 raw bytes meaning a LE 256-bit integer (targets) or a hash in internal byte order. */
export const U256: DataType<Uint8Array> = _fixedBytes('U256', 32);
/** 32-byte x-only public key (BIP340). */
export const PUBKEY: DataType<Uint8Array> = _fixedBytes('PUBKEY', 32);
/** 64-byte BIP340 signature. */
export const SIGNATURE: DataType<Uint8Array> = _fixedBytes('SIGNATURE', 64);
/** The byte-string types a sequence decodes from one copy (`_seq`). */
const _FIXED_BYTE_TYPES: ReadonlySet<DataType<unknown>> = new Set<DataType<unknown>>([U256, PUBKEY, SIGNATURE]);

type LengthWidth = 1 | 2 | 3;

function _readLength(r: Reader, width: LengthWidth, field: string): number {
  return width === 1 ? r.u8(field) : width === 2 ? r.u16(field) : r.u24(field);
}

function _writeLength(w: Writer, width: LengthWidth, n: number, field: string): void {
  if (width === 1) w.u8(n, field);
  else if (width === 2) w.u16(n, field);
  else w.u24(n, field);
}

function _lengthPrefixedBytes(name: string, width: LengthWidth, max: number): DataType<Uint8Array> {
  return {
    name,
    read(r, field) {
      const n = _readLength(r, width, field);
      if (n > max) {
        r.fail('invalid-length', field, `${field}: ${name} length ${n} exceeds ${max}`);
        return EMPTY;
      }
      return r.copy(n, field);
    },
    write(w, value, field) {
      if (!(value instanceof Uint8Array)) throw new TypeError(`${field}: ${name} must be a Uint8Array, got ${_show(value)}`);
      if (value.length > max) throw new RangeError(`${field}: ${name} holds at most ${max} bytes, got ${value.length}`);
      _writeLength(w, width, value.length, field);
      w.raw(value);
    },
  };
}

/** `len U8` + 0..32 bytes; a longer length is `invalid-length` (SRI errors too). */
export const B0_32: DataType<Uint8Array> = _lengthPrefixedBytes('B0_32', 1, 32);
export const B0_255: DataType<Uint8Array> = _lengthPrefixedBytes('B0_255', 1, 255);
export const B0_64K: DataType<Uint8Array> = _lengthPrefixedBytes('B0_64K', 2, 0xffff);
export const B0_16M: DataType<Uint8Array> = _lengthPrefixedBytes('B0_16M', 3, 0xffffff);

/**
 * `len U8` + 0..255 bytes of text. Decoded leniently (invalid UTF-8 becomes U+FFFD, SV2.md §2:
 * SRI does not validate), so a decoded string with replacement characters re-encodes to
 * different bytes; every valid-UTF-8 string round-trips exactly.
 */
export const STR0_255: DataType<string> = {
  name: 'STR0_255',
  read(r, field) {
    const n = r.u8(field);
    return n === 0 ? '' : fromUtf8(r.view(n, field));
  },
  write(w, value, field) {
    if (typeof value !== 'string') throw new TypeError(`${field}: STR0_255 must be a string, got ${_show(value)}`);
    const bytes = utf8(value);
    if (bytes.length > 255) throw new RangeError(`${field}: STR0_255 holds at most 255 UTF-8 bytes, got ${bytes.length} (${_show(value)})`);
    w.u8(bytes.length, field);
    w.raw(bytes);
  },
};

function _seq<T>(name: string, width: 1 | 2, max: number, item: DataType<T>): DataType<readonly T[]> {
  const fullName = `${name}[${item.name}]`;
  return {
    name: fullName,
    read(r, field) {
      const count = _readLength(r, width, field);
      if (r.failure !== undefined) return [];
      // Refuse a count that cannot fit before allocating anything for it.
      if (item.fixedBytes !== undefined && count * item.fixedBytes > r.remaining) {
        r.fail('truncated', field, `${field}: ${count} × ${item.name} need ${count * item.fixedBytes} bytes, ${r.remaining} left`);
        return [];
      }
      // A sequence of fixed-size byte strings (U256, PUBKEY, SIGNATURE): ONE copy of all items,
      // each item a view of that copy. Still never a view of the input (see the header), and the
      // same values; but one buffer instead of one per item: a DeclareMiningJob's wtxid_list of
      // 4,000 U256 was 4,000 ArrayBuffers (~230 bytes of heap each) per declaration
      // (docs/job-declaration.md "Performance").
      if (_FIXED_BYTE_TYPES.has(item as DataType<unknown>)) {
        const size = item.fixedBytes!;
        const whole = r.copy(count * size, field);
        if (r.failure !== undefined) return [];
        const views = new Array<Uint8Array>(count);
        for (let i = 0; i < count; i++) views[i] = whole.subarray(i * size, (i + 1) * size);
        return views as T[];
      }
      const out: T[] = [];
      for (let i = 0; i < count; i++) {
        const value = item.read(r, field);
        if (r.failure !== undefined) return [];
        out.push(value);
      }
      return out;
    },
    write(w, values, field) {
      if (!Array.isArray(values)) throw new TypeError(`${field}: ${fullName} must be an array, got ${_show(values)}`);
      if (values.length > max) throw new RangeError(`${field}: ${fullName} holds at most ${max} items, got ${values.length}`);
      _writeLength(w, width, values.length, field);
      for (const value of values) item.write(w, value, field);
    },
  };
}

/** `count U8` + count × T. */
export function SEQ0_255<T>(item: DataType<T>): DataType<readonly T[]> {
  return _seq('SEQ0_255', 1, 255, item);
}

/** `count U16 LE` + count × T. */
export function SEQ0_64K<T>(item: DataType<T>): DataType<readonly T[]> {
  return _seq('SEQ0_64K', 2, 0xffff, item);
}

/** `count U8` ∈ {0,1} + T if 1; None is `null`. A count > 1 is `invalid-option` (SV2.md §2, §9.16). */
export function OPTION<T>(item: DataType<T>): DataType<T | null> {
  const name = `OPTION[${item.name}]`;
  return {
    name,
    read(r, field) {
      const count = r.u8(field);
      if (count === 0) return null;
      if (count > 1) {
        r.fail('invalid-option', field, `${field}: ${name} count must be 0 or 1, got ${count}`);
        return null;
      }
      const value = item.read(r, field);
      return r.failure === undefined ? value : null;
    },
    write(w, value, field) {
      if (value === null) {
        w.u8(0, field);
        return;
      }
      if (value === undefined) throw new TypeError(`${field}: ${name} must be a value or null, got undefined`);
      w.u8(1, field);
      item.write(w, value, field);
    },
  };
}

/** Decode one value of `type` from the start of `bytes` (trailing bytes ignored). */
export function readValue<T>(type: DataType<T>, bytes: Uint8Array, field: string = type.name): Result<T> {
  const reader = new Reader(bytes);
  const value = type.read(reader, field);
  return reader.failure === undefined ? ok(value) : err(reader.failure);
}

/** Encode one value of `type`; throws TypeError/RangeError naming `field` if it is out of range. */
export function encodeValue<T>(type: DataType<T>, value: T, field: string = type.name): Uint8Array {
  const writer = new Writer();
  type.write(writer, value, field);
  return writer.finish();
}

// ---------------------------------------------------------------------------------------------
// Message codecs: a message is its field list. `defineMessage` turns `[key, wire_name, type]`
// triples into a decoder (lenient, sticky failure) and an encoder (strict, throws), and its
// TypeScript type (`MessageOf`) is derived from the same list, so the two cannot drift apart.

/** Options for decoding; `negotiatedExtensions` enables TLV fields (SV2.md §10). */
export interface DecodeOptions {
  readonly negotiatedExtensions?: readonly number[];
}

/** `[camelCaseKey, spec_field_name, DataType]`. */
// `any`: DataType<number>, DataType<string>, … must all fit one slot (DataType is invariant).
export type FieldSpec = readonly [key: string, wire: string, type: DataType<any>];

type _Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The plain-object type of a message: `{ type: N }` plus one property per field. */
export type MessageOf<N extends string, F extends readonly FieldSpec[]> = _Simplify<
  { readonly type: N } & { readonly [E in F[number] as E[0]]: ValueOf<E[2]> }
>;

export interface MessageCodec<M extends { readonly type: string }> {
  /** The `type` discriminant. */
  readonly type: M['type'];
  readonly fields: readonly FieldSpec[];
  /** Qualified names used in errors, e.g. `OpenStandardMiningChannel.user_identity`. */
  readonly fieldNames: readonly string[];
  /** Decode from `reader`; on failure `reader.failure` is set and the value is meaningless. */
  decode(reader: Reader, options: DecodeOptions): M;
  /** Append the payload; throws TypeError/RangeError naming the field on a bad value. */
  encode(writer: Writer, message: M): void;
}

/** Generic field-list codec, optionally with a hand-written decode/encode (hot paths, TLVs). */
export function messageCodec<M extends { readonly type: string }>(
  type: M['type'],
  fields: readonly FieldSpec[],
  overrides: {
    decode?: (reader: Reader, options: DecodeOptions, fieldNames: readonly string[]) => M;
    encode?: (writer: Writer, message: M, fieldNames: readonly string[]) => void;
  } = {},
): MessageCodec<M> {
  const keys = fields.map((f) => f[0]);
  const types = fields.map((f) => f[2] as DataType<unknown>);
  const fieldNames = fields.map((f) => `${type}.${f[1]}`);
  const count = fields.length;
  const genericDecode = (reader: Reader): M => {
    // Properties are added in the same order every time, so every decoded message of one type
    // shares one hidden class.
    const message: Record<string, unknown> = { type };
    for (let i = 0; i < count; i++) message[keys[i]!] = types[i]!.read(reader, fieldNames[i]!);
    return message as unknown as M;
  };
  const genericEncode = (writer: Writer, message: M): void => {
    const record = message as unknown as Record<string, unknown>;
    for (let i = 0; i < count; i++) types[i]!.write(writer, record[keys[i]!], fieldNames[i]!);
  };
  const decode = overrides.decode;
  const encode = overrides.encode;
  return {
    type,
    fields,
    fieldNames,
    decode: decode ? (reader, options) => decode(reader, options, fieldNames) : genericDecode,
    encode(writer, message) {
      if (message === null || typeof message !== 'object' || message.type !== type) {
        throw new TypeError(`${type}: message.type must be '${type}', got ${_show((message as { type?: unknown } | null)?.type)}`);
      }
      if (encode) encode(writer, message, fieldNames);
      else genericEncode(writer, message);
    },
  };
}

/** `messageCodec` with the message type derived from the field list. */
export function defineMessage<const N extends string, const F extends readonly FieldSpec[]>(
  type: N,
  fields: F,
): MessageCodec<MessageOf<N, F>> {
  return messageCodec<MessageOf<N, F>>(type as MessageOf<N, F>['type'], fields);
}
