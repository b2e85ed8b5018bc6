import { readFileSync } from 'node:fs';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { REASON_CODES, isReasonCode, wireString, type ReasonCodeInfo } from '../../core/reason-codes.ts';
import { REASON_CODES_DOC_PATH, renderReasonCodesDoc } from '../../scripts/gen-reason-codes-doc.ts';

// SRI's strings (SV2.md §5.8). A wire string outside this list must be a deliberate addition,
// listed here with its reason, so a typo in a registry entry fails this test.
const SRI_WIRE_STRINGS = new Set([
  'unsupported-feature-flags', 'unsupported-protocol', 'protocol-version-mismatch',
  'unknown-user', 'max-target-out-of-range', 'invalid-user-identity', 'invalid-nominal-hashrate',
  'min-extranonce-size-too-large', 'unsupported-min-extranonce-size',
  'standard-channels-not-supported-for-custom-work', 'extended-channels-not-supported-for-standard-jobs',
  'invalid-channel-id', 'stale-share', 'difficulty-too-low', 'invalid-job-id', 'duplicate-share',
  'invalid-share', 'bad-extranonce-size', 'version-rolling-not-allowed', 'invalid-non-rollable-version-bit',
  'invalid-mining-job-token', 'jd-not-supported', 'job-not-yet-validated', 'stale-chain-tip', 'invalid-min-ntime',
  'invalid-nbits', 'invalid-version', 'invalid-coinbase-tx', 'invalid-coinbase-tx-version', 'invalid-coinbase-prefix',
  'invalid-coinbase-tx-input-n-sequence', 'invalid-coinbase-tx-outputs', 'invalid-coinbase-tx-locktime',
  'invalid-merkle-path',
  // RequestTransactionData.Error (template_distribution_sv2 7.0.0 lib.rs ERROR_CODE_REQUEST_TRANSACTION_DATA_*).
  'stale-template-id', 'template-id-not-found',
  // DeclareMiningJob.Error (job_declaration_sv2 10.0.0 lib.rs ERROR_CODE_DECLARE_MINING_JOB_*).
  'missing-txs', 'invalid-coinbase-tx-input', 'internal-error', 'invalid-job',
]);
// Our own additions, where SRI has no string: free-form printable ASCII is allowed (SV2.md §5.8).
const OWN_WIRE_STRINGS = new Set(['shutdown', 'channel-limit-reached']);

describe('reason-code registry', () => {
  test('codes are snake_case; wire strings are SRI strings or listed own additions', () => {
    for (const [code, info] of Object.entries(REASON_CODES) as [string, ReasonCodeInfo][]) {
      assert.match(code, /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/, `code ${code}`);
      assert.ok(info.meaning.length > 10 && info.emittedBy.length > 3, `${code} documents meaning and emitter`);
      if (info.wire !== undefined) {
        assert.ok(SRI_WIRE_STRINGS.has(info.wire) || OWN_WIRE_STRINGS.has(info.wire), `${code}: unexpected wire string ${info.wire}`);
      }
    }
  });
  test('wireString and isReasonCode', () => {
    assert.equal(wireString('difficulty_too_low'), 'difficulty-too-low');
    assert.equal(wireString('stale_share'), 'stale-share');
    assert.throws(() => wireString('peer_closed'), /no SV2 wire string/);
    assert.equal(isReasonCode('duplicate_share'), true);
    assert.equal(isReasonCode('toString'), false);
  });
  test('docs/reason-codes.md equals the generated reference (run scripts/gen-reason-codes-doc.ts)', () => {
    assert.equal(readFileSync(REASON_CODES_DOC_PATH, 'utf8'), renderReasonCodesDoc());
  });
});
