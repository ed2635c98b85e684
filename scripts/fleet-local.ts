// `npm run fleet:local [-- --check]`: the fleet of deploy/ (three gateways sharing one control
// plane on PostgreSQL and one Redis nonce store) as local processes on this machine, with an echo
// upstream. Each gateway is `wxseal gateway --config FILE` run from the TypeScript sources, with
// deploy/gateway.fleet.yaml adapted to this machine (ports, upstream, paths), and the secrets made
// by deploy/generate-secrets.sh into a temporary directory that is deleted at the end.
//
// With --sentinel the nonce store is the Redis of deploy/ as local processes: a private master and
// its replica running deploy/redis/redis.conf, and one Sentinel with deploy/compose.yaml's Sentinel
// config, which the gateways ask for the master (nonceStore.sentinels, as in the deploy config).
// Without --check it prints the URLs and runs until Ctrl-C/SIGTERM. With --check it waits until
// all three /readyz answer 200, sends one sealed request through each gateway with @wxseal/client,
// prints the results, stops everything and exits 0 (all three answered 200 with the echo) or 1.
// Every start-up failure stops what was started. PostgreSQL gets a schema of its own and Redis a
// key prefix of its own, both removed at the end.
//
// Environment: WXSEAL_FLEET_PG (default postgres://postgres@127.0.0.1:5432/test),
// WXSEAL_FLEET_REDIS (default redis://127.0.0.1:6379/0), WXSEAL_FLEET_READY_MS (default 120000).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { createClient } from '@wxseal/client';
import { serverKeyIdFor } from '@wxseal/server';

const root = fileURLToPath(new URL('..', import.meta.url));
const INSTANCES = 3;
const CHILD_FLAG = '--run-gateway';

// ---------------------------------------------------------------------------------------------
// Child mode: this file is also the entry of each gateway process (`wxseal gateway --config FILE`
// through the CLI's own main, as packages/cli/bin/wxseal.js runs it, but from the sources).
// ---------------------------------------------------------------------------------------------
if (process.argv[2] === CHILD_FLAG) {
  const { main } = await import('@wxseal/cli');
  // One process per gateway (the default, one worker per core, would multiply them by the cores).
  const code = await main([process.argv[0]!, 'wxseal', 'gateway', '--config', process.argv[3]!, '--workers', '1']).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    return 2;
  });
  process.exit(code);
}

const check = process.argv.includes('--check');
const useSentinel = process.argv.includes('--sentinel');
const unknown = process.argv.slice(2).filter((a) => a !== '--check' && a !== '--sentinel');
if (unknown.length > 0) {
  console.error(`fleet-local: unknown argument ${unknown[0]} (usage: fleet-local [--check] [--sentinel])`);
  process.exit(2);
}
const PG_URL = process.env.WXSEAL_FLEET_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.WXSEAL_FLEET_REDIS ?? 'redis://127.0.0.1:6379/0';
const READY_MS = Number(process.env.WXSEAL_FLEET_READY_MS) || 120_000;

const runId = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
// Lowercase letters, digits and _ only (the device registry's rule for ?schema=).
const schema = `wxseal_fleet_${runId}`;
const redisPrefix = `wxseal:fleet-local:${runId}:`;
const dir = mkdtempSync(join(tmpdir(), 'wxseal-fleet-'));

interface Instance {
  name: string;
  child: ChildProcess;
  log: string;
  url?: string;
  adminUrl?: string;
  /** The nonce store as the gateway logged it at start (a safe display form). */
  nonceStore?: string;
  exited: Promise<number | null>;
}
const instances: Instance[] = [];
let upstream: Server | undefined;
interface Helper {
  child: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}
/** The Redis master, replica and Sentinel of --sentinel. */
const helpers: Helper[] = [];
let sentinel: { port: number; name: string } | undefined;
let schemaCreated = false;
let redisReached = false;
let cleaning: Promise<void> | undefined;

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const alive = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

// The last resort: whatever ends this process, no gateway outlives it (process.kill is synchronous).
process.on('exit', () => {
  for (const i of instances) if (alive(i.child)) i.child.kill('SIGKILL');
  for (const h of helpers) if (alive(h.child)) h.child.kill('SIGKILL');
});

/** Stops the gateways (SIGTERM: they drain), then the upstream, the schema, the Redis keys and the files. */
async function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const i of instances) if (alive(i.child)) i.child.kill('SIGTERM');
    // Each drains in at most shutdown.drainTimeoutMs (1 s here); SIGKILL after a margin.
    const deadline = Date.now() + 10_000;
    for (const i of instances) {
      const left = deadline - Date.now();
      const done = await Promise.race([i.exited.then(() => true), sleep(Math.max(0, left)).then(() => false)]);
      if (!done && alive(i.child)) i.child.kill('SIGKILL');
    }
    // Sentinel first, so it never sees its master go.
    for (const h of [...helpers].reverse()) {
      if (!alive(h.child)) continue;
      h.child.kill('SIGTERM');
      if (!(await Promise.race([h.exited.then(() => true), sleep(5_000).then(() => false)]))) h.child.kill('SIGKILL');
    }
    upstream?.closeAllConnections();
    await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
    if (schemaCreated) {
      await withPg((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).catch((err: unknown) => say(`fleet-local: could not drop schema ${schema}: ${String(err)}`));
    }
    if (redisReached) await deleteRedisKeys().catch((err: unknown) => say(`fleet-local: could not delete the Redis keys ${redisPrefix}*: ${String(err)}`));
    rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}

let signalled = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (signalled) {
      // A second signal: stop waiting for the drain.
      process.exit(130); // the 'exit' handler kills what is left
    }
    signalled = true;
    say(`fleet-local: ${signal}, stopping the fleet`);
    void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

async function withPg<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5_000, query_timeout: 10_000 });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A client that tries once; `lastError` keeps the cause ioredis would otherwise log as unhandled. */
function redisClient(): Redis & { lastError?: Error } {
  const redis: Redis & { lastError?: Error } = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 1, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on('error', (err: Error) => (redis.lastError = err));
  return redis;
}

async function deleteRedisKeys(): Promise<void> {
  const redis = redisClient();
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** A URL of the local PostgreSQL that puts every table in this run's schema. */
function schemaUrl(): string {
  const url = new URL(PG_URL);
  url.searchParams.set('schema', schema);
  return url.toString();
}

async function startUpstream(): Promise<string> {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ echo: true, method: req.method, url: req.url, body: Buffer.concat(chunks).toString('utf8') }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    upstream!.once('error', reject);
    upstream!.listen(0, '127.0.0.1', () => resolve());
  });
  return `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
}

/** deploy/gateway.fleet.yaml for instance `n` on this machine: the same sections, local places. */
function localConfig(n: number, secrets: string, upstreamUrl: string): string {
  const text = readFileSync(join(root, 'deploy/gateway.fleet.yaml'), 'utf8').replaceAll('/run/secrets/', `${secrets}/`);
  const c = parseYaml(text) as Record<string, unknown> & {
    listeners: { public: Record<string, unknown>; admin: Record<string, unknown> };
    routes: { upstream: string }[];
    nonceStore: Record<string, unknown>;
    shutdown: Record<string, unknown>;
    controlPlane: Record<string, unknown>;
    admin: Record<string, unknown>;
  };
  c.listeners.public.host = '127.0.0.1';
  c.listeners.public.port = 0;
  c.listeners.admin.host = '127.0.0.1';
  c.listeners.admin.port = 0;
  for (const r of c.routes) r.upstream = upstreamUrl;
  const prefix = `${redisPrefix}nonce:`;
  c.nonceStore = sentinel
    ? { ...c.nonceStore, sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: sentinel.name, prefix }
    : { type: 'redis', urlEnv: 'WXSEAL_REDIS_URL', prefix };
  c.trustedProxies = [];
  c.shutdown.drainTimeoutMs = 1_000;
  c.controlPlane.instanceId = `local-${n}`;
  c.admin.stateDir = join(dir, `admin-${n}`);
  c.admin.cookieSecure = false;
  const path = join(dir, `gateway-${n}.yaml`);
  writeFileSync(path, toYaml(c), { mode: 0o600 });
  return path;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Starts `redis-server args…` (its output in a log file) and tracks it for the clean-up. */
function spawnHelper(name: string, args: readonly string[]): Helper {
  const log = join(dir, `${name}.log`);
  const out = createWriteStream(log);
  const child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const helper = { child, log, exited: new Promise<number | null>((r) => child.once('exit', (code) => r(code))) };
  child.once('error', (err) => out.end(`spawn failed: ${err.message} (install Debian's redis-server, or run without --sentinel)\n`));
  helpers.push(helper);
  return helper;
}

/** Polls `probe` on 127.0.0.1:`port` until it returns true; fails when `helper` exits or at the deadline. */
async function waitFor(helper: Helper, port: number, what: string, probe: (r: Redis) => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!alive(helper.child) || helper.child.pid === undefined) throw new Error(`${what}: redis-server exited:\n${tail(helper.log)}`);
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 1, retryStrategy: () => null, enableOfflineQueue: false });
    client.on('error', () => undefined);
    const ok = await client
      .connect()
      .then(() => probe(client))
      .catch(() => false)
      .finally(() => client.disconnect());
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready on port ${port}:\n${tail(helper.log)}`);
    await sleep(100);
  }
}

/**
 * The Redis of deploy/compose.yaml on this machine: a master and a replica running
 * deploy/redis/redis.conf (its port, bind address and directory overridden on the command line),
 * and one Sentinel running the sentinel.conf of compose.yaml's redis-sentinel-1 (its port, and the
 * master's group name, address and quorum — 1, there is one Sentinel — are this run's).
 */
async function startSentinelRedis(): Promise<void> {
  const conf = join(root, 'deploy/redis/redis.conf');
  const masterPort = await freePort();
  const replicaPort = await freePort();
  for (const d of ['redis-master', 'redis-replica']) mkdirSync(join(dir, d), { mode: 0o700 });
  const local = (port: number, d: string): string[] => [conf, '--port', String(port), '--bind', '127.0.0.1', '--dir', join(dir, d)];
  const master = spawnHelper('redis-master', local(masterPort, 'redis-master'));
  await waitFor(master, masterPort, 'the Redis master', async (r) => (await r.ping()) === 'PONG');
  const replica = spawnHelper('redis-replica', [...local(replicaPort, 'redis-replica'), '--replicaof', '127.0.0.1', String(masterPort)]);
  await waitFor(replica, replicaPort, 'the Redis replica', async (r) => /master_link_status:up/.test(await r.info('replication')));

  const compose = parseYaml(readFileSync(join(root, 'deploy/compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, { command?: string[] }> };
  const script = (compose.services['redis-sentinel-1']?.command ?? []).join('\n');
  const text = /<<'CONF'\n([\s\S]*?)\nCONF/.exec(script)?.[1];
  const monitor = text === undefined ? null : /^sentinel monitor (\S+) \S+ \d+ \d+$/m.exec(text);
  if (text === undefined || !monitor) throw new Error('deploy/compose.yaml: no sentinel.conf in the command of redis-sentinel-1');
  const port = await freePort();
  const name = `wxseal_local_${runId}`;
  const sentinelConf = text
    .split('\n')
    .map((line) => {
      if (/^port \d+$/.test(line)) return `port ${port}`;
      if (line.startsWith('sentinel monitor ')) return `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`;
      return line.replace(new RegExp(`^(sentinel [a-z-]+) ${monitor[1]} `), `$1 ${name} `);
    })
    .concat(['bind 127.0.0.1', `dir ${dir}`])
    .join('\n');
  const file = join(dir, 'sentinel.conf');
  writeFileSync(file, `${sentinelConf}\n`, { mode: 0o600 });
  const helper = spawnHelper('redis-sentinel', [file, '--sentinel']);
  // Ready when it names the master and knows its replica: the gateways ask it exactly that.
  await waitFor(helper, port, 'the Sentinel', async (r) => {
    const addr = await r.call('SENTINEL', 'get-master-addr-by-name', name);
    const replicas = await r.call('SENTINEL', 'replicas', name);
    return Array.isArray(addr) && addr[1] === String(masterPort) && Array.isArray(replicas) && replicas.length === 1;
  });
  sentinel = { port, name };
}

function spawnGateway(n: number, config: string, env: NodeJS.ProcessEnv): Instance {
  const log = join(dir, `gateway-${n}.log`);
  const out = createWriteStream(log);
  // Same process group as this script: a group kill (a test's timeout) takes the gateways too.
  const child = spawn(process.execPath, ['--conditions=wxseal-source', '--import', 'tsx', fileURLToPath(import.meta.url), CHILD_FLAG, config], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const instance: Instance = { name: `gateway-${n}`, child, log, exited: new Promise((r) => child.once('exit', (code) => r(code))) };
  child.once('error', (err) => say(`fleet-local: gateway-${n} did not start: ${err.message}`));
  let buffered = '';
  child.stdout!.on('data', (d: Buffer) => {
    out.write(d);
    buffered += d.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const entry = JSON.parse(line) as { msg?: unknown; url?: unknown; adminUrl?: unknown; nonceStore?: { type?: unknown; url?: unknown } };
        if (entry.msg === 'gateway listening' && typeof entry.url === 'string' && typeof entry.adminUrl === 'string') {
          instance.url = entry.url;
          instance.adminUrl = entry.adminUrl;
          instance.nonceStore = typeof entry.nonceStore?.url === 'string' ? entry.nonceStore.url : String(entry.nonceStore?.type);
        }
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => out.write(d));
  child.once('exit', () => out.end());
  return instance;
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `    ${l}`).join('\n');
  } catch {
    return '    (no log)';
  }
}

/** Waits until every instance's /readyz answers 200; fails at once when one exits, or at the deadline. */
async function waitReady(): Promise<void> {
  const deadline = Date.now() + READY_MS;
  const ready = new Set<string>();
  while (ready.size < instances.length) {
    for (const i of instances) {
      if (ready.has(i.name)) continue;
      if (!alive(i.child)) throw new Error(`${i.name} exited (code ${i.child.exitCode ?? i.child.signalCode}) before it was ready:\n${tail(i.log)}`);
      if (i.adminUrl === undefined) continue;
      const res = await fetch(`${i.adminUrl}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
      if (res?.status === 200) ready.add(i.name);
      await res?.body?.cancel();
    }
    if (ready.size === instances.length) return;
    if (Date.now() > deadline) {
      const late = instances.filter((i) => !ready.has(i.name));
      throw new Error(`not ready within ${READY_MS} ms: ${late.map((i) => `${i.name}\n${tail(i.log)}`).join('\n')}`);
    }
    await sleep(200);
  }
}

async function main(): Promise<number> {
  // 1. The shared services answer, or nothing starts.
  await withPg((c) => c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)).catch((err: unknown) => {
    throw new Error(`PostgreSQL at ${new URL(PG_URL).host} (WXSEAL_FLEET_PG): ${err instanceof Error ? err.message : String(err)}`);
  });
  schemaCreated = true;
  const redis = redisClient();
  try {
    await redis.connect();
    await redis.ping();
    redisReached = true;
  } catch (err) {
    const cause = redis.lastError ?? err;
    throw new Error(`Redis at ${new URL(REDIS_URL).host} (WXSEAL_FLEET_REDIS): ${cause instanceof Error ? cause.message : String(cause)}`);
  } finally {
    redis.disconnect();
  }

  // 2. Secrets, as for compose and Kubernetes.
  const secrets = join(dir, 'secrets');
  const generated = spawnSync('sh', [join(root, 'deploy/generate-secrets.sh'), secrets], { encoding: 'utf8' });
  if (generated.status !== 0) throw new Error(`deploy/generate-secrets.sh failed: ${generated.stderr.trim()}`);
  const privateKeyPem = readFileSync(join(secrets, 'wxseal-server-key.pem'), 'utf8');
  const publicKey = createPublicKey(privateKeyPem);
  const clientSecret = readFileSync(join(secrets, 'wxseal-client-bff-prod'), 'utf8').trim();
  writeFileSync(join(secrets, 'server-public.pem'), publicKey.export({ type: 'spki', format: 'pem' }));

  // 3. The upstream, the Sentinel if asked for, and the three gateways.
  const upstreamUrl = await startUpstream();
  if (useSentinel) await startSentinelRedis();
  const dbUrl = schemaUrl();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    WXSEAL_CONTROL_PLANE_DB: dbUrl,
    WXSEAL_DEVICE_DB: dbUrl,
    WXSEAL_REDIS_URL: REDIS_URL,
    WXSEAL_DEVICE_MASTER_KEY_FILE: join(secrets, 'wxseal-master-keys'),
  };
  for (let n = 1; n <= INSTANCES; n++) {
    mkdirSync(join(dir, `admin-${n}`), { mode: 0o700 });
    instances.push(spawnGateway(n, localConfig(n, secrets, upstreamUrl), env));
  }
  const started = Date.now();
  await waitReady();
  say(`fleet-local: ${INSTANCES} gateways ready in ${((Date.now() - started) / 1000).toFixed(1)} s (PostgreSQL schema ${schema}, Redis prefix ${redisPrefix})`);
  if (sentinel) say(`  nonce store: a private Redis master and replica (deploy/redis/redis.conf) through Sentinel 127.0.0.1:${sentinel.port}, master group ${sentinel.name}`);
  const serverKeyId = serverKeyIdFor(publicKey);
  for (const i of instances) {
    const clientJson = join(dir, `client-${i.name}.json`);
    writeFileSync(clientJson, JSON.stringify({ baseUrl: i.url, keyId: 'bff-prod', secretFile: 'secrets/wxseal-client-bff-prod', serverKeyId, serverPublicKeyFile: 'secrets/server-public.pem', mode: 'sealed' }, null, 2), { mode: 0o600 });
    say(`  ${i.name}: public ${i.url}  admin ${i.adminUrl} (console ${i.adminUrl}/console/)  nonce store ${i.nonceStore}  log ${i.log}`);
    say(`    wxseal call -c ${clientJson} -d '{"hello":"fleet"}' /api/echo`);
  }
  say(`  upstream (echo): ${upstreamUrl}`);
  say(`  admin token: ${join(secrets, 'wxseal-admin-token')}`);

  if (!check) {
    say('fleet-local: running; Ctrl-C stops every process and removes the schema, the keys and the files');
    await new Promise<never>(() => undefined);
  }

  // 4. --check: one sealed request through each gateway.
  let failures = 0;
  for (const i of instances) {
    const client = createClient({ baseUrl: i.url!, keyId: 'bff-prod', secret: clientSecret, serverKeyId, serverPublicKey: publicKey, mode: 'sealed', retry: { maxAttempts: 1 }, timeoutMs: 10_000 });
    try {
      const res = await client.post('/api/fleet-check', { json: { instance: i.name } });
      const body = JSON.parse(res.body.toString('utf8')) as { echo?: boolean; body?: string };
      const ok = res.status === 200 && body.echo === true && body.body === JSON.stringify({ instance: i.name });
      if (!ok) failures++;
      say(`check ${i.name}: ${ok ? 'ok' : 'FAILED'} sealed POST /api/fleet-check → ${res.status} ${res.body.toString('utf8')}`);
    } catch (err) {
      failures++;
      say(`check ${i.name}: FAILED ${err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err)}`);
    } finally {
      client.close();
    }
  }
  say(`fleet-local: ${INSTANCES - failures}/${INSTANCES} sealed calls answered 200 through the fleet`);
  return failures === 0 ? 0 : 1;
}

let code: number;
try {
  code = await main();
} catch (err) {
  say(`fleet-local: ${err instanceof Error ? err.message : String(err)}`);
  code = 1;
}
await cleanUp();
process.exit(code);
