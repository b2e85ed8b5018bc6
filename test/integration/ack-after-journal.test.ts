// Journal first, then acknowledge (issue 12 defect 2; docs/share-forwarding.md "Durability").
// A share's SubmitShares.Success must not leave before the share's journal record is written to
// the OS: a kill -9 between the two would leave a miner acknowledged for a share the pool never
// hears of. On main the pump wrote a pass's bytes before handing its events to the journal, so
// the ack left about 0.25 ms before the record.
//
// Instrumented socket, real everything else: the whole gateway stack (file journal in a temp
// data_dir, as `reservegrid run`) behind a listenTcp that wraps the runtime's real TCP adapter.
// At the instant the pump hands any bytes to a miner socket (the moment an ack could reach the
// wire), the wrapper reads the journal FILE and compares the shares it holds with the shares the
// gateway core has accepted (gateway.stats.sharesAccepted). Every write must see the journal at
// least as far as the core. Acks are not batched here (share_ack_batch_size 1), so each share's
// Success is written in the very pass that accepted it: the strictest case.
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, readEnv, runtime, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { listenTcp as realListenTcp, type ListenTcp, type TcpSocket } from '../../adapters/net/index.ts';
import type { GatewayStack } from '../../adapters/gateway-stack.ts';
import { STEP_MS, startStackWorld, submitShare, until } from '../support/stack-world.ts';

const SHARES = 12;

/** Shares the journal file holds (`{"a":…}` records), as a crash would find it. */
function journaledShares(path: string): number {
  if (!existsSync(path)) return 0;
  let n = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) if (line.startsWith('{"a":')) n++;
  return n;
}

describe(`journal before acknowledgement, over real sockets (${runtime})`, () => {
  test('at every write to a miner socket, the journal file already holds every share the gateway accepted', async () => {
    const dataDir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', 'rg-ack-journal-'));
    const journalPath = join(dataDir, 'share-journal.jsonl');
    let stack: GatewayStack | undefined;
    const checks = { writes: 0, writesAfterShares: 0, violations: [] as string[] };
    const inspect = (socket: TcpSocket): TcpSocket => {
      const write = socket.write.bind(socket);
      // Same object, write instrumented: the pump sees the adapter's real socket otherwise.
      Object.defineProperty(socket, 'write', {
        value: (bytes: Uint8Array): boolean => {
          checks.writes++;
          const accepted = stack?.gateway.stats.sharesAccepted ?? 0;
          if (accepted > 0) {
            checks.writesAfterShares++;
            const journaled = journaledShares(journalPath);
            if (journaled < accepted) checks.violations.push(`write #${checks.writes}: ${accepted} shares accepted, ${journaled} in the journal file`);
          }
          return write(bytes);
        },
      });
      return socket;
    };
    const listenTcp: ListenTcp = (address, onConnection) => realListenTcp(address, (socket) => onConnection(inspect(socket)));
    const world = await startStackWorld({
      salt: 1201,
      config: { 'gateway.mode': 'observe', 'gateway.upstream_failure_policy': 'permit_all', 'gateway.data_dir': dataDir, 'mining.share_ack_batch_size': 1 },
      // The real file journal; the backend is unreachable (port 9), which only delays results.
      stack: { listenTcp, shareForwarding: { journal: 'file' } },
    });
    stack = world.stack;
    try {
      await world.waitEvent('job_broadcast');
      const miner = await world.miner(1);
      await until('work on the channel', STEP_MS, () => miner.connection.client.work(miner.channelId));
      for (let i = 0; i < SHARES; i++) {
        const { sequenceNumber } = submitShare(miner);
        await miner.connection.nextEvent('shares_accepted', STEP_MS, (e) => e.last_sequence_number === sequenceNumber);
      }
      assert.equal(world.stack.gateway.stats.sharesAccepted, SHARES, 'every share accepted');
      assert.ok(checks.writesAfterShares >= SHARES, `the check ran at each ack write (${checks.writesAfterShares} writes after the first share)`);
      assert.deepEqual(checks.violations, [], 'no acknowledgement written before its share was journaled');
    } finally {
      await world.close();
    }
  }, { timeoutMs: 60_000 });
});
