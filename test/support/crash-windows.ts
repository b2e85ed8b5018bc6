// What a kill -9 may legitimately leave behind in the share journal and the event log, for the
// two crash tests (test/integration/share-crash.test.ts, gateway-crash.test.ts).
//
// The journal (share-journal.jsonl) and the event log are two files, each written once per
// event-loop turn, the journal first (the event log's beforeFlush); nothing makes the pair
// atomic. docs/share-forwarding.md ("Durability") lists what a kill between a turn's two writes
// does, and these helpers tolerate exactly that, in the very last turn before the kill, and
// nothing else:
//   - `unlogged`: a journaled share without a share_accepted line. Run 2 recovers and forwards
//     it.
//   - `resultUnlogged`: the settle records of a pass were journaled (always before its results
//     are published, so a published result is never re-sent), then the kill: the sink holds
//     these shares exactly once, but their share_forward_result lines were never written.
import { readFileSync } from 'node:fs';
import { assert } from '../assert.ts';

export interface JournalContents {
  /** Share ids with an `{"a":…}` record, in file order. */
  readonly accepted: readonly string[];
  /** Share ids with an `{"s":…}` record, in file order. */
  readonly settled: readonly string[];
  /** Accepted and never settled: what a restart recovers. */
  readonly unsettled: ReadonlySet<string>;
}

/** Reads a share journal (docs/share-forwarding.md "Durability"); a torn last line is skipped. */
export function readJournal(path: string): JournalContents {
  const accepted: string[] = [];
  const settled: string[] = [];
  const unsettled = new Set<string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    let record: { a?: { share_id?: string }; s?: string };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      continue;
    }
    if (typeof record.a?.share_id === 'string') {
      accepted.push(record.a.share_id);
      unsettled.add(record.a.share_id);
    }
    if (typeof record.s === 'string') {
      settled.push(record.s);
      unsettled.delete(record.s);
    }
  }
  return { accepted, settled, unsettled };
}

/** Run 1's event log as the crash tests see it: lines in order, with a type and maybe a share_id. */
export interface LoggedEvent {
  readonly type: string;
  readonly share_id?: string;
}

export interface KillWindows {
  readonly unlogged: ReadonlySet<string>;
  readonly resultUnlogged: ReadonlySet<string>;
}

/** `<gateway.id>-<boot id>-<counter>` → [prefix, counter]. */
function splitShareId(id: string): [string, number] {
  const dash = id.lastIndexOf('-');
  return [id.slice(0, dash + 1), Number(id.slice(dash + 1))];
}

/**
 * Compares run 1's log with the journal it left, classifies every disagreement into the two
 * windows above, and fails unless each is confined to the last turn before the kill.
 */
export function killWindows(events1: readonly LoggedEvent[], journal: JournalContents): KillWindows {
  const logged = events1.filter((e) => e.type === 'share_accepted').map((e) => e.share_id!);
  const loggedSet = new Set(logged);
  const withResult = new Set(events1.filter((e) => e.type === 'share_forward_result').map((e) => e.share_id!));
  const journaled = new Set(journal.accepted);
  const settled = new Set(journal.settled);

  // A published result must be journaled as settled (otherwise run 2 would re-send it).
  for (const id of withResult) assert.ok(settled.has(id), `share ${id} has a result line but no settle record in the journal`);

  // The log is never ahead of the journal (beforeFlush writes the journal first).
  for (const id of logged) assert.ok(journaled.has(id) || settled.has(id), `share ${id} logged as accepted but never journaled`);
  const unlogged = new Set([...journal.unsettled].filter((id) => !loggedSet.has(id)));
  const resultUnlogged = new Set(journal.settled.filter((id) => !withResult.has(id)));

  if (unlogged.size > 0) {
    // Journaled without a log line: only shares accepted after every logged one.
    const counters = logged.map((id) => splitShareId(id));
    const [prefix] = counters[0] ?? splitShareId([...unlogged][0]!);
    const lastCounter = Math.max(0, ...counters.map(([, n]) => n));
    for (const id of unlogged) {
      const [p, n] = splitShareId(id);
      assert.ok(p === prefix && n > lastCounter, `journaled share ${id} without share_accepted is not from run 1's last turn (last logged counter ${lastCounter})`);
    }
  }
  if (resultUnlogged.size > 0) {
    // Settled in the journal without a result line: only the last settle records in the file,
    // after the settle record of every result that was logged.
    const lastPublished = journal.settled.reduce((last, id, i) => (withResult.has(id) ? i : last), -1);
    journal.settled.forEach((id, i) => {
      if (resultUnlogged.has(id)) assert.ok(i > lastPublished, `share ${id} settled without a result line, but later settles were published: not the last turn`);
    });
    // And the log must have taken each such share in: a result never precedes its acceptance.
    for (const id of resultUnlogged) assert.ok(loggedSet.has(id), `share ${id} settled without a share_accepted line`);
  }
  return { unlogged, resultUnlogged };
}
