// A minimal Stratum V1 miner for the translator interop check (issue 3 item 10): it sits
// behind SRI's translator_sv2 and mines real SV1 shares on the jobs the translator builds from
// OUR gateway's extended-channel jobs. Test tool only (node:net, runs on Node, Deno and Bun).
//
// SV1 as the translator speaks it (newline-delimited JSON-RPC over TCP):
//   → mining.subscribe ["agent"]           ← [[subscriptions], extranonce1 hex, extranonce2_size]
//   → mining.authorize [user, password]    ← true
//   → mining.extranonce.subscribe []       (so a later mining.set_extranonce is allowed)
//   ← mining.set_difficulty [d]            ← mining.set_extranonce [extranonce1, size]
//   ← mining.notify [job_id, prevhash, coinb1, coinb2, merkle_branch[], version, nbits, ntime, clean_jobs]
//   → mining.submit [user, job_id, extranonce2 hex, ntime hex, nonce hex]  ← true | error
//
// The share is computed from the notify fields exactly as an SV1 miner does:
//   coinbase    = coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2
//   merkle root = fold(sha256d(coinbase), branch) with root = sha256d(root ‖ branch_i)
//   header      = version LE ‖ prevhash ‖ merkle root ‖ ntime LE ‖ nbits LE ‖ nonce LE
// where version/nbits/ntime are big-endian hex numbers and the SV1 prevhash is the internal-order
// hash with every 4-byte word byte-swapped (so swapping each word back gives header order).
// The share target is difficulty-1 (0xffff·2^208, Bitcoin's `Target::MAX` that the translator's
// `difficulty_float` divides by) over the advertised difficulty; we grind to a target 0.1 %
// harder so float rounding on the translator's side can never turn a valid share into a low one.
import { createConnection, type Socket } from 'node:net';
import { bytesToHex, concatBytes, hexToBytes } from '../../core/bytes.ts';
import { sha256d } from '../../core/mining/hash.ts';

const DIFF1_TARGET = 0xffffn << 208n;
const DIFFICULTY_SCALE = 1_000_000_000_000n;
/** Nonces tried between two turns of the event loop (so notifications are seen while grinding). */
const NONCES_PER_SLICE = 4096;

export interface Sv1Job {
  readonly jobId: string;
  readonly prevhash: string;
  readonly coinb1: string;
  readonly coinb2: string;
  readonly merkleBranch: readonly string[];
  readonly version: string;
  readonly nbits: string;
  readonly ntime: string;
  readonly cleanJobs: boolean;
}

export interface Sv1Submit {
  readonly jobId: string;
  readonly extranonce2: string;
  readonly ntime: string;
  readonly nonce: string;
  /** Header hash, display order (big-endian hex). */
  readonly hash: string;
  readonly difficulty: number;
  readonly hashes: number;
  /** The translator's answer: true, or the error it returned. */
  result?: true | string;
}

export interface Sv1MinerOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Stop after this many shares answered `true`. */
  readonly sharesWanted: number;
  /** Give up after this many rejected submits. */
  readonly rejectsMax: number;
  readonly timeoutMs: number;
  readonly log?: (line: string) => void;
}

export interface Sv1MinerResult {
  readonly extranonce1: string;
  readonly extranonce2Size: number;
  readonly authorized: boolean;
  readonly difficulties: readonly number[];
  readonly notifies: number;
  readonly submits: readonly Sv1Submit[];
  readonly accepted: number;
}

/** SV1 share target for `difficulty` (difficulty-1 target / difficulty), as a bigint. */
export function sv1TargetFromDifficulty(difficulty: number): bigint {
  if (!(difficulty > 0) || !Number.isFinite(difficulty)) throw new RangeError(`difficulty must be a positive number, got ${difficulty}`);
  const scaled = BigInt(Math.max(1, Math.round(difficulty * Number(DIFFICULTY_SCALE))));
  return (DIFF1_TARGET * DIFFICULTY_SCALE) / scaled;
}

function u32BeHexToLe(hex: string, what: string): Uint8Array {
  if (!/^[0-9a-fA-F]{8}$/.test(hex)) throw new Error(`${what} is not 8 hex digits: ${JSON.stringify(hex)}`);
  return hexToBytes(hex).reverse();
}

/** SV1 prevhash (word-swapped) → the 32 bytes of the header's prev_blockhash field. */
export function sv1PrevhashToHeader(hex: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`prevhash is not 64 hex digits: ${JSON.stringify(hex)}`);
  const b = hexToBytes(hex);
  for (let i = 0; i < 32; i += 4) b.subarray(i, i + 4).reverse();
  return b;
}

/** The 76 header bytes before the nonce, for one job and extranonce2. */
export function sv1HeaderPrefix(job: Sv1Job, extranonce1: string, extranonce2: string): Uint8Array {
  const coinbase = hexToBytes(job.coinb1 + extranonce1 + extranonce2 + job.coinb2);
  let root = sha256d(coinbase);
  for (const branch of job.merkleBranch) root = sha256d(concatBytes(root, hexToBytes(branch)));
  return concatBytes(
    u32BeHexToLe(job.version, 'version'),
    sv1PrevhashToHeader(job.prevhash),
    root,
    u32BeHexToLe(job.ntime, 'ntime'),
    u32BeHexToLe(job.nbits, 'nbits'),
  );
}

function hashValue(hash: Uint8Array): bigint {
  let v = 0n;
  for (let i = hash.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(hash[i]!);
  return v;
}

function parseNotify(params: unknown): Sv1Job {
  if (!Array.isArray(params) || params.length < 9) throw new Error(`mining.notify params: ${JSON.stringify(params)}`);
  const [jobId, prevhash, coinb1, coinb2, merkleBranch, version, nbits, ntime, cleanJobs] = params as unknown[];
  const s = (x: unknown, what: string): string => {
    if (typeof x !== 'string') throw new Error(`mining.notify ${what} is not a string: ${JSON.stringify(x)}`);
    return x;
  };
  if (!Array.isArray(merkleBranch)) throw new Error(`mining.notify merkle_branch: ${JSON.stringify(merkleBranch)}`);
  return {
    jobId: s(jobId, 'job_id'),
    prevhash: s(prevhash, 'prevhash'),
    coinb1: s(coinb1, 'coinb1'),
    coinb2: s(coinb2, 'coinb2'),
    merkleBranch: merkleBranch.map((b, i) => s(b, `merkle_branch[${i}]`)),
    version: s(version, 'version'),
    nbits: s(nbits, 'nbits'),
    ntime: s(ntime, 'ntime'),
    cleanJobs: cleanJobs === true,
  };
}

/** Connects, subscribes, authorizes and mines until `sharesWanted` shares are answered true. */
export async function runSv1Miner(options: Sv1MinerOptions): Promise<Sv1MinerResult> {
  const log = options.log ?? (() => undefined);
  const socket: Socket = createConnection({ host: options.host, port: options.port });
  socket.setNoDelay(true);
  socket.setEncoding('utf8');

  let extranonce1 = '';
  let extranonce2Size = 0;
  let authorized = false;
  const difficulties: number[] = [];
  let job: Sv1Job | undefined;
  let jobGeneration = 0;
  let notifies = 0;
  const submits: Sv1Submit[] = [];
  let accepted = 0;
  let failure: Error | undefined;
  let closed = false;
  const pending = new Map<number, (msg: { result?: unknown; error?: unknown }) => void>();
  const wakers = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...wakers]) w();
  };
  let nextId = 1;

  const send = (method: string, params: unknown[]): Promise<{ result?: unknown; error?: unknown }> => {
    const id = nextId++;
    const line = JSON.stringify({ id, method, params });
    log(`→ ${line}`);
    socket.write(line + '\n');
    return new Promise((resolve) => pending.set(id, resolve));
  };

  let rest = '';
  socket.on('data', (chunk: string) => {
    rest += chunk;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const text = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (text === '') continue;
      log(`← ${text}`);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(text) as Record<string, unknown>;
      } catch {
        failure ??= new Error(`translator sent non-JSON: ${text.slice(0, 200)}`);
        continue;
      }
      try {
        if (typeof msg['method'] === 'string') {
          const params = msg['params'];
          switch (msg['method']) {
            case 'mining.notify': {
              const next = parseNotify(params);
              notifies++;
              // A clean_jobs notify or the first job replaces the one being ground; otherwise
              // keep grinding the current one (it stays valid) but move on to the newest.
              job = next;
              jobGeneration++;
              break;
            }
            case 'mining.set_difficulty':
              if (Array.isArray(params) && typeof params[0] === 'number') difficulties.push(params[0]);
              else failure ??= new Error(`mining.set_difficulty params: ${JSON.stringify(params)}`);
              break;
            case 'mining.set_extranonce':
              if (Array.isArray(params) && typeof params[0] === 'string' && typeof params[1] === 'number') {
                extranonce1 = params[0];
                extranonce2Size = params[1];
                jobGeneration++;
              } else failure ??= new Error(`mining.set_extranonce params: ${JSON.stringify(params)}`);
              break;
            default:
              break; // e.g. client.show_message: nothing to do
          }
        } else if (typeof msg['id'] === 'number' && pending.has(msg['id'])) {
          const resolve = pending.get(msg['id'])!;
          pending.delete(msg['id']);
          resolve(msg as { result?: unknown; error?: unknown });
        }
      } catch (error) {
        failure ??= error as Error;
      }
    }
    wake();
  });
  socket.on('error', (error) => {
    failure ??= new Error(`SV1 socket: ${error.message}`);
    wake();
  });
  socket.on('close', () => {
    closed = true;
    failure ??= new Error('translator closed the SV1 connection');
    for (const resolve of pending.values()) resolve({ error: 'connection closed' });
    pending.clear();
    wake();
  });

  const deadline = Date.now() + options.timeoutMs;
  const waitUntil = (ready: () => boolean, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (ready()) done(resolve);
        else if (failure !== undefined) done(() => reject(failure));
        else if (Date.now() >= deadline) done(() => reject(new Error(`timeout waiting for ${what}`)));
      };
      const timer = setTimeout(check, Math.max(0, deadline - Date.now()));
      const done = (f: () => void): void => {
        clearTimeout(timer);
        wakers.delete(check);
        f();
      };
      wakers.add(check);
      check();
    });
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const sub = await send('mining.subscribe', ['reservegrid-interop-sv1/0.1']);
    const r = sub.result;
    if (!Array.isArray(r) || typeof r[1] !== 'string' || typeof r[2] !== 'number') throw new Error(`mining.subscribe answer: ${JSON.stringify(sub)}`);
    // A set_extranonce that arrived meanwhile wins over the subscribe answer.
    if (extranonce1 === '') {
      extranonce1 = r[1];
      extranonce2Size = r[2];
    }
    const auth = await send('mining.authorize', [options.user, options.password]);
    authorized = auth.result === true;
    if (!authorized) throw new Error(`mining.authorize answer: ${JSON.stringify(auth)}`);
    void send('mining.extranonce.subscribe', []); // an error answer is fine: it is optional
    await waitUntil(() => job !== undefined && difficulties.length > 0, 'mining.notify and mining.set_difficulty');

    let extranonce2Counter = 0;
    let hashes = 0;
    while (accepted < options.sharesWanted) {
      const rejects = submits.filter((s) => s.result !== undefined && s.result !== true).length;
      if (rejects >= options.rejectsMax) throw new Error(`${rejects} submits rejected: ${submits.map((s) => s.result).join('; ')}`);
      if (failure !== undefined) throw failure;
      if (Date.now() >= deadline) throw new Error(`timeout: ${accepted} of ${options.sharesWanted} shares accepted`);
      const current = job!;
      const generation = jobGeneration;
      const difficulty = difficulties.at(-1)!;
      const target = (sv1TargetFromDifficulty(difficulty) * 999n) / 1000n;
      extranonce2Counter++;
      const extranonce2 = extranonce2Counter.toString(16).padStart(extranonce2Size * 2, '0').slice(-extranonce2Size * 2);
      const header = new Uint8Array(80);
      header.set(sv1HeaderPrefix(current, extranonce1, extranonce2), 0);
      const view = new DataView(header.buffer);
      let found: { nonce: number; hash: Uint8Array } | undefined;
      for (let nonce = 0; nonce <= 0xffffffff && found === undefined; nonce++) {
        view.setUint32(76, nonce, true);
        const hash = sha256d(header);
        hashes++;
        if (hashValue(hash) <= target) found = { nonce, hash };
        else if (nonce % NONCES_PER_SLICE === NONCES_PER_SLICE - 1) {
          await turn();
          if (jobGeneration !== generation || failure !== undefined || Date.now() >= deadline) break;
        }
      }
      if (found === undefined) continue; // new job or extranonce: start again on it
      const submit: Sv1Submit = {
        jobId: current.jobId,
        extranonce2,
        ntime: current.ntime,
        nonce: found.nonce.toString(16).padStart(8, '0'),
        hash: bytesToHex(found.hash.slice().reverse()),
        difficulty,
        hashes,
      };
      submits.push(submit);
      const answer = await send('mining.submit', [options.user, submit.jobId, submit.extranonce2, submit.ntime, submit.nonce]);
      submit.result = answer.result === true ? true : JSON.stringify(answer.error ?? answer.result);
      if (submit.result === true) accepted++;
    }
    return { extranonce1, extranonce2Size, authorized, difficulties, notifies, submits, accepted };
  } finally {
    if (!closed) socket.destroy();
  }
}
