// The verifier over real loopback TCP on this runtime (SPEC §6–§7, issue 4 item 3): pipelined
// requests, a slow verifier (→ verdict_timeout at the deadline), a verifier that is down
// (→ verifier_unavailable at once), one that restarts (→ the client reconnects with backoff), and
// the `reservegrid verifier` process killed with SIGKILL. "Never a hang" is checked as elapsed
// wall time against the request deadline.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, readEnv, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { listenTcp } from '../../adapters/net/index.ts';
import { VerifierClient } from '../../adapters/verifier-client.ts';
import { startVerifierServer, type VerifierServer } from '../../adapters/verifier-server.ts';
import { PolicyEngine, type Verdict, type VerdictOutcome, type VerdictRequest } from '../../core/policy/index.ts';
import { CHAIN, makeSettings, makeTemplate } from '../support/policy-fixtures.ts';
import { startVerifierProcess, type VerifierProcess } from '../support/stack-world.ts';
import { repoRoot } from '../support/child.ts';
import { until, sleep } from '../support/wait.ts';

const HOST = '127.0.0.1';
const clock = new SystemClock();
const MID = { name: 'mid', minAvgFeeSats: 200, minTotalFeesSats: 0, minTxCount: 0, minTemplateWeight: 0 };
const engine = new PolicyEngine(makeSettings({ feeTiers: [MID], feeTier: 'mid' }));

async function freePort(): Promise<number> {
  const l = await listenTcp({ host: HOST, port: 0 }, (s) => s.abort());
  const port = l.port;
  await l.close();
  return port;
}


const req = (i: number, fees: bigint[], timeoutMs = 2000): VerdictRequest => ({ template: makeTemplate({ templateId: BigInt(i), fees }), chain: CHAIN, timeoutMs });
const code = (o: VerdictOutcome): string => o.verdict.reason_code;

async function timed(p: Promise<VerdictOutcome>): Promise<[VerdictOutcome, number]> {
  const start = Date.now();
  const o = await p;
  return [o, Date.now() - start];
}

describe(`verifier over TCP (${runtime})`, () => {
  test('pipelined: 50 requests in flight at once, every verdict matched to its template', async () => {
    const server = await startVerifierServer({ address: { host: HOST, port: 0 }, evaluate: (r) => engine.evaluate(r.template, r.chain) });
    const client = new VerifierClient({ address: { host: HOST, port: server.port }, clock, reconnectMaxMs: 1000 });
    try {
      // Even ids pay 300 sats average (accepted), odd ids 141 (the seed's rejection).
      const outs = await Promise.all(Array.from({ length: 50 }, (_, i) => client.verify(req(i + 1, i % 2 === 0 ? [300n, 300n] : [100n, 141n, 182n]))));
      assert.deepEqual(outs.map((o) => o.kind), Array(50).fill('verdict'));
      outs.forEach((o, i) => {
        assert.equal(o.templateId, BigInt(i + 1));
        assert.equal(code(o), i % 2 === 0 ? 'template_accepted' : 'avg_fee_below_minimum');
      });
      assert.deepEqual(outs[1]!.verdict, { accepted: false, reason_code: 'avg_fee_below_minimum', reason_detail: 'avg_fee=141 < min_avg_fee_used=200', policy_context: { fee_tier: 'mid', min_avg_fee_used: 200 } });
      assert.equal(new Set(outs.map((o) => o.requestId)).size, 50);
      assert.equal(client.stats.connects, 1, 'one connection carried all of them');
      assert.equal(server.stats.verdicts, 50);
    } finally {
      await client.close();
      await server.close();
    }
  }, { timeoutMs: 20_000 });

  test('slow verifier: verdict_timeout at the deadline, the late verdict is dropped, the next fast one passes', async () => {
    let delayMs = 400;
    const server = await startVerifierServer({
      address: { host: HOST, port: 0 },
      evaluate: async (r): Promise<Verdict> => {
        await sleep(delayMs);
        return engine.evaluate(r.template, r.chain);
      },
    });
    const client = new VerifierClient({ address: { host: HOST, port: server.port }, clock, reconnectMaxMs: 1000 });
    try {
      await until('connected', 5000, () => (client.session.state === 'connected' ? true : undefined));
      const [o, ms] = await timed(client.verify(req(1, [300n], 100)));
      assert.equal(o.kind, 'unavailable');
      assert.equal(code(o), 'verdict_timeout');
      assert.ok(ms >= 95 && ms < 350, `resolved after ${ms} ms, deadline 100 ms`);
      await until('late verdict counted', 3000, () => (client.stats.lateVerdicts === 1 ? true : undefined));
      delayMs = 0;
      const ok = await client.verify(req(2, [300n], 1000));
      assert.equal(code(ok), 'template_accepted');
    } finally {
      await client.close();
      await server.close();
    }
  }, { timeoutMs: 20_000 });

  test('verifier down: verifier_unavailable well before the deadline; restarted: the client reconnects', async () => {
    const port = await freePort();
    const client = new VerifierClient({ address: { host: HOST, port }, clock, reconnectInitialMs: 50, reconnectMaxMs: 200 });
    let server: VerifierServer | undefined;
    try {
      const [o, ms] = await timed(client.verify(req(1, [300n], 5000)));
      assert.equal(code(o), 'verifier_unavailable');
      assert.ok(ms < 2500, `unavailable after ${ms} ms, not at the 5,000 ms deadline`);
      // While backing off: answered at once.
      const [o2, ms2] = await timed(client.verify(req(2, [300n], 5000)));
      assert.equal(code(o2), 'verifier_unavailable');
      assert.ok(ms2 < 50, `${ms2} ms`);
      assert.match(o2.verdict.reason_detail, /not connected/);

      server = await startVerifierServer({ address: { host: HOST, port }, evaluate: (r) => engine.evaluate(r.template, r.chain) });
      await until('reconnected', 5000, () => (client.session.state === 'connected' ? true : undefined));
      assert.equal(code(await client.verify(req(3, [300n]))), 'template_accepted');

      // Restart: the server goes away (in-flight → unavailable at once), comes back on the same
      // port, and the client is connected again after its backoff.
      await server.close();
      const [o3, ms3] = await timed(client.verify(req(4, [300n], 5000)));
      assert.equal(code(o3), 'verifier_unavailable');
      assert.ok(ms3 < 2500, `${ms3} ms`);
      server = await startVerifierServer({ address: { host: HOST, port }, evaluate: (r) => engine.evaluate(r.template, r.chain) });
      await until('reconnected after restart', 5000, () => (client.session.state === 'connected' ? true : undefined));
      assert.equal(code(await client.verify(req(5, [100n, 141n, 182n]))), 'avg_fee_below_minimum');
      assert.ok(client.stats.connects >= 2);
    } finally {
      await client.close();
      await server?.close();
    }
  }, { timeoutMs: 30_000 });

  test('in flight when the connection drops: verifier_unavailable at once, not at the deadline', async () => {
    let release: () => void = () => {};
    const server = await startVerifierServer({
      address: { host: HOST, port: 0 },
      evaluate: (r) => new Promise<Verdict>((resolve) => (release = () => resolve(engine.evaluate(r.template, r.chain)))),
    });
    const client = new VerifierClient({ address: { host: HOST, port: server.port }, clock, reconnectMaxMs: 1000 });
    try {
      const pending = timed(client.verify(req(1, [300n], 10_000)));
      await until('request at the server', 5000, () => (server.stats.open === 1 && client.stats.inFlight === 1 ? true : undefined));
      await sleep(20);
      await server.close();
      const [o, ms] = await pending;
      assert.equal(code(o), 'verifier_unavailable');
      assert.match(o.verdict.reason_detail, /connection lost/);
      assert.ok(ms < 5000, `${ms} ms`);
      release();
    } finally {
      await client.close();
      await server.close();
    }
  }, { timeoutMs: 20_000 });

  test(`reservegrid verifier --config as a process on ${runtime}: verdicts, then SIGKILL → unavailable, restart → reconnect`, async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', 'rg-verifier-'));
    const file = join(dir, 'verifier.toml');
    const example = readFileSync(join(repoRoot, 'deploy/config/example.toml'), 'utf8');
    const toml = example
      .replace('verifier_addr = "embedded"', `verifier_addr = "${HOST}:${port}"`)
      .replace('fee_tiers = []', 'fee_tiers = [ { name = "mid", min_avg_fee_sats = 200 } ]')
      .replace('fee_tier = ""', 'fee_tier = "mid"');
    assert.notEqual(toml, example);
    writeFileSync(file, toml);
    const client = new VerifierClient({ address: { host: HOST, port }, clock, reconnectInitialMs: 50, reconnectMaxMs: 250 });
    let proc: VerifierProcess | undefined;
    try {
      proc = await startVerifierProcess(file);
      await until('client connected', 5000, () => (client.session.state === 'connected' ? true : undefined));
      const seedVerdict = await client.verify(req(1, [100n, 141n, 182n]));
      assert.deepEqual(seedVerdict.verdict, { accepted: false, reason_code: 'avg_fee_below_minimum', reason_detail: 'avg_fee=141 < min_avg_fee_used=200', policy_context: { fee_tier: 'mid', min_avg_fee_used: 200 } });

      await proc.kill('KILL');
      const [o, ms] = await timed(client.verify(req(2, [300n], 5000)));
      assert.equal(code(o), 'verifier_unavailable');
      assert.ok(ms < 2500, `unavailable after ${ms} ms`);

      proc = await startVerifierProcess(file);
      await until('client reconnected', 5000, () => (client.session.state === 'connected' ? true : undefined));
      assert.equal(code(await client.verify(req(3, [300n, 300n]))), 'template_accepted');

      const exit = await proc.kill('TERM');
      assert.equal(exit, 0, proc.process.stderr());
      assert.match(proc.process.stdout(), /SIGTERM received; stopped \(connections 1, verdicts 1, errors 0\)/);
    } finally {
      await client.close();
      await proc?.kill('KILL');
    }
  }, { timeoutMs: 90_000 });
});
