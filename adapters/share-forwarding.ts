// The one pump between the sans-IO ShareForwarder (core/forwarding/forwarder.ts), the HTTP
// poster (share-poster.ts), the journal (share-journal-file.ts) and the clock. A gateway stack
// calls `attachShareForwarding(...)` once and feeds it its event stream:
//
//   const forwarding = attachShareForwarding({ config, clock, random, provider, onEvent: log });
//   onEvent: (event) => { forwarding.handleEvent(event); eventLog.write(event); … }
//   stop:    await forwarding.stop();   // drain up to timing.shutdown_drain_timeout_ms
//
// Ordering that keeps "exactly one share_forward_result per share_accepted" across kill -9:
//  - `accept` journals the share in memory and queues ONE microtask that writes the journal to
//    the OS (one write(2) per turn instead of per share). The gateway stack also calls `flush()`
//    from the pump's `beforeTransmit`, after a pass's events and before its bytes, so a
//    share's SubmitShares.Success never leaves before its record (gateway-server.ts header).
//    Feed the forwarder BEFORE the share_accepted event is published, and publish it no earlier
//    than a later microtask (event-log.ts buffers lines and writes them in a microtask queued
//    after ours, and its beforeFlush calls `flush()` too), or call `flush()` before a
//    synchronous publication (test/support/share-crash-harness.ts does);
//  - each pass writes the journal before handing result events to `onEvent`, so a published
//    result is never re-sent after a restart.
import type { Clock, TimerId } from '../core/clock.ts';
import type { CryptoProvider } from '../core/crypto/provider.ts';
import { bytesToHex } from '../core/bytes.ts';
import { ShareForwarder, forwarderOptionsFromConfig, shareRecordFromEvent, type AcceptResult, type ShareForwardingConfig } from '../core/forwarding/forwarder.ts';
import type { PostOutcome, ShareForwardEvent, ShareForwarderMetrics, ShareRecord } from '../core/forwarding/types.ts';
import type { RandomSource } from '../core/random.ts';
import { selectCryptoProvider } from './crypto-native.ts';
import { openShareJournalFile, type FileShareJournal } from './share-journal-file.ts';
import { createSharePoster, type SharePoster } from './share-poster.ts';

export interface ShareForwardingOptions {
  /** A whole Config, or just the keys forwarding reads. */
  readonly config: ShareForwardingConfig;
  readonly clock: Clock;
  /** Draws this run's boot id (batch ids never repeat across runs). */
  readonly random: RandomSource;
  /** Default: selectCryptoProvider('auto'). */
  readonly provider?: CryptoProvider;
  /** Every forwarding event (share_forward_result, share_forward_retry), in order. Must not throw. */
  readonly onEvent?: (event: ShareForwardEvent) => void;
  /** 'file' (default): gateway.data_dir/share-journal.jsonl. 'memory': no durability (tests, benchmarks). */
  readonly journal?: 'file' | 'memory';
  /** Default: fetch to share.share_upstream_url. */
  readonly poster?: SharePoster;
  readonly attemptsMax?: number;
}

export interface ShareForwarding {
  /** Feed a gateway event; only `share_accepted` is taken. */
  handleEvent(event: { readonly type: string } & Readonly<Record<string, unknown>>): void;
  /** Take one share; its journal record reaches the OS in a microtask, or at `flush()`. */
  accept(share: ShareRecord): AcceptResult;
  /** Write the journal's buffered records to the OS now (kill -9 safe afterwards). */
  flush(): void;
  readonly forwarder: ShareForwarder;
  readonly metrics: ShareForwarderMetrics;
  /** Null with journal 'memory'. */
  readonly fileJournal: FileShareJournal | null;
  /** Shares recovered from the previous run's journal. */
  readonly recoveredCount: number;
  /** Graceful stop: drain up to `drainMs` (default timing.shutdown_drain_timeout_ms), settle the rest, close the journal. */
  stop(drainMs?: number): Promise<void>;
}

export function attachShareForwarding(options: ShareForwardingOptions): ShareForwarding {
  if (options === null || typeof options !== 'object') throw new TypeError(`attachShareForwarding: options must be an object, got ${String(options)}`);
  const { config, clock } = options;
  const provider = options.provider ?? selectCryptoProvider('auto');
  const fileJournal = options.journal === 'memory' ? null : openShareJournalFile({ dir: config.gateway.data_dir });
  const poster = options.poster ?? createSharePoster({ url: config.share.share_upstream_url });
  const bootId = bytesToHex(options.random.fill(new Uint8Array(8)));
  const forwarder = new ShareForwarder(
    forwarderOptionsFromConfig(config, {
      bootId,
      provider,
      // 'memory' means no durability at all: no journal (nothing would ever read it back).
      ...(fileJournal === null ? {} : { journal: fileJournal, recovered: fileJournal.recovered }),
      ...(options.attemptsMax === undefined ? {} : { attemptsMax: options.attemptsMax }),
    }),
    clock.monotonicMs(),
  );
  const onEvent = options.onEvent;

  let timer: TimerId | undefined;
  let timerAtMs: number | undefined;
  let servicing = false;
  let again = false;
  let closed = false;
  let stopped: (() => void) | undefined;

  const post = (command: ReturnType<ShareForwarder['pollCommand']> & object): void => {
    // A custom poster that rejects is treated as a transport error rather than left unhandled.
    const outcome = poster.post(command).catch((error: unknown): PostOutcome => ({ kind: 'transport_error', message: error instanceof Error ? error.message : String(error) }));
    void outcome.then((result) => {
      if (closed) return;
      forwarder.postResult(command.request_id, result, clock.monotonicMs());
      service();
    });
  };

  const service = (): void => {
    if (closed) return;
    if (servicing) {
      again = true;
      return;
    }
    servicing = true;
    try {
      do {
        again = false;
        const nowMs = clock.monotonicMs();
        const due = forwarder.nextDeadlineMs();
        if (due !== undefined && due <= nowMs) forwarder.onTimeout(nowMs, clock.wallMs());
        for (let c = forwarder.pollCommand(); c !== undefined; c = forwarder.pollCommand()) post(c);
        // Journal before events (header): a published result must never be re-sent.
        fileJournal?.flush();
        deliver();
        const next = forwarder.nextDeadlineMs();
        if (next !== undefined && next <= clock.monotonicMs()) again = true;
      } while (again);
      _arm();
      if (forwarder.finished) _close();
    } finally {
      servicing = false;
    }
  };

  const _arm = (): void => {
    const next = forwarder.nextDeadlineMs();
    if (next === timerAtMs) return;
    if (timer !== undefined) clock.clearTimer(timer);
    timer = undefined;
    timerAtMs = next;
    if (next === undefined) return;
    timer = clock.setTimer(Math.max(0, next - clock.monotonicMs()), () => {
      timer = undefined;
      timerAtMs = undefined;
      service();
    });
  };

  const _close = (): void => {
    if (closed) return;
    closed = true;
    if (timer !== undefined) clock.clearTimer(timer);
    timer = undefined;
    fileJournal?.close();
    stopped?.();
  };

  const deliver = (): void => {
    for (let e = forwarder.pollEvent(); e !== undefined; e = forwarder.pollEvent()) {
      try {
        onEvent?.(e);
      } catch {
        // observer contract: must not throw; never let it break the pump
      }
    }
  };

  let flushQueued = false;
  const flushJournal = (): void => {
    flushQueued = false;
    if (!closed) fileJournal?.flush();
  };

  const accept = (share: ShareRecord): AcceptResult => {
    const result = forwarder.accept(share, clock.monotonicMs());
    if (closed) {
      // Stopped: the forwarder settled it as dropped_shutdown; publish that at once.
      deliver();
      return result;
    }
    if (fileJournal !== null && !flushQueued) {
      // One write(2) per turn, not per share: queued before anything the caller publishes
      // later in this turn (event-log.ts writes in a later microtask), see the header.
      flushQueued = true;
      queueMicrotask(flushJournal);
    }
    if (result !== 'queued') {
      service(); // a drop has its result event now
    } else {
      // A queued share only needs the timer; re-arm when it opened an earlier deadline.
      const next = forwarder.nextDeadlineMs();
      if (next !== undefined && (timerAtMs === undefined || next < timerAtMs)) service();
    }
    return result;
  };

  // Recovered shares are due at once.
  queueMicrotask(service);

  return {
    handleEvent(event) {
      if (event.type === 'share_accepted' && typeof event['share_id'] === 'string') {
        accept(shareRecordFromEvent(event as unknown as { share_id: string } & Record<string, unknown>));
      }
    },
    accept,
    flush: () => {
      if (!closed) fileJournal?.flush();
    },
    forwarder,
    get metrics() {
      return forwarder.metrics;
    },
    fileJournal,
    recoveredCount: fileJournal?.recovered.length ?? 0,
    stop(drainMs = config.timing.shutdown_drain_timeout_ms) {
      if (closed) return Promise.resolve();
      const done = new Promise<void>((resolve) => (stopped = resolve));
      forwarder.shutdown(clock.monotonicMs(), drainMs);
      service();
      return done;
    },
  };
}
