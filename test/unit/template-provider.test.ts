// Unit tests of the Template Provider's parts (issue 10): the coinbase reservation arithmetic,
// the coinbase parser, the template cache bounds, the [template_provider] config rule
// (present = enabled, listen_addr required then), and docs/events.md covering every tdp_ type.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, propertyParams, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { bytesToHex, concatBytes, hexToBytes } from '../../core/bytes.ts';
import { keyMeta, loadConfig, sectionKeys } from '../../core/config/index.ts';
import { REASON_CODES } from '../../core/reason-codes.ts';
import { GatewayMetrics } from '../../core/metrics/gateway-metrics.ts';
import { COINBASE_RESERVED_WEIGHT_BASE, coinbaseReservedWeight, constraintsProblem, tailorTemplate } from '../../core/template-provider/tailor.ts';
import { parseCoinbase } from '../../core/template-provider/transaction.ts';
import { TemplateCache } from '../../core/template-provider/template-cache.ts';
import { TailorCache } from '../../core/template-provider/tdp-session.ts';
import { defaultSha256 } from '../../core/mining/hash.ts';
import { makeTemplate, makeTx } from '../support/policy-fixtures.ts';
import { dsha, merkleRootOf, rootFromPath } from '../support/tdp-solution.ts';

const exampleText = readFileSync(new URL('../../deploy/config/example.toml', import.meta.url), 'utf8');

describe('template provider: reservation arithmetic', () => {
  test('1168 + 4 × additional bytes, counted field by field (header, tx count, maximal coinbase, witness)', () => {
    const header = 80;
    const txCount = 3;
    const coinbaseBody = 4 + 1 + 36 + 1 + 100 + 4 + 3 + (8 + 1 + 38) + 4;
    const witness = 2 + 1 + 1 + 32;
    assert.equal((header + txCount + coinbaseBody) * 4 + witness, 1168);
    assert.equal(COINBASE_RESERVED_WEIGHT_BASE, 1168);
    assert.equal(coinbaseReservedWeight(0), 1168);
    assert.equal(coinbaseReservedWeight(43), 1168 + 172);
  });

  test('constraintsProblem: the boundaries of weight, B0_64K and sigops', () => {
    assert.equal(constraintsProblem({ additionalSizeBytes: 65_299, additionalSigops: 80_000 }), null);
    assert.match(constraintsProblem({ additionalSizeBytes: 65_300, additionalSigops: 0 })!, /B0_64K/);
    assert.match(constraintsProblem({ additionalSizeBytes: 0, additionalSigops: 80_001 })!, /sigop limit/);
    assert.match(constraintsProblem({ additionalSizeBytes: 1000, additionalSigops: 0 }, { weightLimit: 5167 })!, /block weight limit/);
    assert.equal(constraintsProblem({ additionalSizeBytes: 1000, additionalSigops: 0 }, { weightLimit: 5168 }), null);
  });

  test('tailorTemplate keeps everything that fits and returns the node\'s own commitment and path then', () => {
    const t = makeTemplate({ fees: [1n, 2n, 3n] });
    const tailored = tailorTemplate(t, { additionalSizeBytes: 0, additionalSigops: 0 });
    assert.equal(tailored.droppedCount, 0);
    assert.equal(tailored.transactions, t.transactions);
    assert.equal(tailored.witnessCommitmentScript, t.defaultWitnessCommitment);
    assert.equal(tailored.coinbaseValueSats, t.coinbaseValue);
    assert.throws(() => tailorTemplate(t, { additionalSizeBytes: 2_000_000, additionalSigops: 0 }), RangeError);
  });

  test('trimming to an exact fit: weight budget = limit − reservation, inclusive', () => {
    const txs = [makeTx(1, 10n), makeTx(2, 20n), makeTx(3, 30n)];
    const w = txs.map((x) => x.weight);
    const t = { ...makeTemplate({ transactions: txs }), weightLimit: 1168 + w[0]! + w[1]! };
    const exact = tailorTemplate(t, { additionalSizeBytes: 0, additionalSigops: 0 });
    assert.equal(exact.transactions.length, 2, 'two fit exactly');
    assert.equal(exact.feesSats, 30n);
    assert.equal(exact.coinbaseValueSats, t.coinbaseValue - 30n);
    const oneByteMore = tailorTemplate(t, { additionalSizeBytes: 1, additionalSigops: 0 });
    assert.equal(oneByteMore.transactions.length, 1, '4 WU more reserved: the second goes too');
  });
});

describe('template provider: trimming properties (fast-check, seed printed at start)', () => {
  test('for any template and constraints: what is kept fits, is the longest fitting prefix closed under depends, and the path and commitment match it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ sig: fc.integer({ min: 0, max: 250 }), fee: fc.integer({ min: 0, max: 50_000 }), dep: fc.option(fc.nat(), { nil: undefined }) }), { maxLength: 24 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 200 }),
        fc.nat(),
        fc.integer({ min: -4, max: 4 }),
        (specs, size, sigops, cut, delta) => {
          const txs = specs.map((x, i) => makeTx(i + 1, BigInt(x.fee), undefined, x.dep === undefined || i === 0 ? [] : [1 + (x.dep % i)], x.sig));
          const t = makeTemplate({ transactions: txs });
          // The weight limit lands exactly on (or a few WU around) a prefix boundary, where an
          // off-by-one in the budget shows.
          const prefix = txs.slice(0, cut % (txs.length + 1)).reduce((n, x) => n + x.weight, 0);
          const limited = { ...t, weightLimit: Math.max(1168 + 4 * size, 1168 + 4 * size + prefix + delta), sigopLimit: sigops + 4 * Math.floor(specs.length / 2) };
          const r = tailorTemplate(limited, { additionalSizeBytes: size, additionalSigops: sigops });
          const kept = r.transactions;
          const w = kept.reduce((n, x) => n + x.weight, 0);
          const so = kept.reduce((n, x) => n + x.sigops, 0);
          if (w + 1168 + 4 * size > limited.weightLimit || so + sigops > limited.sigopLimit) return false;
          // Parents-first input: the kept set is a prefix, and the next transaction would not fit.
          if (kept.some((x, i) => x !== txs[i])) return false;
          const next = txs[kept.length];
          if (next !== undefined && w + next.weight + 1168 + 4 * size <= limited.weightLimit && so + next.sigops + sigops <= limited.sigopLimit) return false;
          if (r.droppedCount !== txs.length - kept.length) return false;
          if (r.coinbaseValueSats !== t.coinbaseValue - txs.slice(kept.length).reduce((n, x) => n + x.fee, 0n)) return false;
          const leaf = dsha(new Uint8Array([1, 2, 3]));
          if (bytesToHex(rootFromPath(leaf, r.merklePath)) !== bytesToHex(merkleRootOf([leaf, ...kept.map((x) => x.txid)]))) return false;
          const commitment = dsha(concatBytes(merkleRootOf([new Uint8Array(32), ...kept.map((x) => x.wtxid)]), new Uint8Array(32)));
          return bytesToHex(r.witnessCommitmentScript) === '6a24aa21a9ed' + bytesToHex(commitment);
        },
      ),
      propertyParams(150),
    );
  });
});

describe('template provider: tailor cache', () => {
  test('equal constraints share one tailoring per template; other constraints or another template object miss; bounded', () => {
    const cache = new TailorCache(2, defaultSha256);
    const t = makeTemplate({ fees: [1n, 2n] });
    const a = cache.get(t, { additionalSizeBytes: 10, additionalSigops: 1 });
    assert.equal(cache.get(t, { additionalSizeBytes: 10, additionalSigops: 1 }), a);
    assert.deepEqual([cache.hits, cache.misses], [1, 1]);
    assert.notEqual(cache.get(t, { additionalSizeBytes: 11, additionalSigops: 1 }), a);
    assert.notEqual(cache.get({ ...t }, { additionalSizeBytes: 10, additionalSigops: 1 }), a, 'same id, different object: recomputed');
    cache.get(makeTemplate({ templateId: 9n }), { additionalSizeBytes: 0, additionalSigops: 0 });
    assert.deepEqual([cache.hits, cache.misses], [1, 4]);
  });
});

describe('template provider: coinbase parser', () => {
  const body = concatBytes(
    new Uint8Array([1]), new Uint8Array(32), hexToBytes('ffffffff'), new Uint8Array([4]), hexToBytes('02e80300'), hexToBytes('ffffffff'),
    new Uint8Array([1]), new Uint8Array(8), new Uint8Array([1]), new Uint8Array([0x6a]),
  );
  const legacy = concatBytes(hexToBytes('02000000'), body, new Uint8Array(4));
  const segwit = concatBytes(hexToBytes('02000000'), hexToBytes('0001'), body, hexToBytes('0120'), new Uint8Array(32), new Uint8Array(4));

  test('with and without witness: the stripped form is the legacy serialization', () => {
    const a = parseCoinbase(segwit);
    const b = parseCoinbase(legacy);
    assert.ok(a.ok && b.ok);
    assert.equal(bytesToHex(a.value.stripped), bytesToHex(legacy));
    assert.equal(a.value.hasWitness, true);
    assert.equal(a.value.witnessBytes, 2 + 34);
    assert.equal(bytesToHex(b.value.stripped), bytesToHex(legacy));
  });

  test('every truncation of a valid coinbase is refused, never thrown', () => {
    for (let n = 0; n < segwit.length; n++) assert.equal(parseCoinbase(segwit.subarray(0, n)).ok, false, `length ${n}`);
  });

  test('non-coinbase shapes are refused with a reason', () => {
    const notNull = Uint8Array.from(legacy);
    notNull[5] = 1;
    const r = parseCoinbase(notNull);
    assert.ok(!r.ok && /not null/.test(r.error));
    const trailing = parseCoinbase(concatBytes(legacy, new Uint8Array([0])));
    assert.ok(!trailing.ok && /after the locktime/.test(trailing.error));
    const badFlag = Uint8Array.from(segwit);
    badFlag[5] = 2;
    assert.equal(parseCoinbase(badFlag).ok, false);
  });
});

describe('template provider: template cache', () => {
  test('bounded by capacity; shared transactions indexed once and kept while any template holds them', () => {
    const shared = makeTx(1, 1n);
    const cache = new TemplateCache(2);
    cache.add(makeTemplate({ templateId: 1n, transactions: [shared, makeTx(2, 1n)] }));
    cache.add(makeTemplate({ templateId: 2n, transactions: [shared, makeTx(3, 1n)] }));
    assert.equal(cache.transactionCount, 3);
    cache.add(makeTemplate({ templateId: 3n, transactions: [makeTx(4, 1n)] }));
    assert.equal(cache.size, 2);
    assert.equal(cache.evicted, 1);
    assert.equal(cache.template(1n), undefined);
    assert.notEqual(cache.byTxid(shared.txid), undefined, 'still held by template 2');
    assert.equal(cache.byTxid(makeTx(2, 1n).txid), undefined, 'only template 1 had it');
    assert.equal(cache.byWtxid(makeTx(4, 1n).wtxid)?.fee, 1n);
    cache.add(makeTemplate({ templateId: 4n, transactions: [] }));
    assert.equal(cache.byTxid(shared.txid), undefined, 'gone with its last template');
    assert.deepEqual(cache.templates().map((t) => t.templateId), [4n, 3n]);
  });
});

describe('template provider: configuration', () => {
  const without = exampleText.slice(0, exampleText.indexOf('# Template Provider'));

  test('no [template_provider] section: the role is off and nothing is required', () => {
    const loaded = loadConfig({ tomlText: without, env: {} });
    assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.problems));
    assert.equal(loaded.config.template_provider.listen_addr, undefined);
  });

  test('[template_provider] present without listen_addr is refused, naming the key and its env variable', () => {
    const loaded = loadConfig({ tomlText: `${without}\n[template_provider]\nmax_clients = 4\n`, env: {} });
    assert.ok(!loaded.ok);
    const p = loaded.problems.find((x) => x.key === 'template_provider.listen_addr');
    assert.ok(p !== undefined, JSON.stringify(loaded.problems));
    assert.match(p.message, /required when \[template_provider\] is present/);
    assert.match(p.message, /RESERVEGRID_TEMPLATE_PROVIDER__LISTEN_ADDR/);
  });

  test('a key from the environment alone also makes the section present', () => {
    const loaded = loadConfig({ tomlText: without, env: { RESERVEGRID_TEMPLATE_PROVIDER__MAX_CLIENTS: '3' } });
    assert.ok(!loaded.ok);
    const enabled = loadConfig({ tomlText: without, env: { RESERVEGRID_TEMPLATE_PROVIDER__LISTEN_ADDR: '127.0.0.1:0' } });
    assert.ok(enabled.ok);
    assert.equal(enabled.config.template_provider.listen_addr, '127.0.0.1:0');
    assert.equal(enabled.config.template_provider.max_clients, 16, 'documented default');
  });

  test('the example enables it on 127.0.0.1:8442 (the interop contract)', () => {
    const loaded = loadConfig({ tomlText: exampleText, env: {} });
    assert.ok(loaded.ok);
    assert.equal(loaded.config.template_provider.listen_addr, '127.0.0.1:8442');
  });
});

describe('template provider: docs', () => {
  test('docs/events.md documents every tdp_ event type', () => {
    const doc = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');
    const source = readFileSync(new URL('../../core/template-provider/events.ts', import.meta.url), 'utf8');
    const types = [...source.matchAll(/readonly type: '([a-z_]+)'/g)].map((m) => m[1]!);
    assert.equal(types.length, 8);
    for (const type of types) {
      assert.match(type, /^tdp_/);
      assert.ok(doc.includes(`\`${type}\``), `docs/events.md mentions ${type}`);
    }
  });

  const guide = readFileSync(new URL('../../docs/template-provider.md', import.meta.url), 'utf8');

  test('docs/template-provider.md: the defaults table is the schema\'s, for every key of the section', () => {
    const rows = [...guide.matchAll(/^\| `(template_provider\.[a-z_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()] as const);
    assert.deepEqual(rows.map(([k]) => k), sectionKeys('template_provider').map((k) => k.path));
    for (const [key, shown] of rows) {
      const meta = keyMeta(key)!;
      if (meta.presence === 'default') assert.equal(shown, `\`${String(meta.default)}\``, key);
      else assert.match(shown, /required/, key);
    }
  });

  test('docs/template-provider.md: its TOML example loads and enables the role; every code, event and metric it names exists', () => {
    const toml = /```toml\n(\[template_provider\][^`]*)```/.exec(guide)![1]!;
    const without = exampleText.slice(0, exampleText.indexOf('# Template Provider'));
    const loaded = loadConfig({ tomlText: `${without}\n${toml}`, env: {} });
    assert.ok(loaded.ok, loaded.ok ? '' : JSON.stringify(loaded.problems));
    assert.equal(loaded.config.template_provider.listen_addr, '127.0.0.1:8442');
    const codes = [...guide.matchAll(/`(tdp_[a-z_]+|stale_hold_expired|shadow_mode|connection_limit_reached|unexpected_message|malformed_message|handshake_timeout|decrypt_failed|frame_too_large)`/g)].map((m) => m[1]!);
    const source = readFileSync(new URL('../../core/template-provider/events.ts', import.meta.url), 'utf8');
    const eventTypes = new Set([...source.matchAll(/readonly type: '([a-z_]+)'/g)].map((m) => m[1]!));
    for (const code of codes) assert.ok(code in REASON_CODES || eventTypes.has(code), `${code} is a reason code or an event type`);
    const rendered = new GatewayMetrics().registry.render();
    for (const [, metric] of guide.matchAll(/`(reservegrid_tdp_[a-z_]+)`/g)) assert.match(rendered, new RegExp(`# TYPE ${metric} `), `${metric} exists`);
    for (const wire of ['stale-template-id', 'template-id-not-found', 'unsupported-protocol', 'protocol-version-mismatch', 'unsupported-feature-flags']) {
      assert.ok(guide.includes(wire) && Object.values(REASON_CODES).some((c) => (c as { wire?: string }).wire === wire), wire);
    }
  });
});
