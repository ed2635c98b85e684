// A new user's install, offline: `npm pack` of every public package, then an empty project that
// installs the tarballs the way the README says (`npm install @wxseal/cli …`, here the tarballs
// with --offline), type-checks a consumer of the root entries of the client, server, gateway and
// wechatpay packages (strict, skipLibCheck false: every published declaration must resolve without
// the optional peer dependencies), and runs the installed CLI: keygen, `gateway --check`, a
// gateway with the admin console (served from the copy the gateway package carries), and the
// device registry on SQLite (better-sqlite3, which @wxseal/cli depends on). A database driver that
// is an optional peer and not installed gives its typed error naming the package.
//
// Offline: npm resolves a new dependency with the registry's full metadata, which the local cache
// does not hold (`npm ci` caches the abbreviated one and the tarballs). The project therefore gets
// a package-lock.json written from the monorepo's: the same versions and integrity hashes, so
// every third-party tarball comes from ~/.npm/_cacache. Anything missing fails the test.
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/net.js';
import { runProcess, spawnTracked, stopProcess, type RunOutput } from '../support/processes.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  files?: string[];
  engines?: { node?: string };
  repository?: { type?: string; url?: string; directory?: string };
  publishConfig?: { access?: string };
  keywords?: string[];
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

interface LockEntry {
  version?: string;
  resolved?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [field: string]: unknown;
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

const workspaces = readJson<{ workspaces: string[] }>(join(root, 'package.json')).workspaces;
const manifests = workspaces.map((dir) => ({ dir, manifest: readJson<Manifest>(join(root, dir, 'package.json')) }));
const published = manifests.filter((m) => m.manifest.private !== true);
const privateNames = new Set(manifests.filter((m) => m.manifest.private === true).map((m) => m.manifest.name));

/** The environment of the npm processes: none of an outer `npm test`'s npm_* settings (its prefix, its scripts). */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

function ok(r: RunOutput, what: string): void {
  assert.ok(!r.timedOut, `${what}: timed out\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
}

/**
 * package.json and package-lock.json of the consumer project: the published packages as tarballs,
 * and every third-party package they need at the version and integrity the monorepo locked.
 */
function writeConsumerProject(app: string, tarballs: ReadonlyMap<string, string>): void {
  const lock = readJson<{ packages: Record<string, LockEntry> }>(join(root, 'package-lock.json')).packages;
  const entries: Record<string, LockEntry> = {};
  const dependencies: Record<string, string> = {};
  const want: Array<[from: string, name: string]> = [];
  for (const { dir, manifest } of published) {
    const file = tarballs.get(manifest.name);
    assert.ok(file, `npm pack made no tarball for ${manifest.name}`);
    dependencies[manifest.name] = `file:../tarballs/${file}`;
    const entry: LockEntry = { version: manifest.version, resolved: `file:../tarballs/${file}`, license: manifest.license };
    for (const field of ['dependencies', 'peerDependencies', 'peerDependenciesMeta', 'bin', 'engines'] as const) {
      const value: unknown = manifest[field];
      if (value !== undefined) (entry as Record<string, unknown>)[field] = value;
    }
    entries[`node_modules/${manifest.name}`] = entry;
    for (const dep of Object.keys(manifest.dependencies ?? {})) if (!dep.startsWith('@wxseal/')) want.push([dir, dep]);
  }
  const typescript = lock['node_modules/typescript']?.version;
  const typesNode = lock['node_modules/@types/node']?.version;
  assert.ok(typescript && typesNode, 'the monorepo locks typescript and @types/node');
  const devDependencies = { '@types/node': typesNode, typescript };
  want.push(['', 'typescript'], ['', '@types/node']);

  // Node's resolution over the lockfile's locations: from/node_modules/name, then up.
  const find = (from: string, name: string): string | undefined => {
    let at = from;
    for (;;) {
      const candidate = at === '' ? `node_modules/${name}` : `${at}/node_modules/${name}`;
      if (lock[candidate] !== undefined) return candidate;
      if (at === '') return undefined;
      const up = at.lastIndexOf('/node_modules/');
      at = up >= 0 ? at.slice(0, up) : '';
    }
  };
  const seen = new Set<string>();
  while (want.length > 0) {
    const [from, name] = want.pop()!;
    const location = find(from, name);
    assert.ok(location, `${name} (needed by ${from || 'the consumer'}) is not in package-lock.json`);
    if (seen.has(location)) continue;
    seen.add(location);
    const { dev: _d, optional: _o, devOptional: _do, peer: _p, ...entry } = lock[location]!;
    assert.ok(!entry.link && entry.version, `${location}: a registry package expected`);
    const pkgName = location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length);
    entry.resolved ??= `https://registry.npmjs.org/${pkgName}/-/${pkgName.split('/').pop()}-${entry.version}.tgz`;
    entries[location.replace(/^packages\/([^/]+)/, (_m, dir: string) => `node_modules/${published.find((p) => p.dir === `packages/${dir}`)?.manifest.name}`)] = entry;
    const optionalPeers = entry.peerDependenciesMeta ?? {};
    for (const dep of Object.keys(entry.dependencies ?? {})) want.push([location, dep]);
    for (const dep of Object.keys(entry.peerDependencies ?? {})) if (optionalPeers[dep]?.optional !== true) want.push([location, dep]);
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) if (find(location, dep) !== undefined) want.push([location, dep]);
  }
  const pkg = { name: 'wxseal-consumer', version: '1.0.0', private: true, type: 'module', dependencies, devDependencies };
  writeFileSync(join(app, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  const lockfile = { name: pkg.name, version: pkg.version, lockfileVersion: 3, requires: true, packages: { '': { name: pkg.name, version: pkg.version, dependencies, devDependencies }, ...entries } };
  writeFileSync(join(app, 'package-lock.json'), `${JSON.stringify(lockfile, null, 2)}\n`);
}

test('the published packages are complete: metadata, and no dependency on a private package', () => {
  assert.ok(published.length >= 10, `public packages: ${published.map((p) => p.manifest.name).join(', ')}`);
  for (const { dir, manifest: m } of published) {
    assert.equal(m.license, 'MIT', `${m.name}: license`);
    assert.deepEqual(m.publishConfig, { access: 'public' }, `${m.name}: publishConfig`);
    assert.equal(m.repository?.type, 'git', `${m.name}: repository`);
    assert.equal(m.repository?.directory, dir, `${m.name}: repository.directory`);
    assert.ok((m.keywords ?? []).length > 0, `${m.name}: keywords`);
    assert.match(m.engines?.node ?? '', /^>=\d/, `${m.name}: engines.node`);
    assert.ok(m.files?.includes('dist') && m.files.includes('README.md'), `${m.name}: files`);
    for (const dep of [...Object.keys(m.dependencies ?? {}), ...Object.keys(m.peerDependencies ?? {})]) {
      assert.ok(!privateNames.has(dep), `${m.name} depends on the private ${dep}: npm install cannot work once published`);
    }
  }
});

test('npm pack of every public package installs offline into an empty project, type-checks, and runs', { timeout: 230_000 }, async (t) => {
  const started = Date.now();
  const step = (what: string): void => t.diagnostic(`${what} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const consoleIndex = join(root, 'packages/console/dist/index.html');
  assert.ok(existsSync(consoleIndex), `${consoleIndex} is missing: build the console first (npm run build)`);
  const tmp = mkdtempSync(join(tmpdir(), 'wxseal-pack-install-'));
  let gateway: ReturnType<typeof spawnTracked> | undefined;
  try {
    // The tarballs carry dist/: compile first (a no-op when `npm run typecheck` just ran).
    ok(await runProcess(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], { cwd: root, timeoutMs: 150_000 }), 'tsc -b');

    step('compiled');
    const tarballDir = join(tmp, 'tarballs');
    mkdirSync(tarballDir);
    const workspaceArgs = published.flatMap((p) => ['-w', p.manifest.name]);
    ok(await runProcess('npm', ['pack', '--pack-destination', tarballDir, ...workspaceArgs], { cwd: root, env: npmEnv(), timeoutMs: 120_000 }), 'npm pack');
    step('packed');
    const tarballs = new Map<string, string>();
    for (const file of readdirSync(tarballDir)) {
      const p = published.find((x) => file === `${x.manifest.name.replace('@', '').replace('/', '-')}-${x.manifest.version}.tgz`);
      if (p) tarballs.set(p.manifest.name, file);
    }
    assert.equal(tarballs.size, published.length, `tarballs: ${readdirSync(tarballDir).join(', ')}`);

    const app = join(tmp, 'app');
    mkdirSync(app);
    writeConsumerProject(app, tarballs);

    // better-sqlite3's install script downloads a prebuilt binary (prebuild-install), else compiles
    // (a minute or more on two busy cores). Offline, the binary the monorepo's install has is that
    // download: handed to prebuild-install as a local prebuild when there is one.
    const env = npmEnv();
    const sqlite = join(root, 'node_modules/better-sqlite3');
    if (existsSync(join(sqlite, 'build/Release/better_sqlite3.node'))) {
      const version = readJson<{ version: string }>(join(sqlite, 'package.json')).version;
      const prebuilds = join(tmp, 'prebuilds');
      mkdirSync(prebuilds);
      const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
      ok(await runProcess('tar', ['-czf', join(prebuilds, name), '-C', sqlite, 'build/Release/better_sqlite3.node'], { timeoutMs: 30_000 }), 'tar of the prebuild');
      env.npm_config_better_sqlite3_local_prebuilds = prebuilds;
    }

    // What the README says (npm install @wxseal/cli @wxseal/client …), from the tarballs, offline.
    const install = await runProcess(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', ...published.map((p) => `../tarballs/${tarballs.get(p.manifest.name)}`)],
      { cwd: app, env, timeoutMs: 180_000 },
    );
    ok(install, 'npm install --offline');
    step('installed');
    const installed = (name: string): boolean => existsSync(join(app, 'node_modules', name, 'package.json'));
    for (const p of published) assert.ok(installed(p.manifest.name), `${p.manifest.name} installed`);
    assert.ok(!installed('@wxseal/console'), 'the private console is not installed');
    assert.ok(existsSync(join(app, 'node_modules/@wxseal/gateway/dist/console/index.html')), 'the gateway carries the console');
    assert.ok(installed('better-sqlite3'), 'the CLI brings better-sqlite3');
    for (const optional of ['pg', 'mysql2', 'etcd3', 'fastify', 'express']) assert.ok(!installed(optional), `${optional} is an optional peer: not installed`);
    for (const p of published) {
      assert.ok(!existsSync(join(app, 'node_modules', p.manifest.name, 'dist/.tsbuildinfo')), `${p.manifest.name} ships no .tsbuildinfo`);
    }

    // A consumer of the root entries, strict, with every declaration file checked.
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', lib: ['ES2022'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] },
        include: ['consumer.ts'],
      }),
    );
    writeFileSync(
      join(app, 'consumer.ts'),
      [
        "import { createClient } from '@wxseal/client';",
        "import { createVerifier } from '@wxseal/server';",
        "import { loadGatewayConfig, startGateway, type GatewayConfig } from '@wxseal/gateway';",
        "import { createWechatPayClient, decryptAead, signRequest } from '@wxseal/wechatpay';",
        'const used: unknown[] = [createClient, createVerifier, loadGatewayConfig, startGateway, createWechatPayClient, decryptAead, signRequest];',
        'export const config: GatewayConfig | undefined = undefined;',
        'console.log(used.length);',
        '',
      ].join('\n'),
    );
    ok(await runProcess(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, timeoutMs: 90_000 }), 'tsc of the consumer');

    step('consumer type-checked');
    // The installed CLI.
    const wxseal = (args: string[], timeoutMs = 30_000): Promise<RunOutput> =>
      runProcess(process.execPath, [join(app, 'node_modules/.bin/wxseal'), ...args], { cwd: app, env: npmEnv(), timeoutMs });
    ok(await wxseal(['keygen', '--out', './keys']), 'wxseal keygen');
    const configPath = join(app, 'keys/gateway.yaml');
    const check = await wxseal(['gateway', '--config', configPath, '--check']);
    ok(check, 'wxseal gateway --check');
    assert.match(check.stdout, /config OK/);

    // The device registry on SQLite, the CLI's default database.
    const masterKey = await wxseal(['device', 'master-key', 'generate']);
    ok(masterKey, 'wxseal device master-key generate');
    writeFileSync(join(app, 'master-keys.txt'), masterKey.stdout, { mode: 0o600 });
    ok(await wxseal(['device', 'product', 'create', 'demo', '--db', 'sqlite:./devices.db', '--master-key-file', 'master-keys.txt']), 'wxseal device product create (SQLite)');
    const list = await wxseal(['device', 'list', '--db', 'sqlite:./devices.db', '--json']);
    ok(list, 'wxseal device list (SQLite)');
    // PostgreSQL without pg installed: the typed error names the package.
    const pg = await wxseal(['device', 'list', '--db', 'postgres://u:p@127.0.0.1:9/x']);
    assert.notEqual(pg.code, 0);
    assert.match(pg.stderr, /WXSEAL_CONFIG_INVALID: .*needs the pg package.*npm install pg/);

    step('CLI commands ran');
    // etcd without etcd3 installed: FLEET_SYNC_CONFIG naming the package, from the published build.
    const etcd = await runProcess(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const { connectSyncStore } = await import('@wxseal/fleet-sync'); try { connectSyncStore({ kind: 'etcd', endpoints: ['127.0.0.1:2379'] }); } catch (e) { console.log(e.code, e.message); }",
      ],
      { cwd: app, timeoutMs: 30_000 },
    );
    ok(etcd, 'connectSyncStore over etcd');
    assert.match(etcd.stdout, /^FLEET_SYNC_CONFIG .*needs the etcd3 package.*npm install etcd3/);

    // The gateway itself, with the admin console, until /healthz and /console/ answer.
    const [port, adminPort] = [await freePort(), await freePort()];
    const yaml = readFileSync(configPath, 'utf8').replace('port: 8080', `port: ${port}`).replace('port: 9090', `port: ${adminPort}`);
    writeFileSync(configPath, yaml);
    writeFileSync(join(app, 'keys/admin-token.txt'), 'pack-install-admin-token-0123456789abcdef\n');
    chmodSync(join(app, 'keys/admin-token.txt'), 0o600);
    appendFileSync(configPath, '\nadmin:\n  auth:\n    tokenFile: admin-token.txt\n  stateDir: ./admin-state\n');
    let output = '';
    gateway = spawnTracked(process.execPath, [join(app, 'node_modules/.bin/wxseal'), 'gateway', '--config', configPath, '--workers', '1'], {
      cwd: app,
      env: npmEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    gateway.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
    gateway.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const deadline = Date.now() + 30_000;
    let healthy = false;
    while (!healthy && Date.now() < deadline && gateway.exitCode === null) {
      healthy = await fetch(`${adminUrl}/healthz`).then((r) => r.ok, () => false);
      if (!healthy) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(healthy, `the gateway never answered /healthz:\n${output}`);
    const page = await fetch(`${adminUrl}/console/`);
    assert.equal(page.status, 200, `GET /console/:\n${output}`);
    assert.match(await page.text(), /<!doctype html>/i);
    const stopped = await stopProcess(gateway, 'SIGTERM', 15_000);
    assert.equal(stopped.code, 0, `the gateway's exit:\n${output}`);
    step('gateway served and stopped');
  } finally {
    if (gateway) await stopProcess(gateway, 'SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
});
