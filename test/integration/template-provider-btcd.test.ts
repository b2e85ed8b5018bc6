// `reservegrid run --config <file>` with [template_provider], against btcd on regtest, as a child
// process of this runtime's own entry point (node, deno, bun): it prints the Template Provider
// address; our own Template Distribution client (core/client/tdp-client.ts over Noise, pinning
// the authority key) gets the tip btcd's template makes, finds a block on it (regtest target) and
// sends SubmitSolution; the block goes through the gateway's block path to btcd, which accepts it
// (its best block hash becomes ours), and the event lines say so (tdp_solution, block_found,
// block_submit_result accepted). Then a new tip (our block) arrives as future + SetNewPrevHash.
// Skipped with a reason when btcd is not installed (scripts/install-btcd.sh).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEnv, runtime, seed, describe } from '../harness.ts';
import { assert } from '../assert.ts';
import { BtcdNode, sleep, testWithBtcd } from '../support/btcd.ts';
import { btcdGatewayToml } from '../support/btcd-run.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { decodeAuthorityPublicKey, generateAuthorityKeyPair } from '../../core/noise/keys.ts';
import { SeededRandom } from '../../core/random.ts';
import { SystemClock } from '../../adapters/clock.ts';
import { spawnCli, type RuntimeChild } from '../support/child.ts';
import { until } from '../support/wait.ts';
import { TdpConnection } from '../support/tdp-connection.ts';
import { dsha, findNonce, headerOf, poolCoinbase, rootFromPath } from '../support/tdp-solution.ts';

const STEP_MS = 20_000;

describe('template provider with btcd (reservegrid run)', () => {
  testWithBtcd(`reservegrid run on ${runtime}: a SubmitSolution from a TDP client becomes a block btcd accepts`, async () => {
    const node = await BtcdNode.start();
    const dir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', 'rg-tdp-'));
    let run: RuntimeChild | undefined;
    let tdp: TdpConnection | undefined;
    try {
      const authority = generateAuthorityKeyPair(new SeededRandom(seed + 421));
      const file = join(dir, 'gateway.toml');
      writeFileSync(
        file,
        btcdGatewayToml(node, authority, {
          gateway: { id: 7, data_dir: dir },
          timing: { shutdown_drain_timeout_ms: 2000 },
          template_provider: { listen_addr: '127.0.0.1:0' },
        }),
      );
      const child = spawnCli(['run', '--config', file]);
      run = child;
      const line = await until('the Template Provider line', STEP_MS, () => {
        if (!child.running) throw new Error(`run exited early (${child.child.exitCode}): ${child.stderr()}`);
        return /Template Provider \(SV2 Template Distribution\) on ([\d.]+):(\d+), authority_public_key (\S+)/.exec(child.stdout()) ?? undefined;
      }, 20);
      assert.equal(line[3], authority.publicKey);
      const pinned = decodeAuthorityPublicKey(line[3]!);
      assert.ok(pinned.ok);
      const clock = new SystemClock();
      tdp = await TdpConnection.connect({
        host: line[1]!,
        port: Number(line[2]),
        clock,
        provider: nobleProvider,
        random: new SeededRandom(seed + 422),
        certificatePolicy: { kind: 'pinned', authorityXOnly: pinned.value },
        // SRI's pool for one P2WPKH output: 31 bytes + stratum-apps' offsets; any sane value works.
        constraints: { additionalSizeBytes: 74, additionalSigops: 8 },
      });
      await tdp.next('SetupConnectionSuccess', STEP_MS);
      const nt = await tdp.next('NewTemplate', STEP_MS);
      const prev = await tdp.next('SetNewPrevHashTdp', STEP_MS);
      assert.equal(prev.templateId, nt.templateId);
      const best = (await node.rpc('getbestblockhash')) as string;
      assert.equal(bytesToHex(Uint8Array.from(prev.prevHash).reverse()), best, 'the tip is btcd\'s best block');

      const coinbase = poolCoinbase(nt, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 42]));
      const root = rootFromPath(dsha(coinbase.stripped), nt.merklePath);
      const nonce = findNonce(nt, prev, root, true);
      const blockHash = bytesToHex(dsha(headerOf(nt, prev, root, nonce)).reverse());
      tdp.client.submitSolution({ templateId: nt.templateId, version: nt.version, headerTimestamp: prev.headerTimestamp, headerNonce: nonce, coinbaseTx: coinbase.full });
      tdp.flush();
      await until('btcd adopts the block', STEP_MS, async () => ((await node.rpc('getbestblockhash')) === blockHash ? true : undefined), 50);
      await until('block_submit_result accepted', STEP_MS, () => (/"type":"block_submit_result"[^\n]*"result":"accepted"/.test(child.stdout()) ? true : undefined), 20);
      assert.match(child.stdout(), /"type":"tdp_solution"[^\n]*"result":"submitted"/);
      assert.match(child.stdout(), /"type":"block_found"[^\n]*"identity":"tdp"/);

      // Our block is btcd's tip: the next template arrives as a new tip on it.
      const nt2 = await tdp.next('NewTemplate', STEP_MS);
      const prev2 = await tdp.next('SetNewPrevHashTdp', STEP_MS);
      assert.equal(nt2.futureTemplate, true);
      assert.equal(prev2.templateId, nt2.templateId);
      assert.equal(bytesToHex(Uint8Array.from(prev2.prevHash).reverse()), blockHash);
      assert.deepEqual(tdp.violations, []);

      spawn('kill', ['-TERM', String(child.child.pid)], { stdio: 'ignore' });
      const exit = await Promise.race([child.exited, sleep(15_000).then(() => 'hung' as const)]);
      assert.equal(exit === 'hung' ? exit : exit.code, 0, `exit code; stderr: ${child.stderr()}`);
      assert.match(child.stdout(), /"type":"tdp_connection_closed"[^\n]*"reason_code":"shutdown"/);
    } finally {
      tdp?.abort();
      if (run?.running) run.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      await node.dispose();
    }
  }, { timeoutMs: 90_000 });
});
