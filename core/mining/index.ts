// Bitcoin pieces of share validation and job building (SV2.md §5.4–§5.5).
export * from './hash.ts';
export * from './target.ts';
export * from './merkle.ts';
export * from './header.ts';
export * from './coinbase.ts';
