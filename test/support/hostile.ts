// Shared pieces of the hostile-client tests and the soak (issue 12 item 4–5): hand-built inputs
// that are not SV2 (an HTTP request, a TLS ClientHello), the health check that a legitimate
// miner still connects AND mines (job + accepted share), memory readings with the runtime's GC
// where it can be reached, and the gateway's /metrics text computed from its event stream the
// way adapters/gateway-stack.ts does.
import { ShareFinder } from '../../core/client/index.ts';
import { GatewayMetrics } from '../../core/metrics/gateway-metrics.ts';
import { parsePrometheusText } from './prometheus-text.ts';
import { STEP_MS, type GatewayUnderTest } from './gateway-under-test.ts';
import { sleep } from './wait.ts';
import type { Gc } from './gc.ts';

const ascii = (text: string): Uint8Array => Uint8Array.from([...text].map((c) => c.charCodeAt(0)));

/** What a browser or curl sends first (RFC 9112 §3): `bytes` long, padded in a header value. */
export function httpRequest(bytes: number): Uint8Array {
  const head = 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ';
  const tail = '\r\n\r\n';
  const pad = Math.max(0, bytes - head.length - tail.length);
  return ascii(head + 'a'.repeat(pad) + tail);
}

/**
 * A TLS 1.3 ClientHello record built from RFC 8446 §4.1.2 and §5.1: record header (handshake,
 * legacy version 0x0301), handshake header (client_hello), legacy_version 0x0303, 32 random
 * bytes, a 32-byte legacy session id, two cipher suites, null compression, and the
 * server_name (RFC 6066 §3) and supported_versions (§4.2.1) extensions. A miner port reached by
 * a TLS client (a misconfigured proxy, an HTTPS scanner) sees exactly this first.
 */
export function tlsClientHello(serverName = 'pool.example'): Uint8Array {
  const u16 = (n: number): number[] => [n >>> 8, n & 0xff];
  const name = [...ascii(serverName)];
  const sni = [0x00, 0x00, ...u16(name.length + 5), ...u16(name.length + 3), 0x00, ...u16(name.length), ...name];
  const versions = [0x00, 0x2b, ...u16(3), 2, 0x03, 0x04];
  const extensions = [...sni, ...versions];
  const random = Array.from({ length: 32 }, (_, i) => (i * 29 + 1) & 0xff);
  const session = Array.from({ length: 32 }, (_, i) => (i * 71 + 5) & 0xff);
  const body = [0x03, 0x03, ...random, 32, ...session, ...u16(4), 0x13, 0x01, 0x13, 0x02, 1, 0x00, ...u16(extensions.length), ...extensions];
  const handshake = [0x01, body.length >>> 16, (body.length >>> 8) & 0xff, body.length & 0xff, ...body];
  return Uint8Array.from([0x16, 0x03, 0x01, ...u16(handshake.length), ...handshake]);
}

/**
 * The health check after hostile input: a fresh miner completes Noise + SetupConnection, opens
 * a standard channel, receives its job, and gets a share acknowledged (SubmitShares.Success).
 * Needs a template fed before; closes the miner afterwards. Returns the ack's round trip (ms),
 * for the soak's figures only (never asserted against a wall-clock bound).
 */
export async function assertStillMines(world: GatewayUnderTest, identity = 'health.mine'): Promise<number> {
  const miner = await world.miner();
  try {
    await miner.nextEvent('setup_success', STEP_MS);
    const request = miner.client.openStandardChannel({ userIdentity: identity, nominalHashRate: 1 });
    miner.flush();
    const opened = await miner.nextEvent('channel_opened', STEP_MS, (e) => e.request_id === request);
    await miner.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === opened.channel_id);
    const work = miner.client.work(opened.channel_id);
    if (work === undefined) throw new Error('health check: no work after SetNewPrevHash');
    const found = new ShareFinder(work).search(1 << 16).share;
    if (found === undefined) throw new Error('health check: no share within 65,536 nonces on the easy target');
    const startedMs = world.clock.monotonicMs();
    const seq = miner.client.submitShare(opened.channel_id, { jobId: work.jobId, nonce: found.nonce, ntime: found.ntime, version: found.version });
    miner.flush();
    const ack = await miner.nextEvent('shares_accepted', STEP_MS, (e) => e.channel_id === opened.channel_id);
    if (ack.last_sequence_number !== seq) throw new Error(`health check: ack for sequence ${ack.last_sequence_number}, sent ${seq}`);
    return world.clock.monotonicMs() - startedMs;
  } finally {
    miner.close();
  }
}

/** The gateway's /metrics text from its events (GatewayMetrics, as the stack feeds it), parsed. */
export function metricsOf(world: GatewayUnderTest): ReturnType<typeof parsePrometheusText> {
  const metrics = new GatewayMetrics({ mode: world.config.gateway.mode });
  for (const event of world.events) metrics.observe(event);
  return parsePrometheusText(metrics.registry.render());
}

/** One sample's value (0 when the series does not exist). */
export function sampleValue(families: ReturnType<typeof parsePrometheusText>, name: string, labels: Readonly<Record<string, string>> = {}): number {
  const family = families.get(name);
  if (family === undefined) throw new Error(`no metric family ${name}`);
  const sample = family.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return sample?.value ?? 0;
}

export interface MemoryReading {
  readonly rssBytes: number;
  readonly heapBytes: number;
}

/** RSS and heap after up to three GCs (process.memoryUsage is in node:process on all three runtimes). */
export async function memoryNow(gc: Gc | undefined): Promise<MemoryReading> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(30);
  }
  const { default: process } = await import('node:process');
  const usage = process.memoryUsage();
  return { rssBytes: usage.rss, heapBytes: usage.heapUsed };
}
