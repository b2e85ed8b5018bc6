// The node's part of a declaration verdict (issue 11 acceptance: "the node's proposal call
// reported separately"; a script, never a test, SPEC §13): p50/p99 of one BIP23 block proposal
// round trip, `BitcoindRpc.proposeBlock` → btcd regtest → answer, for declared blocks of 1,000
// and 4,000 transactions, assembled by core/job-declaration/proposal.ts exactly as the JDS does.
//
// Set-up (bounded): btcd with 120 blocks; 16 matured coinbases fan out into 4,000 outputs of the
// test key (250 each, confirmed in one block); 4,000 one-input P2WPKH spends of them are sent to
// btcd's mempool (as a JD client's transactions would be). The declared block holds the first N
// of them, a coinbase paying subsidy + fees with the right BIP34 height and witness commitment.
// Every answer must be "valid" (else the bench fails loudly). btcd's proposal re-validates the
// whole block (btcd: CheckConnectBlockTemplate, scripts included), so this is the node's cost.
// Skips with the reason when btcd is absent.
//
//   node --import tsx test/bench/jds-proposal.bench.ts   |   deno run -A test/bench/jds-proposal.bench.ts   |   bun test/bench/jds-proposal.bench.ts
import { BitcoindRpc } from '../../adapters/bitcoind-rpc.ts';
import { bytesToHex, hexToBytes, reversed } from '../../core/bytes.ts';
import { assembleProposalBlock, rebuildDeclaredCoinbase } from '../../core/job-declaration/index.ts';
import { declaredJob } from '../../conformance/jds-world.ts';
import { BTCD_MISSING_REASON, BtcdNode, TEST_MINING_KEY, findBtcd, spendTestKeyOutput, type SignedTransaction } from '../support/btcd.ts';
import { report, runtime } from './bench-util.ts';

const RUNS = 30;
const FAN_OUT = 250; // spendTestKeyOutput writes the output count as one byte
const COINBASES = 16;
const SUBSIDY = 5_000_000_000n; // regtest, height < 150
const SPEND_FEE = 1_000n;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  if (findBtcd() === null) {
    console.log(`jds-proposal bench on ${runtime}: skipped, ${BTCD_MISSING_REASON}`);
    return;
  }
  const node = await BtcdNode.start({ initialBlocks: 120 });
  try {
    const rpc = new BitcoindRpc({ url: node.rpcUrl, auth: { kind: 'userpass', user: node.rpcUser, password: node.rpcPassword }, timeoutMs: 60_000 });
    const setupStart = performance.now();
    const outputValue = (SUBSIDY - 250_000n) / BigInt(FAN_OUT);
    const fanned: SignedTransaction[] = [];
    for (let h = 1; h <= COINBASES; h++) {
      const hash = (await node.rpc('getblockhash', [h])) as string;
      const { tx } = (await node.rpc('getblock', [hash])) as { tx: string[] };
      const fan = spendTestKeyOutput({ txid: reversed(hexToBytes(tx[0]!)), vout: 0, valueSats: SUBSIDY }, Array.from({ length: FAN_OUT }, () => ({ valueSats: outputValue, scriptPubKey: TEST_MINING_KEY.scriptPubKey })));
      await node.rpc('sendrawtransaction', [bytesToHex(fan.data)]);
      fanned.push(fan);
    }
    await node.rpc('generate', [1]);
    const best = (await node.rpc('getbestblockhash')) as string;
    const mined = (await node.rpc('getblock', [best])) as { tx: string[] };
    if (mined.tx.length !== COINBASES + 1) throw new Error(`the fan-out block holds ${mined.tx.length - 1} of ${COINBASES} transactions`);
    const spends: SignedTransaction[] = [];
    for (const fan of fanned) {
      for (let vout = 0; vout < FAN_OUT; vout++) {
        const s = spendTestKeyOutput({ txid: fan.txid, vout, valueSats: outputValue }, [{ valueSats: outputValue - SPEND_FEE, scriptPubKey: TEST_MINING_KEY.scriptPubKey }]);
        await node.rpc('sendrawtransaction', [bytesToHex(s.data)]);
        spends.push(s);
      }
    }
    console.log(`  set-up: ${spends.length} mempool transactions in ${Math.round(performance.now() - setupStart)} ms`);
    const template = await rpc.getBlockTemplate(1n);
    if (!template.ok) throw new Error(`getblocktemplate: ${template.error.message}`);
    const tip = template.value;

    for (const count of [1000, 4000]) {
      const txs = spends.slice(0, count);
      const job = declaredJob(txs, { height: tip.height, value: SUBSIDY + BigInt(count) * SPEND_FEE });
      const coinbase = rebuildDeclaredCoinbase(job.prefix, job.suffix);
      if (!coinbase.ok) throw new Error(coinbase.error);
      const block = assembleProposalBlock({ version: tip.version, tip, coinbase: coinbase.value, transactions: txs });
      const hex = bytesToHex(block);
      const times: number[] = [];
      for (let run = -2; run < RUNS; run++) {
        const start = performance.now();
        const answer = await rpc.proposeBlock(hex);
        const ms = performance.now() - start;
        if (!answer.ok) throw new Error(`proposal of ${count} transactions: ${answer.error.code} ${answer.error.message}`);
        if (answer.value.kind !== 'valid') throw new Error(`btcd refused the ${count}-transaction proposal: ${answer.value.reason}`);
        if (run >= 0) times.push(ms); // two warm-up calls
      }
      times.sort((a, b) => a - b);
      console.log(`  ${count} transactions: block ${block.length} bytes`);
      report({ provider: 'btcd-regtest', name: `jds_proposal_${count}tx_p50`, value: percentile(times, 50), unit: 'ms' });
      report({ provider: 'btcd-regtest', name: `jds_proposal_${count}tx_p99`, value: percentile(times, 99), unit: 'ms' });
    }
  } finally {
    await node.dispose();
  }
}

await main();
