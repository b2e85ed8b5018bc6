// The deployment files (issue 14 item 4) against each other, the code and docs/operations.md
// "Deploy": the Dockerfiles parsed structurally (no hadolint here), the compose file's services
// and ports, the compose environment applied to the example config through the real config
// loader, and the doc's file and port claims. deploy-tools.test.ts runs the real validators.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { loadConfig } from '../../core/config/index.ts';
import { repoRoot } from '../support/child.ts';

const read = (path: string): string => readFileSync(join(repoRoot, path), 'utf8');

// ── Dockerfile: instructions, stages, the RUNTIME argument ──────────────────────────────────
const INSTRUCTIONS = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

/** Instructions with continuation lines joined; comments and parser directives dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') start = i + 1;
    if (line.startsWith('#')) return; // a comment inside a continued instruction
    pending += (pending === '' ? '' : ' ') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) return;
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(pending);
    assert.ok(m !== null, `line ${start}: not an instruction: ${pending}`);
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: start });
    pending = '';
  });
  assert.equal(pending, '', 'no dangling continuation');
  return out;
}

interface Stage {
  readonly base: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

function stagesOf(instructions: Instruction[]): { globalArgs: Map<string, string>; stages: Stage[] } {
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    assert.ok(INSTRUCTIONS.has(ins.keyword), `line ${ins.line}: unknown instruction ${ins.keyword}`);
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      assert.ok(m !== null, `line ${ins.line}: FROM image [AS name]`);
      stages.push({ base: m[1]!, name: m[2], instructions: [] });
    } else if (stages.length === 0) {
      assert.equal(ins.keyword, 'ARG', `line ${ins.line}: only ARG before the first FROM`);
      const [name, value] = ins.args.split('=');
      globalArgs.set(name!, value ?? '');
    } else stages.at(-1)!.instructions.push(ins);
    if (ins.keyword === 'ENTRYPOINT' || ins.keyword === 'CMD' || ins.keyword === 'VOLUME') {
      assert.ok(Array.isArray(JSON.parse(ins.args)), `line ${ins.line}: ${ins.keyword} in exec (JSON) form`);
    }
  }
  const names = new Set<string>();
  for (const stage of stages) {
    for (const ins of stage.instructions) {
      const from = /--from=(\S+)/.exec(ins.args)?.[1];
      if (ins.keyword === 'COPY' && from !== undefined) assert.ok(names.has(from), `COPY --from=${from} names an earlier stage`);
    }
    if (stage.name !== undefined) names.add(stage.name);
  }
  return { globalArgs, stages };
}

const entrypoint = (stage: Stage): string[] => JSON.parse(stage.instructions.find((i) => i.keyword === 'ENTRYPOINT')!.args) as string[];

// ── compose.yaml: services, their ports and environment (the subset this file uses) ──────────
interface ComposeService {
  readonly name: string;
  readonly text: string;
  /** `ports:` entries as written ("127.0.0.1:8080:8080", "3333:3333"). */
  readonly ports: string[];
  readonly environment: Record<string, string>;
}

function composeServices(text: string): ComposeService[] {
  const body = text.split(/^services:\n/m)[1]!.split(/^\S/m)[0]!;
  return body.split(/^(?=  [a-z][a-z0-9-]*:\n)/m).filter((b) => /^  [a-z]/.test(b)).map((block) => {
    const name = /^  ([a-z][a-z0-9-]*):/.exec(block)![1]!;
    const portsBlock = /^    ports:\n((?:      - .*\n)+)/m.exec(block)?.[1] ?? '';
    const ports = [...portsBlock.matchAll(/- "([^"]+)"/g)].map((m) => m[1]!);
    const envBlock = /^    environment:\n((?:      .*\n)+)/m.exec(block)?.[1] ?? '';
    const environment = Object.fromEntries([...envBlock.matchAll(/^      ([A-Z0-9_]+): (.+)$/gm)].map((m) => [m[1]!, m[2]!.trim()]));
    return { name, text: block, ports, environment };
  });
}

const DOC = read('docs/operations.md');
const DEPLOY_DOC = DOC.split('## Deploy\n')[1]!.split('\n## ')[0]!;
const COMPOSE = read('deploy/compose.yaml');
const SERVICES = composeServices(COMPOSE);
const service = (name: string): ComposeService => {
  const s = SERVICES.find((x) => x.name === name);
  assert.ok(s !== undefined, `compose service ${name}`);
  return s;
};
const PKG = JSON.parse(read('package.json')) as { engines: { node: string }; devDependencies: Record<string, string> };

describe('deploy files', () => {
  test('Dockerfile: a RUNTIME argument with a stage per runtime, each starting that runtime\'s entry point', () => {
    const { globalArgs, stages } = stagesOf(parseDockerfile(read('deploy/docker/Dockerfile')));
    assert.equal(globalArgs.get('RUNTIME'), 'node', 'RUNTIME defaults to node');
    const final = stages.at(-1)!;
    assert.equal(final.base, 'runtime-${RUNTIME}', 'the image is the stage the argument names');
    const expected: Record<string, [string, string]> = { node: ['node', 'dist/reservegrid.js'], deno: ['deno', 'runtimes/deno.ts'], bun: ['bun', 'runtimes/bun.ts'] };
    for (const [runtime, [bin, entry]] of Object.entries(expected)) {
      const stage = stages.find((s) => s.name === `runtime-${runtime}`);
      assert.ok(stage !== undefined, `stage runtime-${runtime}`);
      const ep = entrypoint(stage);
      assert.equal(ep[0], bin, `${runtime} entry point runs ${bin}`);
      assert.equal(ep.at(-1), entry, `${runtime} entry point`);
      // The file it runs: a source entry point, or the tsup bundle's name.
      if (entry.startsWith('dist/')) assert.match(read('tsup.config.ts'), /entry: \{ reservegrid: 'runtimes\/node\.ts' \}/);
      else assert.ok(existsSync(join(repoRoot, entry)), entry);
      // Sources a TypeScript entry point needs are copied in.
      if (!entry.startsWith('dist/')) for (const dir of ['core', 'adapters', 'runtimes']) assert.ok(stage.instructions.some((i) => i.keyword === 'COPY' && i.args.endsWith(`./${dir}`)), `${runtime} copies ${dir}/`);
    }
    // Versions as package.json pins them.
    assert.equal(`>=${globalArgs.get('NODE_VERSION')}`, PKG.engines.node);
    assert.equal(globalArgs.get('DENO_VERSION'), PKG.devDependencies.deno);
    assert.equal(`^${globalArgs.get('BUN_VERSION')}`, PKG.devDependencies.bun);
    // Unprivileged, with the config and state paths the unit and the doc use.
    const finalText = final.instructions.map((i) => `${i.keyword} ${i.args}`).join('\n');
    assert.match(finalText, /^USER 10001:10001$/m);
    assert.match(finalText, /RESERVEGRID_CONFIG=\/etc\/reservegrid\/gateway\.toml/);
    assert.match(finalText, /RESERVEGRID_GATEWAY__DATA_DIR=\/var\/lib\/reservegrid/);
    assert.deepEqual(JSON.parse(final.instructions.find((i) => i.keyword === 'CMD')!.args), ['run']);
    assert.match(finalText, /^EXPOSE 3333 8080$/m);
  });

  test('btcd.Dockerfile: built from the Go module at the version scripts/install-btcd.sh pins', () => {
    const { globalArgs, stages } = stagesOf(parseDockerfile(read('deploy/docker/btcd.Dockerfile')));
    const pinned = /^BTCD_VERSION="(v[\d.]+)"$/m.exec(read('scripts/install-btcd.sh'))?.[1];
    assert.equal(globalArgs.get('BTCD_VERSION'), pinned);
    assert.match(stages[0]!.base, /^golang:/);
    assert.ok(stages[0]!.instructions.some((i) => i.keyword === 'RUN' && i.args.includes('go install "github.com/btcsuite/btcd@${BTCD_VERSION}"')));
    assert.deepEqual(entrypoint(stages.at(-1)!), ['btcd']);
    assert.match(service('btcd').text, new RegExp(`image: reservegrid-btcd:${pinned!.replace(/\./g, '\\.')}\\n`));
  });

  test('compose: the five services; no host port published twice; the datasource host is a service', () => {
    assert.deepEqual(SERVICES.map((s) => s.name).sort(), ['btcd', 'gateway', 'grafana', 'prometheus', 'share-sink']);
    const hostPorts = SERVICES.flatMap((s) => s.ports.map((p) => p.split(':').at(-2)!));
    assert.equal(new Set(hostPorts).size, hostPorts.length, `host ports ${hostPorts.join(' ')}`);
    const datasource = /url: http:\/\/([a-z-]+):(\d+)/.exec(read('deploy/grafana/provisioning/datasources/prometheus.yml'))!;
    assert.ok(service(datasource[1]!).ports.some((p) => p.endsWith(`:${datasource[2]}`)), `Grafana's datasource ${datasource[0]} is the compose ${datasource[1]}`);
    const target = /- (gateway):(\d+)/.exec(read('deploy/compose/prometheus.yml'))!;
    assert.equal(service('gateway').environment.RESERVEGRID_GATEWAY__HTTP_LISTEN_ADDR, `0.0.0.0:${target[2]}`, 'Prometheus scrapes the gateway where it listens');
    // Every file compose mounts exists.
    for (const m of COMPOSE.matchAll(/- (\.\/[^:]+):/g)) assert.ok(existsSync(join(repoRoot, 'deploy', m[1]!)), `mounted ${m[1]}`);
    assert.match(service('btcd').text, /network_mode: service:gateway/);
  });

  test('compose: its environment makes deploy/config/example.toml a valid config that matches btcd, the share sink and Prometheus', () => {
    const gateway = service('gateway');
    const env = { ...gateway.environment, RESERVEGRID_GATEWAY__DATA_DIR: '/var/lib/reservegrid' };
    const loaded = loadConfig({ tomlText: read('deploy/config/example.toml'), env });
    assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.problems));
    const config = loaded.config;
    const btcd = service('btcd').text;
    assert.equal(new URL(config.gateway.upstream_url).port, /--rpclisten=127\.0\.0\.1:(\d+)/.exec(btcd)![1], 'upstream_url is btcd\'s RPC port');
    assert.match(btcd, new RegExp(`--rpcuser=${config.upstream.rpc_user}\\n`));
    assert.match(btcd, new RegExp(`--rpcpass=${config.upstream.rpc_password}\\n`));
    const sink = JSON.parse(/command: (\[.*\])/.exec(service('share-sink').text)![1]!) as string[];
    const shareUrl = new URL(config.share.share_upstream_url);
    assert.equal(shareUrl.hostname, 'share-sink');
    assert.equal(sink[sink.indexOf('--listen') + 1], `0.0.0.0:${shareUrl.port}`);
    assert.equal(sink[sink.indexOf('--secret') + 1], config.share.share_upstream_secret);
    assert.equal(read('deploy/compose/reservegrid-api-key'), config.gateway.http_api_key, 'Prometheus sends the gateway\'s API key');
    assert.ok(gateway.ports.includes(`${new URL(`sv2://${config.gateway.listen_addr}`).port}:3333`), 'the SV2 port is published');
  });

  test('docs/operations.md "Deploy": every file it names exists, its port table is the compose file\'s', () => {
    const files = [...DEPLOY_DOC.matchAll(/`((?:deploy\/|\.docker|scripts\/)[^`\s]*)`/g)].map((m) => m[1]!);
    assert.ok(files.length >= 8, files.join(' '));
    for (const f of files) assert.ok(existsSync(join(repoRoot, f)), `docs/operations.md names ${f}`);
    for (const f of readdirSync(join(repoRoot, 'deploy/docker')).concat(readdirSync(join(repoRoot, 'deploy/systemd')))) assert.ok(DEPLOY_DOC.includes(f), `the Deploy section mentions ${f}`);
    const rows = [...DEPLOY_DOC.matchAll(/^\| (\d+) \| ([^|]+) \| ([^|]+) \|$/gm)].map((m) => ({ port: m[1]!, what: m[2]!.trim(), host: m[3]!.trim() }));
    assert.equal(rows.length, 7);
    assert.equal(new Set(rows.map((r) => r.port)).size, rows.length, 'no port twice');
    const published = SERVICES.flatMap((s) => s.ports);
    for (const row of rows) {
      const entry = published.find((p) => p.endsWith(`:${row.port}`));
      if (row.host === 'not published') {
        assert.equal(entry, undefined, `${row.port} is not published`);
        assert.ok(COMPOSE.includes(`:${row.port}`), `${row.port} appears in the compose file`);
      } else if (row.host === 'published on 127.0.0.1') assert.equal(entry, `127.0.0.1:${row.port}:${row.port}`, row.what);
      else assert.equal(entry, `${row.port}:${row.port}`, row.what);
    }
    assert.equal(published.length, rows.filter((r) => r.host !== 'not published').length, 'the table lists every published port');
  });

  test('9090 is Prometheus\'s alone: no share sink or pool backend on it in configs, docs or README', () => {
    // compose.yaml by service: only the prometheus service may use it (others may name it).
    for (const s of SERVICES) if (s.name !== 'prometheus') for (const line of s.text.split('\n')) if (/\b9090\b/.test(line) && !/prometheus/i.test(line)) assert.fail(`compose ${s.name}: ${line.trim()}`);
    const files = ['README.md', 'core/config/schema.ts', ...['docs', 'deploy'].flatMap((d) => _walk(d)).filter((f) => f !== 'deploy/compose.yaml')];
    const offenders: string[] = [];
    for (const f of files) {
      read(f).split('\n').forEach((line, i) => {
        if (/\b9090\b/.test(line) && !/prometheus/i.test(line) && !/prometheus/i.test(f) && !/Prometheus's/.test(line)) offenders.push(`${f}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(offenders, []);
    assert.match(read('deploy/config/example.toml'), /share_upstream_url = "http:\/\/127\.0\.0\.1:7090\/shares"/);
  });

  test('systemd unit: hardened, runs `reservegrid run` with the paths the image uses', () => {
    const unit = read('deploy/systemd/reservegrid.service');
    const service = unit.split('[Service]\n')[1]!.split('\n[')[0]!;
    const keys = new Map<string, string[]>();
    for (const line of service.split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (m !== null) keys.set(m[1]!, [...(keys.get(m[1]!) ?? []), m[2]!]);
    }
    const one = (k: string): string | undefined => keys.get(k)?.[0];
    assert.equal(one('ExecStart'), '/usr/local/bin/reservegrid run');
    for (const [k, v] of [['DynamicUser', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['NoNewPrivileges', 'yes'], ['PrivateTmp', 'yes'], ['StateDirectory', 'reservegrid'], ['CapabilityBoundingSet', ''], ['KillSignal', 'SIGTERM']]) assert.equal(one(k), v, k);
    assert.ok(keys.get('Environment')!.includes('RESERVEGRID_CONFIG=/etc/reservegrid/gateway.toml'));
    assert.ok(keys.get('Environment')!.includes('RESERVEGRID_GATEWAY__DATA_DIR=/var/lib/reservegrid'));
    assert.ok(!keys.has('MemoryDenyWriteExecute'), 'JIT runtimes need W+X memory');
    // Longer than the default drain (timing.shutdown_drain_timeout_ms) so SIGKILL never cuts it.
    const drainMs = Number(/^shutdown_drain_timeout_ms = (\d+)$/m.exec(read('deploy/config/example.toml'))![1]);
    assert.ok(Number(one('TimeoutStopSec')) * 1000 > drainMs);
  });
});

function _walk(dir: string): string[] {
  return readdirSync(join(repoRoot, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    return statSync(join(repoRoot, path)).isDirectory() ? _walk(path) : [path];
  });
}
