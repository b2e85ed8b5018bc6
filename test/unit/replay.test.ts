// `reservegrid replay` on a recorded event log: test/fixtures/replay-inline-hold.jsonl, recorded
// from a real run of the gateway stack in inline mode (test/fixtures/README.md says how). What
// the run did is known from its script, not from our replay code: the first height-2 template
// was rejected (coinbase_payout_unpaid) → stale hold → a later height-2 template was accepted →
// prevhash switch from the hold; accepted shares went through the forwarder, whose first POST
// got a 503 (one retry) and later ones 200.
import { readFileSync } from 'node:fs';
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { systemRandom } from '../../adapters/random.ts';
import type { CliIo } from '../../runtimes/io.ts';
import { main } from '../../runtimes/cli.ts';
import { parseEventLog, replayConnection, replayShare, replaySummary, replayTemplate, type LogEvent } from '../../runtimes/commands/replay.ts';
import { GatewayMetrics } from '../../core/metrics/gateway-metrics.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus-text.ts';

const FIXTURE_URL = new URL('../fixtures/replay-inline-hold.jsonl', import.meta.url);
const FIXTURE_PATH = FIXTURE_URL.pathname;
const TEXT = readFileSync(FIXTURE_URL, 'utf8');
const RAW: LogEvent[] = TEXT.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LogEvent);
const of = (type: string): LogEvent[] => RAW.filter((e) => e.type === type);

function io(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { runtime, env: {}, readFile: (p) => readFileSync(p, 'utf8'), stdout: (t) => void (out += t), stderr: (t) => void (err += t), clock: new SystemClock(), random: systemRandom },
    out: () => out,
    err: () => err,
  };
}

describe('replay (recorded inline run with a held prevhash switch)', () => {
  const log = parseEventLog([{ name: 'replay-inline-hold.jsonl', text: TEXT }]);

  test('the fixture holds what its README says', () => {
    assert.equal(of('stale_hold_started').length, 1);
    assert.equal(of('stale_hold_started')[0]!.reason_code, 'coinbase_payout_unpaid');
    assert.equal(of('share_forward_retry').length, 1);
    assert.ok(of('share_accepted').length >= 1);
    assert.equal(log.skipped, 0);
    assert.equal(log.runs, 1);
  });

  test("a share's lifecycle: connection → channel → template and verdict → share_accepted → retry → share_forward_result", () => {
    const retry = of('share_forward_retry')[0]!;
    const result = of('share_forward_result').find((e) => e.batch_id === retry.batch_id)!;
    const shareId = String(result.share_id);
    const life = replayShare(log, shareId)!;
    assert.ok(life !== null);
    assert.equal(life.accepted.share_id, shareId);
    assert.equal(life.connection?.conn_id, life.accepted.conn_id);
    assert.equal(life.channel?.channel_id, life.accepted.channel_id);
    assert.equal(life.template?.template_id, life.accepted.template_id);
    assert.equal(life.verdict?.reason_code, 'template_accepted', 'inline: shares only on released work');
    assert.deepEqual(life.forward_retries.map((e) => e.batch_id), [retry.batch_id]);
    assert.equal(life.forward_result?.status, 'ok');
    assert.equal(life.forward_result?.attempts, 2);
    const order = life.timeline.map((e) => e.type);
    assert.deepEqual(order.slice(-3), ['share_accepted', 'share_forward_retry', 'share_forward_result']);
    assert.ok(order.indexOf('connection_opened') < order.indexOf('channel_opened'));
    assert.equal(replayShare(log, 'no-such-share'), null);
  });

  test('a held prevhash switch: the rejected template, its hold, and the switch that ended it', () => {
    const hold = of('stale_hold_started')[0]!;
    const stories = replayTemplate(log, String(hold.template_id));
    assert.equal(stories.length, 1);
    const t = stories[0]!;
    assert.equal(t.received?.height, 2);
    assert.equal(t.received?.new_prevhash, true);
    assert.deepEqual(t.verdicts.map((v) => [v.mode, v.reason_code, v.action]), [['inline', 'coinbase_payout_unpaid', 'hold']]);
    assert.equal(t.holds.length, 1);
    assert.equal(t.hold_ends[0]?.outcome, 'switched');
    assert.equal(t.switches.length, 1);
    const sw = t.switches[0]!;
    assert.equal(sw.from_hold, true);
    assert.equal(sw.held_template_id, hold.held_template_id);
    assert.notEqual(sw.template_id, hold.template_id, 'a later template on the same prevhash ended the hold');
    assert.equal(sw.prev_hash, hold.prev_hash);
    assert.deepEqual(t.disconnects, []);
    const types = t.timeline.map((e) => e.type);
    assert.deepEqual(types.filter((x) => x !== 'job_broadcast'), ['template_received', 'template_verdict', 'stale_hold_started', 'template_received', 'template_verdict', 'prevhash_switch', 'stale_hold_ended']);
  });

  test("a miner's session", () => {
    const opened = of('connection_opened')[0]!;
    const [s] = replayConnection(log, Number(opened.conn_id));
    assert.ok(s !== undefined);
    assert.ok(s.setup !== null);
    assert.equal(s.channels.length, 1);
    assert.equal(s.closed?.reason_code, 'peer_closed');
    assert.equal(s.shares_accepted, of('share_accepted').filter((e) => e.conn_id === opened.conn_id).length);
    assert.deepEqual(replayConnection(log, 999), []);
  });

  test('summary, and the same log fed to the metrics gives the same counts', () => {
    const s = replaySummary(log);
    assert.equal(s.events, RAW.length);
    assert.deepEqual(s.stale_hold_outcomes, { switched: 1 });
    const m = new GatewayMetrics();
    for (const e of RAW) m.observe(e);
    const p = parsePrometheusText(m.registry.render());
    assert.equal(sampleValue(p, 'reservegrid_stale_holds_started_total', { reason_code: 'coinbase_payout_unpaid' }), 1);
    assert.equal(sampleValue(p, 'reservegrid_prevhash_switches_total', { mode: 'inline', cause: 'verdict_accepted', from_hold: 'true' }), 1);
    const accepted = ['standard', 'extended', 'unknown'].reduce((sum, channel_type) => sum + (sampleValue(p, 'reservegrid_shares_accepted_total', { channel_type }) ?? 0), 0);
    assert.equal(accepted, s.shares_accepted);
    assert.equal(sampleValue(p, 'reservegrid_shares_accepted_total', { channel_type: 'unknown' }), undefined, 'every share is on a channel the log opened');
    assert.equal(sampleValue(p, 'reservegrid_share_forward_results_total', { status: 'ok' }), s.forward_results_by_status.ok);
  });

  test('the command: registered, text and --json, errors', async () => {
    const hold = of('stale_hold_started')[0]!;
    let c = io();
    assert.equal(await main(['replay', FIXTURE_PATH, '--template', String(hold.template_id)], c.io), 0, c.err());
    assert.match(c.out(), /verdict coinbase_payout_unpaid \(hold\)/);
    assert.match(c.out(), /STALE HOLD started/);
    assert.match(c.out(), /ended the hold on template/);
    const shareId = String(of('share_forward_result')[0]!.share_id);
    c = io();
    assert.equal(await main(['replay', FIXTURE_PATH, '--share', shareId, '--json'], c.io), 0, c.err());
    assert.equal((JSON.parse(c.out()) as { share_id: string }).share_id, shareId);
    c = io();
    assert.equal(await main(['replay', FIXTURE_PATH], c.io), 0);
    assert.match(c.out(), /events in 1 run/);
    c = io();
    assert.equal(await main(['replay', FIXTURE_PATH, '--share', 'nope'], c.io), 1);
    c = io();
    assert.equal(await main(['replay', '--share', 'x'], c.io), 2);
    assert.match(c.err(), /Usage: reservegrid replay/);
    c = io();
    assert.equal(await main(['replay', '--help'], c.io), 0);
    assert.match(c.out(), /Usage: reservegrid replay/);
  });

  test('runs split where seq restarts; unreadable lines are skipped and counted', () => {
    const two = parseEventLog([
      { name: 'a', text: '{"type":"connection_opened","conn_id":1,"seq":1}\nnot json\n{"type":"share_forward_result","share_id":"s"}\n' },
      { name: 'b', text: '{"type":"connection_opened","conn_id":1,"seq":1}\n[1]\n' },
    ]);
    assert.equal(two.runs, 2);
    assert.equal(two.skipped, 2);
    assert.deepEqual(replayConnection(two, 1).map((s) => s.run), [1, 2]);
  });
});
