// A share backend written ONLY from docs/share-forwarding.md (issue 12 acceptance: "a share
// backend written only from the docs agrees with the gateway on every byte and field"). It
// reuses none of our encoders, decoders or signing code: its own HTTP/1.1 request parser over a
// raw loopback TCP server (the runtime's adapter, adapters/net, so it runs on node, deno and bun),
// HMAC-SHA256 from @noble/hashes, JSON.parse of the body, and the rules of the doc's "Signature"
// section: timestamp within 300 s, any `v1=` value matching, a signature seen before refused
// with 401 (replay), de-duplication by share_id with the original result.
//
// `plan(request)` lets a test decide, per request, to answer normally or to close the connection
// WITHOUT answering (after the shares were stored, like a backend whose answer was lost).
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { listenTcp, type TcpListener, type TcpSocket } from '../../adapters/net/index.ts';

export interface DocBackendRequest {
  readonly method: string;
  readonly target: string;
  /** Lower-case names. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Uint8Array;
  /** Index of this request on its connection (0 = first). */
  readonly onConnection: number;
  readonly connection: number;
}

export interface DocBackendBatch {
  readonly v: number;
  readonly gateway_id: number;
  readonly batch_id: string;
  readonly attempt: number;
  readonly shares: readonly Record<string, unknown>[];
}

export interface DocBackendLogEntry {
  readonly request: DocBackendRequest;
  readonly signature: string | undefined;
  readonly status: number | 'closed-without-answer';
  readonly refusal?: string;
  readonly batch?: DocBackendBatch;
}

export interface DocBackendOptions {
  readonly secret: string;
  /** Default: answer. 'close' stores the batch (if valid) and closes without answering. */
  readonly plan?: (request: DocBackendRequest, batch: DocBackendBatch | undefined) => 'answer' | 'close';
  /** A backend rule refusing single shares; default none. */
  readonly rejectShare?: (share: Record<string, unknown>) => string | undefined;
  /** Answer with `Connection: keep-alive` and keep reading (default true). */
  readonly keepAlive?: boolean;
}

export interface DocBackend {
  readonly url: string;
  readonly log: DocBackendLogEntry[];
  /** share_id → the result it was stored with. */
  readonly stored: ReadonlyMap<string, { status: 'ok' | 'rejected'; reason?: string }>;
  /** How many times each signature arrived on the wire. */
  readonly signatureCounts: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

const MAX_AGE_SECS = 300;
const latin1 = (bytes: Uint8Array): string => String.fromCharCode(...bytes);
const toHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

export async function startDocBackend(options: DocBackendOptions): Promise<DocBackend> {
  const log: DocBackendLogEntry[] = [];
  const stored = new Map<string, { status: 'ok' | 'rejected'; reason?: string }>();
  const signatureCounts = new Map<string, number>();
  const accepted = new Set<string>();
  const sockets = new Set<TcpSocket>();
  const keepAlive = options.keepAlive ?? true;
  let connections = 0;

  const handle = (socket: TcpSocket, request: DocBackendRequest): 'keep' | 'closed' => {
    const signatureHeader = request.headers.get('x-reservegrid-signature');
    const ts = request.headers.get('x-reservegrid-timestamp') ?? '';
    const candidates = (signatureHeader ?? '').split(',').map((s) => s.trim()).filter((s) => s.startsWith('v1=')).map((s) => s.slice(3));
    for (const c of candidates) signatureCounts.set(c, (signatureCounts.get(c) ?? 0) + 1);
    const respond = (status: number, body: unknown, entry: Omit<DocBackendLogEntry, 'request' | 'status'>): 'keep' | 'closed' => {
      const text = JSON.stringify(body);
      const bytes = new TextEncoder().encode(text);
      socket.write(new TextEncoder().encode(`HTTP/1.1 ${status} X\r\nContent-Type: application/json\r\nContent-Length: ${bytes.length}\r\nConnection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`));
      socket.write(bytes);
      log.push({ request, status, ...entry });
      if (!keepAlive || request.headers.get('connection')?.toLowerCase() === 'close') {
        socket.close();
        return 'closed';
      }
      return 'keep';
    };
    // Signature, steps 1-4 of the doc.
    if (!/^[0-9]{1,15}$/.test(ts)) return respond(401, { error: 'missing or malformed timestamp' }, { signature: candidates[0], refusal: 'timestamp' });
    if (Math.abs(Math.floor(Date.now() / 1000) - Number(ts)) > MAX_AGE_SECS) return respond(401, { error: 'timestamp outside the window' }, { signature: candidates[0], refusal: 'window' });
    const payload = new Uint8Array(ts.length + 1 + request.body.length);
    payload.set(new TextEncoder().encode(`${ts}.`), 0);
    payload.set(request.body, ts.length + 1);
    const expected = toHex(hmac(sha256, new TextEncoder().encode(options.secret), payload));
    const match = candidates.find((hex) => hex === expected);
    if (match === undefined) return respond(401, { error: 'bad signature' }, { signature: candidates[0], refusal: 'signature' });
    if (accepted.has(match)) return respond(401, { error: 'replay' }, { signature: match, refusal: 'replay' });
    accepted.add(match);
    let batch: DocBackendBatch;
    try {
      batch = JSON.parse(new TextDecoder().decode(request.body)) as DocBackendBatch;
    } catch {
      return respond(400, { error: 'malformed body' }, { signature: match, refusal: 'body' });
    }
    // Step 5: de-duplicate by share_id; a known id answers its original result.
    const results: { share_id: string; status: string; reason?: string }[] = [];
    for (const share of batch.shares) {
      const id = String(share['share_id']);
      const before = stored.get(id);
      if (before !== undefined) {
        results.push(before.status === 'ok' ? { share_id: id, status: 'duplicate' } : { share_id: id, status: 'rejected', ...(before.reason === undefined ? {} : { reason: before.reason }) });
        continue;
      }
      const reason = options.rejectShare?.(share);
      stored.set(id, reason === undefined ? { status: 'ok' } : { status: 'rejected', reason });
      if (reason !== undefined) results.push({ share_id: id, status: 'rejected', reason });
    }
    if ((options.plan?.(request, batch) ?? 'answer') === 'close') {
      log.push({ request, status: 'closed-without-answer', signature: match, batch });
      socket.abort();
      return 'closed';
    }
    return respond(200, { results }, { signature: match, batch });
  };

  const listener: TcpListener = await listenTcp({ host: '127.0.0.1', port: 0 }, (socket) => {
    sockets.add(socket);
    socket.onClose(() => sockets.delete(socket));
    const connection = connections++;
    let onConnection = 0;
    let buffer = new Uint8Array(0);
    socket.onData((bytes) => {
      const joined = new Uint8Array(buffer.length + bytes.length);
      joined.set(buffer, 0);
      joined.set(bytes, buffer.length);
      buffer = joined;
      for (;;) {
        const text = latin1(buffer.subarray(0, Math.min(buffer.length, 16384)));
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [requestLine, ...lines] = text.slice(0, end).split('\r\n');
        const [method = '', target = ''] = (requestLine ?? '').split(' ');
        const headers = new Map<string, string>();
        for (const line of lines) {
          const colon = line.indexOf(':');
          headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
        }
        const length = Number(headers.get('content-length') ?? '0');
        if (buffer.length < end + 4 + length) return;
        const body = buffer.slice(end + 4, end + 4 + length);
        buffer = buffer.slice(end + 4 + length);
        if (handle(socket, { method, target, headers, body, onConnection: onConnection++, connection }) === 'closed') return;
      }
    });
  });
  return {
    url: `http://127.0.0.1:${listener.port}/shares`,
    log,
    stored,
    signatureCounts,
    close: async () => {
      await listener.close();
      for (const s of sockets) s.abort();
    },
  };
}
