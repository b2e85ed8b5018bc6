// Payout as an address or SRI descriptor (issue 14 item 6): core/mining/address.ts against the
// BIP173/BIP350 segwit vectors and SRI's own descriptor vectors (test/fixtures/bitcoin-addresses.json,
// sources in test/fixtures/README.md), then through the config schema (errors name key, value
// and expectation; networks) into the coinbase the gateway builds.
import { readFileSync } from 'node:fs';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { bech32, createBase58check } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { bytesToHex, hexToBytes } from '../../core/bytes.ts';
import { decodeAddress, decodeDescriptor, descriptorChecksum, payoutScript } from '../../core/mining/address.ts';
import { formatProblem, loadConfig, type LoadResult } from '../../core/config/index.ts';
import { payoutFromConfig } from '../../core/channels/job-factory.ts';

interface Group<T extends unknown[]> {
  readonly source: string;
  readonly vectors: T[];
}
const fixtures = JSON.parse(readFileSync(new URL('../fixtures/bitcoin-addresses.json', import.meta.url), 'utf8')) as {
  bip350_valid_segwit: Group<[string, string]>;
  bip350_invalid_segwit: Group<[string, string]>;
  bip173_invalid_segwit: Group<[string, string]>;
  sri_descriptors_valid: Group<[string, string]>;
  sri_descriptors_invalid: Group<[string, string]>;
  sri_pool_examples: Group<[string, string]>;
};
const exampleText = readFileSync(new URL('../../deploy/config/example.toml', import.meta.url), 'utf8');

function load(mining: Record<string, unknown>): LoadResult {
  const tree = parseToml(exampleText) as Record<string, Record<string, unknown>>;
  delete tree['mining']!['network'];
  Object.assign(tree['mining']!, mining);
  return loadConfig({ tomlText: stringifyToml(tree), fileName: 'test.toml', env: {} });
}

function problemsOf(result: LoadResult): string[] {
  return result.ok ? [] : result.problems.map(formatProblem);
}

describe('payout addresses: vectors', () => {
  test('BIP350 valid segwit addresses (v0..v16) decode to the BIP\'s scriptPubKey', () => {
    assert.equal(fixtures.bip350_valid_segwit.vectors.length, 8);
    for (const [address, script] of fixtures.bip350_valid_segwit.vectors) {
      const r = decodeAddress(address);
      assert.ok(r.ok, `${address}: ${r.ok ? '' : r.message}`);
      assert.equal(bytesToHex(r.value.scriptPubKey), script, address);
    }
  });

  test('BIP173 and BIP350 invalid segwit addresses are refused, each with a reason', () => {
    const vectors = [...fixtures.bip173_invalid_segwit.vectors, ...fixtures.bip350_invalid_segwit.vectors];
    assert.equal(vectors.length, 25);
    for (const [address, why] of vectors) {
      const r = decodeAddress(address);
      assert.ok(!r.ok, `${address} (${why}) must be refused`);
      assert.ok(r.message.length > 10, `${address}: says why`);
    }
    // The reasons follow the BIP's where they are specific.
    const reason = (a: string): string => {
      const r = decodeAddress(a);
      return r.ok ? 'ok' : r.message;
    };
    assert.match(reason('tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty'), /human-readable part "tc"/);
    assert.match(reason('bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh'), /version 0 with a bech32m checksum/);
    assert.match(reason('bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd'), /version 1 with a bech32 checksum/);
    assert.match(reason('tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq'), /mixed upper and lower case/);
    assert.match(reason('BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P'), /v0 program of 16 bytes/);
    assert.match(reason('bc1gmk9yu'), /empty data section/);
  });

  test('SRI descriptor vectors: addr(...) and raw(...), with and without the BIP380 checksum', () => {
    for (const [descriptor, script] of fixtures.sri_descriptors_valid.vectors) {
      const r = decodeDescriptor(descriptor);
      assert.ok(r.ok, `${descriptor}: ${r.ok ? '' : r.message}`);
      assert.equal(bytesToHex(r.value.scriptPubKey), script, descriptor);
      const hash = descriptor.indexOf('#');
      if (hash >= 0) assert.equal(descriptorChecksum(descriptor.slice(0, hash)), descriptor.slice(hash + 1), `BIP380 checksum of ${descriptor}`);
    }
    for (const [descriptor, why] of fixtures.sri_descriptors_invalid.vectors) {
      const r = decodeDescriptor(descriptor);
      assert.ok(!r.ok, `${descriptor} (SRI: ${why}) must be refused`);
    }
    const wrong = decodeDescriptor('addr(1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2)#wdnlkpe7');
    assert.ok(!wrong.ok && wrong.message === 'descriptor checksum wdnlkpe7 does not match wdnlkpe8');
    const key = decodeDescriptor('wpkh(0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798)');
    assert.ok(!key.ok && /wpkh\(\.\.\.\) is not supported: use addr/.test(key.message));
    const empty = decodeDescriptor('raw()');
    assert.ok(!empty.ok && /anyone could spend/.test(empty.message), 'SRI allows raw(); an empty payout script is refused here');
  });

  test('networks: HRPs and base58 versions (test-chain addresses encoded with @scure/base, not our code)', () => {
    const program = hexToBytes('751e76e8199196d454941c45d1b3a323f1433bd6');
    const networksOf = (a: string): string => {
      const r = decodeAddress(a);
      return r.ok ? String(r.value.networks) : r.message;
    };
    assert.equal(networksOf('bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'), 'mainnet');
    assert.equal(networksOf(bech32.encode('tb', [0, ...bech32.toWords(program)])), 'testnet,testnet4,signet');
    const regtest = bech32.encode('bcrt', [0, ...bech32.toWords(program)]);
    assert.equal(regtest, 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', 'the regtest address of test key 1 (test/support/btcd.ts)');
    assert.equal(networksOf(regtest), 'regtest');
    const b58 = createBase58check(sha256);
    const withVersion = (version: number): string => b58.encode(Uint8Array.of(version, ...program));
    assert.equal(networksOf(withVersion(0x00)), 'mainnet');
    assert.equal(networksOf(withVersion(0x05)), 'mainnet');
    assert.equal(networksOf(withVersion(0x6f)), 'testnet,testnet4,signet,regtest');
    const p2sh = decodeAddress(withVersion(0xc4));
    assert.ok(p2sh.ok && bytesToHex(p2sh.value.scriptPubKey) === 'a914751e76e8199196d454941c45d1b3a323f1433bd687');
    assert.match(networksOf(withVersion(0x30)), /version byte 0x30 is not P2PKH or P2SH/);
    for (const [descriptor, network] of fixtures.sri_pool_examples.vectors) {
      const r = decodeDescriptor(descriptor);
      assert.ok(r.ok && r.value.networks!.includes(network as never), `${descriptor} is a ${network} address`);
    }
  });
});

describe('payout addresses: config', () => {
  test('address, descriptor and script_hex entries all reach the coinbase scripts', () => {
    const r = load({
      payout: [
        { address: 'bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080', weight: 2 },
        { descriptor: 'raw(51)' },
        { script_hex: '6a' },
      ],
      network: 'regtest',
    });
    assert.ok(r.ok, problemsOf(r).join('\n'));
    assert.deepEqual(
      payoutFromConfig(r.config).map((p) => [bytesToHex(p.scriptPubKey), p.weight]),
      [['0014751e76e8199196d454941c45d1b3a323f1433bd6', 2], ['51', 1], ['6a', 1]],
    );
    assert.equal(bytesToHex(payoutScript({ descriptor: 'addr(3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy)#rsjl0crt' })), 'a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87');
  });

  test('the SRI pool example payouts load as descriptors on their own network', () => {
    for (const [descriptor, network] of fixtures.sri_pool_examples.vectors) {
      const r = load({ payout: [{ descriptor }], network });
      assert.ok(r.ok, problemsOf(r).join('\n'));
    }
  });

  test('a bad address or descriptor names the key, the value and what was expected', () => {
    assert.deepEqual(problemsOf(load({ payout: [{ address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5' }] })), [
      'mining.payout[0].address: got "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", expected Bitcoin address (bech32/bech32m segwit v0..v16, or base58 P2PKH/P2SH) (invalid bech32/bech32m checksum or character)',
    ]);
    assert.deepEqual(problemsOf(load({ payout: [{ descriptor: 'addr(1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2)#wdnlkpe7' }] })), [
      'mining.payout[0].descriptor: got "addr(1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2)#wdnlkpe7", expected descriptor addr(ADDRESS) or raw(HEX), optional #checksum (BIP380) (descriptor checksum wdnlkpe7 does not match wdnlkpe8)',
    ]);
    assert.deepEqual(problemsOf(load({ payout: [{ script_hex: '51', address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4' }] })), [
      'mining.payout: entry 0 sets script_hex and address of script_hex, address, descriptor; expected exactly one',
    ]);
  });

  test('networks: an address of another chain than mining.network is refused; unset, addresses must agree', () => {
    assert.deepEqual(problemsOf(load({ payout: [{ address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4' }], network: 'regtest' })), [
      'mining.payout: entry 0 address "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4" is an address for mainnet, but mining.network = "regtest"',
    ]);
    assert.deepEqual(problemsOf(load({ payout: [{ address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4' }, { descriptor: 'addr(tb1qa0sm0hxzj0x25rh8gw5xlzwlsfvvyz8u96w3p8)' }] })), [
      'mining.payout: entry 1 descriptor "addr(tb1qa0sm0hxzj0x25rh8gw5xlzwlsfvvyz8u96w3p8)" is for testnet/testnet4/signet but entry 0 is for mainnet; set mining.network to say which chain',
    ]);
    // A base58 test-chain address fits regtest too; raw scripts fit every chain.
    const b58 = createBase58check(sha256).encode(Uint8Array.of(0x6f, ...new Uint8Array(20)));
    assert.ok(load({ payout: [{ address: b58 }, { descriptor: 'raw(51)' }], network: 'regtest' }).ok);
    assert.ok(load({ payout: [{ address: 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4' }, { script_hex: '51' }] }).ok);
    assert.deepEqual(problemsOf(load({ payout: [{ script_hex: '51' }], network: 'bitcoin' })).map((p) => p.split(':')[0]), ['mining.network']);
  });
});
