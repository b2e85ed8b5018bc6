// The crash tests' tolerance (test/support/crash-windows.ts) must accept exactly the kill's last
// turn and refuse anything earlier: otherwise a journal or log bug could hide behind it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { killWindows, readJournal, type LoggedEvent } from '../support/crash-windows.ts';

const id = (n: number): string => `7-abcd-${n}`;
const a = (n: number): string => JSON.stringify({ a: { share_id: id(n), channel_id: 1 } });
const s = (n: number): string => JSON.stringify({ s: id(n), r: 'ok' });
const acc = (n: number): LoggedEvent => ({ type: 'share_accepted', share_id: id(n) });
const res = (n: number): LoggedEvent => ({ type: 'share_forward_result', share_id: id(n) });

function withJournal<T>(lines: readonly string[], fn: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'rg-crash-windows-'));
  try {
    const path = join(dir, 'share-journal.jsonl');
    writeFileSync(path, lines.join('\n') + '\n');
    return fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const classify = (lines: readonly string[], events: readonly LoggedEvent[]) => withJournal(lines, (path) => killWindows(events, readJournal(path)));
const sizes = (w: ReturnType<typeof classify>): [number, number] => [w.unlogged.size, w.resultUnlogged.size];

describe('crash windows (test support)', () => {
  test('readJournal: accepted and settled in file order, a torn last line skipped', () => {
    const j = withJournal([a(1), a(2), s(1), a(3), '{"s":"7-ab'], readJournal);
    assert.deepEqual(j.accepted, [id(1), id(2), id(3)]);
    assert.deepEqual(j.settled, [id(1)]);
    assert.deepEqual([...j.unsettled], [id(2), id(3)]);
  });

  test('log and journal agree: no window', () => {
    assert.deepEqual(sizes(classify([a(1), a(2), s(1)], [acc(1), acc(2), res(1)])), [0, 0]);
  });

  test('the last turn may be journaled and not logged', () => {
    // journal wrote the last acceptances, the log did not
    assert.deepEqual([...classify([a(1), a(2), a(3)], [acc(1)]).unlogged], [id(2), id(3)]);
    // journal wrote the last settle records, the log did not
    assert.deepEqual([...classify([a(1), a(2), s(1), s(2)], [acc(1), acc(2), res(1)]).resultUnlogged], [id(2)]);
  });

  test('anything else fails: a disagreement before the last turn, or the log ahead of the journal', () => {
    // a settle without a result line, followed by a published result
    assert.throws(() => classify([a(1), a(2), s(2), s(1)], [acc(1), acc(2), res(1)]), /not the last turn/);
    // a journaled share without share_accepted while later shares were logged
    assert.throws(() => classify([a(1), a(2), a(3)], [acc(1), acc(3)]), /not from run 1's last turn/);
    // the log ahead of the journal: a share logged as accepted that the journal never saw
    assert.throws(() => classify([a(1)], [acc(1), acc(2)]), /logged as accepted but never journaled/);
    // a published result the journal never settled (run 2 would send it again)
    assert.throws(() => classify([a(1)], [acc(1), res(1)]), /no settle record/);
    // a settled share the log never accepted
    assert.throws(() => classify([a(1), s(1)], []), /settled without a share_accepted line/);
  });
});
