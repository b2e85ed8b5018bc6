// Everything `reservegrid run` starts, wired from one typed Config (SPEC §3–§4, §10–§12):
//
//   TemplateSource ──(TemplatePoller, every upstream_poll_interval_ms, and at once after one of
//                     our blocks was accepted)──▶ Gateway (core)
//   miners ⇄ TCP ⇄ GatewayServer (the pump) ⇄ Gateway ──submit_block──▶ BlockExecutor ──▶ source
//   Gateway events ──stamped by the pump──▶ event log (JSON lines) and `onEvent`
//
// The same on Node, Deno and Bun: the runtime specifics are the TCP adapter (adapters/net),
// the crypto provider (adapters/crypto-native.ts) and, for the cookie file, node:fs/promises,
// which all three implement.
//
// Stop (SIGINT/SIGTERM in `run`): stop polling, `gateway.shutdown` (CloseChannel 'shutdown' to
// every channel, acks flushed, new connections refused), pump until found blocks are settled or
// `timing.shutdown_drain_timeout_ms` passes, close the listener and sockets, flush the log.
import { readFile as readFileAsync } from 'node:fs/promises';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../core/config/schema.ts';
import type { CryptoProvider } from '../core/crypto/provider.ts';
import type { Gateway } from '../core/gateway/gateway.ts';
import { createGateway, type GatewayDeps } from '../core/gateway/create.ts';
import { decodeAuthoritySecretKey } from '../core/noise/keys.ts';
import { ResponderIdentity } from '../core/noise/handshake.ts';
import type { RandomSource } from '../core/random.ts';
import { BitcoindRpc, type BitcoindAuth } from './bitcoind-rpc.ts';
import { BlockExecutor } from './block-executor.ts';
import { selectCryptoProvider } from './crypto-native.ts';
import { createEventLog, type EventLog } from './event-log.ts';
import { serveGateway, type GatewayServer, type StampedEvent } from './gateway-server.ts';
import type { ListenTcp } from './net/index.ts';
import { TemplatePoller } from './template-poller.ts';
import type { TemplateSource } from './template-source.ts';

export interface GatewayStackOptions {
  readonly config: Config;
  /** Where templates come from; default: BitcoindRpc from gateway.upstream_url and [upstream]. */
  readonly templateSource?: TemplateSource;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Default: selectCryptoProvider('auto') (native where it passed its self-test). */
  readonly provider?: CryptoProvider;
  /** Every stamped event, in order, after the event log got it. Must not throw. */
  readonly onEvent?: (event: StampedEvent) => void;
  /** The runtime's TCP adapter; default adapters/net/index.ts. */
  readonly listenTcp?: ListenTcp;
  /**
   * Write events to gateway.event_log_path (JSON lines; "-" = stdout). Default true. Tests and
   * the demo, which take events through `onEvent`, pass false.
   */
  readonly eventLog?: boolean;
  /** Writer for event_log_path "-" (CliIo.stdout). Default: file descriptor 1. */
  readonly stdout?: (text: string) => void;
  /** Reads upstream.rpc_cookie_file. Default: node:fs/promises readFile (utf8). */
  readonly readFile?: (path: string) => Promise<string>;
  /** Core options without a config key (tests, benchmarks). */
  readonly gatewayDeps?: Pick<GatewayDeps, 'channels' | 'eventQueueMax'>;
}

export interface GatewayStack {
  readonly gateway: Gateway;
  readonly server: GatewayServer;
  readonly poller: TemplatePoller;
  readonly executor: BlockExecutor;
  readonly templateSource: TemplateSource;
  /** Where miners connect: the configured host and the bound port (the kernel's if 0). */
  readonly address: { readonly host: string; readonly port: number };
  /** `stratum2+tcp://HOST:PORT/AUTHORITY_PUBLIC_KEY`; a wildcard listen host is shown as 127.0.0.1. */
  readonly sv2Url: string;
  /** Null when eventLog is false. */
  readonly eventLog: EventLog | null;
  /** Graceful stop (see the header). Idempotent; resolves when everything is closed. */
  stop(): Promise<void>;
}

/** Extra time past shutdown_drain_timeout_ms for the pump to see the gateway stop. */
const STOP_MARGIN_MS = 1000;

export async function startGatewayStack(options: GatewayStackOptions): Promise<GatewayStack> {
  if (options === null || typeof options !== 'object') throw new TypeError(`startGatewayStack: options must be an object, got ${String(options)}`);
  const { config, clock, random } = options;
  const listen = parseListenAddr(config.gateway.listen_addr);
  const provider = options.provider ?? selectCryptoProvider('auto');
  const templateSource = options.templateSource ?? templateSourceFromConfig(config, options.readFile ?? ((path) => readFileAsync(path, 'utf8')));
  const identity = responderIdentityFromConfig(config, random);

  const gateway = createGateway(config, {
    provider,
    random,
    identity,
    nowMs: clock.monotonicMs(),
    ...options.gatewayDeps,
  });

  const eventLog =
    options.eventLog === false
      ? null
      : createEventLog({
          path: config.gateway.event_log_path,
          maxBytes: config.gateway.event_log_max_bytes,
          maxFiles: config.gateway.event_log_max_files,
          ...(options.stdout === undefined ? {} : { stdout: options.stdout }),
        });
  const userOnEvent = options.onEvent;
  let poller: TemplatePoller | undefined;
  const onEvent = (event: StampedEvent): void => {
    eventLog?.write(event);
    // Our block is the node's new tip: fetch the template on top of it now rather than at the
    // next poll, so miners switch prevhash without waiting up to a poll interval.
    if (event.type === 'block_submit_result' && event.result === 'accepted') void poller?.pollNow();
    if (userOnEvent !== undefined) {
      try {
        userOnEvent(event);
      } catch {
        // A faulty observer must not break the pump (its contract says "must not throw").
      }
    }
  };

  // The server is created after the executor needs it; `service` forwards to it once it exists.
  let server: GatewayServer | undefined;
  const service = (): void => server?.service();
  const executor = new BlockExecutor({ source: templateSource, gateway, clock, onGatewayInput: service });
  server = await serveGateway({
    gateway,
    clock,
    listen: { host: listen.bindHost, port: listen.port },
    onEvent,
    onCommand: (command) => executor.execute(command),
    ...(options.listenTcp === undefined ? {} : { listenTcp: options.listenTcp }),
  });
  poller = new TemplatePoller({
    source: templateSource,
    gateway,
    clock,
    pollIntervalMs: config.timing.upstream_poll_interval_ms,
    backoffInitialMs: config.upstream.retry_backoff_initial_ms,
    backoffMaxMs: Math.max(config.upstream.retry_backoff_initial_ms, config.timing.reconnect_backoff_max_ms),
    onGatewayInput: service,
  });
  poller.start();

  const address = { host: listen.urlHost, port: server.port };
  const sv2Url = `stratum2+tcp://${listen.wildcard ? '127.0.0.1' : listen.urlHost}:${server.port}/${config.noise.authority_public_key}`;
  let stopping: Promise<void> | undefined;
  const runningServer = server;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      runningPoller.stop();
      try {
        await runningServer.shutdown(config.timing.shutdown_drain_timeout_ms + STOP_MARGIN_MS);
      } finally {
        executor.stop();
        eventLog?.close();
      }
    })();
    return stopping;
  };
  const runningPoller = poller;
  return { gateway, server: runningServer, poller: runningPoller, executor, templateSource, address, sv2Url, eventLog, stop };
}

/** BitcoindRpc from gateway.upstream_url and [upstream] (cookie file, else user/password). */
export function templateSourceFromConfig(config: Config, readFile: (path: string) => Promise<string>): BitcoindRpc {
  const url = config.gateway.upstream_url;
  if (url === 'embedded') {
    throw new TypeError('gateway.upstream_url = "embedded" names the demo\'s local chain: pass its TemplateSource to startGatewayStack (reservegrid demo does)');
  }
  const up = config.upstream;
  let auth: BitcoindAuth;
  if (up.rpc_cookie_file !== undefined) auth = { kind: 'cookie', cookieFile: up.rpc_cookie_file, readFile };
  else if (up.rpc_user !== undefined && up.rpc_password !== undefined) auth = { kind: 'userpass', user: up.rpc_user, password: up.rpc_password };
  else throw new TypeError('upstream: set rpc_cookie_file, or rpc_user and rpc_password, to reach gateway.upstream_url');
  return new BitcoindRpc({ url, auth, timeoutMs: up.request_timeout_ms });
}

/** The Noise responder identity: a fresh static key per boot, certified by noise.authority_secret_key. */
export function responderIdentityFromConfig(config: Config, random: RandomSource): ResponderIdentity {
  const secret = decodeAuthoritySecretKey(config.noise.authority_secret_key);
  // The config schema validated the key already; a failure here is a bug, so it throws (without
  // the secret: the decoder's messages never quote it).
  if (!secret.ok) throw new TypeError(`noise.authority_secret_key: ${secret.error.message}`);
  return new ResponderIdentity({
    authoritySecretKey: secret.value,
    validitySecs: config.noise.certificate_validity_secs,
    backdateSecs: config.noise.certificate_backdate_secs,
    random,
  });
}

/** `host:port` (host may be a bracketed IPv6 literal) as the schema accepts it. */
export function parseListenAddr(text: string): { bindHost: string; urlHost: string; port: number; wildcard: boolean } {
  const colon = text.lastIndexOf(':');
  const port = Number(text.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`listen address must be host:port, got ${JSON.stringify(text)}`);
  const urlHost = text.slice(0, colon);
  const bindHost = urlHost.startsWith('[') && urlHost.endsWith(']') ? urlHost.slice(1, -1) : urlHost;
  return { bindHost, urlHost, port, wildcard: bindHost === '0.0.0.0' || bindHost === '::' };
}
