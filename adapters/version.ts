// The package version, from package.json (one source for `--version` and `reservegrid_build_info`):
// read at import on Node (tsx), Deno and Bun, and
// embedded in dist/reservegrid.js at build time (tsup/esbuild bundles the JSON module, the whole
// package.json object, about 2 KB of public metadata), so the installed bin reads no file for it.
import packageJson from '../package.json' with { type: 'json' };

export const VERSION: string = packageJson.version;
