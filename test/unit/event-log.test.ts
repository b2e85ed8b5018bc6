// adapters/event-log.ts: the beforeFlush hook runs before buffered lines reach the file, so the
// gateway stack can keep "journal before log" (docs/share-forwarding.md, Durability).
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { createEventLog } from '../../adapters/event-log.ts';

function withDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rg-eventlog-'));
  return Promise.resolve(fn(dir)).finally(() => rmSync(dir, { recursive: true, force: true }));
}

describe('event log', () => {
  test('beforeFlush runs before the buffered lines are written, once per flush', () =>
    withDir(async (dir) => {
      const path = join(dir, 'events.jsonl');
      const seenAtHook: string[] = [];
      const log = createEventLog({
        path,
        maxBytes: 0,
        maxFiles: 1,
        beforeFlush: () => seenAtHook.push(existsSync(path) ? readFileSync(path, 'utf8') : ''),
      });
      log.write({ type: 'block_found', share_id: 's1' });
      log.write({ type: 'share_accepted', share_id: 's1' });
      await Promise.resolve(); // the flush is a microtask
      await Promise.resolve();
      assert.deepEqual(seenAtHook, [''], 'the hook ran once, while the file had none of the lines');
      assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 2);
      log.flush(); // nothing buffered: no hook call
      assert.equal(seenAtHook.length, 1);
      log.close();
    }));

  test('a throwing beforeFlush is counted and the lines are still written', () =>
    withDir(async (dir) => {
      const path = join(dir, 'events.jsonl');
      const log = createEventLog({ path, maxBytes: 0, maxFiles: 1, beforeFlush: () => { throw new Error('journal down'); } });
      log.write({ type: 'share_accepted', share_id: 's2' });
      log.flush();
      assert.equal(log.stats.errors, 1);
      assert.equal(log.stats.linesWritten, 1);
      assert.match(readFileSync(path, 'utf8'), /"share_id":"s2"/);
      log.close();
    }));
});
