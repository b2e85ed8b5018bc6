// The share poster's own HTTP/1.1 client over the runtime's sockets (adapters/share-poster.ts,
// core/forwarding/http1.ts; issue 12 defect 1), against servers that are not ours:
//  - https: a node:tls server (Node, Deno and Bun all implement it) with the loopback certificate
//    of test/fixtures/tls, its test CA trusted through `caCertsPem`; the same server
//    is refused when the certificate is not trusted (a transport error, never a silent accept);
//  - answer framings a backend may use: Content-Length, chunked, until close, a 100 Continue
//    first; an answer cut off mid-body is a transport error; a server that never answers is a
//    timeout; a closed port is a transport error.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { listenTcp, type TcpSocket } from '../../adapters/net/index.ts';
import { createSharePoster } from '../../adapters/share-poster.ts';
import type { PostCommand } from '../../core/forwarding/types.ts';
import { Http1ResponseReader } from '../../core/forwarding/http1.ts';

const CA = readFileSync(new URL('../fixtures/tls/loopback-ca.pem', import.meta.url), 'utf8');
const CERT = readFileSync(new URL('../fixtures/tls/loopback-cert.pem', import.meta.url), 'utf8');
const KEY = readFileSync(new URL('../fixtures/tls/loopback-key.pem', import.meta.url), 'utf8');

const command = (timeoutMs = 5000): PostCommand => ({
  type: 'post',
  request_id: 1,
  batch_id: '7-aa-b1',
  attempt: 1,
  shares: 1,
  body: new TextEncoder().encode('{"v":1}'),
  headers: { 'Content-Type': 'application/json', 'X-ReserveGrid-Batch': '7-aa-b1' },
  timeoutMs,
});

/** A raw TCP server that reads one request (head + Content-Length body), then runs `reply`. */
async function rawServer(reply: (socket: TcpSocket, request: string) => void) {
  const requests: string[] = [];
  const listener = await listenTcp({ host: '127.0.0.1', port: 0 }, (socket) => {
    let text = '';
    socket.onData((bytes) => {
      text += String.fromCharCode(...bytes);
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: *([0-9]+)/i.exec(text.slice(0, end))?.[1] ?? '0');
      if (text.length < end + 4 + length) return;
      requests.push(text);
      reply(socket, text);
    });
  });
  return { url: `http://127.0.0.1:${listener.port}/shares?x=1`, requests, close: () => listener.close(), port: listener.port };
}

describe(`share poster: HTTP/1.1 over the runtime's sockets (${runtime})`, () => {
  test('request bytes: POST target, Host, Content-Length, Connection: close, the signed headers, the body', async () => {
    const server = await rawServer((s) => (s.write(new TextEncoder().encode('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}')), s.close()));
    try {
      const outcome = await createSharePoster({ url: server.url }).post(command());
      assert.deepEqual(outcome, { kind: 'response', status: 200, body: '{}' });
      assert.equal(
        server.requests[0],
        `POST /shares?x=1 HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nContent-Length: 7\r\nConnection: close\r\nContent-Type: application/json\r\nX-ReserveGrid-Batch: 7-aa-b1\r\n\r\n{"v":1}`,
      );
    } finally {
      await server.close();
    }
  });

  for (const [name, answer, body] of [
    ['chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"r\r\n4;ext=1\r\n":1}\r\n0\r\nX-Trailer: y\r\n\r\n', '{"r":1}'],
    ['until close', 'HTTP/1.0 202 Accepted\r\nContent-Type: application/json\r\n\r\n{"results":[]}', '{"results":[]}'],
    ['100 Continue first', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy', 'busy'],
  ] as const) {
    test(`answer framing: ${name}`, async () => {
      const server = await rawServer((s) => {
        // One byte per write: the reader must not care how the bytes are cut.
        for (const ch of answer) s.write(new Uint8Array([ch.charCodeAt(0)]));
        s.close();
      });
      try {
        const outcome = await createSharePoster({ url: server.url }).post(command());
        assert.equal(outcome.kind, 'response');
        if (outcome.kind === 'response') assert.equal(outcome.body, body);
      } finally {
        await server.close();
      }
    });
  }

  test('an answer cut off mid-body is a transport error; no answer is a timeout; a closed port is a transport error', async () => {
    const cut = await rawServer((s) => (s.write(new TextEncoder().encode('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"res')), s.close()));
    const silent = await rawServer(() => {});
    try {
      const a = await createSharePoster({ url: cut.url }).post(command());
      assert.equal(a.kind, 'transport_error', JSON.stringify(a));
      const b = await createSharePoster({ url: silent.url }).post(command(200));
      assert.deepEqual(b, { kind: 'timeout' });
      assert.equal(silent.requests.length, 1, 'the silent server got the request once');
    } finally {
      await cut.close();
      await silent.close();
    }
    const closedPort = cut.port;
    const c = await createSharePoster({ url: `http://127.0.0.1:${closedPort}/` }).post(command());
    assert.equal(c.kind, 'transport_error', JSON.stringify(c));
  });

  test('https: verified against the trusted certificate; refused when the certificate is not trusted', async () => {
    const requests: string[] = [];
    const server = tls.createServer({ key: KEY, cert: CERT }, (socket) => {
      let text = '';
      socket.on('data', (chunk: Uint8Array) => {
        text += String.fromCharCode(...chunk);
        const end = text.indexOf('\r\n\r\n');
        if (end < 0 || text.length < end + 4 + 7) return;
        requests.push(text);
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{"results":[]}');
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const trusted = await createSharePoster({ url: `https://localhost:${port}/shares`, tls: { caCertsPem: [CA] } }).post(command());
      assert.deepEqual(trusted, { kind: 'response', status: 200, body: '{"results":[]}' });
      assert.equal(requests.length, 1);
      assert.ok(requests[0]!.startsWith(`POST /shares HTTP/1.1\r\nHost: localhost:${port}\r\n`), requests[0]);
      const untrusted = await createSharePoster({ url: `https://localhost:${port}/shares` }).post(command());
      assert.equal(untrusted.kind, 'transport_error', JSON.stringify(untrusted));
      assert.equal(requests.length, 1, 'nothing was sent to the untrusted server');
    } finally {
      server.close();
    }
  });
});

describe('HTTP/1.1 response reader (core/forwarding/http1.ts)', () => {
  test('bounded: a body past bodyBytesMax is cut and flagged; an endless header is an error', () => {
    const reader = new Http1ResponseReader(4);
    const r = reader.receive(new TextEncoder().encode('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'));
    assert.equal(r.kind, 'response');
    if (r.kind === 'response') {
      assert.equal(new TextDecoder().decode(r.response.body), '0123');
      assert.equal(r.response.truncated, true);
    }
    const long = new Http1ResponseReader(10).receive(new TextEncoder().encode(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(17000)}`));
    assert.equal(long.kind, 'error');
    const bad = new Http1ResponseReader(10).receive(new TextEncoder().encode('SMTP 220 hello\r\n\r\n'));
    assert.equal(bad.kind, 'error');
    const cut = new Http1ResponseReader(10);
    assert.equal(cut.receive(new TextEncoder().encode('HTTP/1.1 200 OK\r\n')).kind, 'need-more');
    assert.equal(cut.end().kind, 'error');
  });
});
