#!/usr/bin/env node
// `npm run soak`: test/soak/soak.ts on Node, Deno and Bun in turn (RG_RUNTIMES=node,deno,bun
// picks), like `npm run bench`. Bounded: each runtime's soak stops itself (RG_SOAK_SECS of churn,
// RG_SOAK_KILLS kill -9 cycles) and this driver adds a hard limit per process. Exit code 1 if
// any runtime's soak failed or did not finish. Not part of `npm test`.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const runtimes = (process.env.RG_RUNTIMES ?? 'node,deno,bun').split(',').filter(Boolean);
const PROCESS_LIMIT_MS = 40 * 60_000;
const file = 'test/soak/soak.ts';
const command = (runtime) => ({
  node: [process.execPath, ['--import', 'tsx', file]],
  deno: [bin('deno'), ['run', '-A', '--quiet', file]],
  bun: [bin('bun'), [file]],
})[runtime];

const outcome = [];
for (const runtime of runtimes) {
  const [cmd, args] = command(runtime);
  console.log(`\n=== soak on ${runtime} ===`);
  const startedMs = Date.now();
  const code = await new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: 'inherit' });
    const timer = setTimeout(() => child.kill('SIGKILL'), PROCESS_LIMIT_MS);
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  outcome.push({ runtime, code, secs: Math.round((Date.now() - startedMs) / 1000) });
}
console.log('\n=== soak results ===');
for (const o of outcome) console.log(`${o.runtime.padEnd(5)} ${o.code === 0 ? 'passed' : `FAILED (exit ${o.code})`} in ${o.secs} s`);
process.exit(outcome.every((o) => o.code === 0) ? 0 : 1);
