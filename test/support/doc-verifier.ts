// A template verifier written ONLY from docs/verifier-protocol.md and docs/policy.md "Verdicts"
// (issue 12 acceptance: "a verifier written only from the docs agrees with the gateway on every
// byte and field"). It reuses none of our codec: its own deframer, its own VERIFY decoder and its
// own VERDICT/ERROR encoder, over a raw loopback TCP server (the runtime's adapter). Every field
// the doc describes is checked and any deviation is recorded in `problems`, so a test can assert
// that the gateway's requests match the doc byte for byte. `answer(request)` decides what goes
// back: an honest verdict, or one of the lies the gateway must refuse.
import { listenTcp, type TcpListener, type TcpSocket } from '../../adapters/net/index.ts';

export interface DocVerifyTx {
  readonly data: Uint8Array;
  /** Hex exactly as on the wire (internal byte order per the doc). */
  readonly txid: string;
  readonly wtxid: string;
  readonly fee: bigint;
  readonly sigops: number;
  readonly weight: number;
  readonly depends: readonly number[];
}

export interface DocVerifyRequest {
  readonly requestId: number;
  readonly connection: number;
  readonly header: Record<string, unknown>;
  readonly transactions: readonly DocVerifyTx[];
}

/** What to send back: a VERDICT body (any JSON, so lies are possible), an ERROR, or nothing. */
export type DocAnswer = { readonly verdict: unknown } | { readonly error: string } | 'none';

export interface DocVerifier {
  readonly port: number;
  readonly requests: DocVerifyRequest[];
  /** Deviations from the doc seen in the gateway's frames. */
  readonly problems: string[];
  /** Connections accepted, and how many the gateway closed. */
  readonly connections: () => { accepted: number; closed: number };
  close(): Promise<void>;
}

const HEX64 = /^[0-9a-f]{64}$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

function u32le(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
}

/** length U32 ‖ version U8 = 1 ‖ kind U8 ‖ request_id U32 ‖ body; all little-endian. */
export function docFrame(kind: number, requestId: number, body: unknown): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(body));
  const out = new Uint8Array(10 + json.length);
  out.set(u32le(6 + json.length), 0);
  out[4] = 1;
  out[5] = kind;
  out.set(u32le(requestId), 6);
  out.set(json, 10);
  return out;
}

function checkHeader(h: Record<string, unknown>, problems: string[], where: string): void {
  const want = (ok: boolean, what: string) => {
    if (!ok) problems.push(`${where}: ${what} (got ${JSON.stringify(h[what.split(' ')[0]!] ?? null)?.slice(0, 80)})`);
  };
  const keys = ['template_id', 'height', 'version', 'prev_hash', 'nbits', 'target', 'curtime', 'mintime', 'maxtime', 'coinbase_value', 'default_witness_commitment', 'witness_commitment_source', 'merkle_path', 'sigop_limit', 'weight_limit', 'longpoll_id', 'rules', 'tx_count', 'timeout_ms', 'chain'];
  for (const k of keys) if (!(k in h)) problems.push(`${where}: header lacks ${k}`);
  for (const k of Object.keys(h)) if (!keys.includes(k)) problems.push(`${where}: header has undocumented key ${k}`);
  const int = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0;
  want(typeof h['template_id'] === 'string' && DECIMAL.test(h['template_id']), 'template_id decimal string');
  want(typeof h['coinbase_value'] === 'string' && DECIMAL.test(h['coinbase_value']), 'coinbase_value decimal string');
  want(typeof h['prev_hash'] === 'string' && HEX64.test(h['prev_hash']), 'prev_hash 64 hex');
  want(typeof h['target'] === 'string' && /^[1-9a-f][0-9a-f]{0,63}$/.test(h['target']), 'target big-endian hex without leading zeros');
  want(typeof h['default_witness_commitment'] === 'string' && /^6a24aa21a9ed[0-9a-f]{64}$/.test(h['default_witness_commitment']), 'default_witness_commitment script hex');
  want(h['witness_commitment_source'] === 'node' || h['witness_commitment_source'] === 'computed', 'witness_commitment_source node|computed');
  for (const k of ['height', 'version', 'nbits', 'curtime', 'mintime', 'sigop_limit', 'weight_limit', 'tx_count', 'timeout_ms']) want(int(h[k]), `${k} integer`);
  want(h['maxtime'] === null || int(h['maxtime']), 'maxtime integer or null');
  want(h['longpoll_id'] === null || typeof h['longpoll_id'] === 'string', 'longpoll_id string or null');
  want(Array.isArray(h['rules']) && (h['rules'] as unknown[]).every((r) => typeof r === 'string'), 'rules strings');
  want(Array.isArray(h['merkle_path']) && (h['merkle_path'] as unknown[]).every((x) => typeof x === 'string' && HEX64.test(x)), 'merkle_path 64-hex entries');
  const c = h['chain'] as Record<string, unknown> | null;
  if (c === null || typeof c !== 'object') problems.push(`${where}: chain is not an object`);
  else {
    for (const k of Object.keys(c)) if (!['tip_hash', 'tip_height', 'recent_hashes', 'expected_nbits'].includes(k)) problems.push(`${where}: chain has undocumented key ${k}`);
    if (!(c['tip_hash'] === null || (typeof c['tip_hash'] === 'string' && HEX64.test(c['tip_hash'])))) problems.push(`${where}: chain.tip_hash`);
    if (!(c['tip_height'] === null || int(c['tip_height']))) problems.push(`${where}: chain.tip_height`);
    if (!(c['expected_nbits'] === null || int(c['expected_nbits']))) problems.push(`${where}: chain.expected_nbits`);
    if (!(Array.isArray(c['recent_hashes']) && (c['recent_hashes'] as unknown[]).every((x) => typeof x === 'string' && HEX64.test(x)))) problems.push(`${where}: chain.recent_hashes`);
  }
}

/** One VERIFY body: json_length U32 ‖ JSON header ‖ records (docs "VERIFY body", "Transaction record"). */
function decodeVerify(body: Uint8Array, problems: string[], where: string): { header: Record<string, unknown>; transactions: DocVerifyTx[] } | null {
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  if (body.length < 4) return (problems.push(`${where}: body shorter than json_length`), null);
  const jsonLength = view.getUint32(0, true);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(4, 4 + jsonLength))) as Record<string, unknown>;
  } catch {
    return (problems.push(`${where}: header is not UTF-8 JSON`), null);
  }
  checkHeader(header, problems, where);
  const transactions: DocVerifyTx[] = [];
  let at = 4 + jsonLength;
  const count = Number(header['tx_count']);
  for (let i = 0; i < count; i++) {
    if (at + 4 > body.length) return (problems.push(`${where}: record ${i} truncated`), null);
    const dataLength = view.getUint32(at, true);
    const fixed = at + 4 + dataLength;
    if (fixed + 82 > body.length) return (problems.push(`${where}: record ${i} truncated`), null);
    const dependsCount = view.getUint16(fixed + 80, true);
    const depends: number[] = [];
    for (let k = 0; k < dependsCount; k++) depends.push(view.getUint32(fixed + 82 + 4 * k, true));
    // 1-based, earlier transactions only (docs: "depends are 1-based indexes").
    for (const d of depends) if (!(d >= 1 && d <= i)) problems.push(`${where}: record ${i} depends on ${d}, not an earlier 1-based index`);
    transactions.push({
      data: body.slice(at + 4, fixed),
      txid: hex(body.subarray(fixed, fixed + 32)),
      wtxid: hex(body.subarray(fixed + 32, fixed + 64)),
      fee: view.getBigUint64(fixed + 64, true),
      sigops: view.getUint32(fixed + 72, true),
      weight: view.getUint32(fixed + 76, true),
      depends,
    });
    at = fixed + 82 + 4 * dependsCount;
  }
  if (at !== body.length) problems.push(`${where}: ${body.length - at} bytes after the last record`);
  return { header, transactions };
}

export async function startDocVerifier(answer: (request: DocVerifyRequest) => DocAnswer): Promise<DocVerifier> {
  const requests: DocVerifyRequest[] = [];
  const problems: string[] = [];
  const sockets = new Set<TcpSocket>();
  let accepted = 0;
  let closed = 0;
  const listener: TcpListener = await listenTcp({ host: '127.0.0.1', port: 0 }, (socket) => {
    const connection = accepted++;
    sockets.add(socket);
    socket.onClose(() => {
      closed++;
      sockets.delete(socket);
    });
    const seenIds = new Set<number>();
    let buffer = new Uint8Array(0);
    socket.onData((bytes) => {
      const joined = new Uint8Array(buffer.length + bytes.length);
      joined.set(buffer, 0);
      joined.set(bytes, buffer.length);
      buffer = joined;
      while (buffer.length >= 4) {
        const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.length);
        const length = view.getUint32(0, true);
        if (length < 6 || length > 33_554_432) {
          problems.push(`connection ${connection}: frame length ${length}`);
          socket.write(docFrame(0x82, 0, { error: `bad length ${length}` }));
          socket.close();
          return;
        }
        if (buffer.length < 4 + length) return;
        const version = buffer[4]!;
        const kind = buffer[5]!;
        const requestId = view.getUint32(6, true);
        const body = buffer.slice(10, 4 + length);
        buffer = buffer.slice(4 + length);
        const where = `connection ${connection} request ${requestId}`;
        if (version !== 1 || kind !== 0x01) problems.push(`${where}: version ${version} kind ${kind}`);
        if (seenIds.has(requestId)) problems.push(`${where}: request_id reused on one connection`);
        seenIds.add(requestId);
        const decoded = decodeVerify(body, problems, where);
        if (decoded === null) continue;
        const request: DocVerifyRequest = { requestId, connection, ...decoded };
        requests.push(request);
        const a = answer(request);
        if (a === 'none') continue;
        socket.write('verdict' in a ? docFrame(0x81, requestId, a.verdict) : docFrame(0x82, requestId, { error: a.error }));
      }
    });
  });
  return {
    port: listener.port,
    requests,
    problems,
    connections: () => ({ accepted, closed }),
    close: async () => {
      await listener.close();
      for (const s of sockets) s.abort();
    },
  };
}

/** An honest VERDICT body for a request: the template's own id and a consistent accept. */
export function honestAccept(request: DocVerifyRequest): { verdict: unknown } {
  return { verdict: { template_id: request.header['template_id'], verdict: { accepted: true, reason_code: 'template_accepted', reason_detail: 'all policy checks passed', policy_context: { fee_tier: 'mid', from: 'doc-verifier' } } } };
}
