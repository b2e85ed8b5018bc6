// The world of the Template Provider conformance cases (conformance/cases/template-provider*.test.ts):
// the prevhash world (a Gateway on a FakeClock with a scripted verifier, conformance/prevhash-world.ts)
// with the Template Provider role on, and in-memory TDP clients (core/client/tdp-client.ts, our
// own initiator speaking Template Distribution). Templates are the synthetic, internally
// consistent ones of test/support/policy-fixtures.ts, with regtest bits (0x207fffff), so a
// solution is found in a handful of nonces and the block path runs for real.
import { assert } from '../test/assert.ts';
import { TdpClient, type TdpClientEvent } from '../core/client/tdp-client.ts';
import { nobleProvider } from '../core/crypto/provider.ts';
import type { Sv2Message } from '../core/codec/index.ts';
import type { TemplateProviderOptions } from '../core/gateway/index.ts';
import type { TdpEvent } from '../core/template-provider/events.ts';
import { PrevhashWorld, type WorldOptions } from './prevhash-world.ts';

export type Msg<T extends Sv2Message['type']> = Extract<Sv2Message, { type: T }>;

export const TDP_DEFAULTS: TemplateProviderOptions = {
  maxClients: 8,
  settings: { feeUpdateIntervalMs: 1000, minFeeDeltaSats: 1000n, retainedTemplates: 4, requestsPerSecondMax: 20 },
};

/** One in-memory TDP client plugged into the world's pump. */
export class TdpPeer {
  readonly noise: TdpClient;
  readonly connId: number;
  readonly inbox: Sv2Message[] = [];
  readonly violations: string[] = [];
  closedByServer = false;
  ready = false;
  setupError: string | null = null;
  /** SetupConnection.Success, taken out of the inbox by TdpWorld.tdp(). */
  setupSuccess: Msg<'SetupConnectionSuccess'> | null = null;

  constructor(
    readonly world: PrevhashWorld,
    options: { constraints?: { additionalSizeBytes: number; additionalSigops: number } | null; setup?: ConstructorParameters<typeof TdpClient>[0]['setup'] } = {},
  ) {
    const { clock, random, authority, gateway } = world;
    this.noise = new TdpClient(
      {
        provider: nobleProvider,
        random,
        certificatePolicy: { kind: 'pinned', authorityXOnly: authority.publicKeyXOnly },
        wallClock: clock,
        constraints: options.constraints === undefined ? { additionalSizeBytes: 100, additionalSigops: 4 } : options.constraints,
        ...(options.setup === undefined ? {} : { setup: options.setup }),
      },
      clock.monotonicMs(),
    );
    const id = gateway.acceptTdpConnection(clock.monotonicMs(), { wallMs: clock.wallMs(), remoteAddress: '127.0.0.1:6000' });
    assert.notEqual(id, null, 'TDP connection accepted');
    this.connId = id!;
    (world.miners as Map<number, unknown>).set(this.connId, this);
  }

  drain(): void {
    for (let e: TdpClientEvent | undefined = this.noise.pollEvent(); e !== undefined; e = this.noise.pollEvent()) {
      if (e.type === 'ready') this.ready = true;
      else if (e.type === 'setup_error') this.setupError = e.error_code;
      else if (e.type === 'protocol_violation') this.violations.push(e.detail);
      else if (e.type === 'message') this.inbox.push(e.message);
    }
  }

  types(): string[] {
    return this.inbox.map((m) => m.type);
  }

  take<T extends Sv2Message['type']>(type: T): Msg<T> {
    const i = this.inbox.findIndex((m) => m.type === type);
    assert.ok(i >= 0, `expected a ${type}, inbox has [${this.types().join(', ')}]`);
    return this.inbox.splice(i, 1)[0] as Msg<T>;
  }

  all<T extends Sv2Message['type']>(type: T): Msg<T>[] {
    return this.inbox.filter((m) => m.type === type) as Msg<T>[];
  }
}

export class TdpWorld extends PrevhashWorld {
  constructor(options: WorldOptions = {}) {
    super({ mode: 'observe', ...options, templateProvider: options.templateProvider ?? TDP_DEFAULTS });
  }

  /** A TDP client with the handshake and SetupConnection done (and its constraints sent). */
  tdp(options: ConstructorParameters<typeof TdpPeer>[1] = {}): TdpPeer {
    const peer = new TdpPeer(this, options);
    this.pump();
    const i = peer.inbox.findIndex((m) => m.type === 'SetupConnectionSuccess');
    if (i >= 0) peer.setupSuccess = peer.inbox.splice(i, 1)[0] as Msg<'SetupConnectionSuccess'>;
    return peer;
  }

  tdpEvents<T extends TdpEvent['type']>(type: T): Extract<TdpEvent, { type: T }>[] {
    return this.events.map((e) => e.event).filter((e) => e.type === type) as Extract<TdpEvent, { type: T }>[];
  }
}
