// A real gateway on a loopback socket for integration tests, built the way `reservegrid run`
// builds it: TOML config → loadConfig → createGateway → serveGateway (core/gateway/create.ts,
// adapters/gateway-server.ts). Tests connect our SV2 client (adapters/fleet.ts MinerConnection)
// or, for bad-input tests, a RawNoiseClient that completes Noise NX with core's initiator and
// then writes whatever bytes the test wants (truncated payloads, corrupted MACs, oversized
// headers). Only node:fs / node:url and the runtime's TCP adapter: runs on node, deno and bun.
import { readFileSync } from 'node:fs';
import { seed } from '../harness.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { loadConfig, type Config } from '../../core/config/index.ts';
import { generateAuthorityKeyPair, NoiseInitiatorConnection, ResponderIdentity } from '../../core/noise/index.ts';
import { decodeMessage, encodeMessage, type Sv2Message } from '../../core/codec/index.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import type { ChannelsSettings } from '../../core/channels/index.ts';
import { createGateway, type Gateway } from '../../core/gateway/index.ts';
import { connectTcp, type TcpCloseInfo, type TcpSocket } from '../../adapters/net/index.ts';
import { serveGateway, type GatewayServer, type ProxyProtocolOptions, type StampedEvent } from '../../adapters/gateway-server.ts';
import { sleep, until } from './wait.ts';
import { MinerConnection } from '../../adapters/fleet.ts';

export { sleep, until };

export const HOST = '127.0.0.1';
/** Bound on one awaited step (a reply, an event); generous for a loaded 2-core machine. */
export const STEP_MS = 10_000;



// ---- templates ---------------------------------------------------------------------------------

const GBT = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as Record<string, unknown>;
let templateCounter = 0n;

/** nbits with a network target of 2^232: a CPU share is a block with probability ≈ 2^-20. */
export const HARD_BITS = '1e00ffff';

/**
 * The recorded btcd template (real transactions and fees) with `bits` replaced and the previous
 * block hash set to `prevIndex` (display hex), so each index is a distinct prevhash.
 */
export function fixtureTemplate(prevIndex: number, bits = HARD_BITS): BlockTemplate {
  const json = JSON.parse(JSON.stringify(GBT)) as Record<string, unknown>;
  delete json['target'];
  json['bits'] = bits;
  json['previousblockhash'] = prevIndex.toString(16).padStart(64, '0');
  templateCounter += 1n;
  const parsed = parseGetBlockTemplate(json, { templateId: templateCounter });
  if (!parsed.ok) throw new Error(`fixture template did not parse: ${parsed.error.message}`);
  return parsed.value;
}

// ---- the gateway ---------------------------------------------------------------------------------

type TomlValue = string | number | boolean;

export interface GatewayUnderTestOptions {
  /** Added to the harness seed: keys, ephemeral keys and extranonce boot nonce. */
  readonly salt: number;
  /** Config keys over the base below, e.g. `{ 'gateway.max_connections': 2 }`. */
  readonly config?: Readonly<Record<string, TomlValue>>;
  /** Channel limits with no config key (core/channels ChannelsSettings), e.g. shareAckDelayMs. */
  readonly channels?: Partial<ChannelsSettings>;
  /** adapters/gateway-server.ts outboundBytesMax. */
  readonly outboundBytesMax?: number;
  /** adapters/gateway-server.ts proxyProtocol (PROXY v2 before Noise). */
  readonly proxyProtocol?: ProxyProtocolOptions;
}

/**
 * The base config: observe mode, open auth, and a negligible `mining.min_difficulty` (1e-12; the
 * schema wants > 0) so a channel's initial target follows SRI's formula from its nominal hash
 * rate alone (SV2.md §5.3):
 * nominal_hash_rate 1 H/s at 6 shares/min gives target ≈ 2^256/11 (easy: about one hash in 11
 * is a share), while a huge nominal rate is clamped at `mining.max_difficulty` (hard: no CPU
 * hash ever meets it). vardiff is off so targets stay put during a test.
 */
const BASE_CONFIG: Readonly<Record<string, TomlValue>> = {
  'gateway.mode': 'observe',
  'gateway.id': 9,
  'gateway.listen_addr': '127.0.0.1:0',
  'gateway.verifier_addr': 'embedded',
  'gateway.upstream_url': 'http://127.0.0.1:9',
  'gateway.upstream_failure_policy': 'permit_all',
  'gateway.http_api_key': 'test-api-key-0123456789',
  'gateway.max_connections': 100,
  'gateway.max_frame_payload_bytes': 65_536,
  'timing.handshake_timeout_ms': 10_000,
  'timing.job_broadcast_interval_ms': 20,
  'timing.nonce_expire_secs': 60,
  'timing.shutdown_drain_timeout_ms': 500,
  'share.share_upstream_url': 'http://127.0.0.1:9/shares',
  'share.share_upstream_secret': 'test-share-secret-0123456789',
  'auth.mode': 'open',
  'mining.pool_tag': 'RG-e2e',
  'mining.min_difficulty': 1e-12,
  'mining.max_difficulty': 1e12,
  'mining.shares_per_minute': 6,
  'mining.vardiff_enabled': false,
  'mining.share_ack_batch_size': 1,
  'upstream.rpc_user': 'test',
  'upstream.rpc_password': 'test-rpc-password',
};

function tomlOf(values: Readonly<Record<string, TomlValue>>, authority: { publicKey: string; secretKeyText: string }): string {
  const sections = new Map<string, string[]>();
  const put = (section: string, line: string): void => {
    if (!sections.has(section)) sections.set(section, []);
    sections.get(section)!.push(line);
  };
  for (const [path, value] of Object.entries(values)) {
    const dot = path.indexOf('.');
    if (dot <= 0) throw new TypeError(`config key must be section.key, got ${JSON.stringify(path)}`);
    put(path.slice(0, dot), `${path.slice(dot + 1)} = ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
  }
  put('noise', `authority_public_key = ${JSON.stringify(authority.publicKey)}`);
  put('noise', `authority_secret_key = ${JSON.stringify(authority.secretKeyText)}`);
  put('mining', 'payout = [ { script_hex = "0014751e76e8199196d454941c45d1b3a323f1433bd6", weight = 1 } ]');
  return [...sections].map(([name, lines]) => `[${name}]\n${lines.join('\n')}\n`).join('\n');
}

export type ConnectionClosedEvent = Extract<StampedEvent, { type: 'connection_closed' }>;

export interface GatewayUnderTest {
  readonly config: Config;
  readonly gateway: Gateway;
  readonly server: GatewayServer;
  readonly clock: SystemClock;
  readonly events: StampedEvent[];
  readonly authorityXOnly: Uint8Array;
  /** Feed a template and pump the outputs. */
  template(template: BlockTemplate): void;
  /** A MinerConnection (our SV2 client) to this gateway; aborted by close(). */
  miner(options?: { requestExtensions?: number[] }): Promise<MinerConnection>;
  /** A socket that completes Noise and then sends what the test wants; aborted by close(). */
  raw(): Promise<RawNoiseClient>;
  /** A plain TCP socket; aborted by close(). */
  tcp(): Promise<TcpSocket>;
  eventsOf<T extends StampedEvent['type']>(type: T): Extract<StampedEvent, { type: T }>[];
  /** The connection_closed event of `connId`, waited for. */
  closedEvent(connId: number): Promise<ConnectionClosedEvent>;
  close(): Promise<void>;
}

export async function startGatewayUnderTest(options: GatewayUnderTestOptions): Promise<GatewayUnderTest> {
  const clock = new SystemClock();
  const random = new SeededRandom(seed + options.salt);
  const authority = generateAuthorityKeyPair(random);
  const toml = tomlOf({ ...BASE_CONFIG, ...options.config }, authority);
  const loaded = loadConfig({ tomlText: toml, fileName: 'gateway-under-test.toml', env: {} });
  if (!loaded.ok) throw new Error(`test config does not load: ${loaded.problems.map((p) => p.message).join('; ')}`);
  const config = loaded.config;
  const identity = new ResponderIdentity({
    authoritySecretKey: authority.secretKey,
    validitySecs: config.noise.certificate_validity_secs,
    backdateSecs: config.noise.certificate_backdate_secs,
    random,
  });
  const gateway = createGateway(config, {
    provider: nobleProvider,
    random,
    identity,
    nowMs: clock.monotonicMs(),
    ...(options.channels === undefined ? {} : { channels: options.channels }),
  });
  const events: StampedEvent[] = [];
  const server = await serveGateway({
    gateway,
    clock,
    listen: { host: HOST, port: 0 },
    onEvent: (e) => events.push(e),
    ...(options.outboundBytesMax === undefined ? {} : { outboundBytesMax: options.outboundBytesMax }),
    ...(options.proxyProtocol === undefined ? {} : { proxyProtocol: options.proxyProtocol }),
  });
  const miners: MinerConnection[] = [];
  const raws: RawNoiseClient[] = [];
  const sockets: TcpSocket[] = [];
  let clientSalt = 0;
  const eventsOf = <T extends StampedEvent['type']>(type: T): Extract<StampedEvent, { type: T }>[] =>
    events.filter((e) => e.type === type) as Extract<StampedEvent, { type: T }>[];
  return {
    config,
    gateway,
    server,
    clock,
    events,
    authorityXOnly: authority.publicKeyXOnly,
    template: (template) => {
      gateway.templateUpdated(template, clock.monotonicMs());
      server.service();
    },
    miner: async (minerOptions = {}) => {
      const miner = await MinerConnection.connect({
        host: HOST,
        port: server.port,
        clock,
        random: new SeededRandom(seed + options.salt + 1000 + clientSalt++),
        certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly },
        client: { requestExtensions: minerOptions.requestExtensions ?? [] },
      });
      miners.push(miner);
      return miner;
    },
    raw: async () => {
      const raw = await RawNoiseClient.connect({ port: server.port, authorityXOnly: authority.publicKeyXOnly, clock, random: new SeededRandom(seed + options.salt + 2000 + clientSalt++) });
      raws.push(raw);
      return raw;
    },
    tcp: async () => {
      const socket = await connectTcp({ host: HOST, port: server.port });
      sockets.push(socket);
      return socket;
    },
    eventsOf,
    closedEvent: (connId) => until(`connection_closed of conn ${connId}`, STEP_MS, () => eventsOf('connection_closed').find((e) => e.conn_id === connId)),
    close: async () => {
      for (const m of miners) m.abort();
      for (const r of raws) r.abort();
      for (const s of sockets) s.abort();
      await server.close();
    },
  };
}

/**
 * The health check after bad input: a fresh miner completes Noise + SetupConnection, opens a
 * standard channel and receives a future job and the SetNewPrevHash that activates it. Needs a
 * template fed before. Closes the miner afterwards.
 */
export async function assertStillServes(world: GatewayUnderTest): Promise<void> {
  const miner = await world.miner();
  try {
    await miner.nextEvent('setup_success', STEP_MS);
    const request = miner.client.openStandardChannel({ userIdentity: 'health.check', nominalHashRate: 1 });
    miner.flush();
    const opened = await miner.nextEvent('channel_opened', STEP_MS, (e) => e.request_id === request);
    const job = await miner.nextEvent('new_job', STEP_MS, (e) => e.channel_id === opened.channel_id);
    const prev = await miner.nextEvent('new_prev_hash', STEP_MS, (e) => e.channel_id === opened.channel_id);
    if (!job.future || prev.job_id !== job.job_id || miner.client.work(opened.channel_id) === undefined) {
      throw new Error(`health check: expected a future job activated by SetNewPrevHash, got job ${JSON.stringify(job)} / prev ${JSON.stringify(prev)}`);
    }
  } finally {
    miner.close();
  }
}

// ---- a raw Noise client ----------------------------------------------------------------------

/**
 * Core's Noise initiator over a real socket, without the MiningClient on top: the test decides
 * every byte after the handshake. `seal(frame)` encrypts a plaintext SV2 frame and returns the
 * ciphertext WITHOUT sending it, so a test can corrupt or cut it before `writeRaw`.
 */
export class RawNoiseClient {
  readonly socket: TcpSocket;
  readonly noise: NoiseInitiatorConnection;
  readonly received: Sv2Message[] = [];
  readonly #clock: SystemClock;
  #bytesReceived = 0;
  #closeInfo: TcpCloseInfo | undefined;
  #handshakeDone = false;
  #decodeErrors: string[] = [];

  private constructor(socket: TcpSocket, noise: NoiseInitiatorConnection, clock: SystemClock) {
    this.socket = socket;
    this.noise = noise;
    this.#clock = clock;
    socket.onData((bytes) => {
      this.#bytesReceived += bytes.length;
      this.noise.receive(bytes, this.#clock.monotonicMs());
      for (let e = this.noise.pollEvent(); e !== undefined; e = this.noise.pollEvent()) {
        if (e.type === 'handshake-complete') this.#handshakeDone = true;
        else if (e.type === 'frame') {
          const decoded = decodeMessage(e.frame);
          if (decoded.ok) this.received.push(decoded.value);
          else this.#decodeErrors.push(decoded.error.message);
        }
      }
      this.#flush();
    });
    socket.onClose((info) => (this.#closeInfo = info));
  }

  static async connect(options: { port: number; authorityXOnly: Uint8Array; clock: SystemClock; random: SeededRandom }): Promise<RawNoiseClient> {
    const socket = await connectTcp({ host: HOST, port: options.port });
    const noise = new NoiseInitiatorConnection(
      { provider: nobleProvider, random: options.random, certificatePolicy: { kind: 'pinned', authorityXOnly: options.authorityXOnly }, wallClock: options.clock },
      options.clock.monotonicMs(),
    );
    const client = new RawNoiseClient(socket, noise, options.clock);
    client.#flush(); // act 1
    return client;
  }

  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /** Set once the server closed (or the socket failed). */
  get closeInfo(): TcpCloseInfo | undefined {
    return this.#closeInfo;
  }

  async handshake(): Promise<void> {
    await until('Noise handshake', STEP_MS, () => (this.#handshakeDone ? true : undefined));
  }

  /** Handshake, SetupConnection (Mining, v2), and wait for .Success. */
  async setup(): Promise<void> {
    await this.handshake();
    this.send({
      type: 'SetupConnection', protocol: 0, minVersion: 2, maxVersion: 2, flags: 0,
      endpointHost: HOST, endpointPort: 0, vendor: 'raw-test', hardwareVersion: '', firmware: '', deviceId: 'raw',
    });
    await this.nextMessage('SetupConnectionSuccess');
  }

  /** Encrypt and send one well-formed message. */
  send(message: Sv2Message): void {
    this.writeRaw(this.seal(encodeMessage(message)));
  }

  /** The ciphertext of one plaintext frame (6-byte header ‖ payload), not sent. */
  seal(plaintextFrame: Uint8Array): Uint8Array {
    const sent = this.noise.send(plaintextFrame);
    if (!sent.ok) throw new Error(`seal: ${sent.error.message}`);
    const bytes = this.noise.pollTransmit();
    if (bytes === undefined) throw new Error('seal: nothing to transmit');
    return bytes;
  }

  writeRaw(bytes: Uint8Array): void {
    if (this.#closeInfo === undefined) this.socket.write(bytes);
  }

  nextMessage<T extends Sv2Message['type']>(type: T): Promise<Extract<Sv2Message, { type: T }>> {
    return until(`${type} from the gateway`, STEP_MS, () => {
      if (this.#decodeErrors.length > 0) throw new Error(`undecodable frame from the gateway: ${this.#decodeErrors[0]}`);
      const index = this.received.findIndex((m) => m.type === type);
      return index < 0 ? undefined : (this.received.splice(index, 1)[0] as Extract<Sv2Message, { type: T }>);
    });
  }

  /** Resolves with the close info once the server has closed the socket. */
  closedByServer(): Promise<TcpCloseInfo> {
    return until('the server to close the socket', STEP_MS, () => this.#closeInfo);
  }

  abort(): void {
    this.socket.abort();
  }

  #flush(): void {
    for (let b = this.noise.pollTransmit(); b !== undefined; b = this.noise.pollTransmit()) this.writeRaw(b);
  }
}

/** A plaintext SV2 frame header built by hand from SV2.md §1.1 (ext U16 LE, type U8, length U24 LE). */
export function frameHeader(extensionType: number, msgType: number, msgLength: number): Uint8Array {
  return Uint8Array.of(extensionType & 0xff, extensionType >>> 8, msgType, msgLength & 0xff, (msgLength >>> 8) & 0xff, msgLength >>> 16);
}
