// Auth (docs/auth.md, SPEC §9): the credential convention inside user_identity, including the
// identities SRI's translator proxy sends (`<cfg>.miner<N>`, `<account>.translator-proxy`, and
// `sri/...` unchanged: sv2-apps miner-apps/translator/src/lib/utils.rs and sv1_server), the three
// modes, longest-match rules, and the worker limits.
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { Authenticator, ChannelWorkers, parseUserIdentity } from '../../core/gateway/auth.ts';

const limits = { maxWorkerIdBytes: 16, maxWorkersPerChannel: 3 };

describe('auth: user_identity convention', () => {
  const cases: [string, string, string | undefined, string | null][] = [
    // user_identity, identity, password, worker
    ['alice', 'alice', undefined, null],
    ['alice:pw', 'alice', 'pw', null],
    ['alice:pw.rig1', 'alice.rig1', 'pw', 'rig1'],
    ['alice.rig1:pw', 'alice.rig1', 'pw', 'rig1'],
    ['alice:pw.miner3', 'alice.miner3', 'pw', 'miner3'], // translator, one channel per SV1 miner
    ['alice:pw.translator-proxy', 'alice.translator-proxy', 'pw', 'translator-proxy'], // aggregated
    ['alice:pw.farm1.miner2', 'alice.farm1.miner2', 'pw', 'farm1.miner2'],
    ['sri/solo/bc1qaddr/worker:pw', 'sri/solo/bc1qaddr/worker', 'pw', null], // `sri/` kept as is by the translator
    ['alice:p:w.rig', 'alice.rig', 'p:w', 'rig'],
    ['alice:', 'alice', '', null],
    ['alice.', 'alice.', undefined, null],
  ];
  for (const [input, identity, password, worker] of cases) {
    test(`${JSON.stringify(input)} → identity ${JSON.stringify(identity)}`, () => {
      const parsed = parseUserIdentity(input);
      assert.equal(parsed.identity, identity);
      assert.equal(parsed.password, password);
      assert.equal(parsed.worker, worker);
    });
  }
});

describe('auth: modes', () => {
  test('open: any valid identity; the credential is stripped from the result', () => {
    const auth = new Authenticator({ mode: 'open', ...limits });
    assert.deepEqual(auth.authenticate('bob:hunter2.rig'), { ok: true, identity: 'bob.rig', worker: 'rig' });
    assert.deepEqual(auth.authenticate('bob'), { ok: true, identity: 'bob', worker: null });
  });

  test('invalid identities: empty, empty account, control characters, invalid UTF-8 replacement', () => {
    const auth = new Authenticator({ mode: 'open', ...limits });
    for (const bad of ['', ':pw', '.rig', 'a\u0000b', 'a\nb', 'a\ufffdb']) {
      const d = auth.authenticate(bad);
      assert.equal(d.ok, false, JSON.stringify(bad));
      assert.equal(!d.ok && d.reason, 'invalid_user_identity');
    }
  });

  test('worker part longer than max_worker_id_bytes (UTF-8 bytes) → worker_id_too_long', () => {
    const auth = new Authenticator({ mode: 'open', ...limits });
    assert.equal(auth.authenticate(`a.${'w'.repeat(16)}`).ok, true);
    const d = auth.authenticate(`a:pw.${'w'.repeat(17)}`);
    assert.deepEqual(d, { ok: false, reason: 'worker_id_too_long', identity: `a.${'w'.repeat(17)}` });
    // 8 two-byte characters = 16 bytes fits; 9 do not.
    assert.equal(auth.authenticate(`a.${'é'.repeat(8)}`).ok, true);
    assert.equal(auth.authenticate(`a.${'é'.repeat(9)}`).ok, false);
  });

  test('allowlist: exact or dotted-prefix username, longest wins, password must match', () => {
    const auth = new Authenticator({
      mode: 'allowlist',
      allowlist: [
        { username: 'alice', password: 'farm-pw' },
        { username: 'alice.rig9', password: 'rig9-pw' },
      ],
      ...limits,
    });
    assert.equal(auth.authenticate('alice:farm-pw').ok, true);
    assert.equal(auth.authenticate('alice:farm-pw.rig1').ok, true);
    assert.equal(auth.authenticate('alice:farm-pw.miner4').ok, true, 'translator form');
    assert.equal(auth.authenticate('alice:farm-pw.translator-proxy').ok, true, 'aggregated translator form');
    assert.equal(auth.authenticate('alice.rig9:rig9-pw').ok, true, 'the more specific entry');
    assert.equal(auth.authenticate('alice.rig9:farm-pw').ok, false, 'longest match decides the password');
    assert.equal(auth.authenticate('alicex:farm-pw').ok, false, 'not a dotted prefix');
    assert.equal(auth.authenticate('alice').ok, false, 'no password');
    assert.equal(auth.authenticate('alice:').ok, false, 'empty password');
    const wrong = auth.authenticate('alice:nope.rig1');
    assert.deepEqual(wrong, { ok: false, reason: 'unknown_user', identity: 'alice.rig1' });
    const unknown = auth.authenticate('mallory:farm-pw');
    assert.deepEqual(unknown, { ok: false, reason: 'unknown_user', identity: 'mallory' });
  });

  test('prefix_map: plain prefix, longest wins, its secret must match', () => {
    const auth = new Authenticator({
      mode: 'prefix_map',
      prefixMap: [
        { prefix: 'site7_', secret: 'site7-secret' },
        { prefix: 'site7_rack3', secret: 'rack3-secret' },
      ],
      ...limits,
    });
    assert.equal(auth.authenticate('site7_rack1:site7-secret.m1').ok, true);
    assert.equal(auth.authenticate('site7_rack3a:rack3-secret').ok, true, 'longest prefix');
    assert.equal(auth.authenticate('site7_rack3a:site7-secret').ok, false);
    assert.equal(auth.authenticate('site8_x:site7-secret').ok, false);
    assert.equal(auth.authenticate('site7_x:site7-secret.translator-proxy').ok, true);
  });

  test('misconfiguration throws: empty tables, bad limits, unknown mode', () => {
    assert.throws(() => new Authenticator({ mode: 'allowlist', allowlist: [], ...limits }), RangeError);
    assert.throws(() => new Authenticator({ mode: 'prefix_map', ...limits }), RangeError);
    assert.throws(() => new Authenticator({ mode: 'nope' as 'open', ...limits }), /mode/);
    assert.throws(() => new Authenticator({ mode: 'open', maxWorkerIdBytes: 0, maxWorkersPerChannel: 1 }), /maxWorkerIdBytes/);
  });
});

describe('auth: worker TLV limits per channel', () => {
  test('distinct names bounded by max_workers_per_channel; repeats always pass; long names refused', () => {
    const workers = new ChannelWorkers(2, 8);
    assert.equal(workers.admit('w1', 2), undefined);
    assert.equal(workers.admit('w2', 2), undefined);
    assert.equal(workers.admit('w1', 2), undefined);
    assert.equal(workers.admit('w3', 2), 'too_many_workers');
    assert.equal(workers.size, 2, 'a refused name is not stored');
    assert.equal(workers.admit('123456789', 9), 'worker_id_too_long');
  });
});
