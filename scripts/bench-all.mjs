#!/usr/bin/env node
// `npm run bench`: runs every test/bench/*.bench.ts on Node, Deno and Bun and prints one
// comparable table. Each bench prints `BENCH {"runtime","provider","name","value","unit"}`
// lines; everything else it prints is passed through. Benchmarks are bounded in time by
// themselves; this driver adds a hard limit per process (10 min, or the limit a bench names in its
// header) so a stuck runtime cannot hang it.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const runtimes = (process.env.RG_RUNTIMES ?? 'node,deno,bun').split(',').filter(Boolean);
const only = process.argv[2];
const benches = readdirSync(join(root, 'test/bench')).filter((f) => f.endsWith('.bench.ts') && (!only || f.includes(only))).sort();
const PROCESS_LIMIT_MS = 10 * 60_000;
// A bench that needs longer says so in its header: `bench-all process limit: <n> min`.
const processLimitMs = (file) => {
  const m = /bench-all process limit: (\d+) min/.exec(readFileSync(join(root, file), 'utf8').slice(0, 8192));
  return m === null ? PROCESS_LIMIT_MS : Number(m[1]) * 60_000;
};

const command = (runtime, file) => ({
  node: [process.execPath, ['--import', 'tsx', file]],
  deno: [bin('deno'), ['run', '-A', '--quiet', file]],
  bun: [bin('bun'), [file]],
})[runtime];

const rows = [];
let failures = 0;
for (const bench of benches) {
  for (const runtime of runtimes) {
    const [cmd, args] = command(runtime, join('test/bench', bench));
    console.log(`\n=== ${bench} on ${runtime} ===`);
    const code = await new Promise((resolve) => {
      const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
      const timer = setTimeout(() => child.kill('SIGKILL'), processLimitMs(join('test/bench', bench)));
      let pending = '';
      child.stdout.on('data', (chunk) => {
        pending += chunk.toString();
        let nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line.startsWith('BENCH ')) rows.push({ bench, ...JSON.parse(line.slice(6)) });
          else console.log(line);
        }
      });
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    if (code !== 0) {
      failures++;
      console.log(`!!! ${bench} on ${runtime} exited with ${code}`);
    }
  }
}

console.log('\n=== results ===');
const fmt = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2));
const width = Math.max(10, ...rows.map((r) => r.name.length));
for (const r of rows) {
  console.log(`${r.runtime.padEnd(5)} ${String(r.provider ?? '-').padEnd(28)} ${r.name.padEnd(width)} ${fmt(r.value).padStart(14)} ${r.unit ?? ''}`);
}
process.exit(failures > 0 ? 1 : 0);
