// The error catalogue: docs/errors.md is what scripts/generate-error-docs.ts writes from the
// catalogues in the code; every code-like string in packages/*/src is in a catalogue; every error
// class extends CodedError; the console explains the admin codes in the catalogue's own words.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ADMIN_ERRORS } from '@wxseal/gateway';
import { ADMIN_EXPLANATIONS } from '@wxseal/console/explanations';
import { ERRORS_DOC, FAMILIES, renderErrorDocs } from '../../scripts/generate-error-docs.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Strings shaped like a code of a family that are not error codes. Each is an environment
 * variable's name: it is read from process.env (or named in a message telling where to set it).
 */
const NOT_CODES: Readonly<Record<string, string>> = {
  WXSEAL_DEBUG: 'environment: the CLI prints stacks',
  WXSEAL_DEVICE_DB: 'environment: the device database URL of `wxseal device`',
  WXSEAL_DEVICE_MASTER_KEYS: 'environment: the master key ring',
  WXSEAL_DEVICE_MASTER_KEY_FILE: 'environment: the file holding the master key ring',
  WECHATPAY_APIV3_KEY: 'environment: the default variable of the APIv3 key (wxseal pay certs)',
  WXSEAL_BENCH_ADMIN_TOKEN: 'environment: the benchmark',
  WXSEAL_BENCH_CONFIG: 'environment: the benchmark',
  WXSEAL_BENCH_CONNECTIONS: 'environment: the benchmark',
  WXSEAL_BENCH_DEVICE_CACHE_KEY: 'environment: the benchmark',
  WXSEAL_BENCH_DEVICE_MASTER_KEYS: 'environment: the benchmark',
  WXSEAL_BENCH_DURATION: 'environment: the benchmark',
  WXSEAL_BENCH_KEYS: 'environment: the benchmark',
  WXSEAL_BENCH_QUICK: 'environment: the benchmark',
  WXSEAL_BENCH_REDIS_URL: 'environment: the benchmark',
  WXSEAL_BENCH_WARMUP: 'environment: the benchmark',
  WXSEAL_GATEWAY_WORKER: 'environment: a gateway worker\'s slot, set by the primary of `wxseal gateway --workers N`',
  WXSEAL_ENV: 'environment: the config profile (dev, test, release) when no --env / --profile option names one',
  WXSEAL_DEV_DIR: 'environment: where npm start keeps its development keys; the release profile refuses files in it',
};

/**
 * Classes that extend Error without a code: signals thrown and caught inside one module, never
 * seen by a caller or a log, each turned into a coded error (or a result) where it is caught.
 */
const INTERNAL_SIGNALS: Readonly<Record<string, string>> = {
  NetworkFailure: 'client transport → the retry loop, which raises WXSEAL_NETWORK',
  TransportAborted: 'client transport → the retry loop, which raises WXSEAL_ABORTED or WXSEAL_TIMEOUT',
  Aborted: 'gateway upstream: the abort reason of an exchange, turned into UpstreamFailure',
  ScenarioAborted: 'bench load generator: a failed sanity check, reported as the scenario\'s result',
  TargetUnavailable: 'bench harness: a target that cannot run here, reported as skipped',
  AskTimeout: 'gateway workers: an IPC question to a worker not answered in time; the worker is left out of that answer (or sent SIGTERM on a drain)',
  DirectoryTimeout: 'gateway fleet stats: the instance directory did not answer in time, reported as the reason of a local view',
  Sm2KeyError: 'wechat API security: SM2 key material that does not parse, turned into WXMP_INVALID_ARGUMENT by the caller',
  ToolchainMissing: 'bench native part: java or go not on PATH, reported as "not measured" in the results',
  Exhausted: 'bench native part: the prepared requests ran out; the measurement ends there (rate over what ran)',
};

const catalogued = new Map<string, string>();
for (const f of FAMILIES) for (const c of f.catalogues) for (const code of Object.keys(c.catalogue)) catalogued.set(code, c.name);
const CODE = new RegExp(`(?<![A-Za-z0-9_$])(?:${FAMILIES.map((f) => f.prefix).join('|')})_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_])`, 'g');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (/\.tsx?$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const files = readdirSync(join(root, 'packages'))
  .map((p) => join(root, 'packages', p, 'src'))
  .filter((d) => existsSync(d))
  .flatMap((d) => sources(d))
  .map((path) => ({ path: relative(root, path), ast: ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true) }));

function walk(node: ts.Node, visit: (n: ts.Node) => void): void {
  visit(node);
  ts.forEachChild(node, (child) => walk(child, visit));
}

test('docs/errors.md is what the catalogues give (npm run errors:docs)', () => {
  const committed = readFileSync(ERRORS_DOC, 'utf8');
  const generated = renderErrorDocs();
  if (committed !== generated) {
    const a = committed.split('\n');
    const b = generated.split('\n');
    const line = a.findIndex((l, i) => l !== b[i]);
    assert.fail(
      `${ERRORS_DOC} is stale: run npm run errors:docs and commit the result.\n` +
        `first difference at line ${line + 1}:\n  committed: ${a[line] ?? '(end of file)'}\n  generated: ${b[line] ?? '(end of file)'}`,
    );
  }
});

test('each catalogue: codes of its family only, declared once, where the page says, with text to show', () => {
  const seen = new Map<string, string>();
  for (const f of FAMILIES) {
    for (const c of f.catalogues) {
      const text = readFileSync(join(root, c.file), 'utf8');
      assert.match(text, new RegExp(`export const ${c.name} = `), `${c.name} is declared in ${c.file}`);
      for (const [code, info] of Object.entries(c.catalogue)) {
        assert.ok(code.startsWith(`${f.prefix}_`) && /^[A-Z][A-Z0-9_]*[A-Z0-9]$/.test(code), `${code} (${c.name}) has the prefix ${f.prefix}_`);
        assert.equal(seen.get(code), undefined, `${code} is declared in ${c.name} and in ${seen.get(code)}`);
        seen.set(code, c.name);
        assert.ok(info.meaning.trim().length > 10 && info.action.trim().length > 5, `${code} has a meaning and an action`);
        if (info.status !== undefined) assert.ok(Number.isInteger(info.status) && info.status >= 100 && info.status <= 599, `${code}: status ${info.status}`);
      }
    }
  }
  // No prefix is the start of another family's codes (WECHAT_ and WECHATPAY_ are told apart by the underscore).
  for (const code of seen.keys()) {
    const owners = FAMILIES.filter((f) => code.startsWith(`${f.prefix}_`));
    assert.equal(owners.length, 1, `${code} belongs to one family`);
  }
});

test('every code-like string in packages/*/src is a catalogued code (or a listed environment variable)', () => {
  const unknown: string[] = [];
  const found = new Set<string>();
  for (const { path, ast } of files) {
    walk(ast, (n) => {
      if (!(ts.isStringLiteralLike(n) || ts.isTemplateHead(n) || ts.isTemplateMiddle(n) || ts.isTemplateTail(n) || ts.isJsxText(n))) return;
      for (const m of n.text.matchAll(CODE)) {
        const code = m[0];
        found.add(code);
        if (!catalogued.has(code) && NOT_CODES[code] === undefined) {
          const { line } = ast.getLineAndCharacterOfPosition(n.getStart());
          unknown.push(`${path}:${line + 1}: ${code}`);
        }
      }
    });
  }
  assert.deepEqual(unknown, [], 'codes used in the sources but in no catalogue (add them to their family\'s catalogue, then npm run errors:docs)');
  for (const name of Object.keys(NOT_CODES)) {
    assert.equal(catalogued.get(name), undefined, `${name} is listed as not a code but is catalogued`);
    assert.ok(found.has(name), `${name} is listed as not a code but no source uses it any more: drop it from NOT_CODES`);
  }
  assert.ok(found.has('WXSEAL_BAD_SIGNATURE') && found.has('DEVICE_INVALID_INPUT'), 'the scan sees the sources');
});

test('every error class extends CodedError (but the listed internal signals)', () => {
  const bases = new Map<string, Set<string>>();
  for (const { ast } of files) {
    walk(ast, (n) => {
      if (!ts.isClassDeclaration(n) || !n.name) return;
      const ext = n.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword)?.types[0]?.expression;
      if (!ext || !ts.isIdentifier(ext)) return;
      const set = bases.get(n.name.text) ?? new Set<string>();
      set.add(ext.text);
      bases.set(n.name.text, set);
    });
  }
  const reaches = (name: string, target: string, seen = new Set<string>()): boolean => {
    if (name === target) return true;
    if (seen.has(name)) return false;
    seen.add(name);
    return [...(bases.get(name) ?? [])].some((b) => reaches(b, target, seen));
  };
  const builtins = ['Error', 'TypeError', 'RangeError'];
  const uncoded = [...bases.keys()].filter((c) => builtins.some((b) => reaches(c, b)) && !reaches(c, 'CodedError') && c !== 'CodedError');
  assert.deepEqual(uncoded.filter((c) => INTERNAL_SIGNALS[c] === undefined).sort(), []);
  for (const name of Object.keys(INTERNAL_SIGNALS)) assert.ok(uncoded.includes(name), `${name} is listed as an internal signal: it still exists and has no code`);
});

test('the console explains every admin code, in English word for word as the catalogue', () => {
  assert.deepEqual(Object.keys(ADMIN_EXPLANATIONS.en).sort(), Object.keys(ADMIN_ERRORS).sort());
  assert.deepEqual(Object.keys(ADMIN_EXPLANATIONS['zh-CN']).sort(), Object.keys(ADMIN_ERRORS).sort());
  for (const [code, info] of Object.entries(ADMIN_ERRORS)) {
    assert.deepEqual(ADMIN_EXPLANATIONS.en[code as keyof typeof ADMIN_ERRORS], { meaning: info.meaning, action: info.action }, code);
  }
});
