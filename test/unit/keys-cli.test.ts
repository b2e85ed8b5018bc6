// `reservegrid keys generate|public` through the Command interface with a fake CliIo (no
// process, works identically on every runtime).
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import type { CliIo, Command } from '../../runtimes/io.ts';
import { keysCommands } from '../../runtimes/commands/keys.ts';
import { commands } from '../../runtimes/commands/index.ts';
import { findCommand, main } from '../../runtimes/cli.ts';
import { FakeClock } from '../../core/clock.ts';
import { SeededRandom } from '../../core/random.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { authorityPublicKeyFromSecret, decodeAuthorityPublicKey, decodeAuthoritySecretKey } from '../../core/noise/keys.ts';

// SRI's public dev pair (SV2.md §3.3).
const SRI_DEV_PUBLIC = '9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72';
const SRI_DEV_SECRET = 'mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n';

function fakeIo(seed = 1): CliIo & { out: string; err: string } {
  const io = {
    runtime: 'node' as const,
    env: {},
    readFile: () => {
      throw new Error('keys commands read no files');
    },
    out: '',
    err: '',
    stdout(text: string) {
      io.out += text;
    },
    stderr(text: string) {
      io.err += text;
    },
    clock: new FakeClock(),
    random: new SeededRandom(seed),
  };
  return io;
}

function command(words: string): Command {
  const found = keysCommands.find((c) => c.words.join(' ') === words);
  assert.ok(found, `no command '${words}'`);
  return found;
}

function tomlString(text: string, key: string): string {
  const match = new RegExp(`^${key} = "([^"]+)"$`, 'm').exec(text);
  assert.ok(match, `no ${key} line in:\n${text}`);
  return match[1]!;
}

describe('keys CLI', () => {
  test('is registered in the command table', () => {
    for (const c of keysCommands) assert.ok(commands.includes(c), c.usage);
    assert.equal(findCommand(['keys', 'generate'])?.command, command('keys generate'));
  });
  test('keys generate prints a TOML pair whose secret derives its public key', async () => {
    const io = fakeIo(7);
    assert.equal(await command('keys generate').run([], io), 0);
    assert.equal(io.err, '');
    const pub = decodeAuthorityPublicKey(tomlString(io.out, 'authority_public_key'));
    const sec = decodeAuthoritySecretKey(tomlString(io.out, 'authority_secret_key'));
    assert.ok(pub.ok && sec.ok);
    if (pub.ok && sec.ok) assert.equal(bytesToHex(authorityPublicKeyFromSecret(sec.value)), bytesToHex(pub.value));
    assert.match(io.out, /^# .*SECRET key stays on the gateway/m);
    assert.match(io.out, /^# .*PUBLIC key goes to miners/m);
  });
  test('keys generate is deterministic for a seed and differs across seeds', async () => {
    const a = fakeIo(7);
    const b = fakeIo(7);
    const c = fakeIo(8);
    for (const io of [a, b, c]) await command('keys generate').run([], io);
    assert.equal(a.out, b.out);
    assert.notEqual(tomlString(a.out, 'authority_public_key'), tomlString(c.out, 'authority_public_key'));
  });
  test('keys public <SRI dev secret> prints the SRI dev public key', async () => {
    const io = fakeIo();
    assert.equal(await command('keys public').run([SRI_DEV_SECRET], io), 0);
    assert.equal(io.out, `${SRI_DEV_PUBLIC}\n`);
    assert.equal(io.err, '');
  });
  test('through main(): reservegrid keys public <secret>', async () => {
    const io = fakeIo();
    assert.equal(await main(['keys', 'public', SRI_DEV_SECRET], io), 0);
    assert.equal(io.out, `${SRI_DEV_PUBLIC}\n`);
  });
  test('a bad secret → message on stderr, exit 1, nothing on stdout, secret not echoed', async () => {
    const bad = SRI_DEV_SECRET.slice(0, -1) + (SRI_DEV_SECRET.endsWith('n') ? 'm' : 'n');
    const io = fakeIo();
    assert.equal(await command('keys public').run([bad], io), 1);
    assert.equal(io.out, '');
    assert.match(io.err, /checksum/i);
    assert.ok(!io.err.includes(bad));
    const pubAsSecret = fakeIo();
    assert.equal(await command('keys public').run([SRI_DEV_PUBLIC], pubAsSecret), 1);
    assert.match(pubAsSecret.err, /expected 32/);
  });
  test('wrong argument counts are usage errors (exit 2)', async () => {
    const none = fakeIo();
    assert.equal(await command('keys public').run([], none), 2);
    assert.match(none.err, /Usage: reservegrid keys public/);
    const extra = fakeIo();
    assert.equal(await command('keys generate').run(['now'], extra), 2);
    assert.equal(extra.out, '');
  });
});
