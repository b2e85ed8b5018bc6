// `reservegrid share-sink`: the reference receiver for signed share batches (issue 5 step 5,
// docs/share-forwarding.md). The logic is core/forwarding/sink.ts (signature + timestamp window,
// replay refusal, idempotence by share id with the original result); this file is the HTTP shell and the fault knobs
// the demo and the tests use: fail (503 before processing, --fail-rate), be slow (answer after
// processing, --delay-ms: a delay past the gateway's timeout makes it retry a batch the sink
// already has, which de-duplication must absorb), and go away (`close()`, or --exit-after).
//
// node:http serves on Node, and Deno and Bun implement it too (same behaviour, one code path;
// checked by test/integration/share-sink.test.ts on all three).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { CliIo, Command } from '../io.ts';
import type { CryptoProvider } from '../../core/crypto/provider.ts';
import { utf8 } from '../../core/bytes.ts';
import { SeededRandom } from '../../core/random.ts';
import { HEADER_SIGNATURE, HEADER_TIMESTAMP, SIGNATURE_MAX_AGE_SECS_DEFAULT } from '../../core/forwarding/signing.ts';
import { ShareSink, type ShareSinkStats } from '../../core/forwarding/sink.ts';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';

/** Largest request body accepted (a batch of 1,000,000 shares is ~400 MB; this is a test sink). */
export const SINK_BODY_BYTES_MAX = 64 * 1024 * 1024;

export interface ShareSinkServerOptions {
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
  readonly secret: string;
  /** Probability of answering 503 without processing. Default 0. */
  readonly failRate?: number;
  /** Answer this long after processing. Default 0. */
  readonly delayMs?: number;
  /** Seed of the fail-rate draws. Default 1. */
  readonly seed?: number;
  readonly maxAgeSecs?: number;
  readonly provider?: CryptoProvider;
  /** One line per batch or refusal; default: none. */
  readonly log?: (line: string) => void;
  /** Wall clock for the timestamp window; default Date.now. */
  readonly wallMs?: () => number;
  /** Refuse shares by id (a backend's own rules); default: none. */
  readonly rejectShare?: (share: { readonly share_id: string }) => string | undefined;
}

export interface ShareSinkServer {
  readonly host: string;
  readonly port: number;
  /** http://HOST:PORT/shares */
  readonly url: string;
  readonly sink: ShareSink;
  readonly stats: ShareSinkStats & { readonly induced: number };
  setFailRate(rate: number): void;
  setDelayMs(delayMs: number): void;
  /** Go away: stop listening and cut every open connection. Idempotent. */
  close(): Promise<void>;
}

function _checkRate(rate: number): number {
  if (!(rate >= 0 && rate <= 1)) throw new RangeError(`failRate must be in [0, 1], got ${rate}`);
  return rate;
}

export async function startShareSink(options: ShareSinkServerOptions): Promise<ShareSinkServer> {
  const provider = options.provider ?? selectCryptoProvider('auto');
  const sink = new ShareSink({
    secret: utf8(options.secret),
    provider,
    maxAgeSecs: options.maxAgeSecs ?? SIGNATURE_MAX_AGE_SECS_DEFAULT,
    ...(options.rejectShare === undefined ? {} : { rejectShare: options.rejectShare }),
  });
  const random = new SeededRandom(options.seed ?? 1);
  const wallMs = options.wallMs ?? (() => Date.now());
  const log = options.log;
  let failRate = _checkRate(options.failRate ?? 0);
  let delayMs = options.delayMs ?? 0;
  let induced = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();

  const answer = (res: ServerResponse, status: number, body: string, afterMs: number): void => {
    const send = (): void => {
      if (res.destroyed) return;
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(utf8(body).length) });
      res.end(body);
    };
    if (afterMs <= 0) return send();
    const t = setTimeout(() => {
      timers.delete(t);
      send();
    }, afterMs);
    timers.add(t);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method === 'GET' && req.url === '/stats') {
      answer(res, 200, JSON.stringify({ ...sink.stats, induced }), 0);
      return;
    }
    if (req.method !== 'POST') {
      answer(res, 405, JSON.stringify({ error: 'method-not-allowed' }), 0);
      return;
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Uint8Array) => {
      size += chunk.length;
      if (size > SINK_BODY_BYTES_MAX) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) return answer(res, 413, JSON.stringify({ error: 'body-too-large' }), 0);
      if (failRate > 0 && random.nextU32() / 2 ** 32 < failRate) {
        induced++;
        log?.(`share-sink: 503 induced failure (fail-rate ${failRate})`);
        return answer(res, 503, JSON.stringify({ error: 'induced-failure' }), 0);
      }
      const body = new Uint8Array(size);
      let offset = 0;
      for (const c of chunks) {
        body.set(c, offset);
        offset += c.length;
      }
      const header = (name: string): string | undefined => {
        const v = req.headers[name.toLowerCase()];
        return Array.isArray(v) ? v.join(',') : v;
      };
      const result = sink.handle({ timestamp: header(HEADER_TIMESTAMP), signature: header(HEADER_SIGNATURE), body }, wallMs());
      if (result.batch !== undefined) {
        const b = result.batch;
        const s = sink.stats;
        log?.(
          `share-sink: batch ${b.batch_id} attempt ${b.attempt} from gateway ${b.gateway_id}: ${b.shares} shares, ${b.new} new, ${b.duplicate} duplicate, ${b.rejected} rejected (total ${s.sharesNew} new, ${s.sharesDuplicate} duplicate)`,
        );
      } else {
        log?.(`share-sink: refused ${result.status} ${result.refusal}`);
      }
      answer(res, result.status, result.body, result.batch !== undefined ? delayMs : 0);
    });
  };

  const server = createServer(onRequest);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const urlHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;

  return {
    host: options.host,
    port,
    url: `http://${urlHost}:${port}/shares`,
    sink,
    get stats() {
      return { ...sink.stats, induced };
    },
    setFailRate(rate) {
      failRate = _checkRate(rate);
    },
    setDelayMs(ms) {
      delayMs = ms;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        sockets.clear();
      });
      return closing;
    },
  };
}

const USAGE = 'share-sink --listen HOST:PORT --secret S [--fail-rate R] [--delay-ms D] [--seed N] [--max-age-secs N]';
const PREFIX = 'share-sink:';

export interface ShareSinkArgs {
  readonly host: string;
  readonly port: number;
  readonly secret: string;
  readonly failRate: number;
  readonly delayMs: number;
  readonly seed: number;
  readonly maxAgeSecs: number;
}

/** Parse the command's arguments; a string is the problem. --secret may come from $RESERVEGRID_SHARE_SINK_SECRET. */
export function parseShareSinkArgs(args: readonly string[], env: Readonly<Record<string, string | undefined>>): ShareSinkArgs | string {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const [name, value] = arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, args[++i]];
    if (!['--listen', '--secret', '--fail-rate', '--delay-ms', '--seed', '--max-age-secs'].includes(name)) return `unknown option '${arg}'`;
    if (value === undefined) return `${name} needs a value`;
    values.set(name, value);
  }
  const listen = values.get('--listen');
  if (listen === undefined) return '--listen HOST:PORT is required';
  const colon = listen.lastIndexOf(':');
  const port = Number(listen.slice(colon + 1));
  let host = listen.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) return `--listen must be HOST:PORT, got '${listen}'`;
  const secret = values.get('--secret') ?? env['RESERVEGRID_SHARE_SINK_SECRET'];
  if (secret === undefined || secret.length === 0) return '--secret (or $RESERVEGRID_SHARE_SINK_SECRET) is required: the gateway\'s share.share_upstream_secret';
  const number = (name: string, fallback: number, ok: (n: number) => boolean, what: string): number | string => {
    const raw = values.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    return raw.trim() !== '' && ok(n) ? n : `${name} must be ${what}, got '${raw}'`;
  };
  const failRate = number('--fail-rate', 0, (n) => n >= 0 && n <= 1, 'a number in [0, 1]');
  const delayMs = number('--delay-ms', 0, (n) => Number.isInteger(n) && n >= 0 && n <= 600_000, 'an integer in 0..600000');
  const seed = number('--seed', 1, (n) => Number.isSafeInteger(n), 'an integer');
  const maxAgeSecs = number('--max-age-secs', SIGNATURE_MAX_AGE_SECS_DEFAULT, (n) => Number.isInteger(n) && n >= 0 && n <= 86_400, 'an integer in 0..86400');
  for (const v of [failRate, delayMs, seed, maxAgeSecs]) if (typeof v === 'string') return v;
  return { host, port, secret, failRate: failRate as number, delayMs: delayMs as number, seed: seed as number, maxAgeSecs: maxAgeSecs as number };
}

export const shareSinkCommand: Command = {
  words: ['share-sink'],
  usage: USAGE,
  summary: 'Reference receiver for signed share batches: verifies, de-duplicates, can fail (--fail-rate) or be slow (--delay-ms).',
  async run(args: readonly string[], io: CliIo): Promise<number> {
    const parsed = parseShareSinkArgs(args, io.env);
    if (typeof parsed === 'string') {
      io.stderr(`reservegrid share-sink: ${parsed}\nUsage: reservegrid ${USAGE}\n`);
      return 2;
    }
    if (io.onShutdownSignal === undefined) {
      io.stderr('error: this entry point cannot deliver SIGINT/SIGTERM, so the sink could not stop cleanly\n');
      return 1;
    }
    let signalled: (name: string) => void = () => {};
    const signal = new Promise<string>((resolve) => (signalled = resolve));
    const removeHook = io.onShutdownSignal((name) => signalled(name));
    let server: ShareSinkServer;
    try {
      server = await startShareSink({
        host: parsed.host,
        port: parsed.port,
        secret: parsed.secret,
        failRate: parsed.failRate,
        delayMs: parsed.delayMs,
        seed: parsed.seed,
        maxAgeSecs: parsed.maxAgeSecs,
        wallMs: () => io.clock.wallMs(),
        log: (line) => io.stdout(line + '\n'),
      });
    } catch (error) {
      removeHook();
      io.stderr(`error: cannot listen on ${parsed.host}:${parsed.port}: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    io.stdout(
      `${PREFIX} listening on ${server.url} (any path; GET /stats for counts), fail-rate ${parsed.failRate}, delay ${parsed.delayMs} ms, timestamp window ${parsed.maxAgeSecs} s\n`,
    );
    const name = await signal;
    await server.close();
    const s = server.stats;
    io.stdout(`${PREFIX} ${name}: stopped after ${s.batches} batches, ${s.sharesNew} new shares, ${s.sharesDuplicate} duplicates, ${s.induced} induced failures, refused ${JSON.stringify(s.refused)}\n`);
    return 0;
  },
};

export const shareSinkCommands: Command[] = [shareSinkCommand];
