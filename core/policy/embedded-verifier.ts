// The embedded verifier (`gateway.verifier_addr = "embedded"`, SPEC §7): the policy engine
// behind the TemplateVerifier contract (types.ts), so the gateway cannot tell it from the TCP
// client. The verdict is computed inside `request` and ready at once; on the injected clock its
// latency is 0 (the adapter measures wall time where it matters, test/bench/verdict.bench.ts).
import type { PolicyEngine } from './engine.ts';
import type { TemplateVerifier, VerdictOutcome, VerdictRequest } from './types.ts';

export class EmbeddedVerifier implements TemplateVerifier {
  readonly kind = 'embedded' as const;
  readonly engine: PolicyEngine;
  #nextId = 1;
  readonly #outcomes: VerdictOutcome[] = [];

  constructor(engine: PolicyEngine) {
    this.engine = engine;
  }

  request(req: VerdictRequest, _nowMs: number): number {
    const requestId = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    const verdict = this.engine.evaluate(req.template, req.chain);
    this.#outcomes.push({ kind: 'verdict', requestId, templateId: req.template.templateId, verdict, latencyMs: 0 });
    return requestId;
  }

  pollOutcome(): VerdictOutcome | null {
    return this.#outcomes.shift() ?? null;
  }

  nextDeadlineMs(): number | null {
    return null;
  }

  onTimeout(_nowMs: number): void {}
}
