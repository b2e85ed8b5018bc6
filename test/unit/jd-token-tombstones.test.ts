// Mining job token tombstones keep no declared job (core/job-declaration/tokens.ts): the job is
// dropped when the declared token is spent and, on the onTimeout due at its expiry, when it
// expires, while the tombstone still answers jd_token_reused / jd_token_expired. Found by the
// declaration-verdict bench (docs/job-declaration.md "Performance"): every 4,000-transaction job
// was kept for tombstone_ms, old-generation heap that each major collection marked again.
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { SeededRandom } from '../../core/random.ts';
import { MiningJobTokens } from '../../core/job-declaration/index.ts';

const SETTINGS = { allocatedExpiryMs: 600_000, declaredExpiryMs: 10_000, capacity: 100, tombstoneMs: 60_000 };

describe('mining job token tombstones', () => {
  test('an expired declared token drops its job at the onTimeout due at its expiry, and is still reported expired', () => {
    const tokens = new MiningJobTokens<{ readonly id: number }>(SETTINGS, new SeededRandom(7));
    const allocated = tokens.allocate('alice', 1, false, 0);
    assert.equal(tokens.takeAllocated(allocated, 1, 1_000).ok, true);
    const job = { id: 42 };
    const declared = tokens.declare(allocated, job, 1_000);
    assert.equal(tokens.nextDeadlineMs(), 11_000, 'the declared expiry is a deadline while the job is held');
    assert.equal(tokens.peekDeclared(declared)?.job, job);
    tokens.onTimeout(10_999);
    assert.equal(tokens.peekDeclared(declared)?.job, job, 'held until its expiry');
    tokens.onTimeout(11_000);
    assert.equal(tokens.peekDeclared(declared), undefined, 'dropped at expiry');
    // The allocated token (expires at 600,000) and the declared one (11,000) are forgotten 60 s after.
    assert.equal(tokens.nextDeadlineMs(), 71_000);
    const late = tokens.consumeForCustomJob(declared, 'alice', 11_000);
    assert.equal(!late.ok && late.reason, 'jd_token_expired');
    tokens.onTimeout(71_000);
    const gone = tokens.consumeForCustomJob(declared, 'alice', 71_000);
    assert.equal(!gone.ok && gone.reason, 'jd_token_unknown');
  });

  test('a spent declared token keeps no job and answers jd_token_reused', () => {
    const tokens = new MiningJobTokens<{ readonly id: number }>(SETTINGS, new SeededRandom(8));
    const allocated = tokens.allocate('alice', 1, false, 0);
    assert.equal(tokens.takeAllocated(allocated, 1, 0).ok, true);
    const job = { id: 1 };
    const declared = tokens.declare(allocated, job, 0);
    const first = tokens.consumeForCustomJob(declared, 'alice.rig', 5_000);
    assert.equal(first.ok && first.kind === 'declared' && first.job, job);
    assert.equal(tokens.peekDeclared(declared), undefined, 'the tombstone holds no job');
    const again = tokens.consumeForCustomJob(declared, 'alice.rig', 5_001);
    assert.equal(!again.ok && again.reason, 'jd_token_reused');
  });
});
