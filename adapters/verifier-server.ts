// `reservegrid verifier`'s TCP side (SPEC §7, docs/verifier-protocol.md): accept connections,
// feed bytes to core's VerifierServerSession, judge each request with the evaluator (normally
// PolicyEngine.evaluate) and write the verdicts back. Requests of one connection are judged in
// arrival order; an async evaluator (tests use one to play a slow verifier) may answer out of
// order, which the protocol allows (the client matches by request id).
import { VerifierServerSession } from '../core/policy/verifier-protocol.ts';
import type { Verdict, VerdictRequest } from '../core/policy/types.ts';
import { listenTcp, type TcpAddress, type TcpListener, type TcpSocket } from './net/index.ts';

export type VerdictEvaluator = (request: VerdictRequest) => Verdict | Promise<Verdict>;

export interface VerifierServerOptions {
  readonly address: TcpAddress;
  readonly evaluate: VerdictEvaluator;
  /** One line per connection open/close and per verdict, for the command's log. */
  readonly onLog?: (line: string) => void;
}

export interface VerifierServerStats {
  readonly connections: number;
  readonly open: number;
  readonly verdicts: number;
  readonly errors: number;
}

export interface VerifierServer {
  readonly port: number;
  readonly stats: VerifierServerStats;
  /** Stop listening and close every connection (in-flight requests are dropped; clients see
   * `verifier_unavailable`). */
  close(): Promise<void>;
}

export async function startVerifierServer(options: VerifierServerOptions): Promise<VerifierServer> {
  const sockets = new Set<TcpSocket>();
  let connections = 0;
  let verdicts = 0;
  let errors = 0;
  const log = options.onLog ?? (() => {});

  const onConnection = (socket: TcpSocket): void => {
    connections++;
    sockets.add(socket);
    const session = new VerifierServerSession();
    const flush = (): void => {
      for (let b = session.pollTransmit(); b !== null; b = session.pollTransmit()) socket.write(b);
      if (session.closed) socket.close();
    };
    log(`connection from ${socket.remoteAddress}`);
    socket.onClose((info) => {
      sockets.delete(socket);
      log(`connection from ${socket.remoteAddress} closed${info.error ? `: ${info.error.message}` : ''}`);
    });
    socket.onData((bytes) => {
      session.receive(bytes);
      for (let r = session.pollRequest(); r !== null; r = session.pollRequest()) {
        const { requestId, request } = r;
        const templateId = request.template.templateId;
        let result: Verdict | Promise<Verdict>;
        try {
          result = options.evaluate(request);
        } catch (error) {
          errors++;
          session.respondError(requestId, `evaluation failed: ${error instanceof Error ? error.message : String(error)}`);
          continue;
        }
        if (result instanceof Promise) {
          result.then(
            (verdict) => {
              verdicts++;
              session.respond(requestId, templateId, verdict);
              if (!socket.closed) flush();
            },
            (error: unknown) => {
              errors++;
              session.respondError(requestId, `evaluation failed: ${error instanceof Error ? error.message : String(error)}`);
              if (!socket.closed) flush();
            },
          );
        } else {
          verdicts++;
          session.respond(requestId, templateId, result);
        }
      }
      flush();
    });
  };

  const listener: TcpListener = await listenTcp(options.address, onConnection);
  return {
    port: listener.port,
    get stats(): VerifierServerStats {
      return { connections, open: sockets.size, verdicts, errors };
    },
    async close() {
      await listener.close();
      for (const s of sockets) s.abort();
      sockets.clear();
    },
  };
}
