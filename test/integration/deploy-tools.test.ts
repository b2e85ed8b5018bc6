// The deployment files through the real validators, where this machine has them (issue 14
// item 4): `docker compose config` (or Debian's `docker-compose config`: neither needs a daemon)
// on deploy/compose.yaml for every RESERVEGRID_RUNTIME, and `systemd-analyze verify` plus
// `systemd-analyze security --offline` on deploy/systemd/reservegrid.service. A missing tool is a
// skip that says so, or a failure with RG_REQUIRE_DEPLOY_TOOLS=1 (CI installs them).
import { spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, readEnv, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { repoRoot } from '../support/child.ts';

function onPath(name: string): string | null {
  for (const dir of (readEnv('PATH') ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

function run(cmd: string, args: readonly string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: repoRoot, encoding: 'utf8', timeout: 60_000, env: { PATH: readEnv('PATH') ?? '/usr/bin:/bin', HOME: tmpdir(), ...env } });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** `docker compose` when the plugin is there, else `docker-compose`; null if neither. */
function composeCommand(): string[] | null {
  const docker = onPath('docker');
  if (docker !== null && run(docker, ['compose', 'version']).code === 0) return [docker, 'compose'];
  const v1 = onPath('docker-compose');
  return v1 === null ? null : [v1];
}

function testWithTool(name: string, available: boolean, missing: string, fn: () => void): void {
  if (available) test(name, fn, { timeoutMs: 120_000 });
  else if (readEnv('RG_REQUIRE_DEPLOY_TOOLS') === '1') test(name, () => assert.fail(`RG_REQUIRE_DEPLOY_TOOLS=1 but ${missing}`));
  else test.skip(name, missing);
}

const compose = composeCommand();
const systemdAnalyze = onPath('systemd-analyze');

describe(`deploy files through their validators (${runtime})`, () => {
  testWithTool('compose config accepts deploy/compose.yaml for every runtime', compose !== null, 'neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)', () => {
    for (const rt of ['node', 'deno', 'bun']) {
      const r = run(compose![0]!, [...compose!.slice(1), '-f', 'deploy/compose.yaml', 'config'], { RESERVEGRID_RUNTIME: rt });
      assert.equal(r.code, 0, `${compose!.join(' ')} config (${rt}):\n${r.stderr}`);
      // The resolved file: the runtime argument reached the build, and the image tag.
      assert.match(r.stdout, new RegExp(`RUNTIME: ${rt}\\n`), rt);
      assert.match(r.stdout, new RegExp(`image: reservegrid:${rt}\\n`), rt);
      assert.match(r.stdout, /network_mode: service:gateway/);
    }
    // And it refuses a broken file (the check can fail).
    const dir = mkdtempSync(join(tmpdir(), 'rg-compose-'));
    try {
      writeFileSync(join(dir, 'compose.yaml'), readFileSync(join(repoRoot, 'deploy/compose.yaml'), 'utf8').replace('    restart: unless-stopped\n', '    restart: [unless-stopped\n'));
      assert.notEqual(run(compose![0]!, [...compose!.slice(1), '-f', join(dir, 'compose.yaml'), 'config']).code, 0, 'a broken compose file is refused');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  testWithTool('systemd-analyze verify and security --offline accept the unit (exposure at most 2.0)', systemdAnalyze !== null, 'systemd-analyze is not installed (Debian package systemd)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-systemd-'));
    try {
      // verify wants ExecStart's binary to exist, and /usr/local/bin/reservegrid is not installed
      // here: the only change is its path, to a launcher of the kind an install puts there (this
      // checkout's CLI on Node; verify only checks that it exists and is executable).
      const launcher = join(dir, 'reservegrid');
      writeFileSync(launcher, `#!/bin/sh\nexec node --import tsx '${join(repoRoot, 'runtimes/node.ts')}' "$@"\n`);
      chmodSync(launcher, 0o755);
      const unit = readFileSync(join(repoRoot, 'deploy/systemd/reservegrid.service'), 'utf8');
      assert.ok(unit.includes('ExecStart=/usr/local/bin/reservegrid run\n'));
      const path = join(dir, 'reservegrid.service');
      writeFileSync(path, unit.replace('ExecStart=/usr/local/bin/reservegrid', `ExecStart=${launcher}`));
      const verified = run(systemdAnalyze!, ['verify', path]);
      assert.equal(verified.code, 0, verified.stderr);
      assert.equal((verified.stdout + verified.stderr).trim(), '', 'no warnings (an unknown key is only a warning)');
      const security = run(systemdAnalyze!, ['security', '--offline=true', path]);
      const exposure = /Overall exposure level for reservegrid\.service: ([\d.]+)/.exec(security.stdout)?.[1];
      assert.ok(exposure !== undefined, security.stdout + security.stderr);
      assert.ok(Number(exposure) <= 2.0, `exposure ${exposure}`);
      // A misspelt key is reported (the check can fail).
      writeFileSync(path, unit.replace('ExecStart=/usr/local/bin/reservegrid', `ExecStart=${launcher}`).replace('ProtectSystem=strict', 'ProtectSytem=strict'));
      const bad = run(systemdAnalyze!, ['verify', path]);
      assert.match(bad.stdout + bad.stderr, /Unknown key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
