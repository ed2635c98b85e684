// The two real stores behind one face for the suites: a way to build a store under a test's own
// prefix, raw access to what the store wrote (to pin the wire format), and clean-up that runs
// even when a test fails half way. Needs Redis at 127.0.0.1:6379 and etcd at 127.0.0.1:2379.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { Etcd3 } from 'etcd3';
import { createSyncStore, type SyncMessage, type SyncStore } from '../src/index.js';

export const REDIS_PORT = 6379;
export const ETCD_HOST = '127.0.0.1:2379';

export interface StoreHarness {
  readonly kind: 'redis' | 'etcd';
  readonly prefix: string;
  /** A store on its own client under the test's prefix (closed, with its client, after the test). */
  store(extra?: { lockTtlMs?: number; leaseTtlSeconds?: number; maxPayloadBytes?: number; opTimeoutMs?: number }): SyncStore;
  /** The key a subject's leaf lives under, as the store names it. */
  key(subject: string, leaf: 'leader' | 'list'): string;
  rawGet(key: string): Promise<string | undefined>;
  /** Writes a value as another writer would (and notifies, as the store's format says). */
  rawPublish(subject: string, payload: string): Promise<void>;
}

export async function harness(t: TestContext, kind: 'redis' | 'etcd'): Promise<StoreHarness> {
  const id = randomBytes(6).toString('hex');
  const closers: Array<() => unknown> = [];
  t.after(async () => {
    for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => undefined);
  });
  if (kind === 'redis') {
    const prefix = `wxseal:test:fleet:${id}:`;
    const admin = new Redis({ host: '127.0.0.1', port: REDIS_PORT, maxRetriesPerRequest: 1 });
    closers.push(async () => {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
      admin.disconnect();
    });
    assert.equal(await admin.ping(), 'PONG', `Redis must be running at 127.0.0.1:${REDIS_PORT}`);
    return {
      kind,
      prefix,
      store(extra = {}) {
        const client = new Redis({ host: '127.0.0.1', port: REDIS_PORT, maxRetriesPerRequest: 1 });
        const s = createSyncStore({ kind: 'redis', client, prefix, ...extra });
        closers.push(() => client.disconnect(), () => s.close());
        return s;
      },
      key: (subject, leaf) => `${prefix}${subject}:${leaf}`,
      rawGet: async (key) => (await admin.get(key)) ?? undefined,
      async rawPublish(subject, payload) {
        await admin.set(`${prefix}${subject}:list`, payload);
        await admin.publish(`${prefix}events`, JSON.stringify({ type: 'certs', mchid: subject, payload }));
      },
    };
  }
  const prefix = `wxseal-test/fleet/${id}/`;
  const admin = new Etcd3({ hosts: ETCD_HOST });
  closers.push(async () => {
    await admin.delete().prefix(prefix);
    admin.close();
  });
  await admin.put(`${prefix}probe`).value('1'); // fails the test when etcd is not running
  return {
    kind,
    prefix,
    store(extra = {}) {
      const client = new Etcd3({ hosts: ETCD_HOST });
      const s = createSyncStore({ kind: 'etcd', client, prefix, ...extra });
      closers.push(() => client.close(), () => s.close());
      return s;
    },
    key: (subject, leaf) => `${prefix}${subject}/${leaf}`,
    rawGet: async (key) => (await admin.get(key).string()) ?? undefined,
    async rawPublish(subject, payload) {
      await admin.put(`${prefix}${subject}/list`).value(payload);
    },
  };
}

/** Collects a store's messages and errors. */
export function recorder() {
  const messages: SyncMessage[] = [];
  const errors: unknown[] = [];
  return { messages, errors, onMessage: (m: SyncMessage) => void messages.push(m), onError: (e: unknown) => void errors.push(e) };
}

export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
