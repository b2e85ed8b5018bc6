// The gateway against a verifier written only from the docs (test/support/doc-verifier.ts:
// docs/verifier-protocol.md + docs/policy.md "Verdicts", none of our codec), over real sockets,
// with the whole stack in inline mode (issue 12 defect 3 and acceptance bullet 2):
//  - agreement: every VERIFY the gateway sends passes the doc's checks (keys, types, byte order,
//    1-based depends, record layout, no trailing bytes); the fields equal what the fixture
//    template says, with hashes in internal byte order computed here from the fixture's display
//    hex; `timeout_ms` is the time left until the hold expiry (5050 with the defaults); the
//    doc verifier's verdict is applied as written;
//  - lies: a VERDICT naming another template, then accepted:true with a rejection code: each is
//    a `verifier_protocol_error` with its own code, counted in
//    reservegrid_verifier_protocol_errors_total, never releases the template (fail_closed: the
//    stale hold), drops the connection; the gateway reconnects (request ids go on, they do not
//    restart at 1), and an honest verdict on the new connection ends the hold.
// On 072e02b the mismatched accept released the new template at once.
import { readFileSync } from 'node:fs';
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { honestAccept, startDocVerifier, type DocAnswer, type DocVerifyRequest } from '../support/doc-verifier.ts';
import { HOST, STEP_MS, prevHashText, startStackWorld, until } from '../support/stack-world.ts';

const GBT = JSON.parse(readFileSync(new URL('../fixtures/btcd-gbt-with-transactions.json', import.meta.url), 'utf8')) as {
  height: number; version: number; transactions: { txid: string; hash: string; fee: number; weight: number; depends: number[]; data: string }[]; default_witness_commitment: string; coinbasevalue: number;
};

/** Display hex (RPC order) → internal byte order hex, by hand. */
const internal = (display: string): string => display.match(/../g)!.reverse().join('');

describe(`gateway ⇄ a verifier written from the docs, over real sockets (${runtime})`, () => {
  test('every VERIFY field as documented; the verdict applied; lies refused with their own codes, counted, never released; reconnect; honest verdict ends the hold', async () => {
    let mode: 'honest' | 'mismatch' | 'inconsistent' = 'honest';
    let firstTemplateId = '';
    const answer = (r: DocVerifyRequest): DocAnswer => {
      if (mode === 'honest') return honestAccept(r);
      if (mode === 'mismatch') {
        mode = 'inconsistent';
        return { verdict: { template_id: firstTemplateId, verdict: { accepted: true, reason_code: 'template_accepted', reason_detail: 'ok', policy_context: {} } } };
      }
      mode = 'honest';
      return { verdict: { template_id: r.header['template_id'], verdict: { accepted: true, reason_code: 'avg_fee_below_minimum', reason_detail: 'contradiction', policy_context: {} } } };
    };
    const verifier = await startDocVerifier(answer);
    const world = await startStackWorld({
      salt: 1203,
      config: { 'gateway.verifier_addr': `${HOST}:${verifier.port}`, 'gateway.upstream_failure_policy': 'fail_closed' },
    });
    try {
      // ---- agreement on the first template.
      const first = await world.waitEvent('prevhash_switch', (e) => e.prev_hash === prevHashText(1));
      firstTemplateId = first.template_id;
      assert.deepEqual(verifier.problems, [], 'the gateway\'s VERIFY frames match the doc');
      const req = verifier.requests[0]!;
      const h = req.header;
      assert.equal(h['template_id'], first.template_id);
      assert.equal(h['prev_hash'], internal(prevHashText(1)), 'prev_hash in internal byte order');
      assert.equal(h['height'], GBT.height);
      assert.equal(h['version'], GBT.version);
      assert.equal(h['coinbase_value'], String(GBT.coinbasevalue));
      // btcd's GBT gives the bare commitment hash; the wire carries the whole output script (doc).
      assert.equal(h['default_witness_commitment'], `6a24aa21a9ed${GBT.default_witness_commitment}`);
      assert.equal(h['tx_count'], GBT.transactions.length);
      assert.equal(h['timeout_ms'], 5050, `time left until the hold expiry: 50 + 5000 (requests: ${JSON.stringify(verifier.requests.map((r) => [r.connection, r.requestId, r.header['template_id'], r.header['timeout_ms']]))}; events: ${JSON.stringify(world.events.filter((e) => e.type === 'template_verdict').map((e) => [e.template_id, e.request_id, e.outcome, e.reason_code]))})`);
      assert.deepEqual(
        req.transactions.map((t) => [t.txid, t.wtxid, t.fee, t.weight, t.depends, Array.from(t.data, (b) => b.toString(16).padStart(2, '0')).join('')]),
        GBT.transactions.map((t) => [internal(t.txid), internal(t.hash), BigInt(t.fee), t.weight, t.depends, t.data]),
        'records: txid/wtxid internal order, fee, weight, depends, data',
      );
      const applied = world.eventsOf('template_verdict').find((e) => e.template_id === first.template_id)!;
      assert.deepEqual(applied.verdict, { accepted: true, reason_code: 'template_accepted', reason_detail: 'all policy checks passed', policy_context: { fee_tier: 'mid', from: 'doc-verifier' } });
      assert.equal(applied.action, 'released');

      // ---- lies on the next block.
      mode = 'mismatch';
      await world.newBlock(2);
      const mismatch = await world.waitEvent('verifier_protocol_error', (e) => e.reason_code === 'verifier_verdict_template_mismatch');
      assert.notEqual(mismatch.template_id, first.template_id);
      const inconsistent = await world.waitEvent('verifier_protocol_error', (e) => e.reason_code === 'verifier_verdict_inconsistent', 10_000);
      assert.equal(inconsistent.template_id, mismatch.template_id, 'the retry asked about the same template');
      assert.equal(world.eventsOf('prevhash_switch').some((e) => e.prev_hash === prevHashText(2) && e.cause === 'verdict_accepted' && world.eventsOf('verifier_protocol_error').length < 2), false);
      const started = world.eventsOf('stale_hold_started');
      assert.ok(started.length >= 1 && started[0]!.prev_hash === prevHashText(2), 'fail_closed: the refused answers are no verdict, the stale hold starts');
      for (const e of world.eventsOf('template_verdict').filter((v) => v.template_id === mismatch.template_id && v.outcome === 'unavailable')) assert.equal(e.reason_code, 'verifier_unavailable');

      // ---- honest again: the hold ends with the verified template.
      const switched = await world.waitEvent('prevhash_switch', (e) => e.prev_hash === prevHashText(2), 10_000);
      assert.equal(switched.verified, true);
      assert.equal(switched.from_hold, true);
      assert.equal(switched.template_id, mismatch.template_id);
      const released = world.eventsOf('template_verdict').find((e) => e.template_id === mismatch.template_id && e.action === 'released')!;
      assert.deepEqual(released.verdict.policy_context, { fee_tier: 'mid', from: 'doc-verifier' });

      // The connection was dropped after each lie and re-opened; ids went on.
      const conns = verifier.connections();
      assert.ok(conns.accepted >= 3 && conns.closed >= 2, `connections ${JSON.stringify(conns)}`);
      const byConnection = new Map<number, number[]>();
      for (const r of verifier.requests) byConnection.set(r.connection, [...(byConnection.get(r.connection) ?? []), r.requestId]);
      const firstIds = [...byConnection.values()].map((ids) => ids[0]!);
      assert.deepEqual(firstIds, [...firstIds].sort((a, b) => a - b), 'ascending across connections');
      assert.ok(firstIds.slice(1).every((id) => id > 1), `ids do not restart at 1 after a reconnect: ${JSON.stringify(firstIds)}`);
      assert.deepEqual(verifier.problems, []);

      const metrics = world.stack.telemetry.metrics.registry.render();
      for (const code of ['verifier_verdict_template_mismatch', 'verifier_verdict_inconsistent']) {
        assert.match(metrics, new RegExp(`reservegrid_verifier_protocol_errors_total\\{reason_code="${code}"\\} 1\\b`), `${code} counted`);
      }
    } finally {
      await world.close();
      await verifier.close();
    }
  }, { timeoutMs: 60_000 });
});
