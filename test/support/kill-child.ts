// Child process of the kill -9 loop (test/support/kill-loop.ts): the real gateway stack as
// `reservegrid run` wires it (adapters/gateway-stack.ts: pump, file journal in data_dir, event
// log file with the journal flushed first, signed share forwarding), fed by the demo's embedded
// chain (adapters/embedded-source.ts) instead of a node, so a restart costs one process start
// and nothing else. The parent kills it with SIGKILL at seeded random moments and restarts it
// on the same data directory.
//
//   <runtime> test/support/kill-child.ts --dir D --sink URL --secret S --authority-public P --authority-secret K
//
// stdout, one JSON line each: {"type":"ready","port":P,"recovered":N} once miners may connect;
// {"type":"stopped"} after a graceful stop (asked for by creating <dir>/stop). stderr: anything unexpected.
import process from 'node:process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SystemClock } from '../../adapters/clock.ts';
import { systemRandom } from '../../adapters/random.ts';
import { EmbeddedTemplateSource } from '../../adapters/embedded-source.ts';
import { startGatewayStack } from '../../adapters/gateway-stack.ts';
import { loadConfig, formatProblem } from '../../core/config/index.ts';

const argv = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? process.argv.slice(2);
const arg = (name: string): string => {
  const i = argv.indexOf(name);
  const value = i >= 0 ? argv[i + 1] : undefined;
  if (value === undefined) throw new Error(`kill-child: ${name} is required`);
  return value;
};
const dir = arg('--dir');
const secretKeyText = arg('--authority-secret');

const toml = `
[gateway]
mode = "observe"
id = 11
listen_addr = "127.0.0.1:0"
verifier_addr = "embedded"
upstream_url = "embedded"
upstream_failure_policy = "permit_all"
http_api_key = "kill-loop-api-key-0123456789"
event_log_path = "${join(dir, 'events.jsonl')}"
event_log_max_bytes = 0
data_dir = "${join(dir, 'data')}"

[noise]
authority_public_key = "${arg('--authority-public')}"
authority_secret_key = "${secretKeyText}"

[timing]
upstream_poll_interval_ms = 200
job_broadcast_interval_ms = 50
# Long enough that a graceful stop at the end forwards everything rather than dropping it.
shutdown_drain_timeout_ms = 30000

[share]
share_upstream_url = "${arg('--sink')}"
share_upstream_secret = "${arg('--secret')}"
share_batch_interval_ms = 20
share_batch_max_shares = 25
share_forward_timeout_ms = 20000
share_forward_retry_initial_ms = 50
share_forward_retry_max_ms = 500

[auth]
mode = "open"

[mining]
payout = [ { script_hex = "0014751e76e8199196d454941c45d1b3a323f1433bd6", weight = 1 } ]
pool_tag = "RG-kill-loop"
min_difficulty = 1e-12
shares_per_minute = 600
vardiff_enabled = false
share_ack_batch_size = 1
`;

const loaded = loadConfig({ tomlText: toml, fileName: 'kill-child.toml', env: {} });
if (!loaded.ok) {
  process.stderr.write(`kill-child: ${loaded.problems.map(formatProblem).join('; ')}\n`);
  process.exit(2);
}
const clock = new SystemClock();
// A hard chain target: no block is found, so every run serves the same height's work.
const source = new EmbeddedTemplateSource({ clock, random: systemRandom, chain: { nbits: 0x1d00ffff }, transactionIntervalMs: 0, transactionsPerIntervalMax: 1 });
const stack = await startGatewayStack({ config: loaded.config, templateSource: source, clock, random: systemRandom });
source.start();
console.log(JSON.stringify({ type: 'ready', port: stack.address.port, recovered: stack.forwarding?.recoveredCount ?? 0 }));
const stop = async (): Promise<void> => {
  await stack.stop();
  source.stop();
  console.log(JSON.stringify({ type: 'stopped' }));
  process.exit(0);
};
// The parent asks for the graceful stop by creating `<dir>/stop` (a file, not a signal: a Deno
// child spawned through Deno's node:child_process died of SIGTERM despite its listener).
const stopPoll = setInterval(() => {
  if (existsSync(join(dir, 'stop'))) {
    clearInterval(stopPoll);
    void stop();
  }
}, 20);
