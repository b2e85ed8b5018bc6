// Config loader (SPEC §10, issue 2 item 5, issue 6 item 1): the seed loads as written, every key
// is reachable through its environment variable, errors name key, value and expectation, and
// secrets never appear in any output.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import {
  CONFIG_KEYS,
  describeConfig,
  envNameOf,
  formatEnvValue,
  formatProblem,
  loadConfig,
  type ConfigProblem,
  type LoadResult,
} from '../../core/config/index.ts';
import { CONFIG_DOC_PATH, renderConfigurationDoc } from '../../scripts/gen-config-docs.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const seedText = readFileSync(`${root}deploy/config/seed.toml`, 'utf8');
const exampleText = readFileSync(`${root}deploy/config/example.toml`, 'utf8');

// SRI's development authority key pair and the spec's public-key vector (SV2.md §3.3).
const SRI_DEV_PUBLIC = '9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72';
const SRI_DEV_SECRET = 'mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n';
const SPEC_VECTOR_PUBLIC = '9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh';

type Tree = Record<string, Record<string, unknown>>;

/** Env that supplies what the seed lacks, so the seed's own values can be inspected. */
const seedCompletion: Record<string, string> = {
  RESERVEGRID_GATEWAY__ID: '3',
  RESERVEGRID_NOISE__AUTHORITY_PUBLIC_KEY: SRI_DEV_PUBLIC,
  RESERVEGRID_NOISE__AUTHORITY_SECRET_KEY: SRI_DEV_SECRET,
  RESERVEGRID_MINING__PAYOUT__0__SCRIPT_HEX: '0014751e76e8199196d454941c45d1b3a323f1433bd6',
  RESERVEGRID_UPSTREAM__RPC_COOKIE_FILE: '/tmp/.cookie',
};

function load(tomlText: string | undefined, env: Record<string, string> = {}): LoadResult {
  return loadConfig({ tomlText, fileName: 'test.toml', env });
}

function problems(result: LoadResult): readonly ConfigProblem[] {
  assert.equal(result.ok, false, 'expected problems');
  return result.ok ? [] : result.problems;
}

function only(result: LoadResult): ConfigProblem {
  const list = problems(result);
  assert.equal(list.length, 1, `expected one problem, got:\n${list.map(formatProblem).join('\n')}`);
  return list[0]!;
}

function ok(result: LoadResult): Extract<LoadResult, { ok: true }> {
  if (!result.ok) assert.fail(`unexpected problems:\n${result.problems.map(formatProblem).join('\n')}`);
  return result;
}

/** example.toml with `patch` applied ([section, key, value]; value undefined deletes). */
function exampleWith(...patch: [string, string, unknown][]): string {
  const tree = parseToml(exampleText) as Tree;
  for (const [section, key, value] of patch) {
    if (value === undefined) delete tree[section]![key];
    else tree[section]![key] = value;
  }
  return stringifyToml(tree);
}

/**
 * Every key at its table example. `gateway.workers` (example ≠ 1) and `[job_declaration]` load
 * together: the JD tokens stay in the leader and its workers ask it (docs/scaling.md "Job
 * Declaration with workers").
 */
function examplesTree(): Tree {
  const tree: Tree = {};
  for (const k of CONFIG_KEYS) (tree[k.section] ??= {})[k.key] = k.example;
  return tree;
}

describe('config: the product seed', () => {
  test('every seed key is recognised and taken with the seed value, from the file', () => {
    const r = ok(load(seedText, seedCompletion));
    const seed = parseToml(seedText) as Tree;
    let count = 0;
    for (const [section, keys] of Object.entries(seed)) {
      for (const [key, value] of Object.entries(keys)) {
        const effective = (r.config as unknown as Tree)[section]![key];
        assert.deepEqual(JSON.parse(JSON.stringify(effective)), JSON.parse(JSON.stringify(value)), `${section}.${key}`);
        assert.equal(r.sources[`${section}.${key}`]?.label, 'file', `${section}.${key} source`);
        count++;
      }
    }
    assert.equal(count, 23);
  });

  test('alone, the seed lacks exactly the required keys it does not set', () => {
    const list = problems(load(seedText));
    assert.deepEqual(list.map((p) => p.key), [
      'gateway.id',
      'noise.authority_public_key',
      'noise.authority_secret_key',
      'mining.payout',
      'upstream.rpc_cookie_file',
    ]);
    assert.ok(list.every((p) => p.kind === 'missing'), list.map(formatProblem).join('\n'));
    assert.equal(list[0]!.envName, 'RESERVEGRID_GATEWAY__ID');
    assert.match(formatProblem(list[0]!), /^gateway\.id: required key not set; expected integer 0\.\.65535; .*RESERVEGRID_GATEWAY__ID/);
  });

  test('the complete example loads; the table examples form a valid config', () => {
    const r = ok(load(exampleText));
    assert.equal(r.config.gateway.mode, 'observe');
    assert.equal(r.config.noise.authority_public_key, SRI_DEV_PUBLIC);
    const examples = ok(load(stringifyToml(examplesTree())));
    // Workers and the Job Declaration Server together (the refusal of both was lifted).
    assert.ok(examples.config.gateway.workers !== 1 && examples.config.job_declaration.listen_addr !== undefined, 'workers example + [job_declaration] load');
  });

  test('example.toml lists every key (cookie auth aside: it uses user/password; NATS auth aside: its sink is http)', () => {
    const tree = parseToml(exampleText) as Tree;
    const listed = Object.entries(tree).flatMap(([section, keys]) => Object.keys(keys).map((key) => `${section}.${key}`));
    const unlisted = ['upstream.rpc_cookie_file', 'nats.credentials_file', 'nats.user', 'nats.password', 'nats.token'];
    assert.deepEqual(listed, CONFIG_KEYS.map((k) => k.path).filter((p) => !unlisted.includes(p)));
  });

  test('every key with a default has an example that differs from it (so the env walk proves something)', () => {
    for (const k of CONFIG_KEYS.filter((x) => x.presence === 'default')) {
      assert.notDeepEqual(k.example, k.default, k.path);
    }
  });

  test('required keys are exactly the ones that decide pool behaviour (SPEC §10)', () => {
    assert.deepEqual(CONFIG_KEYS.filter((k) => k.presence === 'required').map((k) => k.path), [
      'gateway.mode',
      'gateway.id',
      'gateway.listen_addr',
      'gateway.verifier_addr',
      'gateway.upstream_url',
      'gateway.upstream_failure_policy',
      'gateway.http_api_key',
      'noise.authority_public_key',
      'noise.authority_secret_key',
      'share.share_upstream_url',
      'share.share_upstream_secret',
      'auth.mode',
      'mining.payout',
    ]);
  });
});

describe('config: every key through its environment variable', () => {
  test('walk the table: env sets each key, the effective config takes it, the source says env', () => {
    const base = examplesTree();
    let walked = 0;
    for (const k of CONFIG_KEYS) {
      const tree = structuredClone(base);
      delete tree[k.section]![k.key];
      const name = envNameOf([k.section, k.key]);
      const r = load(stringifyToml(tree), { [name]: formatEnvValue(k.example) });
      if (!r.ok) assert.fail(`${k.path} via ${name}:\n${r.problems.map(formatProblem).join('\n')}`);
      const effective = (r.config as unknown as Tree)[k.section]![k.key];
      assert.deepEqual(JSON.parse(JSON.stringify(effective)), JSON.parse(JSON.stringify(k.example)), k.path);
      assert.equal(r.sources[k.path]?.label, `env:${name}`, `${k.path} source`);
      assert.equal(r.sources[k.path]?.origin, 'env');
      walked++;
    }
    assert.equal(walked, CONFIG_KEYS.length);
    assert.ok(walked >= 60, `only ${walked} keys`);
  });

  test('environment wins over the file', () => {
    const r = ok(load(exampleText, { RESERVEGRID_GATEWAY__MODE: 'inline', RESERVEGRID_TIMING__PREVHASH_VERDICT_TIMEOUT_MS: '49' }));
    assert.equal(r.config.gateway.mode, 'inline');
    assert.equal(r.config.timing.prevhash_verdict_timeout_ms, 49);
    assert.equal(r.sources['gateway.mode']?.label, 'env:RESERVEGRID_GATEWAY__MODE');
    assert.equal(r.sources['gateway.listen_addr']?.label, 'file');
  });

  test('a key set nowhere reports its source as default', () => {
    const r = ok(load(exampleWith(['timing', 'nonce_expire_secs', undefined])));
    assert.equal(r.config.timing.nonce_expire_secs, 60);
    assert.equal(r.sources['timing.nonce_expire_secs']?.label, 'default');
  });

  test('scalars are converted by the key type, not guessed', () => {
    const r = ok(load(exampleText, {
      RESERVEGRID_MINING__POOL_TAG: '007',
      RESERVEGRID_SHARE__SHARE_FORWARD_QUEUE_SIZE: '20_000',
      RESERVEGRID_MINING__VARDIFF_ENABLED: 'false',
      RESERVEGRID_MINING__MIN_DIFFICULTY: '0.5',
    }));
    assert.equal(r.config.mining.pool_tag, '007');
    assert.equal(r.config.share.share_forward_queue_size, 20_000);
    assert.equal(r.config.mining.vardiff_enabled, false);
    assert.equal(r.config.mining.min_difficulty, 0.5);
    const p = only(load(exampleText, { RESERVEGRID_MINING__VARDIFF_ENABLED: 'yes' }));
    assert.equal(formatProblem(p), 'mining.vardiff_enabled: got "yes" (from RESERVEGRID_MINING__VARDIFF_ENABLED), expected true or false');
  });

  test('array element fields, whole elements, appends and whole arrays', () => {
    const file = exampleWith(['auth', 'allowlist', [{ username: 'a', password: 'pa' }, { username: 'b', password: 'pb' }]]);
    let r = ok(load(file, { RESERVEGRID_AUTH__ALLOWLIST__1__USERNAME: 'bee' }));
    assert.deepEqual(r.config.auth.allowlist.map((e) => [e.username, e.password]), [['a', 'pa'], ['bee', 'pb']]);
    assert.equal(r.sources['auth.allowlist']?.label, 'file + env:RESERVEGRID_AUTH__ALLOWLIST__1__USERNAME');

    r = ok(load(file, {
      RESERVEGRID_AUTH__ALLOWLIST__2__USERNAME: 'c',
      RESERVEGRID_AUTH__ALLOWLIST__2__PASSWORD: 'pc',
      RESERVEGRID_AUTH__ALLOWLIST__0: '{ username = "zed", password = "pz" }',
    }));
    assert.deepEqual(r.config.auth.allowlist.map((e) => e.username), ['zed', 'b', 'c']);

    r = ok(load(file, { RESERVEGRID_AUTH__ALLOWLIST: '[{ username = "only", password = "po" }]' }));
    assert.deepEqual(r.config.auth.allowlist.map((e) => e.username), ['only']);
    assert.equal(r.sources['auth.allowlist']?.label, 'env:RESERVEGRID_AUTH__ALLOWLIST');

    // Whole array first, then element refinements, whatever the variables' order.
    r = ok(load(file, { RESERVEGRID_AUTH__ALLOWLIST__0__PASSWORD: 'new', RESERVEGRID_AUTH__ALLOWLIST: '[{ username = "x", password = "old" }]' }));
    assert.deepEqual(r.config.auth.allowlist, [{ username: 'x', password: 'new' }]);

    // Scalar arrays: elements are parsed by the element type.
    r = ok(load(exampleText, { RESERVEGRID_POLICY__BLOCKLIST_SCRIPTS_HEX__0: '6a00' }));
    assert.deepEqual(r.config.policy.blocklist_scripts_hex, ['6a00']);
  });

  test('a section as a TOML inline table sets the keys it lists', () => {
    const r = ok(load(exampleText, { RESERVEGRID_TIMING: '{ nonce_expire_secs = 30, handshake_timeout_ms = 2000 }' }));
    assert.equal(r.config.timing.nonce_expire_secs, 30);
    assert.equal(r.config.timing.handshake_timeout_ms, 2000);
    assert.equal(r.config.timing.prevhash_stale_hold_ms, 5000);
    assert.equal(r.sources['timing.nonce_expire_secs']?.label, 'env:RESERVEGRID_TIMING');
    assert.equal(r.sources['timing.prevhash_stale_hold_ms']?.label, 'file');
  });

  test('index gaps, bad TOML and unknown variables are errors with suggestions', () => {
    let p = only(load(exampleText, { RESERVEGRID_AUTH__ALLOWLIST__5__USERNAME: 'x' }));
    assert.equal(p.key, 'auth.allowlist[5]');
    assert.match(p.message, /past the end \(the array has 1 element; indices must be contiguous\)/);

    p = only(load(exampleText, { RESERVEGRID_AUTH__ALLOWLIST: '[{ username = "a", password = "hunter2hunter2" ' }));
    assert.equal(p.key, 'auth.allowlist');
    assert.match(p.message, /^RESERVEGRID_AUTH__ALLOWLIST: not valid TOML.*expected a TOML inline array/);
    assert.doesNotMatch(p.message, /hunter2/);

    p = only(load(exampleText, { RESERVEGRID_GATEWAY__MDOE: 'inline' }));
    assert.equal(formatProblem(p), 'RESERVEGRID_GATEWAY__MDOE: unknown environment variable (did you mean RESERVEGRID_GATEWAY__MODE?); see docs/configuration.md for the naming rule');
    p = only(load(exampleText, { RESERVEGRID_AUTH__ALLOWLIST__0__USRNAME: 'x' }));
    assert.match(p.message, /did you mean RESERVEGRID_AUTH__ALLOWLIST__0__USERNAME\?/);
    p = only(load(exampleText, { RESERVEGRID_GATEWAY_MODE: 'inline' }));
    assert.match(p.message, /did you mean RESERVEGRID_GATEWAY__MODE\?/);
    p = only(load(exampleText, { RESERVEGRID_TIMING: '{ nonce_expire_sec = 3 }' }));
    assert.equal(formatProblem(p), 'timing.nonce_expire_sec: unknown key (from RESERVEGRID_TIMING) (did you mean timing.nonce_expire_secs?)');

    // Reserved names and unrelated variables are ignored.
    ok(load(exampleText, { RESERVEGRID_CONFIG: '/etc/reservegrid.toml', PATH: '/usr/bin', reservegrid_gateway__mode: 'x' }));
  });
});

describe('config: errors name key, value and expectation', () => {
  test('bad enum value', () => {
    const p = only(load(exampleWith(['gateway', 'mode', 'inlin'])));
    assert.equal(formatProblem(p), 'gateway.mode: got "inlin", expected one of "shadow" | "observe" | "inline"');
    assert.equal(p.value, '"inlin"');
    assert.equal(p.expected, 'one of "shadow" | "observe" | "inline"');
  });

  test('integer out of range, wrong type, bad address, bad URL', () => {
    assert.equal(formatProblem(only(load(exampleWith(['timing', 'prevhash_verdict_timeout_ms', 0])))),
      'timing.prevhash_verdict_timeout_ms: got 0, expected integer 1..60000 (ms)');
    assert.equal(formatProblem(only(load(exampleWith(['timing', 'nonce_expire_secs', 1.5])))),
      'timing.nonce_expire_secs: got 1.5, expected integer 1..86400 (seconds)');
    assert.equal(formatProblem(only(load(exampleWith(['gateway', 'listen_addr', '0.0.0.0:99999'])))),
      'gateway.listen_addr: got "0.0.0.0:99999", expected host:port (port 0..65535; 0 = any free port) (port 99999 out of range 0..65535)');
    assert.match(formatProblem(only(load(exampleWith(['gateway', 'verifier_addr', 'localhost'])))), /^gateway\.verifier_addr: got "localhost", expected "embedded" or host:port .*\(not host:port\)$/);
    ok(load(exampleWith(['gateway', 'verifier_addr', '[::1]:5001'])));
    assert.match(formatProblem(only(load(exampleWith(['share', 'share_upstream_url', 'ftp://x/shares'])))), /^share\.share_upstream_url: got "ftp:\/\/x\/shares", expected http\(s\) URL/);
  });

  test('credentials inside a URL are refused and masked', () => {
    const p = only(load(exampleWith(['gateway', 'upstream_url', 'http://user:pw-secret@127.0.0.1:8332'])));
    assert.equal(p.key, 'gateway.upstream_url');
    assert.match(p.message, /credentials in the URL are not allowed/);
    assert.doesNotMatch(formatProblem(p), /pw-secret/);
  });

  test('payout entries and array element fields', () => {
    let p = only(load(exampleWith(['mining', 'payout', [{ script_hex: 'zz' }]])));
    assert.equal(formatProblem(p), 'mining.payout[0].script_hex: got "zz", expected hex string of 1..10000 bytes (not an even-length hex string)');
    p = only(load(exampleWith(['mining', 'payout', []])));
    assert.equal(p.key, 'mining.payout');
    p = only(load(exampleWith(['mining', 'payout', [{ weight: 2 }]])));
    assert.equal(formatProblem(p), 'mining.payout: entry 0 sets none of script_hex, address, descriptor; expected exactly one');
    const r = ok(load(exampleWith(['mining', 'payout', [{ script_hex: '51' }]])));
    assert.deepEqual(r.config.mining.payout, [{ script_hex: '51', weight: 1 }], 'field default applied');
  });

  test('auth mode requires its table', () => {
    let p = only(load(exampleWith(['auth', 'mode', 'prefix_map'])));
    assert.equal(formatProblem(p), 'auth.prefix_map: auth.mode = "prefix_map" needs at least one entry');
    p = only(load(exampleWith(['auth', 'allowlist', []])));
    assert.equal(formatProblem(p), 'auth.allowlist: auth.mode = "allowlist" needs at least one entry');
    ok(load(exampleWith(['auth', 'allowlist', []], ['auth', 'mode', 'open'])));
    p = only(load(exampleWith(['auth', 'allowlist', [{ username: 'a', password: 'x1' }, { username: 'a', password: 'x2' }]])));
    assert.equal(formatProblem(p), 'auth.allowlist: duplicate username "a"');
  });

  test('authority keys: base58check shape, and the secret must match the public key', () => {
    let p = only(load(exampleWith(['noise', 'authority_public_key', SRI_DEV_PUBLIC.slice(0, -1) + 'X'])));
    assert.equal(p.key, 'noise.authority_public_key');
    assert.match(p.message, /expected SRI base58check authority public key .*\(authority public key is not valid base58check/);
    p = only(load(exampleWith(['noise', 'authority_public_key', SPEC_VECTOR_PUBLIC])));
    assert.equal(formatProblem(p), 'noise.authority_secret_key: does not match noise.authority_public_key (the secret key derives a different public key)');
    p = only(load(exampleWith(['noise', 'authority_secret_key', SRI_DEV_SECRET.slice(0, -2) + 'zz'])));
    assert.equal(p.key, 'noise.authority_secret_key');
    assert.match(p.message, /^got <redacted>, expected SRI base58check authority secret key/);
  });

  test('upstream RPC auth: cookie or user+password, not both, not half', () => {
    assert.match(formatProblem(only(load(exampleWith(['upstream', 'rpc_password', undefined])))), /^upstream\.rpc_cookie_file: upstream\.rpc_password is also needed/);
    assert.match(formatProblem(only(load(exampleWith(['upstream', 'rpc_cookie_file', '/c'])))), /not both/);
    ok(load(exampleWith(['upstream', 'rpc_user', undefined], ['upstream', 'rpc_password', undefined], ['upstream', 'rpc_cookie_file', '/c'])));
    ok(load(exampleWith(['upstream', 'rpc_user', undefined], ['upstream', 'rpc_password', undefined], ['gateway', 'upstream_url', 'embedded'])));
  });

  test('unknown keys in the file are errors with the closest key', () => {
    assert.equal(formatProblem(only(load(exampleWith(['gateway', 'mdoe', 'inline'])))), 'gateway.mdoe: unknown key (did you mean gateway.mode?)');
    assert.equal(formatProblem(only(load(exampleWith(['timing', 'share_batch_interval_ms', 5])))), 'timing.share_batch_interval_ms: unknown key (did you mean share.share_batch_interval_ms?)');
    assert.equal(formatProblem(only(load(`${exampleText}\n[gatway]\nx = 1\n`))), 'gatway: unknown key (did you mean gateway?)');
    const p = only(load(exampleWith(['auth', 'allowlist', [{ username: 'a', pasword: 'p', password: 'q' }]])));
    assert.match(formatProblem(p), /^auth\.allowlist\[0\]\.pasword: unknown field \(did you mean password\?\)/);
  });

  test('TOML syntax errors give line and column', () => {
    const p = only(load('[gateway]\nmode = "inline"\nlisten_addr = \n'));
    assert.equal(p.kind, 'syntax');
    assert.equal(p.line, 3);
    assert.equal(typeof p.column, 'number');
    assert.equal(p.key, `test.toml:3:${p.column}`);
    assert.match(p.message, /^TOML syntax error at line 3, column \d+: /);
    // The code excerpt smol-toml adds is dropped: it could show a secret on a nearby line.
    const q = only(load('[gateway]\nhttp_api_key = "topsecret-value-1"\nmode = = 1\n'));
    assert.doesNotMatch(q.message, /topsecret/);
  });

  test('a section that is not a table', () => {
    assert.equal(formatProblem(problems(load('gateway = 5\n'))[0]!), 'gateway: got 5, expected a table [gateway]');
  });
});

describe('config: secrets', () => {
  test('invalid secrets are reported without their value', () => {
    const list = problems(load(exampleWith(
      ['gateway', 'http_api_key', 'short-key'],
      ['share', 'share_upstream_secret', 42],
      ['auth', 'allowlist', [{ username: 'miner1', password: '' }]],
      ['auth', 'prefix_map', 'farm1_:farm-secret'],
      ['upstream', 'rpc_password', ''],
    )));
    const text = list.map(formatProblem).join('\n');
    assert.deepEqual(list.map((p) => p.key), ['gateway.http_api_key', 'share.share_upstream_secret', 'auth.allowlist[0].password', 'auth.prefix_map', 'upstream.rpc_password']);
    for (const secret of ['short-key', '42', 'farm-secret']) assert.ok(!text.includes(secret), `${secret} leaked:\n${text}`);
    assert.equal(formatProblem(list[0]!), 'gateway.http_api_key: got <redacted>, expected string of 12..1024 characters');
    assert.equal(list[2]!.value, '<redacted>');
    assert.equal(list[3]!.value, '<redacted>');
  });

  test('describeConfig redacts every secret and shows sources', () => {
    const r = ok(load(exampleText, { RESERVEGRID_SHARE__SHARE_UPSTREAM_SECRET: 'env-secret-value-123' }));
    const entries = describeConfig(r.config, r.sources);
    assert.equal(entries.length, CONFIG_KEYS.length);
    const text = entries.map((e) => `${e.path} = ${e.value} # ${e.source.label}`).join('\n');
    for (const secret of ['change-me-dev-api-key', SRI_DEV_SECRET, 'env-secret-value-123', 'dev-password-1', 'dev-rpc-password']) {
      assert.ok(!text.includes(secret), `${secret} leaked`);
    }
    assert.match(text, /^share\.share_upstream_secret = <redacted> # env:RESERVEGRID_SHARE__SHARE_UPSTREAM_SECRET$/m);
    assert.match(text, /^auth\.allowlist = \[\{ username = "miner1", password = <redacted> \}\] # file$/m);
    assert.match(text, /^gateway\.mode = "observe" # file$/m);
    assert.match(text, /^upstream\.rpc_cookie_file = \(unset\) # default$/m);
  });
});

describe('config: effective object', () => {
  test('is deeply frozen', () => {
    const r = ok(load(exampleText));
    assert.ok(Object.isFrozen(r.config));
    assert.ok(Object.isFrozen(r.config.auth.allowlist[0]));
    assert.throws(() => {
      (r.config.gateway as { mode: string }).mode = 'inline';
    }, TypeError);
  });

  test('defaults are not shared between loads', () => {
    const a = ok(load(exampleWith(['policy', 'fee_tiers', undefined])));
    const b = ok(load(exampleWith(['policy', 'fee_tiers', undefined])));
    assert.notEqual(a.config.policy.fee_tiers, undefined);
    assert.deepEqual(a.config.policy.fee_tiers, []);
    assert.ok(Object.isFrozen(b.config.policy.fee_tiers));
  });
});

describe('config: docs/configuration.md', () => {
  test('the committed reference equals the generated one (run scripts/gen-config-docs.ts)', () => {
    assert.equal(readFileSync(CONFIG_DOC_PATH, 'utf8'), renderConfigurationDoc());
  });

  test('lists every key with its env name', () => {
    const doc = renderConfigurationDoc();
    for (const k of CONFIG_KEYS) assert.ok(doc.includes(`| \`${k.path}\` |`) && doc.includes(envNameOf([k.section, k.key])), k.path);
  });
});
