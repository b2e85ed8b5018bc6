// Interop with the Stratum V2 reference implementation (SRI), issue 2 item 8 and issue 3 item 10.
// `npm run test:interop` = `node --import tsx conformance/interop/run.ts`.
//
// Builds sri-harness (Rust, SRI's crates from crates.io; see README.md), then checks:
//  (a) SRI's Noise Initiator (authority key pinned) + SRI codec against OUR responder:
//      SetupConnection → .Success, OpenStandardMiningChannel → .Success, future job + prevhash;
//      and that pinning a different authority key makes SRI refuse our certificate.
//  (b) OUR initiator (pinned) against SRI's Responder, same script; and that our initiator
//      refuses SRI's certificate when pinned to a different key.
//  (c) codec cross-check: every frame SRI encodes decodes with ours to the same field values
//      (explicit SRI-field → our-field table below) and re-encodes byte-exact; the same
//      messages encoded by us decode in SRI to the same values, SRI re-encodes them byte-exact
//      and reads no trailing bytes; seeded random messages of every type go through SRI too;
//      and SRI decodes and re-encodes every frame of conformance/vectors/frames byte-exact.
//  (d) SRI's client-side extended channel (channels_sv2) builds shares that meet the target of an
//      extended channel on OUR gateway and gets SubmitShares.Success (gateway-interop.ts);
//  (e) SRI's translator_sv2 (cargo install from crates.io) between our SV1 miner (sv1-client.ts)
//      and OUR gateway: SV1 shares answered true and accepted by the gateway (gateway-interop.ts).
//  (g) SRI's pool_sv2 and jd_client_sv2 (cargo install, cached) on OUR Template Provider with
//      btcd regtest: blocks found through them reach btcd; inline policy keeps rejected
//      templates from the pool (tp-interop.ts).
// Prints one line per check and ends with `N passed, N failed`; exits 1 on any failure.
// RG_INTEROP_ONLY (for a developer iterating on one check; CI leaves it unset): letters of the
// checks to run, e.g. `RG_INTEROP_ONLY=h` or `RG_INTEROP_ONLY=g,h`; the harness is built only when
// one of (a)–(e) is selected; an unknown letter fails the run.
// Every child process and socket has a timeout; children are killed when this process exits.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectCryptoProvider, availableProviders } from '../../adapters/crypto-native.ts';
import { systemRandom } from '../../adapters/random.ts';
import type { CryptoProvider } from '../../core/crypto/provider.ts';
import {
  CATALOG,
  decodeFrameBytes,
  encodeMessage,
  messageHeader,
  type MessageType,
  type Sv2Message,
  type Tlv,
} from '../../core/codec/index.ts';
import { generateAuthorityKeyPair, type AuthorityKeyPair } from '../../core/noise/index.ts';
import { vectorJson } from '../vectors.ts';
import { gatewayInterop } from './gateway-interop.ts';
import { interopCacheDir } from './sri-apps.ts';
import { templateProviderInterop } from './tp-interop.ts';
import { jobDeclarationInterop } from './jds-interop.ts';
import {
  CLIENT_SCRIPT,
  connectTestInitiator,
  fromHex,
  runClientScript,
  serveMiningScript,
  startTestResponder,
  toHex,
  type NoisePeer,
} from './ts-peer.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const HARNESS_DIR = join(HERE, 'sri-harness');
// The harness's target dir lives in the machine's interop cache (sri-apps.ts), not in the clone, so
// a fresh CI clone reuses the compiled SRI crates (only the harness crate itself is rebuilt).
const HARNESS_TARGET_DIR = join(interopCacheDir(), 'harness-build');
const HARNESS_BIN = join(HARNESS_TARGET_DIR, 'release', process.platform === 'win32' ? 'sri-harness.exe' : 'sri-harness');
const CHILD_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 10_000;
const BUILD_TIMEOUT_MS = 10 * 60_000;
// The SRI apps' first build (about 11 min on 2 cores, longer under load) is bounded separately
// (sri-apps.ts); with the binaries cached a whole run takes a few minutes.
const RUN_TIMEOUT_MS = 75 * 60_000;
const RANDOM_MESSAGES_PER_TYPE = 4;

// ---- reporting -----------------------------------------------------------------------------

let passed = 0;
let failed = 0;

function report(name: string, problems: readonly string[]): void {
  if (problems.length === 0) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}`);
    for (const p of problems.slice(0, 12)) console.log(`       ${p}`);
    if (problems.length > 12) console.log(`       … ${problems.length - 12} more`);
  }
}

async function check(name: string, body: () => Promise<string[]> | string[]): Promise<void> {
  try {
    report(name, await body());
  } catch (error) {
    report(name, [error instanceof Error ? error.message : String(error)]);
  }
}

// ---- children --------------------------------------------------------------------------------

type Json = Record<string, any>;

const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

interface Harness {
  readonly lines: Json[];
  readonly stderr: () => string;
  /** Resolves with the first line matching `predicate` (already seen or yet to come). */
  waitFor(predicate: (line: Json) => boolean, timeoutMs: number, what: string): Promise<Json>;
  /** Resolves when the child exits (it is killed at CHILD_TIMEOUT_MS). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>;
  kill(): void;
}

/** Start sri-harness with `args`; stdout is parsed as JSON lines; `input` is written to stdin. */
function startHarness(args: readonly string[], input?: string): Harness {
  const child = spawn(HARNESS_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  liveChildren.add(child);
  const lines: Json[] = [];
  const listeners = new Set<() => void>();
  let stdoutRest = '';
  let stderr = '';
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, CHILD_TIMEOUT_MS);
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    stdoutRest += chunk;
    let nl: number;
    while ((nl = stdoutRest.indexOf('\n')) >= 0) {
      const text = stdoutRest.slice(0, nl);
      stdoutRest = stdoutRest.slice(nl + 1);
      if (text.trim() === '') continue;
      try {
        lines.push(JSON.parse(text) as Json);
      } catch {
        lines.push({ event: 'non-json', text });
      }
    }
    for (const wake of listeners) wake();
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    if (stderr.length < 64_000) stderr += chunk;
  });
  child.stdin!.on('error', () => undefined); // a child that exits early closes its stdin
  if (input !== undefined) child.stdin!.end(input);
  else child.stdin!.end();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>((resolve) => {
    child.on('error', (error) => {
      stderr += `spawn error: ${error.message}\n`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      for (const wake of listeners) wake();
      resolve({ code, signal, timedOut });
    });
  });
  return {
    lines,
    stderr: () => stderr,
    exited,
    kill: () => child.kill('SIGKILL'),
    waitFor(predicate, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const finish = (): void => {
          clearTimeout(t);
          listeners.delete(wake);
        };
        const wake = (): void => {
          const found = lines.find(predicate);
          if (found !== undefined) {
            finish();
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            finish();
            reject(new Error(`sri-harness exited before ${what}: ${JSON.stringify(lines.at(-1) ?? {})} ${stderr.trim()}`));
          }
        };
        const t = setTimeout(() => {
          listeners.delete(wake);
          reject(new Error(`timeout after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        listeners.add(wake);
        wake();
      });
    },
  };
}

async function runHarness(args: readonly string[], input?: string): Promise<{ lines: Json[]; code: number | null; stderr: string; timedOut: boolean }> {
  const h = startHarness(args, input);
  const { code, timedOut } = await h.exited;
  return { lines: h.lines, code, stderr: h.stderr(), timedOut };
}

// ---- SRI field names ↔ our message fields -------------------------------------------------
//
// One explicit row per field: [SRI's JSON field name (its Rust struct field), our camelCase key,
// how the value is written in the harness JSON]. Names differ where SRI's structs do:
// SetCustomMiningJob `token` (spec mining_job_token), `coinbase_tx_input_n_sequence`
// (spec coinbase_tx_input_nSequence), AllocateMiningJobToken.Success `coinbase_outputs`
// (spec coinbase_tx_outputs).

type Kind = 'int' | 'u64' | 'f32' | 'bytes' | 'str' | 'optInt' | 'bool' | 'bytesList' | 'intList';
type Row = readonly [sri: string, ours: string, kind: Kind];

const FIELD_MAP: { readonly [T in MessageType]: readonly Row[] } = {
  SetupConnection: [
    ['protocol', 'protocol', 'int'], ['min_version', 'minVersion', 'int'], ['max_version', 'maxVersion', 'int'],
    ['flags', 'flags', 'int'], ['endpoint_host', 'endpointHost', 'str'], ['endpoint_port', 'endpointPort', 'int'],
    ['vendor', 'vendor', 'str'], ['hardware_version', 'hardwareVersion', 'str'], ['firmware', 'firmware', 'str'],
    ['device_id', 'deviceId', 'str'],
  ],
  SetupConnectionSuccess: [['used_version', 'usedVersion', 'int'], ['flags', 'flags', 'int']],
  SetupConnectionError: [['flags', 'flags', 'int'], ['error_code', 'errorCode', 'str']],
  ChannelEndpointChanged: [['channel_id', 'channelId', 'int']],
  Reconnect: [['new_host', 'newHost', 'str'], ['new_port', 'newPort', 'int']],
  OpenStandardMiningChannel: [
    ['request_id', 'requestId', 'int'], ['user_identity', 'userIdentity', 'str'],
    ['nominal_hash_rate', 'nominalHashRate', 'f32'], ['max_target', 'maxTarget', 'bytes'],
  ],
  OpenStandardMiningChannelSuccess: [
    ['request_id', 'requestId', 'int'], ['channel_id', 'channelId', 'int'], ['target', 'target', 'bytes'],
    ['extranonce_prefix', 'extranoncePrefix', 'bytes'], ['group_channel_id', 'groupChannelId', 'int'],
  ],
  OpenMiningChannelError: [['request_id', 'requestId', 'int'], ['error_code', 'errorCode', 'str']],
  OpenExtendedMiningChannel: [
    ['request_id', 'requestId', 'int'], ['user_identity', 'userIdentity', 'str'],
    ['nominal_hash_rate', 'nominalHashRate', 'f32'], ['max_target', 'maxTarget', 'bytes'],
    ['min_extranonce_size', 'minExtranonceSize', 'int'],
  ],
  OpenExtendedMiningChannelSuccess: [
    ['request_id', 'requestId', 'int'], ['channel_id', 'channelId', 'int'], ['target', 'target', 'bytes'],
    ['extranonce_size', 'extranonceSize', 'int'], ['extranonce_prefix', 'extranoncePrefix', 'bytes'],
    ['group_channel_id', 'groupChannelId', 'int'],
  ],
  NewMiningJob: [
    ['channel_id', 'channelId', 'int'], ['job_id', 'jobId', 'int'], ['min_ntime', 'minNtime', 'optInt'],
    ['version', 'version', 'int'], ['merkle_root', 'merkleRoot', 'bytes'],
  ],
  UpdateChannel: [
    ['channel_id', 'channelId', 'int'], ['nominal_hash_rate', 'nominalHashRate', 'f32'],
    ['maximum_target', 'maximumTarget', 'bytes'],
  ],
  UpdateChannelError: [['channel_id', 'channelId', 'int'], ['error_code', 'errorCode', 'str']],
  CloseChannel: [['channel_id', 'channelId', 'int'], ['reason_code', 'reasonCode', 'str']],
  SetExtranoncePrefix: [['channel_id', 'channelId', 'int'], ['extranonce_prefix', 'extranoncePrefix', 'bytes']],
  SubmitSharesStandard: [
    ['channel_id', 'channelId', 'int'], ['sequence_number', 'sequenceNumber', 'int'], ['job_id', 'jobId', 'int'],
    ['nonce', 'nonce', 'int'], ['ntime', 'ntime', 'int'], ['version', 'version', 'int'],
  ],
  SubmitSharesExtended: [
    ['channel_id', 'channelId', 'int'], ['sequence_number', 'sequenceNumber', 'int'], ['job_id', 'jobId', 'int'],
    ['nonce', 'nonce', 'int'], ['ntime', 'ntime', 'int'], ['version', 'version', 'int'],
    ['extranonce', 'extranonce', 'bytes'],
  ],
  SubmitSharesSuccess: [
    ['channel_id', 'channelId', 'int'], ['last_sequence_number', 'lastSequenceNumber', 'int'],
    ['new_submits_accepted_count', 'newSubmitsAcceptedCount', 'int'], ['new_shares_sum', 'newSharesSum', 'u64'],
  ],
  SubmitSharesError: [
    ['channel_id', 'channelId', 'int'], ['sequence_number', 'sequenceNumber', 'int'], ['error_code', 'errorCode', 'str'],
  ],
  NewExtendedMiningJob: [
    ['channel_id', 'channelId', 'int'], ['job_id', 'jobId', 'int'], ['min_ntime', 'minNtime', 'optInt'],
    ['version', 'version', 'int'], ['version_rolling_allowed', 'versionRollingAllowed', 'bool'],
    ['merkle_path', 'merklePath', 'bytesList'], ['coinbase_tx_prefix', 'coinbaseTxPrefix', 'bytes'],
    ['coinbase_tx_suffix', 'coinbaseTxSuffix', 'bytes'],
  ],
  SetNewPrevHash: [
    ['channel_id', 'channelId', 'int'], ['job_id', 'jobId', 'int'], ['prev_hash', 'prevHash', 'bytes'],
    ['min_ntime', 'minNtime', 'int'], ['nbits', 'nbits', 'int'],
  ],
  SetTarget: [['channel_id', 'channelId', 'int'], ['maximum_target', 'maximumTarget', 'bytes']],
  SetCustomMiningJob: [
    ['channel_id', 'channelId', 'int'], ['request_id', 'requestId', 'int'], ['token', 'miningJobToken', 'bytes'],
    ['version', 'version', 'int'], ['prev_hash', 'prevHash', 'bytes'], ['min_ntime', 'minNtime', 'int'],
    ['nbits', 'nbits', 'int'], ['coinbase_tx_version', 'coinbaseTxVersion', 'int'],
    ['coinbase_prefix', 'coinbasePrefix', 'bytes'], ['coinbase_tx_input_n_sequence', 'coinbaseTxInputNSequence', 'int'],
    ['coinbase_tx_outputs', 'coinbaseTxOutputs', 'bytes'], ['coinbase_tx_locktime', 'coinbaseTxLocktime', 'int'],
    ['merkle_path', 'merklePath', 'bytesList'],
  ],
  SetCustomMiningJobSuccess: [['channel_id', 'channelId', 'int'], ['request_id', 'requestId', 'int'], ['job_id', 'jobId', 'int']],
  SetCustomMiningJobError: [
    ['channel_id', 'channelId', 'int'], ['request_id', 'requestId', 'int'], ['error_code', 'errorCode', 'str'],
  ],
  SetGroupChannel: [['group_channel_id', 'groupChannelId', 'int'], ['channel_ids', 'channelIds', 'intList']],
  CoinbaseOutputConstraints: [
    ['coinbase_output_max_additional_size', 'coinbaseOutputMaxAdditionalSize', 'int'],
    ['coinbase_output_max_additional_sigops', 'coinbaseOutputMaxAdditionalSigops', 'int'],
  ],
  NewTemplate: [
    ['template_id', 'templateId', 'u64'], ['future_template', 'futureTemplate', 'bool'], ['version', 'version', 'int'],
    ['coinbase_tx_version', 'coinbaseTxVersion', 'int'], ['coinbase_prefix', 'coinbasePrefix', 'bytes'],
    ['coinbase_tx_input_sequence', 'coinbaseTxInputSequence', 'int'],
    ['coinbase_tx_value_remaining', 'coinbaseTxValueRemaining', 'u64'],
    ['coinbase_tx_outputs_count', 'coinbaseTxOutputsCount', 'int'], ['coinbase_tx_outputs', 'coinbaseTxOutputs', 'bytes'],
    ['coinbase_tx_locktime', 'coinbaseTxLocktime', 'int'], ['merkle_path', 'merklePath', 'bytesList'],
  ],
  SetNewPrevHashTdp: [
    ['template_id', 'templateId', 'u64'], ['prev_hash', 'prevHash', 'bytes'], ['header_timestamp', 'headerTimestamp', 'int'],
    ['n_bits', 'nBits', 'int'], ['target', 'target', 'bytes'],
  ],
  RequestTransactionData: [['template_id', 'templateId', 'u64']],
  RequestTransactionDataSuccess: [
    ['template_id', 'templateId', 'u64'], ['excess_data', 'excessData', 'bytes'], ['transaction_list', 'transactionList', 'bytesList'],
  ],
  RequestTransactionDataError: [['template_id', 'templateId', 'u64'], ['error_code', 'errorCode', 'str']],
  SubmitSolution: [
    ['template_id', 'templateId', 'u64'], ['version', 'version', 'int'], ['header_timestamp', 'headerTimestamp', 'int'],
    ['header_nonce', 'headerNonce', 'int'], ['coinbase_tx', 'coinbaseTx', 'bytes'],
  ],
  AllocateMiningJobToken: [['user_identifier', 'userIdentifier', 'str'], ['request_id', 'requestId', 'int']],
  AllocateMiningJobTokenSuccess: [
    ['request_id', 'requestId', 'int'], ['mining_job_token', 'miningJobToken', 'bytes'],
    ['coinbase_outputs', 'coinbaseTxOutputs', 'bytes'],
  ],
  ProvideMissingTransactions: [['request_id', 'requestId', 'int'], ['unknown_tx_position_list', 'unknownTxPositionList', 'intList']],
  ProvideMissingTransactionsSuccess: [['request_id', 'requestId', 'int'], ['transaction_list', 'transactionList', 'bytesList']],
  DeclareMiningJob: [
    ['request_id', 'requestId', 'int'], ['mining_job_token', 'miningJobToken', 'bytes'], ['version', 'version', 'int'],
    ['coinbase_tx_prefix', 'coinbaseTxPrefix', 'bytes'], ['coinbase_tx_suffix', 'coinbaseTxSuffix', 'bytes'],
    ['wtxid_list', 'wtxidList', 'bytesList'], ['excess_data', 'excessData', 'bytes'],
  ],
  DeclareMiningJobSuccess: [['request_id', 'requestId', 'int'], ['new_mining_job_token', 'newMiningJobToken', 'bytes']],
  DeclareMiningJobError: [
    ['request_id', 'requestId', 'int'], ['error_code', 'errorCode', 'str'], ['error_details', 'errorDetails', 'bytes'],
  ],
  PushSolution: [
    ['extranonce', 'extranonce', 'bytes'], ['prev_hash', 'prevHash', 'bytes'], ['nonce', 'nonce', 'int'],
    ['ntime', 'ntime', 'int'], ['nbits', 'nbits', 'int'], ['version', 'version', 'int'],
  ],
  RequestExtensions: [['request_id', 'requestId', 'int'], ['requested_extensions', 'requestedExtensions', 'intList']],
  RequestExtensionsSuccess: [['request_id', 'requestId', 'int'], ['supported_extensions', 'supportedExtensions', 'intList']],
  RequestExtensionsError: [
    ['request_id', 'requestId', 'int'], ['unsupported_extensions', 'unsupportedExtensions', 'intList'],
    ['required_extensions', 'requiredExtensions', 'intList'],
  ],
};

/** Our value → the harness JSON form (U64 decimal string, bytes hex, …). */
function toJsonForm(kind: Kind, value: unknown): unknown {
  switch (kind) {
    case 'int':
    case 'str':
    case 'bool':
      return value;
    case 'f32':
      // What the wire carries: a message built with 1.5e12 arrives as the nearest binary32.
      return typeof value === 'number' ? Math.fround(value) : `not-a-number:${String(value)}`;
    case 'u64':
      return typeof value === 'bigint' ? value.toString() : `not-a-bigint:${String(value)}`;
    case 'bytes':
      return value instanceof Uint8Array ? toHex(value) : `not-bytes:${String(value)}`;
    case 'optInt':
      return value ?? null;
    case 'bytesList':
      return Array.isArray(value) ? value.map((v) => (v instanceof Uint8Array ? toHex(v) : `not-bytes:${String(v)}`)) : `not-a-list`;
    case 'intList':
      return Array.isArray(value) ? [...value] : 'not-a-list';
  }
}

/** The harness JSON form → our value. */
function fromJsonForm(kind: Kind, value: unknown): unknown {
  switch (kind) {
    case 'int':
    case 'f32':
    case 'str':
    case 'bool':
    case 'optInt':
      return value;
    case 'u64':
      return BigInt(value as string);
    case 'bytes':
      return fromHex(value as string);
    case 'bytesList':
      return (value as string[]).map(fromHex);
    case 'intList':
      return [...(value as number[])];
  }
}

function tlvsJsonForm(tlvs: readonly Tlv[] | undefined): unknown {
  return tlvs?.map((t) => ({ extension_type: t.extensionType, field_type: t.fieldType, value: toHex(t.value) }));
}

/** JSON text for comparisons and messages; never throws on bigint or bytes (a wrong kind). */
function _json(v: unknown): string {
  return (
    JSON.stringify(v, (_key, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `bytes:${toHex(x)}` : x)) ?? String(v)
  );
}

function _same(a: unknown, b: unknown): boolean {
  // -0 and 0 are one F32 value for this purpose; JSON renders both as 0.
  return _json(a) === _json(b);
}

function _show(v: unknown): string {
  const s = _json(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

/** Differences between our message and SRI's field JSON, per the table (empty = equal). */
function compareFields(ours: Sv2Message, sriName: string, sriFields: Json): string[] {
  const problems: string[] = [];
  if (ours.type !== sriName) return [`message type: ours ${ours.type}, SRI ${sriName}`];
  const rows = FIELD_MAP[ours.type];
  const record = ours as unknown as Record<string, unknown>;
  for (const [sri, key, kind] of rows) {
    if (!(sri in sriFields)) problems.push(`${sri}: missing in SRI's output`);
    else if (!(key in record)) problems.push(`${key}: missing in our message`);
    else if (!_same(toJsonForm(kind, record[key]), sriFields[sri])) {
      problems.push(`${sri}/${key}: ours ${_show(toJsonForm(kind, record[key]))}, SRI ${_show(sriFields[sri])}`);
    }
  }
  // Every field on both sides is covered by the table (catches a field one side lacks).
  const mappedOurs = new Set(['type', 'tlvs', ...rows.map((r) => r[1])]);
  const mappedSri = new Set(['tlvs', ...rows.map((r) => r[0])]);
  for (const key of Object.keys(record)) if (!mappedOurs.has(key)) problems.push(`our field ${key} has no SRI counterpart`);
  for (const key of Object.keys(sriFields)) if (!mappedSri.has(key)) problems.push(`SRI field ${key} has no counterpart of ours`);
  if ('tlvs' in sriFields || record['tlvs'] !== undefined) {
    const mine = tlvsJsonForm(record['tlvs'] as readonly Tlv[] | undefined);
    if (!_same(mine, sriFields['tlvs'])) problems.push(`tlvs: ours ${_show(mine)}, SRI ${_show(sriFields['tlvs'])}`);
  }
  return problems;
}

/** Our message built from SRI's field JSON. */
function messageFromSri(type: MessageType, sriFields: Json): Sv2Message {
  const message: Record<string, unknown> = { type };
  for (const [sri, key, kind] of FIELD_MAP[type]) message[key] = fromJsonForm(kind, sriFields[sri]);
  if (Array.isArray(sriFields['tlvs'])) {
    message['tlvs'] = (sriFields['tlvs'] as Json[]).map((t) => ({
      extensionType: t['extension_type'],
      fieldType: t['field_type'],
      value: fromHex(t['value']),
    }));
  }
  return message as unknown as Sv2Message;
}

/** Header facts: our catalog's (what we send) against what SRI's frame carries. */
function compareHeader(ours: Sv2Message, sri: Json): string[] {
  const h = messageHeader(ours);
  const problems: string[] = [];
  if (h.msgType !== sri['msg_type']) problems.push(`msg_type: ours 0x${h.msgType.toString(16)}, SRI 0x${Number(sri['msg_type']).toString(16)}`);
  if (h.extensionType !== (Number(sri['ext_type']) & 0x7fff)) problems.push(`extension: ours ${h.extensionType}, SRI ${Number(sri['ext_type']) & 0x7fff}`);
  if (h.channelMsg !== sri['channel_msg']) problems.push(`channel_msg bit: ours ${h.channelMsg}, SRI ${sri['channel_msg']}`);
  return problems;
}

// ---- seeded random messages --------------------------------------------------------------

const seed = (() => {
  const raw = process.env['RG_SEED'];
  const n = raw === undefined || raw === '' ? 0x5eed_2026 : Number(raw);
  return Number.isFinite(n) ? n >>> 0 : 0x5eed_2026;
})();

function _prng(s: number): () => number {
  // mulberry32: tiny, deterministic, good enough for test values.
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomValue(rand: () => number, typeName: string, field: string): unknown {
  const int = (n: number): number => Math.floor(rand() * n);
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => int(256));
  const u32 = (): number => (int(0x10000) * 0x10000 + int(0x10000)) >>> 0;
  const len = (max: number): number => (rand() < 0.15 ? max : rand() < 0.2 ? 0 : int(Math.min(max, 48) + 1));
  if (field.endsWith('.protocol')) return int(3); // SRI decodes `protocol` as an enum 0..2
  switch (typeName) {
    case 'BOOL':
      return rand() < 0.5;
    case 'U8':
      return int(0x100);
    case 'U16':
      return int(0x10000);
    case 'U32':
      return u32();
    case 'U64':
      return (BigInt(u32()) << 32n) | BigInt(u32());
    case 'F32': {
      // Any finite binary32 (NaN/∞ have no JSON form): exponent bits ≠ 0xff.
      const view = new DataView(new ArrayBuffer(4));
      do view.setUint32(0, u32(), true);
      while (((view.getUint32(0, true) >>> 23) & 0xff) === 0xff);
      return view.getFloat32(0, true);
    }
    case 'U256':
      return bytes(32);
    case 'B0_32':
      return bytes(len(32));
    case 'B0_255':
      return bytes(len(255));
    case 'B0_64K':
      return bytes(len(600));
    case 'B0_16M':
      return bytes(len(600));
    case 'STR0_255': {
      const alphabet = ['a', 'Z', '0', '.', '_', '-', ' ', 'é', 'ß', '€', '😀'];
      let s = '';
      const target = len(60);
      while (new TextEncoder().encode(s).length < target) s += alphabet[int(alphabet.length)];
      while (new TextEncoder().encode(s).length > 255) s = [...s].slice(0, -1).join('');
      return s;
    }
    case 'OPTION[U32]':
      return rand() < 0.5 ? null : u32();
    default: {
      const seq = /^SEQ0_(255|64K)\[(.+)\]$/.exec(typeName);
      if (seq) return Array.from({ length: int(6) }, () => randomValue(rand, seq[2]!, field));
      throw new Error(`randomValue: no generator for ${typeName} (${field})`);
    }
  }
}

function randomMessages(): { label: string; message: Sv2Message }[] {
  const rand = _prng(seed);
  const out: { label: string; message: Sv2Message }[] = [];
  for (const entry of CATALOG) {
    for (let i = 0; i < RANDOM_MESSAGES_PER_TYPE; i++) {
      const message: Record<string, unknown> = { type: entry.type };
      for (const [key, wire, dataType] of entry.codec.fields) message[key] = randomValue(rand, dataType.name, `${entry.type}.${wire}`);
      out.push({ label: `${entry.type}#${i}`, message: message as unknown as Sv2Message });
    }
  }
  return out;
}

// ---- (c) codec cross-check ------------------------------------------------------------------

async function codecCrossCheck(): Promise<void> {
  const encoded = await runHarness(['encode']);
  const frames = encoded.lines.filter((l) => typeof l['hex'] === 'string');
  report(`SRI encode: ${frames.length} frames, exit 0`, [
    ...(encoded.code === 0 ? [] : [`exit ${encoded.code}${encoded.timedOut ? ' (timeout)' : ''}: ${encoded.stderr.trim()}`]),
    ...(frames.length >= 40 ? [] : [`only ${frames.length} frames`]),
  ]);
  const covered = new Set(frames.map((f) => f['msg'] as string));
  const uncovered = CATALOG.map((e) => e.type).filter((t) => !covered.has(t));
  report(`SRI encode covers every message type of our catalog (${CATALOG.length})`, uncovered.map((t) => `no SRI frame for ${t}`));

  // SRI → ours: decode, compare fields and header, re-encode byte-exact.
  const oursFromSri: { case: string; message: Sv2Message; hex: string }[] = [];
  for (const f of frames) {
    const name = `SRI→ours ${f['case']}`;
    const decoded = decodeFrameBytes(fromHex(f['hex']), { negotiatedExtensions: [0x0002] });
    if (!decoded.ok) {
      report(name, [`our decoder: ${decoded.error.code}: ${decoded.error.message}`]);
      continue;
    }
    const problems = [...compareFields(decoded.value, f['msg'], f['fields']), ...compareHeader(decoded.value, f)];
    try {
      const again = toHex(encodeMessage(decoded.value));
      if (again !== f['hex']) problems.push(`re-encode differs:\n         SRI  ${f['hex']}\n         ours ${again}`);
    } catch (error) {
      problems.push(`re-encode threw: ${(error as Error).message}`);
    }
    report(name, problems);
    oursFromSri.push({ case: f['case'], message: messageFromSri(f['msg'], f['fields']), hex: f['hex'] });
  }

  // Ours → SRI: the same messages built from SRI's values, then seeded random ones.
  const toSri: { case: string; message: Sv2Message; hex: string; expectTlv: boolean }[] = [];
  for (const item of oursFromSri) {
    try {
      toSri.push({ case: `ours→SRI ${item.case}`, message: item.message, hex: toHex(encodeMessage(item.message)), expectTlv: 'tlvs' in item.message });
    } catch (error) {
      report(`ours→SRI ${item.case}`, [`our encoder threw: ${(error as Error).message}`]);
    }
  }
  for (const { label, message } of randomMessages()) {
    try {
      toSri.push({ case: `ours→SRI random ${label}`, message, hex: toHex(encodeMessage(message)), expectTlv: false });
    } catch (error) {
      report(`ours→SRI random ${label}`, [`our encoder threw: ${(error as Error).message}`]);
    }
  }
  const input = toSri.map((t) => JSON.stringify({ case: t.case, hex: t.hex })).join('\n') + '\n';
  const decoded = await runHarness(['decode'], input);
  const byCase = new Map(decoded.lines.map((l) => [l['case'] as string, l]));
  report(`SRI decode: ${toSri.length} frames of ours, exit 0`, decoded.code === 0 ? [] : [`exit ${decoded.code}: ${decoded.stderr.trim()}`]);
  let randomOk = 0;
  const randomProblems: string[] = [];
  for (const t of toSri) {
    const r = byCase.get(t.case);
    const problems: string[] = [];
    if (r === undefined) problems.push('no answer from SRI decode');
    else if (r['ok'] !== true) problems.push(`SRI rejects our frame: ${r['error']}\n         ours ${t.hex.slice(0, 200)}`);
    else {
      problems.push(...compareFields(t.message, r['msg'], r['fields']));
      if (r['reencoded_hex'] !== t.hex) problems.push(`SRI re-encode differs:\n         ours ${t.hex.slice(0, 400)}\n         SRI  ${String(r['reencoded_hex']).slice(0, 400)}`);
      if (!t.expectTlv && r['consumed'] !== r['payload_length']) {
        problems.push(`SRI reads ${r['consumed']} of ${r['payload_length']} payload bytes (we sent trailing bytes)`);
      }
      if (r['sri_channel_bit'] !== r['channel_msg']) problems.push(`channel_msg bit: ours ${r['channel_msg']}, SRI's table ${r['sri_channel_bit']}`);
    }
    if (t.case.startsWith('ours→SRI random')) {
      if (problems.length === 0) randomOk++;
      else randomProblems.push(`${t.case}: ${problems.join('; ')}`);
    } else report(t.case, problems);
  }
  const randomCount = toSri.filter((t) => t.case.startsWith('ours→SRI random')).length;
  report(`ours→SRI ${randomCount} seeded random messages (${RANDOM_MESSAGES_PER_TYPE} per type, seed ${seed}; RG_SEED=… to vary): ${randomOk} equal`, randomProblems);

  // The shared plaintext-frame vectors, produced by an independent encoder: SRI must agree.
  const vectors = vectorJson<{ frames: { description: string; hex: string }[] }>('frames/plaintext-frames.json').frames;
  const vin = vectors.map((v, i) => JSON.stringify({ case: `vector#${i}`, hex: v.hex })).join('\n') + '\n';
  const vout = await runHarness(['decode'], vin);
  const vproblems: string[] = [];
  vectors.forEach((v, i) => {
    const r = vout.lines.find((l) => l['case'] === `vector#${i}`);
    if (r === undefined || r['ok'] !== true) vproblems.push(`${v.description}: SRI rejects: ${r?.['error'] ?? 'no answer'}`);
    else if (r['reencoded_hex'] !== v.hex || r['consumed'] !== r['payload_length']) vproblems.push(`${v.description}: SRI re-encodes ${r['reencoded_hex']}`);
  });
  report(`SRI decodes and re-encodes byte-exact all ${vectors.length} frames of vectors/frames/plaintext-frames.json`, vproblems);
}

// ---- (a) SRI initiator → our responder -----------------------------------------------------

/** SRI's reported traffic against ours: bytes SRI received = bytes we sent; fields agree. */
function compareTraffic(sriLines: Json[], ourSent: readonly { message: Sv2Message; frameBytes: Uint8Array }[], ourReceived: readonly Sv2Message[]): string[] {
  const problems: string[] = [];
  const sriReceived = sriLines.filter((l) => l['event'] === 'received');
  const sriSent = sriLines.filter((l) => l['event'] === 'sent');
  if (sriReceived.length !== ourSent.length) problems.push(`SRI received ${sriReceived.length} frames, we sent ${ourSent.length}`);
  ourSent.forEach((s, i) => {
    const r = sriReceived[i];
    if (r === undefined) return;
    if (r['hex'] !== toHex(s.frameBytes)) problems.push(`frame ${i} (${s.message.type}) bytes: we sent ${toHex(s.frameBytes)}, SRI got ${r['hex']}`);
    problems.push(...compareFields(s.message, r['msg'], r['fields']).map((p) => `SRI's view of our ${s.message.type}: ${p}`));
  });
  if (sriSent.length !== ourReceived.length) problems.push(`SRI sent ${sriSent.length} messages, we received ${ourReceived.length}`);
  ourReceived.forEach((m, i) => {
    const s = sriSent[i];
    if (s === undefined) return;
    problems.push(...compareFields(m, s['msg'], s['fields']).map((p) => `our view of SRI's ${s['msg']}: ${p}`));
  });
  return problems;
}

async function sriInitiatorAgainstOurResponder(provider: CryptoProvider, keys: AuthorityKeyPair, otherKeys: AuthorityKeyPair): Promise<void> {
  const label = `(a) SRI Initiator → our NoiseResponderConnection [${provider.name}]`;
  let peer: NoisePeer | undefined;
  const responder = await startTestResponder({
    provider,
    random: systemRandom,
    authoritySecretKey: keys.secretKey,
    timeoutMs: CHILD_TIMEOUT_MS,
    onPeer: (p) => {
      peer = p;
      return serveMiningScript(p, STEP_TIMEOUT_MS);
    },
  });
  try {
    const child = await runHarness([
      'initiator', '--addr', `127.0.0.1:${responder.port}`, '--authority-pubkey', keys.publicKey, '--expect-job',
      '--timeout-ms', String(CHILD_TIMEOUT_MS - 5_000),
    ]);
    const result = child.lines.find((l) => l['event'] === 'result');
    let received: Sv2Message[] = [];
    const sessionProblems: string[] = [];
    try {
      received = await responder.session;
    } catch (error) {
      sessionProblems.push(`our responder: ${(error as Error).message}`);
    }
    report(`${label}: handshake (authority pinned), SetupConnection.Success, OpenStandardMiningChannel.Success, job + prevhash`, [
      ...(child.code === 0 && result?.['ok'] === true ? [] : [`SRI initiator exit ${child.code}: ${_show(result ?? child.lines.at(-1))} ${child.stderr.trim()}`]),
      ...sessionProblems,
    ]);
    report(`${label}: SRI receives our frames byte-exact and both sides read the same fields`, compareTraffic(child.lines, peer?.sent ?? [], received));
  } finally {
    responder.close();
  }

  // Negative: pinned to another authority, SRI must refuse our certificate.
  const wrong = await startTestResponder({
    provider,
    random: systemRandom,
    authoritySecretKey: keys.secretKey,
    timeoutMs: CHILD_TIMEOUT_MS,
    onPeer: (p) => serveMiningScript(p, STEP_TIMEOUT_MS),
  });
  try {
    const child = await runHarness(['initiator', '--addr', `127.0.0.1:${wrong.port}`, '--authority-pubkey', otherKeys.publicKey, '--timeout-ms', '10000']);
    const result = child.lines.find((l) => l['event'] === 'result');
    const reason = String(result?.['reason'] ?? '');
    report(`${label}: SRI pinned to a different authority key refuses our certificate`, [
      ...(child.code !== 0 && result?.['ok'] === false ? [] : [`SRI initiator did not fail: exit ${child.code}, ${_show(result)}`]),
      ...(reason.includes('InvalidCertificate') ? [] : [`failure is not a certificate rejection: ${reason}`]),
      ...(child.lines.some((l) => l['event'] === 'handshake-complete') ? ['SRI reported handshake-complete'] : []),
    ]);
  } finally {
    wrong.close();
  }
}

// ---- (b) our initiator → SRI responder -----------------------------------------------------

async function ourInitiatorAgainstSriResponder(provider: CryptoProvider, keys: AuthorityKeyPair, otherKeys: AuthorityKeyPair): Promise<void> {
  const label = `(b) our NoiseInitiatorConnection → SRI Responder [${provider.name}]`;
  const args = [
    'responder', '--listen', '127.0.0.1:0', '--authority-secret', keys.secretKeyText, '--authority-pubkey', keys.publicKey,
    '--timeout-ms', String(CHILD_TIMEOUT_MS - 5_000),
  ];
  const sri = startHarness(args);
  let peer: NoisePeer | undefined;
  try {
    const problems: string[] = [];
    let received: Sv2Message[] = [];
    try {
      const listening = await sri.waitFor((l) => l['event'] === 'listening', STEP_TIMEOUT_MS, 'the SRI responder to listen');
      peer = await connectTestInitiator({ port: listening['port'], provider, random: systemRandom, authorityXOnly: keys.publicKeyXOnly, timeoutMs: STEP_TIMEOUT_MS });
      received = (await runClientScript(peer, STEP_TIMEOUT_MS)).map((r) => r.message);
      peer.close();
    } catch (error) {
      problems.push(`our initiator: ${(error as Error).message}`);
      peer?.close();
    }
    const { code } = await sri.exited;
    const result = sri.lines.find((l) => l['event'] === 'result');
    if (code !== 0 || result?.['ok'] !== true) problems.push(`SRI responder exit ${code}: ${_show(result ?? sri.lines.at(-1))} ${sri.stderr().trim()}`);
    report(`${label}: handshake (authority pinned), SetupConnection.Success, OpenStandardMiningChannel.Success, job + prevhash`, problems);
    const opened = received.find((m) => m.type === 'OpenStandardMiningChannelSuccess');
    const targetProblems =
      opened?.type === 'OpenStandardMiningChannelSuccess' && toHex(opened.target) === CLIENT_SCRIPT.maxTargetHex
        ? [] // SRI clamped its fixed target to our max_target: what the script expects
        : [`SRI's target ${opened?.type === 'OpenStandardMiningChannelSuccess' ? toHex(opened.target) : '-'} is not our max_target clamp`];
    report(`${label}: SRI receives our frames byte-exact and both sides read the same fields`, [
      ...compareTraffic(sri.lines, peer?.sent ?? [], received),
      ...targetProblems,
    ]);
  } finally {
    sri.kill();
    peer?.close();
  }

  // Negative: our initiator pinned to another authority must refuse SRI's certificate.
  const sri2 = startHarness([...args.slice(0, -2), '--timeout-ms', '10000']);
  let peer2: NoisePeer | undefined;
  try {
    const problems: string[] = [];
    try {
      const listening = await sri2.waitFor((l) => l['event'] === 'listening', STEP_TIMEOUT_MS, 'the SRI responder to listen');
      peer2 = await connectTestInitiator({ port: listening['port'], provider, random: systemRandom, authorityXOnly: otherKeys.publicKeyXOnly, timeoutMs: STEP_TIMEOUT_MS });
      await peer2.handshake(STEP_TIMEOUT_MS);
      problems.push('our initiator accepted a certificate signed by a key it did not pin');
    } catch (error) {
      const message = (error as Error).message;
      if (!/certificate/i.test(message)) problems.push(`failure is not a certificate rejection: ${message}`);
    }
    report(`${label}: our initiator pinned to a different authority key refuses SRI's certificate`, problems);
  } finally {
    peer2?.close();
    sri2.kill();
  }
}

// ---- main -----------------------------------------------------------------------------------

function build(): boolean {
  console.log(`# building ${HARNESS_DIR} (cargo build --release --locked, target dir ${HARNESS_TARGET_DIR})`);
  const started = Date.now();
  const result = spawnSync('cargo', ['build', '--release', '--locked', '--target-dir', HARNESS_TARGET_DIR], { cwd: HARNESS_DIR, stdio: 'inherit', timeout: BUILD_TIMEOUT_MS });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.error !== undefined) {
    report(`build sri-harness`, [`cargo could not run: ${result.error.message} (is Rust installed? see conformance/interop/README.md)`]);
    return false;
  }
  report(`build sri-harness (${seconds} s)`, result.status === 0 && existsSync(HARNESS_BIN) ? [] : [`cargo exit ${result.status}`]);
  return result.status === 0 && existsSync(HARNESS_BIN);
}

const CHECK_LETTERS = ['a', 'b', 'c', 'd', 'e', 'g', 'h'] as const;

/** RG_INTEROP_ONLY parsed: null = every check; else the selected letters (see the header). */
function onlyChecks(raw: string | undefined): Set<string> | null {
  if (raw === undefined || raw.trim() === '') return null;
  const letters = raw.split(/[\s,]+/).filter((l) => l !== '').map((l) => l.toLowerCase());
  const unknown = letters.filter((l) => !(CHECK_LETTERS as readonly string[]).includes(l));
  if (unknown.length > 0) throw new Error(`RG_INTEROP_ONLY=${raw}: unknown check ${unknown.join(', ')} (known: ${CHECK_LETTERS.join(', ')})`);
  return new Set(letters);
}

async function main(): Promise<void> {
  let only: Set<string> | null;
  try {
    only = onlyChecks(process.env['RG_INTEROP_ONLY']);
  } catch (error) {
    report('RG_INTEROP_ONLY names known checks', [(error as Error).message]);
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = 1;
    return;
  }
  const runs = (...letters: string[]): boolean => only === null || letters.some((l) => only.has(l));
  if (only !== null) console.log(`# RG_INTEROP_ONLY: running only (${[...only].join('), (')})`);
  const watchdog = setTimeout(() => {
    console.log(`FAIL interop run exceeded ${RUN_TIMEOUT_MS} ms`);
    console.log(`${passed} passed, ${failed + 1} failed`);
    process.exit(1);
  }, RUN_TIMEOUT_MS);
  watchdog.unref();

  if (runs('a', 'b', 'c', 'd', 'e') && build()) {
    const keys = generateAuthorityKeyPair(systemRandom);
    const otherKeys = generateAuthorityKeyPair(systemRandom);
    console.log(`# authority key ${keys.publicKey}; seed ${seed}; providers: ${availableProviders().map((p) => p.name).join(', ')} (auto: ${selectCryptoProvider().name})`);
    const providers = availableProviders();
    // A bug in this driver must show up as a failed check with the summary line, not a crash.
    if (runs('a')) for (const provider of providers) await check(`(a) [${provider.name}] ran to the end`, async () => (await sriInitiatorAgainstOurResponder(provider, keys, otherKeys), []));
    if (runs('b')) for (const provider of providers) await check(`(b) [${provider.name}] ran to the end`, async () => (await ourInitiatorAgainstSriResponder(provider, keys, otherKeys), []));
    if (runs('c')) await check('(c) codec cross-check ran to the end', async () => (await codecCrossCheck(), []));
    // (d) SRI channels_sv2 extended-channel shares and (e) SRI's translator with our SV1 miner,
    // both against an in-process gateway (gateway-interop.ts).
    if (runs('d', 'e')) await check('(d)+(e) gateway interop ran to the end', async () => (await gatewayInterop(report, HARNESS_BIN, keys, selectCryptoProvider()), []));
  }
  // (g) SRI's pool_sv2 and jd_client_sv2 on our Template Provider, with btcd (tp-interop.ts). It
  // needs no harness build, so it runs even when the harness did not build.
  if (runs('g')) await check('(g) Template Provider interop ran to the end', async () => (await templateProviderInterop(report, selectCryptoProvider()), []));
  // (h) SRI's jd_client_sv2 FULLTEMPLATE with ReserveGrid as TP, pool and JDS (jds-interop.ts).
  if (runs('h')) await check('(h) Job Declaration interop ran to the end', async () => (await jobDeclarationInterop(report, selectCryptoProvider()), []));
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

await main();
