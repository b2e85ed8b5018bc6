// adapters/share-journal-file.ts on this runtime's node:fs: what a crash leaves is recovered,
// settled shares are not, a torn tail is skipped and counted, and compaction keeps the file
// bounded while preserving the unsettled records.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { openShareJournalFile } from '../../adapters/share-journal-file.ts';

const share = (n: number) => ({ share_id: `7-j-${n}`, channel_id: 1, identity: 'ü-worker', difficulty: 1, block: false });

describe(`share journal file (${runtime})`, () => {
  test('unsettled records survive an unclean end (no close) and come back in accept order; settled ones do not', () => {
    const dir = mkdtempSync(join(tmpdir(), `rg-journal-${runtime}-`));
    try {
      const first = openShareJournalFile({ dir });
      assert.deepEqual(first.recovered, []);
      for (let i = 1; i <= 5; i++) first.accepted(share(i), JSON.stringify(share(i)));
      first.settled('7-j-2', 'ok');
      first.settled('7-j-4', 'rejected');
      first.flush();
      first.accepted(share(6), JSON.stringify(share(6))); // never flushed: lost with the process
      // No close(): the process "dies" here.
      const second = openShareJournalFile({ dir });
      assert.deepEqual(second.recovered, [share(1), share(3), share(5)]);
      // The start-up rewrite left only the live records.
      const lines = readFileSync(second.path, 'utf8').trim().split('\n');
      assert.equal(lines.length, 3);
      second.settled('7-j-1', 'ok');
      second.settled('7-j-3', 'ok');
      second.settled('7-j-5', 'dropped_shutdown');
      second.close();
      assert.deepEqual(openShareJournalFile({ dir }).recovered, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a torn last line (power loss mid-write) is skipped and counted', () => {
    const dir = mkdtempSync(join(tmpdir(), `rg-journal-${runtime}-`));
    try {
      const j = openShareJournalFile({ dir });
      j.accepted(share(1), JSON.stringify(share(1)));
      j.commit();
      appendFileSync(j.path, '{"a":{"share_id":"7-j-2","chan');
      const again = openShareJournalFile({ dir });
      assert.deepEqual(again.recovered.map((s) => s.share_id), ['7-j-1']);
      assert.equal(again.stats.corruptLines, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('compaction bounds the file and keeps every unsettled record', () => {
    const dir = mkdtempSync(join(tmpdir(), `rg-journal-${runtime}-`));
    try {
      const j = openShareJournalFile({ dir, compactBytesMin: 4096 });
      let maxBytes = 0;
      for (let i = 1; i <= 2000; i++) {
        j.accepted(share(i), JSON.stringify(share(i)));
        if (i > 3) j.settled(`7-j-${i - 3}`, 'ok'); // three unsettled at any time
        j.flush();
        maxBytes = Math.max(maxBytes, statSync(j.path).size);
      }
      assert.ok(j.stats.compactions > 10, `compacted (${j.stats.compactions})`);
      assert.ok(maxBytes < 4096 + 1024, `file stayed bounded (max ${maxBytes} bytes)`);
      const again = openShareJournalFile({ dir });
      assert.deepEqual(again.recovered.map((s) => s.share_id), ['7-j-1998', '7-j-1999', '7-j-2000']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
