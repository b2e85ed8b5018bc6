// The `/status` document (SPEC §11, docs/http-api.md): mode, upstream, verifier, prevhash,
// hold state, miners, channels, queues. Built from what the events said (GatewayMetrics.state)
// plus the few live values only the running objects know (gateway state, verdict-gate phase,
// forwarding queue, event buffer). Pure: the caller passes `nowMs`/wall time in.
import type { TdpClientStatus } from '../gateway/gateway.ts';
import type { ObservedState } from './gateway-metrics.ts';

export interface StatusInput {
  readonly observed: ObservedState;
  readonly gateway: {
    readonly id: number;
    readonly mode: string;
    /** running | draining | stopped */
    readonly state: string;
    readonly runtime: string;
    readonly started_at: string;
    readonly uptime_secs: number;
    readonly sv2_url: string | null;
  };
  readonly upstream: { readonly url: string; readonly failure_policy: string };
  readonly verifier: { readonly addr: string; readonly pending_requests: number | null };
  /** The verdict gate's phase (idle, awaiting_verdict, holding, expired...), when known. */
  readonly gate?: { readonly phase: string; readonly refusing_miners: boolean; readonly hold_expires_in_ms: number | null };
  readonly forwarding: { readonly depth: number; readonly capacity: number; readonly in_flight: number; readonly unsettled: number } | null;
  readonly eventBuffer: { readonly size: number; readonly capacity: number; readonly last_id: number; readonly evicted: number; readonly subscribers: number };
  readonly blocksPending?: number;
}

export interface StatusDocument {
  readonly gateway: StatusInput['gateway'];
  readonly upstream: StatusInput['upstream'] & ObservedState['upstream'];
  readonly verifier: StatusInput['verifier'] & ObservedState['verifier'];
  readonly prevhash: ObservedState['prevhash'] & { readonly phase: string | null };
  readonly hold: ObservedState['hold'] & { readonly refusing_miners: boolean; readonly expires_in_ms: number | null };
  readonly miners: {
    readonly connections: number;
    readonly channels: { readonly standard: number; readonly extended: number; readonly total: number };
    readonly shares_accepted: number;
    readonly shares_rejected: number;
  };
  readonly blocks: ObservedState['blocks'];
  readonly queue: {
    readonly share_forward: StatusInput['forwarding'];
    readonly events: StatusInput['eventBuffer'];
  };
  readonly last_event_at: string | null;
  /** Issue 10: present when [template_provider] is configured (adapters/gateway-stack.ts adds it). */
  readonly template_provider?: {
    readonly listen_addr: string | null;
    readonly port: number | null;
    readonly max_clients: number;
    readonly clients: readonly TdpClientStatus[];
  };
}

export function buildStatus(input: StatusInput): StatusDocument {
  const o = input.observed;
  return {
    gateway: input.gateway,
    upstream: { ...input.upstream, ...o.upstream },
    verifier: { ...input.verifier, ...o.verifier },
    prevhash: { ...o.prevhash, phase: input.gate?.phase ?? null },
    hold: {
      ...o.hold,
      // The gate knows the truth now; the events know the history.
      active: input.gate === undefined ? o.hold.active : input.gate.phase === 'holding',
      refusing_miners: input.gate?.refusing_miners ?? false,
      expires_in_ms: input.gate?.hold_expires_in_ms ?? null,
    },
    miners: {
      connections: o.connections_open,
      channels: { standard: o.channels_open.standard, extended: o.channels_open.extended, total: o.channels_open.standard + o.channels_open.extended },
      shares_accepted: o.shares.accepted,
      shares_rejected: o.shares.rejected,
    },
    blocks: input.blocksPending === undefined ? o.blocks : { ...o.blocks, pending: input.blocksPending },
    queue: { share_forward: input.forwarding, events: input.eventBuffer },
    last_event_at: o.last_event_at,
  };
}
