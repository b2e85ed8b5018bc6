// The verdict and verifier contracts of issue 4 (SPEC §5–§7). Shared by the policy engine
// (core/policy/engine.ts), the embedded verifier, the TCP verifier client/server (adapters) and
// the mode/prevhash gate (core/gateway), so this file has no logic beyond small constructors.
//
// Verdict shape (SPEC §7, the seed): EXACTLY four keys, snake_case, JSON-ready:
//   {"accepted": false, "reason_code": "avg_fee_below_minimum",
//    "reason_detail": "avg_fee=141 < min_avg_fee_used=200",
//    "policy_context": {"fee_tier": "mid", "min_avg_fee_used": 200}}
// DECISION: an accepted verdict also carries a registry code, `template_accepted`, never null.
// Reason: metrics count "verdicts by reason code and mode" (SPEC §11) and `reservegrid replay`
// keys on the code; a null would need a special case in every consumer and in the wire format.
// Availability failures (no verdict at all) are NOT verdicts of the policy; they are
// VerdictOutcome.kind = 'unavailable' with `verifier_unavailable` or `verdict_timeout`, and a
// synthetic rejected-shaped verdict so a consumer that only logs verdicts still sees the code.
//
// Verifier contract, sans-IO (STYLE.md #1): requests go out with a request id, outcomes come in
// tagged with it. Exactly ONE outcome per request, always: a verdict, or an availability
// failure at the request's deadline (never a hang, issue 4 item 3). Both the embedded engine
// (outcome ready at once) and the TCP client (outcome when the response frame arrives, or at
// the deadline) implement TemplateVerifier; the gateway treats them the same.
import type { ReasonCode } from '../reason-codes.ts';
import type { BlockTemplate } from '../template/template.ts';

/** Scalar values allowed in policy_context (JSON primitives; amounts in sats fit a double:
 * 21e14 < 2^53). */
export type PolicyContextValue = string | number | boolean;

export interface Verdict {
  readonly accepted: boolean;
  /** Registry code (core/reason-codes.ts). `template_accepted` when accepted; a template-policy
   * code when rejected; `verifier_unavailable` / `verdict_timeout` only in synthetic verdicts of
   * an 'unavailable' outcome. */
  readonly reason_code: ReasonCode;
  /** One human line, stable format per code (`avg_fee=141 < min_avg_fee_used=200`). */
  readonly reason_detail: string;
  /** The policy values that decided it; keys per code, documented in docs/policy.md. */
  readonly policy_context: Readonly<Record<string, PolicyContextValue>>;
}

/**
 * What the verifier knows about the chain, supplied by the caller with each request (the
 * verifier has no node connection of its own). Any field may be null = "not known, skip the
 * check that needs it". The gateway fills it from its template source: `tipHash` is the best
 * block the node reported (the prevhash of the newest template), `recentHashes` the previous
 * tips it has seen, newest first.
 */
export interface ChainView {
  /** Hash of the current best block, 32 bytes internal order; templates must build on it. */
  readonly tipHash: Uint8Array | null;
  /** Height of that block; a template must have height tipHeight + 1 (BIP34 height check). */
  readonly tipHeight: number | null;
  /** Earlier tips (internal order, newest first): a template on one of them is STALE; on a hash
   * in neither tipHash nor here it is UNKNOWN. */
  readonly recentHashes: readonly Uint8Array[];
  /** nbits the next block must carry (from the node); null = do not check. */
  readonly expectedNbits: number | null;
}

export const EMPTY_CHAIN_VIEW: ChainView = Object.freeze({ tipHash: null, tipHeight: null, recentHashes: Object.freeze([]) as readonly Uint8Array[], expectedNbits: null });

/** An answer a remote verifier's client refused (core/policy/verifier-protocol.ts). */
export interface VerifierAnswerRefusal {
  readonly reasonCode: 'verifier_verdict_template_mismatch' | 'verifier_verdict_inconsistent' | 'verifier_answer_malformed' | 'verifier_answer_unknown_request';
  readonly requestId: number;
  readonly templateId: bigint | null;
  readonly detail: string;
}

/** One verdict request. */
export interface VerdictRequest {
  readonly template: BlockTemplate;
  readonly chain: ChainView;
  /**
   * Deadline in ms after submission; past it the outcome is `verdict_timeout`. The prevhash gate
   * uses its own `timing.prevhash_verdict_timeout_ms` in core and may pass a longer deadline here
   * (a late verdict can still end a stale hold, SPEC §6); other requests use
   * `timing.verifier_request_timeout_ms`.
   */
  readonly timeoutMs: number;
}

export type VerdictOutcome =
  | {
      readonly kind: 'verdict';
      readonly requestId: number;
      readonly templateId: bigint;
      readonly verdict: Verdict;
      /** nowMs at delivery − nowMs at request (embedded: 0 on the injected clock). */
      readonly latencyMs: number;
    }
  | {
      readonly kind: 'unavailable';
      readonly requestId: number;
      readonly templateId: bigint;
      /** `verifier_unavailable` (not connected / connection lost / server error) or
       * `verdict_timeout` (connected, no answer by the deadline). */
      readonly reasonCode: 'verifier_unavailable' | 'verdict_timeout';
      /** Synthetic verdict: accepted false, the same code, a detail line, empty context. */
      readonly verdict: Verdict;
      readonly latencyMs: number;
    };

/**
 * A verifier, sans-IO. One synchronous call at a time; time only through `nowMs`.
 *
 *   request(req, nowMs) → requestId   (ids are unique per verifier, ascending from 1)
 *   pollOutcome()       → VerdictOutcome | null   (drain after every call below)
 *   nextDeadlineMs()    → earliest per-request deadline, or null
 *   onTimeout(nowMs)    → expires requests whose deadline ≤ nowMs (harmless early or twice)
 *
 * Guarantee: every request id yields exactly one outcome (verdict or unavailable), at the latest
 * at its deadline once onTimeout(nowMs ≥ deadline) has been called. The embedded verifier makes
 * the outcome available before `request` returns; a remote one when its I/O driver feeds the
 * response in (core/policy/verifier-protocol.ts VerifierClientSession).
 */
export interface TemplateVerifier {
  readonly kind: 'embedded' | 'remote';
  request(req: VerdictRequest, nowMs: number): number;
  pollOutcome(): VerdictOutcome | null;
  /**
   * Remote verifiers: answers refused as protocol errors since the last call (the Gateway emits
   * `verifier_protocol_error` for each). The refused request's own outcome still comes through
   * pollOutcome (as `verifier_unavailable`: no verdict).
   */
  pollProtocolError?(): VerifierAnswerRefusal | null;
  nextDeadlineMs(): number | null;
  onTimeout(nowMs: number): void;
}

/**
 * The same contract for adapters that own real I/O and timers (adapters/verifier-client.ts,
 * adapters/embedded-verifier): one promise per request that ALWAYS resolves (never rejects,
 * never hangs past the deadline).
 */
export interface AsyncTemplateVerifier {
  readonly kind: 'embedded' | 'remote';
  verify(req: VerdictRequest): Promise<VerdictOutcome>;
  close(): Promise<void>;
}

/** The accepted-verdict code (DECISION above). */
export const ACCEPTED_CODE = 'template_accepted' as const satisfies ReasonCode;

export function acceptedVerdict(context: Readonly<Record<string, PolicyContextValue>>, detail = 'all policy checks passed'): Verdict {
  return { accepted: true, reason_code: ACCEPTED_CODE, reason_detail: detail, policy_context: context };
}

export function rejectedVerdict(code: ReasonCode, detail: string, context: Readonly<Record<string, PolicyContextValue>> = {}): Verdict {
  return { accepted: false, reason_code: code, reason_detail: detail, policy_context: context };
}

/** The outcome of a request that got no verdict (availability, SPEC §6 "no verdict"). */
export function unavailableOutcome(
  requestId: number,
  templateId: bigint,
  reasonCode: 'verifier_unavailable' | 'verdict_timeout',
  detail: string,
  latencyMs: number,
): VerdictOutcome {
  return { kind: 'unavailable', requestId, templateId, reasonCode, verdict: rejectedVerdict(reasonCode, detail), latencyMs };
}
