// Mining job tokens (issue 11 items 2 and 4; docs/job-declaration.md "Tokens"). One table shared
// by every Job Declaration connection and the mining port, pure, on the injected clock.
//
//   allocated  AllocateMiningJobToken.Success gives one: 16 bytes from the injected RandomSource
//              (unpredictable: a token is a capability), bound to the authenticated user and to
//              the JD connection that asked. Valid for `allocatedExpiryMs` (default 10 min, as
//              jd_server_sv2 0.6.0 ALLOCATED_TOKEN_TIMEOUT_SECS). Declares ONE job: DeclareMiningJob
//              takes it (pending while transactions are missing); refused, it is spent.
//              In coinbase-only mode (no DECLARE_TX_DATA) it is what SetCustomMiningJob presents.
//   declared   DeclareMiningJob.Success gives a NEW token, bound to the same user, carrying the
//              declared job. It expires `declaredExpiryMs` after the Success (default 10 s, as
//              SRI's ACTIVE_TOKEN_TIMEOUT_SECS) and starts ONE custom job (single use).
//
// Validity is decided by the clock at lookup (valid while nowMs < expiresAtMs), never by a timer
// having fired, so the 10 s boundary is exact to the millisecond. Spent and expired entries stay
// as tombstones until `tombstoneMs` past their expiry, so a late or second use is reported as
// what it is (`jd_token_expired`, `jd_token_reused`) rather than `jd_token_unknown`. A tombstone
// keeps no declared job: the job is dropped when the token is spent and, on the onTimeout due at
// its expiry, when it expires (a job nothing can start any more is only garbage-collector work).
// Bounded: at most `capacity` entries; the oldest is evicted first (it is the closest to expiry).
import { bytesToHex } from '../bytes.ts';
import type { RandomSource } from '../random.ts';

export const MINING_JOB_TOKEN_BYTES = 16;

export type TokenRefusal = 'jd_token_unknown' | 'jd_token_expired' | 'jd_token_foreign' | 'jd_token_reused';

export interface TokenSettings {
  readonly allocatedExpiryMs: number;
  readonly declaredExpiryMs: number;
  readonly capacity: number;
  /** How long spent/expired tokens are remembered past their expiry. */
  readonly tombstoneMs: number;
}

interface _Allocated<J> {
  readonly kind: 'allocated';
  readonly user: string;
  readonly connId: number;
  readonly coinbaseOnly: boolean;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  state: 'fresh' | 'pending' | 'spent';
}

interface _Declared<J> {
  readonly kind: 'declared';
  readonly user: string;
  readonly connId: number;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  state: 'fresh' | 'spent';
  /**
   * The declared job while the token can still start it; dropped (undefined) once the token is
   * spent or expired: a tombstone only answers "reused"/"expired", and a 4,000-transaction job
   * kept for `tombstoneMs` (600 s by default) is megabytes of old-generation heap per declaration
   * that every major garbage collection marks again.
   */
  job: J | undefined;
}

type _Entry<J> = _Allocated<J> | _Declared<J>;

export type CustomJobTokenResult<J> =
  | { readonly ok: true; readonly kind: 'declared'; readonly job: J }
  | { readonly ok: true; readonly kind: 'coinbase_only' }
  | { readonly ok: false; readonly reason: TokenRefusal; readonly detail: string };

export class MiningJobTokens<J> {
  readonly settings: TokenSettings;
  readonly #random: RandomSource;
  readonly #entries = new Map<string, _Entry<J>>();
  /** The one deadline: the earliest tombstone to forget (STYLE.md #3), or null. */
  #purgeAtMs: number | null = null;
  evicted = 0;

  constructor(settings: TokenSettings, random: RandomSource) {
    for (const key of ['allocatedExpiryMs', 'declaredExpiryMs', 'tombstoneMs'] as const) {
      if (!(Number.isSafeInteger(settings[key]) && settings[key] >= 0)) throw new RangeError(`MiningJobTokens: ${key} must be an integer >= 0, got ${settings[key]}`);
    }
    if (!(Number.isInteger(settings.capacity) && settings.capacity >= 1)) throw new RangeError(`MiningJobTokens: capacity must be an integer >= 1, got ${settings.capacity}`);
    this.settings = settings;
    this.#random = random;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A fresh allocated token for `user` on JD connection `connId`. */
  allocate(user: string, connId: number, coinbaseOnly: boolean, nowMs: number): Uint8Array {
    const token = this.#fresh();
    this.#put(token, { kind: 'allocated', user, connId, coinbaseOnly, issuedAtMs: nowMs, expiresAtMs: nowMs + this.settings.allocatedExpiryMs, state: 'fresh' });
    return token;
  }

  /**
   * Take an allocated token for a DeclareMiningJob on JD connection `connId`: it becomes pending
   * (until the declaration is decided). Returns the user it is bound to.
   */
  takeAllocated(token: Uint8Array, connId: number, nowMs: number): { ok: true; user: string } | { ok: false; reason: TokenRefusal; detail: string } {
    const entry = this.#entries.get(bytesToHex(token));
    if (entry === undefined || entry.kind !== 'allocated') return { ok: false, reason: 'jd_token_unknown', detail: entry === undefined ? 'token was never allocated (or was evicted)' : 'a declared token cannot declare another job' };
    if (entry.connId !== connId) return { ok: false, reason: 'jd_token_foreign', detail: 'token was allocated on another Job Declaration connection' };
    if (entry.state !== 'fresh') return { ok: false, reason: 'jd_token_reused', detail: `token already ${entry.state === 'pending' ? 'declares a job awaiting transactions' : 'used'}` };
    if (nowMs >= entry.expiresAtMs) return { ok: false, reason: 'jd_token_expired', detail: `allocated token expired at ${entry.expiresAtMs} ms (now ${nowMs} ms)` };
    entry.state = 'pending';
    return { ok: true, user: entry.user };
  }

  /** Still valid (not expired) — checked again when a pending declaration completes. */
  allocatedExpired(token: Uint8Array, nowMs: number): boolean {
    const entry = this.#entries.get(bytesToHex(token));
    return entry === undefined || nowMs >= entry.expiresAtMs;
  }

  /** The declaration was refused: the allocated token is spent (jd_server_sv2 deallocates it too). */
  spendAllocated(token: Uint8Array): void {
    const entry = this.#entries.get(bytesToHex(token));
    if (entry !== undefined) entry.state = 'spent';
  }

  /** The declaration succeeded: spend the allocated token, issue the declared one. */
  declare(allocatedToken: Uint8Array, job: J, nowMs: number): Uint8Array {
    const entry = this.#entries.get(bytesToHex(allocatedToken));
    if (entry === undefined) throw new RangeError('MiningJobTokens.declare: allocatedToken is not in the table');
    entry.state = 'spent';
    const token = this.#fresh();
    this.#put(token, { kind: 'declared', user: entry.user, connId: entry.connId, issuedAtMs: nowMs, expiresAtMs: nowMs + this.settings.declaredExpiryMs, state: 'fresh', job });
    return token;
  }

  /**
   * SetCustomMiningJob (issue 11 item 4): a declared token of the same user, unexpired, unused
   * (then spent), or, for a connection in coinbase-only mode, its unexpired allocated token.
   */
  consumeForCustomJob(token: Uint8Array, user: string, nowMs: number): CustomJobTokenResult<J> {
    const entry = this.#entries.get(bytesToHex(token));
    if (entry === undefined) return { ok: false, reason: 'jd_token_unknown', detail: 'token was never issued (or was evicted)' };
    if (_account(entry.user) !== _account(user)) return { ok: false, reason: 'jd_token_foreign', detail: 'token belongs to another user' };
    if (entry.kind === 'allocated' && !entry.coinbaseOnly) return { ok: false, reason: 'jd_token_unknown', detail: 'token was allocated but no job was declared with it' };
    if (entry.state !== 'fresh') return { ok: false, reason: 'jd_token_reused', detail: 'token already used' };
    if (nowMs >= entry.expiresAtMs) return { ok: false, reason: 'jd_token_expired', detail: `token expired at ${entry.expiresAtMs} ms (now ${nowMs} ms)` };
    entry.state = 'spent';
    if (entry.kind === 'allocated') return { ok: true, kind: 'coinbase_only' };
    const job = entry.job;
    // The job is dropped only on spend or at expiry (onTimeout); a clock that went back past an
    // onTimeout is still an expired token, never a crash.
    if (job === undefined) return { ok: false, reason: 'jd_token_expired', detail: `token expired at ${entry.expiresAtMs} ms` };
    entry.job = undefined;
    return { ok: true, kind: 'declared', job };
  }

  /** The declared job behind a token without spending it (PushSolution, status), or undefined. */
  peekDeclared(token: Uint8Array): { readonly job: J; readonly expiresAtMs: number; readonly user: string } | undefined {
    const entry = this.#entries.get(bytesToHex(token));
    return entry?.kind === 'declared' && entry.job !== undefined ? { job: entry.job, expiresAtMs: entry.expiresAtMs, user: entry.user } : undefined;
  }

  nextDeadlineMs(): number | null {
    return this.#purgeAtMs;
  }

  /**
   * Drop the jobs of expired declared tokens and forget tombstones past `tombstoneMs` after their
   * expiry. Harmless early or twice.
   */
  onTimeout(nowMs: number): void {
    let next = Infinity;
    for (const [key, entry] of this.#entries) {
      if (entry.kind === 'declared' && entry.job !== undefined && nowMs >= entry.expiresAtMs) entry.job = undefined;
      const forgetAt = entry.expiresAtMs + this.settings.tombstoneMs;
      if (nowMs >= forgetAt) this.#entries.delete(key);
      else next = Math.min(next, _dueAt(entry, forgetAt));
    }
    this.#purgeAtMs = next === Infinity ? null : next;
  }

  #fresh(): Uint8Array {
    for (;;) {
      const token = this.#random.fill(new Uint8Array(MINING_JOB_TOKEN_BYTES));
      if (!this.#entries.has(bytesToHex(token))) return token;
    }
  }

  #put(token: Uint8Array, entry: _Entry<J>): void {
    this.#entries.set(bytesToHex(token), entry);
    while (this.#entries.size > this.settings.capacity) {
      this.#entries.delete(this.#entries.keys().next().value as string);
      this.evicted += 1;
    }
    const dueAt = _dueAt(entry, entry.expiresAtMs + this.settings.tombstoneMs);
    if (this.#purgeAtMs === null || dueAt < this.#purgeAtMs) this.#purgeAtMs = dueAt;
  }
}

/** When `entry` next needs onTimeout: its expiry while it still holds a job, else when it is forgotten. */
function _dueAt<J>(entry: _Entry<J>, forgetAtMs: number): number {
  return entry.kind === 'declared' && entry.job !== undefined ? entry.expiresAtMs : forgetAtMs;
}

/**
 * The account of an identity: the text before its first '.' (core/gateway/auth.ts). A token is
 * bound to the account, not the worker: jd_client_sv2 allocates tokens with its configured
 * user identity and opens its mining channel with the same account, but a proxy may append
 * worker names (`.miner<N>`) on the mining side.
 */
function _account(identity: string): string {
  const dot = identity.indexOf('.');
  return dot < 0 ? identity : identity.slice(0, dot);
}
