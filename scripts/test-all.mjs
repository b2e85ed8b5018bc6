#!/usr/bin/env node
// `npm test`: runs the same suite on Node, Deno and Bun, one after the other, and ends with the
// aggregate line `N passed, N failed`. A runtime that crashes or prints no RESULT line counts as
// a failure, so a broken runtime can never look green.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const extra = process.argv.slice(2);
const wanted = (process.env.RG_RUNTIMES ?? 'node,deno,bun').split(',').filter(Boolean);

const commands = {
  node: [process.execPath, ['--import', 'tsx', 'test/run.ts', ...extra]],
  deno: [bin('deno'), ['run', '-A', '--quiet', 'test/run.ts', ...extra]],
  bun: [bin('bun'), ['test/run.ts', ...extra]],
};

function run(name) {
  const [cmd, args] = commands[name];
  return new Promise((resolve) => {
    let result;
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0' } });
    let pending = '';
    child.stdout.on('data', (chunk) => {
      pending += chunk.toString();
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7));
        else process.stdout.write(line + '\n');
      }
    });
    child.on('error', (error) => resolve({ runtime: name, crashed: String(error) }));
    child.on('close', (code, signal) => {
      if (!result) resolve({ runtime: name, crashed: `exited with ${signal ?? code} before reporting a result` });
      else resolve(result);
    });
  });
}

let passed = 0;
let failed = 0;
let skipped = 0;
const lines = [];
for (const name of wanted) {
  console.log(`\n=== ${name} ===`);
  const r = await run(name);
  if (r.crashed) {
    failed += 1;
    lines.push(`${name}: CRASHED (${r.crashed})`);
    continue;
  }
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  lines.push(`${name}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
}
console.log('\n=== summary ===');
for (const l of lines) console.log(l);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
