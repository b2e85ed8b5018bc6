// core/template (BlockTemplate, GBT parsing, BIP141 commitment, coinbase merkle path) against
// recorded data: btcd regtest GBT/getblock output, mainnet block 100000, SRI's template vector,
// BIP173's address vector (test/fixtures/README.md says where each came from).
import { readFileSync } from 'node:fs';
import { bech32 } from '@scure/base';
import { describe, test } from '../harness.ts';
import { assert, assertHex } from '../assert.ts';
import { vectorJson } from '../../conformance/vectors.ts';
import { bytesToHex, hexToBytes, reversed } from '../../core/bytes.ts';
import { header80, headerHash } from '../../core/mining/header.ts';
import { parseGetBlockTemplate } from '../../core/template/gbt.ts';
import {
  bip34HeightPush,
  coinbaseMerklePath,
  merkleRootFromPath,
  serializeBlock,
  witnessCommitment,
  witnessCommitmentScript,
} from '../../core/template/template.ts';
import { classifySubmitBlockResult, interpretBody } from '../../adapters/bitcoind-rpc.ts';
import { TEST_MINING_KEY } from '../support/btcd.ts';

type Json = Record<string, unknown>;
const fixture = (name: string): Json => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as Json;
const internal = (displayHex: string): Uint8Array => reversed(hexToBytes(displayHex));
const clone = (value: Json): Json => JSON.parse(JSON.stringify(value)) as Json;

const gbtWithTxs = fixture('btcd-gbt-with-transactions.json');
const gbtEmpty = fixture('btcd-gbt-empty.json');
const block3 = fixture('btcd-block-3tx.json') as { tx: string[]; merkleroot: string; previousblockhash: string; hash: string };
const mainnet = fixture('mainnet-block-100000.json') as {
  tx: string[]; merkleroot: string; hash: string; version: number; previousblockhash: string; time: number; bits: string; nonce: number;
};
const sri = vectorJson<{ template: { coinbase_prefix: string; coinbase_tx_outputs: string } }>('shares/sri-extended-valid-share.json');

describe('coinbase merkle path', () => {
  test('mainnet block 100000: root from coinbase txid and path equals the header merkle root', () => {
    const [coinbase, ...rest] = mainnet.tx.map(internal);
    const path = coinbaseMerklePath(rest);
    assert.equal(path.length, 2);
    assertHex(reversed(merkleRootFromPath(coinbase!, path)), mainnet.merkleroot, 'merkle root');
    // The first sibling is the second txid itself (leaf level, SV2.md §5.4).
    assertHex(path[0]!, bytesToHex(internal(mainnet.tx[1]!)));
  });
  test('mainnet block 100000: header80 from the fixture hashes to the block hash', () => {
    const header = header80({
      version: mainnet.version, prevHash: internal(mainnet.previousblockhash), merkleRoot: internal(mainnet.merkleroot),
      ntime: mainnet.time, nbits: parseInt(mainnet.bits, 16), nonce: mainnet.nonce,
    });
    assertHex(reversed(headerHash(header)), mainnet.hash, 'block hash');
  });
  test('btcd regtest block with 3 transactions (odd level duplicates the last node)', () => {
    const [coinbase, ...rest] = block3.tx.map(internal);
    assertHex(reversed(merkleRootFromPath(coinbase!, coinbaseMerklePath(rest))), block3.merkleroot, 'merkle root');
  });
  test('no other transactions: empty path, root = coinbase txid', () => {
    assert.deepEqual(coinbaseMerklePath([]), []);
    const txid = internal(mainnet.tx[0]!);
    assert.deepEqual(merkleRootFromPath(txid, []), txid);
  });
  test('changing any txid changes the root (the test can fail)', () => {
    const [coinbase, ...rest] = mainnet.tx.map(internal);
    const tampered = rest.map((t) => Uint8Array.from(t));
    tampered[2]![0]! ^= 1;
    assert.notEqual(bytesToHex(merkleRootFromPath(coinbase!, coinbaseMerklePath(tampered))), bytesToHex(internal(mainnet.merkleroot)));
  });
});

describe('BIP141 witness commitment', () => {
  test('no transactions: equals the commitment in SRI template data (Bitcoin Core) e2f61c3f…', () => {
    // coinbase_tx_outputs = value(8) ‖ len 0x26 ‖ script (38 bytes).
    const script = sri.template.coinbase_tx_outputs.slice(18);
    assertHex(witnessCommitmentScript(witnessCommitment([])), script, 'commitment script');
  });
  test('btcd template with two witness transactions: equals btcd default_witness_commitment', () => {
    const txs = gbtWithTxs['transactions'] as { hash: string }[];
    assertHex(witnessCommitment(txs.map((t) => internal(t.hash))), gbtWithTxs['default_witness_commitment'] as string);
  });
  test('witnessCommitmentScript refuses a wrong-length commitment', () => {
    assert.throws(() => witnessCommitmentScript(new Uint8Array(31)), /commitment must be 32 bytes/);
  });
});

describe('getblocktemplate parsing (btcd fixture)', () => {
  test('fields, byte order, fees and coinbase value', () => {
    const r = parseGetBlockTemplate(gbtWithTxs, { templateId: 7n, verifyTransactionHashes: true });
    assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
    const t = r.value;
    assert.equal(t.templateId, 7n);
    assert.equal(t.height, 104);
    assert.equal(t.version, 0x20000000);
    assert.equal(t.nbits, 0x207fffff);
    assert.equal(t.target, BigInt(`0x${gbtWithTxs['target'] as string}`));
    // The block btcd accepted on this template names its parent: internal = reversed display.
    assertHex(t.prevHash, bytesToHex(internal(block3.previousblockhash)), 'prevHash');
    assert.equal(t.transactions.length, 2);
    assertHex(t.transactions[0]!.txid, bytesToHex(internal(block3.tx[1]!)), 'txid 0');
    assertHex(t.transactions[1]!.txid, bytesToHex(internal(block3.tx[2]!)), 'txid 1');
    assert.deepEqual(t.transactions.map((x) => x.fee), [11_000n, 12_000n]);
    assert.equal(t.coinbaseValue, 5_000_000_000n + 23_000n);
    assert.equal(t.witnessCommitmentSource, 'node');
    assertHex(t.defaultWitnessCommitment, `6a24aa21a9ed${gbtWithTxs['default_witness_commitment'] as string}`);
    assert.equal(t.longpollId, gbtWithTxs['longpollid']);
    assert.deepEqual(t.rules, []);
    assert.equal(t.weightLimit, 4_000_000);
    assert.equal(t.sigopLimit, 80_000);
    assert.equal(t.mintime, gbtWithTxs['mintime']);
    assert.equal(t.maxtime, gbtWithTxs['maxtime']);
    // The template's merkle path rebuilds the root btcd put in the accepted block.
    assertHex(reversed(merkleRootFromPath(internal(block3.tx[0]!), t.merklePath)), block3.merkleroot);
  });
  test('btcd omits default_witness_commitment without witness txs: computed, equals Core\'s empty commitment', () => {
    const r = parseGetBlockTemplate(gbtEmpty, { templateId: 1n });
    assert.ok(r.ok);
    assert.equal(r.value.witnessCommitmentSource, 'computed');
    assertHex(r.value.defaultWitnessCommitment, sri.template.coinbase_tx_outputs.slice(18));
    assert.deepEqual(r.value.merklePath, []);
  });
  test('Bitcoin Core form: commitment as the full script, rules, zero-padded bits', () => {
    const core = clone(gbtWithTxs);
    core['default_witness_commitment'] = `6a24aa21a9ed${gbtWithTxs['default_witness_commitment'] as string}`;
    core['rules'] = ['csv', '!segwit', 'taproot'];
    const r = parseGetBlockTemplate(core, { templateId: 1n });
    assert.ok(r.ok);
    assert.equal(r.value.witnessCommitmentSource, 'node');
    assert.deepEqual(r.value.rules, ['csv', '!segwit', 'taproot']);
  });
  test('btcd-style unpadded bits (strconv.FormatInt) parse to the same nbits', () => {
    const g = clone(gbtEmpty);
    g['bits'] = '1b04864c';
    delete g['target'];
    const padded = parseGetBlockTemplate(g, { templateId: 1n });
    g['bits'] = '0b04864c'.replace(/^0/, ''); // a 7-digit form
    const unpadded = parseGetBlockTemplate(g, { templateId: 1n });
    assert.ok(padded.ok && unpadded.ok);
    assert.equal(padded.value.nbits, 0x1b04864c);
    assert.equal(unpadded.value.nbits, 0x0b04864c);
  });
});

describe('getblocktemplate parsing: refusals name the field', () => {
  const refuse = (mutate: (g: Json) => void, field: string, text: RegExp, options: { verify?: boolean } = {}): void => {
    const g = clone(gbtWithTxs);
    mutate(g);
    const r = parseGetBlockTemplate(g, { templateId: 1n, verifyTransactionHashes: options.verify ?? false });
    assert.ok(!r.ok, 'expected a refusal');
    assert.equal(r.error.code, 'invalid-block-template');
    assert.equal(r.error.origin, 'remote');
    assert.equal(r.error.field, field);
    assert.match(r.error.message, text);
  };
  test('missing height', () => refuse((g) => delete g['height'], 'height', /height.*missing/));
  test('short previousblockhash', () => refuse((g) => (g['previousblockhash'] = 'abcd'), 'previousblockhash', /64 hex digits/));
  test('bad txid in transactions[1]', () =>
    refuse((g) => ((g['transactions'] as Json[])[1]!['txid'] = 'zz'), 'transactions.1.txid', /transactions\.1\.txid: must be 64 hex/));
  test('negative fee', () => refuse((g) => ((g['transactions'] as Json[])[0]!['fee'] = -1), 'transactions.0.fee', />= 0/));
  test('depends pointing forward', () => refuse((g) => ((g['transactions'] as Json[])[0]!['depends'] = [2]), 'transactions.0.depends', /earlier/));
  test('non-integer coinbasevalue', () => refuse((g) => (g['coinbasevalue'] = 1.5), 'coinbasevalue', /integer/));
  test('bits with 9 digits', () => refuse((g) => (g['bits'] = '1207fffff'), 'bits', /1 to 8 hex/));
  test('bits that are not a valid compact target', () => refuse((g) => (g['bits'] = '00000000'), 'bits', /not a valid compact/));
  test('target disagreeing with bits', () => refuse((g) => (g['target'] = '7ffffe' + '0'.repeat(58)), 'target', /disagrees/));
  test('witness commitment not matching the transactions', () =>
    refuse((g) => (g['default_witness_commitment'] = '00'.repeat(32)), 'default_witness_commitment', /commit to/));
  test('wtxid not SHA256d(data) (only with verifyTransactionHashes)', () => {
    const mutate = (g: Json): void => {
      const tx = (g['transactions'] as Json[])[0]!;
      tx['data'] = (tx['data'] as string).replace(/00000000$/, '01000000'); // locktime changed
    };
    refuse(mutate, 'transactions.0.hash', /SHA256d\(data\)/, { verify: true });
  });
  test('not an object at all, and never a throw on junk', () => {
    for (const junk of [null, 42, 'x', [], { transactions: 'no' }, { version: {} }]) {
      const r = parseGetBlockTemplate(junk, { templateId: 1n });
      assert.ok(!r.ok);
    }
  });
  test('misuse (templateId not a U64 bigint) throws TypeError', () => {
    assert.throws(() => parseGetBlockTemplate(gbtEmpty, { templateId: 1 as unknown as bigint }), TypeError);
    assert.throws(() => parseGetBlockTemplate(gbtEmpty, { templateId: 1n << 64n }), TypeError);
  });
});

describe('BIP34 height push', () => {
  test('matches the push in SRI/Core coinbase prefixes (5200 = height 2, 029f0000 = height 159, each + OP_0)', () => {
    assertHex(bip34HeightPush(2), sri.template.coinbase_prefix.slice(0, -2));
    assertHex(bip34HeightPush(159), '029f00');
  });
  test('boundaries: 16 → OP_16, 17 → 0111, 127 → 017f, 128 → 028000, 65536 → 03000001', () => {
    assertHex(bip34HeightPush(16), '60');
    assertHex(bip34HeightPush(17), '0111');
    assertHex(bip34HeightPush(127), '017f');
    assertHex(bip34HeightPush(128), '028000');
    assertHex(bip34HeightPush(65536), '03000001');
    assert.throws(() => bip34HeightPush(0), RangeError);
  });
});

describe('block serialization', () => {
  test('header ‖ CompactSize(count) ‖ coinbase ‖ txs', () => {
    const header = new Uint8Array(80).fill(7);
    const block = serializeBlock(header, hexToBytes('aabb'), [{ data: hexToBytes('cc') }, { data: hexToBytes('dd') }]);
    assert.equal(bytesToHex(block), `${'07'.repeat(80)}03aabbccdd`);
    assert.throws(() => serializeBlock(new Uint8Array(79), hexToBytes('aa'), []), /header must be 80 bytes/);
  });
});

describe('bitcoind RPC adapter: pure parts', () => {
  test('submitblock results: Core BIP22 strings and btcd "rejected: ..." forms', () => {
    assert.deepEqual(classifySubmitBlockResult(null), { kind: 'accepted' });
    assert.deepEqual(classifySubmitBlockResult('duplicate'), { kind: 'duplicate', reason: 'duplicate' });
    assert.equal(classifySubmitBlockResult('rejected: already have block 00ab')?.kind, 'duplicate');
    assert.equal(classifySubmitBlockResult('inconclusive')?.kind, 'inconclusive');
    assert.equal(classifySubmitBlockResult('duplicate-inconclusive')?.kind, 'inconclusive');
    assert.deepEqual(classifySubmitBlockResult('duplicate-invalid'), { kind: 'rejected', reason: 'duplicate-invalid' });
    assert.deepEqual(classifySubmitBlockResult('high-hash'), { kind: 'rejected', reason: 'high-hash' });
    assert.deepEqual(classifySubmitBlockResult('rejected: block hash is higher than target'), { kind: 'rejected', reason: 'block hash is higher than target' });
    assert.equal(classifySubmitBlockResult(5), null);
  });
  test('HTTP answers: Core JSON-RPC 1.0 errors come with HTTP 500 and a body; the body wins', () => {
    const rpcError = interpretBody('getblocktemplate', 1, 500, '{"result":null,"error":{"code":-10,"message":"Bitcoin Core is in initial sync and waiting for blocks..."},"id":1}');
    assert.ok(!rpcError.ok);
    assert.equal(rpcError.error.code, 'upstream-rpc-error');
    assert.equal(rpcError.error.rpcCode, -10);
    const unauthorized = interpretBody('getblockcount', 1, 401, '');
    assert.ok(!unauthorized.ok);
    assert.equal(unauthorized.error.code, 'upstream-http-error');
    assert.equal(unauthorized.error.httpStatus, 401);
    const notJson = interpretBody('getblockcount', 1, 200, '<html>');
    assert.ok(!notJson.ok && notJson.error.code === 'upstream-bad-response');
    const wrongId = interpretBody('getblockcount', 1, 200, '{"result":5,"error":null,"id":2}');
    assert.ok(!wrongId.ok && wrongId.error.code === 'upstream-bad-response');
    assert.deepEqual(interpretBody('getblockcount', 3, 200, '{"result":5,"error":null,"id":3}'), { ok: true, value: 5 });
  });
});

describe('test mining key (test/support/btcd.ts)', () => {
  test('its HASH160 is BIP173\'s example program: mainnet address BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4', () => {
    assert.equal(bech32.encode('bc', [0, ...bech32.toWords(TEST_MINING_KEY.pubkeyHash)]), 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4');
    assert.ok(TEST_MINING_KEY.address.startsWith('bcrt1q'));
  });
});
