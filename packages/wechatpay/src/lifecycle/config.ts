// What a CertificateManager is configured with: the merchants (where each piece of material comes
// from) and the options, checked at construction so that a mistake fails at start-up, not at the
// first reload.
import type { Registry } from 'prom-client';
import type { Dispatcher } from 'undici';
import { CertificateLifecycleError } from './errors.js';
import { assertSource, sourceFile, type SecretSource, type SecretStore } from './sources.js';
import type { SyncOptions } from './sync.js';

export interface MerchantConfig {
  mchid: string;
  /** serial_no of the merchant certificate; derived from `certificate` when absent. A source is re-read on reload. */
  serialNo?: string | SecretSource;
  /** apiclient_key.pem */
  privateKey: SecretSource;
  /** apiclient_cert.pem (recommended: enables the key/serial/expiry checks). */
  certificate?: SecretSource;
  /** APIv3 key (32 characters). */
  apiV3Key: SecretSource;
  /** WeChat Pay public key mode: `pub_key.pem` and its PUB_KEY_ID_… id. */
  wechatPayPublicKey?: { id: string; key: SecretSource };
  /** Platform certificates pinned from configuration (each source may hold a PEM bundle). */
  platformCertificates?: SecretSource[];
  /**
   * Download platform certificates from /v3/certificates. Default: true unless a WeChat Pay public
   * key is configured (public-key-only merchants get no certificates and need no downloads).
   */
  downloadPlatformCertificates?: boolean;
}

export interface LifecycleLogger {
  info?(message: string, fields?: Record<string, unknown>): void;
  warn?(message: string, fields?: Record<string, unknown>): void;
  error?(message: string, fields?: Record<string, unknown>): void;
}

export interface CertificateManagerOptions {
  merchants: readonly MerchantConfig[];
  /** Store for `{ secret: name }` sources. */
  secretStore?: SecretStore;
  /** WeChat Pay API origin (a fake server's in tests). Default https://api.mch.weixin.qq.com. */
  baseUrl?: string;
  /** Share downloaded certificates across instances (one leader per merchant downloads). */
  sync?: SyncOptions;
  /** Require an HMAC (key derived from the APIv3 key) on synchronised lists. Default true. */
  requireSyncMac?: boolean;
  /** Watch file sources and reload on change. Default true. */
  watchFiles?: boolean;
  /** Quiet period after the last file event before reloading (default 300 ms). */
  debounceMs?: number;
  /** Platform certificate refresh period (default 6 h; must stay below 12 h), jittered by ±`refreshJitter`. */
  refreshIntervalMs?: number;
  /** Fraction of jitter on the refresh period (default 0.1). */
  refreshJitter?: number;
  /** An unknown Wechatpay-Serial triggers at most one download per merchant per this period (default 60 s). */
  unknownSerialMinIntervalMs?: number;
  /** First retry delay after a failed download (default 30 s; doubles up to the refresh period). */
  retryDelayMs?: number;
  /** Deadline of one /v3/certificates call (default 10 s). */
  downloadTimeoutMs?: number;
  dispatcher?: Dispatcher;
  /** prom-client registry for the metrics; a private one otherwise (see `metrics.registry`). */
  registry?: Registry;
  /** Days before expiry at which to warn, once per threshold per certificate (default [30, 7]). */
  expiryWarningDays?: readonly number[];
  /** How often expiry is re-evaluated (default 1 h). */
  expiryCheckIntervalMs?: number;
  /** How often leadership is acquired / renewed (default 3 s). */
  electionIntervalMs?: number;
  /** Followers re-read the shared list this often, in case a notification was missed (default 60 s). */
  syncPollIntervalMs?: number;
  /** How long a follower waits for the leader's list (start-up, unknown serial) before downloading itself (default 5 s). */
  followerWaitMs?: number;
  /** Reject start() when a merchant that downloads ends up without any platform certificate (default true). */
  requirePlatformCertificatesAtStart?: boolean;
  logger?: LifecycleLogger;
  /** Clock in Unix ms (tests). */
  now?: () => number;
}

/** The options with their defaults applied. */
export interface LifecycleSettings {
  refreshIntervalMs: number;
  refreshJitter: number;
  unknownSerialMinIntervalMs: number;
  retryDelayMs: number;
  downloadTimeoutMs: number;
  debounceMs: number;
  /** Largest first. */
  expiryWarningDays: readonly number[];
  expiryCheckIntervalMs: number;
  electionIntervalMs: number;
  syncPollIntervalMs: number;
  followerWaitMs: number;
  requireSyncMac: boolean;
  requirePlatformCertificatesAtStart: boolean;
  watchFiles: boolean;
}

function configError(message: string): CertificateLifecycleError {
  return new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', message);
}

/** Checks the options (merchants included) and applies the defaults; throws WECHATPAY_LIFECYCLE_CONFIG. */
export function resolveSettings(options: CertificateManagerOptions): LifecycleSettings {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.merchants) || options.merchants.length === 0) {
    throw configError('merchants must be a non-empty list');
  }
  const refreshIntervalMs = options.refreshIntervalMs ?? 6 * 3600_000;
  if (!(refreshIntervalMs > 0) || refreshIntervalMs >= 12 * 3600_000) throw configError('refreshIntervalMs must be positive and below 12 h');
  const seen = new Set<string>();
  for (const m of options.merchants) {
    checkMerchant(m, seen);
    seen.add(m.mchid);
  }
  return {
    refreshIntervalMs,
    refreshJitter: options.refreshJitter ?? 0.1,
    unknownSerialMinIntervalMs: options.unknownSerialMinIntervalMs ?? 60_000,
    retryDelayMs: options.retryDelayMs ?? 30_000,
    downloadTimeoutMs: options.downloadTimeoutMs ?? 10_000,
    debounceMs: options.debounceMs ?? 300,
    expiryWarningDays: [...(options.expiryWarningDays ?? [30, 7])].sort((a, b) => b - a),
    expiryCheckIntervalMs: options.expiryCheckIntervalMs ?? 3600_000,
    electionIntervalMs: options.electionIntervalMs ?? 3_000,
    syncPollIntervalMs: options.syncPollIntervalMs ?? 60_000,
    followerWaitMs: options.followerWaitMs ?? 5_000,
    requireSyncMac: options.requireSyncMac ?? true,
    requirePlatformCertificatesAtStart: options.requirePlatformCertificatesAtStart ?? true,
    watchFiles: options.watchFiles ?? true,
  };
}

function checkMerchant(m: MerchantConfig, seen: ReadonlySet<string>): void {
  if (typeof m?.mchid !== 'string' || !/^[0-9]{1,32}$/.test(m.mchid)) throw configError('mchid must be 1-32 digits');
  if (seen.has(m.mchid)) throw configError(`merchant ${m.mchid} configured twice`);
  assertSource(m.privateKey, `${m.mchid}.privateKey`);
  assertSource(m.apiV3Key, `${m.mchid}.apiV3Key`);
  if (m.certificate !== undefined) assertSource(m.certificate, `${m.mchid}.certificate`);
  if (m.serialNo !== undefined && typeof m.serialNo !== 'string') assertSource(m.serialNo, `${m.mchid}.serialNo`);
  if (m.wechatPayPublicKey !== undefined) assertSource(m.wechatPayPublicKey.key, `${m.mchid}.wechatPayPublicKey.key`);
  for (const [i, s] of (m.platformCertificates ?? []).entries()) assertSource(s, `${m.mchid}.platformCertificates[${i}]`);
  if (m.serialNo === undefined && m.certificate === undefined) throw configError(`${m.mchid}: give serialNo or certificate`);
}

/** Whether the merchant downloads platform certificates (not a public-key-only merchant, unless told). */
export function downloadsPlatformCertificates(m: MerchantConfig): boolean {
  return m.downloadPlatformCertificates ?? m.wechatPayPublicKey === undefined;
}

/** The files (absolute paths) the merchant's material is read from: what a reload watches. */
export function merchantFiles(m: MerchantConfig): string[] {
  const files: string[] = [];
  for (const src of [m.privateKey, m.certificate, m.apiV3Key, typeof m.serialNo === 'string' ? undefined : m.serialNo, m.wechatPayPublicKey?.key, ...(m.platformCertificates ?? [])]) {
    const f = sourceFile(src);
    if (f !== undefined) files.push(f);
  }
  return files;
}
