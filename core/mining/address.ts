// Payout destinations as operators write them (issue 14 item 6): a Bitcoin address, or an SRI
// `coinbase_reward_script` descriptor `addr(<address>)` / `raw(<hex>)`, turned into the
// scriptPubKey the coinbase pays. Pure: the config schema (core/config/schema.ts) validates with
// these functions and the job factory and policy engine read the scripts through payoutScript().
//
//   - Segwit (BIP173 / BIP350): bech32 for witness version 0, bech32m for versions 1..16 (a v0
//     address with a bech32m checksum or a v1+ one with bech32 is invalid, BIP350 §"Addresses
//     for segregated witness outputs"), lower or upper case but never mixed, at most 90
//     characters, program 2..40 bytes and exactly 20 or 32 for v0 (BIP141). scriptPubKey:
//     OP_n ‖ push(program).
//   - Base58check P2PKH / P2SH: version 0x00 / 0x05 on mainnet, 0x6f / 0xc4 on the test chains,
//     20-byte hash, 4-byte double-SHA-256 checksum.
//   - Descriptors (BIP380): `addr(A)` and `raw(HEX)` with an optional `#` + 8-character
//     checksum, which is verified when present (SRI accepts both forms; pool_sv2 0.7.0's example
//     configs use `addr(...)` without one). Key descriptors (`wpkh(...)`, `tr(...)`, xpubs)
//     are refused with a pointer to `addr(...)`: they need key derivation we do not do.
//
// Networks: a bech32 HRP names one chain class (`bc` mainnet, `tb` testnet3/testnet4/signet,
// `bcrt` regtest); base58 versions cannot tell testnet, signet and regtest apart.
import { bech32, bech32m, createBase58check } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '../bytes.ts';

export type BitcoinNetwork = 'mainnet' | 'testnet' | 'testnet4' | 'signet' | 'regtest';
export const BITCOIN_NETWORKS: readonly BitcoinNetwork[] = ['mainnet', 'testnet', 'testnet4', 'signet', 'regtest'];

const _TEST_CHAINS: readonly BitcoinNetwork[] = ['testnet', 'testnet4', 'signet'];
const _HRP_NETWORKS: Readonly<Record<string, readonly BitcoinNetwork[]>> = {
  bc: ['mainnet'],
  tb: _TEST_CHAINS,
  bcrt: ['regtest'],
};

/** What a payout destination decodes to. `networks` null: raw script, valid on any chain. */
export interface PayoutDestination {
  readonly scriptPubKey: Uint8Array;
  readonly networks: readonly BitcoinNetwork[] | null;
  readonly kind: 'p2pkh' | 'p2sh' | `segwit_v${number}` | 'raw';
}

export type DecodeResult = { readonly ok: true; readonly value: PayoutDestination } | { readonly ok: false; readonly message: string };

const _fail = (message: string): DecodeResult => ({ ok: false, message });

/** BIP173: the longest valid bech32 string. */
const BECH32_CHARS_MAX = 90;
const WITNESS_PROGRAM_BYTES_MIN = 2;
const WITNESS_PROGRAM_BYTES_MAX = 40;
const OP_0 = 0x00;
const OP_1 = 0x51;

const _base58check = createBase58check(sha256);

/** A Bitcoin address (segwit bech32/bech32m, or base58check P2PKH/P2SH) → its scriptPubKey. */
export function decodeAddress(text: string): DecodeResult {
  if (typeof text !== 'string') throw new TypeError(`decodeAddress: text must be a string, got ${typeof text}`);
  if (text === '') return _fail('empty address');
  const lower = text.toLowerCase();
  const separator = lower.lastIndexOf('1');
  const hrp = separator > 0 ? lower.slice(0, separator) : '';
  if (hrp in _HRP_NETWORKS) return _decodeSegwit(text, lower, hrp);
  const base58 = _decodeBase58(text);
  if (base58.ok) return base58;
  // Shaped like bech32 (hrp, '1', data of the bech32 alphabet) but with an HRP of no chain.
  if (separator > 0 && /^[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{6,}$/.test(lower.slice(separator + 1))) {
    return _fail(`bech32 human-readable part "${hrp}" is not a Bitcoin chain's (bc mainnet, tb testnet/signet, bcrt regtest)`);
  }
  return base58;
}

function _decodeSegwit(text: string, lower: string, hrp: string): DecodeResult {
  if (text !== lower && text !== text.toUpperCase()) return _fail('mixed upper and lower case (BIP173 allows one or the other)');
  if (lower.length > BECH32_CHARS_MAX) return _fail(`${lower.length} characters, more than bech32's ${BECH32_CHARS_MAX}`);
  const asBech32 = bech32.decodeUnsafe(lower, BECH32_CHARS_MAX);
  const asBech32m = bech32m.decodeUnsafe(lower, BECH32_CHARS_MAX);
  const decoded = asBech32 || asBech32m;
  if (!decoded) return _fail('invalid bech32/bech32m checksum or character');
  const [version, ...data] = decoded.words;
  if (version === undefined) return _fail('empty data section (no witness version)');
  if (version > 16) return _fail(`witness version ${version} (0..16)`);
  // BIP350: v0 keeps bech32, v1..16 use bech32m; the other pairing is a checksum error.
  if (version === 0 && !asBech32) return _fail('witness version 0 with a bech32m checksum (v0 uses bech32, BIP350)');
  if (version > 0 && !asBech32m) return _fail(`witness version ${version} with a bech32 checksum (v1+ uses bech32m, BIP350)`);
  const program = bech32.fromWordsUnsafe(data);
  if (!program) return _fail('invalid padding in the witness program (BIP173: at most 4 zero bits)');
  if (program.length < WITNESS_PROGRAM_BYTES_MIN || program.length > WITNESS_PROGRAM_BYTES_MAX) {
    return _fail(`witness program of ${program.length} bytes (${WITNESS_PROGRAM_BYTES_MIN}..${WITNESS_PROGRAM_BYTES_MAX})`);
  }
  if (version === 0 && program.length !== 20 && program.length !== 32) return _fail(`witness v0 program of ${program.length} bytes (20 or 32, BIP141)`);
  const script = new Uint8Array(2 + program.length);
  script[0] = version === 0 ? OP_0 : OP_1 + version - 1;
  script[1] = program.length;
  script.set(program, 2);
  return { ok: true, value: { scriptPubKey: script, networks: _HRP_NETWORKS[hrp]!, kind: `segwit_v${version}` } };
}

function _decodeBase58(text: string): DecodeResult {
  let payload: Uint8Array;
  try {
    payload = _base58check.decode(text);
  } catch {
    return _fail('not a valid bech32 or base58check Bitcoin address (bad character or checksum)');
  }
  if (payload.length !== 21) return _fail(`base58check payload of ${payload.length} bytes (21 for P2PKH/P2SH)`);
  const hash = payload.subarray(1);
  const version = payload[0]!;
  const networks: readonly BitcoinNetwork[] = version === 0x00 || version === 0x05 ? ['mainnet'] : [..._TEST_CHAINS, 'regtest'];
  if (version === 0x00 || version === 0x6f) {
    return { ok: true, value: { scriptPubKey: hexToBytes(`76a914${bytesToHex(hash)}88ac`), networks, kind: 'p2pkh' } };
  }
  if (version === 0x05 || version === 0xc4) {
    return { ok: true, value: { scriptPubKey: hexToBytes(`a914${bytesToHex(hash)}87`), networks, kind: 'p2sh' } };
  }
  return _fail(`base58check version byte 0x${version.toString(16).padStart(2, '0')} is not P2PKH or P2SH (0x00/0x05 mainnet, 0x6f/0xc4 test chains)`);
}

// ---- descriptors (BIP380) -------------------------------------------------------------------

const _INPUT_CHARSET = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";
const _CHECKSUM_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const _GENERATOR = [0xf5dee51989n, 0xa9fdca3312n, 0x1bab10e32dn, 0x3706b1677an, 0x644d626ffdn] as const;
const DESCRIPTOR_CHECKSUM_CHARS = 8;

/** BIP380 checksum of a descriptor (without its `#...`); undefined if a character is outside the input charset. */
export function descriptorChecksum(descriptor: string): string | undefined {
  // BIP380 "Checksum": each character is a 5-bit symbol plus a group number, 3 groups per symbol.
  const symbols: number[] = [];
  const groups: number[] = [];
  for (const ch of descriptor) {
    const v = _INPUT_CHARSET.indexOf(ch);
    if (v < 0) return undefined;
    symbols.push(v & 31);
    groups.push(v >> 5);
    if (groups.length === 3) {
      symbols.push(groups[0]! * 9 + groups[1]! * 3 + groups[2]!);
      groups.length = 0;
    }
  }
  if (groups.length === 1) symbols.push(groups[0]!);
  else if (groups.length === 2) symbols.push(groups[0]! * 3 + groups[1]!);
  for (let i = 0; i < DESCRIPTOR_CHECKSUM_CHARS; i++) symbols.push(0);
  let chk = 1n;
  for (const value of symbols) {
    const top = chk >> 35n;
    chk = ((chk & 0x7ffffffffn) << 5n) ^ BigInt(value);
    for (let i = 0; i < 5; i++) if ((top >> BigInt(i)) & 1n) chk ^= _GENERATOR[i]!;
  }
  chk ^= 1n;
  let out = '';
  for (let i = 0; i < DESCRIPTOR_CHECKSUM_CHARS; i++) out += _CHECKSUM_CHARSET[Number((chk >> BigInt(5 * (7 - i))) & 31n)];
  return out;
}

/** SRI's `coinbase_reward_script` forms `addr(<address>)` and `raw(<hex>)`, optionally `#<checksum>`. */
export function decodeDescriptor(text: string): DecodeResult {
  if (typeof text !== 'string') throw new TypeError(`decodeDescriptor: text must be a string, got ${typeof text}`);
  const hash = text.lastIndexOf('#');
  const body = hash >= 0 ? text.slice(0, hash) : text;
  for (const ch of body) if (!_INPUT_CHARSET.includes(ch)) return _fail(`character ${JSON.stringify(ch)} is not allowed in a descriptor (BIP380)`);
  if (hash >= 0) {
    const given = text.slice(hash + 1);
    if (given.length !== DESCRIPTOR_CHECKSUM_CHARS) return _fail(`descriptor checksum of ${given.length} characters (${DESCRIPTOR_CHECKSUM_CHARS} expected, or none)`);
    const expected = descriptorChecksum(body)!;
    if (given !== expected) return _fail(`descriptor checksum ${given} does not match ${expected}`);
  }
  const m = /^([a-z_]+)\((.*)\)$/s.exec(body);
  if (!m) return _fail('not a descriptor: expected addr(<address>) or raw(<hex>)');
  const [, name, argument] = m as unknown as [string, string, string];
  if (name !== 'addr' && name !== 'raw') {
    return _fail(`descriptor ${name}(...) is not supported: use addr(<address>) or raw(<script hex>) (key descriptors need derivation this gateway does not do)`);
  }
  if (argument.includes(',') || argument.includes('(')) return _fail(`${name}(...) takes exactly one argument`);
  if (name === 'addr') {
    const address = decodeAddress(argument);
    return address.ok ? address : _fail(`addr(${argument}): ${address.message}`);
  }
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(argument)) {
    return _fail(argument === '' ? 'raw() is the empty script: anyone could spend the payout' : `raw(${argument}): not an even-length hex string`);
  }
  return { ok: true, value: { scriptPubKey: hexToBytes(argument.toLowerCase()), networks: null, kind: 'raw' } };
}

/** The scriptPubKey of one `mining.payout` entry (exactly one of its three forms is set; the schema checks). */
export function payoutScript(entry: { readonly script_hex?: string; readonly address?: string; readonly descriptor?: string }): Uint8Array {
  if (entry.script_hex !== undefined) return hexToBytes(entry.script_hex);
  const decoded = entry.address !== undefined ? decodeAddress(entry.address) : entry.descriptor !== undefined ? decodeDescriptor(entry.descriptor) : undefined;
  if (decoded === undefined) throw new TypeError('payoutScript: the entry sets none of script_hex, address, descriptor');
  if (!decoded.ok) throw new RangeError(`payoutScript: ${decoded.message}`);
  return decoded.value.scriptPubKey;
}
