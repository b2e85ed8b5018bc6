// docs/template-provider.md is code (docs/testing.md): its config snippets for SRI's pool, SRI's
// JD client and ReserveGrid itself are parsed here on every runtime. The interop run
// (conformance/interop/tp-interop.ts) then runs SRI's real apps with exactly these snippets.
import { readFileSync } from 'node:fs';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { decodeAuthorityPublicKey } from '../../core/noise/keys.ts';
import { loadConfig } from '../../core/config/index.ts';
import { docSnippet, JDC_KEYS, POOL_KEYS, RESERVEGRID_KEYS, scriptOfAddrDescriptor, snippetKeyProblems, type TomlTable } from '../../conformance/interop/tp-doc-snippets.ts';

describe('docs/template-provider.md snippets', () => {
  test('each snippet parses and has exactly the documented keys, none that scan a LAN range', () => {
    assert.deepEqual(snippetKeyProblems('sri-pool', docSnippet('sri-pool').table, POOL_KEYS), []);
    assert.deepEqual(snippetKeyProblems('sri-jdc-solo', docSnippet('sri-jdc-solo').table, JDC_KEYS), []);
    assert.deepEqual(snippetKeyProblems('reservegrid', docSnippet('reservegrid').table, RESERVEGRID_KEYS), []);
  });

  test('the key check fails on an extra key, a missing key and monitoring_address', () => {
    const table = structuredClone(docSnippet('sri-pool').table) as TomlTable;
    delete table['pool_signature'];
    table['monitoring_address'] = '127.0.0.1:9090';
    const problems = snippetKeyProblems('sri-pool', table, POOL_KEYS);
    assert.ok(problems.some((p) => p.includes('pool_signature missing')), problems.join('; '));
    assert.ok(problems.some((p) => p.includes('unexpected key monitoring_address')), problems.join('; '));
    assert.ok(problems.some((p) => p.includes('scan a LAN range')), problems.join('; '));
  });

  test('coinbase_reward_script addresses are the regtest P2WPKH of test keys 2 and 3; keys decode', () => {
    // Expected programs: HASH160 of the compressed public keys of secret keys 2 and 3
    // (computed independently of the bech32 decoder under test).
    const pool = docSnippet('sri-pool').table;
    const jdc = docSnippet('sri-jdc-solo').table;
    assert.equal(bytesToHex(scriptOfAddrDescriptor(String(pool['coinbase_reward_script']))), '001406afd46bcdfd22ef94ac122aa11f241244a37ecc');
    assert.equal(bytesToHex(scriptOfAddrDescriptor(String(jdc['coinbase_reward_script']))), '00147dd65592d0ab2fe0d0257d571abf032cd9db93dc');
    for (const t of [pool, jdc]) {
      assert.ok(decodeAuthorityPublicKey(String(t['authority_public_key'])).ok);
      const sv2tp = (t['template_provider_type'] as TomlTable)['Sv2Tp'] as TomlTable;
      assert.ok(decodeAuthorityPublicKey(String(sv2tp['public_key'])).ok);
      assert.match(String(sv2tp['address']), /^127\.0\.0\.1:\d+$/);
    }
    assert.equal(jdc['mode'], 'SOLOMINING');
    assert.deepEqual(jdc['upstreams'], []);
  });

  test("ReserveGrid's snippet is a valid [template_provider] section: the example config with it instead of its own loads", () => {
    const example = readFileSync(new URL('../../deploy/config/example.toml', import.meta.url), 'utf8');
    const start = example.indexOf('[template_provider]');
    assert.ok(start > 0, 'deploy/config/example.toml has a [template_provider] section');
    const next = example.indexOf('\n[', start + 1);
    const without = example.slice(0, start) + (next < 0 ? '' : example.slice(next + 1));
    const loaded = loadConfig({ tomlText: `${without}\n${docSnippet('reservegrid').text}`, fileName: 'doc.toml', env: {} });
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.problems.map((p) => `${p.key}: ${p.message}`).join('; '));
    assert.equal(loaded.config.template_provider.listen_addr, '127.0.0.1:8442');
    // And without the section the Template Provider is off: the snippet is what turns it on.
    const off = loadConfig({ tomlText: without, fileName: 'doc.toml', env: {} });
    assert.ok(off.ok);
    assert.equal(off.config.template_provider.listen_addr, undefined);
  });
});
