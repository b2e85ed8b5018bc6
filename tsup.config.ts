// npm package build (SPEC §12): ESM + type declarations for the runtime-agnostic core, and the
// `reservegrid` bin (the Node entry point). Dependencies stay external (installed by npm).
import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: { index: 'core/index.ts' },
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    platform: 'neutral',
  },
  {
    entry: { reservegrid: 'runtimes/node.ts' },
    format: ['esm'],
    dts: false,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
  },
]);
