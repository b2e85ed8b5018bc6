// Executes the forwarder's `post` commands with fetch (Node ≥ 18, Deno and Bun all have it) and
// classifies what happened into a PostOutcome (core/forwarding/types.ts). Never throws, never
// rejects: every failure is an outcome the forwarder turns into a retry or a final status.
//
// The AbortController timer is the command's timeoutMs: the forwarder's own deadline usually
// settles the attempt first (and ignores our late answer); aborting frees the socket.
import type { PostCommand, PostOutcome } from '../core/forwarding/types.ts';

/** Answer text kept (the backend's reason); the rest is read and discarded. */
export const ANSWER_CHARS_MAX = 64 * 1024;

export interface SharePosterOptions {
  /** share_upstream_url. */
  readonly url: string;
  /** Default: globalThis.fetch. */
  readonly fetch?: typeof fetch;
}

export interface SharePoster {
  post(command: PostCommand): Promise<PostOutcome>;
}

export function createSharePoster(options: SharePosterOptions): SharePoster {
  const url = options.url;
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw new TypeError(`createSharePoster: url must be http(s), got ${JSON.stringify(url)}`);
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  return {
    async post(command) {
      const controller = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, command.timeoutMs);
      try {
        const response = await doFetch(url, { method: 'POST', headers: command.headers, body: _fetchBody(command.body), signal: controller.signal });
        const text = await response.text();
        return { kind: 'response', status: response.status, body: text.length > ANSWER_CHARS_MAX ? text.slice(0, ANSWER_CHARS_MAX) : text };
      } catch (error) {
        if (timedOut) return { kind: 'timeout' };
        return { kind: 'transport_error', message: _describe(error) };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** fetch's errors hide the cause (`TypeError: fetch failed`); name it when the runtime gives one. */
function _describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const causeText = cause instanceof Error ? `${(cause as { code?: string }).code ?? cause.name}: ${cause.message}` : undefined;
  return causeText !== undefined ? `${error.message} (${causeText})` : error.message;
}

/**
 * fetch's BodyInit takes only ArrayBuffer-backed views (TypeScript ≥ 5.7 lib.dom, which
 * `deno check` uses, rejects Uint8Array<ArrayBufferLike>). Our bodies are always ArrayBuffer-backed
 * (TextEncoder output), so this is a re-typed view, not a copy; a SharedArrayBuffer one is copied.
 */
function _fetchBody(body: Uint8Array): Uint8Array<ArrayBuffer> {
  return body.buffer instanceof ArrayBuffer ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength) : new Uint8Array(body);
}
