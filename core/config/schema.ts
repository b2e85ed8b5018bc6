// The configuration schema: ONE metadata table (SPEC §10) that drives the valibot schema, the
// environment-variable mapping (env.ts), the generated key reference (docs/configuration.md),
// redaction of secrets and `reservegrid config print`.
//
// Shape of the file: TOML sections, each a flat table of snake_case keys. Values that are lists
// of records (auth.allowlist, mining.payout, ...) are arrays of inline tables. The effective config
// object keeps the file's snake_case names (`config.timing.prevhash_verdict_timeout_ms`), so what
// an operator reads in the file, the docs, the env name and the code is the same word.
//
// "No defaults hide pool behaviour" (SPEC §10): a key whose value decides what the pool does
// (mode, failure policy, auth mode, upstream URLs, share secret, payout, keys, listen and
// verifier addresses, gateway id) is `required`; every other key has a documented `default`, or
// is `optional` (unset means "not used", e.g. cookie auth when user/password is given).
import * as v from 'valibot';
import { bytesToHex } from '../bytes.ts';
import { parseCidr } from '../gateway/proxy-protocol.ts';
import { authorityPublicKeyFromSecret, decodeAuthorityPublicKey, decodeAuthoritySecretKey } from '../noise/keys.ts';
import type { ConfigTableType } from './table-type.ts';
import { BITCOIN_NETWORKS, decodeAddress, decodeDescriptor, type BitcoinNetwork, type DecodeResult } from '../mining/address.ts';

// ---------------------------------------------------------------------------------------------
// Leaves: a valibot schema plus what the env parser, the docs and the redactor need to know.

/** How an environment string becomes a value (env.ts): scalars by type, composites as TOML. */
export type LeafKind = 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'table';

export interface Leaf<T = unknown> {
  readonly schema: v.GenericSchema<unknown, T>;
  readonly kind: LeafKind;
  /** What a valid value looks like, in words; the "expected ..." of every error about it. */
  readonly type: string;
  /** Arrays: the element leaf. */
  readonly element?: Leaf;
  /** Tables (array elements): their fields. */
  readonly fields?: Readonly<Record<string, Field>>;
  /** URL values: userinfo (`user:pass@`) is masked when the value is printed. */
  readonly url?: boolean;
}

export type Presence = 'required' | 'default' | 'optional';

export interface Field {
  readonly leaf: Leaf;
  readonly presence: Presence;
  readonly default?: unknown;
  readonly secret: boolean;
  readonly doc: string;
}

const str = (type: string, opts: { min?: number; max?: number; pattern?: RegExp; why?: string } = {}): Leaf<string> => {
  const min = opts.min ?? 0;
  const max = opts.max ?? 4096;
  const pipe: v.PipeItem<string, string, v.BaseIssue<unknown>>[] = [v.minLength(min), v.maxLength(max)];
  if (opts.pattern) pipe.push(v.regex(opts.pattern, opts.why ?? type));
  return { schema: v.pipe(v.string(), ...pipe), kind: 'string', type };
};

const int = (min: number, max: number, unit = ''): Leaf<number> => ({
  schema: v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max)),
  kind: 'integer',
  type: `integer ${min}..${max}${unit ? ` (${unit})` : ''}`,
});

/** A finite number strictly above `above` and at most `max`. */
const num = (above: number, max: number): Leaf<number> => ({
  schema: v.pipe(v.number(), v.finite(), v.gtValue(above), v.maxValue(max)),
  kind: 'number',
  type: `number > ${above} and <= ${max}`,
});

const bool = (): Leaf<boolean> => ({ schema: v.boolean(), kind: 'boolean', type: 'true or false' });

const oneOf = <const T extends readonly [string, ...string[]]>(values: T): Leaf<T[number]> => ({
  schema: v.picklist(values),
  kind: 'string',
  type: `one of ${values.map((x) => JSON.stringify(x)).join(' | ')}`,
});

/** gateway.workers: a count, or "auto" (the machine's core count, resolved by the adapter). */
const workerCount = (): Leaf<number | 'auto'> => ({
  schema: v.union([v.literal('auto'), v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(256))]),
  // An integer for the environment parser: RESERVEGRID_GATEWAY__WORKERS=auto is passed on as
  // the string and accepted by the union.
  kind: 'integer',
  type: 'integer 1..256, or "auto" (one per CPU core)',
});

// Host syntax: a DNS name, an IPv4 literal or a bracketed IPv6 literal. Deliberately a syntax
// check only: name resolution is I/O and belongs to the adapters.
const _HOST = String.raw`(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])`;
const _HOST_PORT = new RegExp(`^(${_HOST}):([0-9]{1,5})$`);
const _HTTP_URL = new RegExp(`^https?://(${_HOST})(?::([0-9]{1,5}))?(?:[/?#][^\\s]*)?$`);

/** `host:port` with the port in [minPort, 65535]; returns a reason when it is not. */
function _hostPortProblem(text: string, minPort: number): string | undefined {
  const m = _HOST_PORT.exec(text);
  if (!m) return 'not host:port';
  const port = Number(m[2]);
  if (port < minPort || port > 65535) return `port ${m[2]} out of range ${minPort}..65535`;
  return undefined;
}

const hostPort = (minPort: 0 | 1, type: string): Leaf<string> => ({
  schema: v.pipe(
    v.string(),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const why = _hostPortProblem(dataset.value, minPort);
      if (why) addIssue({ message: why });
    }),
  ),
  kind: 'string',
  type,
});

function _httpUrlProblem(text: string): string | undefined {
  const m = _HTTP_URL.exec(text);
  if (!m) return text.includes('@') ? 'credentials in the URL are not allowed' : 'not an http:// or https:// URL';
  if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)) return `port ${m[2]} out of range 1..65535`;
  return undefined;
}

/** http(s) URL, optionally also the word `embedded`. Userinfo is refused: credentials belong in
 * their own (secret, redacted) keys, never inside a URL that gets logged. */
const httpUrl = (type: string, allowEmbedded: boolean): Leaf<string> => ({
  schema: v.pipe(
    v.string(),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      if (allowEmbedded && dataset.value === 'embedded') return;
      const why = _httpUrlProblem(dataset.value);
      if (why) addIssue({ message: why });
    }),
  ),
  kind: 'string',
  type,
  url: true,
});

const hex = (bytesMin: number, bytesMax: number): Leaf<string> => {
  const exact = bytesMin === bytesMax;
  const type = exact ? `hex string of ${bytesMin} bytes` : `hex string of ${bytesMin}..${bytesMax} bytes`;
  return {
    schema: v.pipe(
      v.string(),
      v.rawCheck(({ dataset, addIssue }) => {
        if (!dataset.typed) return;
        const s = dataset.value;
        if (!/^(?:[0-9a-fA-F]{2})*$/.test(s)) addIssue({ message: 'not an even-length hex string' });
        else if (s.length / 2 < bytesMin || s.length / 2 > bytesMax) addIssue({ message: `${s.length / 2} bytes` });
      }),
    ),
    kind: 'string',
    type,
  };
};

/** A payout address or descriptor, decoded by core/mining/address.ts (the code that builds the
 * coinbase script from it), so a value that passes `config check` is one the gateway can pay. */
const payoutText = (type: string, decode: (text: string) => DecodeResult): Leaf<string> => ({
  schema: v.pipe(
    v.string(),
    v.maxLength(4096),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const r = decode(dataset.value);
      if (!r.ok) addIssue({ message: r.message });
    }),
  ),
  kind: 'string',
  type,
});

// Authority keys are decoded by core/noise/keys.ts, the same code the Noise responder uses, so a
// key that passes `config check` is a key the gateway can sign with.
function _publicKeyProblem(text: string): string | undefined {
  const r = decodeAuthorityPublicKey(text);
  return r.ok ? undefined : r.error.message;
}

function _secretKeyProblem(text: string): string | undefined {
  const r = decodeAuthoritySecretKey(text);
  if (r.ok) return undefined;
  // The base58 decoder's own reason may quote characters of the input; a secret never appears
  // in an error, so only our length/range messages pass through.
  return r.error.message.includes('base58check') ? 'not valid base58check' : r.error.message;
}

/** Hex x-only key of a valid public key text, or of the key a valid secret text derives. */
function _xOnlyHex(text: string, which: 'public' | 'secret'): string | undefined {
  if (which === 'public') {
    const r = decodeAuthorityPublicKey(text);
    return r.ok ? bytesToHex(r.value) : undefined;
  }
  const r = decodeAuthoritySecretKey(text);
  return r.ok ? bytesToHex(authorityPublicKeyFromSecret(r.value)) : undefined;
}

const authorityKey = (which: 'public' | 'secret'): Leaf<string> => ({
  schema: v.pipe(
    v.string(),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const why = which === 'public' ? _publicKeyProblem(dataset.value) : _secretKeyProblem(dataset.value);
      if (why) addIssue({ message: why });
    }),
  ),
  kind: 'string',
  type:
    which === 'public'
      ? "SRI base58check authority public key (34 bytes: 01 00 ‖ x-only key; SV2.md §3.3)"
      : 'SRI base58check authority secret key (32 raw bytes; SV2.md §3.3)',
});

/** An IPv4/IPv6 address or CIDR block (core/gateway/proxy-protocol.ts parses it). */
const cidr = (): Leaf<string> => ({
  schema: v.pipe(
    v.string(),
    v.rawCheck(({ dataset, addIssue }) => {
      if (dataset.typed && parseCidr(dataset.value) === undefined) addIssue({ message: 'not an IP address or CIDR block' });
    }),
  ),
  kind: 'string',
  type: 'IP address or CIDR block (e.g. "10.0.0.0/8", "2001:db8::/32")',
});

function arrayOf<T>(element: Leaf<T>, opts: { min?: number; max: number; what: string }): Leaf<T[]> {
  const min = opts.min ?? 0;
  return {
    schema: v.pipe(v.array(element.schema), v.minLength(min), v.maxLength(opts.max)),
    kind: 'array',
    type: `array of ${min > 0 ? `${min}..` : 'up to '}${opts.max} ${opts.what}`,
    element,
  };
}

/** A record inside an array. `T` is spelled out by the caller beside the fields it describes. */
function table<T>(what: string, fields: Record<string, Field>): Leaf<T> {
  const entries: Record<string, v.GenericSchema> = {};
  for (const [name, f] of Object.entries(fields)) {
    entries[name] =
      f.presence === 'required'
        ? f.leaf.schema
        : f.presence === 'default'
          ? v.optional(f.leaf.schema, f.default as never)
          : v.optional(f.leaf.schema);
  }
  return { schema: v.object(entries) as unknown as v.GenericSchema<unknown, T>, kind: 'table', type: what, fields };
}

const field = (leaf: Leaf, presence: Presence, doc: string, opts: { default?: unknown; secret?: boolean } = {}): Field => ({
  leaf,
  presence,
  default: opts.default,
  secret: opts.secret ?? false,
  doc,
});

// ---------------------------------------------------------------------------------------------
// Keys.

export interface KeyDef<T = unknown, P extends Presence = Presence> {
  readonly leaf: Leaf<T>;
  readonly presence: P;
  readonly default?: T;
  /** The whole value is secret (never printed). Secret fields of tables are marked on the field. */
  readonly secret: boolean;
  readonly doc: string;
  /** A valid value (different from the default) used by the docs and by the env-walk test. */
  readonly example: T;
}

const required = <T>(leaf: Leaf<T>, doc: string, example: T, secret = false): KeyDef<T, 'required'> => ({
  leaf, presence: 'required', secret, doc, example,
});
const withDefault = <T>(leaf: Leaf<T>, def: T, doc: string, example: T, secret = false): KeyDef<T, 'default'> => ({
  leaf, presence: 'default', default: def, secret, doc, example,
});
const optional = <T>(leaf: Leaf<T>, doc: string, example: T, secret = false): KeyDef<T, 'optional'> => ({
  leaf, presence: 'optional', secret, doc, example,
});

const MS_HOUR = 3_600_000;
const MS_WEEK = 7 * 24 * MS_HOUR;
const SATS_MAX = 2_100_000_000_000_000;

export interface AllowlistEntry { readonly username: string; readonly password: string }
export interface PrefixMapEntry { readonly prefix: string; readonly secret: string }
/** One coinbase payout output: exactly one of script_hex, address, descriptor (CROSS_RULES). */
export interface PayoutOutput {
  readonly script_hex?: string;
  readonly address?: string;
  readonly descriptor?: string;
  readonly weight: number;
}
export interface FeeTier {
  readonly name: string;
  readonly min_avg_fee_sats: number;
  readonly min_total_fees_sats: number;
  readonly min_tx_count: number;
  readonly min_template_weight: number;
}

// SRI's public development key pair (SV2.md §3.3): examples only, never for production.
const DEV_AUTHORITY_PUBLIC_KEY = '9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72';
const DEV_AUTHORITY_SECRET_KEY = 'mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n';

/**
 * THE table. Section → key → definition. Order here is the order of the docs and of
 * `config print`. Later issues add keys here, then regenerate its explicit type
 * (core/config/table-type.ts, `node --import tsx scripts/gen-config-table-type.ts`) and
 * docs/configuration.md (scripts/gen-config-docs.ts); tests fail until both are current.
 */
export const CONFIG_TABLE: ConfigTableType = {
  gateway: {
    mode: required(oneOf(['shadow', 'observe', 'inline']),
      'What the gateway does with verdicts (SPEC §5): `shadow` audits templates and serves no miners; `observe` serves miners and logs verdicts without enforcing them; `inline` enforces verdicts.',
      'observe'),
    id: required(int(0, 65535),
      'This gateway\'s id, unique among the gateways serving one pool: it partitions the extranonce-prefix space and makes share ids unique across gateways (a shared id means duplicate work and share ids).',
      7),
    listen_addr: required(hostPort(0, 'host:port (port 0..65535; 0 = any free port)'),
      'Miner-facing SV2 (Noise over TCP) listener. Not opened in `shadow` mode.', '127.0.0.1:34255'),
    verifier_addr: required(
      {
        ...hostPort(1, ''),
        schema: v.pipe(v.string(), v.rawCheck(({ dataset, addIssue }) => {
          if (!dataset.typed || dataset.value === 'embedded') return;
          const why = _hostPortProblem(dataset.value, 1);
          if (why) addIssue({ message: why });
        })),
        type: '"embedded" or host:port of a `reservegrid verifier`',
      },
      'Where template verdicts come from (SPEC §7): `embedded` runs the policy in-process; host:port reaches a separate `reservegrid verifier`, which listens on this same address.',
      'embedded'),
    upstream_url: required(httpUrl('"embedded" or http(s) URL of the Bitcoin Core JSON-RPC endpoint', true),
      'Template source (SPEC §4): Bitcoin Core JSON-RPC (`getblocktemplate`, `submitblock`). `embedded` is the demo\'s local chain. Credentials go in [upstream], never in the URL.',
      'embedded'),
    upstream_failure_policy: required(oneOf(['fail_closed', 'permit_all']),
      'No verdict by `timing.prevhash_verdict_timeout_ms` on a new prevhash (SPEC §6): `fail_closed` enters the stale hold; `permit_all` switches to the unverified template.',
      'permit_all'),
    http_api_key: required(str('string of 12..1024 characters', { min: 12, max: 1024 }),
      'Key for the HTTP API; protects everything but `/healthz` (SPEC §11). Compared in constant time.',
      'example-api-key-0123456789', true),
    http_listen_addr: withDefault(hostPort(0, 'host:port (port 0..65535; 0 = any free port)'), '127.0.0.1:8080',
      'HTTP listener for `/metrics`, `/events`, `/status`, `/healthz` (SPEC §11).', '127.0.0.1:9464'),
    max_connections: withDefault(int(1, 1_000_000), 10_000,
      'Miner connections open at once; further connections are refused.', 2_000),
    max_frame_payload_bytes: withDefault(int(1024, 16_777_215, 'bytes'), 262_144,
      'Largest SV2 frame payload accepted from a miner; a larger announced length is refused before buffering (`frame-too-large`). The default fits the largest SetCustomMiningJob.',
      65_536),
    event_log_path: withDefault(str('file path, or "-" for standard output', { min: 1 }), '-',
      'Where structured events go, one JSON line each (SPEC §11).', '/var/log/reservegrid/events.jsonl'),
    event_log_max_bytes: withDefault(int(0, Number.MAX_SAFE_INTEGER, 'bytes; 0 = never rotate'), 104_857_600,
      'Rotate the event log file when it reaches this size.', 10_485_760),
    event_log_max_files: withDefault(int(1, 1000), 5,
      'Rotated event log files kept.', 10),
    event_buffer_size: withDefault(int(1, 10_000_000, 'events'), 10_000,
      'Events kept in memory for `/events` history and `Last-Event-ID` resume.', 50_000),
    data_dir: withDefault(str('directory path', { min: 1 }), './reservegrid-data',
      'Directory for state that must survive a crash (the share-forwarding spool, SPEC §8).', '/var/lib/reservegrid'),
    // Issue 13 item 3: gateways behind a TCP load balancer (docs/scaling.md).
    proxy_protocol: withDefault(oneOf(['off', 'v2']), 'off',
      'PROXY protocol on the miner listener (haproxy doc/proxy-protocol.txt §2.2): `v2` reads the binary header a load balancer (HAProxy `send-proxy-v2`) writes before the miner\'s first byte, and uses the client address it names for the per-IP limits, events and logs. Only peers in `gateway.proxy_trusted_sources` may send it; others connect directly and a header from them is refused (`proxy_untrusted_source`).',
      'v2'),
    proxy_trusted_sources: withDefault(arrayOf(cidr(), { max: 1024, what: 'IP addresses or CIDR blocks' }), [],
      'Load balancers allowed to send a PROXY header, as IP addresses or CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`). A connection from one of them must start with a valid v2 header (a LOCAL header, a health check, keeps the balancer\'s address). Required non-empty with `proxy_protocol = "v2"`.',
      ['10.0.0.0/8']),
    workers: withDefault(workerCount(), 'auto',
      'Socket workers of `reservegrid run` sharing the miner port (docs/scaling.md "One machine, many cores"): `1` serves miners in the one process; `N` ≥ 2 makes the process a leader (template source, verifier, prevhash decision, share journal and forwarding, block submission, HTTP API, Template Provider and Job Declaration ports) that runs N worker processes of the same runtime, each owning its miners\' connections, Noise state and channels; `"auto"` = one per CPU core. Default `"auto"`: a gateway uses the machine\'s cores (issue 13), at the cost of one runtime process per core (an idle worker is ~120 MB resident on Node, ~90 MB on Deno, ~65 MB on Bun, docs/scaling.md); on a one-core machine "auto" is 1 (no fork); `workers = 1` keeps a single process; only `reservegrid run` reads this: shadow mode and in-process stacks (`reservegrid demo`, tests) never start workers.',
      2),
  },
  // Issue 12 item 4: limits against hostile clients (core/gateway/admission.ts,
  // docs/reliability.md). Defaults are sized for a farm of thousands of miners behind one NAT
  // address; a gateway facing the internet should lower the per-IP values.
  limits: {
    max_connections_per_ip: withDefault(int(1, 1_000_000), 5000,
      'Miner connections open at once from one IP address; further connections from it are refused (`connection_limit_per_ip`).', 64),
    max_handshaking: withDefault(int(1, 1_000_000), 2000,
      'Connections (all IPs) accepted and not yet past SetupConnection.Success; further connections are refused (`handshake_limit_reached`). Each is dropped at `timing.handshake_timeout_ms` anyway; this bounds how many an attacker can hold at once.', 500),
    max_handshaking_per_ip: withDefault(int(1, 1_000_000), 1000,
      'The same, from one IP address (`handshake_limit_per_ip`).', 16),
    connection_rate_per_ip: withDefault(int(1, 1_000_000, 'connections per second'), 200,
      'Sustained connect rate allowed from one IP address (token bucket refill); faster connects are refused (`connection_rate_limited`).', 20),
    connection_burst_per_ip: withDefault(int(1, 1_000_000, 'connections'), 2000,
      'Connects one IP address may make in a burst before `connection_rate_per_ip` applies (token bucket capacity; a farm reconnecting after a restart uses it).', 100),
    max_channels_per_connection: withDefault(int(1, 1_000_000), 64,
      'Mining channels one connection may open; further OpenMiningChannel requests get `channel-limit-reached`.', 16),
    max_invalid_shares_per_minute: withDefault(int(1, 10_000_000, 'shares'), 5000,
      'Rejected shares one connection may send per minute (token bucket of this size refilled at this rate); past it the connection is closed (`invalid_share_budget_exceeded`). Bounds the validation work a flood of invalid shares costs.', 600),
  },
  noise: {
    authority_public_key: required(authorityKey('public'),
      'Pool authority public key that miners pin (`stratum2+tcp://host:port/<key>`); certifies the gateway\'s static Noise key. Generate with `reservegrid keys generate`.',
      DEV_AUTHORITY_PUBLIC_KEY),
    authority_secret_key: required(authorityKey('secret'),
      'Secret half of `authority_public_key`; signs the Noise certificates (SV2.md §3.6). Must match the public key.',
      DEV_AUTHORITY_SECRET_KEY, true),
    certificate_validity_secs: withDefault(int(60, 31_536_000, 'seconds'), 3600,
      'Lifetime of a Noise certificate from the moment it is signed (SRI signs per connection with 3600 s).', 86_400),
    certificate_backdate_secs: withDefault(int(0, 86_400, 'seconds'), 300,
      'How far `valid_from` is set in the past so miners whose clocks run behind still accept it (SV2.md §3.6).', 600),
  },
  timing: {
    prevhash_verdict_timeout_ms: withDefault(int(1, 60_000, 'ms'), 50,
      'Budget for a verdict on a template with a new prevhash before `upstream_failure_policy` applies (SPEC §6).', 40),
    prevhash_stale_hold_ms: withDefault(int(0, MS_HOUR, 'ms'), 5000,
      'Stale hold after the verdict timeout or a rejection; when it ends with nothing acceptable, affected miners are disconnected (`stale_hold_expired`).',
      4000),
    upstream_poll_interval_ms: withDefault(int(10, MS_HOUR, 'ms'), 1000,
      'Interval between `getblocktemplate` polls (SPEC §4).', 500),
    job_broadcast_interval_ms: withDefault(int(0, 60_000, 'ms'), 100,
      'New templates on the same prevhash are aggregated into one job broadcast per interval; a new prevhash is never delayed.', 250),
    channel_idle_timeout_ms: withDefault(int(1000, MS_WEEK, 'ms'), MS_HOUR,
      'A channel with no share for this long is closed.', 600_000),
    nonce_expire_secs: withDefault(int(1, 86_400, 'seconds'), 60,
      'Window in which a repeated share is rejected as `duplicate-share`.', 120),
    handshake_timeout_ms: withDefault(int(100, 600_000, 'ms'), 10_000,
      'A connection that has not finished the Noise handshake and SetupConnection in time is dropped (`handshake-timeout`).', 5000),
    verifier_request_timeout_ms: withDefault(int(1, 600_000, 'ms'), 2000,
      'Deadline of a verdict request that is not a prevhash switch; past it the verdict counts as unavailable.', 1000),
    reconnect_backoff_max_ms: withDefault(int(10, MS_HOUR, 'ms'), 30_000,
      'Ceiling of the exponential reconnect backoff to the verifier and Bitcoin Core.', 10_000),
    shutdown_drain_timeout_ms: withDefault(int(0, 600_000, 'ms'), 5000,
      'On graceful shutdown, time allowed to settle in-flight work (share forwards) before the rest is settled as `dropped_shutdown`.', 10_000),
  },
  share: {
    share_upstream_url: required(httpUrl('http(s) URL', false),
      'Pool backend endpoint that receives signed share batches (SPEC §8).', 'http://127.0.0.1:7090/shares'),
    share_upstream_secret: required(str('string of 12..1024 characters', { min: 12, max: 1024 }),
      'HMAC-SHA256 key that signs each batch (timestamp + exact body); share it with the backend. 32 random bytes or more recommended.',
      'example-hmac-secret-0123456789', true),
    share_forward_queue_size: withDefault(int(1, 10_000_000, 'shares'), 10_000,
      'Accepted shares waiting to be forwarded; beyond it a share settles as `dropped_queue_full`.', 50_000),
    share_forward_max_in_flight: withDefault(int(1, 10_000, 'requests'), 100,
      'POSTs to the backend open at once.', 16),
    share_batch_interval_ms: withDefault(int(1, 60_000, 'ms'), 100,
      'Shares are batched and sent once per interval.', 250),
    share_batch_max_shares: withDefault(int(1, 1_000_000, 'shares'), 1000,
      'Most shares in one POST; a fuller queue sends several batches.', 500),
    share_forward_timeout_ms: withDefault(int(1, 600_000, 'ms'), 5000,
      'Deadline of one POST; past it the attempt counts as `timeout`.', 2000),
    share_forward_retry_initial_ms: withDefault(int(1, MS_HOUR, 'ms'), 250,
      'First retry delay after a failed attempt (transport error, timeout, 5xx, 408 or 429); doubles per attempt.', 500),
    share_forward_retry_max_ms: withDefault(int(1, MS_HOUR, 'ms'), 30_000,
      'Ceiling of the retry delay.', 60_000),
    // Issue 13 item 4 (docs/scaling.md "The JetStream sink").
    sink: withDefault(oneOf(['http', 'jetstream']), 'http',
      'Where accepted shares go: `http` POSTs signed batches to `share_upstream_url` (SPEC §8); `jetstream` publishes each share to NATS JetStream (`[nats]`) with `Nats-Msg-Id` = share id, and settles it on the publish ack. Same queue, batching, retries and journal either way; `share_upstream_url` and `share_upstream_secret` are still validated but not used with `jetstream`.',
      'jetstream'),
  },
  nats: {
    servers: withDefault(arrayOf(hostPort(1, 'host:port'), { max: 64, what: 'host:port addresses' }), [],
      'NATS servers of the JetStream sink (`share.sink = "jetstream"`; required non-empty then). The client reconnects among them forever; shares wait in the bounded forwarding queue meanwhile.',
      ['127.0.0.1:4222']),
    stream: withDefault(str('JetStream stream name (1..64 of A-Z a-z 0-9 _ -)', { min: 1, max: 64, pattern: /^[A-Za-z0-9_-]+$/ }), 'RESERVEGRID_SHARES',
      'Stream that must capture `nats.subject`; every publish asks the server to check it (`expect.streamName`) and the ack must name it.', 'POOL_SHARES'),
    subject: withDefault(str('NATS subject (tokens of printable ASCII without spaces, * or >)', { min: 1, max: 255, pattern: /^[!-)+-=?-~]+(?:\.[!-)+-=?-~]+)*$/ }), 'reservegrid.shares',
      'Subject each share is published on; `.<gateway.id>` is appended (`reservegrid.shares.7`), so one stream on `reservegrid.shares.>` takes every gateway and a consumer can filter one.',
      'pool.shares'),
    ack_timeout_ms: withDefault(int(1, 600_000, 'ms'), 5000,
      'Deadline of one publish\'s PubAck; past it the batch is retried like an HTTP timeout (also bounded by `share.share_forward_timeout_ms`).', 2000),
    duplicate_window_ms: withDefault(int(1000, MS_WEEK, 'ms'), 2 * MS_HOUR,
      'Smallest duplicate window the stream must have: checked at connect (a smaller one is logged as a warning) and used when `create_stream` creates it. It must exceed the longest time a share can be re-published after its first publish: retries (`share.share_forward_retry_max_ms` per attempt) plus a gateway restart from its journal (docs/scaling.md).',
      86_400_000),
    create_stream: withDefault(bool(), false,
      'Create the stream (subjects `<subject>.>`, file storage, `duplicate_window_ms`) when it does not exist. Off: the pool operator creates it, and publishing fails (retried) until it exists.',
      true),
    credentials_file: optional(str('file path', { min: 1 }),
      'NATS credentials file (`.creds`, JWT + NKey seed) for the connection.', '/etc/reservegrid/nats.creds'),
    user: optional(str('string of 1..1024 characters', { min: 1, max: 1024 }),
      'NATS user (with `nats.password`).', 'gateway-7'),
    password: optional(str('string of 1..1024 characters', { min: 1, max: 1024 }),
      'NATS password (with `nats.user`).', 'nats-password', true),
    token: optional(str('string of 1..1024 characters', { min: 1, max: 1024 }),
      'NATS authentication token.', 'nats-token-0123456789', true),
  },
  auth: {
    mode: required(oneOf(['open', 'allowlist', 'prefix_map']),
      'How miners authenticate (SPEC §9): `open` accepts any identity; `allowlist` needs a username/password pair from `auth.allowlist`; `prefix_map` needs the secret of the longest matching prefix in `auth.prefix_map`.',
      'allowlist'),
    allowlist: withDefault(
      arrayOf(table<AllowlistEntry>('table { username, password }', {
        username: field(str('string of 1..255 characters', { min: 1, max: 255 }), 'required', 'Miner identity (the credential convention inside `user_identity` is documented with auth).'),
        password: field(str('string of 1..255 characters', { min: 1, max: 255 }), 'required', 'Its password.', { secret: true }),
      }), { max: 100_000, what: 'tables { username, password }' }),
      [],
      'Accounts for `mode = "allowlist"` (required non-empty in that mode). Usernames are unique.',
      [{ username: 'rig-a', password: 'rig-a-password' }]),
    prefix_map: withDefault(
      arrayOf(table<PrefixMapEntry>('table { prefix, secret }', {
        prefix: field(str('string of 1..255 characters', { min: 1, max: 255 }), 'required', 'Identity prefix.'),
        secret: field(str('string of 1..255 characters', { min: 1, max: 255 }), 'required', 'Secret for identities with this prefix.', { secret: true }),
      }), { max: 100_000, what: 'tables { prefix, secret }' }),
      [],
      'Prefixes for `mode = "prefix_map"` (required non-empty in that mode). Prefixes are unique; the longest match wins.',
      [{ prefix: 'site7_', secret: 'site7-secret' }]),
    max_worker_id_bytes: withDefault(int(1, 65_535, 'bytes'), 255,
      'Longest worker identity accepted (UTF-8 bytes), in `user_identity` and in the 0x0002 worker TLV.', 128),
    max_workers_per_channel: withDefault(int(1, 1_000_000), 1000,
      'Distinct worker names on one channel (proxies tag shares with the 0x0002 worker TLV).', 64),
  },
  mining: {
    payout: required(
      arrayOf(table<PayoutOutput>('table { script_hex | address | descriptor, weight }', {
        script_hex: field(hex(1, 10_000), 'optional', 'Output script (scriptPubKey) as hex.'),
        address: field(payoutText('Bitcoin address (bech32/bech32m segwit v0..v16, or base58 P2PKH/P2SH)', decodeAddress), 'optional',
          'Bitcoin address to pay; its network must be `mining.network` when that is set.'),
        descriptor: field(payoutText('descriptor addr(ADDRESS) or raw(HEX), optional #checksum (BIP380)', decodeDescriptor), 'optional',
          'SRI `coinbase_reward_script` form: `addr(<address>)` or `raw(<hex>)`, with or without its `#checksum`.'),
        weight: field(int(1, 1_000_000), 'default', 'Share of the coinbase value relative to the other outputs.', { default: 1 }),
      }), { min: 1, max: 16, what: 'tables { script_hex | address | descriptor, weight }' }),
      'Pool payout output(s) in the coinbase (SPEC §4); the coinbase value (subsidy + fees) is split by weight. Each entry sets exactly one of `script_hex`, `address` or `descriptor` (SRI\'s `addr(...)`; docs/sri-config.md).',
      [{ address: 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', weight: 1 }]),
    network: optional(oneOf(BITCOIN_NETWORKS as unknown as readonly [BitcoinNetwork, ...BitcoinNetwork[]]),
      'The chain the gateway mines on. When set, every payout `address` (also inside `addr(...)`) must be an address of this chain; unset, the payout addresses must agree with each other. Raw scripts (`script_hex`, `raw(...)`) fit every chain.',
      'regtest'),
    pool_tag: withDefault(str('printable ASCII without "/", 0..32 characters', { max: 32, pattern: /^[ -.0-~]*$/ }), 'ReserveGrid',
      'Tag in the coinbase scriptSig (`Sv2/<pool_tag>/<miner_tag>/`, SV2.md §5.4).', 'ExamplePool'),
    min_difficulty: withDefault(num(0, 1e18), 1,
      'Lowest share difficulty a channel gets (initial target and vardiff are clamped to it).', 0.001),
    max_difficulty: withDefault(num(0, 1e18), 1e12,
      'Highest share difficulty a channel gets.', 1e9),
    shares_per_minute: withDefault(num(0, 6000), 6,
      'Target share rate per channel for the initial target and vardiff (SRI default 6).', 10),
    vardiff_enabled: withDefault(bool(), true, 'Adjust each channel\'s target towards `shares_per_minute`.', false),
    vardiff_retarget_interval_secs: withDefault(int(1, 3600, 'seconds'), 60,
      'How often vardiff re-evaluates a channel.', 30),
    share_ack_batch_size: withDefault(int(1, 10_000, 'shares'), 10,
      'Accepted shares acknowledged by one SubmitShares.Success (SRI `share_batch_size`).', 1),
    allow_work_selection: withDefault(bool(), false,
      'Accept SetupConnection with REQUIRES_WORK_SELECTION: such miners open extended channels only and propose their own jobs (SetCustomMiningJob), each verified by the policy before SetCustomMiningJob.Success (issue 4 item 6). Off: the flag is refused with `unsupported-feature-flags`.', true),
  },
  upstream: {
    rpc_cookie_file: optional(str('file path', { min: 1 }),
      'Bitcoin Core cookie file (e.g. `~/.bitcoin/.cookie`). Set this, or `rpc_user` and `rpc_password`, when `gateway.upstream_url` is a URL.',
      '/var/lib/bitcoind/regtest/.cookie'),
    rpc_user: optional(str('string of 1..1024 characters', { min: 1, max: 1024 }),
      'Bitcoin Core RPC user (with `rpc_password`).', 'reservegrid'),
    rpc_password: optional(str('string of 1..1024 characters', { min: 1, max: 1024 }),
      'Bitcoin Core RPC password (with `rpc_user`).', 'rpc-password', true),
    request_timeout_ms: withDefault(int(1, 600_000, 'ms'), 5000,
      'Deadline of one RPC call (`getblocktemplate`, `submitblock`).', 3000),
    retry_backoff_initial_ms: withDefault(int(1, MS_HOUR, 'ms'), 500,
      'First retry delay when Bitcoin Core is down; doubles up to `timing.reconnect_backoff_max_ms`.', 250),
  },
  policy: {
    fee_tiers: withDefault(
      arrayOf(table<FeeTier>('table { name, min_avg_fee_sats, min_total_fees_sats, min_tx_count, min_template_weight }', {
        name: field(str('lower-case name of 1..64 characters [a-z0-9_-]', { min: 1, max: 64, pattern: /^[a-z0-9_-]+$/ }), 'required', 'Tier name, reported as `policy_context.fee_tier`.'),
        min_avg_fee_sats: field(int(0, SATS_MAX, 'sats'), 'default', 'Minimum average fee per transaction.', { default: 0 }),
        min_total_fees_sats: field(int(0, SATS_MAX, 'sats'), 'default', 'Minimum total template fees.', { default: 0 }),
        min_tx_count: field(int(0, 1_000_000), 'default', 'Minimum number of transactions.', { default: 0 }),
        min_template_weight: field(int(0, 4_000_000, 'weight units'), 'default', 'With `fee_tier_rule = "by_template_weight"`: the tier applies to templates at least this heavy.', { default: 0 }),
      }), { max: 64, what: 'fee tier tables' }),
      [],
      'Fee policy tiers (SPEC §7, docs/policy.md); names are unique. Empty = no fee policy.',
      [{ name: 'mid', min_avg_fee_sats: 200, min_total_fees_sats: 0, min_tx_count: 0, min_template_weight: 0 }]),
    fee_tier_rule: withDefault(oneOf(['fixed', 'by_template_weight']), 'fixed',
      'How the fee tier of a template is chosen (docs/policy.md): `fixed` uses `policy.fee_tier` for every template; `by_template_weight` uses the tier with the largest `min_template_weight` not above the template weight (none = no fee policy for that template).',
      'by_template_weight'),
    fee_tier: withDefault(str('tier name from `policy.fee_tiers`, or "" for none', { max: 64 }), '',
      'The tier in force with `fee_tier_rule = "fixed"`; must name one of `policy.fee_tiers`. Empty = no fee policy.', 'mid'),
    blocklist_txids: withDefault(arrayOf(hex(32, 32), { max: 1_000_000, what: 'txids (64 hex digits, display order)' }), [],
      'Templates containing any of these transactions are rejected.', ['4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b']),
    blocklist_scripts_hex: withDefault(arrayOf(hex(1, 10_000), { max: 1_000_000, what: 'output scripts (hex)' }), [],
      'Templates paying to any of these output scripts are rejected.', ['6a']),
    max_template_weight: withDefault(int(1, 4_000_000, 'weight units'), 4_000_000,
      'Largest template weight accepted (consensus limit 4,000,000).', 3_990_000),
    max_template_sigops: withDefault(int(1, 80_000), 80_000,
      'Most signature operations (cost) accepted in a template (consensus limit 80,000).', 79_000),
    subsidy_halving_interval: withDefault(int(1, 10_000_000, 'blocks'), 210_000,
      'Blocks per subsidy halving, for the coinbase value check (subsidy + fees). 210,000 on mainnet, testnet and signet; 150 on regtest. A larger value only makes the check more lenient.',
      150),
    verify_commitments: withDefault(bool(), false,
      'Recompute the witness commitment and the coinbase merkle path from the template\'s wtxids/txids for every verdict (about 2 double-SHA256 per transaction each, ~25 ms for 4,000 transactions on a slow core). Off: the structural checks still run, and gbt.ts already recomputed the commitment when it built the template.',
      true),
  },
  // Issue 10: present = enabled (PRESENCE_ENABLED_SECTIONS); docs/template-provider.md.
  template_provider: {
    listen_addr: optional(hostPort(0, 'host:port (port 0..65535; 0 = any free port)'),
      'Template Distribution (SV2 Noise over TCP) listener for SV2 pools and Job Declaration clients; required when [template_provider] is present, and the section being present is what enables the Template Provider. Same Noise authority key and certificate as the miner port. Not opened in `shadow` mode.',
      '127.0.0.1:8442'),
    max_clients: withDefault(int(1, 10_000), 16,
      'Template Distribution connections open at once; further connections are refused (`connection_limit_reached`).', 4),
    fee_update_interval_ms: withDefault(int(0, MS_HOUR, 'ms'), 30_000,
      'Least time between two templates on one tip for one client: a fee-bump (non-future) NewTemplate waits until this long after the previous template (the default is sv2-tp\'s `-sv2interval` of 30 s).', 10_000),
    min_fee_delta_sats: withDefault(int(0, SATS_MAX, 'sats'), 1000,
      'Fee rise (of the template as trimmed for the client) over the last template sent that makes a non-future NewTemplate on the same tip (the default is sv2-tp\'s `-sv2feedelta`).', 500),
    retained_templates: withDefault(int(1, 1024, 'templates'), 32,
      'Templates per connection that stay answerable for RequestTransactionData and SubmitSolution (the newest this many sent); older ids get `template-id-not-found`.', 64),
    max_requests_per_second: withDefault(int(1, 100_000, 'messages per second'), 100,
      'CoinbaseOutputConstraints + RequestTransactionData a client may send in one second; more closes the connection (`tdp_request_flood`). SubmitSolution is never limited.', 50),
  },
  // Issue 11: present = enabled (PRESENCE_ENABLED_SECTIONS); docs/job-declaration.md.
  job_declaration: {
    listen_addr: optional(hostPort(0, 'host:port (port 0..65535; 0 = any free port)'),
      'Job Declaration (SV2 Noise over TCP) listener for JD clients such as SRI\'s jd_client_sv2; required when [job_declaration] is present, and the section being present is what enables the Job Declaration Server. Same Noise authority key and certificate as the miner port. Declarations are judged by [policy]; SetCustomMiningJob on the miner port then requires a token from it (needs `mining.allow_work_selection = true`). Not opened in `shadow` mode.',
      '127.0.0.1:8443'),
    max_clients: withDefault(int(1, 10_000), 16,
      'Job Declaration connections open at once; further connections are refused (`connection_limit_reached`).', 4),
    allocated_token_expiry_ms: withDefault(int(1, 86_400_000, 'ms'), 600_000,
      'Lifetime of a token from AllocateMiningJobToken.Success until it is used in DeclareMiningJob (or, in coinbase-only mode, in SetCustomMiningJob); jd_server_sv2 uses 10 minutes.', 60_000),
    declared_token_expiry_ms: withDefault(int(1, MS_HOUR, 'ms'), 10_000,
      'Lifetime of the token from DeclareMiningJob.Success: SetCustomMiningJob must present it within this time, once (jd_server_sv2 uses 10 s).', 5_000),
    max_declared_transactions: withDefault(int(0, 65_535, 'transactions'), 16_666,
      'Longest DeclareMiningJob.wtxid_list accepted (a block holds at most 16,666 non-coinbase transactions); longer lists are refused with `jd_wtxid_list_too_long`.', 8_000),
    max_requests_per_second: withDefault(int(1, 100_000, 'messages per second'), 100,
      'AllocateMiningJobToken + DeclareMiningJob a client may send in one second; more closes the connection (`jd_request_flood`).', 50),
    max_pending_declarations: withDefault(int(1, 1024, 'declarations'), 8,
      'Declarations per connection waiting for ProvideMissingTransactions.Success; one more closes the connection (`jd_request_flood`).', 4),
    provided_transactions_max: withDefault(int(0, 1_000_000, 'transactions'), 50_000,
      'Transactions clients provided (ProvideMissingTransactions.Success) kept for later declarations, newest first; 0 = remember none.', 20_000),
    tokens_max: withDefault(int(1, 10_000_000, 'tokens'), 100_000,
      'Tokens (allocated, declared, and recently spent or expired) remembered at once; the oldest is forgotten first.', 10_000),
    block_proposals: withDefault(bool(), true,
      'Ask the node whether each declared block is consensus-valid with a BIP23 block proposal (`getblocktemplate {"mode": "proposal"}`; btcd and Bitcoin Core) after the policy verdict; the verdict is answered after the node. Needs a template source that answers proposals (a node over `gateway.upstream_url`); `false` for one that does not (the embedded demo chain): then policy alone decides and the node judges consensus only when a found block is submitted.',
      false),
    proposal_timeout_ms: withDefault(int(1, 60_000, 'ms'), 2000,
      'How long a declaration waits for the node\'s proposal answer; past it `job_declaration.proposal_failure_policy` decides. 2 s is well above the proposal round trip measured on btcd for a 4,000-transaction block (docs/job-declaration.md "Performance") and the same as `timing.verifier_request_timeout_ms`; the miner keeps its current job while a declaration waits.',
      1000),
    proposal_failure_policy: withDefault(oneOf(['fail_closed', 'permit_all']), 'fail_closed',
      'No usable proposal answer (timeout, node unreachable, RPC error, malformed answer): `fail_closed` refuses the declaration (`jd_proposal_unavailable`; JDC falls back to the pool\'s own templates, so miners keep verified work), `permit_all` accepts it on policy alone and records why in policy_context.',
      'permit_all'),
  },
} as const satisfies Record<string, Record<string, KeyDef>>;

/** Sections that are optional as a whole and enabled by being present; [section, required key]. */
export const PRESENCE_ENABLED_SECTIONS: readonly (readonly [string, string])[] = [
  ['template_provider', 'listen_addr'],
  ['job_declaration', 'listen_addr'],
];

export type ConfigTable = typeof CONFIG_TABLE;
export type SectionName = keyof ConfigTable;

type DeepReadonly<T> = T extends readonly (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;
type KeyOutput<D> = D extends KeyDef<infer T, infer P> ? (P extends 'optional' ? T | undefined : T) : never;

/** The effective, validated, frozen configuration. Keys are the file's snake_case names. */
export type Config = {
  readonly [S in SectionName]: { readonly [K in keyof ConfigTable[S]]: DeepReadonly<KeyOutput<ConfigTable[S][K]>> };
};

// ---------------------------------------------------------------------------------------------
// Flattened view: one row per key, for env.ts, load.ts, docs and tests.

export interface KeyMeta {
  /** `section.key`, e.g. `timing.prevhash_verdict_timeout_ms`. */
  readonly path: string;
  readonly section: string;
  readonly key: string;
  readonly leaf: Leaf;
  readonly presence: Presence;
  readonly default?: unknown;
  /** The value itself is secret. */
  readonly secret: boolean;
  /** Names of secret fields inside table elements (e.g. `password`). */
  readonly secretFields: readonly string[];
  readonly doc: string;
  readonly example: unknown;
}

export const SECTION_NAMES: readonly string[] = Object.keys(CONFIG_TABLE);

export const CONFIG_KEYS: readonly KeyMeta[] = Object.entries(CONFIG_TABLE).flatMap(([section, keys]) =>
  Object.entries(keys as Record<string, KeyDef>).map(([key, def]): KeyMeta => ({
    path: `${section}.${key}`,
    section,
    key,
    leaf: def.leaf,
    presence: def.presence,
    ...(def.presence === 'default' ? { default: def.default } : {}),
    secret: def.secret,
    secretFields: Object.entries(def.leaf.element?.fields ?? {}).filter(([, f]) => f.secret).map(([n]) => n),
    doc: def.doc,
    example: def.example,
  })),
);

const _byPath = new Map(CONFIG_KEYS.map((k) => [k.path, k]));

export function keyMeta(path: string): KeyMeta | undefined {
  return _byPath.get(path);
}

/** Every key path of one section, in table order. */
export function sectionKeys(section: string): readonly KeyMeta[] {
  return CONFIG_KEYS.filter((k) => k.section === section);
}

// ---------------------------------------------------------------------------------------------
// Cross-key rules. Each names the keys it reads; it runs (valibot `partialCheck`) whenever those
// keys are individually valid, even if other keys are missing, so one `config check` lists every
// problem at once. The message never contains a secret.

interface CrossRule {
  /** Key the problem is reported on. */
  readonly target: readonly [string, string];
  readonly reads: readonly (readonly [string, string])[];
  /** The rule in words, for docs/configuration.md. */
  readonly doc: string;
  /** Returns a reason when the rule is broken. */
  readonly check: (c: Config) => string | undefined;
}

function _duplicates(values: readonly string[]): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const x of values) (seen.has(x) ? dup : seen).add(x);
  return [...dup];
}

const _networkClass = (networks: readonly BitcoinNetwork[]): string => networks.join('/');

function _payoutProblem(payout: readonly PayoutOutput[], network: BitcoinNetwork | undefined): string | undefined {
  let first: { index: number; networks: readonly BitcoinNetwork[] } | undefined;
  for (const [index, entry] of payout.entries()) {
    const set = (['script_hex', 'address', 'descriptor'] as const).filter((k) => entry[k] !== undefined);
    if (set.length !== 1) {
      return `entry ${index} sets ${set.length === 0 ? 'none' : set.join(' and ')} of script_hex, address, descriptor; expected exactly one`;
    }
    const text = entry.address ?? entry.descriptor;
    if (text === undefined) continue;
    const decoded = entry.address !== undefined ? decodeAddress(text) : decodeDescriptor(text);
    // A value that does not decode is already reported on its own key.
    if (!decoded.ok || decoded.value.networks === null) continue;
    const networks = decoded.value.networks;
    const what = `entry ${index} ${set[0]} ${JSON.stringify(text)}`;
    if (network !== undefined) {
      if (!networks.includes(network)) return `${what} is an address for ${_networkClass(networks)}, but mining.network = "${network}"`;
    } else if (first === undefined) {
      first = { index, networks };
    } else if (!networks.some((n) => first!.networks.includes(n))) {
      return `${what} is for ${_networkClass(networks)} but entry ${first.index} is for ${_networkClass(first.networks)}; set mining.network to say which chain`;
    }
  }
  return undefined;
}

export const CROSS_RULES: readonly CrossRule[] = [
  {
    target: ['noise', 'authority_secret_key'],
    doc: 'must derive `noise.authority_public_key`.',
    reads: [['noise', 'authority_public_key'], ['noise', 'authority_secret_key']],
    check: (c) =>
      _xOnlyHex(c.noise.authority_secret_key, 'secret') === _xOnlyHex(c.noise.authority_public_key, 'public')
        ? undefined
        : 'does not match noise.authority_public_key (the secret key derives a different public key)',
  },
  {
    target: ['auth', 'allowlist'],
    doc: 'must be non-empty when `auth.mode = "allowlist"`; usernames unique.',
    reads: [['auth', 'mode'], ['auth', 'allowlist']],
    check: (c) => {
      if (c.auth.mode === 'allowlist' && c.auth.allowlist.length === 0) return 'auth.mode = "allowlist" needs at least one entry';
      const dup = _duplicates(c.auth.allowlist.map((e) => e.username));
      return dup.length ? `duplicate username ${dup.map((d) => JSON.stringify(d)).join(', ')}` : undefined;
    },
  },
  {
    target: ['auth', 'prefix_map'],
    doc: 'must be non-empty when `auth.mode = "prefix_map"`; prefixes unique (the longest matching prefix wins).',
    reads: [['auth', 'mode'], ['auth', 'prefix_map']],
    check: (c) => {
      if (c.auth.mode === 'prefix_map' && c.auth.prefix_map.length === 0) return 'auth.mode = "prefix_map" needs at least one entry';
      const dup = _duplicates(c.auth.prefix_map.map((e) => e.prefix));
      return dup.length ? `duplicate prefix ${dup.map((d) => JSON.stringify(d)).join(', ')}` : undefined;
    },
  },
  {
    target: ['upstream', 'rpc_cookie_file'],
    doc: 'when `gateway.upstream_url` is a URL: set `upstream.rpc_cookie_file`, or both `upstream.rpc_user` and `upstream.rpc_password` (not both kinds).',
    reads: [['gateway', 'upstream_url'], ['upstream', 'rpc_cookie_file'], ['upstream', 'rpc_user'], ['upstream', 'rpc_password']],
    check: (c) => {
      if (c.gateway.upstream_url === 'embedded') return undefined;
      const cookie = c.upstream.rpc_cookie_file !== undefined;
      const user = c.upstream.rpc_user !== undefined;
      const password = c.upstream.rpc_password !== undefined;
      if (cookie && (user || password)) return 'set either upstream.rpc_cookie_file or upstream.rpc_user + upstream.rpc_password, not both';
      if (cookie || (user && password)) return undefined;
      if (user !== password) return `upstream.${user ? 'rpc_password' : 'rpc_user'} is also needed for user/password auth`;
      return 'required for Bitcoin Core RPC auth: set upstream.rpc_cookie_file (RESERVEGRID_UPSTREAM__RPC_COOKIE_FILE), or upstream.rpc_user and upstream.rpc_password';
    },
  },
  {
    target: ['mining', 'payout'],
    doc: 'each entry sets exactly one of `script_hex`, `address`, `descriptor`; addresses belong to `mining.network` (when set) or else all to one chain.',
    reads: [['mining', 'payout'], ['mining', 'network']],
    check: (c) => _payoutProblem(c.mining.payout, c.mining.network),
  },
  {
    target: ['gateway', 'proxy_trusted_sources'],
    doc: 'must be non-empty when `gateway.proxy_protocol = "v2"` (nobody could send the header otherwise).',
    reads: [['gateway', 'proxy_protocol'], ['gateway', 'proxy_trusted_sources']],
    check: (c) => (c.gateway.proxy_protocol === 'v2' && c.gateway.proxy_trusted_sources.length === 0 ? 'gateway.proxy_protocol = "v2" needs at least one trusted load balancer address' : undefined),
  },
  {
    target: ['nats', 'servers'],
    doc: 'must be non-empty when `share.sink = "jetstream"`.',
    reads: [['share', 'sink'], ['nats', 'servers']],
    check: (c) => (c.share.sink === 'jetstream' && c.nats.servers.length === 0 ? 'share.sink = "jetstream" needs at least one NATS server' : undefined),
  },
  {
    target: ['nats', 'password'],
    doc: '`nats.user` and `nats.password` go together.',
    reads: [['nats', 'user'], ['nats', 'password']],
    check: (c) => ((c.nats.user === undefined) === (c.nats.password === undefined) ? undefined : `nats.${c.nats.user === undefined ? 'user' : 'password'} is also needed`),
  },
  {
    target: ['mining', 'allow_work_selection'],
    doc: 'must be `true` when `[job_declaration]` is present: declared jobs reach miners only through SetCustomMiningJob (docs/job-declaration.md).',
    reads: [['job_declaration', 'listen_addr'], ['mining', 'allow_work_selection']],
    check: (c) =>
      c.job_declaration.listen_addr !== undefined && !c.mining.allow_work_selection
        ? '[job_declaration] is present but SetCustomMiningJob is off: no declared job could be mined; set mining.allow_work_selection = true or remove [job_declaration]'
        : undefined,
  },
  {
    target: ['mining', 'max_difficulty'],
    doc: 'must be at least `mining.min_difficulty`.',
    reads: [['mining', 'min_difficulty'], ['mining', 'max_difficulty']],
    check: (c) => (c.mining.min_difficulty <= c.mining.max_difficulty ? undefined : `is below mining.min_difficulty (${c.mining.min_difficulty})`),
  },
  {
    target: ['share', 'share_forward_retry_max_ms'],
    doc: 'must be at least `share.share_forward_retry_initial_ms`.',
    reads: [['share', 'share_forward_retry_initial_ms'], ['share', 'share_forward_retry_max_ms']],
    check: (c) =>
      c.share.share_forward_retry_initial_ms <= c.share.share_forward_retry_max_ms
        ? undefined
        : `is below share.share_forward_retry_initial_ms (${c.share.share_forward_retry_initial_ms})`,
  },
  {
    target: ['policy', 'fee_tier'],
    doc: 'must be empty or name one of `policy.fee_tiers`; tier names unique.',
    reads: [['policy', 'fee_tiers'], ['policy', 'fee_tier']],
    check: (c) => {
      const names = c.policy.fee_tiers.map((t) => t.name);
      const dup = _duplicates(names);
      if (dup.length) return `policy.fee_tiers has duplicate name ${dup.map((d) => JSON.stringify(d)).join(', ')}`;
      if (c.policy.fee_tier !== '' && !names.includes(c.policy.fee_tier)) {
        return `names no tier in policy.fee_tiers (have ${names.length ? names.map((n) => JSON.stringify(n)).join(', ') : 'none'})`;
      }
      return undefined;
    },
  },
];

// ---------------------------------------------------------------------------------------------
// The valibot schema of the whole config, built from the table.

function _keySchema(def: KeyMeta): v.GenericSchema {
  if (def.presence === 'required') return def.leaf.schema;
  if (def.presence === 'optional') return v.optional(def.leaf.schema);
  return v.optional(def.leaf.schema, def.default as never);
}

const _sections: Record<string, v.GenericSchema> = {};
for (const section of SECTION_NAMES) {
  const entries: Record<string, v.GenericSchema> = {};
  for (const k of sectionKeys(section)) entries[k.key] = _keySchema(k);
  // Sections are optional as a whole: load.ts always materialises them so that a missing
  // required key is reported by its own name rather than as a missing section.
  _sections[section] = v.optional(v.object(entries), {});
}

// valibot's partialCheck/forward typings want literal path tuples; the table is built at run time,
// so the rule list is typed by CrossRule and cast here.
// A rule only judges keys that are individually valid: validation issues (our format checks) do
// not make valibot's dataset untyped, so partialCheck alone would also run on bad values and add
// a second, misleading problem ("keys do not match" on a key that is not a key at all).
function _crossProblem(rule: CrossRule, input: unknown): string | undefined {
  const tree = input as Record<string, Record<string, unknown> | undefined>;
  for (const [section, key] of rule.reads) {
    const value = tree[section]?.[key];
    const meta = keyMeta(`${section}.${key}`)!;
    if (value === undefined ? meta.presence !== 'optional' : !v.is(meta.leaf.schema, value)) return undefined;
  }
  return rule.check(input as Config);
}

const _crossActions = CROSS_RULES.map(
  (rule) =>
    v.forward(
      v.partialCheck(
        rule.reads as never,
        (input: unknown) => _crossProblem(rule, input) === undefined,
        (issue) => _crossProblem(rule, issue.input) ?? '',
      ),
      rule.target as never,
    ) as unknown as v.PipeItem<Record<string, unknown>, Record<string, unknown>, v.BaseIssue<unknown>>,
);

export const configSchema: v.GenericSchema<unknown, Config> = v.pipe(v.object(_sections), ..._crossActions) as unknown as v.GenericSchema<unknown, Config>;
