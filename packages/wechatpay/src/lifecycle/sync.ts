// Cluster synchronisation of platform certificates, WeChat Pay's side of it. The store (leader per
// merchant, publish/read, watch/subscribe, refresh requests, a deadline on every operation) is
// @wxseal/fleet-sync's, with the merchant id as subject and WeChat Pay's own key names and error
// codes. What is WeChat Pay's lives here: the options, and the payload the leader publishes (the
// verified list of public PEMs) with an HMAC-SHA256 keyed by HKDF(APIv3 key, mchid), which
// followers re-validate (MAC, freshness, PEMs parse, unexpired) before they swap.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createSyncStore as createFleetStore, type EtcdClient, type SyncErrorFactory, type SyncStore } from '@wxseal/fleet-sync';
import { CertificateLifecycleError } from './errors.js';

export type SyncOptions =
  | { kind: 'redis'; client: Redis; prefix?: string; lockTtlMs?: number; opTimeoutMs?: number }
  | { kind: 'etcd'; client: EtcdClient; prefix?: string; leaseTtlSeconds?: number; opTimeoutMs?: number };

/** What a leader publishes (inside the MACed envelope). */
export interface SyncPayload {
  v: 1;
  mchid: string;
  /** Unix ms when the leader published; followers refuse anything older than what they accepted. */
  issuedAt: number;
  /** Instance id of the publisher (diagnostics). */
  origin: string;
  /** The verified platform certificates (PEM; public). */
  certificates: string[];
}

const MAC_SALT = Buffer.from('wxseal/wechatpay/certificate-sync');

/** HMAC key of a merchant's sync payloads: HKDF-SHA256(APIv3 key, salt, "v1|" + mchid). */
export function syncMacKey(apiV3Key: string, mchid: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(apiV3Key, 'utf8'), MAC_SALT, Buffer.from(`v1|${mchid}`, 'utf8'), 32));
}

/** Serialises and MACs a payload (`{"body": "...", "mac": "..."}`). */
export function sealSyncPayload(payload: SyncPayload, macKey: Buffer | undefined): string {
  const body = JSON.stringify(payload);
  return JSON.stringify(macKey === undefined ? { body } : { body, mac: createHmac('sha256', macKey).update(body).digest('base64url') });
}

/** Checks the MAC (when a key is given) and the shape; throws WECHATPAY_LIFECYCLE_SYNC_REJECTED. */
export function openSyncPayload(text: string, mchid: string, macKey: Buffer | undefined): SyncPayload {
  const reject = (m: string): never => {
    throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_SYNC_REJECTED', `sync payload for ${mchid} rejected: ${m}`);
  };
  if (typeof text !== 'string' || text.length > 512 * 1024) reject('not a bounded string');
  let env: unknown;
  try {
    env = JSON.parse(text);
  } catch {
    reject('not JSON');
  }
  const e = env as { body?: unknown; mac?: unknown };
  if (typeof e !== 'object' || e === null || typeof e.body !== 'string') reject('no body');
  const body = e.body as string;
  if (macKey !== undefined) {
    if (typeof e.mac !== 'string') reject('no MAC');
    const want = createHmac('sha256', macKey).update(body).digest();
    const got = Buffer.from(e.mac as string, 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) reject('MAC does not verify (written without the APIv3 key?)');
  }
  let p: unknown;
  try {
    p = JSON.parse(body);
  } catch {
    reject('body is not JSON');
  }
  const q = p as Partial<SyncPayload>;
  if (typeof q !== 'object' || q === null || q.v !== 1) reject('unknown version');
  if (q.mchid !== mchid) reject('payload names another merchant');
  if (typeof q.issuedAt !== 'number' || !Number.isFinite(q.issuedAt)) reject('issuedAt missing');
  if (!Array.isArray(q.certificates) || q.certificates.length > 64 || !q.certificates.every((c) => typeof c === 'string')) reject('certificates must be a list of PEM strings');
  return { v: 1, mchid, issuedAt: q.issuedAt as number, origin: typeof q.origin === 'string' ? q.origin : '', certificates: q.certificates as string[] };
}

/** The store's failures as the lifecycle's codes (what callers and events have always seen). */
const lifecycleErrors: SyncErrorFactory = (kind, message, options) =>
  new CertificateLifecycleError(
    kind === 'unavailable' ? 'WECHATPAY_LIFECYCLE_SYNC_UNAVAILABLE' : kind === 'rejected' ? 'WECHATPAY_LIFECYCLE_SYNC_REJECTED' : 'WECHATPAY_LIFECYCLE_CONFIG',
    message,
    options,
  );

/** The fleet store with WeChat Pay's key names (unchanged since before the store moved, so versions interoperate). */
export function createSyncStore(opts: SyncOptions): SyncStore {
  if (opts?.kind === 'redis') {
    return createFleetStore({ kind: 'redis', client: opts.client, prefix: opts.prefix ?? 'wxseal:wechatpay:certs:', lockTtlMs: opts.lockTtlMs, opTimeoutMs: opts.opTimeoutMs, errors: lifecycleErrors });
  }
  if (opts?.kind === 'etcd') {
    return createFleetStore({ kind: 'etcd', client: opts.client, prefix: opts.prefix ?? 'wxseal/wechatpay/certs/', leaseTtlSeconds: opts.leaseTtlSeconds, opTimeoutMs: opts.opTimeoutMs, errors: lifecycleErrors });
  }
  throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', 'sync.kind must be redis or etcd');
}
