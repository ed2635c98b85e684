/**
 * The client runs in WeChat cloud functions as old as Node 16.13. This scans the client's and the
 * protocol's sources (the code that ships to that runtime) for APIs Node 16.13 lacks. It parses
 * the TypeScript, so comments and strings never count, and a local declaration of the same name
 * (an import, a parameter) is not mistaken for the global. node16-runtime.test.ts runs the
 * client's tests and calls through a gateway on a real Node 16.13; this scan names the cause early.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** Globals missing in Node 16.13, with the version that added them. */
const MISSING_GLOBALS: Record<string, string> = {
  fetch: '18.0',
  structuredClone: '17.0',
  crypto: '17.6 (global webcrypto)',
  navigator: '21.0',
  Blob: '18.0',
  File: '20.0',
  FormData: '18.0',
  Headers: '18.0',
  Request: '18.0',
  Response: '18.0',
  WebSocket: '22.0',
  BroadcastChannel: '18.0',
  DOMException: '17.0',
  ReadableStream: '18.0',
  WritableStream: '18.0',
  TransformStream: '18.0',
  CustomEvent: '19.0',
  Iterator: '22.0',
};

/** Static members missing in Node 16.13. */
const MISSING_STATICS: Record<string, Record<string, string>> = {
  AbortSignal: { timeout: '16.14', any: '20.3' },
  Promise: { withResolvers: '22.0' },
  Object: { groupBy: '21.0' },
  Map: { groupBy: '21.0' },
  Array: { fromAsync: '22.0' },
  Error: { isError: '24.0' },
};

/** Methods missing in Node 16.13 (flagged on any receiver: these names have no other use here). */
const MISSING_METHODS: Record<string, string> = {
  findLast: '18.0',
  findLastIndex: '18.0',
  toSorted: '20.0',
  toReversed: '20.0',
  toSpliced: '20.0',
  isWellFormed: '20.0',
  toWellFormed: '20.0',
  throwIfAborted: '17.3',
  union: '22.0 (Set methods)',
  intersection: '22.0 (Set methods)',
  difference: '22.0 (Set methods)',
  symmetricDifference: '22.0 (Set methods)',
  isSubsetOf: '22.0 (Set methods)',
  isSupersetOf: '22.0 (Set methods)',
  isDisjointFrom: '22.0 (Set methods)',
};

const MISSING_MODULES: Record<string, string> = {
  'node:test': '18.0',
  test: '18.0',
  'node:sqlite': '22.5',
  'node:sea': '20.0',
};

/** Named exports of built-in modules missing in Node 16.13. */
const MISSING_EXPORTS: Record<string, Record<string, string>> = {
  util: { parseArgs: '18.3', styleText: '21.7', stripVTControlCharacters: '16.11 ok', getSystemErrorMap: '16.0 ok' },
  crypto: { hash: '21.7', getRandomValues: '17.4' },
  'fs/promises': { glob: '22.0' },
  module: { register: '20.6' },
};
// Entries marked ok are present in 16.13 and listed only to document that they were checked.
for (const exports of Object.values(MISSING_EXPORTS)) {
  for (const [name, since] of Object.entries(exports)) if (since.endsWith(' ok')) delete exports[name];
}

export interface Finding {
  file: string;
  line: number;
  what: string;
}

function declaredNames(sf: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const addBinding = (name: ts.BindingName): void => {
    if (ts.isIdentifier(name)) names.add(name.text);
    else for (const el of name.elements) if (!ts.isOmittedExpression(el)) addBinding(el.name);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportClause(node) && node.name) names.add(node.name.text);
    else if (ts.isNamespaceImport(node) || ts.isImportSpecifier(node)) names.add(node.name.text);
    else if (ts.isVariableDeclaration(node) || ts.isParameter(node)) addBinding(node.name);
    else if ((ts.isFunctionDeclaration(node) || ts.isClassDeclaration(node)) && node.name) names.add(node.name.text);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return names;
}

function moduleKey(specifier: string): string {
  return specifier.replace(/^node:/, '');
}

/** Every use of an API Node 16.13 lacks in one TypeScript source. */
export function scanSource(file: string, text: string): Finding[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const declared = declaredNames(sf);
  const findings: Finding[] = [];
  const report = (node: ts.Node, what: string): void => {
    findings.push({ file, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, what });
  };

  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && Object.prototype.hasOwnProperty.call(MISSING_GLOBALS, node.text) && !declared.has(node.text)) {
      const p = node.parent;
      // Called, constructed or dereferenced; `typeof fetch` (feature detection) is fine.
      const used =
        ((ts.isCallExpression(p) || ts.isNewExpression(p)) && p.expression === node) ||
        (ts.isPropertyAccessExpression(p) && p.expression === node) ||
        (ts.isElementAccessExpression(p) && p.expression === node);
      if (used) report(node, `global ${node.text} (Node ${MISSING_GLOBALS[node.text]})`);
    }
    if (ts.isPropertyAccessExpression(node)) {
      const name = node.name.text;
      const target = node.expression;
      if (ts.isIdentifier(target)) {
        const statics = MISSING_STATICS[target.text];
        if (statics && Object.prototype.hasOwnProperty.call(statics, name) && !declared.has(target.text)) {
          report(node, `${target.text}.${name} (Node ${statics[name]})`);
        }
        if (target.text === 'globalThis' && Object.prototype.hasOwnProperty.call(MISSING_GLOBALS, name)) {
          report(node, `globalThis.${name} (Node ${MISSING_GLOBALS[name]})`);
        }
      }
      if (Object.prototype.hasOwnProperty.call(MISSING_METHODS, name)) report(node, `.${name}() (Node ${MISSING_METHODS[name]})`);
      if (name === 'reason' && /signal/i.test(target.getText(sf))) report(node, 'AbortSignal#reason (Node 17.2)');
      if (ts.isMetaProperty(target) && (name === 'dirname' || name === 'filename')) report(node, `import.meta.${name} (Node 20.11)`);
    }
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const spec = node.moduleSpecifier.text;
      if (Object.prototype.hasOwnProperty.call(MISSING_MODULES, spec)) report(node, `module ${spec} (Node ${MISSING_MODULES[spec]})`);
      const exports = MISSING_EXPORTS[moduleKey(spec)];
      const bindings = node.importClause?.namedBindings;
      if (exports && bindings && ts.isNamedImports(bindings)) {
        for (const el of bindings.elements) {
          const imported = (el.propertyName ?? el.name).text;
          if (Object.prototype.hasOwnProperty.call(exports, imported)) report(el, `${spec} ${imported} (Node ${exports[imported]})`);
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return findings;
}

function sourcesOf(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourcesOf(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

describe('Node 16.13 compatibility', () => {
  it('the scanner finds what it looks for (and ignores comments, strings, local names and typeof)', () => {
    const bad = [
      "import { parseArgs } from 'node:util';",
      "import test from 'node:test';",
      "const r = fetch('https://example.com');",
      'const t = AbortSignal.timeout(5);',
      'const a = AbortSignal.any([t]);',
      'const c = structuredClone({});',
      'const l = [1].findLast((x) => x > 0);',
      'const s = [2, 1].toSorted();',
      'controller.signal.throwIfAborted();',
      'const why = controller.signal.reason;',
      'const g = globalThis.fetch;',
      'const id = crypto.randomUUID();',
      'const dir = import.meta.dirname;',
    ].join('\n');
    const found = scanSource('bad.ts', bad).map((f) => f.what);
    for (const expected of [
      'parseArgs',
      'module node:test',
      'global fetch',
      'AbortSignal.timeout',
      'AbortSignal.any',
      'global structuredClone',
      '.findLast()',
      '.toSorted()',
      '.throwIfAborted()',
      'AbortSignal#reason',
      'globalThis.fetch',
      'global crypto',
      'import.meta.dirname',
    ]) {
      assert.ok(found.some((w) => w.includes(expected)), `scanner missed ${expected}: ${found.join(', ')}`);
    }

    const fine = [
      '// AbortSignal.timeout and fetch() are not used here; structuredClone neither.',
      "const note = 'call fetch() or AbortSignal.any later';",
      "import { randomBytes as crypto } from 'node:crypto';",
      'const ok = typeof fetch === "function";',
      'function f(fetch: () => void) { fetch(); }',
      'const key = crypto(16);',
      'const last = [1, 2].at(-1);',
    ].join('\n');
    assert.deepEqual(scanSource('fine.ts', fine), []);
  });

  it('packages/client/src and packages/protocol/src use nothing Node 16.13 lacks', () => {
    const files = [...sourcesOf(join(root, 'packages/client/src')), ...sourcesOf(join(root, 'packages/protocol/src'))];
    assert.ok(files.length >= 10, `found only ${files.length} source files`);
    const findings = files.flatMap((file) => scanSource(file.slice(root.length), readFileSync(file, 'utf8')));
    assert.deepEqual(findings, [], findings.map((f) => `${f.file}:${f.line} ${f.what}`).join('\n'));
  });

  // ES2022 is all in Node 16.13: class fields and #private methods (14.6), `#x in o` (16.4), .at()
  // (16.6), Object.hasOwn and Error cause (16.9), static blocks (16.11). ES2023's built-ins
  // (findLast, toSorted, …) are not, so the library stops at ES2022.
  it('the build targets ES2022 with the ES2022 library, so newer syntax and built-ins fail to compile', () => {
    const base = JSON.parse(readFileSync(join(root, 'tsconfig.base.json'), 'utf8')) as { compilerOptions: { target: string; lib: string[] } };
    assert.equal(base.compilerOptions.target.toUpperCase(), 'ES2022');
    assert.deepEqual(base.compilerOptions.lib.map((l) => l.toUpperCase()), ['ES2022']);
  });

  it('the client depends on nothing but @wxseal/protocol, which depends on nothing, and @wxseal/gm (the SM suite, SPEC.md 6.6)', () => {
    const client = JSON.parse(readFileSync(join(root, 'packages/client/package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    const protocol = JSON.parse(readFileSync(join(root, 'packages/protocol/package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    assert.deepEqual(Object.keys(client.dependencies ?? {}).sort(), ['@wxseal/gm', '@wxseal/protocol']);
    assert.deepEqual(Object.keys(protocol.dependencies ?? {}), []);
  });
});
