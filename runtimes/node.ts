#!/usr/bin/env node
// Node entry point: the only place (with deno.ts and bun.ts) that reads argv, env and files.
import { main } from './cli.ts';
import { processIo } from './process-io.ts';

// exitCode rather than exit(): lets pending writes (stdout, the event log) finish first.
process.exitCode = await main(process.argv.slice(2), processIo('node'));
