// `reservegrid verifier --config <file>`: the policy verifier as its own process (SPEC §7,
// issue 4 item 3). Reads the same config file as the gateway ([policy] and [mining] decide the
// verdicts), listens on `gateway.verifier_addr` and answers VERIFY frames
// (docs/verifier-protocol.md) until SIGINT/SIGTERM. `verifier_addr = "embedded"` has nothing to
// listen on, so the command refuses it.
import type { Command } from '../io.ts';
import { formatProblem, loadConfig } from '../../core/config/index.ts';
import { PolicyEngine, policySettingsFromConfig } from '../../core/policy/engine.ts';
import { parseVerifierAddr } from '../../adapters/verifier-client.ts';
import { startVerifierServer } from '../../adapters/verifier-server.ts';

const USAGE = 'verifier --config <file>';
const PREFIX = 'reservegrid verifier:';

export const verifierCommand: Command = {
  words: ['verifier'],
  usage: USAGE,
  summary: 'Run the policy verifier service on gateway.verifier_addr (TCP), until SIGINT/SIGTERM.',
  docs: 'docs/verifier-protocol.md',
  async run(args, io) {
    // `--config <file>` or `--config=<file>`; else $RESERVEGRID_CONFIG. Anything else is a usage error.
    let file: string | undefined;
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      if (arg === '--config' && i + 1 < args.length) file = args[++i];
      else if (arg.startsWith('--config=')) file = arg.slice('--config='.length);
      else {
        io.stderr(`Usage: reservegrid ${USAGE}   (or set RESERVEGRID_CONFIG)\n`);
        return 2;
      }
    }
    file ??= io.env['RESERVEGRID_CONFIG'] || undefined;
    if (file === undefined) {
      io.stderr(`Usage: reservegrid ${USAGE}   (or set RESERVEGRID_CONFIG)\n`);
      return 2;
    }
    if (io.onShutdownSignal === undefined) {
      io.stderr('error: this entry point cannot deliver SIGINT/SIGTERM, so the verifier could not stop cleanly\n');
      return 1;
    }
    let tomlText: string;
    try {
      tomlText = io.readFile(file);
    } catch (error) {
      io.stderr(`error: ${file}: cannot read: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    const loaded = loadConfig({ tomlText, fileName: file, env: io.env });
    if (!loaded.ok) {
      io.stderr(loaded.problems.map((p) => `error: ${formatProblem(p)}\n`).join(''));
      return 1;
    }
    const config = loaded.config;
    if (config.gateway.verifier_addr === 'embedded') {
      io.stderr('error: gateway.verifier_addr is "embedded": the gateway runs the policy itself; set host:port to run a separate verifier\n');
      return 1;
    }
    let signalled: (name: string) => void = () => {};
    const signal = new Promise<string>((resolve) => (signalled = resolve));
    const removeHook = io.onShutdownSignal((name) => signalled(name));
    const engine = new PolicyEngine(policySettingsFromConfig(config));
    const address = parseVerifierAddr(config.gateway.verifier_addr);
    let server;
    try {
      server = await startVerifierServer({ address, evaluate: (req) => engine.evaluate(req.template, req.chain), onLog: (line) => io.stdout(`${PREFIX} ${line}\n`) });
    } catch (error) {
      removeHook();
      io.stderr(`error: cannot listen on ${config.gateway.verifier_addr}: ${error instanceof Error ? error.message : String(error)}\n`);
      return 1;
    }
    const tier = config.policy.fee_tier_rule === 'fixed' ? `fee tier "${config.policy.fee_tier || 'none'}"` : `fee tiers by template weight (${config.policy.fee_tiers.length})`;
    io.stdout(`${PREFIX} listening on ${address.host}:${server.port} on ${io.runtime}; ${tier}; blocklist ${config.policy.blocklist_txids.length} txids, ${config.policy.blocklist_scripts_hex.length} scripts\n`);
    const name = await signal;
    removeHook();
    await server.close();
    const st = server.stats;
    io.stdout(`${PREFIX} ${name} received; stopped (connections ${st.connections}, verdicts ${st.verdicts}, errors ${st.errors})\n`);
    return 0;
  },
};

export const verifierCommands: Command[] = [verifierCommand];
