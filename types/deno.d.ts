// Minimal Deno shim: only what runtimes/deno.ts and adapters/*-deno.ts use (STYLE.md #9).
declare namespace Deno {
  const args: string[];
  function exit(code?: number): never;
  function readTextFileSync(path: string | URL): string;
  const env: { get(key: string): string | undefined; toObject(): Record<string, string> };
  const stdout: { writeSync(p: Uint8Array): number };
  const stderr: { writeSync(p: Uint8Array): number };
}
