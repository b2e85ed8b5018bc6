// A bounded ring of recent events with ids (SPEC §11, docs/http-api.md): the memory behind
// `/events/history` and `/events` resume with `Last-Event-ID`.
//
// Ids are assigned here, 1, 2, 3, … in push order, and never reused while the process runs;
// they are the SSE `id:` field. (The gateway pump's `seq` numbers only its own events; the
// forwarder's events arrive from another pump, so the buffer numbers the merged stream.)
//
// Bounded (STYLE.md #8): `capacity` events (gateway.event_buffer_size); pushing into a full ring
// overwrites the oldest, counted in `evicted`. A resume from an id older than the oldest kept
// reports the gap (`missed`) so the client knows it lost events and can read the event log.
//
// Subscribers (live SSE streams) are called synchronously on push, in subscription order, so
// `since(id)` followed by `subscribe` in the same turn misses nothing and repeats nothing. A
// subscriber that throws is removed (a broken stream must not stop the others).

export type BufferableEvent = { readonly type: string };

export interface BufferedEvent<E extends BufferableEvent = BufferableEvent> {
  readonly id: number;
  readonly event: E;
}

export interface EventQuery {
  /** Only events with id > afterId (default 0: from the oldest kept). */
  readonly afterId?: number;
  /** Only these types (undefined or empty = all). */
  readonly types?: ReadonlySet<string> | readonly string[];
  /** At most this many (default: all that match). Returned oldest first either way. */
  readonly limit?: number;
  /** With a limit: keep the NEWEST `limit` matches instead of the oldest (history tail). */
  readonly newest?: boolean;
}

export interface EventQueryResult<E extends BufferableEvent> {
  readonly events: BufferedEvent<E>[];
  /** Events after `afterId` that were evicted before this query (0 = nothing lost). */
  readonly missed: number;
  /** The newest id pushed so far (0 = none). */
  readonly lastId: number;
}

export class EventBuffer<E extends BufferableEvent = BufferableEvent> {
  readonly capacity: number;
  readonly #ring: (BufferedEvent<E> | undefined)[];
  /** Next id to assign; the newest kept is #nextId - 1. */
  #nextId = 1;
  #evicted = 0;
  readonly #subscribers = new Set<(entry: BufferedEvent<E>) => void>();

  constructor(capacity: number) {
    if (!(Number.isSafeInteger(capacity) && capacity >= 1)) throw new RangeError(`EventBuffer: capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.#ring = new Array<BufferedEvent<E> | undefined>(capacity);
  }

  /** Store one event, hand it to every subscriber, return its id. */
  push(event: E): number {
    if (event === null || typeof event !== 'object' || typeof event.type !== 'string') throw new TypeError(`EventBuffer.push: event must be an object with a string type, got ${String(event)}`);
    const id = this.#nextId++;
    const slot = id % this.capacity;
    if (this.#ring[slot] !== undefined) this.#evicted++;
    const entry: BufferedEvent<E> = { id, event };
    this.#ring[slot] = entry;
    for (const subscriber of [...this.#subscribers]) {
      try {
        subscriber(entry);
      } catch {
        this.#subscribers.delete(subscriber);
      }
    }
    return id;
  }

  /** The newest id pushed (0 = none). */
  get lastId(): number {
    return this.#nextId - 1;
  }

  /** The oldest id still kept (lastId + 1 when empty). */
  get firstId(): number {
    return Math.max(1, this.#nextId - this.capacity);
  }

  get size(): number {
    return this.#nextId - this.firstId;
  }

  /** Events overwritten so far. */
  get evicted(): number {
    return this.#evicted;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /** Kept events after `afterId`, filtered and limited, oldest first. */
  query(query: EventQuery = {}): EventQueryResult<E> {
    const afterId = query.afterId ?? 0;
    if (!(Number.isSafeInteger(afterId) && afterId >= 0)) throw new RangeError(`EventBuffer.query: afterId must be an integer >= 0, got ${afterId}`);
    const limit = query.limit ?? Number.MAX_SAFE_INTEGER;
    if (!(Number.isSafeInteger(limit) && limit >= 0)) throw new RangeError(`EventBuffer.query: limit must be an integer >= 0, got ${limit}`);
    const types = query.types === undefined ? undefined : query.types instanceof Set ? query.types : new Set(query.types as readonly string[]);
    const filter = types === undefined || types.size === 0 ? undefined : types;
    const first = this.firstId;
    // An id from the future (another process, a restart) is a client error we answer with
    // nothing rather than everything.
    const start = Math.max(afterId + 1, first);
    const missed = afterId + 1 < first ? first - (afterId + 1) : 0;
    const events: BufferedEvent<E>[] = [];
    if (query.newest === true) {
      for (let id = this.#nextId - 1; id >= start && events.length < limit; id--) {
        const entry = this.#ring[id % this.capacity]!;
        if (filter === undefined || filter.has(entry.event.type)) events.push(entry);
      }
      events.reverse();
    } else {
      for (let id = start; id < this.#nextId && events.length < limit; id++) {
        const entry = this.#ring[id % this.capacity]!;
        if (filter === undefined || filter.has(entry.event.type)) events.push(entry);
      }
    }
    return { events, missed, lastId: this.lastId };
  }

  /** Call `listener` with every event pushed from now on. Returns the unsubscribe function. */
  subscribe(listener: (entry: BufferedEvent<E>) => void): () => void {
    if (typeof listener !== 'function') throw new TypeError(`EventBuffer.subscribe: listener must be a function, got ${typeof listener}`);
    this.#subscribers.add(listener);
    return () => void this.#subscribers.delete(listener);
  }
}
