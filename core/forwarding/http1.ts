// The HTTP/1.1 pieces the share poster needs (issue 12 defect 1), sans-IO (STYLE.md #1, after
// h11's `next_event`): build one POST request, and read one response from bytes as they arrive.
//
// Why our own: "one signature travels at most once on the wire" (docs/share-forwarding.md
// "Signature" step 4) must hold on every runtime, and the runtimes' clients re-send on their own.
// Deno's fetch AND its node:http re-send an idempotency-unsafe POST when a reused keep-alive
// connection closes without an answer (hyper's retry of requests on a connection the pool
// thought alive; measured: the backend saw the same signed request twice), so a backend that
// refuses replays answers 401 to a batch it already stored. The poster
// (adapters/share-poster.ts) therefore writes each request exactly once, on a fresh connection
// (`Connection: close`, RFC 9112 §9.6), and every retry is the forwarder's: a new attempt,
// timestamp and signature.
//
// Reader (RFC 9112): status line, header fields (at most HEAD_BYTES_MAX), then the body framed
// by `Transfer-Encoding: chunked`, `Content-Length`, or the end of the connection (§6.3). 1xx
// interim answers are skipped. A body longer than `bodyBytesMax` is cut there (the answer only
// carries per-share refusals and a reason; the status is what matters). "Need more bytes" is a
// value; malformed input is a returned error, never a throw.
import { fromUtf8, utf8 } from '../bytes.ts';

/** Status line plus header fields; a backend answer has a few hundred bytes of them. */
export const HEAD_BYTES_MAX = 16 * 1024;

export interface Http1Response {
  readonly status: number;
  /** Lower-case names; a repeated field keeps its last value. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Uint8Array;
  /** True when the body was longer than bodyBytesMax and was cut. */
  readonly truncated: boolean;
}

export type Http1ReadResult =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'response'; readonly response: Http1Response }
  | { readonly kind: 'error'; readonly message: string };

export interface Http1PostRequest {
  /** `host[:port]` as it goes in the Host field. */
  readonly authority: string;
  /** Path and query, starting with `/`. */
  readonly target: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

const _FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The request bytes: `POST target HTTP/1.1`, Host, Content-Length, Connection: close, the caller's fields, body. */
export function encodeHttp1Post(request: Http1PostRequest): Uint8Array {
  if (!request.target.startsWith('/')) throw new TypeError(`encodeHttp1Post: target must start with "/", got ${JSON.stringify(request.target)}`);
  let head = `POST ${request.target} HTTP/1.1\r\nHost: ${request.authority}\r\nContent-Length: ${request.body.length}\r\nConnection: close\r\n`;
  for (const [name, value] of Object.entries(request.headers)) {
    const lower = name.toLowerCase();
    // Framing and connection fields are ours to set (one request, one connection).
    if (lower === 'host' || lower === 'content-length' || lower === 'connection' || lower === 'transfer-encoding') continue;
    if (!_FIELD_NAME.test(name) || /[\r\n\0]/.test(value)) throw new TypeError(`encodeHttp1Post: invalid header ${JSON.stringify(name)}`);
    head += `${name}: ${value}\r\n`;
  }
  head += '\r\n';
  const headBytes = utf8(head);
  const out = new Uint8Array(headBytes.length + request.body.length);
  out.set(headBytes, 0);
  out.set(request.body, headBytes.length);
  return out;
}

type _Stage =
  | { readonly kind: 'head' }
  | { kind: 'length'; remaining: number }
  | { kind: 'chunk-size' }
  | { kind: 'chunk-data'; remaining: number }
  | { kind: 'chunk-data-end' }
  | { kind: 'trailers' }
  | { readonly kind: 'until-close' }
  | { readonly kind: 'done' };

/** Reads one HTTP/1.1 response. Feed `receive(bytes)` and call `end()` when the peer closed. */
export class Http1ResponseReader {
  readonly #bodyBytesMax: number;
  #buffer: Uint8Array = new Uint8Array(0);
  #stage: _Stage = { kind: 'head' };
  #status = 0;
  #headers = new Map<string, string>();
  readonly #body: Uint8Array[] = [];
  #bodyBytes = 0;
  #truncated = false;
  #result: Http1ReadResult = { kind: 'need-more' };

  constructor(bodyBytesMax: number) {
    if (!(Number.isSafeInteger(bodyBytesMax) && bodyBytesMax >= 0)) throw new RangeError(`Http1ResponseReader: bodyBytesMax must be an integer >= 0, got ${bodyBytesMax}`);
    this.#bodyBytesMax = bodyBytesMax;
  }

  /** Bytes received so far that belong to the response (status line on). */
  receive(bytes: Uint8Array): Http1ReadResult {
    if (this.#result.kind !== 'need-more') return this.#result;
    this.#buffer = this.#buffer.length === 0 ? bytes : _concat(this.#buffer, bytes);
    this.#result = this.#advance();
    return this.#result;
  }

  /** The peer closed: a body framed by the close is complete; anything else was cut off. */
  end(): Http1ReadResult {
    if (this.#result.kind !== 'need-more') return this.#result;
    if (this.#stage.kind === 'until-close') {
      this.#result = this.#finish();
    } else {
      const where = this.#stage.kind === 'head' ? `before the end of the header (${this.#buffer.length} bytes)` : `in the body (${this.#bodyBytes} bytes)`;
      this.#result = { kind: 'error', message: `connection closed ${where}` };
    }
    return this.#result;
  }

  #advance(): Http1ReadResult {
    for (;;) {
      const stage = this.#stage;
      switch (stage.kind) {
        case 'head': {
          const end = _indexOfCrlfCrlf(this.#buffer);
          if (end < 0) {
            if (this.#buffer.length > HEAD_BYTES_MAX) return { kind: 'error', message: `header longer than ${HEAD_BYTES_MAX} bytes` };
            return { kind: 'need-more' };
          }
          if (end > HEAD_BYTES_MAX) return { kind: 'error', message: `header longer than ${HEAD_BYTES_MAX} bytes` };
          const head = _latin1(this.#buffer.subarray(0, end));
          this.#buffer = this.#buffer.subarray(end + 4);
          const parsed = this.#parseHead(head);
          if (parsed !== undefined) return parsed;
          break;
        }
        case 'length': {
          const take = Math.min(stage.remaining, this.#buffer.length);
          this.#keep(this.#buffer.subarray(0, take));
          this.#buffer = this.#buffer.subarray(take);
          stage.remaining -= take;
          if (stage.remaining === 0 || this.#truncated) return this.#finish();
          return { kind: 'need-more' };
        }
        case 'until-close':
          this.#keep(this.#buffer);
          this.#buffer = new Uint8Array(0);
          if (this.#truncated) return this.#finish();
          return { kind: 'need-more' };
        case 'chunk-size': {
          const line = _line(this.#buffer);
          if (line === undefined) return this.#buffer.length > 1024 ? { kind: 'error', message: 'chunk size line too long' } : { kind: 'need-more' };
          this.#buffer = this.#buffer.subarray(line.next);
          const sizeText = line.text.split(';', 1)[0]!.trim();
          if (!/^[0-9A-Fa-f]{1,8}$/.test(sizeText)) return { kind: 'error', message: `malformed chunk size ${JSON.stringify(line.text.slice(0, 40))}` };
          const size = Number.parseInt(sizeText, 16);
          this.#stage = size === 0 ? { kind: 'trailers' } : { kind: 'chunk-data', remaining: size };
          break;
        }
        case 'chunk-data': {
          const take = Math.min(stage.remaining, this.#buffer.length);
          this.#keep(this.#buffer.subarray(0, take));
          this.#buffer = this.#buffer.subarray(take);
          stage.remaining -= take;
          if (this.#truncated) return this.#finish();
          if (stage.remaining > 0) return { kind: 'need-more' };
          this.#stage = { kind: 'chunk-data-end' };
          break;
        }
        case 'chunk-data-end': {
          if (this.#buffer.length < 2) return { kind: 'need-more' };
          if (this.#buffer[0] !== 0x0d || this.#buffer[1] !== 0x0a) return { kind: 'error', message: 'chunk not followed by CRLF' };
          this.#buffer = this.#buffer.subarray(2);
          this.#stage = { kind: 'chunk-size' };
          break;
        }
        case 'trailers': {
          const line = _line(this.#buffer);
          if (line === undefined) return this.#buffer.length > HEAD_BYTES_MAX ? { kind: 'error', message: 'trailer section too long' } : { kind: 'need-more' };
          this.#buffer = this.#buffer.subarray(line.next);
          if (line.text === '') return this.#finish();
          break;
        }
        case 'done':
          return this.#result;
        default: {
          const never: never = stage;
          throw new TypeError(`Http1ResponseReader: unknown stage ${JSON.stringify(never)}`);
        }
      }
    }
  }

  /** Status line and fields; sets the body stage. Returns an error, or undefined to go on. */
  #parseHead(head: string): Http1ReadResult | undefined {
    const lines = head.split('\r\n');
    const match = /^HTTP\/1\.[01] ([0-9]{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (match === null) return { kind: 'error', message: `malformed status line ${JSON.stringify((lines[0] ?? '').slice(0, 60))}` };
    const status = Number(match[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0 || !_FIELD_NAME.test(line.slice(0, colon))) return { kind: 'error', message: `malformed header line ${JSON.stringify(line.slice(0, 60))}` };
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    if (status >= 100 && status < 200) {
      // Interim answer (RFC 9110 §15.2): the final one follows.
      this.#stage = { kind: 'head' };
      return undefined;
    }
    this.#status = status;
    this.#headers = headers;
    const transferEncoding = headers.get('transfer-encoding');
    const contentLength = headers.get('content-length');
    if (status === 204 || status === 304) {
      this.#stage = { kind: 'length', remaining: 0 };
    } else if (transferEncoding !== undefined) {
      if (!/(^|,)\s*chunked\s*$/i.test(transferEncoding)) return { kind: 'error', message: `unsupported transfer-encoding ${JSON.stringify(transferEncoding)}` };
      this.#stage = { kind: 'chunk-size' };
    } else if (contentLength !== undefined) {
      if (!/^[0-9]{1,15}$/.test(contentLength)) return { kind: 'error', message: `malformed content-length ${JSON.stringify(contentLength)}` };
      this.#stage = { kind: 'length', remaining: Number(contentLength) };
    } else {
      this.#stage = { kind: 'until-close' };
    }
    return undefined;
  }

  #keep(bytes: Uint8Array): void {
    const room = this.#bodyBytesMax - this.#bodyBytes;
    if (bytes.length > room) {
      this.#truncated = true;
      bytes = bytes.subarray(0, room);
    }
    if (bytes.length === 0) return;
    this.#body.push(bytes.slice());
    this.#bodyBytes += bytes.length;
  }

  #finish(): Http1ReadResult {
    this.#stage = { kind: 'done' };
    const body = new Uint8Array(this.#bodyBytes);
    let offset = 0;
    for (const part of this.#body) {
      body.set(part, offset);
      offset += part.length;
    }
    this.#result = { kind: 'response', response: { status: this.#status, headers: this.#headers, body, truncated: this.#truncated } };
    return this.#result;
  }
}

/** Body text as UTF-8 (the answer is JSON). */
export function http1BodyText(response: Http1Response): string {
  return fromUtf8(response.body);
}

function _concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function _indexOfCrlfCrlf(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 0x0d && bytes[i + 1] === 0x0a && bytes[i + 2] === 0x0d && bytes[i + 3] === 0x0a) return i;
  }
  return -1;
}

function _line(bytes: Uint8Array): { text: string; next: number } | undefined {
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0x0d && bytes[i + 1] === 0x0a) return { text: _latin1(bytes.subarray(0, i)), next: i + 2 };
  }
  return undefined;
}

/** Header bytes are ISO-8859-1 at worst (RFC 9110 §5.5); one char per byte. */
function _latin1(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 4096) text += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return text;
}
