// Admission limits for hostile clients (issue 12 Build item 4; SPEC §13 "slow or flooding
// clients"): per-IP and global bounds checked when a TCP connection is accepted, so a flood of
// connects, or of handshakes that never finish, costs at most a bounded number of sessions and
// never locks legitimate miners out of the whole gateway.
//
//   open connections per IP         limits.max_connections_per_ip     → connection_limit_per_ip
//   handshaking (accepted, no       limits.max_handshaking            → handshake_limit_reached
//     SetupConnection.Success yet)  limits.max_handshaking_per_ip     → handshake_limit_per_ip
//   connects per IP over time       limits.connection_rate_per_ip     → connection_rate_limited
//                                   limits.connection_burst_per_ip      (token bucket)
//
// "Handshaking" is the half-open state an attacker can hold cheaply: TCP is up, the Noise act 1
// may or may not have arrived, SetupConnection has not. Each such session is dropped at
// timing.handshake_timeout_ms anyway (session.ts `setup` deadline); these limits bound how many
// can exist at once, so memory is bounded by max_handshaking × (memory per half-open connection,
// measured in docs/reliability.md) whatever the attacker's connect rate.
//
// Sans-IO like the rest of core: time comes in as `nowMs`. The token bucket refills
// continuously (rate per second), starts full (a farm reconnecting after a restart gets its
// burst), and a refused connect spends nothing.
//
// Bounded (STYLE.md #8): one entry per IP that has an open connection or a bucket that is not
// full. Entries with neither are forgotten lazily; at most `ipEntriesMax` entries exist, and a new
// IP that finds the table full after pruning is refused as `connection_rate_limited` (only an
// attacker spread over more than `ipEntriesMax` addresses that all keep a bucket partly spent
// can get there, and then the global limits still hold).
import type { ReasonCode } from '../reason-codes.ts';

export interface AdmissionLimits {
  /** Open connections from one IP at once. */
  readonly connectionsPerIpMax: number;
  /** Connections accepted and not yet past SetupConnection.Success, all IPs. */
  readonly handshakingMax: number;
  /** The same, from one IP. */
  readonly handshakingPerIpMax: number;
  /** Token-bucket refill: connects per second per IP. */
  readonly connectionRatePerIpPerSec: number;
  /** Token-bucket capacity: connects in a burst per IP. */
  readonly connectionBurstPerIp: number;
}

/** No limit: the Gateway's default when its options name none (benchmarks, embedders). */
export const ADMISSION_UNLIMITED: AdmissionLimits = {
  connectionsPerIpMax: Number.MAX_SAFE_INTEGER,
  handshakingMax: Number.MAX_SAFE_INTEGER,
  handshakingPerIpMax: Number.MAX_SAFE_INTEGER,
  connectionRatePerIpPerSec: Number.MAX_SAFE_INTEGER,
  connectionBurstPerIp: Number.MAX_SAFE_INTEGER,
};

/** Distinct IPs tracked at once (see the header). */
export const IP_ENTRIES_MAX_DEFAULT = 100_000;

export type AdmissionRefusal = Extract<ReasonCode, 'connection_limit_per_ip' | 'handshake_limit_reached' | 'handshake_limit_per_ip' | 'connection_rate_limited'>;

interface _IpEntry {
  open: number;
  handshaking: number;
  tokens: number;
  refilledAtMs: number;
}

/**
 * The IP part of an adapter's `remoteAddress` ("1.2.3.4:5678", "::1:5678", "[::1]:5678",
 * "::ffff:1.2.3.4:5678"), IPv4-mapped IPv6 folded to IPv4. '' when unknown: all unknown peers
 * share one entry (an adapter that cannot name the peer gets the per-IP limits as one client).
 */
export function ipOf(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined || remoteAddress === '') return '';
  let host = remoteAddress;
  const bracket = /^\[([^\]]*)\](?::\d+)?$/.exec(host);
  if (bracket) host = bracket[1]!;
  else {
    const colon = host.lastIndexOf(':');
    // "a.b.c.d:port" or "v6:port": the port is the text after the last colon when it is digits.
    if (colon > 0 && /^\d+$/.test(host.slice(colon + 1))) host = host.slice(0, colon);
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  return (mapped ? mapped[1]! : host).toLowerCase();
}

export function checkAdmissionLimits(where: string, limits: AdmissionLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!(Number.isInteger(value) && value >= 1)) throw new RangeError(`${where}: admission.${name} must be an integer >= 1, got ${String(value)}`);
  }
}

export class Admission {
  readonly limits: AdmissionLimits;
  readonly #entries = new Map<string, _IpEntry>();
  readonly #ipEntriesMax: number;
  #handshaking = 0;

  constructor(limits: AdmissionLimits, ipEntriesMax = IP_ENTRIES_MAX_DEFAULT) {
    checkAdmissionLimits('Admission', limits);
    if (!(Number.isInteger(ipEntriesMax) && ipEntriesMax >= 1)) throw new RangeError(`Admission: ipEntriesMax must be an integer >= 1, got ${ipEntriesMax}`);
    this.limits = limits;
    this.#ipEntriesMax = ipEntriesMax;
  }

  /** Connections accepted and not yet set up, all IPs. */
  get handshaking(): number {
    return this.#handshaking;
  }

  /** IPs tracked now (bounded by ipEntriesMax). */
  get trackedIps(): number {
    return this.#entries.size;
  }

  /** Open and handshaking counts of one IP (tests, /status). */
  ipState(ip: string): { readonly open: number; readonly handshaking: number } {
    const e = this.#entries.get(ip);
    return { open: e?.open ?? 0, handshaking: e?.handshaking ?? 0 };
  }

  /**
   * May a connection from `ip` be accepted now? On yes it is counted as open and handshaking and
   * one token is spent; on a refusal nothing changes. Checked in this order: the cheapest
   * explanation an operator can act on first (per-IP open, per-IP rate, then handshake limits).
   */
  admit(ip: string, nowMs: number): AdmissionRefusal | null {
    let entry = this.#entries.get(ip);
    if (entry === undefined) {
      if (this.#entries.size >= this.#ipEntriesMax) this.#prune(nowMs);
      if (this.#entries.size >= this.#ipEntriesMax) return 'connection_rate_limited';
      entry = { open: 0, handshaking: 0, tokens: this.limits.connectionBurstPerIp, refilledAtMs: nowMs };
      this.#entries.set(ip, entry);
    }
    this.#refill(entry, nowMs);
    let refusal: AdmissionRefusal | null = null;
    if (entry.open >= this.limits.connectionsPerIpMax) refusal = 'connection_limit_per_ip';
    else if (entry.tokens < 1) refusal = 'connection_rate_limited';
    else if (entry.handshaking >= this.limits.handshakingPerIpMax) refusal = 'handshake_limit_per_ip';
    else if (this.#handshaking >= this.limits.handshakingMax) refusal = 'handshake_limit_reached';
    if (refusal !== null) {
      this.#forgetIfIdle(ip, entry);
      return refusal;
    }
    entry.tokens -= 1;
    entry.open += 1;
    entry.handshaking += 1;
    this.#handshaking += 1;
    return null;
  }

  /** The connection from `ip` finished SetupConnection: no longer half-open. */
  setupDone(ip: string): void {
    const entry = this.#entries.get(ip);
    if (entry === undefined || entry.handshaking === 0) return;
    entry.handshaking -= 1;
    this.#handshaking -= 1;
  }

  /**
   * The connection from `ip` is gone; `handshaking` = it never finished SetupConnection. The
   * entry is forgotten here only if its bucket is already full; otherwise a later prune does it.
   */
  closed(ip: string, handshaking: boolean): void {
    const entry = this.#entries.get(ip);
    if (entry === undefined) return;
    if (handshaking && entry.handshaking > 0) {
      entry.handshaking -= 1;
      this.#handshaking -= 1;
    }
    if (entry.open > 0) entry.open -= 1;
    this.#forgetIfIdle(ip, entry);
  }

  #refill(entry: _IpEntry, nowMs: number): void {
    const elapsedMs = nowMs - entry.refilledAtMs;
    if (elapsedMs <= 0) return;
    const burst = this.limits.connectionBurstPerIp;
    entry.tokens = Math.min(burst, entry.tokens + (elapsedMs * this.limits.connectionRatePerIpPerSec) / 1000);
    entry.refilledAtMs = nowMs;
  }

  /** No open connection and a full bucket: nothing to remember about this IP. */
  #forgetIfIdle(ip: string, entry: _IpEntry): void {
    if (entry.open === 0 && entry.tokens >= this.limits.connectionBurstPerIp) this.#entries.delete(ip);
  }

  #prune(nowMs: number): void {
    for (const [ip, entry] of this.#entries) {
      this.#refill(entry, nowMs);
      this.#forgetIfIdle(ip, entry);
    }
  }
}
