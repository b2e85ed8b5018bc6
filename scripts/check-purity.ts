// Mechanical purity check for core/ (SPEC §2, STYLE.md #2). Parses every .ts file under the
// given directory with the TypeScript compiler and fails on:
//   - an import/export/dynamic import of anything but a relative path inside the directory or
//     an allowed pure package;
//   - a reference to a host global: Deno, Bun, process, Buffer, setTimeout/setInterval/
//     setImmediate/queueMicrotask, Date, performance, crypto, fetch, console, require.
// Comments and strings are never flagged, and `obj.Date` (a property name) is fine.
// Complements `tsc -p core` (core compiles with no host types at all).
//
//   node --import tsx scripts/check-purity.ts [dir]     (default: core)
import ts from 'typescript';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

export const ALLOWED_PACKAGES = ['@noble/curves', '@noble/hashes', '@noble/ciphers', '@scure/base', 'valibot', 'smol-toml'];
export const FORBIDDEN_GLOBALS = new Set([
  'Deno', 'Bun', 'process', 'Buffer', 'require', 'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout',
  'clearInterval', 'queueMicrotask', 'Date', 'performance', 'crypto', 'fetch', 'console', 'globalThis',
]);

export interface PurityViolation {
  readonly file: string;
  readonly line: number;
  readonly what: string;
}

function listTs(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listTs(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function allowedSpecifier(spec: string, file: string, rootDir: string): boolean {
  if (spec.startsWith('.')) {
    const target = resolve(dirname(file), spec);
    return !relative(rootDir, target).startsWith('..');
  }
  return ALLOWED_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`));
}

export function checkPurity(rootDir: string): PurityViolation[] {
  const root = resolve(rootDir);
  const violations: PurityViolation[] = [];
  for (const file of listTs(root)) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
    const declared = new Set<string>();
    const report = (node: ts.Node, what: string) => {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      violations.push({ file: relative(process.cwd(), file), line: line + 1, what });
    };
    // Names declared in the file (locals, params, imports) shadow globals legitimately.
    const collect = (node: ts.Node): void => {
      if ((ts.isVariableDeclaration(node) || ts.isParameter(node) || ts.isFunctionDeclaration(node) ||
        ts.isClassDeclaration(node) || ts.isImportSpecifier(node) || ts.isImportClause(node) ||
        ts.isNamespaceImport(node)) && node.name && ts.isIdentifier(node.name)) {
        declared.add(node.name.text);
      }
      ts.forEachChild(node, collect);
    };
    collect(source);
    const visit = (node: ts.Node): void => {
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        const spec = node.moduleSpecifier.text;
        if (!allowedSpecifier(spec, file, root)) report(node, `imports '${spec}'`);
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const arg = node.arguments[0];
        if (!arg || !ts.isStringLiteral(arg) || !allowedSpecifier(arg.text, file, root)) report(node, 'dynamic import');
      } else if (ts.isIdentifier(node) && FORBIDDEN_GLOBALS.has(node.text) && !declared.has(node.text)) {
        const parent = node.parent;
        const isPropertyName =
          (ts.isPropertyAccessExpression(parent) && parent.name === node) ||
          (ts.isPropertyAssignment(parent) && parent.name === node) ||
          (ts.isPropertyDeclaration(parent) && parent.name === node) ||
          (ts.isMethodDeclaration(parent) && parent.name === node) ||
          (ts.isPropertySignature(parent) && parent.name === node) ||
          (ts.isMethodSignature(parent) && parent.name === node) ||
          ts.isQualifiedName(parent);
        if (!isPropertyName) report(node, `uses host global '${node.text}'`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return violations;
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const dir = process.argv[2] ?? 'core';
  const violations = checkPurity(dir);
  for (const v of violations) console.error(`${v.file}:${v.line}: core must stay pure: ${v.what}`);
  if (violations.length > 0) {
    console.error(`purity check failed: ${violations.length} violation(s) under ${dir}/`);
    process.exit(1);
  }
  console.log(`purity check passed: ${dir}/ touches no I/O, clock, randomness or runtime globals`);
}
