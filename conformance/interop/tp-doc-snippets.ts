// The configuration snippets of docs/template-provider.md, parsed (smol-toml) and checked, for
// the interop run (tp-interop.ts builds the SRI apps' configs from them) and for the unit test
// that keeps the doc honest on every runtime (test/unit/template-provider-doc.test.ts). Only
// file reading and pure helpers here, so it loads on Node, Deno and Bun.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bech32 } from '@scure/base';
import { parse as parseToml } from 'smol-toml';
import { concatBytes } from '../../core/bytes.ts';

export const TEMPLATE_PROVIDER_DOC = fileURLToPath(new URL('../../docs/template-provider.md', import.meta.url));

export type TomlTable = Record<string, unknown>;

/** docs/job-declaration.md: the JDC FULLTEMPLATE and ReserveGrid JDS snippets (interop check (h)). */
export const JOB_DECLARATION_DOC = fileURLToPath(new URL('../../docs/job-declaration.md', import.meta.url));

/** The TOML block after `<!-- interop-snippet: NAME -->` in `docPath` (or `docText`), parsed. */
export function docSnippet(name: string, docText?: string, docPath = TEMPLATE_PROVIDER_DOC): { text: string; table: TomlTable } {
  const text = docText ?? readFileSync(docPath, 'utf8');
  const marker = `<!-- interop-snippet: ${name} -->`;
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`${docPath}: no ${marker}`);
  const fence = /```toml\n([\s\S]*?)```/.exec(text.slice(at + marker.length));
  if (fence === null) throw new Error(`${docPath}: no \`\`\`toml block after ${marker}`);
  return { text: fence[1]!, table: parseToml(fence[1]!) as TomlTable };
}

/** Keys (dotted for tables) of a parsed TOML table, sorted. */
function keyPaths(table: TomlTable, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(table)) {
    const path = prefix === '' ? k : `${prefix}.${k}`;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...keyPaths(v as TomlTable, path));
    else out.push(path);
  }
  return out.sort();
}

export const POOL_KEYS = [
  'authority_public_key', 'authority_secret_key', 'cert_validity_sec', 'coinbase_reward_script', 'listen_address',
  'pool_signature', 'server_id', 'share_batch_size', 'shares_per_minute',
  'template_provider_type.Sv2Tp.address', 'template_provider_type.Sv2Tp.public_key',
].sort();
export const JDC_KEYS = [
  'authority_public_key', 'authority_secret_key', 'cert_validity_sec', 'coinbase_reward_script', 'jdc_signature',
  'listening_address', 'max_supported_version', 'min_supported_version', 'mode', 'share_batch_size', 'shares_per_minute',
  'template_provider_type.Sv2Tp.address', 'template_provider_type.Sv2Tp.public_key', 'upstreams',
].sort();

/** Problems with a snippet's key set (exactly `expected`; never the LAN-scanning keys). */
export function snippetKeyProblems(name: string, table: TomlTable, expected: readonly string[]): string[] {
  const got = keyPaths(table);
  const problems: string[] = [];
  for (const k of expected) if (!got.includes(k)) problems.push(`${name}: key ${k} missing`);
  for (const k of got) if (!expected.includes(k)) problems.push(`${name}: unexpected key ${k}`);
  for (const k of got) if (/monitoring_address|miner_telemetry/.test(k)) problems.push(`${name}: ${k} makes SRI's app scan a LAN range; drop it`);
  return problems;
}

/** The scriptPubKey of a descriptor `addr(<bech32 segwit v0 address>)`, as the SRI apps compute it. */
export function scriptOfAddrDescriptor(descriptor: string): Uint8Array {
  const m = /^addr\((bcrt1[0-9a-z]+)\)$/.exec(descriptor);
  if (m === null) throw new Error(`coinbase_reward_script ${descriptor}: expected addr(<regtest bech32 address>)`);
  const decoded = bech32.decode(m[1] as `${string}1${string}`);
  const [version, ...words] = decoded.words;
  if (version !== 0) throw new Error(`${descriptor}: witness version ${version}, expected 0`);
  const program = bech32.fromWords(words);
  return concatBytes(new Uint8Array([0x00, program.length]), Uint8Array.from(program));
}

export const RESERVEGRID_KEYS = ['template_provider.listen_addr'];

/** jd_client_sv2 in FULLTEMPLATE mode: the solo keys (mode differs; `upstreams` is non-empty). */
export const JDC_FULLTEMPLATE_KEYS = JDC_KEYS;
/** One `[[upstreams]]` entry of jd_client_sv2 (config.rs `Upstream`): pool and JDS of one pool. */
export const JDC_UPSTREAM_KEYS = ['authority_pubkey', 'jds_address', 'jds_port', 'pool_address', 'pool_port', 'user_identity'];
/** docs/job-declaration.md's ReserveGrid snippet: work selection on the miner port + the JDS. */
export const RESERVEGRID_JDS_KEYS = ['job_declaration.declared_token_expiry_ms', 'job_declaration.listen_addr', 'mining.allow_work_selection'];
