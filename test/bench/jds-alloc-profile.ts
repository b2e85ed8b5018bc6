// Where the Job Declaration server's garbage comes from (a diagnostic script, not a test and not
// a `.bench.ts`: `npm run bench` does not run it; docs/job-declaration.md "Performance").
// Runs the jds bench's declarations (test/bench/jds.bench.ts, the same world and inputs) under
// V8's sampling heap profiler with collected objects included (HeapProfiler.startSampling with
// includeObjectsCollectedByMajorGC/MinorGC: every allocation is a candidate sample, whether or not
// it survives), and keeps only the samples allocated under the server's entry points
// (JdsSession.receive / pollTransmit in core/job-declaration/jds-session.ts), i.e. not the bench
// client's. Prints bytes per declaration by allocating function (with its caller), and the total.
// Sampling is statistical (one sample per `INTERVAL` bytes on average): compare totals of a few
// hundred runs, not single functions of a few hundred bytes.
//
//   node --import tsx test/bench/jds-alloc-profile.ts [1000|4000] [known|known_reordered|10pct_missing]
//   deno run -A test/bench/jds-alloc-profile.ts 4000 10pct_missing      (Bun has no HeapProfiler)
import { Session } from 'node:inspector';
import process from 'node:process';
import { selectCryptoProvider } from '../../adapters/crypto-native.ts';
import { runDeclarations, type Case } from './jds-cases.ts';

const INTERVAL = 128;
const RUNS = 100;
const args = typeof Deno !== 'undefined' ? Deno.args : process.argv.slice(2);
declare const Deno: { args: string[] } | undefined;
const txCount = Number(args.find((a) => /^\d+$/.test(a)) ?? 4000);
const kind = (args.find((a) => /^[a-z_0-9]+$/.test(a) && !/^\d+$/.test(a)) ?? '10pct_missing') as Case;

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  children: ProfileNode[];
}

const session = new Session();
session.connect();
function post<T>(method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, params ?? {}, (e: Error | null, r?: unknown) => (e ? reject(e) : resolve(r as T))));
}

function isServerEntry(f: CallFrame): boolean {
  return f.url.includes('job-declaration/jds-session') && (f.functionName === 'receive' || f.functionName === 'pollTransmit');
}

const where = (f: CallFrame): string => `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(core|test|conformance|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;

// Warm up outside the profile (JIT, caches), then profile RUNS declarations.
const provider = selectCryptoProvider('auto');
runDeclarations(txCount, kind, 10, provider);
await post('HeapProfiler.enable');
await post('HeapProfiler.startSampling', { samplingInterval: INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
runDeclarations(txCount, kind, RUNS, provider);
const { profile } = await post<{ profile: { head: ProfileNode } }>('HeapProfiler.stopSampling');

const bySite = new Map<string, number>();
let total = 0;
function walk(node: ProfileNode, inServer: boolean, parent: CallFrame | null): void {
  const server = inServer || isServerEntry(node.callFrame);
  if (server && node.selfSize > 0) {
    const key = `${where(node.callFrame)}  ← ${parent === null ? '-' : where(parent)}`;
    bySite.set(key, (bySite.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
  }
  for (const c of node.children) walk(c, server, node.callFrame);
}
walk(profile.head, false, null);
const runtime = typeof Deno !== 'undefined' ? 'deno' : 'node';
console.log(`${runtime}: server allocation per declaration, ${txCount} tx ${kind}, ${RUNS} runs, sampling interval ${INTERVAL} B: ${(total / RUNS / 1024).toFixed(1)} KiB`);
for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  console.log(`${(bytes / RUNS / 1024).toFixed(1).padStart(8)} KiB  ${site}`);
}
session.disconnect();
