// A small server-sent events reader for tests, written from the HTML spec's event-stream
// grammar (https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream):
// lines `field: value`, a blank line dispatches, lines starting with `:` are comments.

export interface SseMessage {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly data: string;
}

export interface SseReader {
  /** The next dispatched message (comments skipped); rejects after `timeoutMs` or at the end. */
  nextMessage(timeoutMs: number): Promise<SseMessage>;
  /** True once a comment matching `pattern` arrived (waits up to `timeoutMs`). */
  waitComment(pattern: RegExp, timeoutMs: number): Promise<boolean>;
  /** True once the stream ended (waits up to `timeoutMs`). */
  waitEnd(timeoutMs: number): Promise<boolean>;
  cancel(): Promise<void>;
}

export function readSse(body: ReadableStream<Uint8Array>): SseReader {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  // Streaming decode (multi-byte characters split across chunks); the cast papers over a
  // TextDecoder typing that omits the options argument in this project's type setup.
  const decode = decoder.decode.bind(decoder) as (input: Uint8Array, options: { stream: boolean }) => string;
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  let ended = false;
  let buffer = '';
  let fields: { id?: string; event?: string; data: string[] } = { data: [] };
  let wake: (() => void) | undefined;
  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decode(value, { stream: true });
        let nl: number;
        while ((nl = buffer.search(/\r\n|\n|\r/)) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + (buffer.slice(nl, nl + 2) === '\r\n' ? 2 : 1));
          if (line === '') {
            if (fields.data.length > 0 || fields.event !== undefined) messages.push({ id: fields.id, event: fields.event, data: fields.data.join('\n') });
            fields = { data: [] };
          } else if (line.startsWith(':')) {
            comments.push(line.slice(1).trim());
          } else {
            const colon = line.indexOf(':');
            const name = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (name === 'data') fields.data.push(value);
            else if (name === 'id') fields.id = value;
            else if (name === 'event') fields.event = value;
          }
        }
        poke();
      }
    } catch {
      // cancelled or reset: the stream ended
    }
    ended = true;
    poke();
  })();
  const waitFor = async <T>(take: () => T | undefined, timeoutMs: number): Promise<T | undefined> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      const left = until - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  return {
    async nextMessage(timeoutMs) {
      const m = await waitFor(() => messages.shift() ?? (ended ? null : undefined), timeoutMs);
      if (m === undefined || m === null) throw new Error(m === null ? 'stream ended' : `no SSE message within ${timeoutMs} ms`);
      return m;
    },
    async waitComment(pattern, timeoutMs) {
      return (await waitFor(() => (comments.some((c) => pattern.test(c)) ? true : undefined), timeoutMs)) === true;
    },
    async waitEnd(timeoutMs) {
      return (await waitFor(() => (ended ? true : undefined), timeoutMs)) === true;
    },
    async cancel() {
      await reader.cancel().catch(() => {});
    },
  };
}
