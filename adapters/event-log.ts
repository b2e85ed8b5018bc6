// Structured events as JSON lines (SPEC §11, docs/events.md): one stamped event per line, to
// standard output (`gateway.event_log_path = "-"`) or appended to a file with size rotation
// (`event_log_max_bytes`, `event_log_max_files`).
//
// Lines are buffered and written once per turn of the event loop (a pump pass emits many events
// synchronously; one write per pass instead of one per event). The buffer is bounded
// (`bufferBytesMax`): past it lines are dropped and counted, never blocking the gateway.
//
// Never throws: write, rotation and close failures are counted (`stats.errors`, first message
// kept) and the log carries on (a failed rotation keeps appending to the current file).
//
// Rotation: before a write would take the file past `maxBytes` (0 = never rotate), `events.jsonl`
// becomes `events.jsonl.1`, `.1` becomes `.2`, … and the oldest beyond `maxFiles` is removed.
// A single write larger than `maxBytes` still goes out whole (a line is never split).
import { closeSync, existsSync, fstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/** An event as it leaves the process: any JSON-able object (StampedEvent from the pump). */
export type LoggableEvent = { readonly type: string } & Readonly<Record<string, unknown>>;

export interface EventLogOptions {
  /** gateway.event_log_path: a file path, or "-" for standard output. */
  readonly path: string;
  /** gateway.event_log_max_bytes (0 = never rotate). */
  readonly maxBytes: number;
  /** gateway.event_log_max_files: rotated files kept. */
  readonly maxFiles: number;
  /** Writer for "-" (CliIo.stdout); default: synchronous writes to file descriptor 1. */
  readonly stdout?: (text: string) => void;
  /** Unwritten bytes held at most; default 8 MiB. */
  readonly bufferBytesMax?: number;
  /**
   * Runs before buffered lines are written. The gateway stack passes the share journal's flush,
   * so a share_accepted line never reaches the log before the share reaches the journal, whatever
   * order the two were queued in (docs/share-forwarding.md, "Durability"). Must not throw; if it
   * does, the lines are still written and the error is counted.
   */
  readonly beforeFlush?: () => void;
}

export interface EventLogStats {
  readonly linesWritten: number;
  readonly linesDropped: number;
  readonly bytesWritten: number;
  readonly rotations: number;
  readonly errors: number;
  readonly firstError: string | undefined;
}

export interface EventLog {
  /** Queue one event (serialized now). Never throws. */
  write(event: LoggableEvent): void;
  /** Write out what is buffered. Never throws. */
  flush(): void;
  /** Flush and close the file. Later writes are dropped and counted. Never throws. */
  close(): void;
  readonly stats: EventLogStats;
}

const BUFFER_BYTES_MAX_DEFAULT = 8 * 1024 * 1024;
const encoder = new TextEncoder();

/** JSON for one event; bigints (should there be any) become decimal strings. */
export function eventLine(event: LoggableEvent): string {
  try {
    return JSON.stringify(event) + '\n';
  } catch {
    return JSON.stringify(event, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)) + '\n';
  }
}

export function createEventLog(options: EventLogOptions): EventLog {
  if (options === null || typeof options !== 'object') throw new TypeError(`createEventLog: options must be an object, got ${String(options)}`);
  if (typeof options.path !== 'string' || options.path.length === 0) throw new TypeError(`createEventLog: path must be a non-empty string, got ${JSON.stringify(options.path)}`);
  if (!(Number.isSafeInteger(options.maxBytes) && options.maxBytes >= 0)) throw new RangeError(`createEventLog: maxBytes must be an integer >= 0, got ${options.maxBytes}`);
  if (!(Number.isInteger(options.maxFiles) && options.maxFiles >= 1)) throw new RangeError(`createEventLog: maxFiles must be an integer >= 1, got ${options.maxFiles}`);
  const bufferBytesMax = options.bufferBytesMax ?? BUFFER_BYTES_MAX_DEFAULT;
  if (!(Number.isSafeInteger(bufferBytesMax) && bufferBytesMax > 0)) throw new RangeError(`createEventLog: bufferBytesMax must be a positive integer, got ${bufferBytesMax}`);
  return new _EventLog(options, bufferBytesMax);
}

class _EventLog implements EventLog {
  readonly #path: string;
  readonly #toStdout: boolean;
  readonly #stdout: (text: string) => void;
  readonly #maxBytes: number;
  readonly #maxFiles: number;
  readonly #bufferBytesMax: number;
  readonly #beforeFlush: (() => void) | undefined;
  #lines: string[] = [];
  #bufferedChars = 0;
  #flushScheduled = false;
  #fd: number | undefined;
  #fileBytes = 0;
  #closed = false;
  #linesWritten = 0;
  #linesDropped = 0;
  #bytesWritten = 0;
  #rotations = 0;
  #errors = 0;
  #firstError: string | undefined;

  constructor(options: EventLogOptions, bufferBytesMax: number) {
    this.#path = options.path;
    this.#toStdout = options.path === '-';
    this.#stdout = options.stdout ?? _writeFd1;
    this.#maxBytes = options.maxBytes;
    this.#maxFiles = options.maxFiles;
    this.#bufferBytesMax = bufferBytesMax;
    this.#beforeFlush = options.beforeFlush;
  }

  get stats(): EventLogStats {
    return {
      linesWritten: this.#linesWritten,
      linesDropped: this.#linesDropped,
      bytesWritten: this.#bytesWritten,
      rotations: this.#rotations,
      errors: this.#errors,
      firstError: this.#firstError,
    };
  }

  write(event: LoggableEvent): void {
    if (this.#closed) {
      this.#linesDropped += 1;
      return;
    }
    let line: string;
    try {
      line = eventLine(event);
    } catch (error) {
      this.#fail('serialize', error);
      this.#linesDropped += 1;
      return;
    }
    // Characters, not bytes: a cheap bound (a char is 1..3 UTF-8 bytes for our content).
    if (this.#bufferedChars + line.length > this.#bufferBytesMax) {
      this.#linesDropped += 1;
      return;
    }
    this.#lines.push(line);
    this.#bufferedChars += line.length;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  flush(): void {
    this.#flushScheduled = false;
    if (this.#lines.length === 0) return;
    if (this.#beforeFlush !== undefined) {
      try {
        this.#beforeFlush();
      } catch (error) {
        this.#fail('beforeFlush', error);
      }
    }
    const lines = this.#lines;
    this.#lines = [];
    this.#bufferedChars = 0;
    const text = lines.join('');
    try {
      if (this.#toStdout) {
        this.#stdout(text);
        this.#bytesWritten += text.length;
      } else {
        this.#writeFile(encoder.encode(text));
      }
      this.#linesWritten += lines.length;
    } catch (error) {
      this.#fail('write', error);
      this.#linesDropped += lines.length;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    if (this.#fd !== undefined) {
      try {
        closeSync(this.#fd);
      } catch (error) {
        this.#fail('close', error);
      }
      this.#fd = undefined;
    }
  }

  #writeFile(bytes: Uint8Array): void {
    if (this.#fd === undefined) this.#open();
    if (this.#maxBytes > 0 && this.#fileBytes > 0 && this.#fileBytes + bytes.length > this.#maxBytes) this.#rotate();
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(this.#fd!, bytes, offset, bytes.length - offset);
    this.#fileBytes += bytes.length;
    this.#bytesWritten += bytes.length;
  }

  #open(): void {
    this.#fd = openSync(this.#path, 'a');
    this.#fileBytes = fstatSync(this.#fd).size;
  }

  #rotate(): void {
    try {
      closeSync(this.#fd!);
    } catch (error) {
      this.#fail('rotate', error);
    }
    this.#fd = undefined;
    try {
      const oldest = `${this.#path}.${this.#maxFiles}`;
      if (existsSync(oldest)) rmSync(oldest, { force: true });
      for (let i = this.#maxFiles - 1; i >= 1; i--) {
        const from = `${this.#path}.${i}`;
        if (existsSync(from)) renameSync(from, `${this.#path}.${i + 1}`);
      }
      renameSync(this.#path, `${this.#path}.1`);
      this.#rotations += 1;
    } catch (error) {
      // Keep appending to the current file rather than losing events.
      this.#fail('rotate', error);
    }
    this.#open();
  }

  #fail(what: string, error: unknown): void {
    this.#errors += 1;
    this.#firstError ??= `${what}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function _writeFd1(text: string): void {
  const bytes = encoder.encode(text);
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(1, bytes, offset, bytes.length - offset);
}
