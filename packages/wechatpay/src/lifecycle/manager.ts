// CertificateManager: the production MerchantMaterialSource. Loads each merchant's private key,
// merchant certificate, APIv3 key, WeChat Pay public key and pinned platform certificates from
// files / environment variables / a SecretStore, validates every candidate before it may replace
// what is in use, swaps complete immutable snapshots in one assignment, hot-reloads watched files,
// keeps platform certificates fresh (download at start, every ~6 h jittered, on an unknown serial:
// single-flight and rate-limited), optionally through one elected leader per merchant that shares
// the verified list over Redis or etcd, and reports expiry through prom-client and events.
import { createHash, type KeyObject, type X509Certificate } from 'node:crypto';
import { dirname } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Registry } from 'prom-client';
import type { Dispatcher } from 'undici';
import { WechatPayError } from '../errors.js';
import { createVerificationKeySet, normalizeCertificateSerial, type VerificationKey } from '../verification.js';
import type { MerchantMaterial, MerchantMaterialSource } from '../merchant/material.js';
import { CertificateLifecycleError, describeError } from './errors.js';
import { assertSource, describeSource, readSource, sourceFile, type SecretSource, type SecretStore } from './sources.js';
import { parseCertificatePem, splitPemCertificates, validateMerchantCandidate, type MerchantCandidate, type ParsedCertificate } from './validate.js';
import { downloadPlatformCertificates } from './download.js';
import { createLifecycleMetrics, type LifecycleMetrics } from './metrics.js';
import { createSyncBackend, openSyncPayload, sealSyncPayload, syncMacKey, type SyncBackend, type SyncMessage, type SyncOptions } from './sync.js';

const DAY_MS = 86_400_000;

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

export type MaterialChangeReason = 'initial' | 'reload' | 'download' | 'sync' | 'expiry';

export type CertificateManagerEvent =
  | { type: 'loaded'; mchid: string; version: number; merchantSerialNo: string; wechatpaySerial?: string; platformSerials: string[] }
  | { type: 'swapped'; mchid: string; version: number; previousVersion: number; reason: MaterialChangeReason; merchantSerialNo: string; wechatpaySerial?: string; platformSerials: string[] }
  | { type: 'validation-failed'; mchid: string; source: 'reload' | 'download' | 'sync'; problems: string[] }
  | { type: 'downloaded'; mchid: string; serials: string[]; signedBy?: string; empty: boolean; reason: string }
  | { type: 'download-failed'; mchid: string; error: string; reason: string }
  | { type: 'expiry-warning'; mchid: string; kind: 'merchant' | 'platform'; serial: string; validTo: string; daysLeft: number; thresholdDays: number; superseded: boolean }
  | { type: 'sync-received'; mchid: string; accepted: boolean; serials: string[]; origin?: string; reason?: string }
  | { type: 'sync-failed'; mchid?: string; error: string }
  | { type: 'leader-acquired'; mchid: string }
  | { type: 'leader-lost'; mchid: string };

export type CertificateManagerEventType = CertificateManagerEvent['type'];

interface MerchantState {
  readonly config: MerchantConfig;
  readonly mchid: string;
  readonly download: boolean;
  candidate?: MerchantCandidate;
  candidateFingerprint?: string;
  /** Downloaded / synchronised platform certificates. */
  platform: ParsedCertificate[];
  material?: MerchantMaterial;
  version: number;
  refreshing?: Promise<boolean>;
  lastUnknownRefreshAt: number;
  lastAcceptedIssuedAt: number;
  isLeader: boolean;
  /** The sync store failed: download locally until it answers again. */
  syncDegraded: boolean;
  refreshTimer?: NodeJS.Timeout;
  failures: number;
  debounce?: NodeJS.Timeout;
  reloading: Promise<boolean>;
  warned: Set<string>;
  gaugeLabels: Map<string, { kind: 'merchant' | 'platform'; serial: string }>;
}

function fingerprint(c: MerchantCandidate): string {
  const h = createHash('sha256');
  h.update(c.merchantSerialNo).update('\0');
  h.update(c.privateKey.export({ type: 'pkcs8', format: 'der' })).update('\0');
  h.update(c.merchantCertificate?.pem ?? '').update('\0');
  h.update(c.apiV3Key ?? '').update('\0');
  h.update(c.publicKey ? `${c.publicKey.id}:${c.publicKey.publicKey.export({ type: 'spki', format: 'pem' }).toString()}` : '').update('\0');
  for (const p of c.pinned) h.update(p.serial).update(',');
  return h.digest('hex');
}

function unref<T extends NodeJS.Timeout>(t: T): T {
  t.unref?.();
  return t;
}

/** The production MerchantMaterialSource: hot reload, validation, platform certificates, sync, expiry. */
export class CertificateManager implements MerchantMaterialSource {
  readonly metrics: LifecycleMetrics;
  readonly #opts: CertificateManagerOptions;
  readonly #states = new Map<string, MerchantState>();
  readonly #listeners = new Set<(e: CertificateManagerEvent) => void>();
  readonly #now: () => number;
  readonly #backend: SyncBackend | undefined;
  readonly #fileOwners = new Map<string, Set<string>>();
  #watcher: FSWatcher | undefined;
  #timers: NodeJS.Timeout[] = [];
  #signalHandlers: Array<[NodeJS.Signals, () => void]> = [];
  #started = false;
  #closed = false;
  /** Counts downloads performed by this instance (diagnostics, tests). */
  downloadCount = 0;

  constructor(options: CertificateManagerOptions) {
    if (typeof options !== 'object' || options === null || !Array.isArray(options.merchants) || options.merchants.length === 0) {
      throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', 'merchants must be a non-empty list');
    }
    const interval = options.refreshIntervalMs ?? 6 * 3600_000;
    if (!(interval > 0) || interval >= 12 * 3600_000) throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', 'refreshIntervalMs must be positive and below 12 h');
    this.#opts = options;
    this.#now = options.now ?? Date.now;
    this.metrics = createLifecycleMetrics(options.registry);
    for (const m of options.merchants) {
      if (typeof m?.mchid !== 'string' || !/^[0-9]{1,32}$/.test(m.mchid)) throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', 'mchid must be 1-32 digits');
      if (this.#states.has(m.mchid)) throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', `merchant ${m.mchid} configured twice`);
      assertSource(m.privateKey, `${m.mchid}.privateKey`);
      assertSource(m.apiV3Key, `${m.mchid}.apiV3Key`);
      if (m.certificate !== undefined) assertSource(m.certificate, `${m.mchid}.certificate`);
      if (m.serialNo !== undefined && typeof m.serialNo !== 'string') assertSource(m.serialNo, `${m.mchid}.serialNo`);
      if (m.wechatPayPublicKey !== undefined) assertSource(m.wechatPayPublicKey.key, `${m.mchid}.wechatPayPublicKey.key`);
      for (const [i, s] of (m.platformCertificates ?? []).entries()) assertSource(s, `${m.mchid}.platformCertificates[${i}]`);
      if (m.serialNo === undefined && m.certificate === undefined) throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', `${m.mchid}: give serialNo or certificate`);
      const download = m.downloadPlatformCertificates ?? m.wechatPayPublicKey === undefined;
      this.#states.set(m.mchid, {
        config: m,
        mchid: m.mchid,
        download,
        platform: [],
        version: 0,
        lastUnknownRefreshAt: Number.NEGATIVE_INFINITY,
        lastAcceptedIssuedAt: 0,
        isLeader: false,
        syncDegraded: false,
        failures: 0,
        reloading: Promise.resolve(true),
        warned: new Set(),
        gaugeLabels: new Map(),
      });
      for (const src of [m.privateKey, m.certificate, m.apiV3Key, typeof m.serialNo === 'string' ? undefined : m.serialNo, m.wechatPayPublicKey?.key, ...(m.platformCertificates ?? [])]) {
        const f = sourceFile(src);
        if (f === undefined) continue;
        let owners = this.#fileOwners.get(f);
        if (!owners) this.#fileOwners.set(f, (owners = new Set()));
        owners.add(m.mchid);
      }
    }
    this.#backend = options.sync === undefined ? undefined : createSyncBackend(options.sync);
  }

  // ---------------------------------------------------------------- MerchantMaterialSource

  current(mchid: string): MerchantMaterial {
    const s = this.#states.get(mchid);
    if (s === undefined) throw new WechatPayError('WECHATPAY_BAD_ARGUMENT', `unknown merchant ${String(mchid)}`);
    const m = s.material;
    if (m === undefined) throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_NOT_LOADED', `no material loaded for merchant ${mchid}; call start()`);
    return m;
  }

  async refreshForUnknownSerial(mchid: string, serial: string): Promise<boolean> {
    const s = this.#states.get(mchid);
    if (s === undefined) throw new WechatPayError('WECHATPAY_BAD_ARGUMENT', `unknown merchant ${String(mchid)}`);
    if (this.#knows(s, serial)) return true;
    if (!s.download || this.#closed || s.material === undefined) return false;
    if (s.refreshing) {
      await s.refreshing.catch(() => false);
      return this.#knows(s, serial);
    }
    if (this.#now() - s.lastUnknownRefreshAt < (this.#opts.unknownSerialMinIntervalMs ?? 60_000)) return false;
    s.lastUnknownRefreshAt = this.#now();
    if (this.#backend !== undefined && !s.isLeader && !s.syncDegraded) {
      // A follower: maybe the leader already published it; otherwise ask the leader and wait.
      const p = this.#followerRefresh(s, serial);
      s.refreshing = p;
      try {
        return await p;
      } finally {
        if (s.refreshing === p) s.refreshing = undefined;
      }
    }
    await this.#refreshPlatform(s, 'unknown-serial');
    return this.#knows(s, serial);
  }

  // ---------------------------------------------------------------- lifecycle

  /** Loads everything, downloads / synchronises platform certificates, starts watchers and timers. */
  async start(): Promise<void> {
    if (this.#started) throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', 'start() called twice');
    this.#started = true;
    const problems: string[] = [];
    for (const s of this.#states.values()) {
      const ok = await this.#reloadMerchant(s, 'initial');
      if (!ok) problems.push(`merchant ${s.mchid}: invalid material`);
    }
    if (problems.length > 0) {
      await this.close();
      throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_INVALID_MATERIAL', problems.join('; '), { problems });
    }
    if (this.#backend !== undefined) {
      try {
        await this.#backend.start(
          (msg) => this.#onSyncMessage(msg),
          (err) => this.#syncFailed(undefined, err),
        );
      } catch (e) {
        this.#syncFailed(undefined, e);
        for (const s of this.#states.values()) s.syncDegraded = true;
      }
    }
    await Promise.all([...this.#states.values()].filter((s) => s.download).map((s) => this.#initialPlatform(s)));
    if (this.#opts.requirePlatformCertificatesAtStart ?? true) {
      const missing = [...this.#states.values()].filter((s) => s.download && s.material !== undefined && s.material.verificationKeys.certificates.size === 0 && s.material.verificationKeys.publicKeys.size === 0);
      if (missing.length > 0) {
        await this.close();
        throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_DOWNLOAD_FAILED', `no platform certificate could be obtained for ${missing.map((s) => s.mchid).join(', ')}`);
      }
    }
    for (const s of this.#states.values()) if (s.download) this.#scheduleRefresh(s);
    if (this.#backend !== undefined) {
      this.#timers.push(unref(setInterval(() => void this.#electionRound(), this.#opts.electionIntervalMs ?? 3_000)));
      this.#timers.push(unref(setInterval(() => void this.#pollStore(), this.#opts.syncPollIntervalMs ?? 60_000)));
    }
    this.#timers.push(unref(setInterval(() => this.#checkExpiry(), this.#opts.expiryCheckIntervalMs ?? 3600_000)));
    if ((this.#opts.watchFiles ?? true) && this.#fileOwners.size > 0) await this.#startWatching();
  }

  /** Re-reads and re-validates every source (or one merchant's): the SIGHUP / admin hook. True when all are valid. */
  async reload(mchid?: string): Promise<boolean> {
    const targets = mchid === undefined ? [...this.#states.values()] : [this.#stateOf(mchid)];
    const results = await Promise.all(targets.map((s) => this.#queueReload(s)));
    return results.every(Boolean);
  }

  /** Reloads on a signal (SIGHUP by default); undone by close(). */
  reloadOnSignal(signal: NodeJS.Signals = 'SIGHUP'): void {
    const handler = () => void this.reload();
    process.on(signal, handler);
    this.#signalHandlers.push([signal, handler]);
  }

  /** Downloads platform certificates now (leader or standalone); followers pull the shared list. */
  async refreshPlatformCertificates(mchid: string): Promise<boolean> {
    const s = this.#stateOf(mchid);
    if (!s.download) return true;
    if (this.#backend !== undefined && !s.isLeader && !s.syncDegraded) return this.#pullFromStore(s);
    return this.#refreshPlatform(s, 'manual');
  }

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(listener: (e: CertificateManagerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Whether this instance currently leads downloads for the merchant (always true without sync). */
  isLeader(mchid: string): boolean {
    const s = this.#stateOf(mchid);
    return this.#backend === undefined || s.isLeader;
  }

  get merchants(): string[] {
    return [...this.#states.keys()];
  }

  /** Stops watchers, timers and subscriptions and releases leadership. Material stays readable. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    for (const s of this.#states.values()) {
      clearTimeout(s.refreshTimer);
      clearTimeout(s.debounce);
    }
    for (const [sig, h] of this.#signalHandlers) process.off(sig, h);
    this.#signalHandlers = [];
    const w = this.#watcher;
    this.#watcher = undefined;
    if (w) await w.close().catch(() => undefined);
    if (this.#backend !== undefined) {
      await Promise.allSettled(
        [...this.#states.values()].filter((s) => s.isLeader).map(async (s) => {
          s.isLeader = false;
          await this.#backend?.resign(s.mchid);
        }),
      );
      await this.#backend.close().catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- loading and swapping

  #stateOf(mchid: string): MerchantState {
    const s = this.#states.get(mchid);
    if (s === undefined) throw new WechatPayError('WECHATPAY_BAD_ARGUMENT', `unknown merchant ${String(mchid)}`);
    return s;
  }

  #knows(s: MerchantState, serial: string): boolean {
    const keys = s.material?.verificationKeys;
    if (keys === undefined) return false;
    if (keys.publicKeys.has(serial)) return true;
    try {
      return keys.certificates.has(normalizeCertificateSerial(serial));
    } catch {
      return false;
    }
  }

  #emit(e: CertificateManagerEvent): void {
    const log = this.#opts.logger;
    const level = e.type === 'validation-failed' || e.type === 'download-failed' || e.type === 'sync-failed' || e.type === 'expiry-warning' || (e.type === 'sync-received' && !e.accepted) ? 'warn' : 'info';
    try {
      log?.[level]?.(`wechatpay lifecycle: ${e.type}`, { ...e });
    } catch {
      /* a logger must not break the manager */
    }
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        /* nor a listener */
      }
    }
  }

  #queueReload(s: MerchantState): Promise<boolean> {
    // Serialise reloads per merchant: a burst of file events never interleaves two reads.
    const next = s.reloading.then(() => this.#reloadMerchant(s, 'reload'));
    s.reloading = next.catch(() => false);
    return next;
  }

  async #readCandidate(s: MerchantState): Promise<{ candidate?: MerchantCandidate; problems: string[] }> {
    const c = s.config;
    const store = this.#opts.secretStore;
    const problems: string[] = [];
    const read = async (src: SecretSource | undefined, what: string): Promise<string | undefined> => {
      if (src === undefined) return undefined;
      try {
        return await readSource(src, store, what);
      } catch (e) {
        problems.push(describeError(e));
        return undefined;
      }
    };
    const [privateKeyPem, certificatePem, apiV3Key, serialText, publicKeyPem, ...pinnedTexts] = await Promise.all([
      read(c.privateKey, 'merchant private key'),
      read(c.certificate, 'merchant certificate'),
      read(c.apiV3Key, 'APIv3 key'),
      typeof c.serialNo === 'string' || c.serialNo === undefined ? Promise.resolve(c.serialNo) : read(c.serialNo, 'serial_no'),
      read(c.wechatPayPublicKey?.key, 'WeChat Pay public key'),
      ...(c.platformCertificates ?? []).map((src, i) => read(src, `pinned platform certificates #${i + 1} (${describeSource(src)})`)),
    ]);
    if (problems.length > 0 || privateKeyPem === undefined || apiV3Key === undefined) return { problems };
    const pinnedPems: string[] = [];
    for (const [i, t] of pinnedTexts.entries()) {
      const pems = splitPemCertificates(t ?? '');
      if (pems.length === 0) problems.push(`pinned platform certificates #${i + 1} hold no PEM certificate`);
      pinnedPems.push(...pems);
    }
    if (problems.length > 0) return { problems };
    return validateMerchantCandidate({
      mchid: s.mchid,
      privateKeyPem,
      apiV3Key: apiV3Key.trim(),
      ...(serialText === undefined ? {} : { serialNo: serialText }),
      ...(certificatePem === undefined ? {} : { certificatePem }),
      ...(publicKeyPem === undefined || c.wechatPayPublicKey === undefined ? {} : { wechatPayPublicKey: { id: c.wechatPayPublicKey.id.trim(), pem: publicKeyPem } }),
      platformCertificatePems: pinnedPems,
      nowMs: this.#now(),
    });
  }

  async #reloadMerchant(s: MerchantState, reason: 'initial' | 'reload'): Promise<boolean> {
    const { candidate, problems } = await this.#readCandidate(s);
    if (candidate === undefined) {
      this.metrics.validationFailures.inc({ mchid: s.mchid, source: 'reload' });
      this.metrics.reloads.inc({ mchid: s.mchid, result: 'rejected' });
      this.#emit({ type: 'validation-failed', mchid: s.mchid, source: 'reload', problems: problems.length > 0 ? problems : ['invalid material'] });
      return false;
    }
    const fp = fingerprint(candidate);
    if (s.material !== undefined && fp === s.candidateFingerprint) {
      this.metrics.reloads.inc({ mchid: s.mchid, result: 'unchanged' });
      return true;
    }
    s.candidate = candidate;
    s.candidateFingerprint = fp;
    this.#compose(s, reason);
    this.metrics.reloads.inc({ mchid: s.mchid, result: 'swapped' });
    return true;
  }

  /** Builds a complete new snapshot and swaps it in with one assignment. */
  #compose(s: MerchantState, reason: MaterialChangeReason): void {
    const c = s.candidate;
    if (c === undefined) return;
    const now = this.#now();
    const certs = new Map<string, ParsedCertificate>();
    for (const p of [...c.pinned, ...s.platform]) if (p.validTo.getTime() > now && !certs.has(p.serial)) certs.set(p.serial, p);
    const keys: VerificationKey[] = [...certs.values()].map((p) =>
      Object.freeze({ kind: 'certificate' as const, serial: p.serial, publicKey: p.publicKey, validFrom: p.validFrom, validTo: p.validTo }),
    );
    if (c.publicKey !== undefined) keys.push(c.publicKey);
    let newest: ParsedCertificate | undefined;
    for (const p of certs.values()) if (p.validFrom.getTime() <= now && (newest === undefined || p.validTo > newest.validTo)) newest = p;
    const wechatpaySerial = c.publicKey?.id ?? newest?.serial;
    const encryptionKey: KeyObject | undefined = c.publicKey?.publicKey ?? newest?.publicKey;
    const previous = s.material;
    const version = s.version + 1;
    const material: MerchantMaterial = Object.freeze({
      mchid: s.mchid,
      merchantSerialNo: c.merchantSerialNo,
      privateKey: c.privateKey,
      ...(c.merchantCertificate === undefined ? {} : { merchantCertificate: c.merchantCertificate.x509 as X509Certificate }),
      apiV3Key: c.apiV3Key ?? '',
      verificationKeys: createVerificationKeySet(keys),
      ...(wechatpaySerial === undefined ? {} : { wechatpaySerial }),
      ...(encryptionKey === undefined ? {} : { encryptionKey }),
      version,
    });
    s.version = version;
    s.material = material; // the swap: one reference assignment
    this.metrics.version.set({ mchid: s.mchid }, version);
    const platformSerials = [...certs.keys()];
    const base = { mchid: s.mchid, version, merchantSerialNo: material.merchantSerialNo, platformSerials, ...(wechatpaySerial === undefined ? {} : { wechatpaySerial }) };
    if (previous === undefined) this.#emit({ type: 'loaded', ...base });
    else this.#emit({ type: 'swapped', ...base, previousVersion: previous.version, reason });
    this.#updateExpiry(s);
  }

  // ---------------------------------------------------------------- platform certificates

  #scheduleRefresh(s: MerchantState, delayMs?: number): void {
    if (this.#closed) return;
    clearTimeout(s.refreshTimer);
    const interval = this.#opts.refreshIntervalMs ?? 6 * 3600_000;
    const jitter = this.#opts.refreshJitter ?? 0.1;
    const base = delayMs ?? interval;
    const ms = Math.max(50, Math.round(base * (1 + (Math.random() * 2 - 1) * jitter)));
    s.refreshTimer = unref(
      setTimeout(() => {
        void (async () => {
          let ok = true;
          if (this.#backend === undefined || s.isLeader || s.syncDegraded) ok = await this.#refreshPlatform(s, 'scheduled');
          if (this.#closed) return;
          if (ok) {
            s.failures = 0;
            this.#scheduleRefresh(s);
          } else {
            s.failures++;
            const retry = Math.min(interval, (this.#opts.retryDelayMs ?? 30_000) * 2 ** Math.min(10, s.failures - 1));
            this.#scheduleRefresh(s, retry);
          }
        })();
      }, ms),
    );
  }

  /** Single-flight download + verify + swap (+ publish when leading). True on success. */
  #refreshPlatform(s: MerchantState, reason: string): Promise<boolean> {
    if (s.refreshing) return s.refreshing;
    const p = this.#doRefresh(s, reason).finally(() => {
      if (s.refreshing === p) s.refreshing = undefined;
    });
    s.refreshing = p;
    return p;
  }

  async #doRefresh(s: MerchantState, reason: string): Promise<boolean> {
    const m = s.material;
    if (m === undefined || this.#closed) return false;
    const trusted: VerificationKey[] = [...m.verificationKeys.certificates.values(), ...m.verificationKeys.publicKeys.values()];
    this.downloadCount++;
    let result;
    try {
      result = await downloadPlatformCertificates({
        mchid: s.mchid,
        serialNo: m.merchantSerialNo,
        privateKey: m.privateKey,
        apiV3Key: m.apiV3Key,
        trustedKeys: trusted,
        timeoutMs: this.#opts.downloadTimeoutMs ?? 10_000,
        ...(this.#opts.baseUrl === undefined ? {} : { baseUrl: this.#opts.baseUrl }),
        ...(this.#opts.dispatcher === undefined ? {} : { dispatcher: this.#opts.dispatcher }),
      });
    } catch (e) {
      this.metrics.downloads.inc({ mchid: s.mchid, result: 'failed' });
      this.#emit({ type: 'download-failed', mchid: s.mchid, error: describeError(e), reason });
      return false;
    }
    const now = this.#now();
    const valid = result.certificates.filter((c) => c.validTo.getTime() > now);
    const serials = result.certificates.map((c) => c.serial);
    if (result.empty) {
      this.metrics.downloads.inc({ mchid: s.mchid, result: 'empty' });
      this.#emit({ type: 'downloaded', mchid: s.mchid, serials, empty: true, reason });
      // An empty list cannot be authenticated by decryption: never drop held certificates for it.
      return true;
    }
    this.metrics.downloads.inc({ mchid: s.mchid, result: 'ok' });
    this.#emit({ type: 'downloaded', mchid: s.mchid, serials, empty: false, reason, ...(result.signedBy === undefined ? {} : { signedBy: result.signedBy }) });
    if (valid.length === 0) {
      this.metrics.validationFailures.inc({ mchid: s.mchid, source: 'download' });
      this.#emit({ type: 'validation-failed', mchid: s.mchid, source: 'download', problems: ['every downloaded platform certificate is expired'] });
      return false;
    }
    const parsed: ParsedCertificate[] = valid.map((c) => ({ serial: c.serial, pem: c.pem, x509: c.x509, publicKey: c.publicKey, validFrom: c.validFrom, validTo: c.validTo }));
    this.#setPlatform(s, parsed, 'download');
    if (this.#backend !== undefined && s.isLeader) await this.#publish(s, parsed);
    return true;
  }

  #setPlatform(s: MerchantState, certs: ParsedCertificate[], reason: 'download' | 'sync'): boolean {
    const before = s.platform.map((c) => c.serial).sort().join(',');
    const after = certs.map((c) => c.serial).sort().join(',');
    s.platform = certs;
    if (before !== after || s.material === undefined) {
      this.#compose(s, reason);
      return true;
    }
    return false;
  }

  async #initialPlatform(s: MerchantState): Promise<void> {
    if (this.#backend === undefined || s.syncDegraded) {
      await this.#refreshPlatform(s, 'start');
      return;
    }
    let leader = false;
    try {
      leader = await this.#backend.campaign(s.mchid);
    } catch (e) {
      this.#syncFailed(s.mchid, e);
      s.syncDegraded = true;
      await this.#refreshPlatform(s, 'start (sync unavailable)');
      return;
    }
    if (leader) {
      this.#becameLeader(s);
      await this.#refreshPlatform(s, 'start (leader)');
      return;
    }
    if (await this.#pullFromStore(s)) return;
    // The leader may be downloading right now: wait for its list, then fall back to a local download.
    const got = await this.#waitFor(() => s.platform.length > 0, this.#opts.followerWaitMs ?? 5_000);
    if (!got && !this.#closed) await this.#refreshPlatform(s, 'start (no list from the leader)');
  }

  async #followerRefresh(s: MerchantState, serial: string): Promise<boolean> {
    if (await this.#pullFromStore(s)) {
      if (this.#knows(s, serial)) return true;
    }
    try {
      await this.#backend?.requestRefresh(s.mchid, serial);
    } catch (e) {
      this.#syncFailed(s.mchid, e);
      await this.#refreshPlatform(s, 'unknown-serial (sync unavailable)');
      return this.#knows(s, serial);
    }
    await this.#waitFor(() => this.#knows(s, serial), this.#opts.followerWaitMs ?? 5_000);
    return this.#knows(s, serial);
  }

  #waitFor(cond: () => boolean, ms: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const started = Date.now();
      const tick = () => {
        if (cond()) return resolve(true);
        if (this.#closed || Date.now() - started >= ms) return resolve(cond());
        unref(setTimeout(tick, 25));
      };
      tick();
    });
  }

  // ---------------------------------------------------------------- cluster sync

  #macKey(s: MerchantState): Buffer | undefined {
    const k = s.material?.apiV3Key;
    return k ? syncMacKey(k, s.mchid) : undefined;
  }

  async #publish(s: MerchantState, certs: ParsedCertificate[]): Promise<void> {
    const backend = this.#backend;
    if (backend === undefined) return;
    const payload = sealSyncPayload({ v: 1, mchid: s.mchid, issuedAt: this.#now(), origin: backend.instanceId, certificates: certs.map((c) => c.pem) }, this.#macKey(s));
    try {
      await backend.publish(s.mchid, payload);
    } catch (e) {
      this.#syncFailed(s.mchid, e);
    }
  }

  /** Reads the shared list and applies it; true when a usable list was applied (or already held). */
  async #pullFromStore(s: MerchantState): Promise<boolean> {
    const backend = this.#backend;
    if (backend === undefined) return false;
    let text: string | undefined;
    try {
      text = await backend.read(s.mchid);
    } catch (e) {
      this.#syncFailed(s.mchid, e);
      return false;
    }
    if (text === undefined) return false;
    return this.#applySyncPayload(s, text, true);
  }

  #onSyncMessage(msg: SyncMessage): void {
    const s = this.#states.get(msg.mchid);
    if (s === undefined || this.#closed || !s.download) return;
    if (msg.type === 'certs') {
      this.#applySyncPayload(s, msg.payload, false);
      return;
    }
    // A follower saw an unknown serial: the leader downloads, within the same rate limit.
    if (s.isLeader && !this.#knows(s, msg.serial) && !s.refreshing && this.#now() - s.lastUnknownRefreshAt >= (this.#opts.unknownSerialMinIntervalMs ?? 60_000)) {
      s.lastUnknownRefreshAt = this.#now();
      void this.#refreshPlatform(s, 'unknown-serial (requested by a follower)');
    }
  }

  #applySyncPayload(s: MerchantState, text: string, fromPoll: boolean): boolean {
    const requireMac = this.#opts.requireSyncMac ?? true;
    const reject = (reason: string, serials: string[] = [], origin?: string): boolean => {
      this.metrics.syncReceived.inc({ mchid: s.mchid, result: 'rejected' });
      this.metrics.validationFailures.inc({ mchid: s.mchid, source: 'sync' });
      this.#emit({ type: 'sync-received', mchid: s.mchid, accepted: false, serials, reason, ...(origin === undefined ? {} : { origin }) });
      this.#emit({ type: 'validation-failed', mchid: s.mchid, source: 'sync', problems: [reason] });
      return false;
    };
    let payload;
    try {
      payload = openSyncPayload(text, s.mchid, requireMac ? this.#macKey(s) : undefined);
    } catch (e) {
      return reject(describeError(e));
    }
    if (payload.origin === this.#backend?.instanceId) return true;
    if (payload.issuedAt < s.lastAcceptedIssuedAt) {
      if (fromPoll) return s.platform.length > 0;
      return reject(`stale list (issued ${new Date(payload.issuedAt).toISOString()}, already have a newer one)`, [], payload.origin);
    }
    if (payload.issuedAt === s.lastAcceptedIssuedAt) return s.platform.length > 0;
    const problems: string[] = [];
    const now = this.#now();
    const certs: ParsedCertificate[] = [];
    for (const pem of payload.certificates) {
      const c = parseCertificatePem(pem, 'synchronised platform certificate', problems);
      if (c !== undefined && c.validTo.getTime() > now && !certs.some((x) => x.serial === c.serial)) certs.push(c);
    }
    const serials = certs.map((c) => c.serial);
    if (problems.length > 0) return reject(problems.join('; '), serials, payload.origin);
    if (certs.length === 0) return reject('no unexpired certificate in the list', serials, payload.origin);
    s.lastAcceptedIssuedAt = payload.issuedAt;
    const changed = this.#setPlatform(s, certs, 'sync');
    this.metrics.syncReceived.inc({ mchid: s.mchid, result: changed ? 'accepted' : 'unchanged' });
    this.#emit({ type: 'sync-received', mchid: s.mchid, accepted: true, serials, origin: payload.origin });
    return true;
  }

  #becameLeader(s: MerchantState): void {
    if (s.isLeader) return;
    s.isLeader = true;
    this.#emit({ type: 'leader-acquired', mchid: s.mchid });
  }

  async #electionRound(): Promise<void> {
    const backend = this.#backend;
    if (backend === undefined || this.#closed) return;
    await Promise.all(
      [...this.#states.values()].filter((s) => s.download).map(async (s) => {
        let lead: boolean;
        try {
          lead = await backend.campaign(s.mchid);
        } catch (e) {
          if (this.#closed) return;
          this.#syncFailed(s.mchid, e);
          s.syncDegraded = true;
          if (s.isLeader) {
            s.isLeader = false;
            this.#emit({ type: 'leader-lost', mchid: s.mchid });
          }
          return;
        }
        if (this.#closed) return;
        s.syncDegraded = false;
        if (lead && !s.isLeader) {
          this.#becameLeader(s);
          // A new leader refreshes at once: the previous one may have died before publishing.
          if (await this.#refreshPlatform(s, 'leader-acquired')) this.#scheduleRefresh(s);
        } else if (!lead && s.isLeader) {
          s.isLeader = false;
          this.#emit({ type: 'leader-lost', mchid: s.mchid });
        }
      }),
    );
  }

  async #pollStore(): Promise<void> {
    if (this.#closed) return;
    await Promise.all([...this.#states.values()].filter((s) => s.download && !s.isLeader).map((s) => this.#pullFromStore(s)));
  }

  #syncFailed(mchid: string | undefined, err: unknown): void {
    if (this.#closed) return;
    this.#emit({ type: 'sync-failed', ...(mchid === undefined ? {} : { mchid }), error: describeError(err) });
  }

  // ---------------------------------------------------------------- expiry

  #updateExpiry(s: MerchantState): void {
    const now = this.#now();
    const seen = new Map<string, { kind: 'merchant' | 'platform'; serial: string }>();
    const thresholds = [...(this.#opts.expiryWarningDays ?? [30, 7])].sort((a, b) => b - a);
    const c = s.candidate;
    const entries: Array<{ kind: 'merchant' | 'platform'; cert: ParsedCertificate }> = [];
    if (c?.merchantCertificate !== undefined) entries.push({ kind: 'merchant', cert: c.merchantCertificate });
    const platform = new Map<string, ParsedCertificate>();
    for (const p of [...(c?.pinned ?? []), ...s.platform]) if (!platform.has(p.serial)) platform.set(p.serial, p);
    for (const p of platform.values()) entries.push({ kind: 'platform', cert: p });
    const latestPlatform = Math.max(0, ...[...platform.values()].map((p) => p.validTo.getTime()));
    for (const { kind, cert } of entries) {
      const labels = { mchid: s.mchid, kind, serial: cert.serial };
      const left = (cert.validTo.getTime() - now) / 1000;
      this.metrics.expiry.set(labels, Math.round(left));
      seen.set(`${kind}|${cert.serial}`, { kind, serial: cert.serial });
      const daysLeft = (cert.validTo.getTime() - now) / DAY_MS;
      // Tightest threshold crossed, once per certificate; larger ones are then considered announced.
      const crossed = thresholds.filter((t) => daysLeft <= t);
      const tightest = crossed[crossed.length - 1];
      if (tightest === undefined) continue;
      const key = `${kind}|${cert.serial}|${tightest}`;
      if (s.warned.has(key)) continue;
      for (const t of crossed) s.warned.add(`${kind}|${cert.serial}|${t}`);
      const superseded = kind === 'platform' && latestPlatform > cert.validTo.getTime();
      this.metrics.expiryWarnings.inc({ mchid: s.mchid, kind, threshold: String(tightest) });
      this.#emit({ type: 'expiry-warning', mchid: s.mchid, kind, serial: cert.serial, validTo: cert.validTo.toISOString(), daysLeft: Math.floor(daysLeft), thresholdDays: tightest, superseded });
    }
    for (const [k, v] of s.gaugeLabels) if (!seen.has(k)) this.metrics.expiry.remove({ mchid: s.mchid, kind: v.kind, serial: v.serial });
    s.gaugeLabels = seen;
  }

  #checkExpiry(): void {
    const now = this.#now();
    for (const s of this.#states.values()) {
      // Drop platform certificates that expired since the last swap.
      const m = s.material;
      const expired = m !== undefined && [...m.verificationKeys.certificates.values()].some((k) => k.validTo !== undefined && k.validTo.getTime() <= now);
      if (expired) this.#compose(s, 'expiry');
      else this.#updateExpiry(s);
    }
  }

  /** Re-evaluates expiry gauges and warnings now (also runs every `expiryCheckIntervalMs`). */
  checkExpiryNow(): void {
    this.#checkExpiry();
  }

  // ---------------------------------------------------------------- file watching

  async #startWatching(): Promise<void> {
    const dirs = [...new Set([...this.#fileOwners.keys()].map((f) => dirname(f)))];
    const watcher = watch(dirs, { ignoreInitial: true, depth: 0, persistent: false, atomic: true });
    this.#watcher = watcher;
    const onPath = (path: string) => {
      const owners = this.#fileOwners.get(path);
      if (owners === undefined) return;
      for (const mchid of owners) {
        const s = this.#states.get(mchid);
        if (s === undefined) continue;
        clearTimeout(s.debounce);
        s.debounce = unref(setTimeout(() => void this.#queueReload(s), this.#opts.debounceMs ?? 300));
      }
    };
    watcher.on('all', (_event, path) => onPath(path));
    watcher.on('error', (err) => this.#opts.logger?.warn?.('wechatpay lifecycle: file watcher error', { error: describeError(err) }));
    await new Promise<void>((resolve) => {
      const t = unref(setTimeout(resolve, 5_000));
      watcher.once('ready', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
