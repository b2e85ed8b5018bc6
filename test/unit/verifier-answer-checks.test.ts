// The gateway trusts no verifier answer it can check (issue 12 defect 3; docs/verifier-protocol.md
// "What the gateway checks"). Sans-IO, on VerifierClientSession: each kind of lie is refused as a
// protocol error with its own registry code (pollProtocolError), never becomes a verdict, drops
// the connection, and every request in flight ends `verifier_unavailable` (no verdict). Frames are
// built here by hand from the documented layout (not with our encoder), so a wrong answer is
// exactly what a faulty verifier would send. On 072e02b a VERDICT for template 1 answering the
// request for template 2 was applied as template 2's verdict, and accepted:true with a rejection
// code was honoured.
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { VerifierClientSession, type VerifierProtocolError } from '../../core/policy/verifier-protocol.ts';
import type { VerdictOutcome } from '../../core/policy/types.ts';
import { CHAIN, makeTemplate } from '../support/policy-fixtures.ts';

/** length U32 LE ‖ version 1 ‖ kind ‖ request_id U32 LE ‖ body (docs/verifier-protocol.md "Frames"). */
function frame(kind: number, requestId: number, body: unknown): Uint8Array {
  const bytes = new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));
  const out = new Uint8Array(10 + bytes.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 6 + bytes.length, true);
  out[4] = 1;
  out[5] = kind;
  view.setUint32(6, requestId, true);
  out.set(bytes, 10);
  return out;
}

const ACCEPT = { accepted: true, reason_code: 'template_accepted', reason_detail: 'all policy checks passed', policy_context: { fee_tier: 'mid' } };

/** A connected client with requests for templates 1 and 2 in flight. */
function twoInFlight() {
  const c = new VerifierClientSession({ reconnectInitialMs: 100, reconnectMaxMs: 800 });
  c.pollAction();
  c.connected(0);
  const r1 = c.request({ template: makeTemplate({ templateId: 1n }), chain: CHAIN, timeoutMs: 1000 }, 0);
  const r2 = c.request({ template: makeTemplate({ templateId: 2n }), chain: CHAIN, timeoutMs: 1000 }, 0);
  while (c.pollTransmit() !== null);
  return { c, r1, r2 };
}

function drain(c: VerifierClientSession) {
  const outcomes: VerdictOutcome[] = [];
  for (let o = c.pollOutcome(); o !== null; o = c.pollOutcome()) outcomes.push(o);
  const errors: VerifierProtocolError[] = [];
  for (let e = c.pollProtocolError(); e !== null; e = c.pollProtocolError()) errors.push(e);
  return { outcomes, errors };
}

function assertRefused(c: VerifierClientSession, code: string, requestId: number, templateId: bigint | null): void {
  const { outcomes, errors } = drain(c);
  assert.deepEqual(errors.map((e) => [e.reasonCode, e.requestId, e.templateId]), [[code, requestId, templateId]]);
  assert.ok(outcomes.length === 2, `both requests end (got ${outcomes.length})`);
  for (const o of outcomes) {
    assert.equal(o.kind, 'unavailable', 'no verdict is applied');
    assert.equal(o.kind === 'unavailable' && o.reasonCode, 'verifier_unavailable');
  }
  assert.equal(c.state, 'backoff', 'the connection is dropped');
  assert.equal(c.pollAction()?.type, 'disconnect');
  assert.equal(c.stats.protocolErrors, 1);
}

describe('verifier client: answers it can check are checked', () => {
  test('a VERDICT whose template_id differs from the request\'s → verifier_verdict_template_mismatch, never applied', () => {
    const { c, r2 } = twoInFlight();
    c.receive(frame(0x81, r2, { template_id: '1', verdict: ACCEPT }), 5);
    assertRefused(c, 'verifier_verdict_template_mismatch', r2, 2n);
  });

  test('accepted: true with a rejection reason_code → verifier_verdict_inconsistent', () => {
    const { c, r1 } = twoInFlight();
    c.receive(frame(0x81, r1, { template_id: '1', verdict: { ...ACCEPT, reason_code: 'avg_fee_below_minimum' } }), 5);
    assertRefused(c, 'verifier_verdict_inconsistent', r1, 1n);
  });

  for (const code of ['template_accepted', 'verifier_unavailable', 'stale_hold_expired']) {
    test(`accepted: false with ${code} (not a template-policy rejection) → verifier_verdict_inconsistent`, () => {
      const { c, r1 } = twoInFlight();
      c.receive(frame(0x81, r1, { template_id: '1', verdict: { ...ACCEPT, accepted: false, reason_code: code } }), 5);
      assertRefused(c, 'verifier_verdict_inconsistent', r1, 1n);
    });
  }

  const malformed: [string, unknown][] = [
    ['a reason_code outside the registry', { template_id: '1', verdict: { ...ACCEPT, accepted: false, reason_code: 'made_up_code' } }],
    ['a fifth verdict key', { template_id: '1', verdict: { ...ACCEPT, extra: 1 } }],
    ['a missing verdict key', { template_id: '1', verdict: { accepted: true, reason_code: 'template_accepted', reason_detail: 'x' } }],
    ['accepted as a string', { template_id: '1', verdict: { ...ACCEPT, accepted: 'true' } }],
    ['template_id as a number', { template_id: 1, verdict: ACCEPT }],
    ['template_id with a leading zero', { template_id: '01', verdict: ACCEPT }],
    ['an extra body key', { template_id: '1', verdict: ACCEPT, note: 'hi' }],
    ['reason_detail over 4096 characters', { template_id: '1', verdict: { ...ACCEPT, reason_detail: 'x'.repeat(4097) } }],
    ['policy_context with a nested object', { template_id: '1', verdict: { ...ACCEPT, policy_context: { a: { b: 1 } } } }],
    ['policy_context with 65 entries', { template_id: '1', verdict: { ...ACCEPT, policy_context: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) } }],
    ['a body that is not JSON', 'not json'],
  ];
  for (const [what, body] of malformed) {
    test(`VERDICT with ${what} → verifier_answer_malformed`, () => {
      const { c, r1 } = twoInFlight();
      c.receive(frame(0x81, r1, body), 5);
      assertRefused(c, 'verifier_answer_malformed', r1, what === 'a body that is not JSON' ? null : 1n);
    });
  }

  test('ERROR body without a string `error` → verifier_answer_malformed', () => {
    const { c, r1 } = twoInFlight();
    c.receive(frame(0x82, r1, { error: 42 }), 5);
    assertRefused(c, 'verifier_answer_malformed', r1, 1n);
  });

  test('an answer for an id never sent on this connection → verifier_answer_unknown_request; a late answer for a timed-out one is only counted', () => {
    const { c, r1, r2 } = twoInFlight();
    // r1 times out (connected): its late answer is dropped and counted, the connection stays.
    c.request({ template: makeTemplate({ templateId: 3n }), chain: CHAIN, timeoutMs: 10 }, 0);
    while (c.pollTransmit() !== null);
    const r3 = r2 + 1;
    c.onTimeout(10);
    assert.equal(drain(c).outcomes.map((o) => o.kind === 'unavailable' && o.reasonCode).join(), 'verdict_timeout');
    c.receive(frame(0x81, r3, { template_id: '3', verdict: ACCEPT }), 11);
    assert.equal(c.stats.lateVerdicts, 1);
    assert.equal(c.state, 'connected');
    assert.deepEqual(drain(c).errors, []);
    // An id nobody asked for.
    c.receive(frame(0x81, 999, { template_id: '1', verdict: ACCEPT }), 12);
    assertRefused(c, 'verifier_answer_unknown_request', 999, null);
    void r1;
  });

  test('request ids go on across a reconnect (they do not restart at 1); an answer for an id of the old connection is refused on the new one', () => {
    const { c, r1, r2 } = twoInFlight();
    c.connectionLost('reset', 5);
    drain(c);
    c.onTimeout(5 + 100);
    assert.equal(c.pollAction()?.type, 'connect');
    c.connected(106);
    const r3 = c.request({ template: makeTemplate({ templateId: 3n }), chain: CHAIN, timeoutMs: 1000 }, 106);
    assert.deepEqual([r1, r2, r3], [1, 2, 3]);
    c.receive(frame(0x81, r2, { template_id: '2', verdict: ACCEPT }), 107);
    const { errors } = drain(c);
    assert.deepEqual(errors.map((e) => e.reasonCode), ['verifier_answer_unknown_request']);
  });

  test('a well-formed, consistent VERDICT for the right template is applied', () => {
    const { c, r1 } = twoInFlight();
    c.receive(frame(0x81, r1, { template_id: '1', verdict: { accepted: false, reason_code: 'avg_fee_below_minimum', reason_detail: 'avg_fee=141 < min_avg_fee_used=200', policy_context: { fee_tier: 'mid', min_avg_fee_used: 200 } } }), 5);
    const { outcomes, errors } = drain(c);
    assert.deepEqual(errors, []);
    assert.deepEqual(outcomes.map((o) => [o.kind, o.requestId, o.templateId, o.verdict.reason_code]), [['verdict', r1, 1n, 'avg_fee_below_minimum']]);
    assert.equal(c.state, 'connected');
  });
});
