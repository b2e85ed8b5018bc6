// What the btcd-backed gateway tests share: the config of a gateway fed by a BtcdNode (regtest)
// and paying TEST_MINING_KEY, the SV2 address a `reservegrid run` child prints, its JSON event
// lines, and a small mixed fleet on that address. Used by gateway-btcd, gateway-crash,
// share-jetstream and template-provider-btcd (test/integration) and the TP interop
// (conformance/interop/tp-interop.ts), so the set-up of "a gateway on btcd" is written once.
import { stringify as stringifyToml } from 'smol-toml';
import { bytesToHex } from '../../core/bytes.ts';
import { decodeAuthorityPublicKey, type AuthorityKeyPair } from '../../core/noise/keys.ts';
import { SeededRandom } from '../../core/random.ts';
import { startFleet, type Fleet } from '../../adapters/fleet.ts';
import { assert } from '../assert.ts';
import { seed } from '../harness.ts';
import { TEST_MINING_KEY, type BtcdNode } from './btcd.ts';
import type { RuntimeChild } from './child.ts';
import { until } from './wait.ts';

/** Config sections to merge over the base, key by key (a section not in the base is added); TOML values. */
export type ConfigSections = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/**
 * [mining] for tests that want many shares from a slow fleet. Regtest's network target is
 * ~2^255, so about half of all hashes are blocks. A tiny minimum difficulty and a high share rate
 * put the channel target at its maximum: every hash the fleet tries is a share (and about half
 * are blocks), so a few hashes per second are enough.
 */
export const EVERY_HASH_A_SHARE = {
  min_difficulty: 1e-12,
  shares_per_minute: 600,
  vardiff_enabled: false,
  share_ack_batch_size: 4,
} as const;

/** [upstream] for tests that stop btcd or kill the gateway: short RPC timeout, quick retry. */
export const QUICK_UPSTREAM_RETRY = { request_timeout_ms: 2000, retry_backoff_initial_ms: 100 } as const;

/**
 * The TOML of a gateway on `node`: observe mode on loopback (port 0), embedded verifier,
 * permit_all, events on stdout, `authority`'s Noise keys, open auth, the whole reward to
 * TEST_MINING_KEY, a share upstream nobody listens on (port 9: discard), then `sections` on top.
 */
export function btcdGatewayToml(node: BtcdNode, authority: AuthorityKeyPair, sections: ConfigSections = {}): string {
  const base: Record<string, Record<string, unknown>> = {
    gateway: {
      mode: 'observe',
      listen_addr: '127.0.0.1:0',
      verifier_addr: 'embedded',
      upstream_url: node.rpcUrl,
      upstream_failure_policy: 'permit_all',
      http_api_key: 'test-api-key-0123456789',
      event_log_path: '-',
    },
    noise: { authority_public_key: authority.publicKey, authority_secret_key: authority.secretKeyText },
    timing: { upstream_poll_interval_ms: 200 },
    share: { share_upstream_url: 'http://127.0.0.1:9/shares', share_upstream_secret: 'test-share-secret-0123456789' },
    auth: { mode: 'open' },
    mining: { payout: [{ script_hex: bytesToHex(TEST_MINING_KEY.scriptPubKey), weight: 1 }] },
    upstream: { rpc_user: node.rpcUser, rpc_password: node.rpcPassword },
  };
  for (const [name, values] of Object.entries(sections)) base[name] = { ...base[name], ...values };
  return stringifyToml(base);
}

export interface Sv2Address {
  readonly host: string;
  readonly port: number;
  /** The authority key as printed (base58) and decoded, for pinning. */
  readonly authorityPublicKey: string;
  readonly authorityXOnly: Uint8Array;
}

/** The `SV2 address stratum2+tcp://host:port/key` line `run` prints, waited for (bounded). */
export async function sv2AddressOf(run: RuntimeChild, timeoutMs: number): Promise<Sv2Address> {
  const url = await until('the SV2 address line', timeoutMs, () => {
    if (!run.running) throw new Error(`run exited early (${run.child.exitCode ?? run.child.signalCode}): ${run.stderr()}`);
    return /SV2 address (stratum2\+tcp:\/\/\S+)/.exec(run.stdout())?.[1];
  }, 20);
  const m = /^stratum2\+tcp:\/\/([^/]+):(\d+)\/(\S+)$/.exec(url);
  assert.ok(m !== null, `address ${url}`);
  const key = decodeAuthorityPublicKey(m[3]!);
  assert.ok(key.ok, `authority key in ${url}`);
  return { host: m[1]!, port: Number(m[2]), authorityPublicKey: m[3]!, authorityXOnly: key.value };
}

/** The fields of a `run` event line these tests read. */
export interface RunEvent {
  readonly type: string;
  readonly share_id?: string;
  readonly status?: string;
  readonly recovered?: boolean;
  readonly conn_id?: number;
}

/** JSON lines of `text`; every line must parse (a torn line would hide an event). */
export function parseEventLines(text: string, what: string): RunEvent[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as RunEvent;
      } catch {
        throw new Error(`${what}: line ${i + 1} is not JSON: ${l.slice(0, 200)}`);
      }
    });
}

/** The share_id of every event of `type`, in order. */
export const shareIdsOf = (events: readonly RunEvent[], type: string): string[] => events.filter((e) => e.type === type).map((e) => e.share_id!);

/** `miners` simulated miners (standard and extended channels) on `address`, one hash per 100 ms each. */
export function startMixedFleet(address: Sv2Address, options: { miners: number; durationMs: number; salt: number }): Promise<Fleet> {
  return startFleet({
    host: address.host,
    port: address.port,
    certificatePolicy: { kind: 'pinned', authorityXOnly: address.authorityXOnly },
    miners: options.miners,
    channel: 'mixed',
    attemptsPerTick: 1,
    tickMs: 100,
    durationMs: options.durationMs,
    random: new SeededRandom(seed + options.salt),
  });
}
