// adapters/bitcoind-rpc.ts + core/template against a REAL node: btcd on regtest (issue 3 item 8).
// We build blocks ourselves from the parsed template (BIP34 coinbase paying the test key, the
// template's witness commitment, merkle path, nonce grinding), submit them and check that btcd
// ACCEPTED them: getbestblockhash is our hash and getblockcount went up by one.
// Skipped with a reason when btcd is not installed (scripts/install-btcd.sh).
import { createServer, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { bytesToHex, hexToBytes, reversed } from '../../core/bytes.ts';
import { buildCoinbase, coinbaseStripped, coinbaseWithWitness, serializeTxOut } from '../../core/mining/coinbase.ts';
import { sha256d } from '../../core/mining/hash.ts';
import { header80, headerHash } from '../../core/mining/header.ts';
import { meetsTarget } from '../../core/mining/target.ts';
import type { BlockTemplate } from '../../core/template/template.ts';
import { bip34HeightPush, serializeBlock, templateMerkleRoot } from '../../core/template/template.ts';
import { BitcoindRpc } from '../../adapters/bitcoind-rpc.ts';
import { BtcdNode, TEST_MINING_KEY, freeLoopbackPort, sleep, spendTestKeyOutput, testWithBtcd } from '../support/btcd.ts';

const NONCES_MAX = 100_000; // regtest target 0x7fffff…: about one header in two qualifies

function clientFor(node: BtcdNode, overrides: { password?: string; timeoutMs?: number } = {}): BitcoindRpc {
  return new BitcoindRpc({
    url: node.rpcUrl,
    auth: { kind: 'userpass', user: node.rpcUser, password: overrides.password ?? node.rpcPassword },
    timeoutMs: overrides.timeoutMs ?? 10_000,
  });
}

/** A complete block for `template`: SRI-shaped coinbase (core/mining) paying the whole
 * coinbase value to the test key, plus the template's commitment output; nonce ground until the
 * header meets the network target. `tamper` breaks it on purpose. */
function buildBlock(template: BlockTemplate, tamper: 'none' | 'merkle-root' = 'none'): { block: Uint8Array; hashDisplay: string } {
  const parts = buildCoinbase({
    version: 2,
    scriptSigPrefix: bip34HeightPush(template.height),
    poolTag: 'rg-test',
    extranonceBytes: 8,
    inputSequence: 0xffffffff,
    poolOutputs: [{ valueSats: template.coinbaseValue, scriptPubKey: TEST_MINING_KEY.scriptPubKey }],
    templateOutputs: serializeTxOut({ valueSats: 0n, scriptPubKey: template.defaultWitnessCommitment }),
    templateOutputsCount: 1,
    locktime: 0,
  });
  const extranonce = hexToBytes('0102030405060708');
  const coinbaseTxid = sha256d(coinbaseStripped(parts, extranonce));
  const merkleRoot = templateMerkleRoot(coinbaseTxid, template);
  if (tamper === 'merkle-root') merkleRoot[0]! ^= 0xff;
  for (let nonce = 0; nonce < NONCES_MAX; nonce++) {
    const header = header80({ version: template.version, prevHash: template.prevHash, merkleRoot, ntime: template.curtime, nbits: template.nbits, nonce });
    const hash = headerHash(header);
    if (meetsTarget(hash, template.target)) {
      return { block: serializeBlock(header, coinbaseWithWitness(parts, extranonce), template.transactions), hashDisplay: bytesToHex(reversed(hash)) };
    }
  }
  throw new Error(`no nonce below ${NONCES_MAX} meets target ${template.target.toString(16)}`);
}

async function withNode(fn: (node: BtcdNode) => Promise<void>, initialBlocks = 1): Promise<void> {
  const node = await BtcdNode.start({ initialBlocks });
  try {
    await fn(node);
  } finally {
    await node.dispose();
  }
}

async function expectOk<T>(promise: Promise<{ ok: true; value: T } | { ok: false; error: unknown }>): Promise<T> {
  const r = await promise;
  if (!r.ok) assert.fail(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.value;
}

describe('bitcoind RPC against btcd regtest', () => {
  testWithBtcd('GBT parses; a block we build from it is accepted (best hash = ours, count + 1)', () =>
    withNode(async (node) => {
      const rpc = clientFor(node);
      const countBefore = await expectOk(rpc.getBlockCount());
      assert.equal(countBefore, 1);
      const template = await expectOk(rpc.getBlockTemplate(1n));
      assert.equal(template.height, countBefore + 1);
      assert.equal(bytesToHex(reversed(template.prevHash)), await expectOk(rpc.getBestBlockHash()));
      assert.equal(template.transactions.length, 0);
      // btcd sends no commitment without witness transactions; ours is what makes the block valid
      // with the witness-carrying coinbase (core/template/template.ts, defaultWitnessCommitment).
      assert.equal(template.witnessCommitmentSource, 'computed');
      const { block, hashDisplay } = buildBlock(template);
      assert.deepEqual(await expectOk(rpc.submitBlock(block)), { kind: 'accepted' });
      assert.equal(await expectOk(rpc.getBestBlockHash()), hashDisplay);
      assert.equal(await expectOk(rpc.getBlockCount()), countBefore + 1);
      // Retrying a submission (SPEC §4: retried on transport errors) is harmless: a duplicate.
      assert.equal((await expectOk(rpc.submitBlock(block))).kind, 'duplicate');
      // The next template builds on our block.
      const next = await expectOk(rpc.getBlockTemplate(2n));
      assert.equal(bytesToHex(reversed(next.prevHash)), hashDisplay);
    }));

  testWithBtcd('template WITH mempool transactions (two P2WPKH spends): fees, commitment, block accepted', () =>
    withNode(async (node) => {
      const rpc = clientFor(node);
      // Coinbases of blocks 1 and 2 pay the test key; maturity is 100 blocks (regtest), so after
      // 103 blocks both can be spent in block 104.
      const fees = [11_000n, 12_000n];
      const sent: string[] = [];
      for (const [i, height] of [1, 2].entries()) {
        const hash = (await node.rpc('getblockhash', [height])) as string;
        const { tx } = (await node.rpc('getblock', [hash])) as { tx: string[] };
        const spend = spendTestKeyOutput({ txid: reversed(hexToBytes(tx[0]!)), vout: 0, valueSats: 5_000_000_000n }, [
          { valueSats: 5_000_000_000n - fees[i]!, scriptPubKey: TEST_MINING_KEY.scriptPubKey },
        ]);
        assert.equal(await node.rpc('sendrawtransaction', [bytesToHex(spend.data)]), bytesToHex(reversed(spend.txid)));
        sent.push(bytesToHex(spend.txid));
      }
      // btcd regenerates a template on the same tip only after mempool changes AND 5 s
      // (gbtRegenerateSeconds); no GBT was asked on this tip yet, so the first one has both txs.
      // Bounded retry in case the tip's template was cached anyway.
      let template: BlockTemplate | null = null;
      for (let attempt = 0; attempt < 30 && template === null; attempt++) {
        const t = await expectOk(rpc.getBlockTemplate(BigInt(attempt)));
        if (t.transactions.length === 2) template = t;
        else await sleep(500);
      }
      assert.ok(template, 'btcd never put the two mempool transactions in a template');
      assert.deepEqual(template.transactions.map((t) => bytesToHex(t.txid)).sort(), [...sent].sort());
      assert.deepEqual(template.transactions.map((t) => t.fee).sort(), fees);
      assert.equal(template.coinbaseValue, 5_000_000_000n + fees[0]! + fees[1]!);
      assert.equal(template.witnessCommitmentSource, 'node'); // btcd's equals ours, or parsing would have failed
      assert.equal(template.merklePath.length, 2);
      const countBefore = await expectOk(rpc.getBlockCount());
      const { block, hashDisplay } = buildBlock(template);
      assert.deepEqual(await expectOk(rpc.submitBlock(block)), { kind: 'accepted' });
      assert.equal(await expectOk(rpc.getBestBlockHash()), hashDisplay);
      assert.equal(await expectOk(rpc.getBlockCount()), countBefore + 1);
      const mined = (await node.rpc('getblock', [hashDisplay])) as { tx: string[] };
      assert.equal(mined.tx.length, 3);
    }, 103), { timeoutMs: 90_000 });

  testWithBtcd('a block with a wrong merkle root is rejected with a reason, and the tip does not move', () =>
    withNode(async (node) => {
      const rpc = clientFor(node);
      const best = await expectOk(rpc.getBestBlockHash());
      const { block } = buildBlock(await expectOk(rpc.getBlockTemplate(1n)), 'merkle-root');
      const outcome = await expectOk(rpc.submitBlock(block));
      assert.equal(outcome.kind, 'rejected');
      assert.match(outcome.kind === 'rejected' ? outcome.reason : '', /merkle/i);
      assert.equal(await expectOk(rpc.getBestBlockHash()), best);
    }));

  testWithBtcd('BIP23 block proposal (issue 11): a valid block is "valid" and NOT submitted; a wrong merkle root is invalid with a reason; PoW is not checked', () =>
    withNode(async (node) => {
      const rpc = clientFor(node);
      const best = await expectOk(rpc.getBestBlockHash());
      const count = await expectOk(rpc.getBlockCount());
      const template = await expectOk(rpc.getBlockTemplate(1n));
      const { block } = buildBlock(template);
      assert.deepEqual(await expectOk(rpc.proposeBlock(block)), { kind: 'valid' });
      assert.equal(await expectOk(rpc.getBestBlockHash()), best, 'a proposal does not move the tip');
      assert.equal(await expectOk(rpc.getBlockCount()), count);
      // The same block with a nonce that misses the target: still a valid PROPOSAL (no PoW check).
      const highHash = Uint8Array.from(block);
      for (let nonce = 0; nonce < 1000; nonce++) {
        highHash.set([nonce & 0xff, (nonce >>> 8) & 0xff, 0, 0], 76);
        if (!meetsTarget(sha256d(highHash.subarray(0, 80)), template.target)) break;
      }
      assert.ok(!meetsTarget(sha256d(highHash.subarray(0, 80)), template.target), 'a header above the target');
      assert.deepEqual(await expectOk(rpc.proposeBlock(highHash)), { kind: 'valid' });
      const bad = await expectOk(rpc.proposeBlock(buildBlock(template, 'merkle-root').block));
      assert.equal(bad.kind, 'invalid');
      assert.match(bad.kind === 'invalid' ? bad.reason : '', /merkle|mrkl/i);
      assert.equal(await expectOk(rpc.getBestBlockHash()), best);
    }));

  testWithBtcd('wrong password → upstream-http-error 401 (a value, not a throw)', () =>
    withNode(async (node) => {
      const r = await clientFor(node, { password: 'wrong' }).getBlockCount();
      assert.ok(!r.ok);
      assert.equal(r.error.code, 'upstream-http-error');
      assert.equal(r.error.httpStatus, 401);
      assert.equal(r.error.method, 'getblockcount');
    }));

  testWithBtcd('JSON-RPC error → upstream-rpc-error with btcd\'s code and message', () =>
    withNode(async (node) => {
      const r = await clientFor(node).call('getblockhash', [1_000_000]);
      assert.ok(!r.ok);
      assert.equal(r.error.code, 'upstream-rpc-error');
      assert.equal(typeof r.error.rpcCode, 'number');
      assert.ok((r.error.rpcMessage ?? '').length > 0);
    }));

  testWithBtcd('cookie auth: file read through the injected readFile; missing file → upstream-unreachable', () =>
    withNode(async (node) => {
      const cookieFile = join(node.tempDir, '.cookie');
      writeFileSync(cookieFile, `${node.rpcUser}:${node.rpcPassword}\n`);
      const reads: string[] = [];
      const readFile = async (path: string): Promise<string> => {
        reads.push(path);
        return readFileSync(path, 'utf8');
      };
      const rpc = new BitcoindRpc({ url: node.rpcUrl, auth: { kind: 'cookie', cookieFile, readFile } });
      assert.equal(await expectOk(rpc.getBlockCount()), 1);
      assert.equal(await expectOk(rpc.getBlockCount()), 1);
      assert.deepEqual(reads, [cookieFile]); // cached after the first read
      const missing = new BitcoindRpc({ url: node.rpcUrl, auth: { kind: 'cookie', cookieFile: `${cookieFile}.absent`, readFile } });
      const r = await missing.getBlockCount();
      assert.ok(!r.ok);
      assert.equal(r.error.code, 'upstream-unreachable');
      assert.match(r.error.message, /cookie/);
    }));

  testWithBtcd('btcd stopped → upstream-unreachable (value, not throw); restarted → serves templates again', () =>
    withNode(async (node) => {
      const rpc = clientFor(node, { timeoutMs: 5_000 });
      assert.equal(await expectOk(rpc.getBlockCount()), 1);
      await node.stop();
      for (const call of [() => rpc.getBlockCount(), () => rpc.getBlockTemplate(9n), () => rpc.submitBlock(new Uint8Array(81))]) {
        const r = await call();
        assert.ok(!r.ok);
        assert.equal(r.error.code, 'upstream-unreachable', r.error.message);
      }
      await node.restart();
      // btcd wipes its regtest chain on start: back at genesis, and GBT answers at height 0.
      assert.equal(await expectOk(rpc.getBlockCount()), 0);
      assert.equal((await expectOk(rpc.getBlockTemplate(10n))).height, 1);
    }));
});

describe('bitcoind RPC transport failures (no node needed)', () => {
  test('a server that accepts and never answers → upstream-timeout within the bound', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const rpc = new BitcoindRpc({ url: `http://127.0.0.1:${port}/`, auth: { kind: 'userpass', user: 'u', password: 'p' }, timeoutMs: 300 });
      const started = performance.now();
      const r = await rpc.getBlockCount();
      const elapsedMs = performance.now() - started;
      assert.ok(!r.ok);
      assert.equal(r.error.code, 'upstream-timeout');
      assert.ok(elapsedMs >= 250 && elapsedMs < 5_000, `took ${elapsedMs} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
  test('nothing listening → upstream-unreachable', async () => {
    const port = await freeLoopbackPort();
    const r = await new BitcoindRpc({ url: `http://127.0.0.1:${port}/`, auth: { kind: 'userpass', user: 'u', password: 'p' } }).getBestBlockHash();
    assert.ok(!r.ok);
    assert.equal(r.error.code, 'upstream-unreachable');
  });
  test('a body over responseBytesMax → upstream-bad-response', async () => {
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        const body = JSON.stringify({ result: 'x'.repeat(5000), error: null, id: 1 });
        socket.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const rpc = new BitcoindRpc({ url: `http://127.0.0.1:${port}/`, auth: { kind: 'userpass', user: 'u', password: 'p' }, responseBytesMax: 1000 });
      const r = await rpc.call('getblocktemplate', []);
      assert.ok(!r.ok);
      assert.equal(r.error.code, 'upstream-bad-response');
      assert.match(r.error.message, /exceeds 1000 bytes/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
