// docs/job-declaration.md is code (docs/testing.md): its config snippets for SRI's JD client in
// FULLTEMPLATE mode and for ReserveGrid's side are parsed here on every runtime. The interop run
// (conformance/interop/jds-interop.ts, check (h)) runs SRI's jd_client_sv2 with exactly these
// snippets (only addresses, ports and keys replaced by the run's).
import { readFileSync } from 'node:fs';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { describe, test } from '../harness.ts';
import { assert } from '../assert.ts';
import { bytesToHex } from '../../core/bytes.ts';
import { decodeAuthorityPublicKey } from '../../core/noise/keys.ts';
import { loadConfig } from '../../core/config/index.ts';
import {
  docSnippet, JDC_FULLTEMPLATE_KEYS, JDC_UPSTREAM_KEYS, JOB_DECLARATION_DOC, RESERVEGRID_JDS_KEYS, scriptOfAddrDescriptor, snippetKeyProblems, type TomlTable,
} from '../../conformance/interop/tp-doc-snippets.ts';

const jdc = (): TomlTable => docSnippet('sri-jdc-fulltemplate', undefined, JOB_DECLARATION_DOC).table;
const ours = (): TomlTable => docSnippet('reservegrid-jds', undefined, JOB_DECLARATION_DOC).table;

describe('docs/job-declaration.md snippets', () => {
  test('each snippet parses and has exactly the documented keys (and each [[upstreams]] entry too), none that scan a LAN range', () => {
    assert.deepEqual(snippetKeyProblems('sri-jdc-fulltemplate', jdc(), JDC_FULLTEMPLATE_KEYS), []);
    const upstreams = jdc()['upstreams'] as TomlTable[];
    assert.equal(upstreams.length, 1);
    assert.deepEqual(snippetKeyProblems('upstreams[0]', upstreams[0]!, JDC_UPSTREAM_KEYS), []);
    assert.deepEqual(snippetKeyProblems('reservegrid-jds', ours(), RESERVEGRID_JDS_KEYS), []);
  });

  test('the upstream key check fails on a missing and an unexpected key', () => {
    const upstream = structuredClone((jdc()['upstreams'] as TomlTable[])[0]!);
    delete upstream['jds_port'];
    upstream['jds_host'] = '127.0.0.1';
    const problems = snippetKeyProblems('upstreams[0]', upstream, JDC_UPSTREAM_KEYS);
    assert.ok(problems.some((p) => p.includes('jds_port missing')), problems.join('; '));
    assert.ok(problems.some((p) => p.includes('unexpected key jds_host')), problems.join('; '));
  });

  test("JDC's snippet is FULLTEMPLATE against ReserveGrid's ports: jds_port = the snippet's job_declaration.listen_addr, keys decode", () => {
    const t = jdc();
    assert.equal(t['mode'], 'FULLTEMPLATE');
    const upstream = (t['upstreams'] as TomlTable[])[0]!;
    const jdListen = String((ours()['job_declaration'] as TomlTable)['listen_addr']);
    assert.equal(`${upstream['jds_address']}:${upstream['jds_port']}`, jdListen);
    assert.equal(typeof upstream['pool_port'], 'number');
    assert.ok(decodeAuthorityPublicKey(String(upstream['authority_pubkey'])).ok);
    assert.ok(decodeAuthorityPublicKey(String(t['authority_public_key'])).ok);
    const sv2tp = (t['template_provider_type'] as TomlTable)['Sv2Tp'] as TomlTable;
    assert.ok(decodeAuthorityPublicKey(String(sv2tp['public_key'])).ok);
    assert.match(String(sv2tp['address']), /^127\.0\.0\.1:\d+$/);
    // Regtest P2WPKH of secret key 3 (the solo snippet's; HASH160 computed independently).
    assert.equal(bytesToHex(scriptOfAddrDescriptor(String(t['coinbase_reward_script']))), '00147dd65592d0ab2fe0d0257d571abf032cd9db93dc');
    // The doc's prose names the config path the interop check reads.
    assert.ok(readFileSync(JOB_DECLARATION_DOC, 'utf8').includes('conformance/interop/jds-interop.ts'));
  });

  test("ReserveGrid's snippet is valid config: merged into the example config it loads and enables work selection and the JDS", () => {
    const example = parseToml(readFileSync(new URL('../../deploy/config/example.toml', import.meta.url), 'utf8')) as TomlTable;
    delete example['job_declaration'];
    const off = loadConfig({ tomlText: stringifyToml({ ...example, mining: { ...(example['mining'] as TomlTable), allow_work_selection: false } }), fileName: 'doc.toml', env: {} });
    assert.ok(off.ok, off.ok ? '' : off.problems.map((p) => `${p.key}: ${p.message}`).join('; '));
    assert.equal(off.config.job_declaration.listen_addr, undefined);
    const snippet = ours();
    const merged = { ...example, mining: { ...(example['mining'] as TomlTable), ...(snippet['mining'] as TomlTable) }, job_declaration: snippet['job_declaration'] };
    const loaded = loadConfig({ tomlText: stringifyToml(merged), fileName: 'doc.toml', env: {} });
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.problems.map((p) => `${p.key}: ${p.message}`).join('; '));
    assert.equal(loaded.config.mining.allow_work_selection, true);
    assert.equal(loaded.config.job_declaration.listen_addr, '127.0.0.1:8443');
    assert.equal(loaded.config.job_declaration.declared_token_expiry_ms, 10_000);
  });
});
