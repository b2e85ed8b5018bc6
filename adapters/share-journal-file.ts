// The share-forwarding journal on disk (SPEC §8 durability; core/forwarding/types.ts
// ShareJournal). One append-only JSON-lines file under gateway.data_dir:
//
//   {"a":{…share…}}            accepted: the share as it will be forwarded
//   {"s":"<share_id>","r":"ok"} settled: its final status
//
// At start-up the file is read (a torn or unparseable line is skipped and counted), the shares
// accepted and never settled become `recovered`, and the file is compacted to just those.
// While running, records are buffered in memory and:
//   - flush()  writes the buffer with one write(2)      → survives kill -9 (the page cache outlives the process)
//   - commit() flush + fdatasync(2)                     → survives power loss / kernel crash
// The forwarder commits before it posts (so every share the backend may hold is on disk); the
// driver (adapters/share-forwarding.ts) flushes after every accept and before publishing result
// events. docs/share-forwarding.md "Durability" states the guarantees honestly.
//
// Bounded size: when the file passes max(compactBytesMin, 2 × live bytes) it is rewritten with
// only the unsettled records (write temp, fsync, rename, fsync directory), so its size stays
// below max(compactBytesMin, 2 × live) + one flush; live records are bounded by the forwarder's
// queue size. node:fs is implemented by Node, Deno and Bun alike.
import { closeSync, existsSync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ForwardStatus, ShareJournal, ShareRecord } from '../core/forwarding/types.ts';

export const JOURNAL_FILE_NAME = 'share-journal.jsonl';
export const COMPACT_BYTES_MIN_DEFAULT = 4 * 1024 * 1024;

export interface FileShareJournalOptions {
  /** gateway.data_dir (created if missing). */
  readonly dir: string;
  readonly fileName?: string;
  /** Never compact below this size. Default 4 MiB. */
  readonly compactBytesMin?: number;
}

export interface FileShareJournalStats {
  readonly path: string;
  readonly fileBytes: number;
  readonly liveShares: number;
  readonly recovered: number;
  /** Lines at start-up that could not be parsed (a torn tail after power loss). */
  readonly corruptLines: number;
  readonly flushes: number;
  readonly commits: number;
  readonly compactions: number;
}

export interface FileShareJournal extends ShareJournal {
  readonly path: string;
  /** Unsettled shares found at open, in accept order: give them to the forwarder as `recovered`. */
  readonly recovered: readonly ShareRecord[];
  /** Write buffered records to the OS (kill -9 safe). */
  flush(): void;
  /** Flush and fsync, then close. Later records are dropped. */
  close(): void;
  readonly stats: FileShareJournalStats;
}

export function openShareJournalFile(options: FileShareJournalOptions): FileShareJournal {
  if (options === null || typeof options !== 'object' || typeof options.dir !== 'string' || options.dir === '') {
    throw new TypeError(`openShareJournalFile: options.dir must be a directory path, got ${JSON.stringify(options?.dir)}`);
  }
  const compactBytesMin = options.compactBytesMin ?? COMPACT_BYTES_MIN_DEFAULT;
  mkdirSync(options.dir, { recursive: true });
  const path = join(options.dir, options.fileName ?? JOURNAL_FILE_NAME);

  // Read what the previous run left. Map order = accept order, so recovery keeps it.
  const live = new Map<string, string>();
  let liveBytes = 0;
  let corruptLines = 0;
  if (existsSync(path)) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line === '') continue;
      let record: { a?: ShareRecord; s?: string } | undefined;
      try {
        record = JSON.parse(line) as { a?: ShareRecord; s?: string };
      } catch {
        corruptLines++;
        continue;
      }
      if (record?.a !== undefined && typeof record.a.share_id === 'string') {
        const text = line + '\n';
        if (!live.has(record.a.share_id)) {
          live.set(record.a.share_id, text);
          liveBytes += text.length;
        }
      } else if (typeof record?.s === 'string') {
        const text = live.get(record.s);
        if (text !== undefined) {
          live.delete(record.s);
          liveBytes -= text.length;
        }
      } else {
        corruptLines++;
      }
    }
  }
  const recovered = [...live.values()].map((text) => (JSON.parse(text) as { a: ShareRecord }).a);

  let fd = -1;
  let fileBytes = 0;
  let buffer = '';
  let closed = false;
  let flushes = 0;
  let commits = 0;
  let compactions = 0;

  const syncDir = (): void => {
    // Makes the rename itself durable. Opening a directory is not possible everywhere (Windows,
    // some runtimes); then the rename is as durable as the file system makes it by itself.
    try {
      const dirFd = openSync(options.dir, 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch {
      // best effort (see above)
    }
  };

  const compact = (): void => {
    const tmp = `${path}.tmp`;
    const tmpFd = openSync(tmp, 'w');
    try {
      const text = [...live.values()].join('');
      if (text.length > 0) writeSync(tmpFd, text);
      fsyncSync(tmpFd);
    } finally {
      closeSync(tmpFd);
    }
    renameSync(tmp, path);
    syncDir();
    if (fd >= 0) closeSync(fd);
    fd = openSync(path, 'a');
    fileBytes = liveBytes;
    compactions++;
  };

  compact();
  compactions = 0; // the start-up rewrite is not a compaction in the running sense

  const flush = (): void => {
    if (buffer === '' || closed) return;
    const text = buffer;
    buffer = '';
    writeSync(fd, text);
    fileBytes += text.length;
    flushes++;
    if (fileBytes > Math.max(compactBytesMin, 2 * liveBytes)) compact();
  };

  return {
    path,
    recovered,
    accepted(share: ShareRecord, json?: string): void {
      if (closed) return;
      const text = `{"a":${json ?? JSON.stringify(share)}}\n`;
      // A share id appears at most once in `live` (the forwarder refuses duplicates).
      live.set(share.share_id, text);
      liveBytes += text.length;
      buffer += text;
    },
    settled(shareId: string, status: ForwardStatus): void {
      if (closed) return;
      const text = live.get(shareId);
      if (text === undefined) return; // never journaled (dropped at accept)
      live.delete(shareId);
      liveBytes -= text.length;
      buffer += `{"s":${JSON.stringify(shareId)},"r":"${status}"}\n`;
    },
    commit(): void {
      if (closed) return;
      flush();
      fdatasyncSync(fd);
      commits++;
    },
    flush,
    close(): void {
      if (closed) return;
      flush();
      fdatasyncSync(fd);
      closed = true;
      closeSync(fd);
    },
    get stats(): FileShareJournalStats {
      return { path, fileBytes, liveShares: live.size, recovered: recovered.length, corruptLines, flushes, commits, compactions };
    },
  };
}
