// `npm run fleet:local [-- --check]`: the fleet of deploy/ (three gateways sharing one control
// plane on PostgreSQL and one Redis nonce store) as local processes on this machine, with an echo
// upstream. Each gateway is `wxseal gateway --config FILE` run from the TypeScript sources, with
// deploy/gateway.fleet.yaml adapted to this machine (ports, upstream, paths), and the secrets made
// by deploy/generate-secrets.sh into a temporary directory that is deleted at the end.
//
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
  const code = await main([process.argv[0]!, 'wxseal', 'gateway', '--config', process.argv[3]!]).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    return 2;
  });
  process.exit(code);
}

const check = process.argv.includes('--check');
const unknown = process.argv.slice(2).filter((a) => a !== '--check');
if (unknown.length > 0) {
  console.error(`fleet-local: unknown argument ${unknown[0]} (usage: fleet-local [--check])`);
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
  exited: Promise<number | null>;
}
const instances: Instance[] = [];
let upstream: Server | undefined;
let schemaCreated = false;
let redisReached = false;
let cleaning: Promise<void> | undefined;

const say = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const alive = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

// The last resort: whatever ends this process, no gateway outlives it (process.kill is synchronous).
process.on('exit', () => {
  for (const i of instances) if (alive(i.child)) i.child.kill('SIGKILL');
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
      for (const i of instances) if (alive(i.child)) i.child.kill('SIGKILL');
      process.exit(130);
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
  c.nonceStore.prefix = `${redisPrefix}nonce:`;
  c.trustedProxies = [];
  c.shutdown.drainTimeoutMs = 1_000;
  c.controlPlane.instanceId = `local-${n}`;
  c.admin.stateDir = join(dir, `admin-${n}`);
  c.admin.cookieSecure = false;
  const path = join(dir, `gateway-${n}.yaml`);
  writeFileSync(path, toYaml(c), { mode: 0o600 });
  return path;
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
        const entry = JSON.parse(line) as { msg?: unknown; url?: unknown; adminUrl?: unknown };
        if (entry.msg === 'gateway listening' && typeof entry.url === 'string' && typeof entry.adminUrl === 'string') {
          instance.url = entry.url;
          instance.adminUrl = entry.adminUrl;
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

  // 3. The upstream and the three gateways.
  const upstreamUrl = await startUpstream();
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
  const serverKeyId = serverKeyIdFor(publicKey);
  for (const i of instances) {
    const clientJson = join(dir, `client-${i.name}.json`);
    writeFileSync(clientJson, JSON.stringify({ baseUrl: i.url, keyId: 'bff-prod', secretFile: 'secrets/wxseal-client-bff-prod', serverKeyId, serverPublicKeyFile: 'secrets/server-public.pem', mode: 'sealed' }, null, 2), { mode: 0o600 });
    say(`  ${i.name}: public ${i.url}  admin ${i.adminUrl} (console ${i.adminUrl}/console/)  log ${i.log}`);
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
