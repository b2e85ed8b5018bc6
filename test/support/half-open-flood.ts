// Child process for the half-open flood (test/integration/gateway-hostile.test.ts and
// scripts/soak.ts): opens `--count` TCP connections to 127.0.0.1:`--port` with this runtime's
// own TCP adapter, sends `--send-bytes` bytes of garbage on each (0 = nothing: TCP up, no Noise
// act 1), and holds them. In its own process so the parent's memory reading is the gateway's
// side only. Prints JSON lines on stdout:
//   {"type":"held","connected":N,"refused":R}   every connect answered (R closed by the server at once)
//   {"type":"closed","count":M}                 every held socket was closed by the server
// and exits 0 after the last line, or when the parent kills it. Connects run `--parallel` at a
// time (bounded), so a loaded machine is not asked for 2,000 SYNs in one instant.
import { connectTcp, type TcpSocket } from '../../adapters/net/index.ts';

const argv = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);
const arg = (name: string, fallback?: string): string => {
  const i = argv.indexOf(name);
  const value = i >= 0 ? argv[i + 1] : fallback;
  if (value === undefined) throw new Error(`half-open-flood: ${name} is required`);
  return value;
};
const port = Number(arg('--port'));
const count = Number(arg('--count'));
const sendBytes = Number(arg('--send-bytes', '0'));
const parallel = Number(arg('--parallel', '50'));
const print = (line: object): void => console.log(JSON.stringify(line));

const sockets: TcpSocket[] = [];
let closedByServer = 0;
let refusedAtOnce = 0;
let connected = 0;
let everyConnectAnswered = false;
const garbage = Uint8Array.from({ length: sendBytes }, (_, i) => (i * 151 + 3) & 0xff);

const done = new Promise<void>((resolve) => {
  const onClosed = (): void => {
    closedByServer++;
    if (everyConnectAnswered && closedByServer === connected) resolve();
  };
  const one = async (): Promise<void> => {
    let socket: TcpSocket;
    try {
      socket = await connectTcp({ host: '127.0.0.1', port });
    } catch {
      refusedAtOnce++;
      return;
    }
    connected++;
    sockets.push(socket);
    socket.onData(() => undefined);
    socket.onClose(onClosed);
    if (garbage.length > 0) socket.write(garbage);
  };
  void (async () => {
    let started = 0;
    const workers = Array.from({ length: Math.max(1, Math.min(parallel, count)) }, async () => {
      while (started < count) {
        started++;
        await one();
      }
    });
    await Promise.all(workers);
    // A connection the server refuses is accepted by the kernel and closed unread: it counts as
    // connected here and closes within moments; `refused` counts only failed connects.
    everyConnectAnswered = true;
    print({ type: 'held', connected, refused: refusedAtOnce });
    if (closedByServer === connected) resolve();
  })();
});
await done;
print({ type: 'closed', count: closedByServer });
