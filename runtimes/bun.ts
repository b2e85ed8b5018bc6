// Bun entry point: `bun runtimes/bun.ts <command>`. Bun implements node:fs and process natively.
import { main } from './cli.ts';
import { processIo } from './process-io.ts';

process.exit(await main(process.argv.slice(2), processIo('bun')));
