// `reservegrid run --config <file>`: the gateway itself (SPEC §3, §12). Loads the config (file +
// RESERVEGRID_* environment, exactly what `config check` accepts), starts the stack
// (adapters/gateway-stack.ts), prints where miners connect, and runs until SIGINT/SIGTERM, then
// stops cleanly (miners told with CloseChannel 'shutdown', found blocks settled) and exits 0.
// docs/running.md is the operator's view of this file.
import type { CliIo, Command } from '../io.ts';
import { formatProblem, loadConfig } from '../../core/config/index.ts';
import type { Config } from '../../core/config/schema.ts';
import { startGatewayStack, type GatewayStack } from '../../adapters/gateway-stack.ts';
import { resolveWorkerCount, startWorkerPool, type WorkerPool } from '../../adapters/workers/leader.ts';

const USAGE = 'run --config <file>';
const PREFIX = 'reservegrid run:';

/** `--config <file>` or `--config=<file>`; else $RESERVEGRID_CONFIG. */
function _configPath(args: readonly string[], io: CliIo): string | undefined {
  let path: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--config' && i + 1 < args.length) path = args[++i];
    else if (arg.startsWith('--config=')) path = arg.slice('--config='.length);
    else return undefined;
  }
  return path ?? (io.env['RESERVEGRID_CONFIG'] || undefined);
}

/** The config `run` serves (file + RESERVEGRID_* environment); problems go to stderr. */
export function loadRunConfig(file: string, io: CliIo): Config | undefined {
  let tomlText: string;
  try {
    tomlText = io.readFile(file);
  } catch (error) {
    io.stderr(`error: ${file}: cannot read: ${error instanceof Error ? error.message : String(error)}\n`);
    return undefined;
  }
  const result = loadConfig({ tomlText, fileName: file, env: io.env });
  if (!result.ok) {
    io.stderr(result.problems.map((p) => `error: ${formatProblem(p)}\n`).join(''));
    return undefined;
  }
  return result.config;
}

export const runCommand: Command = {
  words: ['run'],
  usage: USAGE,
  summary: 'Run the gateway: serve SV2 miners with templates from the configured Bitcoin node, until SIGINT/SIGTERM.',
  docs: 'docs/running.md',
  async run(args, io) {
    const file = _configPath(args, io);
    if (file === undefined) {
      io.stderr(`Usage: reservegrid ${USAGE}   (or set RESERVEGRID_CONFIG)\n`);
      return 2;
    }
    if (io.onShutdownSignal === undefined) {
      io.stderr(`error: this entry point cannot deliver SIGINT/SIGTERM, so the gateway could not stop cleanly\n`);
      return 1;
    }
    const config = loadRunConfig(file, io);
    if (config === undefined) return 1;

    // Hook the signals before listening: a signal during start-up still ends in a clean stop.
    let signalled: (signal: string) => void = () => {};
    const signal = new Promise<string>((resolve) => (signalled = resolve));
    const removeHook = io.onShutdownSignal((name) => signalled(name));

    // gateway.workers ≥ 2 (docs/scaling.md): this process is the leader; its socket workers own
    // the miner port. Shadow mode serves no miners, so it never starts workers.
    const workerCount = config.gateway.mode === 'shadow' ? 1 : resolveWorkerCount(config.gateway.workers);
    let pool: WorkerPool | undefined;
    let stack: GatewayStack;
    try {
      stack = await startGatewayStack({
        ...(workerCount >= 2
          ? {
              minerListener: false,
              gatewayDeps: { onRelease: (template) => pool?.templateReleased(template) },
              onEvent: (event) => {
                pool?.gateChanged();
                // The workers' blocks are submitted and retried here: answers go back to them.
                if (event.type === 'block_submit_result') pool?.blockSettled(event);
              },
            }
          : {}),
        config,
        clock: io.clock,
        random: io.random,
        stdout: io.stdout,
        readFile: async (path) => io.readFile(path),
        http: true,
        httpOptional: true,
        // share.sink = "jetstream": connection changes and warnings (duplicate window) on stderr.
        onShareSinkStatus: (status) => io.stderr(`${PREFIX} jetstream ${status.kind}: ${'server' in status ? status.server : 'stream' in status ? status.stream : status.detail}\n`),
      });
    } catch (error) {
      removeHook();
      io.stderr(`error: cannot start the gateway: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    if (workerCount >= 2) {
      try {
        pool = await startWorkerPool({ config, configPath: file, count: workerCount, clock: io.clock, stack, onLog: (line) => io.stderr(`${PREFIX} ${line}\n`) });
      } catch (error) {
        await stack.stop();
        removeHook();
        io.stderr(`error: cannot start the socket workers: ${error instanceof Error ? error.message : String(error)}\n`);
        return 1;
      }
    }
    const minerPort = pool?.port ?? stack.address.port;
    const sv2Url = pool === undefined ? stack.sv2Url : stack.sv2Url.replace(/:0\//, `:${minerPort}/`);
    const g = config.gateway;
    const events = g.event_log_path === '-' ? 'standard output (JSON lines)' : g.event_log_path;
    io.stdout(
      `${PREFIX} gateway ${g.id} (${g.mode} mode) on ${io.runtime}, listening on ${stack.address.host}:${minerPort}\n` +
        (pool === undefined ? '' : `${PREFIX} ${pool.count} socket workers share the miner port (pids ${pool.slots().map((s) => s.pid).join(', ')})\n`) +
        `${PREFIX} SV2 address ${sv2Url}\n` +
        `${PREFIX} templates from ${g.upstream_url} every ${config.timing.upstream_poll_interval_ms} ms; events to ${events}\n` +
        `${PREFIX} HTTP ${stack.telemetry.http?.url ?? '(off)'}: /metrics /events /status /healthz (gateway.http_api_key)\n` +
        (stack.tdpAddress === null
          ? ''
          : `${PREFIX} Template Provider (SV2 Template Distribution) on ${stack.tdpAddress.host}:${stack.tdpAddress.port}, authority_public_key ${config.noise.authority_public_key}\n`) +
        (stack.jdAddress === null
          ? ''
          : `${PREFIX} Job Declaration Server (SV2 Job Declaration) on ${stack.jdAddress.host}:${stack.jdAddress.port}, authority_public_key ${config.noise.authority_public_key}\n`),
    );

    if (stack.telemetry.httpError !== null) io.stderr(`warning: HTTP API not served (${stack.telemetry.httpError}); serving miners anyway\n`);
    const name = await signal;
    io.stdout(`${PREFIX} ${name} received, shutting down (drain up to ${config.timing.shutdown_drain_timeout_ms} ms)\n`);
    // Workers first: they send CloseChannel 'shutdown' and their last events reach the journal.
    await pool?.stop();
    await stack.stop();
    if (pool !== undefined) {
      // The workers' gateways served the miners: their counts are the leader's aggregate.
      const seen = stack.telemetry.metrics.state;
      io.stdout(
        `${PREFIX} stopped (socket workers ${pool.count}, restarts ${pool.slots().reduce((n, s) => n + s.restarts, 0)}, shares accepted ${seen.shares.accepted}, ` +
          `shares rejected ${seen.shares.rejected}, blocks found ${seen.blocks.found})\n`,
      );
      return 0;
    }
    const stats = stack.gateway.stats;
    io.stdout(
      `${PREFIX} stopped (connections ${stats.connectionsAccepted}, shares accepted ${stats.sharesAccepted}, ` +
        `shares rejected ${stats.sharesRejected}, blocks found ${stats.blocksFound})\n`,
    );
    return 0;
  },
};

export const runCommands: Command[] = [runCommand];
