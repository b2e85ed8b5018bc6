// PROXY protocol v2 parser (core/gateway/proxy-protocol.ts; issue 13 item 3) against byte-level
// vectors (test/fixtures/proxy-protocol-v2.json: a real HAProxy capture and headers assembled
// from haproxy's doc/proxy-protocol.txt §2.2), every prefix of every valid header ("need more
// bytes" is a value, never a verdict on bytes that have not arrived), trailing bytes left
// unread, the size bound, untrusted-peer sniffing, CIDR matching and IPv6 text. Real sockets on
// every runtime: test/integration/proxy-protocol.test.ts.
import { readFileSync } from 'node:fs';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { hexToBytes } from '../../core/bytes.ts';
import {
  PROXY_V2_SIGNATURE,
  cidrContains,
  encodeProxyHeaderV2,
  formatIpv6,
  looksLikeProxyHeader,
  parseCidr,
  parseIpv6,
  parseProxyHeaderV2,
} from '../../core/gateway/proxy-protocol.ts';

interface Vector {
  readonly name: string;
  readonly hex: string;
  readonly expect: { readonly kind: string; readonly code?: string; readonly headerBytes?: number } & Record<string, unknown>;
}

const vectors = (JSON.parse(readFileSync(new URL('../fixtures/proxy-protocol-v2.json', import.meta.url), 'utf8')) as { vectors: Vector[] }).vectors;

describe('PROXY protocol v2 parser: vectors', () => {
  test('the fixture has the cases the issue names', () => {
    const codes = new Set(vectors.map((v) => v.expect.code ?? v.expect.kind));
    for (const c of ['proxied', 'local', 'proxy_header_invalid', 'proxy_header_too_large', 'proxy_header_v1']) assert.ok(codes.has(c), `a vector for ${c}`);
  });
  for (const v of vectors) {
    test(v.name, () => {
      const bytes = hexToBytes(v.hex);
      const result = parseProxyHeaderV2(bytes);
      if (v.expect.kind === 'refused') {
        assert.equal(result.kind, 'refused', JSON.stringify(result));
        assert.equal((result as { code: string }).code, v.expect.code);
        assert.ok((result as { message: string }).message.length > 0);
        return;
      }
      assert.deepEqual(result, v.expect);
      // Every strict prefix: "need more", and never more than what completes the header.
      for (let n = 0; n < v.expect.headerBytes!; n++) {
        const partial = parseProxyHeaderV2(bytes.subarray(0, n));
        assert.equal(partial.kind, 'need_more', `prefix of ${n} bytes: ${JSON.stringify(partial)}`);
        const needed = (partial as { bytesNeeded: number }).bytesNeeded;
        assert.ok(needed >= 1 && n + needed <= v.expect.headerBytes!, `prefix ${n}: bytesNeeded ${needed}`);
      }
    });
  }
});

describe('PROXY protocol v2 parser: rules', () => {
  test('bytes after the header (the miner\'s Noise act 1) are not consumed', () => {
    const header = hexToBytes('0d0a0d0a000d0a515549540a2111000cac130001ac130003a6520050');
    const act1 = new Uint8Array(64).fill(0x5a);
    const joined = new Uint8Array(header.length + act1.length);
    joined.set(header);
    joined.set(act1, header.length);
    const r = parseProxyHeaderV2(joined);
    assert.equal(r.kind, 'proxied');
    assert.equal((r as { headerBytes: number }).headerBytes, 28);
  });

  test('the size bound is judged from the length field alone, before the body arrives', () => {
    const big = encodeProxyHeaderV2({ command: 'proxy', family: 'inet', source: { address: '192.0.2.1', port: 1 }, destination: { address: '192.0.2.2', port: 2 }, tlvs: [{ type: 0xe0, value: new Uint8Array(300) }] });
    assert.equal(parseProxyHeaderV2(big.subarray(0, 16), { headerBytesMax: 256 }).kind, 'refused');
    assert.equal((parseProxyHeaderV2(big.subarray(0, 16), { headerBytesMax: 256 }) as { code: string }).code, 'proxy_header_too_large');
    assert.equal(parseProxyHeaderV2(big, { headerBytesMax: 1024 }).kind, 'proxied');
    assert.throws(() => parseProxyHeaderV2(big, { headerBytesMax: 10 }), RangeError);
  });

  test('a wrong signature is refused at its first wrong byte (no waiting for 16 bytes)', () => {
    for (let i = 0; i < PROXY_V2_SIGNATURE.length; i++) {
      const bytes = PROXY_V2_SIGNATURE.slice(0, i + 1);
      bytes[i] = bytes[i]! ^ 0x40;
      const r = parseProxyHeaderV2(bytes);
      // "PROXY " starts with 0x50 = 0x0d ^ 0x5d, never produced here, so every flip is garbage.
      assert.equal((r as { code?: string }).code, 'proxy_header_invalid', `flip at byte ${i}: ${JSON.stringify(r)}`);
    }
  });

  test('a v1 prefix waits for "PROXY " before it is called v1', () => {
    const text = new TextEncoder().encode('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n');
    for (let n = 1; n < 6; n++) assert.equal(parseProxyHeaderV2(text.subarray(0, n)).kind, 'need_more');
    assert.equal((parseProxyHeaderV2(text.subarray(0, 6)) as { code: string }).code, 'proxy_header_v1');
    assert.equal((parseProxyHeaderV2(new TextEncoder().encode('PROXZ')) as { code: string }).code, 'proxy_header_invalid');
  });

  test('the encoder (tests only) round-trips through the parser for both families', () => {
    const v6 = encodeProxyHeaderV2({ command: 'proxy', family: 'inet6', source: { address: 'fe80::1:2', port: 65535 }, destination: { address: '::1', port: 0 } });
    assert.deepEqual(parseProxyHeaderV2(v6), { kind: 'proxied', headerBytes: 52, family: 'inet6', source: { address: 'fe80::1:2', port: 65535 }, destination: { address: '::1', port: 0 }, tlvCount: 0 });
    assert.deepEqual(parseProxyHeaderV2(encodeProxyHeaderV2({ command: 'local', family: 'unspec' })), { kind: 'local', headerBytes: 16, command: 'local', family: 'unspec', tlvCount: 0 });
  });

  test('untrusted peers: only a header prefix is waited for', () => {
    assert.equal(looksLikeProxyHeader(new Uint8Array(0)), 'maybe');
    assert.equal(looksLikeProxyHeader(PROXY_V2_SIGNATURE.subarray(0, 5)), 'maybe');
    assert.equal(looksLikeProxyHeader(PROXY_V2_SIGNATURE), 'yes');
    assert.equal(looksLikeProxyHeader(new TextEncoder().encode('PROXY TCP4')), 'yes');
    assert.equal(looksLikeProxyHeader(new TextEncoder().encode('PRO')), 'maybe');
    assert.equal(looksLikeProxyHeader(new Uint8Array([0x0d, 0x0a, 0x00])), 'no');
    assert.equal(looksLikeProxyHeader(new Uint8Array(64).fill(0xa1)), 'no');
  });
});

describe('PROXY protocol v2: trusted sources and addresses', () => {
  test('CIDR blocks and single addresses, IPv4 and IPv6, mapped IPv4 folded', () => {
    const blocks = ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1', '172.16.0.0/12'].map((t) => parseCidr(t)!);
    for (const ip of ['10.1.2.3', '192.0.2.7', '2001:db8:ffff::1', '::1', '::ffff:10.9.9.9', '172.31.255.255']) assert.ok(cidrContains(blocks, ip), ip);
    for (const ip of ['11.0.0.1', '192.0.2.8', '2001:db9::1', '::2', '172.32.0.0', '', 'not-an-ip']) assert.ok(!cidrContains(blocks, ip), ip);
    assert.ok(cidrContains([parseCidr('0.0.0.0/0')!], '203.0.113.5'));
    for (const bad of ['10.0.0.0/33', '10.0.0', '1.2.3.256', '::1/129', 'fe80:::1', '1.2.3.4/', 'x']) assert.equal(parseCidr(bad), undefined, bad);
  });

  test('IPv6 text is RFC 5952 (longest zero run, lower case, no single-group ::)', () => {
    const cases: [string, string][] = [
      ['20010db8000000000000000000000001', '2001:db8::1'],
      ['00000000000000000000000000000001', '::1'],
      ['00000000000000000000000000000000', '::'],
      ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
      ['20010db8000100000001000000000000', '2001:db8:1:0:1::'],
      ['20010db8aaaa0000bbbb0000cccc0001', '2001:db8:aaaa:0:bbbb:0:cccc:1'],
      ['fe800000000000000000000000000000', 'fe80::'],
    ];
    for (const [hex, text] of cases) {
      assert.equal(formatIpv6(hexToBytes(hex)), text);
      assert.deepEqual(parseIpv6(text), [...hexToBytes(hex)]);
    }
    assert.deepEqual(parseIpv6('::ffff:1.2.3.4'), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]);
  });
});
