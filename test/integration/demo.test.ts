// `reservegrid demo` (what `npm start` runs), in-process through its `run` with a CliIo that
// captures stdout: the gateway stack, the embedded chain and simulated miners over real loopback
// TCP and Noise on this runtime. Miners must connect, open channels, get shares accepted and find
// at least one block that the embedded chain accepts; Ctrl-C (the io's shutdown hook) must stop it
// cleanly; bad options must give the usage.
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { systemRandom } from '../../adapters/random.ts';
import type { CliIo } from '../../runtimes/io.ts';
import { demoCommand, parseDemoArgs } from '../../runtimes/commands/demo.ts';
import { main } from '../../runtimes/cli.ts';

interface CapturedIo {
  readonly io: CliIo;
  readonly out: () => string;
  readonly err: () => string;
  /** Fire the shutdown hook as Ctrl-C would (undefined when the io was built without one). */
  readonly interrupt: (() => void) | undefined;
}

function captureIo(options: { withSignal: boolean }): CapturedIo {
  let out = '';
  let err = '';
  let hook: ((signal: 'SIGINT' | 'SIGTERM') => void) | undefined;
  const io: CliIo = {
    runtime,
    env: {},
    readFile: () => {
      throw new Error('the demo reads no files');
    },
    stdout: (text) => void (out += text),
    stderr: (text) => void (err += text),
    clock: new SystemClock(),
    random: systemRandom,
    ...(options.withSignal
      ? {
          onShutdownSignal: (callback: (signal: 'SIGINT' | 'SIGTERM') => void) => {
            hook = callback;
            return () => void (hook = undefined);
          },
        }
      : {}),
  };
  return { io, out: () => out, err: () => err, interrupt: options.withSignal ? () => hook?.('SIGINT') : undefined };
}

const count = (text: string, pattern: RegExp): number => (text.match(new RegExp(pattern.source, 'g')) ?? []).length;

describe(`demo command (${runtime})`, () => {
  test('miners connect over TCP+Noise, shares are accepted, blocks are found and accepted by the embedded chain', async () => {
    const { io, out, err } = captureIo({ withSignal: false });
    const startedMs = Date.now();
    // Port 0: any free port (the default 3333 may be taken by a running demo). A block every
    // ~0.5 s at the fleet's rate, so an 8 s run (miners hashing from ~0.5 s) misses one with
    // probability ≈ e^-15, and still ≈ e^-5 if this machine hashes 3× slower than calibrated.
    const code = await demoCommand.run(['--duration-secs', '8', '--port', '0', '--miners', '3', '--block-interval-secs', '0.5', '--report-secs', '2'], io);
    const text = out();
    const tookMs = Date.now() - startedMs;
    assert.equal(code, 0, `exit code; stderr: ${err()}\n${text}`);
    assert.equal(err(), '');
    assert.match(text, /SV2 address +stratum2\+tcp:\/\/127\.0\.0\.1:\d+\/[1-9A-HJ-NP-Za-km-z]{40,60}\n/, 'standard SV2 address with the authority key');
    assert.match(text, /HTTP API +http:\/\/127\.0\.0\.1:\d+ /, 'prints the HTTP API address');
    assert.match(text, /API key +[0-9a-f]{32} /, 'prints the API key');
    assert.equal(count(text, /miner connected from 127\.0\.0\.1/), 3, text);
    assert.equal(count(text, /SetupConnection ok/), 3, text);
    assert.equal(count(text, /(standard|extended) channel \d+ open for demo\.miner\d/), 3, text);
    assert.match(text, /shares: \d+ accepted/);
    const summary = /demo summary: [\d.]+ s, (\d+) connections, (\d+) shares accepted, (\d+) rejected, (\d+) blocks? found, (\d+) accepted by the chain \(height (\d+)\), first block after ([\d.]+) s/.exec(text);
    assert.ok(summary !== null, `summary line missing:\n${text}`);
    const [, connections, shares, , found, acceptedBlocks, height, firstBlockSecs] = summary.map(Number);
    assert.equal(connections, 3);
    assert.ok(shares! > 0, 'shares accepted');
    assert.ok(found! >= 1, 'at least one block found');
    assert.ok(acceptedBlocks! >= 1, 'at least one block accepted by the embedded chain');
    assert.ok(height! >= acceptedBlocks!, 'the chain advanced');
    assert.ok(firstBlockSecs! < 8);
    assert.match(text, /BLOCK FOUND at height 1 by demo\.miner\d: [0-9a-f]{64}/);
    assert.match(text, /block 1 accepted by the embedded chain: [0-9a-f]{64}/);
    assert.match(text, /upstream: new block template at height 2 on [0-9a-f]{64}/, 'the next template builds on the found block');
    assert.match(text, /gateway shutdown completed/);
    assert.ok(tookMs < 20_000, `run bounded by --duration-secs (took ${tookMs} ms)`);
  }, { timeoutMs: 60_000 });

  test('Ctrl-C (the io shutdown hook) stops the demo cleanly', async () => {
    const captured = captureIo({ withSignal: true });
    const running = demoCommand.run(['--port', '0', '--miners', '2'], captured.io);
    // Let it start and the miners connect, then interrupt.
    const deadline = Date.now() + 20_000;
    while (count(captured.out(), /channel \d+ open for/) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(count(captured.out(), /channel \d+ open for/), 2, captured.out());
    const interruptedAt = Date.now();
    captured.interrupt!();
    const code = await running;
    assert.equal(code, 0);
    assert.ok(Date.now() - interruptedAt < 10_000, 'stops promptly');
    assert.match(captured.out(), /SIGINT received: stopping/);
    assert.match(captured.out(), /gateway shutdown completed/);
    assert.match(captured.out(), /demo summary: /);
  }, { timeoutMs: 60_000 });

  test('options: bad values give the usage (exit 2); no Ctrl-C hook and no duration is refused', async () => {
    for (const args of [['--miners', 'x'], ['--miners', '-1'], ['--channel', 'weird'], ['--frobnicate'], ['--duration-secs']]) {
      const { io, err } = captureIo({ withSignal: false });
      assert.equal(await demoCommand.run(args, io), 2, args.join(' '));
      assert.match(err(), /Usage: reservegrid demo/);
    }
    const { io, err } = captureIo({ withSignal: false });
    assert.equal(await demoCommand.run([], io), 1);
    assert.match(err(), /--duration-secs/);
    const parsed = parseDemoArgs(['--miners=7', '--duration-secs', '2.5', '--port', '4000', '--channel', 'standard']);
    assert.ok(typeof parsed !== 'string');
    assert.equal(parsed.miners, 7);
    assert.equal(parsed.durationSecs, 2.5);
    assert.equal(parsed.port, 4000);
    assert.equal(parsed.portExplicit, true);
    assert.equal(parsed.channel, 'standard');
  });

  test('`reservegrid demo` is registered in the command table', async () => {
    const { io, out } = captureIo({ withSignal: false });
    assert.equal(await main(['demo', '--help'], io), 0);
    assert.match(out(), /Usage: reservegrid demo/);
  });
});
