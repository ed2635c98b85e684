// The change feed inside a gateway, end to end through the verifier: a device database cut away
// (a TCP relay to PostgreSQL, own schema) makes device requests fail closed with
// 503 WXSEAL_CREDENTIALS_STALE once devices.changeFeed.maxStalenessMs has passed, and they are
// accepted again by themselves when the database is back; a revocation made meanwhile by another
// writer (no Redis anywhere) is honoured at once. FAILS, never skips, without PostgreSQL.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createClient, isWxsealError } from '@wxseal/client';
import { DeviceRepository, MasterKeyRing, migrateDeviceDatabase, openDeviceDatabase } from '@wxseal/devices';
import { loadGatewayConfig, startGateway, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, makeKeys, startUpstream, type Upstream } from '../../../tests/support/gateway.js';

const PG = 'postgres://postgres@127.0.0.1:5432/test';
const schema = `wxseal_gwfeed_${randomBytes(5).toString('hex')}`;
const keys = makeKeys('bff-gwfeed');
const masterKeys = `m1:${MasterKeyRing.generateKey()}`;

/** A relay to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored. */
class Relay {
  readonly #sockets = new Set<Socket>();
  #cut = false;
  readonly #server: Server = createServer((down) => {
    if (this.#cut) return down.destroy();
    const up = connect(5432, '127.0.0.1');
    for (const s of [down, up]) {
      this.#sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.#sockets.delete(s);
        down.destroy();
        up.destroy();
      });
    }
    down.pipe(up).pipe(down);
  });
  port = 0;
  async open(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
  }
  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }
  restore(): void {
    this.#cut = false;
  }
  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

const relay = new Relay();
let upstream: Upstream | undefined;
let gw: RunningGateway | undefined;
let writerDb: ReturnType<typeof openDeviceDatabase> | undefined;
let writer: DeviceRepository;

async function admin(query: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG, connectionTimeoutMillis: 3000 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    await c.query(query);
  } finally {
    await c.end();
  }
}

async function outcome(serial: string, key: Uint8Array): Promise<string> {
  const client = createClient({ baseUrl: gw!.url, keyId: serial, secret: key, serverKeyId: keys.serverKeyId, serverPublicKey: keys.publicKeyPem, mode: 'signed', retry: { maxAttempts: 1 }, timeoutMs: 10_000 });
  try {
    const res = await client.get('/api/ping');
    return res.status === 200 ? 'ok' : `status ${res.status}`;
  } catch (err) {
    if (isWxsealError(err)) return `${err.status ?? '?'} ${err.code}`;
    throw err;
  } finally {
    client.close();
  }
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

before(async () => {
  await admin('select 1');
  await relay.open();
  upstream = await startUpstream();
  const url = `${PG}?schema=${schema}`;
  writerDb = openDeviceDatabase(url);
  await migrateDeviceDatabase(writerDb);
  writer = new DeviceRepository({ db: writerDb, masterKeys: MasterKeyRing.parse(masterKeys) });
  await writer.createProduct('lamp', { actor: 'test' });
  const input = baseConfig(keys, upstream.url, {
    devices: {
      database: { url: `postgres://postgres@127.0.0.1:${relay.port}/test?schema=${schema}`, connectTimeoutMs: 300, queryTimeoutMs: 500 },
      masterKeys: { env: 'GW_FEED_MASTER_KEYS' },
      sourceTimeoutMs: 1_500,
      changeFeed: { pollIntervalMs: 50, maxStalenessMs: 600 },
    },
  });
  gw = await startGateway(loadGatewayConfig(input, { env: { GW_FEED_MASTER_KEYS: masterKeys } }), { logger: captureLogger().logger });
});

after(async () => {
  await gw?.close();
  await relay.close();
  await upstream?.close();
  await writerDb?.destroy();
  await admin(`drop schema if exists "${schema}" cascade`);
});

test('the database away: device requests fail closed with 503 WXSEAL_CREDENTIALS_STALE, then recover by themselves', async () => {
  const devices = gw!.devices!;
  const { key } = await writer.activate('FEED-1', 'lamp', { actor: 'test' });
  const other = await writer.activate('FEED-2', 'lamp', { actor: 'test' });
  await until(() => devices.stats().changeFeed.applied >= 2, 5_000, 'the feed applies the activations');
  assert.equal(await outcome('FEED-1', key), 'ok');
  assert.equal(await outcome('FEED-2', other.key), 'ok');
  assert.ok(devices.feedStaleness() < 600);

  relay.cut();
  await until(() => devices.stats().changeFeed.stale, 10_000, 'the feed goes stale');
  // FEED-1 is in L1, but nothing cached is trusted now and the database cannot confirm it.
  assert.equal(await outcome('FEED-1', key), '503 WXSEAL_CREDENTIALS_STALE');
  assert.equal(await outcome(`NEW-${randomBytes(3).toString('hex')}`, randomBytes(32)), '503 WXSEAL_CREDENTIALS_STALE');
  assert.equal(devices.stats().resolver.credentialsStale, true);

  // Another writer revokes FEED-2 while this gateway is cut off; it comes back: refused at once.
  await writer.revoke('FEED-2', { actor: 'cli:test', reason: 'lost' });
  relay.restore();
  await until(() => !devices.stats().changeFeed.stale, 10_000, 'the feed is fresh again');
  assert.equal(await outcome('FEED-1', key), 'ok');
  assert.equal(await outcome('FEED-2', other.key), '401 WXSEAL_KEY_REVOKED');
  assert.ok(devices.stats().changeFeed.errors > 0);
});
