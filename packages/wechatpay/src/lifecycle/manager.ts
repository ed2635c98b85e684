// CertificateManager: the production MerchantMaterialSource. Loads each merchant's private key,
// merchant certificate, APIv3 key, WeChat Pay public key and pinned platform certificates from
// files / environment variables / a SecretStore, validates every candidate before it may replace
// what is in use, swaps complete immutable snapshots in one assignment, hot-reloads watched files,
// keeps platform certificates fresh (download at start, every ~6 h jittered, on an unknown serial:
// single-flight and rate-limited), optionally through one elected leader per merchant that shares
// the verified list over Redis or etcd, and reports expiry through prom-client and events.
//
// This file is the assembly and the swap. The parts: config.ts (options, checks, defaults),
// load.ts + validate.ts (reading and validating material), merchant-state.ts (the snapshot),
// @wxseal/fleet-sync's FileWatcher (file events → reload), refresh.ts (downloads and their
// schedule), election.ts (leader per merchant), cluster.ts + sync.ts (the shared list, over
// @wxseal/fleet-sync's store), expiry.ts + metrics.ts, events.ts.
import { FileWatcher } from '@wxseal/fleet-sync';
import { WechatPayError } from '../errors.js';
import type { MerchantMaterial, MerchantMaterialSource } from '../merchant/material.js';
import { ClusterSync } from './cluster.js';
import { merchantFiles, resolveSettings, type CertificateManagerOptions, type LifecycleSettings } from './config.js';
import { LeaderElection } from './election.js';
import { CertificateLifecycleError, describeError } from './errors.js';
import { LifecycleEvents, type CertificateManagerEvent, type MaterialChangeReason } from './events.js';
import { ExpiryMonitor, holdsExpiredCertificate } from './expiry.js';
import { candidateFingerprint, readMerchantCandidate } from './load.js';
import { buildSnapshot, createMerchantState, knowsSerial, type MerchantState } from './merchant-state.js';
import { createLifecycleMetrics, type LifecycleMetrics } from './metrics.js';
import { PlatformRefresher } from './refresh.js';
import type { SecretStore } from './sources.js';
import { createSyncStore } from './sync.js';
import type { ParsedCertificate } from './validate.js';

/** The production MerchantMaterialSource: hot reload, validation, platform certificates, sync, expiry. */
export class CertificateManager implements MerchantMaterialSource {
  readonly metrics: LifecycleMetrics;
  readonly #secretStore: SecretStore | undefined;
  readonly #settings: LifecycleSettings;
  readonly #states = new Map<string, MerchantState>();
  readonly #now: () => number;
  readonly #events: LifecycleEvents;
  readonly #expiry: ExpiryMonitor;
  readonly #watcher: FileWatcher;
  readonly #refresher: PlatformRefresher;
  /** Leader election and the shared list; undefined without `sync`. */
  readonly #election: LeaderElection | undefined;
  readonly #cluster: ClusterSync | undefined;
  #timers: NodeJS.Timeout[] = [];
  #signalHandlers: Array<[NodeJS.Signals, () => void]> = [];
  #started = false;
  #closed = false;

  constructor(options: CertificateManagerOptions) {
    this.#settings = resolveSettings(options);
    this.#secretStore = options.secretStore;
    this.#now = options.now ?? Date.now;
    this.metrics = createLifecycleMetrics(options.registry);
    this.#events = new LifecycleEvents(options.logger);
    this.#expiry = new ExpiryMonitor(this.metrics, this.#events, this.#settings.expiryWarningDays);
    this.#watcher = new FileWatcher({
      debounceMs: this.#settings.debounceMs,
      onChange: (mchid) => void this.#queueReload(this.#stateOf(mchid)),
      onError: (err) => options.logger?.warn?.('wechatpay lifecycle: file watcher error', { error: describeError(err) }),
    });
    for (const m of options.merchants) {
      this.#states.set(m.mchid, createMerchantState(m));
      this.#watcher.add(m.mchid, merchantFiles(m));
    }
    const isClosed = () => this.#closed;
    this.#refresher = new PlatformRefresher(this.#settings, { baseUrl: options.baseUrl, dispatcher: options.dispatcher }, this.metrics, this.#events, this.#now, {
      mayDownload: (mchid) => this.#election === undefined || !this.#election.isFollower(mchid),
      onDownloaded: async (s, certs) => {
        this.#setPlatform(s, certs, 'download');
        await this.#cluster?.publishIfLeader(s, certs);
      },
      isClosed,
    });
    if (options.sync !== undefined) {
      const backend = createSyncStore(options.sync);
      const syncFailed = (mchid: string | undefined, err: unknown) => this.#syncFailed(mchid, err);
      this.#election = new LeaderElection(backend, this.#events, isClosed, syncFailed);
      this.#cluster = new ClusterSync(backend, this.#election, this.#refresher, this.#settings, this.metrics, this.#events, this.#now, {
        state: (mchid) => this.#states.get(mchid),
        applyPlatform: (s, certs) => this.#setPlatform(s, certs, 'sync'),
        isClosed,
        syncFailed,
      });
    }
  }

  /** Downloads performed by this instance (diagnostics, tests). */
  get downloadCount(): number {
    return this.#refresher.downloads;
  }

  // ---------------------------------------------------------------- MerchantMaterialSource

  current(mchid: string): MerchantMaterial {
    const m = this.#stateOf(mchid).material;
    if (m === undefined) throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_NOT_LOADED', `no material loaded for merchant ${mchid}; call start()`);
    return m;
  }

  async refreshForUnknownSerial(mchid: string, serial: string): Promise<boolean> {
    const s = this.#stateOf(mchid);
    if (knowsSerial(s.material, serial)) return true;
    if (!s.download || this.#closed || s.material === undefined) return false;
    const inFlight = this.#refresher.inFlight(mchid);
    if (inFlight) {
      await inFlight.catch(() => false);
      return knowsSerial(s.material, serial);
    }
    if (!this.#refresher.takeUnknownSerialSlot(mchid)) return false;
    const cluster = this.#cluster;
    if (cluster !== undefined && this.#election?.isFollower(mchid)) {
      // A follower: maybe the leader already published it; otherwise ask the leader and wait.
      return this.#refresher.singleFlight(mchid, () => cluster.followerRefresh(s, serial));
    }
    await this.#refresher.refresh(s, 'unknown-serial');
    return knowsSerial(s.material, serial);
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
    const cluster = this.#cluster;
    if (cluster !== undefined) await cluster.start([...this.#states.keys()]);
    const downloading = [...this.#states.values()].filter((s) => s.download);
    await Promise.all(downloading.map((s) => (cluster === undefined ? this.#refresher.refresh(s, 'start') : cluster.acquireAtStart(s))));
    if (this.#settings.requirePlatformCertificatesAtStart) {
      const missing = downloading.filter((s) => s.material !== undefined && s.material.verificationKeys.certificates.size === 0 && s.material.verificationKeys.publicKeys.size === 0);
      if (missing.length > 0) {
        await this.close();
        throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_DOWNLOAD_FAILED', `no platform certificate could be obtained for ${missing.map((s) => s.mchid).join(', ')}`);
      }
    }
    for (const s of downloading) this.#refresher.schedule(s);
    const election = this.#election;
    if (cluster !== undefined && election !== undefined) {
      const mchids = downloading.map((s) => s.mchid);
      const onAcquired = async (mchid: string) => {
        // A new leader refreshes at once: the previous one may have died before publishing.
        const s = this.#stateOf(mchid);
        if (await this.#refresher.refresh(s, 'leader-acquired')) this.#refresher.schedule(s);
      };
      this.#timers.push(setInterval(() => void election.round(mchids, onAcquired), this.#settings.electionIntervalMs).unref());
      this.#timers.push(setInterval(() => void cluster.pollFollowers(downloading), this.#settings.syncPollIntervalMs).unref());
    }
    this.#timers.push(setInterval(() => this.#checkExpiry(), this.#settings.expiryCheckIntervalMs).unref());
    if (this.#settings.watchFiles && this.#watcher.watchesFiles) await this.#watcher.start();
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
    if (this.#cluster !== undefined && this.#election?.isFollower(mchid)) return this.#cluster.pull(s);
    return this.#refresher.refresh(s, 'manual');
  }

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(listener: (e: CertificateManagerEvent) => void): () => void {
    return this.#events.on(listener);
  }

  /** Whether this instance currently leads downloads for the merchant (always true without sync). */
  isLeader(mchid: string): boolean {
    this.#stateOf(mchid);
    return this.#election === undefined || this.#election.isLeader(mchid);
  }

  get merchants(): string[] {
    return [...this.#states.keys()];
  }

  /** Re-evaluates expiry gauges and warnings now (also runs every `expiryCheckIntervalMs`). */
  checkExpiryNow(): void {
    this.#checkExpiry();
  }

  /** Stops watchers, timers and subscriptions and releases leadership. Material stays readable. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#refresher.close();
    const watcherClosed = this.#watcher.close();
    for (const [sig, h] of this.#signalHandlers) process.off(sig, h);
    this.#signalHandlers = [];
    await watcherClosed;
    if (this.#election !== undefined) await this.#election.resignAll();
    await this.#cluster?.close();
  }

  // ---------------------------------------------------------------- loading and swapping

  #stateOf(mchid: string): MerchantState {
    const s = this.#states.get(mchid);
    if (s === undefined) throw new WechatPayError('WECHATPAY_BAD_ARGUMENT', `unknown merchant ${String(mchid)}`);
    return s;
  }

  #queueReload(s: MerchantState): Promise<boolean> {
    // Serialise reloads per merchant: a burst of file events never interleaves two reads.
    const next = s.reloading.then(() => this.#reloadMerchant(s, 'reload'));
    s.reloading = next.catch(() => false);
    return next;
  }

  async #reloadMerchant(s: MerchantState, reason: 'initial' | 'reload'): Promise<boolean> {
    const { candidate, problems } = await readMerchantCandidate(s.config, this.#secretStore, this.#now());
    if (candidate === undefined) {
      this.metrics.validationFailures.inc({ mchid: s.mchid, source: 'reload' });
      this.metrics.reloads.inc({ mchid: s.mchid, result: 'rejected' });
      this.#events.emit({ type: 'validation-failed', mchid: s.mchid, source: 'reload', problems: problems.length > 0 ? problems : ['invalid material'] });
      return false;
    }
    const fp = candidateFingerprint(candidate);
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

  /** Replaces the downloaded / synchronised platform certificates; a new snapshot when the serials changed. */
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

  /** Builds a complete new snapshot and swaps it in with one assignment. */
  #compose(s: MerchantState, reason: MaterialChangeReason): void {
    const c = s.candidate;
    if (c === undefined) return;
    const now = this.#now();
    const previous = s.material;
    const version = s.version + 1;
    const { material, platformSerials } = buildSnapshot(s.mchid, c, s.platform, version, now);
    s.version = version;
    s.material = material; // the swap: one reference assignment
    this.metrics.version.set({ mchid: s.mchid }, version);
    const base = { mchid: s.mchid, version, merchantSerialNo: material.merchantSerialNo, platformSerials, ...(material.wechatpaySerial === undefined ? {} : { wechatpaySerial: material.wechatpaySerial }) };
    if (previous === undefined) this.#events.emit({ type: 'loaded', ...base });
    else this.#events.emit({ type: 'swapped', ...base, previousVersion: previous.version, reason });
    this.#expiry.update(s.mchid, s.candidate, s.platform, this.#now());
  }

  #checkExpiry(): void {
    const now = this.#now();
    for (const s of this.#states.values()) {
      // Drop platform certificates that expired since the last swap.
      if (holdsExpiredCertificate(s.material, now)) this.#compose(s, 'expiry');
      else this.#expiry.update(s.mchid, s.candidate, s.platform, this.#now());
    }
  }

  #syncFailed(mchid: string | undefined, err: unknown): void {
    if (this.#closed) return;
    this.#events.emit({ type: 'sync-failed', ...(mchid === undefined ? {} : { mchid }), error: describeError(err) });
  }
}
