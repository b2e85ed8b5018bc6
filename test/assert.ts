// Assertions for the cross-runtime suite: node:assert/strict exists on Node, Deno and Bun.
import assert from 'node:assert/strict';
import { bytesToHex } from '../core/bytes.ts';

export { assert };

/** Compare bytes as hex so that a failure shows both sides readably. */
export function assertHex(actual: Uint8Array, expectedHex: string, what = 'bytes'): void {
  assert.equal(bytesToHex(actual), expectedHex.toLowerCase(), `${what} differ`);
}
