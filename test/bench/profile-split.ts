// Splits a V8 profile written by gateway.bench.ts (RG_BENCH_CPU_PROFILE / RG_BENCH_HEAP_PROFILE)
// into the gateway's side of the switch and the bench's own client side, and lists where each
// side spends its samples (CPU µs, or allocated bytes for a sampling heap profile that counts
// collected objects too). Not a bench (no `.bench.ts`): a reading aid for docs/performance.md,
// "Where the time goes".
//
//   node --import tsx test/bench/profile-split.ts <file.cpuprofile | file.heapprofile> [top N]
//
// Region of a sample = the outermost frame on its stack that names one: the gateway's
// `templateUpdated` / `pollTransmit` (core/gateway/gateway.ts) or anything in core/client/
// (the in-process miners decrypting and decoding what was sent). CPU samples with no JS stack
// ("(garbage collector)", "(program)", "(idle)") are their own rows: V8 does not say whose
// garbage a collection was collecting.
import { readFileSync } from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface CpuNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly CpuNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}
interface HeapNode {
  readonly callFrame: CallFrame;
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

const file = process.argv[2];
if (file === undefined) throw new Error('usage: profile-split.ts <file.cpuprofile | file.heapprofile> [top N]');
const top = Number(process.argv[3] ?? 25);
const json = JSON.parse(readFileSync(file, 'utf8')) as Partial<CpuProfile> & { head?: HeapNode };

const shortUrl = (url: string): string => url.replace(/^.*\/(core|adapters|test|node_modules)\//, '$1/').replace(/^node:/, 'node:');
const frameName = (f: CallFrame): string => `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;

function regionOf(f: CallFrame): string | undefined {
  if (f.url.includes('/core/gateway/gateway.ts') && (f.functionName === 'templateUpdated' || f.functionName === 'pollTransmit')) return 'gateway';
  if (f.url.includes('/core/client/')) return 'client';
  return undefined;
}

/** Per region: total, and per leaf frame. */
const totals = new Map<string, { total: number; leaves: Map<string, number> }>();
function add(region: string, leaf: string, amount: number): void {
  let r = totals.get(region);
  if (r === undefined) totals.set(region, (r = { total: 0, leaves: new Map() }));
  r.total += amount;
  r.leaves.set(leaf, (r.leaves.get(leaf) ?? 0) + amount);
}

let unit: string;
if (json.head !== undefined) {
  unit = 'bytes allocated';
  const walk = (node: HeapNode, region: string | undefined): void => {
    const here = region ?? regionOf(node.callFrame);
    if (node.selfSize > 0) add(here ?? 'other', frameName(node.callFrame), node.selfSize);
    for (const child of node.children) walk(child, here);
  };
  walk(json.head, undefined);
} else {
  unit = 'µs of CPU samples';
  const nodes = new Map<number, CpuNode>();
  for (const n of json.nodes!) nodes.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of json.nodes!) for (const c of n.children ?? []) parent.set(c, n.id);
  const regionCache = new Map<number, string>();
  const regionOfNode = (id: number): string => {
    const cached = regionCache.get(id);
    if (cached !== undefined) return cached;
    let region: string | undefined;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) region = regionOf(nodes.get(at)!.callFrame) ?? region; // outermost wins
    const name = nodes.get(id)!.callFrame.functionName;
    const result = region ?? (name.startsWith('(') ? name : 'other');
    regionCache.set(id, result);
    return result;
  };
  const samples = json.samples!;
  const deltas = json.timeDeltas!;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; the interval a sample stands for is the next delta.
    const us = deltas[i + 1] ?? deltas[i] ?? 0;
    const id = samples[i]!;
    add(regionOfNode(id), frameName(nodes.get(id)!.callFrame), us);
  }
}

const all = [...totals.values()].reduce((s, r) => s + r.total, 0);
console.log(`${file}: ${Math.round(all).toLocaleString('en-US')} ${unit}`);
for (const [region, r] of [...totals].sort((a, b) => b[1].total - a[1].total)) {
  console.log(`\n${region}: ${Math.round(r.total).toLocaleString('en-US')} (${((100 * r.total) / all).toFixed(1)} %)`);
  for (const [leaf, amount] of [...r.leaves].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${((100 * amount) / r.total).toFixed(1).padStart(5)} %  ${Math.round(amount).toLocaleString('en-US').padStart(12)}  ${leaf}`);
  }
}
