// What "journal first, then acknowledge" costs a miner (issue 12 defect 2): the pump now writes
// a pass's share_accepted journal records (one write(2), adapters/share-journal-file.ts flush)
// before it writes that pass's SubmitShares.Success bytes (adapters/gateway-server.ts header).
// So the added ack latency is exactly one journal flush of the pass's records. Measured here on
// the real file journal in a temp dir, per pass size (1 share: share_ack_batch_size = 1, every
// share its own pass; 10: the default ack batch; 100: a busy pass), as p50 and p99 in µs over
// a bounded number of passes. Settled records are written too, so the file stays at its
// steady-state size and compaction runs at its real rate (its cost is in the p99 / max).
//
//   node --import tsx test/bench/ack-journal.bench.ts   (or deno run -A / bun; npm run bench ack)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openShareJournalFile } from '../../adapters/share-journal-file.ts';
import type { ShareRecord } from '../../core/forwarding/types.ts';
import { report, runtime } from './bench-util.ts';

const PASSES = 4000;
const WARMUP_PASSES = 200;

function share(n: number): ShareRecord {
  return {
    share_id: `7-3f9a1c0e5b7d2a64-${n}`, channel_id: 1, sequence_number: n, identity: 'pool.rig1', worker: 'rig1', job_id: 5, template_id: '3',
    nonce: n, ntime: 1700000000, version: 536870912, extranonce: '0000000100000002', hash: '00000000'.padEnd(64, 'a'),
    difficulty: 1024, block: false, mode: 'inline', stale_hold: false, accepted_at: '2026-01-01T00:00:00.000Z',
  };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

for (const perPass of [1, 10, 100]) {
  const dir = mkdtempSync(join(tmpdir(), `rg-ack-journal-bench-${runtime}-`));
  const journal = openShareJournalFile({ dir });
  const samplesUs: number[] = [];
  let n = 0;
  for (let pass = 0; pass < WARMUP_PASSES + PASSES; pass++) {
    const ids: string[] = [];
    for (let i = 0; i < perPass; i++) {
      const s = share(n++);
      journal.accepted(s, JSON.stringify(s));
      ids.push(s.share_id);
    }
    const start = performance.now();
    journal.flush(); // the one write(2) the ack now waits for
    const us = (performance.now() - start) * 1000;
    if (pass >= WARMUP_PASSES) samplesUs.push(us);
    // These shares settle later (not timed): keeps the live set and the file bounded.
    for (const id of ids) journal.settled(id, 'ok');
  }
  journal.close();
  rmSync(dir, { recursive: true, force: true });
  samplesUs.sort((a, b) => a - b);
  report({ name: `ack_journal_flush_p50_us_${perPass}`, value: percentile(samplesUs, 50), unit: 'µs' });
  report({ name: `ack_journal_flush_p99_us_${perPass}`, value: percentile(samplesUs, 99), unit: 'µs' });
  report({ name: `ack_journal_flush_max_us_${perPass}`, value: samplesUs[samplesUs.length - 1]!, unit: 'µs' });
}
