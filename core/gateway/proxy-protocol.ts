// PROXY protocol version 2 (issue 13 item 3; SPEC §15 "gateways behind a TCP load balancer"):
// a load balancer such as HAProxy (`send-proxy-v2`) writes one binary header at the start of the
// TCP stream, before the miner's first byte, naming the miner's real address. The gateway reads
// it before the Noise handshake and uses that address for the per-IP limits, events and logs.
//
// Spec: haproxy's doc/proxy-protocol.txt, section 2.2 "Binary header format (version 2)":
//   bytes  0..11  signature  \x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A  ("\r\n\r\n\0\r\nQUIT\n")
//   byte  12      version (high nibble, must be 0x2) | command (low nibble: 0x0 LOCAL, 0x1 PROXY;
//                 "the receiver must drop connections presenting unexpected values here")
//   byte  13      address family (high nibble: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) | transport
//                 (low nibble: 0 UNSPEC, 1 STREAM, 2 DGRAM); other values "must be rejected as
//                 invalid by receivers"
//   bytes 14..15  length of what follows (addresses + TLVs), network byte order
//   then          INET: src addr 4, dst addr 4, src port 2, dst port 2 (12 bytes)
//                 INET6: src 16, dst 16, ports 2 + 2 (36 bytes); UNIX: src 108, dst 108 (216)
//                 TLVs until `length` is used up: type 1 byte, length 2 bytes (big endian), value
// - LOCAL (section 2.2: "the connection was established on purpose by the proxy without being
//   relayed", e.g. health checks): the receiver uses the real connection endpoints and ignores
//   the address block, whatever the family says.
// - PROXY with UNSPEC family: also "use the real connection endpoints". With UNIX family there is
//   no IP to apply per-IP limits to, so we do the same (the balancer's address stays in force).
// - TLVs (section 2.2.x: ALPN, AUTHORITY, CRC32C, UNIQUE_ID, SSL, NETNS, NOOP, custom) carry
//   nothing the gateway needs; each is bounds-checked and skipped. A TLV that runs past the
//   announced length is a malformed header.
//
// "Need more bytes" is a value (STYLE.md #5): the parser never decides before the bytes that
// decide have arrived, and it never reads past the announced length, so the bytes after the
// header (the miner's Noise act 1) are the caller's, unread. The parser is stateless: call it
// again with the longer prefix (headers are small and arrive in one segment in practice).
//
// Bounded (STYLE.md #8): a header longer than `headerBytesMax` is refused as soon as its length
// field arrives, so a peer cannot make us buffer 64 KiB per connection before anything is known.
import type { ReasonCode } from '../reason-codes.ts';

/** The 12-byte v2 signature (section 2.2). */
export const PROXY_V2_SIGNATURE: Uint8Array = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Fixed part: signature, ver/cmd, fam/transport, length. */
export const PROXY_V2_FIXED_BYTES = 16;
/**
 * Default bound on a whole v2 header. Addresses take at most 216 bytes (UNIX); HAProxy's own
 * TLVs (ALPN, authority, unique id ≤ 128 bytes, SSL with version/cipher/key names) stay well under
 * a kilobyte; 2048 leaves room and still bounds the per-connection buffer.
 */
export const PROXY_V2_HEADER_BYTES_MAX_DEFAULT = 2048;

/** v1 (text) starts with "PROXY " (section 2.1). */
const _V1_PREFIX = new Uint8Array([0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]);

const _ADDRESS_BYTES = { inet: 12, inet6: 36, unix: 216 } as const;

export type ProxyRefusal = Extract<ReasonCode, 'proxy_header_invalid' | 'proxy_header_v1' | 'proxy_header_too_large'>;

export interface ProxyEndpoint {
  /** IPv4 dotted quad, or IPv6 in RFC 5952 text (lower case, longest zero run as `::`). */
  readonly address: string;
  readonly port: number;
}

export type ProxyHeaderResult =
  /** Not enough bytes to decide; at least `bytesNeeded` more are needed. */
  | { readonly kind: 'need_more'; readonly bytesNeeded: number }
  /** A PROXY command with an INET/INET6 address block: the real client is `source`. */
  | {
      readonly kind: 'proxied';
      readonly headerBytes: number;
      readonly family: 'inet' | 'inet6';
      readonly source: ProxyEndpoint;
      readonly destination: ProxyEndpoint;
      readonly tlvCount: number;
    }
  /**
   * LOCAL command (health check, section 2.2), or PROXY with UNSPEC/UNIX family: keep the
   * socket's own address. `command` says which.
   */
  | { readonly kind: 'local'; readonly headerBytes: number; readonly command: 'local' | 'proxy'; readonly family: 'unspec' | 'inet' | 'inet6' | 'unix'; readonly tlvCount: number }
  | { readonly kind: 'refused'; readonly code: ProxyRefusal; readonly message: string };

export interface ProxyParseOptions {
  /** Largest whole header accepted (fixed 16 bytes + length). Default PROXY_V2_HEADER_BYTES_MAX_DEFAULT. */
  readonly headerBytesMax?: number;
}

/**
 * Parse the v2 header at the start of `bytes` (the connection's first bytes so far). Never
 * throws on any input; misuse (a bad bound) throws RangeError.
 */
export function parseProxyHeaderV2(bytes: Uint8Array, options: ProxyParseOptions = {}): ProxyHeaderResult {
  const headerBytesMax = options.headerBytesMax ?? PROXY_V2_HEADER_BYTES_MAX_DEFAULT;
  if (!Number.isInteger(headerBytesMax) || headerBytesMax < PROXY_V2_FIXED_BYTES + _ADDRESS_BYTES.inet6) {
    throw new RangeError(`parseProxyHeaderV2: headerBytesMax must be an integer >= ${PROXY_V2_FIXED_BYTES + _ADDRESS_BYTES.inet6}, got ${headerBytesMax}`);
  }
  // 1. Signature, judged byte by byte as it arrives: a mismatch is known at its first wrong byte.
  const signature = _matchPrefix(bytes, PROXY_V2_SIGNATURE);
  if (signature === 'mismatch') {
    // v1 text when v2 is configured is its own refusal (an operator mixed up send-proxy and
    // send-proxy-v2); anything else is garbage.
    if (_matchPrefix(bytes, _V1_PREFIX) !== 'mismatch') {
      return bytes.length >= _V1_PREFIX.length
        ? { kind: 'refused', code: 'proxy_header_v1', message: 'PROXY protocol v1 (text) header; this listener expects v2 (HAProxy: send-proxy-v2)' }
        : { kind: 'need_more', bytesNeeded: _V1_PREFIX.length - bytes.length };
    }
    return { kind: 'refused', code: 'proxy_header_invalid', message: 'no PROXY protocol v2 signature at the start of the connection' };
  }
  if (bytes.length < PROXY_V2_FIXED_BYTES) return { kind: 'need_more', bytesNeeded: PROXY_V2_FIXED_BYTES - bytes.length };

  // 2. Version and command (byte 12).
  const verCmd = bytes[12]!;
  if (verCmd >> 4 !== 0x2) return _invalid(`version ${verCmd >> 4} (byte 12 = 0x${_hex(verCmd)}); only version 2 is defined`);
  const commandBits = verCmd & 0x0f;
  if (commandBits > 0x1) return _invalid(`command 0x${commandBits.toString(16)} (byte 12 = 0x${_hex(verCmd)}); LOCAL (0) and PROXY (1) are defined`);
  const command = commandBits === 0 ? 'local' : 'proxy';

  // 3. Family and transport (byte 13).
  const famTrans = bytes[13]!;
  const familyBits = famTrans >> 4;
  const transportBits = famTrans & 0x0f;
  if (familyBits > 0x3) return _invalid(`address family 0x${familyBits.toString(16)} (byte 13 = 0x${_hex(famTrans)})`);
  if (transportBits > 0x2) return _invalid(`transport protocol 0x${transportBits.toString(16)} (byte 13 = 0x${_hex(famTrans)})`);
  const family = (['unspec', 'inet', 'inet6', 'unix'] as const)[familyBits]!;

  // 4. Length (bytes 14..15), bounded before anything is buffered for it.
  const length = (bytes[14]! << 8) | bytes[15]!;
  const headerBytes = PROXY_V2_FIXED_BYTES + length;
  if (headerBytes > headerBytesMax) {
    return { kind: 'refused', code: 'proxy_header_too_large', message: `header announces ${headerBytes} bytes, over the limit of ${headerBytesMax}` };
  }
  // A PROXY command's address block must fit in the announced length (LOCAL ignores it).
  const addressBytes = command === 'proxy' && family !== 'unspec' ? _ADDRESS_BYTES[family] : 0;
  if (length < addressBytes) return _invalid(`length ${length} is shorter than the ${family} address block (${addressBytes} bytes)`);
  if (bytes.length < headerBytes) return { kind: 'need_more', bytesNeeded: headerBytes - bytes.length };

  // 5. TLVs after the address block, bounds-checked and skipped. For LOCAL the spec says to
  // discard the block "including the family", so a LOCAL header's body is not inspected.
  let tlvCount = 0;
  if (command === 'proxy') {
    const start = PROXY_V2_FIXED_BYTES + (family === 'unspec' ? 0 : _ADDRESS_BYTES[family]);
    // UNSPEC: "the receiver should ignore address information"; its body may be anything, so
    // TLVs are only walked after a real address block.
    if (family !== 'unspec') {
      for (let at = start; at < headerBytes; ) {
        if (headerBytes - at < 3) return _invalid(`TLV header at byte ${at} runs past the header end (${headerBytes})`);
        const valueBytes = (bytes[at + 1]! << 8) | bytes[at + 2]!;
        if (at + 3 + valueBytes > headerBytes) return _invalid(`TLV type 0x${_hex(bytes[at]!)} at byte ${at} announces ${valueBytes} bytes, past the header end (${headerBytes})`);
        at += 3 + valueBytes;
        tlvCount++;
      }
    }
  }

  if (command === 'local' || family === 'unspec' || family === 'unix') return { kind: 'local', headerBytes, command, family, tlvCount };
  const o = PROXY_V2_FIXED_BYTES;
  if (family === 'inet') {
    return {
      kind: 'proxied',
      headerBytes,
      family,
      source: { address: _ipv4(bytes, o), port: _u16(bytes, o + 8) },
      destination: { address: _ipv4(bytes, o + 4), port: _u16(bytes, o + 10) },
      tlvCount,
    };
  }
  return {
    kind: 'proxied',
    headerBytes,
    family,
    source: { address: formatIpv6(bytes.subarray(o, o + 16)), port: _u16(bytes, o + 32) },
    destination: { address: formatIpv6(bytes.subarray(o + 16, o + 32)), port: _u16(bytes, o + 34) },
    tlvCount,
  };
}

/**
 * For peers NOT trusted to send a header: do the first bytes look like a PROXY header (v1 or
 * v2)? 'maybe' while they are a prefix of either signature. A 'yes' is refused
 * (`proxy_untrusted_source`): an untrusted client must not choose the address we account it by.
 */
export function looksLikeProxyHeader(bytes: Uint8Array): 'yes' | 'no' | 'maybe' {
  const v2 = _matchPrefix(bytes, PROXY_V2_SIGNATURE);
  const v1 = _matchPrefix(bytes, _V1_PREFIX);
  if (v2 === 'match' || v1 === 'match') return 'yes';
  if (v2 === 'prefix' || v1 === 'prefix') return 'maybe';
  return 'no';
}

/** Build a v2 header (tests, and the example in docs/scaling.md). Addresses as parsed above. */
export function encodeProxyHeaderV2(spec: {
  readonly command: 'local' | 'proxy';
  readonly family: 'unspec' | 'inet' | 'inet6';
  readonly source?: ProxyEndpoint;
  readonly destination?: ProxyEndpoint;
  readonly tlvs?: readonly { readonly type: number; readonly value: Uint8Array }[];
}): Uint8Array {
  const addr: number[] = [];
  if (spec.family !== 'unspec') {
    const src = spec.source;
    const dst = spec.destination;
    if (src === undefined || dst === undefined) throw new TypeError('encodeProxyHeaderV2: source and destination are required for inet/inet6');
    const parse = spec.family === 'inet' ? _parseIpv4 : parseIpv6;
    addr.push(...parse(src.address), ...parse(dst.address), src.port >> 8, src.port & 0xff, dst.port >> 8, dst.port & 0xff);
  }
  for (const tlv of spec.tlvs ?? []) addr.push(tlv.type, tlv.value.length >> 8, tlv.value.length & 0xff, ...tlv.value);
  const familyBits = { unspec: 0, inet: 1, inet6: 2 }[spec.family];
  const out = new Uint8Array(PROXY_V2_FIXED_BYTES + addr.length);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = 0x20 | (spec.command === 'proxy' ? 1 : 0);
  out[13] = (familyBits << 4) | (spec.family === 'unspec' ? 0 : 1);
  out[14] = addr.length >> 8;
  out[15] = addr.length & 0xff;
  out.set(addr, PROXY_V2_FIXED_BYTES);
  return out;
}

// ---- trusted sources ---------------------------------------------------------------------------

/** One trusted source: an address or a CIDR block, IPv4 or IPv6. */
export interface CidrBlock {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly prefixBits: number;
}

/** `10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`, `::1`; undefined when not one of those. */
export function parseCidr(text: string): CidrBlock | undefined {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const isV6 = addressText.includes(':');
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(isV6 ? parseIpv6(addressText) : _parseIpv4(addressText));
  } catch {
    return undefined;
  }
  const maxBits = isV6 ? 128 : 32;
  let prefixBits = maxBits;
  if (slash >= 0) {
    const bitsText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > maxBits) return undefined;
    prefixBits = Number(bitsText);
  }
  return { family: isV6 ? 6 : 4, bytes, prefixBits };
}

/**
 * Does `ip` (an adapter's address text without the port; IPv4-mapped IPv6 `::ffff:a.b.c.d`
 * counts as IPv4) fall in any of `blocks`?
 */
export function cidrContains(blocks: readonly CidrBlock[], ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const text = mapped ? mapped[1]! : ip;
  const block = parseCidr(text);
  if (block === undefined) return false;
  for (const b of blocks) {
    if (b.family !== block.family) continue;
    if (_prefixEqual(b.bytes, block.bytes, b.prefixBits)) return true;
  }
  return false;
}

// ---- addresses ---------------------------------------------------------------------------------

/** RFC 5952 text of 16 bytes: lower-case hex, leading zeros dropped, the longest run (≥ 2) of zero groups as `::`. */
export function formatIpv6(b: Uint8Array): string {
  if (b.length !== 16) throw new RangeError(`formatIpv6: need 16 bytes, got ${b.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // IPv4-mapped (::ffff:a.b.c.d) is shown as the runtimes show it, so per-IP limits fold it to IPv4.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** 16 bytes of an IPv6 text (with `::` and an optional dotted IPv4 tail); throws RangeError when invalid. */
export function parseIpv6(text: string): number[] {
  let head = text;
  let tail: number[] = [];
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    head = dotted[1]!.endsWith('::') ? dotted[1]! : dotted[1]!.slice(0, -1);
    tail = _parseIpv4(dotted[2]!);
  }
  const groupsWanted = 8 - tail.length / 2;
  const halves = head.split('::');
  if (halves.length > 2) throw new RangeError(`not an IPv6 address: ${JSON.stringify(text)}`);
  const parseGroups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new RangeError(`not an IPv6 address: ${JSON.stringify(text)}`);
    return parseInt(g, 16);
  }));
  const left = parseGroups(halves[0]!);
  const right = halves.length === 2 ? parseGroups(halves[1]!) : [];
  const missing = groupsWanted - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) throw new RangeError(`not an IPv6 address: ${JSON.stringify(text)}`);
  const groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  return [...groups.flatMap((g) => [g >> 8, g & 0xff]), ...tail];
}

function _parseIpv4(text: string): number[] {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) {
    throw new RangeError(`not an IPv4 address: ${JSON.stringify(text)}`);
  }
  return parts.map(Number);
}

function _prefixEqual(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

function _matchPrefix(bytes: Uint8Array, expected: Uint8Array): 'match' | 'prefix' | 'mismatch' {
  const n = Math.min(bytes.length, expected.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== expected[i]) return 'mismatch';
  return bytes.length >= expected.length ? 'match' : 'prefix';
}

const _ipv4 = (b: Uint8Array, at: number): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
const _u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const _hex = (x: number): string => x.toString(16).padStart(2, '0');
const _invalid = (message: string): ProxyHeaderResult => ({ kind: 'refused', code: 'proxy_header_invalid', message });
