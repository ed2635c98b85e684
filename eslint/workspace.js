// What the local lint rules know about the workspace: its packages and their declared
// dependencies (read from the package.json files at lint time, so a dependency is declared in one
// place only), which area a file belongs to, where a relative import lands, and which modules a
// file imports (for the files the linter is not looking at: the other ends of an import cycle, the
// shared test helpers a package test pulls in). See eslint/README.md for the rules built on it.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** The fields whose names a package may import at run time (devDependencies: its tests). */
const RUNTIME_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies'];
const ALL_FIELDS = [...RUNTIME_FIELDS, 'devDependencies'];

const workspaces = new Map();
const roots = new Map();

/** The nearest folder at or above `dir` whose package.json lists workspaces (the linted file's workspace). */
export function findWorkspaceRoot(dir) {
  if (roots.has(dir)) return roots.get(dir);
  let found;
  const manifest = join(dir, 'package.json');
  if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).workspaces) found = dir;
  else if (dirname(dir) !== dir) found = findWorkspaceRoot(dirname(dir));
  roots.set(dir, found);
  return found;
}

/**
 * The workspace rooted at `root` (a folder whose package.json lists `workspaces`): the packages by
 * name, each with its folder and its declared names. Read again when a manifest changes (an
 * editor's ESLint outlives edits to package.json).
 */
export function loadWorkspace(root) {
  const key = resolve(root);
  const cached = workspaces.get(key);
  if (cached && cached.stamp === manifestsStamp(cached.ws)) return cached.ws;
  const rootManifest = readJson(join(key, 'package.json'));
  const packages = new Map();
  for (const pattern of rootManifest.workspaces ?? []) {
    // The repo lists its workspaces one by one (no globs): the order is the build order.
    const dir = join(key, pattern);
    const manifest = readJson(join(dir, 'package.json'));
    packages.set(manifest.name, {
      name: manifest.name,
      dir,
      manifest,
      runtime: namesOf(manifest, RUNTIME_FIELDS),
      dev: namesOf(manifest, ['devDependencies']),
      exports: manifest.exports,
    });
  }
  const byDir = new Map([...packages.values()].map((p) => [p.dir, p]));
  // A third-party module imported from outside packages/ must be declared by some manifest of the
  // workspace (the root's or a package's): hoisted, undeclared modules come and go with installs.
  const rootTools = namesOf(rootManifest, ALL_FIELDS);
  const declaredAnywhere = new Set(rootTools);
  for (const p of packages.values()) for (const n of namesOf(p.manifest, ALL_FIELDS)) declaredAnywhere.add(n);
  // The root's own (dev)dependencies are the workspace's toolchain, declared once for every
  // package's tests (typescript, fast-check); a workspace package is never one of them.
  for (const name of packages.keys()) rootTools.delete(name);
  const ws = { root: key, packages, byDir, rootTools, declaredAnywhere };
  workspaces.set(key, { ws, stamp: manifestsStamp(ws) });
  return ws;
}

function manifestsStamp(ws) {
  const files = [join(ws.root, 'package.json'), ...[...ws.packages.values()].map((p) => join(p.dir, 'package.json'))];
  return files.map((f) => (existsSync(f) ? statSync(f).mtimeMs : 0)).join(',');
}

/**
 * A digest of what package-boundaries reads besides the linted file, for its options: the
 * manifests, and the imports of the shared test helpers (and of the modules outside packages/ they
 * import). ESLint's cache keys a file's cached result on the config, so a dependency added to or
 * removed from a package.json, or a helper importing something new, re-lints every file instead of
 * replaying a stale verdict. A helper's body can change without that: only its imports count.
 */
export function lintInputsDigest(root, sharedTestHelpers) {
  const hash = createHash('sha256');
  const rootFile = join(root, 'package.json');
  hash.update(readFileSync(rootFile));
  for (const pattern of readJson(rootFile).workspaces ?? []) hash.update(readFileSync(join(root, pattern, 'package.json')));
  const packagesDir = join(root, 'packages');
  const helpers = join(root, sharedTestHelpers);
  const queue = readdirSync(helpers, { recursive: true, encoding: 'utf8' })
    .map((f) => join(helpers, f))
    .filter((f) => SOURCE_EXTENSIONS.some((ext) => f.endsWith(ext)))
    .sort();
  const seen = new Set(queue);
  while (queue.length > 0) {
    const file = queue.shift();
    hash.update(`\0${relative(root, file)}\0`);
    for (const spec of importsOf(file)) {
      hash.update(`${spec}\n`);
      const next = isRelative(spec) ? resolveRelative(file, spec) : undefined;
      if (next && !seen.has(next) && !isInside(packagesDir, next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return hash.digest('hex').slice(0, 16);
}

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function namesOf(manifest, fields) {
  const names = new Set();
  for (const f of fields) for (const n of Object.keys(manifest[f] ?? {})) names.add(n);
  return names;
}

/**
 * Where a file belongs: `{ kind: 'src', pkg }` for packages/X/src/**, `{ kind: 'dev', pkg }` for the
 * rest of packages/X (tests, build config, scripts), `{ kind: 'root', area }` for everything outside
 * packages/ (tests/, scripts/, examples/, interop/, eslint/, files at the root), undefined for a
 * file outside the workspace or in a folder of packages/ that is no workspace.
 */
export function classify(ws, file) {
  const rel = relative(ws.root, file);
  if (rel.startsWith('..') || rel === '') return undefined;
  const parts = rel.split(sep);
  if (parts[0] !== 'packages') return { kind: 'root', area: parts.length > 1 ? parts[0] : '.' };
  const pkg = ws.byDir.get(join(ws.root, 'packages', parts[1] ?? ''));
  if (!pkg) return undefined;
  return { kind: parts[2] === 'src' ? 'src' : 'dev', pkg };
}

/** The workspace and the place of the file being linted, or undefined when the rule has nothing to check. */
export function lintedFile(file) {
  const root = findWorkspaceRoot(dirname(file));
  if (!root) return undefined;
  const ws = loadWorkspace(root);
  const where = classify(ws, file);
  return where ? { ws, where } : undefined;
}

export function isInside(dir, file) {
  const rel = relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep) && !/^[a-zA-Z]:/.test(rel);
}

export function isRelative(specifier) {
  return specifier === '.' || specifier === '..' || specifier.startsWith('./') || specifier.startsWith('../');
}

export function isBuiltin(specifier) {
  return specifier.startsWith('node:') || builtinModules.includes(specifier);
}

/** `@scope/name/sub/path` → `{ name: '@scope/name', subpath: './sub/path' }`. */
export function packageOf(specifier) {
  const parts = specifier.split('/');
  const n = specifier.startsWith('@') ? 2 : 1;
  const rest = parts.slice(n).join('/');
  return { name: parts.slice(0, n).join('/'), subpath: rest ? `./${rest}` : '.' };
}

/** Whether `subpath` is one of the package's `exports` (exact, or a `*` pattern); any path without `exports`. */
export function isExported(pkg, subpath) {
  const exp = pkg.exports;
  if (exp === undefined) return true;
  if (typeof exp === 'string' || Array.isArray(exp)) return subpath === '.';
  const keys = Object.keys(exp);
  if (!keys.some((k) => k.startsWith('.'))) return subpath === '.'; // conditions only: the main entry
  return keys.some((k) => {
    const star = k.indexOf('*');
    if (star < 0) return k === subpath;
    return subpath.startsWith(k.slice(0, star)) && subpath.endsWith(k.slice(star + 1)) && subpath.length >= k.length - 1;
  });
}

/**
 * The workspace packages `from` reaches through declared dependencies of every kind (runtime and
 * dev), with the path to each: `reach.get(name)` is the chain of names from `from` to `name`.
 */
export function reachable(ws, from) {
  const reach = new Map([[from, [from]]]);
  const queue = [from];
  while (queue.length > 0) {
    const name = queue.shift();
    const pkg = ws.packages.get(name);
    if (!pkg) continue;
    for (const dep of [...pkg.runtime, ...pkg.dev]) {
      if (!ws.packages.has(dep) || reach.has(dep)) continue;
      reach.set(dep, [...reach.get(name), dep]);
      queue.push(dep);
    }
  }
  return reach;
}

/** The module specifier without a bundler query (`./style.css?inline`). */
export function stripQuery(specifier) {
  const q = specifier.indexOf('?');
  return q < 0 ? specifier : specifier.slice(0, q);
}

const SOURCE_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'];
const JS_TO_TS = { '.js': ['.ts', '.tsx'], '.jsx': ['.tsx'], '.mjs': ['.mts'], '.cjs': ['.cts'] };

function isFile(path) {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The source file a relative import names, the way TypeScript finds it: `./a.js` is `./a.ts` (or
 * .tsx) when that exists, an extensionless path (the console's bundler resolution) tries the
 * source extensions and then an index file. undefined when nothing is there (TypeScript reports it).
 */
export function resolveRelative(fromFile, specifier) {
  const target = resolve(dirname(fromFile), stripQuery(specifier));
  for (const [js, tsExts] of Object.entries(JS_TO_TS)) {
    if (!target.endsWith(js)) continue;
    for (const ext of tsExts) {
      const candidate = target.slice(0, -js.length) + ext;
      if (isFile(candidate)) return candidate;
    }
  }
  if (isFile(target)) return target;
  for (const ext of SOURCE_EXTENSIONS) if (isFile(target + ext)) return target + ext;
  for (const ext of SOURCE_EXTENSIONS) if (isFile(join(target, `index${ext}`))) return join(target, `index${ext}`);
  return undefined;
}

const scanned = new Map();

/**
 * The module specifiers a file names: imports and re-exports of every kind (type-only included),
 * dynamic imports, require calls. A lexical scan by TypeScript (ts.preProcessFile), cached by
 * modification time for the lint process.
 */
export function importsOf(file) {
  let mtime;
  try {
    mtime = statSync(file).mtimeMs;
  } catch {
    return [];
  }
  const hit = scanned.get(file);
  if (hit && hit.mtime === mtime) return hit.specifiers;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const info = ts.preProcessFile(text, true, true);
  const specifiers = info.importedFiles.map((f) => f.fileName);
  scanned.set(file, { mtime, specifiers, relativeTargets: undefined });
  return specifiers;
}

/** The files a file's relative imports name (resolved as resolveRelative does), cached with importsOf. */
export function relativeTargetsOf(file) {
  const specifiers = importsOf(file);
  const entry = scanned.get(file);
  if (!entry) return [];
  entry.relativeTargets ??= [
    ...new Set(specifiers.filter(isRelative).map((s) => resolveRelative(file, s)).filter((t) => t !== undefined)),
  ];
  return entry.relativeTargets;
}

/**
 * Calls `check(node, specifier)` for every module specifier written as a string literal in the
 * linted file: import and export declarations (type-only too), `import()` expressions and types,
 * `import x = require()`, `require()` calls. `node` is the string literal, to report on.
 */
export function moduleSpecifierVisitor(check) {
  const literal = (node) => {
    if (node && node.type === 'Literal' && typeof node.value === 'string') check(node, node.value);
  };
  return {
    ImportDeclaration: (node) => literal(node.source),
    ExportNamedDeclaration: (node) => literal(node.source),
    ExportAllDeclaration: (node) => literal(node.source),
    ImportExpression: (node) => literal(node.source),
    TSImportType: (node) => literal(node.argument?.type === 'TSLiteralType' ? node.argument.literal : node.argument),
    TSExternalModuleReference: (node) => literal(node.expression),
    CallExpression: (node) => {
      if (node.callee.type === 'Identifier' && node.callee.name === 'require') literal(node.arguments[0]);
    },
  };
}
