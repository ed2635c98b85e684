// Fixtures of the key-lookup cache tests: an in-memory DeviceKeySource that counts its loads and
// can fail on demand, an injectable clock, Redis clients on the shared test Redis with a unique
// prefix per run (the tests FAIL, never skip, when that Redis is not reachable), and a counter of
// the commands a client sends.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { ClientCredential } from '@wxseal/server';
import type { DeviceKeyRecord, DeviceKeySource } from '../src/store/types.js';
import { DeviceKeyResolver, type DeviceKeyResolverOptions } from '../src/cache/index.js';

export const REDIS = { host: '127.0.0.1', port: 6379 };

/** A clock the tests move by hand (milliseconds). */
export class TestClock {
  ms = 1_750_000_000_000;
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
  get seconds(): number {
    return Math.floor(this.ms / 1000);
  }
}

/** L3 stand-in: a Map, with load() counted per serial and failure modes for outage tests. */
export class MemorySource implements DeviceKeySource {
  readonly records = new Map<string, DeviceKeyRecord>();
  loads = 0;
  readonly loadsOf = new Map<string, number>();
  /** 'throw': load() rejects; 'hang': load() never settles. serials() follows the same mode. */
  mode: 'up' | 'throw' | 'hang' = 'up';
  /** Delay of every load (ms), so concurrent lookups really overlap. */
  delayMs = 0;
  /** When set, loads wait for it (a load held in flight on purpose). */
  gate: Promise<void> | undefined;

  put(serial: string, fields: Partial<DeviceKeyRecord> = {}): DeviceKeyRecord {
    const record: DeviceKeyRecord = {
      serial,
      status: 'active',
      currentKey: randomBytes(32),
      keyVersion: 1,
      updatedAt: Date.now(),
      ...fields,
    };
    this.records.set(serial, record);
    return record;
  }

  async load(serial: string): Promise<DeviceKeyRecord | undefined> {
    this.loads++;
    this.loadsOf.set(serial, (this.loadsOf.get(serial) ?? 0) + 1);
    // Read before waiting, as a database would: a held load answers with the state it read.
    const snapshot = this.records.get(serial);
    if (this.mode === 'throw') throw new Error('database is down');
    if (this.mode === 'hang') return new Promise<never>(() => undefined);
    if (this.gate) await this.gate;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    return snapshot && { ...snapshot };
  }

  async *serials(): AsyncIterable<string> {
    if (this.mode === 'throw') throw new Error('database is down');
    if (this.mode === 'hang') await new Promise<never>(() => undefined);
    for (const serial of [...this.records.keys()]) yield serial;
  }
}

/** A fresh prefix (and so channel) per test, so runs and parallel test files never meet. */
export const uniquePrefix = (): string => `wxseal-test:devkey:${randomUUID()}:`;

const clients: Redis[] = [];

export function redisClient(options: RedisOptions = {}): Redis {
  // disconnectTimeout: a client whose peer never closes would otherwise keep the process up 2 s.
  const c = new Redis({ ...REDIS, maxRetriesPerRequest: 1, disconnectTimeout: 50, ...options });
  c.on('error', () => undefined); // connection errors are what some tests are about
  clients.push(c);
  return c;
}

/** Fails (never skips) with a clear message when the test Redis is not there. */
export async function requireRedis(): Promise<Redis> {
  const admin = redisClient({ lazyConnect: true, connectTimeout: 2000, retryStrategy: () => null });
  try {
    await admin.connect();
    assert.equal(await admin.ping(), 'PONG');
  } catch (err) {
    throw new Error(
      `Redis is not reachable at ${REDIS.host}:${REDIS.port} (${(err as Error).message}). ` +
        'Start it with `npm run services`; the device key cache tests fail rather than skip.',
    );
  }
  return admin;
}

export async function disconnectAll(): Promise<void> {
  for (const c of clients.splice(0)) c.disconnect();
}

export async function deleteKeys(admin: Redis, prefix: string): Promise<void> {
  if (admin.status !== 'ready') return;
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** Counts every command a client sends (pipelines and transactions included): all go through sendCommand. */
export function countCommands(client: Redis): { readonly names: string[] } {
  const names: string[] = [];
  const original = client.sendCommand.bind(client);
  client.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    names.push(args[0].name);
    return original(...args);
  }) as Redis['sendCommand'];
  return { names };
}

const resolvers: DeviceKeyResolver[] = [];

export interface ResolverSetup extends Partial<DeviceKeyResolverOptions> {
  source: MemorySource;
}

/** A resolver with test-friendly defaults (no periodic rebuild, quick timeouts), closed by closeResolvers(). */
export function makeResolver(options: ResolverSetup): DeviceKeyResolver {
  const resolver = new DeviceKeyResolver({
    expectedSerials: 10_000,
    bloomFalsePositiveRate: 1e-6,
    bloomRebuildIntervalMs: 0,
    reconnectRebuildJitterMs: 0,
    redisTimeoutMs: 300,
    sourceTimeoutMs: 300,
    ...options,
  });
  resolvers.push(resolver);
  return resolver;
}

export async function closeResolvers(): Promise<void> {
  await Promise.all(resolvers.splice(0).map((r) => r.close()));
}

/** Polls `check` until it returns true; returns the time it took, failing past `limitMs`. */
export async function within(limitMs: number, check: () => boolean | Promise<boolean>, what: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > limitMs) assert.fail(`${what}: not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export { freePort, silentServer } from './net-helpers.js';

export const cacheKey = (): Buffer => randomBytes(32);

/** The i-th secret of a credential as a Buffer (ClientSecret types it as Uint8Array). */
export function secretOf(credential: ClientCredential | undefined, i = 0): Buffer | undefined {
  const s = credential?.secrets[i]?.secret;
  return s && Buffer.from(s.buffer, s.byteOffset, s.byteLength);
}
