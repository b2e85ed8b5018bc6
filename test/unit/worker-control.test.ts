// The leader ⇄ worker control-channel codec (core/gateway/worker-control.ts, issue 13 item 1):
// frames against hand-assembled bytes from the layout in the file header (not round trips
// only), every split point of a multi-frame stream, bigint/bytes tagging of a real template, and
// every kind of malformed input refused as `worker_control_invalid` without a throw.
import { describe, test } from '../harness.ts';
import { assert, assertHex } from '../assert.ts';
import { bytesToHex, concatBytes, hexToBytes } from '../../core/bytes.ts';
import { encodeMessage, type Sv2Message } from '../../core/codec/index.ts';
import { ExtranonceAllocator } from '../../core/channels/extranonce.ts';
import { SeededRandom } from '../../core/random.ts';
import { decodeControlJson, encodeControlJson, encodeWorkerControl, WorkerControlDecoder, type WorkerControlMessage } from '../../core/gateway/worker-control.ts';

function decodeAll(bytes: Uint8Array, chunk = bytes.length): { messages: WorkerControlMessage[]; error: string | null } {
  const d = new WorkerControlDecoder();
  for (let at = 0; at < bytes.length; at += chunk) d.push(bytes.subarray(at, Math.min(bytes.length, at + chunk)));
  const messages: WorkerControlMessage[] = [];
  for (let m = d.poll(); m !== undefined; m = d.poll()) messages.push(m);
  return { messages, error: d.error === null ? null : `${d.error.code}: ${d.error.message}` };
}

/** Each (name, frame hex, why) decodes to no message and a worker_control_invalid error matching `why`. */
function refusedCases(cases: readonly (readonly [string, string, RegExp])[]): void {
  for (const [name, hex, why] of cases) {
    test(`${name} → worker_control_invalid`, () => {
      const { messages, error } = decodeAll(hexToBytes(hex));
      assert.deepEqual(messages, []);
      assert.ok(error !== null && error.startsWith('worker_control_invalid: '), `${name}: ${error}`);
      assert.match(error!, why);
    });
  }
}

describe('worker control codec: bytes', () => {
  test('HELLO: length 9, type 1, index U16 LE, pid U32 LE, port U16 LE', () => {
    assertHex(encodeWorkerControl({ type: 'hello', index: 2, pid: 0x01020304, port: 3333 }), '09000000' + '01' + '0200' + '04030201' + '050d');
    const { messages, error } = decodeAll(hexToBytes('0900000001' + '0300' + 'ffffffff' + 'ffff'));
    assert.equal(error, null);
    assert.deepEqual(messages, [{ type: 'hello', index: 3, pid: 0xffffffff, port: 65535 }]);
  });

  test('GATE flags, ACK batch, empty bodies', () => {
    assertHex(encodeWorkerControl({ type: 'gate', holding: true, refusingMiners: false }), '020000000301');
    assertHex(encodeWorkerControl({ type: 'gate', holding: true, refusingMiners: true }), '020000000303');
    assertHex(encodeWorkerControl({ type: 'ack', batch: 258 }), '050000000602010000');
    assertHex(encodeWorkerControl({ type: 'hold_expired' }), '0100000004');
    assertHex(encodeWorkerControl({ type: 'shutdown' }), '0100000009');
  });

  test('EVENTS: batch U32 LE, wants_ack U8, then tagged JSON', () => {
    const bytes = encodeWorkerControl({ type: 'events', batch: 7, wantsAck: true, events: [{ type: 'share_accepted', n: 1n }] });
    const json = new TextEncoder().encode('[{"type":"share_accepted","n":{"$n":"1"}}]');
    assertHex(bytes, bytesToHex(Uint8Array.of(1 + 5 + json.length, 0, 0, 0, 5, 7, 0, 0, 0, 1)) + bytesToHex(json));
    const { messages } = decodeAll(bytes);
    assert.deepEqual(messages, [{ type: 'events', batch: 7, wantsAck: true, events: [{ type: 'share_accepted', n: 1n }] }]);
  });

  test('a stream of frames decodes the same at every split point', () => {
    const template = { templateId: 42n, prevHash: hexToBytes('00'.repeat(31) + 'ff'), merklePath: [hexToBytes('ab'), hexToBytes('')], coinbaseValue: 5_000_000_000n, maxtime: null, rules: ['csv'] };
    const msgs: WorkerControlMessage[] = [
      { type: 'hello', index: 1, pid: 99, port: 40000 },
      { type: 'template', template },
      { type: 'gate', holding: false, refusingMiners: true },
      { type: 'submit_block', command: { type: 'submit_block', block_id: '7-ab-1', hex: '00ff', attempt: 1 } },
      { type: 'block_result', blockId: '7-ab-1', outcome: { kind: 'accepted' } },
      { type: 'shutdown' },
    ];
    const parts = msgs.map((m) => encodeWorkerControl(m));
    const stream = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      stream.set(p, at);
      at += p.length;
    }
    for (const chunk of [1, 2, 3, 5, 7, 11, stream.length]) {
      const { messages, error } = decodeAll(stream, chunk);
      assert.equal(error, null, `chunk ${chunk}`);
      assert.deepEqual(messages, msgs, `chunk ${chunk}`);
    }
    const decoded = (decodeAll(stream).messages[1] as { template: typeof template }).template;
    assert.ok(decoded.prevHash instanceof Uint8Array && typeof decoded.templateId === 'bigint');
  });

  test('tagged JSON: bigint and bytes survive, a look-alike with extra keys stays an object', () => {
    const v = { a: -12345678901234567890n, b: Uint8Array.of(1, 2), c: { $n: '1', extra: true } };
    assert.deepEqual(decodeControlJson(encodeControlJson(v)), v);
  });
});

describe('worker control codec: the Job Declaration token check (TOKEN_CHECK 10, TOKEN_ANSWER 11)', () => {
  const job: Extract<Sv2Message, { type: 'SetCustomMiningJob' }> = {
    type: 'SetCustomMiningJob', channelId: 3, requestId: 9, miningJobToken: new Uint8Array(16).fill(0xab), version: 0x20000000,
    prevHash: new Uint8Array(32).fill(1), minNtime: 1_700_000_000, nbits: 0x207fffff, coinbaseTxVersion: 2, coinbasePrefix: Uint8Array.of(1, 0x65),
    coinbaseTxInputNSequence: 0xffffffff, coinbaseTxOutputs: Uint8Array.of(0), coinbaseTxLocktime: 0, merklePath: [new Uint8Array(32).fill(7)],
  };

  test('TOKEN_CHECK: ticket U32 LE, full extranonce bytes U8, user length U8, user, then the SV2 frame of the job', () => {
    const sv2 = encodeMessage(job);
    const bytes = encodeWorkerControl({ type: 'token_check', check: { id: 0x01020304, user: 'alice.rig', fullExtranonceBytes: 16, job } });
    const user = new TextEncoder().encode('alice.rig');
    const bodyLength = 4 + 1 + 1 + user.length + sv2.length;
    assertHex(bytes, bytesToHex(Uint8Array.of((1 + bodyLength) & 0xff, (1 + bodyLength) >> 8, 0, 0, 10)) + '04030201' + '10' + '09' + bytesToHex(user) + bytesToHex(sv2));
    const { messages, error } = decodeAll(bytes, 7);
    assert.equal(error, null);
    assert.deepEqual(messages, [{ type: 'token_check', check: { id: 0x01020304, user: 'alice.rig', fullExtranonceBytes: 16, job } }]);
  });

  test('TOKEN_ANSWER: ticket U32 LE, then tagged JSON (the declared transactions as bytes)', () => {
    const declared = encodeWorkerControl({ type: 'token_answer', id: 5, answer: { ok: true, declared: { declarationId: 41n, transactions: [Uint8Array.of(1, 2)] } } });
    const json = new TextEncoder().encode('{"ok":true,"declared":{"declaration_id":{"$n":"41"},"transactions":[{"$x":"0102"}]}}');
    assertHex(declared, bytesToHex(Uint8Array.of(1 + 4 + json.length, 0, 0, 0, 11, 5, 0, 0, 0)) + bytesToHex(json));
    const refused = { type: 'token_answer' as const, id: 6, answer: { ok: false as const, reasonCode: 'jd_token_reused' as const, detail: 'token already used' } };
    const coinbaseOnly = { type: 'token_answer' as const, id: 7, answer: { ok: true as const, declared: null } };
    const { messages, error } = decodeAll(concatBytes(declared, encodeWorkerControl(refused), encodeWorkerControl(coinbaseOnly)), 3);
    assert.equal(error, null);
    assert.deepEqual(messages, [{ type: 'token_answer', id: 5, answer: { ok: true, declared: { declarationId: 41n, transactions: [Uint8Array.of(1, 2)] } } }, refused, coinbaseOnly]);
  });

  const frame = (type: number, body: Uint8Array): string => bytesToHex(Uint8Array.of((1 + body.length) & 0xff, (1 + body.length) >> 8, 0, 0, type)) + bytesToHex(body);
  const answer = (json: string): string => frame(11, concatBytes(Uint8Array.of(1, 0, 0, 0), new TextEncoder().encode(json)));
  const check = (sv2: Uint8Array, user = Uint8Array.of(0x61)): string => frame(10, concatBytes(Uint8Array.of(1, 0, 0, 0, 8, user.length), user, sv2));
  const cases: Array<[string, string, RegExp]> = [
    ['TOKEN_CHECK carrying another message', check(encodeMessage({ type: 'CloseChannel', channelId: 1, reasonCode: 'x' })), /not SetCustomMiningJob/],
    ['TOKEN_CHECK with a cut SV2 frame', check(encodeMessage(job).subarray(0, 40)), /announces \d+ payload bytes/],
    ['TOKEN_CHECK with a bad user', check(encodeMessage(job), Uint8Array.of(0xc3, 0x28)), /not UTF-8/],
    ['TOKEN_CHECK too short', frame(10, Uint8Array.of(1, 0, 0, 0, 8)), /at least/],
    ['TOKEN_ANSWER with a code the token stage never gives', answer('{"ok":false,"reason_code":"peer_closed","detail":""}'), /not a token-stage refusal/],
    ['TOKEN_ANSWER with transactions that are not bytes', answer('{"ok":true,"declared":{"declaration_id":{"$n":"1"},"transactions":["00"]}}'), /byte strings/],
    ['TOKEN_ANSWER without a declaration id', answer('{"ok":true,"declared":{"transactions":[]}}'), /declaration_id/],
    ['TOKEN_ANSWER ok not boolean', answer('{"ok":1}'), /ok must be true or false/],
  ];
  refusedCases(cases);

  test('encoder misuse: a user over 255 bytes (SV2 STR0_255) throws', () => {
    assert.throws(() => encodeWorkerControl({ type: 'token_check', check: { id: 1, user: 'x'.repeat(256), fullExtranonceBytes: 8, job } }), /at most 255/);
  });
});

describe('worker control codec: malformed input', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['length 0', '00000000', /length 0/],
    ['unknown type', '0100000063', /unknown control message type 99/],
    ['HELLO too short', '050000000101000200', /HELLO body must be 8 bytes/],
    ['GATE unknown bit', '020000000304', /unknown flag bits/],
    ['ACK too long', '06000000060100000000', /ACK body must be 4 bytes/],
    ['EVENTS not an array', '0800000005' + '01000000' + '00' + bytesToHex(new TextEncoder().encode('{}')), /not a JSON array/],
    ['EVENTS wants_ack 2', '0800000005' + '01000000' + '02' + bytesToHex(new TextEncoder().encode('[]')), /wants_ack must be 0 or 1/],
    ['TEMPLATE bad JSON', '0400000002' + bytesToHex(new TextEncoder().encode('{"a')), /TEMPLATE/],
    ['TEMPLATE bad UTF-8', '0300000002' + 'c328', /TEMPLATE/],
    ['bad bigint tag', '1100000002' + bytesToHex(new TextEncoder().encode('{"a":{"$n":"x"}}')), /TEMPLATE: bad bigint/],
    ['SUBMIT_BLOCK not a command', '0300000007' + bytesToHex(new TextEncoder().encode('{}')), /not a submit_block command/],
    ['BLOCK_RESULT without outcome', '1300000008' + bytesToHex(new TextEncoder().encode('{"block_id":"x"}')) + '2020', /needs block_id and outcome/],
  ];
  refusedCases(cases);

  test('an oversized frame is refused from its length field, before buffering; the decoder is terminal', () => {
    const d = new WorkerControlDecoder({ frameBytesMax: 16 });
    d.push(hexToBytes('11000000'));
    assert.equal(d.error?.code, 'worker_control_invalid');
    assert.equal(d.bufferedBytes, 0);
    d.push(encodeWorkerControl({ type: 'shutdown' }));
    assert.equal(d.poll(), undefined);
    // Exactly at the bound is fine.
    const ok = new WorkerControlDecoder({ frameBytesMax: 9 });
    ok.push(encodeWorkerControl({ type: 'hello', index: 0, pid: 1, port: 2 }));
    assert.deepEqual(ok.poll(), { type: 'hello', index: 0, pid: 1, port: 2 });
  });

  test('encoder misuse throws RangeError naming the field', () => {
    assert.throws(() => encodeWorkerControl({ type: 'hello', index: 70000, pid: 1, port: 1 }), /hello.index must be a U16/);
    assert.throws(() => encodeWorkerControl({ type: 'ack', batch: -1 }), /ack.batch must be a U32/);
  });
});

describe('extranonce partition by worker (core/channels/extranonce.ts)', () => {
  test('workers of one gateway never share a prefix, whatever their boot nonces; index in the counter\'s top bits', () => {
    // Same seed: the same boot nonce in both, so only the partition keeps them apart.
    const a = new ExtranonceAllocator({ gatewayId: 7, random: new SeededRandom(1), partition: { index: 0, count: 2 } });
    const b = new ExtranonceAllocator({ gatewayId: 7, random: new SeededRandom(1), partition: { index: 1, count: 2 } });
    assert.equal(a.bootNonce, b.bootNonce);
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      for (const x of [a, b]) {
        const p = bytesToHex(x.allocate()!);
        assert.ok(!seen.has(p), `prefix ${p} handed out twice`);
        seen.add(p);
      }
    }
    assertHex(new ExtranonceAllocator({ gatewayId: 7, random: new SeededRandom(1), partition: { index: 1, count: 2 } }).allocate()!, `0007${bytesToHex(Uint8Array.of(a.bootNonce >> 8, a.bootNonce & 0xff))}80000000`);
    // 3 workers: 2 bits; worker 2 starts at 0x80000000, and 0xc0000000 is nobody's.
    assertHex(new ExtranonceAllocator({ gatewayId: 1, random: new SeededRandom(2), partition: { index: 2, count: 3 } }).allocate()!.subarray(4), '80000000');
    // Without a partition nothing changes: counter from 0.
    assertHex(new ExtranonceAllocator({ gatewayId: 1, random: new SeededRandom(2) }).allocate()!.subarray(4), '00000000');
  });

  test('misuse throws', () => {
    assert.throws(() => new ExtranonceAllocator({ gatewayId: 1, random: new SeededRandom(1), partition: { index: 2, count: 2 } }), /partition.index/);
    assert.throws(() => new ExtranonceAllocator({ gatewayId: 1, random: new SeededRandom(1), partition: { index: 0, count: 0 } }), /partition.count/);
  });
});
