// Share forwarding wired into the real gateway stack, over real sockets (issue 5 acceptance:
// "the gateway forwards to reservegrid share-sink, every signature verifies, and a tampered body
// or old timestamp is refused by the sink"). startGatewayStack with share forwarding on (file
// journal in a temp data_dir, as `reservegrid run` has it), simulated SV2 miners
// (adapters/fleet.ts) on standard and extended channels over TCP + Noise, and the reference sink
// (runtimes/commands/share-sink.ts startShareSink) over HTTP on loopback.
// Checks: every share_accepted has exactly one share_forward_result, `ok`, and none without a
// share; the sink verified every batch (no refusal) and counted each share once as new; the POST
// bodies carry the share_accepted fields a backend needs; the signature header equals an HMAC
// computed here with @noble/hashes from the documented scheme (docs/share-forwarding.md); and
// the sink refuses a tampered body, an old timestamp and a replay with 401.
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, readEnv, runtime, seed, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { startFleet } from '../../adapters/fleet.ts';
import { createSharePoster } from '../../adapters/share-poster.ts';
import { bytesToHex, utf8 } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { HEADER_SIGNATURE, HEADER_TIMESTAMP, signatureHeaders } from '../../core/forwarding/signing.ts';
import type { PostCommand } from '../../core/forwarding/types.ts';
import { SeededRandom } from '../../core/random.ts';
import { startShareSink } from '../../runtimes/commands/share-sink.ts';
import { HOST, STEP_MS, startStackWorld, until } from '../support/stack-world.ts';

const SECRET = 'wiring-share-secret-0123456789';

/** The first JSON example of docs/share-forwarding.md: the documented batch body. */
function docBatchExample(): { shares: Record<string, unknown>[] } & Record<string, unknown> {
  const doc = readFileSync(new URL('../../docs/share-forwarding.md', import.meta.url), 'utf8');
  const block = /```json\n([\s\S]*?)```/.exec(doc);
  assert.ok(block !== null, 'docs/share-forwarding.md has a JSON example');
  return JSON.parse(block![1]!) as { shares: Record<string, unknown>[] } & Record<string, unknown>;
}
const SHARES_MIN = 12;

describe(`share forwarding from the gateway stack to the share sink over real sockets (${runtime})`, () => {
  test('every share_accepted → exactly one share_forward_result ok; every signature verifies at the sink; tampered body and old timestamp refused (401)', async () => {
    const sink = await startShareSink({ host: HOST, port: 0, secret: SECRET, provider: nobleProvider });
    const dataDir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', 'rg-fwd-gateway-'));
    const posts: PostCommand[] = [];
    const real = createSharePoster({ url: sink.url });
    const world = await startStackWorld({
      salt: 501,
      config: {
        'gateway.mode': 'observe',
        'gateway.upstream_failure_policy': 'permit_all',
        'gateway.data_dir': dataDir,
        'share.share_upstream_url': sink.url,
        'share.share_upstream_secret': SECRET,
        'share.share_batch_interval_ms': 50,
        'mining.shares_per_minute': 60,
      },
      // The default poster (fetch to share_upstream_url), recorded on the way: the exact bytes
      // and headers the sink got. Journal: the crash-safe file in data_dir, as in `run`.
      stack: { shareForwarding: { journal: 'file', poster: { post: (command) => (posts.push(command), real.post(command)) } } },
    });
    let stopped = false;
    try {
      assert.ok(world.stack.forwarding !== null, 'forwarding attached by the stack');
      await world.waitEvent('job_broadcast');
      // Nominal 100 H/s, hashing ~2,000 H/s: about 20 shares/s per miner at 60 shares/min.
      const fleet = await startFleet({
        host: HOST,
        port: world.stack.address.port,
        certificatePolicy: { kind: 'pinned', authorityXOnly: world.authority.publicKeyXOnly },
        miners: 2,
        channel: 'mixed',
        userIdentity: (i) => `fwd.miner${i}`,
        nominalHashRate: 100,
        attemptsPerTick: 100,
        tickMs: 50,
        durationMs: 30_000,
        random: new SeededRandom(seed + 502),
      });
      try {
        await until(`${SHARES_MIN} shares accepted`, 30_000, () => (world.eventsOf('share_accepted').length >= SHARES_MIN ? true : undefined));
      } finally {
        await fleet.stop();
      }
      // Results for everything accepted so far arrive while the stack runs (healthy sink).
      await until('a result for every share', STEP_MS, () => {
        const ids = new Set(world.eventsOf('share_forward_result').map((e) => e.share_id));
        return world.eventsOf('share_accepted').every((e) => ids.has(e.share_id)) ? true : undefined;
      });
      await world.close();
      stopped = true;

      const accepted = world.eventsOf('share_accepted');
      const results = world.eventsOf('share_forward_result');
      assert.ok(accepted.length >= SHARES_MIN);
      // Exactly one result per share, joined by share_id; none without a share; all ok.
      const acceptedIds = new Set(accepted.map((e) => e.share_id));
      assert.equal(acceptedIds.size, accepted.length, 'share ids unique');
      const perShare = new Map<string, number>();
      for (const r of results) perShare.set(r.share_id, (perShare.get(r.share_id) ?? 0) + 1);
      for (const id of acceptedIds) assert.equal(perShare.get(id), 1, `exactly one share_forward_result for ${id}`);
      for (const r of results) assert.ok(acceptedIds.has(r.share_id), `result ${r.share_id} has a share_accepted`);
      for (const r of results) assert.equal(r.status, 'ok', `${r.share_id}: ${r.status} ${r.reason ?? ''}`);
      // Stamped like the gateway's own events: one gap-free sequence, each result after its share.
      const seqs = world.events.map((e) => e.seq);
      assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), 'one gap-free seq across gateway and forwarding events');
      const seqOf = new Map(accepted.map((e) => [e.share_id, e.seq]));
      for (const r of results) assert.ok(r.seq > seqOf.get(r.share_id)!, 'result after its share_accepted');
      for (const r of results) assert.equal(typeof r.ts, 'string');

      // The sink verified every batch and counted each share once as new.
      const stats = sink.stats;
      assert.deepEqual(stats.refused, {}, 'no request refused: every signature verified');
      assert.equal(stats.sharesNew, accepted.length);
      assert.equal(stats.sharesDuplicate, 0);
      assert.equal(stats.batches, posts.length);
      assert.ok(posts.length >= 1);

      // What a backend receives: the share_accepted fields (issue 5 item 1), extranonce included.
      const channels = new Map(world.eventsOf('channel_opened').map((e) => [`${e.conn_id}/${e.channel_id}`, e]));
      const bodies = posts.map((p) => JSON.parse(new TextDecoder().decode(p.body)) as { gateway_id: number; shares: Record<string, unknown>[] });
      const forwarded = new Map(bodies.flatMap((b) => b.shares.map((s) => [s['share_id'] as string, s] as const)));
      const kinds = new Set<string>();
      for (const e of accepted) {
        const s = forwarded.get(e.share_id);
        assert.ok(s !== undefined, `${e.share_id} was POSTed`);
        for (const key of ['nonce', 'ntime', 'version', 'extranonce', 'mode', 'hash', 'difficulty', 'job_id', 'template_id', 'stale_hold'] as const) {
          assert.deepEqual(s[key], e[key], `${e.share_id}.${key}`);
        }
        assert.equal(s['mode'], 'observe');
        const channel = channels.get(`${e.conn_id}/${e.channel_id}`)!;
        kinds.add(channel.kind);
        // Standard: the channel's prefix; extended: prefix ‖ the miner's extranonce_size bytes.
        assert.ok(e.extranonce.startsWith(channel.extranonce_prefix), 'extranonce begins with the channel prefix');
        assert.equal(e.extranonce.length / 2, channel.extranonce_prefix.length / 2 + (channel.kind === 'extended' ? channel.extranonce_size : 0));
      }
      assert.deepEqual([...kinds].sort(), ['extended', 'standard'], 'both channel kinds forwarded');
      for (const b of bodies) assert.equal(b.gateway_id, world.config.gateway.id);

      // docs/share-forwarding.md "Wire format": the example body has exactly the keys, in the
      // order, of what the gateway really POSTs (top level and each share), and accepted_at is
      // the share_accepted event's ts (issue 12 defect 4: the docs cannot drift from the wire).
      const docExample = docBatchExample();
      for (const b of bodies) {
        assert.deepEqual(Object.keys(b), Object.keys(docExample), 'batch body keys as in the doc example');
        for (const share of b.shares) assert.deepEqual(Object.keys(share), Object.keys(docExample.shares[0]!), 'share keys as in the doc example');
      }
      for (const e of accepted) assert.equal(forwarded.get(e.share_id)!['accepted_at'], e.ts, 'accepted_at = the share_accepted ts');

      // The signature is HMAC-SHA256(secret, timestamp "." body), as documented: recomputed here
      // with @noble/hashes, independent of core/forwarding/signing.ts.
      for (const p of posts) {
        const ts = p.headers[HEADER_TIMESTAMP]!;
        const payload = new Uint8Array([...utf8(`${ts}.`), ...p.body]);
        assert.equal(p.headers[HEADER_SIGNATURE], `v1=${bytesToHex(hmac(sha256, utf8(SECRET), payload))}`);
      }

      // Sent directly to the sink: a tampered body, an old timestamp, a replay → 401.
      const original = posts[0]!;
      const send = async (headers: Record<string, string>, body: Uint8Array): Promise<{ status: number; text: string }> => {
        // fetch's BodyInit takes only ArrayBuffer-backed views (lib.dom, as `deno check` types it).
        const response = await fetch(sink.url, { method: 'POST', headers, body: new Uint8Array(body) });
        return { status: response.status, text: await response.text() };
      };
      const tampered = original.body.slice();
      const at = new TextDecoder().decode(tampered).indexOf('"nonce":') + '"nonce":'.length;
      tampered[at] = tampered[at] === 0x31 ? 0x32 : 0x31; // one digit of a nonce changed
      // 10 s back: inside the sink's window, and not the second the gateway signed in (the same
      // body and second would be the same signature, which the sink refuses as a replay).
      const fresh = signatureHeaders(nobleProvider, utf8(SECRET), world.config.gateway.id, Date.now() - 10_000, original.body);
      assert.notEqual(fresh[HEADER_SIGNATURE], original.headers[HEADER_SIGNATURE]);
      const tamperedAnswer = await send({ ...fresh, 'Content-Type': 'application/json' }, tampered);
      assert.equal(tamperedAnswer.status, 401, tamperedAnswer.text);
      assert.match(tamperedAnswer.text, /bad-signature/);
      const old = signatureHeaders(nobleProvider, utf8(SECRET), world.config.gateway.id, Date.now() - 3_600_000, original.body);
      const oldAnswer = await send({ ...old, 'Content-Type': 'application/json' }, original.body);
      assert.equal(oldAnswer.status, 401, oldAnswer.text);
      assert.match(oldAnswer.text, /stale-timestamp/);
      const replay = await send({ ...original.headers }, original.body);
      assert.equal(replay.status, 401, replay.text);
      assert.match(replay.text, /replay/);
      // Control: the same body freshly signed is accepted (its shares are duplicates by now).
      const control = await send({ ...fresh, 'Content-Type': 'application/json' }, original.body);
      assert.equal(control.status, 200, control.text);
      assert.equal(sink.stats.sharesNew, accepted.length, 'the control added no new share');
    } finally {
      if (!stopped) await world.close();
      await sink.close();
    }
  }, { timeoutMs: 90_000 });
});
