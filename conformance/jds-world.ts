// The world of the Job Declaration conformance cases (conformance/cases/job-declaration.test.ts):
// one JdsSession per client on a FakeClock, driven through real Noise NX (our initiator) in
// memory, with the real policy engine, token table, template cache and provided-transaction
// cache. Templates and transactions are the synthetic ones of test/support/policy-fixtures.ts
// (height 1000, regtest bits); declared coinbases are built HERE by plain concatenation and
// noble's SHA-256 (test/support/tdp-solution.ts), never by core/, so a shared bug cannot make
// both sides agree.
import { assert } from '../test/assert.ts';
import { concatBytes, hexToBytes } from '../core/bytes.ts';
import { FakeClock } from '../core/clock.ts';
import { decodeMessage, encodeMessage, type Sv2Message } from '../core/codec/index.ts';
import { nobleProvider, type CryptoProvider } from '../core/crypto/provider.ts';
import { Authenticator, type AuthOptions } from '../core/gateway/auth.ts';
import { NoiseInitiatorConnection, ResponderIdentity, generateAuthorityKeyPair } from '../core/noise/index.ts';
import { PolicyEngine, type PolicySettings } from '../core/policy/engine.ts';
import type { ChainView } from '../core/policy/types.ts';
import { doubleHashOf } from '../core/mining/hash.ts';
import { SeededRandom } from '../core/random.ts';
import { TemplateCache } from '../core/template-provider/template-cache.ts';
import type { BlockTemplate, TemplateTransaction } from '../core/template/template.ts';
import {
  DECLARE_TX_DATA,
  JdsSession,
  MiningJobTokens,
  NO_TRANSACTIONS,
  ProvidedTransactions,
  type DeclaredJob,
  type JdsBlock,
  type JdsEvent,
  type JdsSettings,
  type ProposalSettings,
  type ProposeBlockCommand,
  type TokenSettings,
} from '../core/job-declaration/index.ts';
import { CHAIN, makeSettings, POOL_SCRIPT } from '../test/support/policy-fixtures.ts';
import { dsha, le32, le64, merkleRootOf, varint } from '../test/support/tdp-solution.ts';

export type Msg<T extends Sv2Message['type']> = Extract<Sv2Message, { type: T }>;

export const JDS_SETTINGS: JdsSettings = { declaredTransactionsMax: 16_666, requestsPerSecondMax: 20, pendingDeclarationsMax: 2, retainedJobs: 4 };
export const TOKEN_SETTINGS: TokenSettings = { allocatedExpiryMs: 600_000, declaredExpiryMs: 10_000, capacity: 1000, tombstoneMs: 60_000 };
const WITNESS_COMMITMENT_HEADER = hexToBytes('6a24aa21a9ed');

export interface JdsWorldOptions {
  readonly mode?: 'observe' | 'inline';
  readonly policy?: Partial<PolicySettings>;
  readonly auth?: AuthOptions;
  readonly settings?: Partial<JdsSettings>;
  readonly tokens?: Partial<TokenSettings>;
  readonly seed?: number;
  /** Ask "the node" (the test answers `proposals` by hand, on the fake clock); absent = off. */
  readonly proposal?: ProposalSettings;
  /** The server's crypto provider (Noise AEAD, double SHA-256); default noble. The client is always noble. */
  readonly provider?: CryptoProvider;
}

/** One in-memory JD client (our Noise initiator; the JD messages are sent as given). */
export class JdPeer {
  readonly noise: NoiseInitiatorConnection;
  readonly session: JdsSession;
  readonly inbox: Sv2Message[] = [];
  handshakeDone = false;

  constructor(readonly world: JdsWorld, connId: number) {
    this.noise = new NoiseInitiatorConnection(
      { provider: nobleProvider, random: world.random, certificatePolicy: { kind: 'pinned', authorityXOnly: world.authority.publicKeyXOnly }, wallClock: world.clock },
      world.now,
    );
    this.session = world.session(connId);
  }

  send(message: Sv2Message): void {
    const sent = this.noise.send(encodeMessage(message));
    assert.ok(sent.ok, 'client send');
    this.world.pump();
  }

  sendRaw(frame: Uint8Array): void {
    assert.ok(this.noise.send(frame).ok);
    this.world.pump();
  }

  /** Move bytes both ways until nothing moves. */
  pump(): void {
    for (let round = 0; round < 1000; round++) {
      let moved = false;
      for (let b = this.noise.pollTransmit(); b !== undefined; b = this.noise.pollTransmit()) {
        moved = true;
        this.session.receive(b, this.world.now);
      }
      for (let b = this.session.pollTransmit(); b !== undefined; b = this.session.pollTransmit()) {
        moved = true;
        this.noise.receive(b, this.world.now);
      }
      for (let e = this.noise.pollEvent(); e !== undefined; e = this.noise.pollEvent()) {
        if (e.type === 'handshake-complete') this.handshakeDone = true;
        else if (e.type === 'frame') {
          const decoded = decodeMessage(e.frame);
          assert.ok(decoded.ok, `server frame decodes: ${decoded.ok ? '' : decoded.error.message}`);
          this.inbox.push(decoded.value);
        }
      }
      if (!moved) return;
    }
    throw new Error('JdPeer.pump: no quiescence after 1000 rounds');
  }

  types(): string[] {
    return this.inbox.map((m) => m.type);
  }

  take<T extends Sv2Message['type']>(type: T): Msg<T> {
    const i = this.inbox.findIndex((m) => m.type === type);
    assert.ok(i >= 0, `expected a ${type}, inbox has [${this.types().join(', ')}]`);
    return this.inbox.splice(i, 1)[0] as Msg<T>;
  }

  setup(flags = DECLARE_TX_DATA, protocol = 1): void {
    this.send({
      type: 'SetupConnection', protocol, minVersion: 2, maxVersion: 2, flags,
      endpointHost: '127.0.0.1', endpointPort: 0, vendor: 'jds-world', hardwareVersion: '', firmware: '', deviceId: '',
    });
  }

  /** AllocateMiningJobToken → the Success (asserted). */
  allocate(user = 'alice.rig1', requestId = 1): Msg<'AllocateMiningJobTokenSuccess'> {
    this.send({ type: 'AllocateMiningJobToken', userIdentifier: user, requestId });
    return this.take('AllocateMiningJobTokenSuccess');
  }

  declare(token: Uint8Array, job: DeclaredJobBytes, requestId = 2): void {
    this.send({
      type: 'DeclareMiningJob', requestId, miningJobToken: token, version: 0x20000000,
      coinbaseTxPrefix: job.prefix, coinbaseTxSuffix: job.suffix, wtxidList: job.wtxids, excessData: new Uint8Array(0),
    });
  }
}

export class JdsWorld {
  readonly clock = new FakeClock({ startMs: 1_000 });
  readonly random: SeededRandom;
  readonly authority: ReturnType<typeof generateAuthorityKeyPair>;
  readonly identity: ResponderIdentity;
  readonly engine: PolicyEngine;
  readonly tokens: MiningJobTokens<DeclaredJob>;
  /** Declaration trees for the newest 4 templates, as the gateway keeps them (JD_TEMPLATE_TREES). */
  readonly templates: TemplateCache;
  readonly provided = new ProvidedTransactions(1000);
  readonly authenticator: Authenticator;
  readonly events: JdsEvent[] = [];
  readonly blocks: JdsBlock[] = [];
  readonly peers: JdPeer[] = [];
  /** propose_block commands the sessions emitted, in order. */
  readonly proposals: ProposeBlockCommand[] = [];
  readonly proposal: ProposalSettings | undefined;
  readonly mode: 'observe' | 'inline';
  readonly settings: JdsSettings;
  readonly provider: CryptoProvider;
  released: BlockTemplate | null = null;
  chain: ChainView = CHAIN;
  #nextConnId = 1;
  #nextDeclarationId = 1n;

  constructor(options: JdsWorldOptions = {}) {
    this.random = new SeededRandom(options.seed ?? 11);
    this.authority = generateAuthorityKeyPair(this.random);
    this.identity = new ResponderIdentity({ authoritySecretKey: this.authority.secretKey, validitySecs: 3600, backdateSecs: 300, random: this.random });
    this.engine = new PolicyEngine(makeSettings({ subsidyHalvingInterval: 210_000, ...options.policy }));
    this.tokens = new MiningJobTokens<DeclaredJob>({ ...TOKEN_SETTINGS, ...options.tokens }, this.random);
    this.authenticator = new Authenticator(options.auth ?? { mode: 'open', maxWorkerIdBytes: 64, maxWorkersPerChannel: 4 });
    this.mode = options.mode ?? 'inline';
    this.settings = { ...JDS_SETTINGS, ...options.settings };
    this.proposal = options.proposal;
    this.provider = options.provider ?? nobleProvider;
    this.templates = new TemplateCache(8, { treesMax: 4, sha256d: doubleHashOf(this.provider) });
  }

  /** Hand the node's answer to the proposal of declaration `declarationId` back to its session. */
  answerProposal(command: ProposeBlockCommand, answer: unknown): boolean {
    const peer = this.peers.find((p) => p.session.connId === command.conn_id);
    assert.ok(peer !== undefined, `a peer for conn ${command.conn_id}`);
    const taken = peer.session.proposalAnswered(command.declaration_id, answer, this.now);
    this.pump();
    return taken;
  }

  get now(): number {
    return this.clock.monotonicMs();
  }

  release(template: BlockTemplate): void {
    this.templates.add(template);
    this.templates.buildTrees(); // the gateway does it on the pass right after the release
    this.released = template;
  }

  session(connId: number): JdsSession {
    return new JdsSession(
      connId,
      {
        provider: this.provider,
        random: this.random,
        staticKey: this.identity.staticKey,
        certificateAt: (wallMs) => this.identity.certificateAt(Math.floor(wallMs / 1000)),
        handshakeTimeoutMs: 5_000,
        payloadBytesMax: 16_777_215,
        settings: this.settings,
        mode: this.mode,
        authenticator: this.authenticator,
        tokens: this.tokens,
        engine: this.engine,
        released: () => this.released,
        chain: () => this.chain,
        templates: this.templates,
        mempool: NO_TRANSACTIONS,
        provided: this.provided,
        nextDeclarationId: () => this.#nextDeclarationId++,
        emit: (e) => this.events.push(e),
        onSolution: (block) => {
          if (this.blocks.some((b) => b.blockHashDisplay === block.blockHashDisplay)) return null;
          this.blocks.push(block);
          return `block-${this.blocks.length}`;
        },
        ...(this.proposal === undefined ? {} : { proposal: this.proposal, propose: (c: ProposeBlockCommand) => void this.proposals.push(c) }),
      },
      this.now,
      this.clock.wallMs(),
      '127.0.0.1:7000',
    );
  }

  /** A client with only the Noise handshake done. */
  peerRaw(): JdPeer {
    const peer = new JdPeer(this, this.#nextConnId++);
    this.peers.push(peer);
    this.pump();
    assert.ok(peer.handshakeDone, 'Noise handshake completed');
    return peer;
  }

  /** A client with the handshake done and SetupConnection answered (Success taken out of the inbox). */
  peer(options: { flags?: number } = {}): JdPeer {
    const peer = this.peerRaw();
    peer.setup(options.flags ?? DECLARE_TX_DATA);
    peer.take('SetupConnectionSuccess');
    return peer;
  }

  pump(): void {
    for (const p of this.peers) p.pump();
  }

  /** Advance the fake clock, firing session and token deadlines on the way. */
  advance(deltaMs: number): void {
    const target = this.now + deltaMs;
    for (let i = 0; i < 10_000; i++) {
      const ats = [...this.peers.map((p) => p.session.nextDeadlineMs()), this.tokens.nextDeadlineMs() ?? undefined].filter((x): x is number => x !== undefined);
      const at = ats.length === 0 ? undefined : Math.min(...ats);
      if (at === undefined || at > target) break;
      this.clock.advanceTo(Math.max(at, this.now));
      for (const p of this.peers) p.session.onTimeout(this.now);
      this.tokens.onTimeout(this.now);
      this.pump();
    }
    this.clock.advanceTo(target);
  }

  verdicts(): Extract<JdsEvent, { type: 'jd_declaration_verdict' }>[] {
    return this.events.filter((e): e is Extract<JdsEvent, { type: 'jd_declaration_verdict' }> => e.type === 'jd_declaration_verdict');
  }

  eventsOf<T extends JdsEvent['type']>(type: T): Extract<JdsEvent, { type: T }>[] {
    return this.events.filter((e) => e.type === type) as Extract<JdsEvent, { type: T }>[];
  }
}

// ---- declared jobs, built independently ---------------------------------------------------------

export interface DeclaredJobBytes {
  readonly prefix: Uint8Array;
  readonly suffix: Uint8Array;
  readonly wtxids: Uint8Array[];
  readonly extranonceBytes: number;
  /** The full coinbase with a zero extranonce. */
  readonly coinbase: Uint8Array;
}

export interface CoinbaseOptions {
  readonly height?: number;
  /** Outputs before the witness commitment; default: the pool gets `value`. */
  readonly outputs?: readonly { readonly value: bigint; readonly script: Uint8Array }[];
  readonly value?: bigint;
  /** Replace the commitment (tests of a wrong one). */
  readonly commitment?: Uint8Array;
  readonly extranonceBytes?: number;
  /** The coinbase's witness reserved value (BIP141 lets it be any 32 bytes); default 32×00. */
  readonly reserved?: Uint8Array;
}

/** BIP34 push of `height` (minimal CScriptNum), as Bitcoin Core's `CScript() << height`. */
export function heightPush(height: number): Uint8Array {
  const bytes: number[] = [];
  for (let n = height; n > 0; n = Math.floor(n / 256)) bytes.push(n & 0xff);
  if ((bytes[bytes.length - 1]! & 0x80) !== 0) bytes.push(0);
  return new Uint8Array([bytes.length, ...bytes]);
}

/** A declared job over `txs`: the coinbase JDC would build (pool output, witness commitment). */
export function declaredJob(txs: readonly Pick<TemplateTransaction, 'wtxid'>[], options: CoinbaseOptions = {}): DeclaredJobBytes {
  const wtxids = txs.map((t) => t.wtxid);
  const reserved = options.reserved ?? new Uint8Array(32);
  const witnessRoot = merkleRootOf([new Uint8Array(32), ...wtxids]);
  const commitment = options.commitment ?? dsha(concatBytes(witnessRoot, reserved));
  const extranonceBytes = options.extranonceBytes ?? 8;
  const scriptSigHead = concatBytes(heightPush(options.height ?? 1000), new TextEncoder().encode('/jdc/'));
  const scriptSigLength = scriptSigHead.length + extranonceBytes;
  const outs = options.outputs ?? [{ value: options.value ?? 5_000_000_000n, script: POOL_SCRIPT }];
  const allOuts = [...outs, { value: 0n, script: concatBytes(WITNESS_COMMITMENT_HEADER, commitment) }];
  const prefix = concatBytes(le32(2), new Uint8Array([0x00, 0x01, 0x01]), new Uint8Array(32), le32(0xffffffff), varint(scriptSigLength), scriptSigHead);
  const suffix = concatBytes(
    le32(0xffffffff),
    varint(allOuts.length),
    ...allOuts.flatMap((o) => [le64(o.value), varint(o.script.length), o.script]),
    new Uint8Array([0x01, 0x20]),
    reserved,
    le32(0),
  );
  return { prefix, suffix, wtxids, extranonceBytes, coinbase: concatBytes(prefix, new Uint8Array(extranonceBytes), suffix) };
}

/** A transaction spending output `vout` of `parent` (no witness), paying `outValue` to OTHER. */
export function spend(parent: Pick<TemplateTransaction, 'txid'>, vout: number, outValue: bigint, salt = 0): { data: Uint8Array; txid: Uint8Array; wtxid: Uint8Array } {
  const script = hexToBytes('0014' + (salt.toString(16).padStart(2, '0')).repeat(20));
  const data = concatBytes(le32(2), new Uint8Array([1]), parent.txid, le32(vout), new Uint8Array([0]), le32(0xffffffff), new Uint8Array([1]), le64(outValue), varint(script.length), script, le32(0));
  const txid = dsha(data);
  return { data, txid, wtxid: txid };
}
