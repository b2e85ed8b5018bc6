// Everything `reservegrid run` starts, wired from one typed Config (SPEC §3–§4, §10–§12):
//
//   TemplateSource ──(TemplatePoller, every upstream_poll_interval_ms, and at once after one of
//                     our blocks was accepted)──▶ Gateway (core)
//   miners ⇄ TCP ⇄ GatewayServer (the pump) ⇄ Gateway ──submit_block──▶ BlockExecutor ──▶ source
//   Gateway events ──stamped by the pump──▶ event log (JSON lines), metrics + event buffer
//                                             (the HTTP app, gateway.http_listen_addr) and `onEvent`
//   Gateway ⇄ verifier (gateway.verifier_addr: "embedded" = PolicyEngine in-process; host:port =
//             VerifierClientSession over TCP via adapters/verifier-bridge.ts), in every mode
//   share_accepted ──▶ share forwarding (adapters/share-forwarding.ts) ──signed POST──▶
//             share.share_upstream_url; its events are stamped into the same sequence and log
//   Shadow mode: the pump runs (templates, verdicts, events) but no miner listener is opened.
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
import { parseCidr } from '../core/gateway/proxy-protocol.ts';
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
import type { GatewayEvent } from '../core/gateway/events.ts';
import { EmbeddedVerifier } from '../core/policy/embedded-verifier.ts';
import { PolicyEngine, policySettingsFromConfig } from '../core/policy/engine.ts';
import type { TemplateVerifier } from '../core/policy/types.ts';
import type { ShareForwardEvent } from '../core/forwarding/types.ts';
import { attachShareForwarding, type ShareForwarding, type ShareForwardingOptions } from './share-forwarding.ts';
import { VerifierBridge } from './verifier-bridge.ts';
import { createJetStreamSharePoster, registerJetStreamMetrics, type JetStreamSharePoster, type JetStreamSinkStats, type JetStreamSinkStatus } from './share-jetstream.ts';
import { parseVerifierAddr } from './verifier-client.ts';
import { EventBuffer } from '../core/events/event-buffer.ts';
import { GatewayMetrics, type ObservableEvent } from '../core/metrics/gateway-metrics.ts';
import { buildStatus, type StatusDocument } from '../core/metrics/status.ts';
import { createHttpApp } from './http/app.ts';
import { attachProcessMetrics } from './process-metrics.ts';
import { registerWorkerMetrics, type WorkerMetrics } from './workers/metrics.ts';
import { serveHttp as serveHttpDefault, type HttpServer, type ServeHttp } from './http/index.ts';

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
  /**
   * Core options without a config key (tests, benchmarks). `verifier` replaces the one built
   * from gateway.verifier_addr ("embedded": the policy engine in-process; host:port: the TCP
   * client, adapters/verifier-bridge.ts).
   */
  readonly gatewayDeps?: Pick<GatewayDeps, 'channels' | 'eventQueueMax' | 'verifier' | 'onRelease'>;
  /**
   * false: open no miner listener — the gateway.workers leader (adapters/workers/leader.ts),
   * whose worker processes own the miner port and whose events arrive through `ingest`.
   */
  readonly minerListener?: boolean;
  /**
   * Share forwarding to share.share_upstream_url (SPEC §8, adapters/share-forwarding.ts). Default
   * on, with the crash-safe journal in gateway.data_dir. `false`: off (tools that forward
   * themselves); an object overrides the journal ('memory' for tests), the poster, attemptsMax.
   */
  readonly shareForwarding?: false | Pick<ShareForwardingOptions, 'journal' | 'poster' | 'attemptsMax'>;
  /** JetStream sink connection changes and warnings (share.sink = "jetstream"), for logs. Must not throw. */
  readonly onShareSinkStatus?: (status: JetStreamSinkStatus) => void;
  /** Verifier connection changes (host:port verifiers only), for logs. Must not throw. */
  readonly onVerifierConnection?: (state: 'connected' | 'disconnected', detail: string) => void;
  /**
   * Serve the HTTP app (/metrics, /events, /status, /healthz) on gateway.http_listen_addr.
   * `reservegrid run` and the demo pass true. Default false, so tests and tools that start
   * several stacks do not compete for the configured port; metrics, the event buffer and
   * `telemetry.status()` exist either way.
   */
  readonly http?: boolean;
  /**
   * With http: a listen failure is reported in `telemetry.httpError` instead of failing the
   * start (`run`: miners matter more than metrics). Default false (the failure throws).
   */
  readonly httpOptional?: boolean;
  /** The runtime's HTTP server; default adapters/http/index.ts. */
  readonly serveHttp?: ServeHttp;
}

/** What an operator sees: metrics, the event buffer, /status, the HTTP listener. */
export interface GatewayTelemetry {
  readonly metrics: GatewayMetrics;
  readonly events: EventBuffer<ObservableEvent>;
  /** Feed an event that did not come from the gateway pump (e.g. share forwarding). Never throws. */
  publish(event: ObservableEvent): void;
  /** Where the forwarding queue's numbers come from (adapters/share-forwarding.ts `metrics`). */
  setForwardQueueSource(source: (() => { readonly queueDepth: number; readonly queueCapacity: number; readonly inFlightShares: number; readonly unsettled: number }) | null): void;
  status(): StatusDocument;
  /** Null unless options.http is true (and, with httpOptional, the listener started). */
  readonly http: { readonly host: string; readonly port: number; readonly url: string } | null;
  /** Why the HTTP listener did not start (httpOptional only), else null. */
  readonly httpError: string | null;
  /** The socket-worker series (adapters/workers/metrics.ts); the leader's pool is their source. */
  readonly workerMetrics: WorkerMetrics;
  /** /status gets a `workers` member from this (gateway.workers ≥ 2), else none. */
  setWorkersStatus(source: (() => unknown) | null): void;
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
  /** Where Template Distribution clients connect ([template_provider], issue 10), or null. */
  readonly tdpAddress: { readonly host: string; readonly port: number } | null;
  /** Where Job Declaration clients connect ([job_declaration], issue 11), or null. */
  readonly jdAddress: { readonly host: string; readonly port: number } | null;
  /** Null when eventLog is false. */
  readonly eventLog: EventLog | null;
  /** What judges templates (gateway.verifier_addr, or gatewayDeps.verifier). */
  readonly verifier: TemplateVerifier;
  /** Null when options.shareForwarding is false. */
  readonly forwarding: ShareForwarding | null;
  readonly telemetry: GatewayTelemetry;
  /**
   * An event from elsewhere (a socket worker's gateway, adapters/workers/leader.ts): stamped into
   * this stack's sequence and handled exactly like the pump's own — journaled by the forwarder
   * (share_accepted), logged, counted, buffered, passed to `onEvent`.
   */
  ingest(event: GatewayEvent): void;
  /** Make the journal records of ingested events crash-safe now (one write), before acking them. */
  flushJournal(): void;
  /** Graceful stop (see the header). Idempotent; resolves when everything is closed. */
  stop(): Promise<void>;
}

/** Extra time past shutdown_drain_timeout_ms for the pump to see the gateway stop. */
const STOP_MARGIN_MS = 1000;

export async function startGatewayStack(options: GatewayStackOptions): Promise<GatewayStack> {
  if (options === null || typeof options !== 'object') throw new TypeError(`startGatewayStack: options must be an object, got ${String(options)}`);
  const { config, clock, random } = options;
  const listen = parseListenAddr(config.gateway.listen_addr);
  const tdpListen = config.template_provider.listen_addr === undefined ? null : parseListenAddr(config.template_provider.listen_addr);
  const jdListen = config.job_declaration.listen_addr === undefined ? null : parseListenAddr(config.job_declaration.listen_addr);
  const provider = options.provider ?? selectCryptoProvider('auto');
  const templateSource = options.templateSource ?? templateSourceFromConfig(config, options.readFile ?? ((path) => readFileAsync(path, 'utf8')));
  const identity = responderIdentityFromConfig(config, random);

  // The verifier from gateway.verifier_addr (SPEC §7), in every mode: inline enforces its
  // verdicts, observe and shadow still audit every template (SPEC §5).
  const verifierBridge =
    options.gatewayDeps?.verifier === undefined && config.gateway.verifier_addr !== 'embedded'
      ? new VerifierBridge({
          address: parseVerifierAddr(config.gateway.verifier_addr),
          clock,
          reconnectMaxMs: config.timing.reconnect_backoff_max_ms,
          ...(options.onVerifierConnection === undefined ? {} : { onConnection: options.onVerifierConnection }),
        })
      : null;
  const verifier: TemplateVerifier = options.gatewayDeps?.verifier ?? verifierBridge ?? new EmbeddedVerifier(new PolicyEngine(policySettingsFromConfig(config)));

  const gateway = createGateway(config, {
    provider,
    random,
    identity,
    nowMs: clock.monotonicMs(),
    ...options.gatewayDeps,
    verifier,
  });

  const eventLog =
    options.eventLog === false
      ? null
      : createEventLog({
          path: config.gateway.event_log_path,
          maxBytes: config.gateway.event_log_max_bytes,
          maxFiles: config.gateway.event_log_max_files,
          ...(options.stdout === undefined ? {} : { stdout: options.stdout }),
          // Journal before log, always: events of one turn (block_found, then share_accepted) may
          // queue the log's flush before the journal's, so the log flush writes the journal first.
          beforeFlush: () => forwarding?.flush(),
        });
  const userOnEvent = options.onEvent;
  let poller: TemplatePoller | undefined;
  const metrics = new GatewayMetrics({ mode: config.gateway.mode });
  attachProcessMetrics(metrics.registry);
  const eventBuffer = new EventBuffer<ObservableEvent>(config.gateway.event_buffer_size);
  const publish = (event: ObservableEvent): void => {
    try {
      metrics.observe(event);
      eventBuffer.push(event);
    } catch {
      // Observability must never break the pump.
    }
  };
  let forwarding: ShareForwarding | null = null;
  // Forwarding events are stamped by the pump's sequence and published like the gateway's. One
  // that surfaces while a gateway event is being handled (a share dropped at accept) waits until
  // that event is out, so a share_forward_result never precedes its share_accepted in the log.
  const forwardBacklog: ShareForwardEvent[] = [];
  let handlingDepth = 0;
  const flushForwardBacklog = (): void => {
    while (handlingDepth === 0 && server !== undefined && forwardBacklog.length > 0) onEvent(server.stamp(forwardBacklog.shift()! as GatewayEvent));
  };
  const onForwardEvent = (event: ShareForwardEvent): void => {
    forwardBacklog.push(event);
    flushForwardBacklog();
  };
  const onEvent = (event: StampedEvent): void => {
    handlingDepth++;
    try {
      onEventInner(event);
    } finally {
      handlingDepth--;
    }
    flushForwardBacklog();
  };
  const onEventInner = (event: StampedEvent): void => {
    // Forwarder first (adapters/share-forwarding.ts header): the share is journaled before its
    // share_accepted line is written.
    forwarding?.handleEvent(event);
    eventLog?.write(event);
    publish(event);
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

  // The HTTP app first (cheap to undo if the miner listener then fails). Its handlers read the
  // objects below lazily.
  const startedWallMs = clock.wallMs();
  // Filled in below once the JetStream poster exists (share.sink = "jetstream").
  let sinkStats: (() => JetStreamSinkStats | null) = () => null;
  const sinkStatus = (): NonNullable<Parameters<typeof buildStatus>[0]['shareSink']> => {
    const s = sinkStats();
    return { kind: config.share.sink, connected: s?.connected ?? null, published: s?.published ?? null, duplicates: s?.duplicates ?? null, failures: s?.failures ?? null };
  };
  let forwardQueue: Parameters<GatewayTelemetry['setForwardQueueSource']>[0] = null;
  metrics.registry.addCollector(() => {
    if (poller !== undefined) metrics.setUpstreamPolls(poller.stats);
    if (forwardQueue !== null) metrics.setForwardQueue(forwardQueue());
  });
  const status = (): StatusDocument => {
    const gate = gateway.gate;
    const holdExpiresAtMs = gate.deadlines.holdExpiresAtMs;
    const q = forwardQueue?.() ?? null;
    return buildStatus({
      observed: metrics.state,
      gateway: {
        id: config.gateway.id,
        mode: config.gateway.mode,
        state: gateway.state,
        runtime: 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'node',
        started_at: new Date(startedWallMs).toISOString(),
        uptime_secs: Math.round((clock.wallMs() - startedWallMs) / 1000),
        sv2_url: sv2UrlText ?? null,
        proxy_protocol: config.gateway.proxy_protocol,
      },
      upstream: { url: config.gateway.upstream_url, failure_policy: config.gateway.upstream_failure_policy },
      verifier: { addr: config.gateway.verifier_addr, pending_requests: gate.pendingRequests },
      gate: { phase: gate.phase, refusing_miners: gate.refusingMiners, hold_expires_in_ms: holdExpiresAtMs === undefined ? null : Math.max(0, holdExpiresAtMs - clock.monotonicMs()) },
      forwarding: q === null ? null : { depth: q.queueDepth, capacity: q.queueCapacity, in_flight: q.inFlightShares, unsettled: q.unsettled },
      eventBuffer: { size: eventBuffer.size, capacity: eventBuffer.capacity, last_id: eventBuffer.lastId, evicted: eventBuffer.evicted, subscribers: eventBuffer.subscriberCount },
      blocksPending: gateway.stats.blocksPending,
      shareSink: sinkStatus(),
    });
  };
  // /status lists TDP clients (issue 10) when the Template Provider is configured, and the
  // socket workers (issue 13 item 1) when gateway.workers ≥ 2.
  let workersStatus: (() => unknown) | null = null;
  const statusWithTdp = (): StatusDocument => {
    const base = status();
    const doc = workersStatus === null ? base : ({ ...base, workers: workersStatus() } as StatusDocument);
    if (!gateway.templateProviderEnabled) return doc;
    const tdpPort = server?.tdpPort ?? null;
    return {
      ...doc,
      template_provider: {
        listen_addr: config.template_provider.listen_addr ?? null,
        port: tdpPort,
        max_clients: config.template_provider.max_clients,
        clients: gateway.tdpClients(),
      },
    };
  };
  const httpShutdown = new AbortController();
  let httpServer: HttpServer | undefined;
  let httpInfo: GatewayTelemetry['http'] = null;
  let httpError: string | null = null;
  if (options.http === true) {
    const httpListen = parseListenAddr(config.gateway.http_listen_addr);
    const app = createHttpApp({ apiKey: config.gateway.http_api_key, metrics: () => metrics.registry.render(), status: statusWithTdp, events: eventBuffer, shutdownSignal: httpShutdown.signal });
    try {
      httpServer = await (options.serveHttp ?? serveHttpDefault)(app, { host: httpListen.bindHost, port: httpListen.port });
      const shownHost = httpListen.wildcard ? '127.0.0.1' : httpListen.urlHost;
      httpInfo = { host: httpListen.urlHost, port: httpServer.port, url: `http://${shownHost}:${httpServer.port}` };
    } catch (error) {
      const message = `gateway.http_listen_addr ${config.gateway.http_listen_addr}: ${error instanceof Error ? error.message : String(error)}`;
      if (options.httpOptional !== true) throw new Error(`cannot serve HTTP on ${message}`);
      httpError = message;
    }
  }
  let sv2UrlText: string | undefined;

  // The server is created after the executor needs it; `service` forwards to it once it exists.
  let server: GatewayServer | undefined;
  const service = (): void => server?.service();
  // Verdicts from the network: drain them into the gate, then pump what the gate released.
  verifierBridge?.attach((nowMs) => {
    gateway.pollVerifier(nowMs);
    service();
  });
  const executor = new BlockExecutor({ source: templateSource, gateway, clock, onGatewayInput: service });
  try {
    server = await serveGateway({
      gateway,
      clock,
      listen: { host: listen.bindHost, port: listen.port },
      ...(tdpListen === null ? {} : { tdpListen: { host: tdpListen.bindHost, port: tdpListen.port } }),
      ...(jdListen === null ? {} : { jdListen: { host: jdListen.bindHost, port: jdListen.port } }),
      onEvent,
      onCommand: (command) => executor.execute(command),
      // Journal first, then acknowledge (gateway-server.ts header): the pass's share_accepted
      // records reach the OS in one write before its SubmitShares.Success bytes are written.
      beforeTransmit: () => forwarding?.flush(),
      // gateway.proxy_protocol = "v2" (issue 13 item 3, docs/scaling.md): real client addresses from a load balancer.
      ...(config.gateway.proxy_protocol === 'v2'
        ? { proxyProtocol: { trustedSources: config.gateway.proxy_trusted_sources.map((t) => parseCidr(t)!), headerTimeoutMs: config.timing.handshake_timeout_ms, maxConnections: config.gateway.max_connections } }
        : {}),
      // Shadow mode serves no miners (SPEC §5): the pump runs (templates, verdicts, events) but
      // nothing listens.
      ...(config.gateway.mode === 'shadow' ? { listenTcp: shadowListenTcp } : options.listenTcp === undefined ? {} : { listenTcp: options.listenTcp }),
      ...(options.minerListener === false ? { listenMiners: false } : {}),
    });
  } catch (error) {
    httpShutdown.abort();
    await httpServer?.close();
    executor.stop();
    verifierBridge?.close();
    throw error;
  }
  // share.sink = "jetstream" (issue 13 item 4, adapters/share-jetstream.ts): the same forwarder,
  // publishing to NATS JetStream instead of POSTing.
  let jetStream: JetStreamSharePoster | null = null;
  if (options.shareForwarding !== false && options.shareForwarding?.poster === undefined && config.share.sink === 'jetstream') {
    const nats = config.nats;
    const credentials = nats.credentials_file === undefined ? undefined : new TextEncoder().encode(await (options.readFile ?? ((path) => readFileAsync(path, 'utf8')))(nats.credentials_file));
    jetStream = createJetStreamSharePoster({
      servers: nats.servers,
      stream: nats.stream,
      subject: nats.subject,
      gatewayId: config.gateway.id,
      ackTimeoutMs: nats.ack_timeout_ms,
      duplicateWindowMs: nats.duplicate_window_ms,
      createStream: nats.create_stream,
      ...(credentials === undefined ? {} : { credentials }),
      ...(nats.user === undefined ? {} : { user: nats.user, password: nats.password ?? '' }),
      ...(nats.token === undefined ? {} : { token: nats.token }),
      ...(options.onShareSinkStatus === undefined ? {} : { onStatus: options.onShareSinkStatus }),
    });
  }
  const jetStreamPoster = jetStream;
  sinkStats = () => jetStreamPoster?.stats ?? null;
  registerJetStreamMetrics(metrics.registry, config.share.sink, () => jetStreamPoster?.stats ?? null);
  const workerMetrics = registerWorkerMetrics(metrics.registry);
  if (options.shareForwarding !== false) {
    const fwd = attachShareForwarding({ config, clock, random, provider, onEvent: onForwardEvent, ...options.shareForwarding, ...(jetStreamPoster === null ? {} : { poster: jetStreamPoster }) });
    forwarding = fwd;
    forwardQueue = () => {
      const m = fwd.metrics;
      return { queueDepth: m.queueDepth, queueCapacity: m.queueCapacity, inFlightShares: m.inFlightShares, unsettled: m.unsettled };
    };
  }
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
  // Shadow mode opens no listener at all (the shadow "listener" binds nothing): no TP address.
  const tdpAddress = tdpListen === null || server.tdpPort === null || config.gateway.mode === 'shadow' ? null : { host: tdpListen.urlHost, port: server.tdpPort };
  const jdAddress = jdListen === null || server.jdPort === null || config.gateway.mode === 'shadow' ? null : { host: jdListen.urlHost, port: server.jdPort };
  const sv2Url = `stratum2+tcp://${listen.wildcard ? '127.0.0.1' : listen.urlHost}:${server.port}/${config.noise.authority_public_key}`;
  sv2UrlText = sv2Url;
  let stopping: Promise<void> | undefined;
  const runningServer = server;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      runningPoller.stop();
      try {
        await runningServer.shutdown(config.timing.shutdown_drain_timeout_ms + STOP_MARGIN_MS);
      } finally {
        // After the gateway: no share_accepted can follow. Drains up to
        // shutdown_drain_timeout_ms and settles the rest (dropped_shutdown), logged below.
        await forwarding?.stop();
        await jetStreamPoster?.close();
        verifierBridge?.close();
        executor.stop();
        eventLog?.close();
        // Last: /events streams see the shutdown events, then end.
        httpShutdown.abort();
        await httpServer?.close();
      }
    })();
    return stopping;
  };
  const runningPoller = poller;
  const telemetry: GatewayTelemetry = {
    metrics,
    events: eventBuffer,
    publish,
    setForwardQueueSource: (source) => void (forwardQueue = source),
    status: statusWithTdp,
    http: httpInfo,
    httpError,
    workerMetrics,
    setWorkersStatus: (source) => void (workersStatus = source),
  };
  const ingest = (event: GatewayEvent): void => {
    if (!stopped) onEvent(runningServer.stamp(event));
  };
  // After stop() the log is closed: late worker events are dropped (their workers have stopped).
  let stopped = false;
  const flushJournal = (): void => {
    try {
      forwarding?.flush();
    } catch {
      // The journal reports its own failures (share-forwarding.ts); never throw into a worker ack.
    }
  };
  const stopAndMark = (): Promise<void> => {
    const p = stop();
    void p.then(() => void (stopped = true));
    return p;
  };
  return { gateway, server: runningServer, poller: runningPoller, executor, templateSource, address, sv2Url, tdpAddress, jdAddress, eventLog, verifier, forwarding, telemetry, ingest, flushJournal, stop: stopAndMark };
}

/** Shadow mode's "listener": binds nothing and never accepts (SPEC §5: no miner listener). */
const shadowListenTcp: ListenTcp = async () => ({ port: 0, close: async () => {} });

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
