// `reservegrid config check` / `config print` through the CLI dispatcher, with a fake CliIo that
// serves files from a map and captures output: the same code path as on every runtime.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { main } from '../../runtimes/cli.ts';
import type { CliIo } from '../../runtimes/io.ts';
import { FakeClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { CONFIG_KEYS } from '../../core/config/index.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const files: Record<string, string> = {
  'seed.toml': readFileSync(`${root}deploy/config/seed.toml`, 'utf8'),
  'example.toml': readFileSync(`${root}deploy/config/example.toml`, 'utf8'),
  'broken.toml': '[gateway]\nmode = "inline"\nmode = "observe"\n',
};

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], env: Record<string, string> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    runtime: 'node',
    env,
    readFile(path) {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: no such file '${path}'`);
      return text;
    },
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    clock: new FakeClock(),
    random: new SeededRandom(1),
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

describe('cli: config check', () => {
  test('the seed: one line per missing required key, nothing about its own keys, exit 1', async () => {
    const r = await run(['config', 'check', 'seed.toml']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.deepEqual(lines.map((l) => /^error: ([^:]+): /.exec(l)?.[1]), [
      'gateway.id',
      'noise.authority_public_key',
      'noise.authority_secret_key',
      'mining.payout',
      'upstream.rpc_cookie_file',
    ]);
    for (const line of lines) assert.match(line, /RESERVEGRID_[A-Z_]+/, `names the env var: ${line}`);
  });

  test('the seed plus the environment for what it lacks passes', async () => {
    const r = await run(['config', 'check', 'seed.toml'], {
      RESERVEGRID_GATEWAY__ID: '1',
      RESERVEGRID_NOISE__AUTHORITY_PUBLIC_KEY: '9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72',
      RESERVEGRID_NOISE__AUTHORITY_SECRET_KEY: 'mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n',
      RESERVEGRID_MINING__PAYOUT: '[{ script_hex = "51" }]',
      RESERVEGRID_UPSTREAM__RPC_USER: 'u',
      RESERVEGRID_UPSTREAM__RPC_PASSWORD: 'p',
    });
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    // 23 keys in the seed + 6 from the environment.
    assert.equal(r.stdout, `ok: seed.toml (29 keys set, ${CONFIG_KEYS.length - 29} defaults)\n`);
  });

  test('the complete example passes with exit 0', async () => {
    const r = await run(['config', 'check', 'example.toml']);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^ok: example\.toml \(\d+ keys set, \d+ defaults\)\n$/);
  });

  test('an invalid value from the environment names key, value and variable; secrets redacted', async () => {
    const r = await run(['config', 'check', 'example.toml'], {
      RESERVEGRID_GATEWAY__MODE: 'inlin',
      RESERVEGRID_GATEWAY__HTTP_API_KEY: 'tiny',
    });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      'error: gateway.mode: got "inlin" (from RESERVEGRID_GATEWAY__MODE), expected one of "shadow" | "observe" | "inline"\n' +
        'error: gateway.http_api_key: got <redacted> (from RESERVEGRID_GATEWAY__HTTP_API_KEY), expected string of 12..1024 characters\n',
    );
  });

  test('TOML syntax error, unreadable file, usage', async () => {
    let r = await run(['config', 'check', 'broken.toml']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: broken\.toml:3:\d+: TOML syntax error at line 3, column \d+: .+\n$/);
    r = await run(['config', 'check', 'missing.toml']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: missing\.toml: cannot read: /);
    r = await run(['config', 'check']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Usage: reservegrid config check <file>/);
  });
});

describe('cli: config print', () => {
  test('every effective value with its source, secrets redacted', async () => {
    const r = await run(['config', 'print', 'example.toml'], { RESERVEGRID_TIMING__NONCE_EXPIRE_SECS: '90' });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, CONFIG_KEYS.length);
    assert.match(r.stdout, /^timing\.nonce_expire_secs = 90 +# env:RESERVEGRID_TIMING__NONCE_EXPIRE_SECS$/m);
    assert.match(r.stdout, /^gateway\.mode = "observe" +# file$/m);
    assert.match(r.stdout, /^gateway\.http_api_key = <redacted> +# file$/m);
    assert.match(r.stdout, /^upstream\.rpc_cookie_file = \(unset\) +# default$/m);
    for (const secret of ['change-me-dev-api-key', 'mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n', 'dev-password-1', 'dev-rpc-password', 'change-me-dev-hmac-secret']) {
      assert.ok(!r.stdout.includes(secret), `${secret} leaked`);
    }
  });

  test('problems instead of values when the config is invalid', async () => {
    const r = await run(['config', 'print', 'seed.toml']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: gateway\.id: required key not set/);
  });
});
