/**
 * Scenario (k): the REAL gateway on every core, started the way a user starts it — the CLI,
 * `wxseal gateway --config <file> --workers N`, from the built package — with the session-key cache
 * and the Redis nonce store a gateway of several processes needs (the memory store is refused with
 * N > 1). This child writes the config (the run's keys) into a private temporary directory, starts
 * the CLI (in this child's process group, so it goes with it), waits for /readyz, and reports the process tree's CPU (primary and workers) beside the
 * gateway's own /metrics (which worker 1 aggregates over every worker).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { deleteByPrefix } from '../devices.js';
import { KEYS_ENV, readBenchKeys } from '../keys.js';
import { REPO_ROOT, announceReady, childConfig } from '../process.js';
import type { ForwardingServerConfig } from './common.js';
import { freePort, processTreeCpuMicros } from './process-tree.js';

interface GatewayClusterConfig extends ForwardingServerConfig {
  workers: number;
  redisUrl: string;
  /** The run's own key prefix for the nonce store, deleted at the end. */
  redisPrefix: string;
}

const config = childConfig<GatewayClusterConfig>();
const keys = readBenchKeys();
// Inside the run's private directory (where the keys file is), which the harness removes even when stopped.
const dir = mkdtempSync(join(dirname(process.env[KEYS_ENV] ?? join(tmpdir(), 'x')), 'gateway-cluster-'));
const [publicPort, adminPort] = [await freePort(), await freePort()];
const configPath = join(dir, 'gateway.json');
writeFileSync(
  configPath,
  JSON.stringify({
    listeners: { public: { host: '127.0.0.1', port: publicPort, keepAliveTimeoutMs: 65_000 }, admin: { host: '127.0.0.1', port: adminPort } },
    routes: [{ name: 'bench', prefix: '/', upstream: config.upstreamUrl, mode: 'sealed' }],
    clients: [{ keyId: keys.keyId, secrets: [{ id: 'bench', secret: keys.secret }] }],
    serverKeys: [
      { id: keys.serverKeyId, privateKey: keys.privateKeyPem },
      { id: keys.x25519ServerKeyId, privateKey: keys.x25519PrivateKeyPem },
      { id: keys.sm2ServerKeyId, privateKey: keys.sm2PrivateKeyPem },
    ],
    nonceStore: { type: 'redis', url: config.redisUrl, prefix: config.redisPrefix },
    sessionKeyCache: { maxEntries: 10_000, ttlSeconds: 300 },
    log: { level: 'warn' },
  }),
  { mode: 0o600 },
);

// The CLI as installed: plain node on the compiled package, no loader flags.
const cli = spawn(process.execPath, [join(REPO_ROOT, 'packages/cli/bin/wxseal.js'), 'gateway', '--config', configPath, '--workers', String(config.workers)], {
  cwd: dir,
  stdio: ['ignore', 'ignore', 'pipe'],
});
let stderr = '';
cli.stderr?.setEncoding('utf8');
cli.stderr?.on('data', (chunk: string) => {
  stderr = (stderr + chunk).slice(-4000);
});
const exited = new Promise<void>((resolve) => cli.once('exit', () => resolve()));

const cleanup = async (): Promise<void> => {
  if (cli.exitCode === null && cli.signalCode === null) {
    cli.kill('SIGTERM');
    const forced = setTimeout(() => cli.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(forced);
  }
  rmSync(dir, { recursive: true, force: true });
  const redis = new Redis(config.redisUrl, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await deleteByPrefix(redis, config.redisPrefix);
  } catch {
    // Redis gone: nothing to clean.
  } finally {
    redis.disconnect();
  }
};

const adminUrl = `http://127.0.0.1:${adminPort}`;
try {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (cli.exitCode !== null || cli.signalCode !== null) throw new Error(`wxseal gateway --workers ${config.workers} exited (${cli.signalCode ?? cli.exitCode}) before it was ready\n${stderr}`);
    const ready = await request(`${adminUrl}/readyz`).then(
      async (res) => {
        await res.body.dump();
        return res.statusCode === 200;
      },
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`wxseal gateway --workers ${config.workers} was not ready within 60 s\n${stderr}`);
    await sleep(100);
  }
} catch (err) {
  await cleanup();
  throw err;
}

const stats = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ cpuMicros: processTreeCpuMicros(cli.pid!), workers: config.workers }));
});
await new Promise<void>((resolve) => stats.listen(0, '127.0.0.1', resolve));
announceReady({ url: `http://127.0.0.1:${publicPort}`, adminUrl, statsUrl: `http://127.0.0.1:${(stats.address() as AddressInfo).port}` }, async () => {
  stats.close();
  await cleanup();
});
