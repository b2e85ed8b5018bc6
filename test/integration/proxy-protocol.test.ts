// PROXY protocol v2 on the miner port over real loopback sockets (issue 13 item 3), on node,
// deno and bun: the real gateway and pump (test/support/gateway-under-test.ts) with
// `proxyProtocol` on, reached by
//  - our own "load balancer": a miner whose socket first writes a v2 header built from the
//    haproxy spec's layout (core encodeProxyHeaderV2 is checked against the spec's vectors in
//    test/unit/proxy-protocol.test.ts), naming documentation addresses (RFC 5737) as clients;
//  - raw sockets sending garbage, v1 text, an oversized length, a truncated header (FIN, and a
//    stall until the header timeout), and a header from an untrusted peer;
//  - a real HAProxy (Debian's haproxy, `send-proxy-v2`) when it is installed: skipped with a
//    reason otherwise, unless RG_REQUIRE_HAPROXY=1 (.ci/run installs it and sets that).
// Each refusal is checked by its reason code in the connection_refused event and by the
// /metrics counter computed from the events; after them a miner still mines.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, readEnv, runtime, seed, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { ShareFinder } from '../../core/client/index.ts';
import { SeededRandom } from '../../core/random.ts';
import { encodeProxyHeaderV2, parseCidr, PROXY_V2_SIGNATURE } from '../../core/gateway/proxy-protocol.ts';
import { MinerConnection } from '../../adapters/fleet.ts';
import { connectTcp, type TcpCloseInfo, type TcpSocket } from '../../adapters/net/index.ts';
import { fixtureTemplate, HOST, sleep, STEP_MS, startGatewayUnderTest, until, type GatewayUnderTest } from '../support/gateway-under-test.ts';
import { metricsOf, sampleValue } from '../support/hostile.ts';
import { freeLoopbackPort } from '../support/btcd.ts';

const TEST_TIMEOUT_MS = 60_000;
const LOOPBACK = [parseCidr('127.0.0.0/8')!];

let minerSalt = 0;

/** A miner whose connection starts with `header` (what a load balancer would write). */
async function minerVia(world: GatewayUnderTest, port: number, header: Uint8Array | null): Promise<MinerConnection> {
  return MinerConnection.connect({
    host: HOST,
    port,
    clock: world.clock,
    random: new SeededRandom(seed + 13_000 + minerSalt++),
    certificatePolicy: { kind: 'pinned', authorityXOnly: world.authorityXOnly },
    client: { requestExtensions: [] },
    connectTcp: async (address) => {
      const socket = await connectTcp(address);
      if (header !== null) socket.write(header);
      return socket;
    },
  });
}

/** Job, share, ack: the miner really mines on this connection. Closes it afterwards. */
async function mineOnce(miner: MinerConnection, identity: string): Promise<void> {
  try {
    await miner.nextEvent('setup_success', STEP_MS);
    const request = miner.client.openStandardChannel({ userIdentity: identity, nominalHashRate: 1 });
    miner.flush();
    const opened = await miner.nextEvent('channel_opened', STEP_MS, (e) => e.request_id === request);
    await miner.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === opened.channel_id);
    const work = miner.client.work(opened.channel_id)!;
    const found = new ShareFinder(work).search(1 << 16).share!;
    const seq = miner.client.submitShare(opened.channel_id, { jobId: work.jobId, nonce: found.nonce, ntime: found.ntime, version: found.version });
    miner.flush();
    const ack = await miner.nextEvent('shares_accepted', STEP_MS, (e) => e.channel_id === opened.channel_id);
    assert.equal(ack.last_sequence_number, seq);
  } finally {
    miner.close();
  }
}

const proxied = (address: string, port: number): Uint8Array =>
  encodeProxyHeaderV2({ command: 'proxy', family: address.includes(':') ? 'inet6' : 'inet', source: { address, port }, destination: { address: address.includes(':') ? '2001:db8::ffff' : '192.0.2.254', port: 3333 } });

async function rawSocket(world: GatewayUnderTest): Promise<{ socket: TcpSocket; closed: () => TcpCloseInfo | undefined; received: () => number }> {
  const socket = await connectTcp({ host: HOST, port: world.server.port });
  let closed: TcpCloseInfo | undefined;
  let received = 0;
  socket.onClose((info) => (closed = info));
  socket.onData((b) => (received += b.length));
  return { socket, closed: () => closed, received: () => received };
}

const refusals = (world: GatewayUnderTest): string[] => world.eventsOf('connection_refused').map((e) => e.reason_code);

describe(`PROXY protocol v2 on the miner port (${runtime})`, () => {
  test('miners behind a balancer are seen, limited and logged by the address in the header', async () => {
    const world = await startGatewayUnderTest({
      salt: 1301,
      config: { 'limits.max_connections_per_ip': 1 },
      proxyProtocol: { trustedSources: LOOPBACK, headerTimeoutMs: 5000, maxConnections: 100 },
    });
    try {
      world.template(fixtureTemplate(1));
      // Two clients "behind" the balancer, IPv4 and IPv6: both mine; the events name them.
      await mineOnce(await minerVia(world, world.server.port, proxied('198.51.100.7', 40001)), 'behind.v4');
      await mineOnce(await minerVia(world, world.server.port, proxied('2001:db8::7', 40002)), 'behind.v6');
      const opened = world.eventsOf('connection_opened').map((e) => e.remote_address);
      assert.deepEqual(opened, ['198.51.100.7:40001', '2001:db8::7:40002']);
      // Per-IP limits (limits.max_connections_per_ip = 1) apply to the real client: every TCP
      // connection comes from 127.0.0.1, yet only the second from 203.0.113.5 is refused.
      const first = await minerVia(world, world.server.port, proxied('203.0.113.5', 1));
      await first.nextEvent('setup_success', STEP_MS);
      const second = await rawSocket(world);
      second.socket.write(proxied('203.0.113.5', 2));
      await until('second connection from 203.0.113.5 refused', STEP_MS, () => (refusals(world).includes('connection_limit_per_ip') ? true : undefined));
      const refused = world.eventsOf('connection_refused').find((e) => e.reason_code === 'connection_limit_per_ip')!;
      assert.equal(refused.remote_address, '203.0.113.5:2');
      await mineOnce(await minerVia(world, world.server.port, proxied('203.0.113.6', 3)), 'other.ip');
      first.close();
      // LOCAL (a balancer's health check): accepted under the socket's own address.
      const check = await rawSocket(world);
      check.socket.write(encodeProxyHeaderV2({ command: 'local', family: 'unspec' }));
      await until('health check connection opened', STEP_MS, () => (world.eventsOf('connection_opened').length === 5 ? true : undefined));
      assert.match(world.eventsOf('connection_opened')[4]!.remote_address!, /^127\.0\.0\.1:\d+$/);
      check.socket.close();
      // Six valid headers: the per-IP refusal came after its header was read.
      assert.equal(world.server.stats.proxyHeadersAccepted, 6);
    } finally {
      await world.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  test('garbage, v1 text, oversize length, truncated (FIN and stall) and untrusted headers are refused with their codes and counted', async () => {
    const headerTimeoutMs = 400;
    const world = await startGatewayUnderTest({
      salt: 1302,
      proxyProtocol: { trustedSources: LOOPBACK, headerTimeoutMs, maxConnections: 100 },
    });
    // A second gateway trusting only a balancer that is not us: our header is untrusted there.
    const strict = await startGatewayUnderTest({
      salt: 1303,
      proxyProtocol: { trustedSources: [parseCidr('192.0.2.1')!], headerTimeoutMs, maxConnections: 100 },
    });
    try {
      world.template(fixtureTemplate(1));
      strict.template(fixtureTemplate(1));
      const cases: [string, Uint8Array, boolean][] = [
        ['proxy_header_invalid', new Uint8Array(64).fill(0xa1), false], // a Noise act 1 without a header
        ['proxy_header_invalid', new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), false],
        ['proxy_header_v1', new TextEncoder().encode('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'), false],
        ['proxy_header_too_large', Uint8Array.from([...PROXY_V2_SIGNATURE, 0x21, 0x11, 0xff, 0xff]), false],
        ['proxy_header_incomplete', proxied('198.51.100.9', 9).subarray(0, 20), true], // then FIN
        ['proxy_header_incomplete', proxied('198.51.100.9', 10).subarray(0, 10), false], // then silence
      ];
      const probes: Awaited<ReturnType<typeof rawSocket>>[] = [];
      for (const [, bytes, fin] of cases) {
        const p = await rawSocket(world);
        p.socket.write(bytes);
        if (fin) p.socket.close();
        probes.push(p);
      }
      await until('six refusals', STEP_MS, () => (world.eventsOf('connection_refused').length === 6 ? true : undefined));
      assert.deepEqual([...refusals(world)].sort(), cases.map(([code]) => code).sort());
      await until('refused sockets closed by the gateway', STEP_MS, () => (probes.every((p, i) => cases[i]![2] || p.closed() !== undefined) ? true : undefined));
      assert.ok(probes.every((p) => p.received() === 0), 'nothing is sent to a refused connection (no Noise act 2)');
      assert.equal(world.eventsOf('connection_opened').length, 0, 'the gateway never saw them');
      const metrics = metricsOf(world);
      for (const [code, n] of [['proxy_header_invalid', 2], ['proxy_header_v1', 1], ['proxy_header_too_large', 1], ['proxy_header_incomplete', 2]] as const) {
        assert.equal(sampleValue(metrics, 'reservegrid_connections_refused_total', { reason_code: code }), n, code);
      }
      assert.equal(world.server.stats.proxyHeadersRefused, 6);
      for (const e of world.eventsOf('connection_refused')) assert.ok(typeof e.detail === 'string' && e.detail.length > 0, `detail on ${e.reason_code}`);
      await mineOnce(await minerVia(world, world.server.port, proxied('198.51.100.10', 11)), 'still.mines');

      // Untrusted peer: a direct miner is served as itself; a header from it is refused.
      await mineOnce(await minerVia(strict, strict.server.port, null), 'direct.miner');
      assert.match(strict.eventsOf('connection_opened')[0]!.remote_address!, /^127\.0\.0\.1:\d+$/);
      const spoof = await minerVia(strict, strict.server.port, proxied('198.51.100.66', 66)).catch((e: unknown) => e);
      if (spoof instanceof MinerConnection) spoof.abort();
      await until('untrusted header refused', STEP_MS, () => (refusals(strict).includes('proxy_untrusted_source') ? true : undefined));
      assert.equal(sampleValue(metricsOf(strict), 'reservegrid_connections_refused_total', { reason_code: 'proxy_untrusted_source' }), 1);
      assert.equal(strict.eventsOf('connection_opened').length, 1);
    } finally {
      await world.close();
      await strict.close();
    }
  }, { timeoutMs: TEST_TIMEOUT_MS });

  const haproxy = findHaproxy();
  const haproxyName = 'a real HAProxy (send-proxy-v2) in front: the miner mines and the gateway sees the client address HAProxy put in the header';
  if (haproxy === null && readEnv('RG_REQUIRE_HAPROXY') !== '1') {
    test.skip(haproxyName, 'haproxy not installed (apt-get install haproxy; .ci/run does)');
  } else {
    test(haproxyName, async () => {
      if (haproxy === null) throw new Error('RG_REQUIRE_HAPROXY=1 but haproxy is not installed');
      const world = await startGatewayUnderTest({ salt: 1304, proxyProtocol: { trustedSources: LOOPBACK, headerTimeoutMs: 5000, maxConnections: 100 } });
      const dir = mkdtempSync(join(tmpdir(), 'rg-haproxy-'));
      const frontPort = await freeLoopbackPort();
      // `set-src` gives the client a documentation address (RFC 5737), so the address the gateway
      // reports can only have come from HAProxy's header (every TCP peer here is 127.0.0.1).
      const cfg = [
        'global',
        '  maxconn 100',
        'defaults',
        '  mode tcp',
        '  timeout connect 5s',
        '  timeout client 60s',
        '  timeout server 60s',
        'frontend miners',
        `  bind 127.0.0.1:${frontPort}`,
        '  tcp-request connection set-src ipv4(198.51.100.42)',
        '  default_backend gateways',
        'backend gateways',
        `  server gw1 127.0.0.1:${world.server.port} send-proxy-v2`,
        '',
      ].join('\n');
      writeFileSync(join(dir, 'haproxy.cfg'), cfg);
      const child = spawn(haproxy, ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout!.on('data', (c: Uint8Array) => void (output += new TextDecoder().decode(c)));
      child.stderr!.on('data', (c: Uint8Array) => void (output += new TextDecoder().decode(c)));
      try {
        world.template(fixtureTemplate(1));
        // HAProxy binds asynchronously: retry the connect until it listens (bounded).
        let miner: MinerConnection | undefined;
        for (let i = 0; i < 50 && miner === undefined; i++) {
          try {
            miner = await minerVia(world, frontPort, null);
          } catch {
            await sleep(100);
          }
        }
        if (miner === undefined) throw new Error(`haproxy did not listen on ${frontPort}: ${output}`);
        await mineOnce(miner, 'via.haproxy');
        const opened = world.eventsOf('connection_opened');
        assert.equal(opened.length, 1, output);
        assert.match(opened[0]!.remote_address!, /^198\.51\.100\.42:\d+$/);
        assert.equal(world.server.stats.proxyHeadersAccepted, 1);
        assert.equal(world.eventsOf('connection_refused').length, 0);
      } finally {
        child.kill('SIGKILL');
        await world.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }, { timeoutMs: TEST_TIMEOUT_MS });
  }
});

/** haproxy from $HAPROXY_BIN, PATH or /usr/sbin; null if none. */
function findHaproxy(): string | null {
  const candidates = [readEnv('HAPROXY_BIN'), ...(readEnv('PATH') ?? '').split(delimiter).map((d: string) => (d ? join(d, 'haproxy') : undefined)), '/usr/sbin/haproxy'];
  for (const path of candidates) {
    if (!path) continue;
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not this one
    }
  }
  return null;
}
