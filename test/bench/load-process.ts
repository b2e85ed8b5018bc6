// The client side of the load process (test/bench/gateway-load.ts): our own Noise miners in a
// separate Node process, driven over its stdin/stdout with one JSON command and one JSON reply
// per line. Used by gateway.bench.ts and sri-side-by-side.bench.ts, so both benches drive the
// same miners the same way. The miners run on Node (with tsx) whatever runtime the bench is on:
// the process being measured has its core to itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runtime } from './bench-util.ts';
import { sleep } from '../support/wait.ts';

export interface Load<Reply extends Record<string, unknown> = Record<string, unknown>> {
  /** Send `cmd` and wait for the reply of the same name (`{"reply": cmd.cmd, …}`). */
  request(cmd: Record<string, unknown>): Promise<Reply>;
  /** Wait for the next reply named `reply` (one the process sends unasked, e.g. after a switch). */
  expect(reply: string): Promise<Reply>;
  /** Ask the process to close; kill it after 3 s. */
  close(): Promise<void>;
}

export function startLoad<Reply extends Record<string, unknown> = Record<string, unknown>>(): Load<Reply> {
  const nodeBin = runtime === 'node' ? process.execPath : 'node';
  const script = fileURLToPath(new URL('./gateway-load.ts', import.meta.url));
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const child: ChildProcess = spawn(nodeBin, ['--import', 'tsx', script], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: { reply: string; resolve: (v: Reply) => void; reject: (e: Error) => void }[] = [];
  let pending = '';
  child.stdout!.on('data', (chunk: Uint8Array) => {
    pending += new TextDecoder().decode(chunk);
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const message = JSON.parse(line) as { reply: string } & Record<string, unknown>;
      // An error answers whichever request is waiting first.
      const index = waiting.findIndex((w) => w.reply === message.reply || message.reply === 'error');
      if (index < 0) continue;
      const [w] = waiting.splice(index, 1);
      if (message.reply === 'error') w!.reject(new Error(`load process: ${String(message['message'])}`));
      else w!.resolve(message as unknown as Reply);
    }
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const expect = (reply: string): Promise<Reply> => new Promise((resolve, reject) => waiting.push({ reply, resolve, reject }));
  return {
    expect,
    request(cmd) {
      const answer = expect(cmd['cmd'] as string);
      child.stdin!.write(`${JSON.stringify(cmd)}\n`);
      return answer;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.stdin!.writable) child.stdin!.write(`${JSON.stringify({ cmd: 'close' })}\n`);
      await Promise.race([exited, sleep(3000)]);
      if (child.exitCode === null) child.kill();
    },
  };
}
