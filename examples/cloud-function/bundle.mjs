#!/usr/bin/env node
// Builds a deployable copy of this cloud function from the repository, for as long as the
// @wxseal packages are not on the npm registry (`npm install` of this folder alone fails with E404).
//
//   node examples/cloud-function/bundle.mjs [--out DIR]     (or `npm run bundle` in this folder)
//
// It builds @wxseal/client with @wxseal/protocol and @wxseal/gm (tsc -b), packs them with `npm pack`
// into DIR/vendor/*.tgz, writes DIR/package.json depending on those tarballs (file:vendor/…) and a
// package-lock.json holding them and the third-party packages they need (sm-crypto-v2 and its
// @noble dependencies) at the versions and integrity this repository locked, copies index.js, and
// runs `npm install --offline` in DIR, so DIR/node_modules holds real copies of every package and
// nothing points back into the repository. Upload DIR with WeChat DevTools'
// "上传并部署：所有文件" (upload and deploy: all files, node_modules included); the cloud-side
// install ("云端安装依赖") cannot be relied on to find tarballs. Default DIR:
// examples/cloud-function/dist/order (git-ignored); the folder's name is the function's name.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const MARKER = '.wxseal-bundle';
const WORKSPACES = ['@wxseal/protocol', '@wxseal/gm', '@wxseal/client'];

function fail(message) {
  console.error(`bundle: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  let out = join(here, 'dist', 'order');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out' && argv[i + 1] !== undefined) out = resolve(argv[++i]);
    else if (a.startsWith('--out=')) out = resolve(a.slice('--out='.length));
    else if (a === '--help' || a === '-h') {
      console.log('usage: node examples/cloud-function/bundle.mjs [--out DIR]');
      process.exit(0);
    } else fail(`unknown argument ${a} (usage: bundle.mjs [--out DIR])`);
  }
  return { out };
}

/** Runs a command from the repository root; its output is shown only when it fails. */
function run(command, args, cwd = root) {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    fail(`${command} ${args.join(' ')} failed:\n${err.stdout ?? ''}${err.stderr ?? err.message}`);
  }
}

/** Only an empty folder or an earlier bundle (it carries the marker) is replaced. */
function prepareOut(out) {
  if (existsSync(out) && readdirSync(out).length > 0) {
    if (!existsSync(join(out, MARKER))) fail(`${out} exists and is not an earlier bundle: choose another --out, or empty it`);
    rmSync(out, { recursive: true, force: true });
  }
  mkdirSync(join(out, 'vendor'), { recursive: true });
}

/**
 * The bundle's package-lock.json: the packed workspaces, and every third-party package they need
 * taken from this repository's lock (version, resolved, integrity). With it `npm install --offline`
 * reads tarballs from the cache by integrity and never asks the registry for metadata.
 */
function bundleLock(manifest) {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages;
  const packages = { '': { name: manifest.name, version: manifest.version, dependencies: manifest.dependencies } };
  const want = [];
  for (const w of WORKSPACES) {
    const dir = Object.keys(lock).find((k) => k.startsWith('packages/') && lock[k].name === w);
    if (!dir) fail(`${w} is not in package-lock.json`);
    const { dependencies = {}, engines } = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
    packages[`node_modules/${w}`] = { version: lock[dir].version, resolved: manifest.dependencies[w], dependencies, ...(engines ? { engines } : {}) };
    for (const dep of Object.keys(dependencies)) if (!dep.startsWith('@wxseal/')) want.push([dir, dep]);
  }
  // Node's resolution over the lock's locations: from/node_modules/name, then up to the root.
  const find = (from, name) => {
    for (let at = from; ; ) {
      const candidate = at === '' ? `node_modules/${name}` : `${at}/node_modules/${name}`;
      if (lock[candidate]) return candidate;
      if (at === '') return undefined;
      const up = at.lastIndexOf('/node_modules/');
      at = up >= 0 ? at.slice(0, up) : '';
    }
  };
  const seen = new Set();
  while (want.length > 0) {
    const [from, name] = want.pop();
    const location = find(from, name);
    if (!location) fail(`${name} (needed by ${from}) is not in package-lock.json`);
    if (seen.has(location)) continue;
    seen.add(location);
    const { dev, optional, devOptional, peer, ...entry } = lock[location];
    packages[location.replace(/^packages\/[^/]+\//, '')] = entry;
    for (const dep of Object.keys(entry.dependencies ?? {})) want.push([location, dep]);
  }
  return { name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages };
}

const { out } = parseArgs(process.argv.slice(2));
if (!existsSync(join(root, 'node_modules', 'typescript'))) fail(`run \`npm ci\` in ${root} first`);
prepareOut(out);

// dist/ is what the packages ship; build it so the bundle never carries a stale one.
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/client', 'packages/gm']);

const packed = JSON.parse(run('npm', ['pack', ...WORKSPACES.flatMap((w) => ['-w', w]), '--pack-destination', join(out, 'vendor'), '--ignore-scripts', '--json']));
const tarballs = new Map(packed.map((p) => [p.name, p.filename]));
for (const w of WORKSPACES) if (!tarballs.has(w)) fail(`npm pack produced no tarball for ${w}`);

const example = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));
const manifest = {
  name: example.name,
  version: example.version,
  private: true,
  description: example.description,
  main: 'index.js',
  engines: { node: '>=16.13' },
  // Every tarball at the top level: the client's own dependencies on @wxseal/protocol and
  // @wxseal/gm are satisfied by the packed ones instead of a registry lookup.
  dependencies: Object.fromEntries(WORKSPACES.map((w) => [w, `file:vendor/${tarballs.get(w)}`])),
};
writeFileSync(join(out, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');
writeFileSync(join(out, 'package-lock.json'), JSON.stringify(bundleLock(manifest), null, 2) + '\n');
copyFileSync(join(here, 'index.js'), join(out, 'index.js'));
writeFileSync(join(out, MARKER), 'written by examples/cloud-function/bundle.mjs; the folder is replaced by the next bundle\n');

// --offline: everything comes from the tarballs; a registry lookup would be a mistake here.
run('npm', ['install', '--offline', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts'], out);

// The function must find its dependencies inside the folder, as in the cloud.
const resolved = realpathSync(createRequire(join(out, 'index.js')).resolve('@wxseal/client'));
if (!resolved.startsWith(realpathSync(out) + sep)) fail(`@wxseal/client resolves outside the bundle: ${resolved}`);

const shown = relative(process.cwd(), out) || '.';
console.log(`cloud function bundled in ${shown}/ (function name: ${basename(out)})`);
console.log('  index.js, package.json, package-lock.json, node_modules/ (@wxseal/{client,protocol,gm}, sm-crypto-v2), vendor/*.tgz');
console.log('deploy: WeChat DevTools → cloudfunctions → this folder → 上传并部署：所有文件 (upload and deploy: all files);');
console.log('        set WXSEAL_BASE_URL, WXSEAL_KEY_ID, WXSEAL_SECRET, WXSEAL_SERVER_KEY_ID, WXSEAL_SERVER_PUBLIC_KEY');
console.log('        in the function\'s environment variables (云函数配置 → 环境变量), never in code.');
