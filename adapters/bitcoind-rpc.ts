// JSON-RPC client for Bitcoin Core (and btcd) over HTTP: the template source and block sink of
// SPEC §4 / issue 3 item 1. Runs unchanged on Node, Deno and Bun (global `fetch`).
//
// Contract: upstream failures are VALUES (STYLE.md #6), never exceptions. Every call returns a
// Result whose error `code` is one of
//   upstream-unreachable  connection refused/reset/DNS, or the cookie file cannot be read
//                         (bitcoind deletes its cookie on shutdown, so "no cookie" = "no node")
//   upstream-timeout      no complete answer within the per-request timeout (AbortController)
//   upstream-http-error   non-2xx status without a JSON-RPC error body (401 bad credentials,
//                         403 rpcwhitelist, 503 work queue full, ...); `httpStatus` is set
//   upstream-rpc-error    a JSON-RPC error object (`rpcCode`, `rpcMessage`); Bitcoin Core
//                         sends these with HTTP 500/404 under JSON-RPC 1.0, so the body wins
//                         over the status
//   upstream-bad-response the body is not the JSON-RPC shape, is too large, or the result does
//                         not parse (core/template/gbt.ts names the field)
// Only misuse by our own code (bad options) throws.
import { base64 } from '@scure/base';
import { bytesToHex, utf8 } from '../core/bytes.ts';
import { err, ok, type ProtocolError, type Result } from '../core/errors.ts';
import type { BlockTemplate } from '../core/template/template.ts';
import { parseGetBlockTemplate } from '../core/template/gbt.ts';

export type UpstreamErrorCode =
  | 'upstream-unreachable'
  | 'upstream-timeout'
  | 'upstream-http-error'
  | 'upstream-rpc-error'
  | 'upstream-bad-response';

export interface UpstreamError extends ProtocolError {
  readonly code: UpstreamErrorCode;
  /** The RPC method that failed, for events and logs. */
  readonly method: string;
  readonly httpStatus?: number;
  readonly rpcCode?: number;
  readonly rpcMessage?: string;
}

export type BitcoindAuth =
  | { readonly kind: 'userpass'; readonly user: string; readonly password: string }
  /** Bitcoin Core's `.cookie` (`__cookie__:<hex>`), re-read after a 401 because bitcoind writes a
   * new one on every start. `readFile` is injected so this file stays free of runtime APIs. */
  | { readonly kind: 'cookie'; readonly cookieFile: string; readonly readFile: (path: string) => Promise<string> };

export interface BitcoindRpcOptions {
  /** e.g. `http://127.0.0.1:8332/` (Core mainnet), `http://127.0.0.1:18443/` (Core regtest). */
  readonly url: string;
  readonly auth: BitcoindAuth;
  /** Per request, covering connect, send and reading the whole body. Default 10 000. */
  readonly timeoutMs?: number;
  /** Bound on a response body. A 4 MWU block template is < 10 MB of JSON. Default 64 MiB. */
  readonly responseBytesMax?: number;
  /** Injected for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

/** What a BIP23 block proposal said: valid, or the node's reason string. */
export type BlockProposalOutcome = { readonly kind: 'valid' } | { readonly kind: 'invalid'; readonly reason: string };

/** What `submitblock` said, classified (BIP22 results plus btcd's "rejected: ..." strings). */
export type SubmitBlockOutcome =
  | { readonly kind: 'accepted' }
  /** Node already had it: "duplicate" (Core) or "rejected: already have block ..." (btcd). */
  | { readonly kind: 'duplicate'; readonly reason: string }
  /** Valid so far but not (yet) on the best chain: "inconclusive", "duplicate-inconclusive". */
  | { readonly kind: 'inconclusive'; readonly reason: string }
  /** Invalid: BIP22 reason ("high-hash", "bad-txnmrklroot", "duplicate-invalid", ...). */
  | { readonly kind: 'rejected'; readonly reason: string };

export const DEFAULT_RPC_TIMEOUT_MS = 10_000;
export const DEFAULT_RESPONSE_BYTES_MAX = 64 * 1024 * 1024;

export class BitcoindRpc {
  readonly #url: string;
  readonly #auth: BitcoindAuth;
  readonly #timeoutMs: number;
  readonly #responseBytesMax: number;
  readonly #fetch: typeof fetch;
  #cookieHeader: string | null = null;
  #nextId = 1;

  constructor(options: BitcoindRpcOptions) {
    if (typeof options.url !== 'string' || !/^https?:\/\//.test(options.url)) {
      throw new TypeError(`BitcoindRpc: url must be an http(s) URL, got ${JSON.stringify(options.url)}`);
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`BitcoindRpc: timeoutMs must be > 0, got ${timeoutMs}`);
    const bytesMax = options.responseBytesMax ?? DEFAULT_RESPONSE_BYTES_MAX;
    if (!Number.isSafeInteger(bytesMax) || bytesMax <= 0) throw new RangeError(`BitcoindRpc: responseBytesMax must be a positive integer, got ${bytesMax}`);
    this.#url = options.url;
    this.#auth = options.auth;
    this.#timeoutMs = timeoutMs;
    this.#responseBytesMax = bytesMax;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** `getblocktemplate {"rules":["segwit"]}` (Core refuses GBT without the segwit rule), parsed
   * into a BlockTemplate. A result that does not validate is `upstream-bad-response` naming the
   * field. No long polling: the gateway polls (SPEC §4, `upstream_poll_interval_ms`). */
  async getBlockTemplate(templateId: bigint): Promise<Result<BlockTemplate, UpstreamError>> {
    const raw = await this.getBlockTemplateJson();
    if (!raw.ok) return raw;
    const parsed = parseGetBlockTemplate(raw.value, { templateId });
    if (!parsed.ok) {
      return err(upstreamError('upstream-bad-response', 'getblocktemplate', `getblocktemplate result: ${parsed.error.message}`, {}, parsed.error.field));
    }
    return parsed;
  }

  /** The unparsed getblocktemplate result (for fixtures and diagnostics). */
  getBlockTemplateJson(): Promise<Result<unknown, UpstreamError>> {
    return this.call('getblocktemplate', [{ rules: ['segwit'] }]);
  }

  /** `submitblock <hex>`. Safe to retry on transport errors: a second copy is a `duplicate`.
   * btcd answers null for an orphan it parked, so "accepted" means "not refused"; callers that
   * must know check getbestblockhash (docs/bitcoin-node.md). */
  async submitBlock(block: Uint8Array | string): Promise<Result<SubmitBlockOutcome, UpstreamError>> {
    const hex = typeof block === 'string' ? block : bytesToHex(block);
    const answer = await this.call('submitblock', [hex]);
    if (!answer.ok) return answer;
    const outcome = classifySubmitBlockResult(answer.value);
    if (outcome === null) {
      return err(upstreamError('upstream-bad-response', 'submitblock', `submitblock result is neither null nor a string: ${preview(answer.value)}`));
    }
    return ok(outcome);
  }

  /**
   * BIP23 block proposal (issue 11 item 3): `getblocktemplate {"mode": "proposal", "data": hex}`
   * asks the node whether a block would be valid on its tip WITHOUT submitting it; the proof of
   * work is not checked (btcd: CheckConnectBlockTemplate with BFNoPoWCheck; Bitcoin Core:
   * TestBlockValidity with fCheckPOW=false). BIP23: null = valid, a string = the BIP22 reason
   * ("bad-txnmrklroot", "bad-prevblk", "inconclusive-not-best-prevblk", ...). This is how the
   * Job Declaration Server checks a declared job's consensus validity with any node, not only
   * Bitcoin Core over IPC (docs/job-declaration.md).
   */
  async proposeBlock(block: Uint8Array | string, options: { readonly timeoutMs?: number } = {}): Promise<Result<BlockProposalOutcome, UpstreamError>> {
    const hex = typeof block === 'string' ? block : bytesToHex(block);
    const answer = await this.call('getblocktemplate', [{ mode: 'proposal', data: hex }], options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
    if (!answer.ok) return answer;
    if (answer.value === null) return ok({ kind: 'valid' });
    if (typeof answer.value === 'string') return ok({ kind: 'invalid', reason: answer.value.startsWith('rejected: ') ? answer.value.slice('rejected: '.length) : answer.value });
    return err(upstreamError('upstream-bad-response', 'getblocktemplate', `proposal result is neither null nor a string: ${preview(answer.value)}`));
  }

  /** Best block hash in DISPLAY order (as explorers show it; reverse for header bytes). */
  async getBestBlockHash(): Promise<Result<string, UpstreamError>> {
    const answer = await this.call('getbestblockhash', []);
    if (!answer.ok) return answer;
    if (typeof answer.value !== 'string' || !/^[0-9a-f]{64}$/.test(answer.value)) {
      return err(upstreamError('upstream-bad-response', 'getbestblockhash', `not a 64-digit lowercase hex hash: ${preview(answer.value)}`));
    }
    return ok(answer.value);
  }

  async getBlockCount(): Promise<Result<number, UpstreamError>> {
    const answer = await this.call('getblockcount', []);
    if (!answer.ok) return answer;
    if (typeof answer.value !== 'number' || !Number.isSafeInteger(answer.value) || answer.value < 0) {
      return err(upstreamError('upstream-bad-response', 'getblockcount', `not a block height: ${preview(answer.value)}`));
    }
    return ok(answer.value);
  }

  /** btcd's `generate n` (removed from Bitcoin Core in 0.19; use generateToAddress there). Tests. */
  generate(blocks: number): Promise<Result<string[], UpstreamError>> {
    return this.#hashList('generate', [checkBlocks(blocks)]);
  }

  /** Bitcoin Core's `generatetoaddress n address` (regtest). Tests and the demo. */
  generateToAddress(blocks: number, address: string): Promise<Result<string[], UpstreamError>> {
    return this.#hashList('generatetoaddress', [checkBlocks(blocks), address]);
  }

  /** Any method; the result is unvalidated JSON. */
  async call(method: string, params: readonly unknown[], options: { timeoutMs?: number } = {}): Promise<Result<unknown, UpstreamError>> {
    const first = await this.#callOnce(method, params, options.timeoutMs ?? this.#timeoutMs);
    // A 401 with cookie auth usually means bitcoind restarted and wrote a new cookie: re-read once.
    if (!first.ok && first.error.httpStatus === 401 && this.#auth.kind === 'cookie') {
      this.#cookieHeader = null;
      return this.#callOnce(method, params, options.timeoutMs ?? this.#timeoutMs);
    }
    return first;
  }

  async #hashList(method: string, params: unknown[]): Promise<Result<string[], UpstreamError>> {
    const answer = await this.call(method, params, { timeoutMs: Math.max(this.#timeoutMs, 60_000) });
    if (!answer.ok) return answer;
    const value = answer.value;
    if (!Array.isArray(value) || !value.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))) {
      return err(upstreamError('upstream-bad-response', method, `not a list of block hashes: ${preview(value)}`));
    }
    return ok(value as string[]);
  }

  async #authorization(method: string): Promise<Result<string, UpstreamError>> {
    const auth = this.#auth;
    if (auth.kind === 'userpass') return ok(basicAuthorization(`${auth.user}:${auth.password}`));
    if (this.#cookieHeader !== null) return ok(this.#cookieHeader);
    let text: string;
    try {
      text = await auth.readFile(auth.cookieFile);
    } catch (error) {
      return err(upstreamError('upstream-unreachable', method, `cannot read cookie file ${auth.cookieFile} (is bitcoind running?): ${describe(error)}`));
    }
    const cookie = text.trim();
    if (!cookie.includes(':')) {
      return err(upstreamError('upstream-unreachable', method, `cookie file ${auth.cookieFile} does not hold "user:password"`));
    }
    this.#cookieHeader = basicAuthorization(cookie);
    return ok(this.#cookieHeader);
  }

  async #callOnce(method: string, params: readonly unknown[], timeoutMs: number): Promise<Result<unknown, UpstreamError>> {
    const authorization = await this.#authorization(method);
    if (!authorization.ok) return authorization;
    const id = this.#nextId++;
    // JSON-RPC 1.0 framing: understood by every Bitcoin Core version and by btcd.
    const body = JSON.stringify({ jsonrpc: '1.0', id, method, params });
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    let status: number;
    let text: string;
    try {
      const response = await this.#fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: authorization.value },
        body,
        signal: controller.signal,
      });
      status = response.status;
      const read = await readBounded(response, this.#responseBytesMax);
      if (read === null) {
        controller.abort();
        return err(upstreamError('upstream-bad-response', method, `response body exceeds ${this.#responseBytesMax} bytes`, { httpStatus: status }));
      }
      text = read;
    } catch (error) {
      // Which exception a runtime throws differs (Node: TypeError "fetch failed" with a cause
      // ECONNREFUSED; Deno: TypeError "error sending request"; Bun: ConnectionRefused), so we do
      // not parse it: our own abort means timeout, anything else is a transport failure.
      if (timedOut) return err(upstreamError('upstream-timeout', method, `no answer to ${method} within ${timeoutMs} ms`));
      return err(upstreamError('upstream-unreachable', method, `${method}: ${describe(error)}`));
    } finally {
      clearTimeout(timer);
    }
    return interpretBody(method, id, status, text);
  }
}

/** Interpret one HTTP answer. Exported for unit tests. */
export function interpretBody(method: string, id: number, status: number, text: string): Result<unknown, UpstreamError> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const envelope = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : null;
  const rpcError = envelope?.['error'];
  if (typeof rpcError === 'object' && rpcError !== null) {
    const { code, message } = rpcError as { code?: unknown; message?: unknown };
    const rpcCode = typeof code === 'number' ? code : undefined;
    const rpcMessage = typeof message === 'string' ? message : preview(rpcError);
    return err(upstreamError('upstream-rpc-error', method, `${method}: RPC error ${rpcCode ?? '?'}: ${rpcMessage}`, {
      httpStatus: status,
      ...(rpcCode === undefined ? {} : { rpcCode }),
      rpcMessage,
    }));
  }
  if (status < 200 || status > 299) {
    return err(upstreamError('upstream-http-error', method, `${method}: HTTP ${status}${text ? `: ${text.trim().slice(0, 120)}` : ''}`, { httpStatus: status }));
  }
  if (envelope === null || !('result' in envelope)) {
    return err(upstreamError('upstream-bad-response', method, `${method}: not a JSON-RPC response: ${text.slice(0, 120)}`, { httpStatus: status }));
  }
  if (envelope['id'] !== id) {
    return err(upstreamError('upstream-bad-response', method, `${method}: response id ${preview(envelope['id'])} does not match request id ${id}`, { httpStatus: status }));
  }
  return ok(envelope['result']);
}

/** Classify a submitblock result; null when it is not a JSON null or string. Exported for tests. */
export function classifySubmitBlockResult(value: unknown): SubmitBlockOutcome | null {
  if (value === null) return { kind: 'accepted' };
  if (typeof value !== 'string') return null;
  // btcd prefixes every refusal with "rejected: " and reports a known block as
  // "already have block <hash>" (blockchain.ErrDuplicateBlock) instead of BIP22 "duplicate".
  const reason = value.startsWith('rejected: ') ? value.slice('rejected: '.length) : value;
  if (reason === 'duplicate' || reason.startsWith('already have block')) return { kind: 'duplicate', reason };
  if (reason === 'inconclusive' || reason === 'duplicate-inconclusive') return { kind: 'inconclusive', reason };
  return { kind: 'rejected', reason };
}

function upstreamError(
  code: UpstreamErrorCode,
  method: string,
  message: string,
  extra: { httpStatus?: number; rpcCode?: number; rpcMessage?: string } = {},
  field?: string,
): UpstreamError {
  return { code, origin: 'remote', message, method, ...extra, ...(field === undefined ? {} : { field }) };
}

function basicAuthorization(userColonPassword: string): string {
  return `Basic ${base64.encode(utf8(userColonPassword))}`;
}

async function readBounded(response: Response, bytesMax: number): Promise<string | null> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > bytesMax) return null;
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > bytesMax) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(all);
}

function checkBlocks(blocks: number): number {
  if (!Number.isSafeInteger(blocks) || blocks < 1) throw new RangeError(`blocks must be a positive integer, got ${blocks}`);
  return blocks;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const causeText = cause instanceof Error ? `${(cause as { code?: string }).code ?? ''} ${cause.message}`.trim() : '';
  return causeText ? `${error.message} (${causeText})` : error.message;
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}
