// `wxseal gateway --workers 2`: one real gateway process, node:cluster primary and two workers,
// with the Redis nonce store on 127.0.0.1:6379 (own key prefix) and an admin section. Which worker
// served a request is read from the access log (every worker's lines carry `worker`). Requests go
// on fresh connections (agent: false), which the cluster's round-robin spreads over the workers.
// Every wait is on a condition (a log line, a request the upstream holds), never on a sleep; the
// process group is registered for cleanup when spawned.
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type { GatewayConfigInput } from '@wxseal/gateway';
import { buildRequest } from '@wxseal/protocol';
import { baseConfig, eventually, makeKeys, newSecret, plainRequest, startUpstream, tempDir, writeYaml, type TestKeys, type Upstream, connectSharedRedis, dropRedisPrefix, HoldingUpstream } from '../support/gateway.js';
import { login, type AdminSession } from '../support/gateway-admin.js';
import { WXSEAL_CLI, root, spawnGateway, type GatewayProcess } from '../support/gateway-process.js';
import { runProcess, signalGroup, stopAllProcesses } from '../support/processes.js';

const keys = makeKeys('bff-workers');
const prefix = `wxseal-gw-workers-test:${randomUUID()}:`;
const ADMIN_TOKEN = `admin-token-${randomUUID()}`;

/** Requests to `/api/hold/<name>` wait in the upstream until the test releases `<name>`. */
const holding = new HoldingUpstream();
const hold = (name: string): (() => void) => holding.hold(name);

function sealed(k: TestKeys, target: string) {
  return buildRequest({
    mode: 'sealed',
    method: 'POST',
    target,
    keyId: k.keyId,
    secret: Buffer.from(k.secret, 'base64url'),
    body: Buffer.from('{}'),
    contentType: 'application/json',
    identity: { openid: 'o-workers' },
    serverKey: { id: k.serverKeyId, publicKey: createPublicKey(k.publicKeyPem) },
  });
}

describe('wxseal gateway --workers 2', () => {
  let upstream: Upstream;
  let redis: Redis;
  let dir: string;
  let configPath: string;
  let config: GatewayConfigInput & { clients: NonNullable<GatewayConfigInput['clients']> };
  let gw: GatewayProcess;
  let admin: AdminSession;
  /** wxseal requests sent so far (each is counted once by the gateway, accepted or rejected). */
  let sent = 0;

  /** The access-log lines of the requests to `path`. */
  function served(path: string): Record<string, unknown>[] {
    return gw.lines.flatMap((l) => {
      try {
        const o = JSON.parse(l) as Record<string, unknown>;
        return o.msg === 'request' && o.path === path ? [o] : [];
      } catch {
        return [];
      }
    });
  }

  /** Sends a sealed request on a new connection; resolves with its status and the worker that logged it. */
  async function send(k: TestKeys, path: string, built = sealed(k, path)): Promise<{ status: number; error: unknown; worker: unknown }> {
    const before = served(path).length;
    sent++;
    const r = await plainRequest(gw.url, path, { method: 'POST', headers: built.headers, body: built.body });
    await eventually(async () => served(path).length > before, 30_000, `the access log line of ${path}`);
    return { status: r.status, error: r.headers['wxseal-error'], worker: served(path)[before]!.worker };
  }

  before(async () => {
    redis = await connectSharedRedis();
    upstream = await startUpstream(holding.handler);
    dir = tempDir();
    config = baseConfig(keys, upstream.url, {
      nonceStore: { type: 'redis', url: 'redis://127.0.0.1:6379', prefix },
      admin: { auth: { tokenEnv: 'WXSEAL_TEST_ADMIN_TOKEN' }, stateDir: join(dir, 'state') },
    }) as typeof config; // baseConfig always lists clients
    configPath = writeYaml(dir, 'gateway.yaml', config);
    gw = await spawnGateway(configPath, { WXSEAL_TEST_ADMIN_TOKEN: ADMIN_TOKEN }, 120_000, ['--workers', '2']);
    await gw.waitForLog(/^gateway workers ready$/, 120_000);
    admin = await login(gw.adminUrl, { token: ADMIN_TOKEN });
  });

  after(async () => {
    holding.releaseAll();
    await stopAllProcesses('SIGKILL');
    await upstream?.close();
    await dropRedisPrefix(redis, prefix);
  });

  test('--workers 2 with the memory nonce store is refused, naming the setting', async () => {
    const memory = writeYaml(dir, 'memory.yaml', baseConfig(keys, upstream.url));
    const r = await runProcess(process.execPath, [...WXSEAL_CLI, 'gateway', '--config', memory, '--workers', '2', '--check'], { cwd: root, timeoutMs: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /WXSEAL_CONFIG_INVALID: .*memory\.yaml: nonceStore\.type: the memory nonce store is per process.*\(--workers\)/);
  });

  test('a worker that cannot listen stops the start with its own message and exit code', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const port = (taken.address() as AddressInfo).port;
      const busy = writeYaml(dir, 'busy.yaml', {
        ...config,
        listeners: { public: { host: '127.0.0.1', port }, admin: { host: '127.0.0.1', port: 0 } },
        admin: { ...config.admin!, stateDir: join(dir, 'busy-state') },
      });
      const r = await runProcess(process.execPath, [...WXSEAL_CLI, 'gateway', '--config', busy, '--workers', '2'], { cwd: root, timeoutMs: 120_000, env: { ...process.env, WXSEAL_TEST_ADMIN_TOKEN: ADMIN_TOKEN } });
      assert.equal(r.timedOut, false);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`CLI_PORT_IN_USE: 127\\.0\\.0\\.1:${port} is already in use`));
      assert.match(r.stdout, /"msg":"gateway stopped"/);
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });

  test('both workers serve requests; a request accepted by one worker is a replay for the other', async () => {
    const workers = new Set<unknown>();
    for (let i = 0; i < 8; i++) workers.add((await send(keys, `/api/spread/${i}`)).worker);
    assert.deepEqual([...workers].sort(), [1, 2], 'round-robin spread the connections over both workers');

    // Until the replay lands on the other worker (round-robin makes that the next connection).
    let crossed = false;
    for (let i = 0; i < 6 && !crossed; i++) {
      const path = `/api/replay/${i}`;
      const built = sealed(keys, path);
      const first = await send(keys, path, built);
      assert.equal(first.status, 200);
      const again = await send(keys, path, built);
      assert.equal(again.status, 401);
      assert.equal(again.error, 'WXSEAL_REPLAYED_NONCE');
      crossed = again.worker !== first.worker;
    }
    assert.ok(crossed, 'a replay was refused by the worker that had not seen the request');
  });

  test('/metrics and the admin stats count the requests of every worker', async () => {
    await eventually(
      async () => {
        const text = (await plainRequest(gw.adminUrl, '/metrics')).body;
        const total = [...text.matchAll(/^wxseal_gateway_requests_total\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
        return total === sent && /^wxseal_gateway_workers\{state="ready"\} 2$/m.test(text);
      },
      30_000,
      `/metrics counts ${sent} requests over 2 workers`,
    );
    const metrics = (await plainRequest(gw.adminUrl, '/metrics')).body;
    assert.match(metrics, /^wxseal_gateway_nonce_store_up 1$/m, 'a gauge with the min aggregator is not summed');

    const stats = await admin.get('/stats');
    assert.equal(stats.status, 200, stats.text);
    const totals = stats.json.totals as { accepted: number; rejected: Record<string, number>; replays: number };
    const rejected = Object.values(totals.rejected).reduce((a, b) => a + b, 0);
    assert.equal(totals.accepted + rejected, sent, JSON.stringify(totals));
    assert.ok(totals.replays >= 1);
    assert.equal(stats.json.instanceCount, 1, 'the workers are one instance of the fleet');
  });

  test('SIGHUP to the primary: a new client secret works on both workers; a broken config keeps the old one everywhere', async () => {
    const rotated = { ...keys, secret: newSecret() };
    assert.equal((await send(rotated, '/api/before-hup')).status, 401);
    config.clients[0]!.secrets.push({ id: 'rotated', secret: rotated.secret });
    writeYaml(dir, 'gateway.yaml', config);
    process.kill(gw.child.pid!, 'SIGHUP');
    await gw.waitForLog(/^config reloaded in every worker$/);
    const workers = new Set<unknown>();
    for (let i = 0; i < 6; i++) {
      const r = await send(rotated, `/api/after-hup/${i}`);
      assert.equal(r.status, 200, `worker ${String(r.worker)} knows the new secret`);
      workers.add(r.worker);
    }
    assert.deepEqual([...workers].sort(), [1, 2]);

    writeYaml(dir, 'gateway.yaml', { ...config, routes: [{ prefix: '/api', upstream: 'not a url' }] });
    process.kill(gw.child.pid!, 'SIGHUP');
    const failed = await gw.waitForLog(/^config reload failed; every worker keeps the current config$/);
    assert.match(JSON.stringify(failed), /must be an http\(s\) URL/);
    for (let i = 0; i < 4; i++) assert.equal((await send(rotated, `/api/after-bad-hup/${i}`)).status, 200);
    writeYaml(dir, 'gateway.yaml', config);
  });

  test('a worker killed is replaced and traffic continues', async () => {
    const w2 = gw.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((o) => o.msg === 'gateway listening' && o.worker === 2);
    assert.ok(w2, 'worker 2 logged its start');
    process.kill(Number(w2.pid), 'SIGKILL');
    const exited = await gw.waitForLog(/^worker exited unexpectedly; starting a replacement$/);
    assert.equal(exited.slot, 2);
    assert.equal(exited.signal, 'SIGKILL');
    const replaced = await gw.waitForLog(/^worker replaced$/);
    assert.equal(replaced.slot, 2);
    assert.notEqual(replaced.workerPid, w2.pid);
    const workers = new Set<unknown>();
    for (let i = 0; i < 6; i++) {
      const r = await send(keys, `/api/after-kill/${i}`);
      assert.equal(r.status, 200);
      workers.add(r.worker);
    }
    assert.deepEqual([...workers].sort(), [1, 2]);
    assert.match((await plainRequest(gw.adminUrl, '/metrics')).body, /^wxseal_gateway_worker_restarts_total 1$/m);
  });

  test('SIGTERM to the primary: the request in flight is answered, every worker drains, the primary exits 0', async () => {
    const release = hold('term');
    try {
      const built = sealed(keys, '/api/hold/term');
      const inFlight = plainRequest(gw.url, '/api/hold/term', { method: 'POST', headers: built.headers, body: built.body });
      await eventually(async () => upstream.seen.some((s) => s.url.endsWith('/hold/term')), 60_000, 'the upstream holds the request');
      process.kill(gw.child.pid!, 'SIGTERM');
      await gw.waitForLog(/^draining every worker$/);
      await gw.waitForLog(/^draining$/);
      release();
      assert.equal((await inFlight).status, 200);
      assert.equal(await gw.exited, 0);
      await gw.waitForLog(/^gateway stopped$/);
      assert.equal(gw.stderr(), '');
    } finally {
      release();
    }
  });

  test('Ctrl-C to the whole process group: every worker drains once (the primary\'s drain is not a second signal), exit 0', async () => {
    const plain = writeYaml(dir, 'plain.yaml', { ...config, admin: undefined });
    const g = await spawnGateway(plain, {}, 120_000, ['--workers', '2']);
    await g.waitForLog(/^gateway workers ready$/, 120_000);
    assert.ok(signalGroup(g.child, 'SIGINT'));
    assert.equal(await g.exited, 0, g.stderr());
    await eventually(async () => g.lines.filter((l) => l.includes('"msg":"gateway stopped"')).length === 3, 30_000, 'two workers and the primary logged their stop');
    assert.equal(g.stderr(), '');
  });
});
