// A real Bitcoin node for integration tests (issue 3 item 8): btcd on regtest, loopback only, in a
// throw-away data dir, with a fixed test mining key. Test infrastructure, not product code: it
// throws on failure (a broken fixture must fail the test loudly), and every wait is bounded.
//
// Why btcd and what it needs before it serves getblocktemplate (btcd v0.26.2 rpcserver.go,
// handleGetBlockTemplateRequest):
//  - "Bitcoin is not connected" (-9) when it has no peers, EXCEPT on regtest/simnet: we run
//    --regtest, so no peer is needed and none is configured (regtest has no DNS seeds).
//  - "Bitcoin is downloading blocks..." (-10) when height > 0 and the sync manager is not current,
//    i.e. the tip is older than 24 h (blockchain.isCurrent) or below a checkpoint (regtest has
//    none). A fresh data dir at height 0 is exempt (checked: GBT answers at height 0); a block we
//    mine now has a current timestamp. So: always a fresh data dir, and `initialBlocks` (default
//    1) mined with btcd's `generate`, so the chain is past genesis with a tip that is "current"
//    by btcd's own test and stays so for 24 h.
//  - `--miningaddr` is required by `generate` (and by GBT only in coinbasetxn mode, which we do
//    not use): we pass the P2WPKH address of TEST_MINING_KEY.
//  - RPC over plain HTTP needs `--notls`, which btcd allows only when the RPC listener is on
//    localhost (config.go). We listen on 127.0.0.1 only, so --notls is safe and avoids self-signed
//    certificates, which `fetch` would refuse and which each runtime overrides differently.
//  - On regtest btcd DELETES its block database at every start (btcd.go removeRegressionDB), so
//    restart() comes back at height 0 on the genesis block: a new tip for a gateway, and GBT is
//    served at once (height 0 is exempt from the "downloading blocks" check).
//  - --utxocachemaxsize=16: the default pre-allocates 250 MiB per node; a CI box runs several.
//  - HOME is pointed into the temp dir and an empty --configfile is given, so the node neither
//    reads the user's ~/.btcd/btcd.conf nor creates ~/.btcd (config.go creates its home dir).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { bech32 } from '@scure/base';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, reversed } from '../../core/bytes.ts';
import { readEnv } from '../harness.ts';
import { findBinary, testIfPresent } from './find-binary.ts';
import { sleep } from './wait.ts';

export { sleep };

export const BTCD_MISSING_REASON = 'btcd binary not found: run scripts/install-btcd.sh (or set BTCD_BIN)';

/** btcd from $BTCD_BIN, else scripts/install-btcd.sh's .tmp/go/bin, else PATH; null if none. */
export function findBtcd(): string | null {
  return findBinary('btcd', { envVar: 'BTCD_BIN', projectLocal: true });
}

/**
 * Register `fn` as a test when btcd is installed, else as a skip that says how to install it.
 * With RG_REQUIRE_BTCD=1 (CI, after scripts/install-btcd.sh) a missing btcd FAILS instead, so a
 * broken install cannot turn the node tests into silent skips.
 */
export function testWithBtcd(name: string, fn: () => Promise<void>, options: { timeoutMs?: number } = {}): void {
  testIfPresent(name, fn, {
    missing: findBtcd() === null ? BTCD_MISSING_REASON : undefined,
    requireVar: 'RG_REQUIRE_BTCD',
    timeoutMs: options.timeoutMs ?? 60_000,
  });
}

// --- The fixed test mining key ---------------------------------------------------------------
// Private key 1 (public key = the secp256k1 generator G). Its compressed-key HASH160 is
// 751e76e8199196d454941c45d1b3a323f1433bd6, the witness program of BIP173's example address
// BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4 (checked in test/unit/template.test.ts); on regtest
// (HRP "bcrt") the P2WPKH address is bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080. Worthless
// anywhere but regtest, by design.
const privateKey = hexToBytes('0000000000000000000000000000000000000000000000000000000000000001');
const publicKey = secp256k1.getPublicKey(privateKey, true);
const pubkeyHash = ripemd160(sha256(publicKey));
export const TEST_MINING_KEY = {
  privateKey,
  publicKey,
  pubkeyHash,
  /** P2WPKH scriptPubKey: OP_0 PUSH20 <hash160>. */
  scriptPubKey: concatBytes(hexToBytes('0014'), pubkeyHash),
  /** Regtest bech32 address (BIP173, witness version 0). */
  address: bech32.encode('bcrt', [0, ...bech32.toWords(pubkeyHash)]),
} as const;

// --- Spending coinbases paid to the test key (to give btcd mempool transactions) --------------

export interface SignedTransaction {
  /** Full serialization with witness. */
  readonly data: Uint8Array;
  /** Internal byte order. */
  readonly txid: Uint8Array;
  readonly wtxid: Uint8Array;
}

/**
 * A version-2 transaction spending one P2WPKH output of TEST_MINING_KEY (e.g. a matured
 * coinbase that btcd's `generate` paid to --miningaddr) to `outputs`, signed per BIP143
 * (SIGHASH_ALL, low-S DER). Test-only: one input, no fee estimation, no RBF.
 */
export function spendTestKeyOutput(
  previous: { readonly txid: Uint8Array; readonly vout: number; readonly valueSats: bigint },
  outputs: readonly { readonly valueSats: bigint; readonly scriptPubKey: Uint8Array }[],
): SignedTransaction {
  const sha256d = (data: Uint8Array): Uint8Array => sha256(sha256(data));
  const version = le(2, 4);
  const locktime = le(0, 4);
  const sequence = le(0xffffffff, 4);
  const outpoint = concatBytes(previous.txid, le(previous.vout, 4));
  const serializedOutputs = concatBytes(
    ...outputs.map((o) => concatBytes(le64(o.valueSats), new Uint8Array([o.scriptPubKey.length]), o.scriptPubKey)),
  );
  // BIP143 signature message for a P2WPKH input: scriptCode is the P2PKH script of the key hash.
  const scriptCode = concatBytes(hexToBytes('1976a914'), TEST_MINING_KEY.pubkeyHash, hexToBytes('88ac'));
  const preimage = concatBytes(
    version,
    sha256d(outpoint), // hashPrevouts
    sha256d(sequence), // hashSequence
    outpoint,
    scriptCode,
    le64(previous.valueSats),
    sequence,
    sha256d(serializedOutputs), // hashOutputs
    locktime,
    le(1, 4), // SIGHASH_ALL
  );
  const der = secp256k1.sign(sha256d(preimage), TEST_MINING_KEY.privateKey, { prehash: false, lowS: true, format: 'der' });
  const signature = concatBytes(der, new Uint8Array([0x01]));
  const body = concatBytes(
    new Uint8Array([0x01]), // one input
    outpoint,
    new Uint8Array([0x00]), // empty scriptSig (native segwit)
    sequence,
    new Uint8Array([outputs.length]),
    serializedOutputs,
  );
  const witness = concatBytes(
    new Uint8Array([0x02, signature.length]),
    signature,
    new Uint8Array([TEST_MINING_KEY.publicKey.length]),
    TEST_MINING_KEY.publicKey,
  );
  const stripped = concatBytes(version, body, locktime);
  const data = concatBytes(version, new Uint8Array([0x00, 0x01]), body, witness, locktime);
  return { data, txid: sha256d(stripped), wtxid: sha256d(data) };
}

function le(value: number, width: number): Uint8Array {
  const out = new Uint8Array(width);
  for (let i = 0; i < width; i++) out[i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
  return out;
}

function le64(value: bigint): Uint8Array {
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

// --- Node lifecycle --------------------------------------------------------------------------

export interface StartBtcdOptions {
  /** Blocks mined with `generate` once RPC answers (see the header comment). Default 1. */
  readonly initialBlocks?: number;
  /** Bound on process start until RPC answers. Default 20 s. */
  readonly startTimeoutMs?: number;
}

const RPC_USER = 'rg-test';
const RPC_PASSWORD = 'rg-test-password';
const STOP_GRACE_MS = 10_000;
const KILL_WAIT_MS = 3_000;
const POLL_INTERVAL_MS = 100;
const START_ATTEMPTS_MAX = 3; // a free port can be taken between probing and btcd binding it
const LOG_LINES_MAX = 60;

/**
 * Two real mempool transactions on `node` (started with ≥ 102 blocks, so block 1's 50 BTC
 * coinbase is mature): A spends that coinbase, B spends A, each paying `feeSats`; both are sent
 * with sendrawtransaction and checked to be accepted under their own txids. A parent and its child
 * in one template, as the Job Declaration tests need.
 */
export async function sendParentAndChild(node: BtcdNode, feeSats: bigint): Promise<{ readonly a: SignedTransaction; readonly b: SignedTransaction }> {
  const hash1 = (await node.rpc('getblockhash', [1])) as string;
  const { tx } = (await node.rpc('getblock', [hash1])) as { tx: string[] };
  const subsidy = 5_000_000_000n;
  const a = spendTestKeyOutput({ txid: reversed(hexToBytes(tx[0]!)), vout: 0, valueSats: subsidy }, [{ valueSats: subsidy - feeSats, scriptPubKey: TEST_MINING_KEY.scriptPubKey }]);
  const b = spendTestKeyOutput({ txid: a.txid, vout: 0, valueSats: subsidy - feeSats }, [{ valueSats: subsidy - 2n * feeSats, scriptPubKey: TEST_MINING_KEY.scriptPubKey }]);
  for (const t of [a, b]) {
    const txid = await node.rpc('sendrawtransaction', [bytesToHex(t.data)]);
    if (txid !== bytesToHex(reversed(t.txid))) throw new Error(`sendrawtransaction answered ${JSON.stringify(txid)}, not the transaction's txid`);
  }
  return { a, b };
}

export class BtcdNode {
  readonly rpcUser = RPC_USER;
  readonly rpcPassword = RPC_PASSWORD;
  readonly miningAddress = TEST_MINING_KEY.address;
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  #log: string[] = [];
  #rpcId = 0;

  private constructor(
    readonly binary: string,
    readonly tempDir: string,
    public rpcPort: number,
    public p2pPort: number,
  ) {}

  /** Start btcd in a fresh temp dir and wait until it serves RPC; throws if it cannot. */
  static async start(options: StartBtcdOptions = {}): Promise<BtcdNode> {
    const binary = findBtcd();
    if (binary === null) throw new Error(BTCD_MISSING_REASON);
    const tmpRoot = readEnv('TMPDIR') || '/tmp';
    const tempDir = mkdtempSync(join(tmpRoot, 'rg-btcd-'));
    writeFileSync(join(tempDir, 'btcd.conf'), '# empty on purpose: every option is on the command line\n');
    const node = new BtcdNode(binary, tempDir, 0, 0);
    try {
      await node.#startWithFreshPorts(options.startTimeoutMs ?? 20_000);
      const blocks = options.initialBlocks ?? 1;
      if (blocks > 0) await node.rpc('generate', [blocks]);
      return node;
    } catch (error) {
      await node.dispose();
      throw error;
    }
  }

  get rpcUrl(): string {
    return `http://127.0.0.1:${this.rpcPort}/`;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  /** Stop the process (SIGTERM, then SIGKILL after a bound) and keep the data dir. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    child.kill('SIGTERM');
    if (!(await settlesWithin(this.#exited, STOP_GRACE_MS))) {
      child.kill('SIGKILL');
      if (!(await settlesWithin(this.#exited, KILL_WAIT_MS))) throw new Error(`btcd pid ${child.pid} survived SIGKILL`);
    }
    this.#child = null;
  }

  /** Start again on the same ports (for "node went away and came back" tests). btcd wipes its
   * regtest chain on start, so the node comes back at height 0 (see the header comment). */
  async restart(timeoutMs = 20_000): Promise<void> {
    await this.stop();
    await this.#launch(timeoutMs);
  }

  /** Stop and remove the temp dir. Safe to call twice. */
  async dispose(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.tempDir, { recursive: true, force: true });
    }
  }

  /** Last lines btcd printed, for failure messages. */
  logTail(): string {
    return this.#log.join('\n');
  }

  /** Minimal JSON-RPC call for test set-up, independent of adapters/bitcoind-rpc.ts on purpose
   * (the adapter is what the tests check). Throws on any failure. */
  async rpc(method: string, params: unknown[] = [], timeoutMs = 30_000): Promise<unknown> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      const response = await fetch(this.rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: basicAuth(RPC_USER, RPC_PASSWORD) },
        body: JSON.stringify({ jsonrpc: '1.0', id: ++this.#rpcId, method, params }),
        signal: controller.signal,
      });
      const text = await response.text();
      let body: { result?: unknown; error?: { code: number; message: string } | null };
      try {
        body = JSON.parse(text);
      } catch {
        throw new Error(`btcd ${method}: HTTP ${response.status}: ${text.slice(0, 200)}`);
      }
      if (body.error) throw new Error(`btcd ${method}: RPC error ${body.error.code}: ${body.error.message}`);
      return body.result;
    } finally {
      clearTimeout(timer);
    }
  }

  async #startWithFreshPorts(timeoutMs: number): Promise<void> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= START_ATTEMPTS_MAX; attempt++) {
      this.rpcPort = await freeLoopbackPort();
      this.p2pPort = await freeLoopbackPort();
      try {
        await this.#launch(timeoutMs);
        return;
      } catch (error) {
        lastError = error;
        await this.stop();
      }
    }
    throw lastError;
  }

  async #launch(timeoutMs: number): Promise<void> {
    const args = [
      '--regtest',
      `--configfile=${join(this.tempDir, 'btcd.conf')}`,
      `--datadir=${join(this.tempDir, 'data')}`,
      `--logdir=${join(this.tempDir, 'logs')}`,
      `--listen=127.0.0.1:${this.p2pPort}`,
      `--rpclisten=127.0.0.1:${this.rpcPort}`,
      '--notls',
      `--rpcuser=${RPC_USER}`,
      `--rpcpass=${RPC_PASSWORD}`,
      `--miningaddr=${TEST_MINING_KEY.address}`,
      '--nodnsseed',
      '--utxocachemaxsize=16',
      '--debuglevel=info',
    ];
    const env: Record<string, string> = { HOME: this.tempDir, PATH: readEnv('PATH') ?? '/usr/bin:/bin' };
    const child = spawn(this.binary, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    let exitInfo: string | null = null;
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitInfo = `code ${code}, signal ${signal}`;
        resolve();
      });
      child.once('error', (error) => {
        exitInfo = `spawn error ${error.message}`;
        resolve();
      });
    });
    const keep = (chunk: Uint8Array | string): void => {
      for (const line of String(chunk).split('\n')) if (line.trim()) this.#log.push(line);
      if (this.#log.length > LOG_LINES_MAX) this.#log.splice(0, this.#log.length - LOG_LINES_MAX);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    killOnExit(child);

    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (exitInfo !== null) {
        this.#child = null;
        throw new Error(`btcd exited during start-up (${exitInfo}):\n${this.logTail()}`);
      }
      try {
        await this.rpc('getblockcount', [], 1_000);
        return;
      } catch {
        await sleep(POLL_INTERVAL_MS);
      }
    }
    throw new Error(`btcd RPC did not answer within ${timeoutMs} ms:\n${this.logTail()}`);
  }
}

// --- small helpers ---------------------------------------------------------------------------

export function basicAuth(user: string, password: string): string {
  return `Basic ${btoa(`${user}:${password}`)}`;
}

/** A port that was free on 127.0.0.1 a moment ago (the OS picks it). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// If the test process exits without dispose() (a crash, Deno.exit), do not leave btcd running.
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnExit(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const proc = (globalThis as { process?: { once?(event: 'exit', fn: () => void): void } }).process;
  proc?.once?.('exit', () => {
    for (const c of liveChildren) c.kill('SIGKILL');
  });
}
