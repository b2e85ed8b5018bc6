// Executes the forwarder's `post` commands and classifies what happened into a PostOutcome
// (core/forwarding/types.ts). Never throws, never rejects: every failure is an outcome the
// forwarder turns into a retry (new attempt, new timestamp, new signature) or a final status.
//
// At most once per signature, on every runtime (issue 12 defect 1, docs/share-forwarding.md
// "Signature"): each command is written exactly once, on a fresh connection of our own TCP
// adapter (adapters/net: node:net/node:tls, Deno.connect/connectTls, Bun.connect), as one
// HTTP/1.1 request with `Connection: close` (core/forwarding/http1.ts). No client library
// stands between us and the socket, so nothing re-sends on our behalf: Deno's fetch and its
// node:http both re-sent the identical signed POST when a reused keep-alive connection closed
// without an answer (measured; core/forwarding/http1.ts header). The price is one TCP (and,
// for https, TLS) handshake per POST; a POST carries up to share_batch_max_shares shares, so
// on loopback this is noise next to signing and the backend's work (`npm run bench forwarding`).
//
// The timer is the command's timeoutMs: the forwarder's own deadline usually settles the
// attempt first (and ignores our late answer); the timer frees the socket.
import type { PostCommand, PostOutcome } from '../core/forwarding/types.ts';
import { encodeHttp1Post, http1BodyText, Http1ResponseReader, type Http1ReadResult } from '../core/forwarding/http1.ts';
import { connectTcp as defaultConnectTcp, connectTls as defaultConnectTls, type ConnectTcp, type ConnectTls, type TcpSocket, type TlsClientOptions } from './net/index.ts';

/** Answer bytes kept (the backend's per-share results and reason); the rest is cut off. */
export const ANSWER_CHARS_MAX = 64 * 1024;

export interface SharePosterOptions {
  /** share_upstream_url (http:// or https://). */
  readonly url: string;
  /** https only: certificate checks (default: the runtime's trust store, server name = URL host). */
  readonly tls?: TlsClientOptions;
  /** Default: the running runtime's adapters (adapters/net/index.ts). */
  readonly connectTcp?: ConnectTcp;
  readonly connectTls?: ConnectTls;
}

export interface SharePoster {
  post(command: PostCommand): Promise<PostOutcome>;
}

interface _Target {
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
  readonly authority: string;
  readonly path: string;
}

function _parseUrl(url: unknown): _Target {
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw new TypeError(`createSharePoster: url must be http(s), got ${JSON.stringify(url)}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`createSharePoster: url is not a URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.username !== '' || parsed.password !== '') throw new TypeError('createSharePoster: url must not carry credentials (the batch is signed instead)');
  const secure = parsed.protocol === 'https:';
  const port = parsed.port === '' ? (secure ? 443 : 80) : Number(parsed.port);
  // URL keeps an IPv6 literal's brackets in hostname; sockets want it bare, Host wants brackets.
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  return { secure, host, port, authority: parsed.host, path: `${parsed.pathname || '/'}${parsed.search}` };
}

export function createSharePoster(options: SharePosterOptions): SharePoster {
  const target = _parseUrl(options?.url);
  const connectTcp = options.connectTcp ?? defaultConnectTcp;
  const connectTls = options.connectTls ?? defaultConnectTls;
  const tls = options.tls ?? {};
  return {
    post(command) {
      return new Promise<PostOutcome>((resolve) => {
        let socket: TcpSocket | undefined;
        let finished = false;
        const finish = (outcome: PostOutcome): void => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          socket?.abort();
          resolve(outcome);
        };
        const timer = setTimeout(() => finish({ kind: 'timeout' }), command.timeoutMs);
        let request: Uint8Array;
        try {
          request = encodeHttp1Post({ authority: target.authority, target: target.path, headers: command.headers, body: command.body });
        } catch (error) {
          finish({ kind: 'transport_error', message: _describe(error) });
          return;
        }
        const address = { host: target.host, port: target.port };
        const connecting = target.secure ? connectTls(address, tls) : connectTcp(address);
        connecting.then(
          (connected) => {
            if (finished) {
              connected.abort();
              return;
            }
            socket = connected;
            const reader = new Http1ResponseReader(ANSWER_CHARS_MAX);
            const settle = (result: Http1ReadResult): void => {
              if (result.kind === 'response') finish({ kind: 'response', status: result.response.status, body: http1BodyText(result.response) });
              else if (result.kind === 'error') finish({ kind: 'transport_error', message: `answer: ${result.message}` });
            };
            connected.onData((bytes) => settle(reader.receive(bytes)));
            connected.onClose((info) => {
              const result = reader.end();
              if (result.kind === 'error' && info.error !== undefined) finish({ kind: 'transport_error', message: `${result.message} (${_describe(info.error)})` });
              else settle(result);
            });
            // The one write of this signature (header): never repeated, on this socket or another.
            connected.write(request);
          },
          (error: unknown) => finish({ kind: 'transport_error', message: `connect ${target.host}:${target.port}: ${_describe(error)}` }),
        );
      });
    },
  };
}

function _describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
}
