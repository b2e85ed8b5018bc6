// The TCP adapter of the running runtime (adapters/net/index.ts) over real loopback sockets:
// ordering and integrity, close reported once from either side, backpressure from a slow
// reader, graceful close flushing and abort discarding. The same file runs on Node (node:net),
// Deno (Deno.listen) and Bun (Bun.listen).
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { connectTcp, listenTcp, netRuntime, WRITE_HIGH_WATER_BYTES, type TcpCloseInfo, type TcpListener, type TcpSocket } from '../../adapters/net/index.ts';
import { until } from '../support/wait.ts';

const HOST = '127.0.0.1';

/** Deterministic pattern bytes: value depends on the absolute stream offset. */
function pattern(offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = ((offset + i) * 31 + ((offset + i) >>> 8)) & 0xff;
  return out;
}


/** Collects everything a socket receives and every close report. */
class Sink {
  readonly chunks: Uint8Array[] = [];
  readonly closes: TcpCloseInfo[] = [];
  bytes = 0;
  constructor(readonly socket: TcpSocket) {
    socket.onData((b) => {
      this.chunks.push(b);
      this.bytes += b.length;
    });
    socket.onClose((info) => this.closes.push(info));
  }
  joined(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

async function pair(): Promise<{ listener: TcpListener; server: Sink; client: Sink }> {
  let accepted: Sink | undefined;
  const listener = await listenTcp({ host: HOST, port: 0 }, (socket) => {
    accepted = new Sink(socket);
  });
  const client = new Sink(await connectTcp({ host: HOST, port: listener.port }));
  const server = await until('accept', 5000, () => accepted);
  return { listener, server, client };
}

function assertPattern(received: Uint8Array, expectedLength: number): void {
  assert.equal(received.length, expectedLength);
  const expected = pattern(0, expectedLength);
  for (let i = 0; i < expectedLength; i++) {
    if (received[i] !== expected[i]) assert.fail(`byte ${i}: got ${received[i]}, expected ${expected[i]}`);
  }
}

describe(`net adapter (${runtime})`, () => {
  test('index.ts picks the running runtime', () => {
    assert.equal(netRuntime, runtime);
  });

  test('rejects bad addresses by name', async () => {
    await assert.rejects(() => connectTcp({ host: HOST, port: 0 }), /connectTcp: port must be an integer in 1\.\.65535, got 0/);
    await assert.rejects(() => listenTcp({ host: '', port: 0 }, () => undefined), /listenTcp: host must be a non-empty string/);
  });

  test('many small writes then one 1 MiB write arrive intact and in order, both directions', async () => {
    const { listener, server, client } = await pair();
    try {
      for (const [from, to] of [
        [client, server],
        [server, client],
      ] as const) {
        let offset = 0;
        // 3000 writes of 1..97 bytes: exercises coalescing and partial reads.
        for (let i = 0; i < 3000; i++) {
          const length = 1 + ((i * 7) % 97);
          from.socket.write(pattern(offset, length));
          offset += length;
        }
        const megabyte = 1 << 20;
        from.socket.write(pattern(offset, megabyte));
        offset += megabyte;
        await until(`${offset} bytes`, 15_000, () => (to.bytes >= offset ? true : undefined));
        assertPattern(to.joined(), offset);
        to.chunks.length = 0;
        to.bytes = 0;
      }
    } finally {
      client.socket.abort();
      server.socket.abort();
      await listener.close();
    }
  });

  test('bulk, then one small read at a time, then bulk again: intact (Deno read buffer grows, shrinks and grows)', async () => {
    const { listener, server, client } = await pair();
    try {
      let offset = 0;
      const send = async (length: number): Promise<void> => {
        client.socket.write(pattern(offset, length));
        offset += length;
        await until(`${offset} bytes`, 15_000, () => (server.bytes >= offset ? true : undefined));
      };
      await send(1 << 20);
      // One write at a time, each waited for: every read is small (deno.ts shrinks after 16).
      for (let i = 0; i < 40; i++) await send(50 + i);
      const chunksBefore = server.chunks.length;
      await send(1 << 20);
      assert.ok(server.chunks.length > chunksBefore, 'the second megabyte arrived');
      assertPattern(server.joined(), offset);
    } finally {
      client.socket.abort();
      server.socket.abort();
      await listener.close();
    }
  });

  for (const side of ['client', 'server'] as const) {
    test(`close from the ${side} side is reported exactly once on both ends`, async () => {
      const { listener, server, client } = await pair();
      try {
        const closer = side === 'client' ? client : server;
        const other = side === 'client' ? server : client;
        closer.socket.close();
        closer.socket.close();
        assert.equal(closer.socket.closed, true);
        assert.equal(closer.socket.write(new Uint8Array([1])), false, 'write after close is refused');
        await until('both closes', 5000, () => (closer.closes.length > 0 && other.closes.length > 0 ? true : undefined));
        // Give a duplicate report time to show up.
        await new Promise((r) => setTimeout(r, 50));
        other.socket.close();
        closer.socket.abort();
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(closer.closes.length, 1);
        assert.equal(other.closes.length, 1);
        assert.equal(closer.closes[0]!.local, true);
        assert.equal(other.closes[0]!.local, false);
        assert.equal(other.socket.closed, true);
        // A late onClose registration still hears about it, once.
        const late: TcpCloseInfo[] = [];
        other.socket.onClose((info) => late.push(info));
        await new Promise((r) => setTimeout(r, 10));
        assert.equal(late.length, 1);
      } finally {
        await listener.close();
      }
    });
  }

  test('a slow reader makes write() return false; onDrain fires after it resumes; nothing is lost', async () => {
    const { listener, server, client } = await pair();
    try {
      server.socket.pause();
      const drains: number[] = [];
      client.socket.onDrain(() => drains.push(client.socket.bufferedBytes));
      let offset = 0;
      let refused = false;
      // Loopback kernel buffers autotune to several MiB: keep writing until write() says no and
      // the queue stays above the mark (the kernel is full). 256 MiB bounds the loop.
      const chunk = 64 * 1024;
      for (let i = 0; i < 4096; i++) {
        const accepted = client.socket.write(pattern(offset, chunk));
        offset += chunk;
        if (accepted) continue;
        await new Promise((r) => setTimeout(r, 30));
        if (client.socket.bufferedBytes >= WRITE_HIGH_WATER_BYTES) {
          refused = true;
          break;
        }
      }
      assert.equal(refused, true, 'write() must eventually return false against a paused reader');
      assert.ok(client.socket.bufferedBytes >= WRITE_HIGH_WATER_BYTES, `bufferedBytes ${client.socket.bufferedBytes}`);
      drains.length = 0;
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(drains.length, 0, 'no drain while the reader is paused');
      const receivedWhilePaused = server.bytes;
      assert.ok(receivedWhilePaused < offset, 'the paused reader did not take everything');
      server.socket.resume();
      await until('drain', 15_000, () => (drains.length > 0 ? true : undefined));
      assert.equal(drains[0], 0, 'onDrain runs once the queue is empty');
      await until(`${offset} bytes`, 15_000, () => (server.bytes >= offset ? true : undefined));
      assertPattern(server.joined(), offset);
    } finally {
      client.socket.abort();
      server.socket.abort();
      await listener.close();
    }
  });

  test('graceful close flushes queued bytes first; abort discards them', async () => {
    const { listener, server, client } = await pair();
    try {
      const size = 4 << 20;
      server.socket.write(pattern(0, size));
      server.socket.close();
      await until('client close', 15_000, () => (client.closes.length > 0 ? true : undefined));
      assertPattern(client.joined(), size);
    } finally {
      await listener.close();
    }
    const second = await pair();
    try {
      second.client.socket.pause();
      second.server.socket.write(pattern(0, 16 << 20));
      assert.ok(second.server.socket.bufferedBytes > 0);
      second.server.socket.abort();
      assert.equal(second.server.socket.bufferedBytes, 0);
      second.client.socket.resume();
      await until('client close', 15_000, () => (second.client.closes.length > 0 ? true : undefined));
      assert.ok(second.client.bytes < 16 << 20, `abort delivered ${second.client.bytes} bytes`);
      await until('server close', 5000, () => (second.server.closes.length > 0 ? true : undefined));
      assert.equal(second.server.closes.length, 1);
    } finally {
      await second.listener.close();
    }
  });

  test('a closed listener accepts no more connections; open sockets stay usable', async () => {
    const { listener, server, client } = await pair();
    await listener.close();
    await listener.close();
    client.socket.write(pattern(0, 100));
    await until('100 bytes', 5000, () => (server.bytes >= 100 ? true : undefined));
    await assert.rejects(() => connectTcp({ host: HOST, port: listener.port }));
    client.socket.abort();
    server.socket.abort();
  });
});
