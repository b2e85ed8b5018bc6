// The Bitcoin node of scale.bench.ts: the JSON-RPC calls `reservegrid run` makes of Bitcoin Core
// (adapters/bitcoind-rpc.ts: getblocktemplate, its proposal mode, submitblock, getbestblockhash,
// getblockcount; HTTP Basic auth, JSON-RPC 1.0 framing; docs/bitcoin-node.md), answered from the
// bench template (sri-pool.ts benchTemplateJson) with a tip the bench moves.
//
// Why not btcd: regtest's network target is ~2^255, so with the easiest share target (what lets
// the load generator submit shares without hashing) about every other share would be a block,
// and btcd cannot serve a template on a chosen prev hash. The gateway reads this server through
// its real RPC client and poller, exactly as it reads a node.
//
// The prevhash fan-out figures start at `advance()`'s promise: the moment this server wrote the
// first getblocktemplate answer carrying the new tip (wall clock, performance.timeOrigin + now()).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { base64 } from '@scure/base';
import { benchTemplateJson, HOST } from './sri-pool.ts';

/** Bound on a request body (a proposal is a block of the bench template: a few KB). */
const BODY_BYTES_MAX = 4 * 1024 * 1024;

export interface TemplateRpc {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  readonly user: string;
  readonly password: string;
  /** getblocktemplate answers so far. */
  readonly templatesServed: number;
  /** Move the tip; resolves with the wall-clock ms at which the first template on it went out. */
  advance(): Promise<number>;
  close(): Promise<void>;
}

const wallNowMs = (): number => performance.timeOrigin + performance.now();

export async function startTemplateRpc(): Promise<TemplateRpc> {
  const user = 'bench';
  const password = 'bench-rpc-password';
  const expected = `Basic ${base64.encode(new TextEncoder().encode(`${user}:${password}`))}`;
  let prevIndex = 0;
  let served = 0;
  let waiting: ((wallMs: number) => void) | undefined;

  const answer = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const handle = (req: IncomingMessage, res: ServerResponse, raw: string): void => {
    if (req.headers['authorization'] !== expected) {
      res.writeHead(401);
      res.end();
      return;
    }
    let call: { id?: unknown; method?: unknown; params?: unknown };
    try {
      call = JSON.parse(raw) as typeof call;
    } catch {
      answer(res, 500, { result: null, error: { code: -32700, message: 'Parse error' }, id: null });
      return;
    }
    const id = call.id ?? null;
    const params = Array.isArray(call.params) ? call.params : [];
    const tipHex = (benchTemplateJson(prevIndex)['previousblockhash'] as string);
    switch (call.method) {
      case 'getblocktemplate': {
        const request = (params[0] ?? {}) as { mode?: string };
        // BIP 23 proposal: the template is ours, so any block built on it is acceptable here.
        if (request.mode === 'proposal') return answer(res, 200, { result: null, error: null, id });
        served++;
        answer(res, 200, { result: benchTemplateJson(prevIndex), error: null, id });
        if (waiting !== undefined) {
          const resolve = waiting;
          waiting = undefined;
          resolve(wallNowMs());
        }
        return;
      }
      case 'getbestblockhash':
        return answer(res, 200, { result: tipHex, error: null, id });
      case 'getblockcount':
        return answer(res, 200, { result: 100 + prevIndex, error: null, id });
      case 'submitblock':
        // Unreachable with bits 1d00ffff and CPU-free shares; refused so that a bug shows.
        return answer(res, 200, { result: 'rejected: the bench node takes no blocks', error: null, id });
      default:
        return answer(res, 404, { result: null, error: { code: -32601, message: 'Method not found' }, id });
    }
  };

  const server = createServer((req, res) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    req.on('data', (chunk: Uint8Array) => {
      size += chunk.length;
      if (size > BODY_BYTES_MAX) {
        res.writeHead(413);
        res.end();
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('template RPC: no address');
  return {
    url: `http://${HOST}:${address.port}/`,
    user,
    password,
    get templatesServed() {
      return served;
    },
    advance() {
      if (waiting !== undefined) throw new Error('template RPC: advance() while the previous tip is not served yet');
      prevIndex++;
      return new Promise<number>((resolve) => (waiting = resolve));
    },
    close() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };
}
