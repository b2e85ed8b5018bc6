// Our Template Distribution client (initiator), sans-IO (STYLE.md #1): what an SV2 pool or JD
// client does towards a Template Provider (SV2.md §6; pool_sv2 0.7.0 `template_receiver/sv2_tp`):
// Noise NX, SetupConnection{protocol 2, versions 2..2, flags 0}, then CoinbaseOutputConstraints
// at once, then it listens. It keeps the templates it was sent, so a test or the load generator
// can pair each SetNewPrevHash with its future template, ask for transaction data and submit
// solutions. Used by tests and benchmarks of the Template Provider, never by the gateway.
//
//   receive(bytes, nowMs) / pollTransmit() / pollEvent() / nextDeadlineMs() / onTimeout(nowMs)
//   setConstraints(c) / requestTransactionData(id) / submitSolution(fields) / send(message)
//
// It checks what a real client would trip over and reports it as a `protocol_violation` event
// rather than hiding it: a SetNewPrevHash naming no future template it holds (fatal in pool_sv2),
// a non-future NewTemplate before any SetNewPrevHash, template ids that do not increase.
import { protocolError, type ProtocolError } from '../errors.ts';
import { decodeMessage, encodeMessage, type Sv2Message } from '../codec/index.ts';
import type { NewTemplate, SetNewPrevHashTdp } from '../codec/messages/template-distribution.ts';
import type { CryptoProvider } from '../crypto/provider.ts';
import type { Clock } from '../clock.ts';
import { NoiseInitiatorConnection, type CertificatePolicy } from '../noise/index.ts';
import type { RandomSource } from '../random.ts';

export interface TdpClientOptions {
  readonly provider: CryptoProvider;
  readonly random: RandomSource;
  readonly certificatePolicy: CertificatePolicy;
  readonly wallClock?: Pick<Clock, 'wallMs'>;
  /** Sent right after SetupConnection.Success; null = send nothing (tests of the ordering rules). */
  readonly constraints: { readonly additionalSizeBytes: number; readonly additionalSigops: number } | null;
  readonly vendor?: string;
  /** SetupConnection fields for negative tests. Defaults: protocol 2, versions 2..2, flags 0. */
  readonly setup?: { readonly protocol?: number; readonly minVersion?: number; readonly maxVersion?: number; readonly flags?: number };
  /** Templates kept (oldest dropped). Default 64. */
  readonly templatesMax?: number;
}

export type TdpClientEvent =
  | { readonly type: 'ready' }
  | { readonly type: 'setup_error'; readonly error_code: string }
  | { readonly type: 'message'; readonly message: Sv2Message }
  | { readonly type: 'protocol_violation'; readonly detail: string }
  | { readonly type: 'closed'; readonly error: ProtocolError };

export class TdpClient {
  readonly #noise: NoiseInitiatorConnection;
  readonly #options: TdpClientOptions;
  readonly #events: TdpClientEvent[] = [];
  readonly #templates = new Map<bigint, NewTemplate>();
  #state: 'handshake' | 'expect_setup_answer' | 'ready' | 'closed' = 'handshake';
  #lastTemplateId = 0n;
  #prevHash: SetNewPrevHashTdp | null = null;
  /** The template a miner would work on now: the future one SetNewPrevHash activated, or a later non-future one. */
  #active: NewTemplate | null = null;

  constructor(options: TdpClientOptions, nowMs: number) {
    this.#options = options;
    this.#noise = new NoiseInitiatorConnection(
      { provider: options.provider, random: options.random, certificatePolicy: options.certificatePolicy, ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }) },
      nowMs,
    );
  }

  get state(): string {
    return this.#state;
  }

  /** The newest SetNewPrevHash received. */
  get prevHash(): SetNewPrevHashTdp | null {
    return this.#prevHash;
  }

  /** The template work is built from now. */
  get active(): NewTemplate | null {
    return this.#active;
  }

  template(id: bigint): NewTemplate | undefined {
    return this.#templates.get(id);
  }

  receive(bytes: Uint8Array, nowMs: number): void {
    if (this.#state === 'closed') return;
    this.#noise.receive(bytes, nowMs);
    this.#drain();
  }

  pollTransmit(): Uint8Array | undefined {
    return this.#noise.pollTransmit();
  }

  pollEvent(): TdpClientEvent | undefined {
    return this.#events.shift();
  }

  nextDeadlineMs(): number | undefined {
    return this.#noise.nextDeadlineMs();
  }

  onTimeout(nowMs: number): void {
    this.#noise.onTimeout(nowMs);
    this.#drain();
  }

  /** Send any message (tests send out-of-order or server-only ones on purpose). */
  send(message: Sv2Message): void {
    if (this.#state === 'closed') return;
    const sent = this.#noise.send(encodeMessage(message));
    if (!sent.ok) this.#close(sent.error);
  }

  /** Send a plaintext frame as is (header included): tests of malformed input only. */
  sendRawFrame(plaintextFrame: Uint8Array): void {
    if (this.#state === 'closed') return;
    const sent = this.#noise.send(plaintextFrame);
    if (!sent.ok) this.#close(sent.error);
  }

  setConstraints(additionalSizeBytes: number, additionalSigops: number): void {
    this.send({ type: 'CoinbaseOutputConstraints', coinbaseOutputMaxAdditionalSize: additionalSizeBytes, coinbaseOutputMaxAdditionalSigops: additionalSigops });
  }

  requestTransactionData(templateId: bigint): void {
    this.send({ type: 'RequestTransactionData', templateId });
  }

  submitSolution(fields: { readonly templateId: bigint; readonly version: number; readonly headerTimestamp: number; readonly headerNonce: number; readonly coinbaseTx: Uint8Array }): void {
    this.send({ type: 'SubmitSolution', ...fields });
  }

  close(): void {
    this.#close(protocolError('closed-locally', 'local', 'closed by the TDP client'));
  }

  #drain(): void {
    for (let e = this.#noise.pollEvent(); e !== undefined; e = this.#noise.pollEvent()) {
      if (this.#state === 'closed') continue;
      if (e.type === 'handshake-complete') {
        this.#state = 'expect_setup_answer';
        const s = this.#options.setup ?? {};
        this.send({
          type: 'SetupConnection',
          protocol: s.protocol ?? 2,
          minVersion: s.minVersion ?? 2,
          maxVersion: s.maxVersion ?? 2,
          flags: s.flags ?? 0,
          endpointHost: '127.0.0.1',
          endpointPort: 0,
          vendor: this.#options.vendor ?? 'reservegrid-tdp-client',
          hardwareVersion: '',
          firmware: '',
          deviceId: '',
        });
      } else if (e.type === 'closed') {
        this.#close(e.error);
      } else {
        const decoded = decodeMessage(e.frame);
        if (!decoded.ok) {
          this.#close(decoded.error);
          continue;
        }
        this.#onMessage(decoded.value);
      }
    }
  }

  #onMessage(m: Sv2Message): void {
    if (m.type === 'SetupConnectionSuccess' && this.#state === 'expect_setup_answer') {
      this.#state = 'ready';
      this.#events.push({ type: 'ready' }, { type: 'message', message: m });
      const c = this.#options.constraints;
      if (c !== null) this.setConstraints(c.additionalSizeBytes, c.additionalSigops);
      return;
    }
    if (m.type === 'SetupConnectionError') {
      this.#events.push({ type: 'setup_error', error_code: m.errorCode }, { type: 'message', message: m });
      return;
    }
    if (m.type === 'NewTemplate') {
      if (m.templateId <= this.#lastTemplateId) this.#violation(`template id ${m.templateId} after ${this.#lastTemplateId}: ids must strictly increase`);
      this.#lastTemplateId = m.templateId;
      if (!m.futureTemplate && this.#prevHash === null) this.#violation('non-future NewTemplate before any SetNewPrevHash (pool_sv2: no active job)');
      this.#templates.set(m.templateId, m);
      const max = this.#options.templatesMax ?? 64;
      while (this.#templates.size > max) this.#templates.delete(this.#templates.keys().next().value as bigint);
      if (!m.futureTemplate) this.#active = m;
    } else if (m.type === 'SetNewPrevHashTdp') {
      const t = this.#templates.get(m.templateId);
      if (t === undefined || !t.futureTemplate) this.#violation(`SetNewPrevHash names template ${m.templateId}, which is no future template we hold (fatal in pool_sv2)`);
      this.#prevHash = m;
      this.#active = t ?? null;
    }
    this.#events.push({ type: 'message', message: m });
  }

  #violation(detail: string): void {
    this.#events.push({ type: 'protocol_violation', detail });
  }

  #close(error: ProtocolError): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#noise.close(error);
    this.#events.push({ type: 'closed', error });
  }
}
