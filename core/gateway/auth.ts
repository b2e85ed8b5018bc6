// Miner authentication (SPEC §9, docs/auth.md). SV2 has no password field, so the credential
// rides inside OpenStandard/ExtendedMiningChannel.user_identity with ONE convention:
//
//   user_identity = <identity with a credential segment>, where the credential segment is
//                   ':' <password> and runs from the FIRST ':' to the next '.' (or the end).
//
//   "alice:pw.rig1"            → identity "alice.rig1",             password "pw"
//   "alice.rig1:pw"            → identity "alice.rig1",             password "pw"
//   "alice:pw.miner3"          → identity "alice.miner3"             (SRI translator, one channel per SV1 miner:
//                                                                     `<config user_identity>.miner<N>`)
//   "alice:pw.translator-proxy"→ identity "alice.translator-proxy"   (SRI translator, aggregated mode:
//                                                                     `<account>.translator-proxy`, where
//                                                                     account = text before the first '.')
//   "alice"                    → identity "alice",                   no password
//
// Why this shape: SRI's translator (sv2-apps `miner-apps/translator`, utils.rs) never forwards the
// SV1 mining.authorize password; it opens channels with the operator-configured user_identity
// plus `.miner<N>` (non-aggregated), or keeps only the part before the FIRST '.' and appends
// `.translator-proxy` (aggregated). A credential placed before the first '.' of the configured
// identity (`alice:pw`) therefore survives both modes; one placed after a '.' would be cut off in
// aggregated mode. The SV1 worker name travels separately in the 0x0002 TLV (SV2.md §10).
// Consequences, documented in docs/auth.md: usernames cannot contain ':'; passwords cannot
// contain '.'.
//
// The identity (credential removed) is what events and logs carry; the password never leaves
// this file. Matching:
//   - open:       any valid identity.
//   - allowlist:  an entry matches when identity == username or identity starts with
//                 username + '.'; the longest matching username wins; its password must match.
//   - prefix_map: identity starts with prefix; the longest prefix wins; its secret must match.
// Secrets are compared as SHA-256 digests with a constant-time compare, so neither their content
// nor their length leaks through timing. Failures all answer `unknown-user` on the wire (SRI's
// string) so a prober cannot tell an unknown name from a wrong password.
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, utf8 } from '../bytes.ts';
import type { ReasonCode } from '../reason-codes.ts';

export type AuthMode = 'open' | 'allowlist' | 'prefix_map';

export interface AuthOptions {
  readonly mode: AuthMode;
  readonly allowlist?: readonly { readonly username: string; readonly password: string }[];
  readonly prefixMap?: readonly { readonly prefix: string; readonly secret: string }[];
  /** auth.max_worker_id_bytes: longest worker name (UTF-8 bytes), in user_identity and TLV. */
  readonly maxWorkerIdBytes: number;
  /** auth.max_workers_per_channel: distinct 0x0002 worker names per channel. */
  readonly maxWorkersPerChannel: number;
}

/** A user_identity split by the convention above. `password` is undefined when absent. */
export interface ParsedUserIdentity {
  /** The user_identity with the credential segment removed: safe to log. */
  readonly identity: string;
  /** Text before the first '.' of `identity` (the account). */
  readonly account: string;
  /** Text after the first '.' of `identity`, or null when there is none (or it is empty). */
  readonly worker: string | null;
  readonly password: string | undefined;
}

export type AuthDecision =
  | { readonly ok: true; readonly identity: string; readonly worker: string | null }
  | {
      readonly ok: false;
      readonly reason: Extract<ReasonCode, 'unknown_user' | 'invalid_user_identity' | 'worker_id_too_long'>;
      /** Credential removed; safe to log. */
      readonly identity: string;
    };

/** Split a user_identity by the credential convention (docs/auth.md). Never throws. */
export function parseUserIdentity(userIdentity: string): ParsedUserIdentity {
  const colon = userIdentity.indexOf(':');
  let identity = userIdentity;
  let password: string | undefined;
  if (colon >= 0) {
    const dot = userIdentity.indexOf('.', colon + 1);
    const end = dot < 0 ? userIdentity.length : dot;
    password = userIdentity.slice(colon + 1, end);
    identity = userIdentity.slice(0, colon) + userIdentity.slice(end);
  }
  const firstDot = identity.indexOf('.');
  const account = firstDot < 0 ? identity : identity.slice(0, firstDot);
  const rest = firstDot < 0 ? '' : identity.slice(firstDot + 1);
  return { identity, account, worker: rest === '' ? null : rest, password };
}

// Printable: no C0/C1 controls, no DEL, no U+FFFD (what the lenient STR0_255 decoder makes of
// invalid UTF-8). Spaces are allowed; SV2.md §5.8 asks for printable text on the wire.
// eslint-disable-next-line no-control-regex
const _UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\ufffd]/;

interface _Secret {
  readonly name: string;
  readonly digest: Uint8Array;
}

/**
 * Stateless authenticator built once from config. `authenticate` is called per channel open
 * (rare); per-share worker limits live in `ChannelWorkers`.
 */
export class Authenticator {
  readonly mode: AuthMode;
  readonly maxWorkerIdBytes: number;
  readonly maxWorkersPerChannel: number;
  /** Sorted longest name first, so the first match is the longest. */
  readonly #entries: readonly _Secret[];

  constructor(options: AuthOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError(`Authenticator: options must be an object, got ${String(options)}`);
    const { mode, maxWorkerIdBytes, maxWorkersPerChannel } = options;
    if (mode !== 'open' && mode !== 'allowlist' && mode !== 'prefix_map') {
      throw new RangeError(`Authenticator: mode must be 'open' | 'allowlist' | 'prefix_map', got ${JSON.stringify(mode)}`);
    }
    if (!(Number.isInteger(maxWorkerIdBytes) && maxWorkerIdBytes >= 1)) {
      throw new RangeError(`Authenticator: maxWorkerIdBytes must be a positive integer, got ${maxWorkerIdBytes}`);
    }
    if (!(Number.isInteger(maxWorkersPerChannel) && maxWorkersPerChannel >= 1)) {
      throw new RangeError(`Authenticator: maxWorkersPerChannel must be a positive integer, got ${maxWorkersPerChannel}`);
    }
    this.mode = mode;
    this.maxWorkerIdBytes = maxWorkerIdBytes;
    this.maxWorkersPerChannel = maxWorkersPerChannel;
    const raw =
      mode === 'allowlist'
        ? (options.allowlist ?? []).map((e) => ({ name: e.username, secret: e.password }))
        : mode === 'prefix_map'
          ? (options.prefixMap ?? []).map((e) => ({ name: e.prefix, secret: e.secret }))
          : [];
    if (mode !== 'open' && raw.length === 0) throw new RangeError(`Authenticator: mode ${mode} needs at least one entry`);
    this.#entries = raw
      .map((e) => ({ name: e.name, digest: sha256(utf8(e.secret)) }))
      .sort((a, b) => b.name.length - a.name.length);
  }

  /** Decide on a channel open's user_identity. The password never appears in the result. */
  authenticate(userIdentity: string): AuthDecision {
    const parsed = parseUserIdentity(userIdentity);
    const { identity } = parsed;
    if (identity.length === 0 || parsed.account.length === 0 || _UNPRINTABLE.test(identity)) {
      return { ok: false, reason: 'invalid_user_identity', identity };
    }
    if (parsed.worker !== null && utf8(parsed.worker).length > this.maxWorkerIdBytes) {
      return { ok: false, reason: 'worker_id_too_long', identity };
    }
    if (this.mode === 'open') return { ok: true, identity, worker: parsed.worker };
    const entry = this.#match(identity);
    // Hash the offered password even when nothing matched, so an unknown name costs the same
    // as a wrong password.
    const offered = sha256(utf8(parsed.password ?? ''));
    const good = entry !== undefined && parsed.password !== undefined && equalBytes(offered, entry.digest);
    return good ? { ok: true, identity, worker: parsed.worker } : { ok: false, reason: 'unknown_user', identity };
  }

  #match(identity: string): _Secret | undefined {
    for (const entry of this.#entries) {
      if (this.mode === 'prefix_map') {
        if (identity.startsWith(entry.name)) return entry;
      } else if (identity === entry.name || (identity.startsWith(entry.name) && identity.charCodeAt(entry.name.length) === 0x2e /* '.' */)) {
        return entry;
      }
    }
    return undefined;
  }
}

/**
 * Distinct worker names seen on one channel through the 0x0002 worker TLV (SV2.md §10), bounded
 * by auth.max_workers_per_channel (SPEC §9). The set never grows past its bound: a new name over
 * the limit is refused (`too_many_workers`), not stored.
 */
export class ChannelWorkers {
  readonly #names = new Set<string>();
  readonly #maxWorkers: number;
  readonly #maxWorkerIdBytes: number;

  constructor(maxWorkers: number, maxWorkerIdBytes: number) {
    this.#maxWorkers = maxWorkers;
    this.#maxWorkerIdBytes = maxWorkerIdBytes;
  }

  get size(): number {
    return this.#names.size;
  }

  /** Admit a worker name from a share's TLV; `byteLength` is its UTF-8 size on the wire. */
  admit(name: string, byteLength: number): 'worker_id_too_long' | 'too_many_workers' | undefined {
    if (byteLength > this.#maxWorkerIdBytes) return 'worker_id_too_long';
    if (this.#names.has(name)) return undefined;
    if (this.#names.size >= this.#maxWorkers) return 'too_many_workers';
    this.#names.add(name);
    return undefined;
  }
}
