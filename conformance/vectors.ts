// Loads test vectors from conformance/vectors/ (a copy of shared/vectors with its README), so a
// fresh clone needs nothing beside it.
import { readFileSync } from 'node:fs';

export function vectorText(relativePath: string): string {
  return readFileSync(new URL(`./vectors/${relativePath}`, import.meta.url), 'utf8');
}

export function vectorJson<T = unknown>(relativePath: string): T {
  return JSON.parse(vectorText(relativePath)) as T;
}

/** Parse a CSV file with a header row into records; quoted fields are not used by our vectors. */
export function vectorCsv(relativePath: string): Record<string, string>[] {
  const [headerLine, ...rows] = vectorText(relativePath).trim().split(/\r?\n/);
  const header = headerLine!.split(',');
  return rows.map((row) => {
    const cells = row.split(',');
    return Object.fromEntries(header.map((name, i) => [name, cells[i] ?? '']));
  });
}
