// A real nats-server with JetStream on loopback for the JetStream sink tests (issue 13 item 4):
// its own temp store dir, a free loopback port, stop (SIGTERM: JetStream flushes its store) and
// start again on the same port and store (a "NATS restart"). Installed, pinned, by
// scripts/install-nats-server.sh into .tmp/go/bin; found by find-binary.ts: $NATS_SERVER_BIN, then
// .tmp/go/bin, then PATH.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readEnv } from '../harness.ts';
import { connectTcp } from '../../adapters/net/index.ts';
import { freeLoopbackPort } from './btcd.ts';
import { findBinary, testIfPresent } from './find-binary.ts';
import { sleep } from './wait.ts';

export const NATS_MISSING_REASON = 'nats-server not found: run scripts/install-nats-server.sh (or set NATS_SERVER_BIN)';

export function findNatsServer(): string | null {
  return findBinary('nats-server', { envVar: 'NATS_SERVER_BIN', projectLocal: true });
}

/** A test when nats-server is installed; else a skip saying how, or a failure with RG_REQUIRE_NATS=1 (CI). */
export function testWithNats(name: string, fn: () => Promise<void>, options: { timeoutMs?: number; alsoNeeds?: { present: boolean; reason: string } } = {}): void {
  const missing = findNatsServer() === null ? NATS_MISSING_REASON : options.alsoNeeds?.present === false ? options.alsoNeeds.reason : undefined;
  testIfPresent(name, fn, { missing, requireVar: 'RG_REQUIRE_NATS', timeoutMs: options.timeoutMs ?? 60_000 });
}

export class NatsServer {
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  #log = '';

  private constructor(
    readonly binary: string,
    readonly storeDir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<NatsServer> {
    const binary = findNatsServer();
    if (binary === null) throw new Error(NATS_MISSING_REASON);
    const storeDir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', 'rg-nats-'));
    const server = new NatsServer(binary, storeDir, await freeLoopbackPort());
    await server.launch();
    return server;
  }

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  get log(): string {
    return this.#log;
  }

  /** Start (again) on the same port and store dir; resolves once it accepts TCP connections. */
  async launch(timeoutMs = 15_000): Promise<void> {
    if (this.#child !== null) throw new Error('nats-server already running');
    const child = spawn(this.binary, ['-js', '-sd', this.storeDir, '-a', '127.0.0.1', '-p', String(this.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    const onData = (c: Uint8Array): void => void (this.#log = (this.#log + new TextDecoder().decode(c)).slice(-20_000));
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.#exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`nats-server exited (${child.exitCode}): ${this.#log}`);
      try {
        const socket = await connectTcp({ host: '127.0.0.1', port: this.port });
        socket.abort();
        // JetStream is ready a moment after the port: the log says so.
        if (/Server is ready/.test(this.#log)) return;
      } catch {
        // not yet listening
      }
      if (Date.now() > deadline) throw new Error(`nats-server did not start within ${timeoutMs} ms: ${this.#log}`);
      await sleep(50);
    }
  }

  /** SIGTERM (JetStream writes its store out), then SIGKILL after a bound. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    child.kill('SIGTERM');
    const done = await Promise.race([this.#exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!done) {
      child.kill('SIGKILL');
      await Promise.race([this.#exited, sleep(5_000)]);
    }
    this.#child = null;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
