// The docs' examples and numbers, checked against the code (issue 12 defect 4: "test the docs'
// examples against the code so they cannot drift again"). Each JSON example is parsed out of the
// markdown and fed to the real decoder/checker, or compared key by key with what the real
// encoder produces; the JavaScript verification example of docs/share-forwarding.md is RUN
// against a request signed by the gateway's signer; the bounds the docs state are compared with
// the exported constants. (docs/configuration.md and docs/reason-codes.md are generated from
// the schema and the registry, with their own drift tests.)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, readEnv, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { utf8 } from '../../core/bytes.ts';
import { nobleProvider } from '../../core/crypto/provider.ts';
import { ATTEMPTS_MAX_DEFAULT } from '../../core/forwarding/forwarder.ts';
import { HEADER_SIGNATURE, HEADER_TIMESTAMP, SIGNATURE_MAX_AGE_SECS_DEFAULT, signatureHeaders } from '../../core/forwarding/signing.ts';
import { encodeBatchBody, parseBackendRejections, parseBatchBody } from '../../core/forwarding/wire.ts';
import {
  ERROR_TEXT_CHARS_MAX,
  POLICY_CONTEXT_ENTRIES_MAX,
  POLICY_CONTEXT_KEY_CHARS_MAX,
  POLICY_CONTEXT_STRING_CHARS_MAX,
  REASON_DETAIL_CHARS_MAX,
  VERIFIER_FRAME_BYTES_MAX,
  checkVerdict,
  encodeVerifyRequest,
} from '../../core/policy/verifier-protocol.ts';
import { CHAIN, makeTemplate } from '../support/policy-fixtures.ts';

const doc = (name: string): string => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

/** The fenced code blocks of one language, in document order. */
function blocks(markdown: string, lang: string): string[] {
  return [...markdown.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const num = (text: string): number => Number(text.replace(/,/g, ''));

describe('docs/share-forwarding.md examples against the code', () => {
  const md = doc('share-forwarding.md');
  const [batchText, answerText] = blocks(md, 'json');

  test('the batch example decodes with the real decoder and re-encodes to the same value', () => {
    const parsed = parseBatchBody(batchText!);
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.message);
    const example = JSON.parse(batchText!) as { gateway_id: number; batch_id: string; attempt: number; shares: object[] };
    const encoded = encodeBatchBody(example.gateway_id, example.batch_id, example.attempt, example.shares.map((s) => JSON.stringify(s)));
    assert.deepEqual(JSON.parse(encoded), example);
    assert.equal(encoded, JSON.stringify(example), 'the wire is the compact form of the example');
  });

  test('the answer example: the real answer parser refuses exactly the share marked rejected, with its words', () => {
    assert.deepEqual([...parseBackendRejections(answerText!)], [['7-3f9a1c0e5b7d2a64-42', 'below pool difficulty']]);
  });

  test('the JavaScript verification example, run as written, accepts a gateway-signed request and refuses tampering and replay', async () => {
    const [js] = blocks(md, 'js');
    const dir = mkdtempSync(join(readEnv('TMPDIR') || '/tmp', 'rg-doc-example-'));
    const file = join(dir, 'verify-share-batch.mjs');
    writeFileSync(file, js!);
    const { verifyShareBatch } = (await import(pathToFileURL(file).href)) as { verifyShareBatch: (secret: string, headers: Record<string, string>, body: Uint8Array) => string | null };
    const secret = 'doc-example-secret-0123456789';
    const body = utf8(batchText!.replace(/\s*\n\s*/g, ''));
    const signed = signatureHeaders(nobleProvider, utf8(secret), 7, Date.now(), body);
    const headers = { 'x-reservegrid-timestamp': signed[HEADER_TIMESTAMP]!, 'x-reservegrid-signature': signed[HEADER_SIGNATURE]! };
    const { Buffer } = await import('node:buffer');
    assert.equal(verifyShareBatch(secret, headers, Buffer.from(body)), null, 'the gateway\'s signature verifies with the documented code');
    assert.equal(verifyShareBatch(secret, headers, Buffer.from(body)), 'replay');
    const tampered = Buffer.from(body);
    tampered[tampered.length - 3] ^= 1;
    assert.equal(verifyShareBatch(secret, { ...headers, 'x-reservegrid-signature': signatureHeaders(nobleProvider, utf8(secret), 7, Date.now() + 1000, body)[HEADER_SIGNATURE]! }, tampered), 'bad signature');
    assert.equal(verifyShareBatch(secret, { ...headers, 'x-reservegrid-timestamp': String(Math.floor(Date.now() / 1000) - 301) }, Buffer.from(body)), 'timestamp outside the window');
  });

  test('the numbers in the prose are the code\'s', () => {
    assert.match(md, new RegExp(`After ${ATTEMPTS_MAX_DEFAULT} attempts \\(the forwarder's \`attemptsMax\`\\)`));
    assert.match(md, new RegExp(`more than ${SIGNATURE_MAX_AGE_SECS_DEFAULT} s away`));
  });
});

describe('docs/verifier-protocol.md and docs/policy.md examples against the code', () => {
  const md = doc('verifier-protocol.md');
  const [headerText, verdictText] = blocks(md, 'json');

  test('the VERIFY header example has exactly the keys, nesting and value kinds of what the real encoder sends', () => {
    const frame = encodeVerifyRequest(1, { template: makeTemplate({ templateId: 42n }), chain: CHAIN, timeoutMs: 5050 });
    const body = frame.subarray(10);
    const jsonLength = new DataView(body.buffer, body.byteOffset).getUint32(0, true);
    const real = JSON.parse(new TextDecoder().decode(body.subarray(4, 4 + jsonLength))) as Record<string, unknown>;
    const example = JSON.parse(headerText!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(example), Object.keys(real), 'top-level keys, in order');
    assert.deepEqual(Object.keys(example['chain'] as object), Object.keys(real['chain'] as object), 'chain keys, in order');
    for (const key of Object.keys(real)) {
      // longpoll_id is null in both; a string in real templates from a node that long-polls.
      assert.equal(kind(example[key]), kind(real[key]), `kind of ${key}`);
    }
    assert.equal(example['timeout_ms'], 5050, 'the example shows the time left until the hold expiry');
  });

  test('the VERDICT example passes the real answer checks; so does docs/policy.md\'s verdict', () => {
    const body = JSON.parse(verdictText!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['template_id', 'verdict']);
    const checked = checkVerdict(body['verdict']);
    assert.ok(checked.ok, checked.ok ? '' : checked.detail);
    const [policyVerdict] = blocks(doc('policy.md'), 'json');
    const p = checkVerdict(JSON.parse(policyVerdict!));
    assert.ok(p.ok, p.ok ? '' : p.detail);
  });

  test('the bounds the docs state are the code\'s', () => {
    const range = /length\s+U32\s+bytes after this field \(([0-9,]+) \.\. ([0-9,]+)\)/.exec(md);
    assert.ok(range !== null, 'frame length range stated');
    assert.deepEqual([num(range![1]!), num(range![2]!)], [6, VERIFIER_FRAME_BYTES_MAX]);
    const checks = md.slice(md.indexOf('## What the gateway checks'));
    assert.match(checks, new RegExp(`\`reason_detail\` a string of at most ${REASON_DETAIL_CHARS_MAX.toLocaleString('en-US')} characters`));
    assert.match(checks, new RegExp(`\`policy_context\` an object of at most ${POLICY_CONTEXT_ENTRIES_MAX} entries, keys of 1–${POLICY_CONTEXT_KEY_CHARS_MAX} characters`));
    assert.match(checks, new RegExp(`strings of at most ${POLICY_CONTEXT_STRING_CHARS_MAX.toLocaleString('en-US')} characters`));
    assert.match(md, new RegExp(`Exactly \`\\{"error": "<text>"\\}\` \\(at most ${ERROR_TEXT_CHARS_MAX.toLocaleString('en-US')} characters\\)`));
  });
});
