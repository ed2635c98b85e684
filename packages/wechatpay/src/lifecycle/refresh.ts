// Platform certificates from GET /v3/certificates: one download at a time per merchant
// (single flight), on a jittered schedule (every ~6 h, retried with exponential backoff after a
// failure), and on an unknown Wechatpay-Serial at most once per rate-limit period. What to do with
// a verified list (swap it in, publish it to followers) is the caller's hook.
import type { Dispatcher } from 'undici';
import type { VerificationKey } from '../verification.js';
import type { LifecycleSettings } from './config.js';
import { downloadPlatformCertificates } from './download.js';
import { describeError } from './errors.js';
import type { LifecycleEvents } from './events.js';
import type { MerchantState } from './merchant-state.js';
import type { LifecycleMetrics } from './metrics.js';
import type { ParsedCertificate } from './validate.js';

interface RefreshState {
  /** The refresh in flight (a download, or a follower's wait for the leader's list). */
  inFlight?: Promise<boolean>;
  timer?: NodeJS.Timeout;
  /** Consecutive failed scheduled refreshes (backoff). */
  failures: number;
  lastUnknownSerialAt: number;
}

export interface RefresherHooks {
  /** Whether the scheduled refresh downloads (a follower leaves that to the leader). */
  mayDownload(mchid: string): boolean;
  /** A verified list with at least one unexpired certificate was downloaded. */
  onDownloaded(s: MerchantState, certs: ParsedCertificate[]): Promise<void>;
  isClosed(): boolean;
}

export class PlatformRefresher {
  /** Downloads performed (diagnostics, tests). */
  downloads = 0;
  readonly #merchants = new Map<string, RefreshState>();

  constructor(
    private readonly settings: LifecycleSettings,
    private readonly target: { baseUrl: string | undefined; dispatcher: Dispatcher | undefined },
    private readonly metrics: LifecycleMetrics,
    private readonly events: LifecycleEvents,
    private readonly now: () => number,
    private readonly hooks: RefresherHooks,
  ) {}

  #state(mchid: string): RefreshState {
    let r = this.#merchants.get(mchid);
    if (r === undefined) this.#merchants.set(mchid, (r = { failures: 0, lastUnknownSerialAt: Number.NEGATIVE_INFINITY }));
    return r;
  }

  inFlight(mchid: string): Promise<boolean> | undefined {
    return this.#merchants.get(mchid)?.inFlight;
  }

  /** Runs `work` as the merchant's refresh unless one is in flight already (then joins that one). */
  singleFlight(mchid: string, work: () => Promise<boolean>): Promise<boolean> {
    const r = this.#state(mchid);
    if (r.inFlight) return r.inFlight;
    const p = work().finally(() => {
      if (r.inFlight === p) r.inFlight = undefined;
    });
    r.inFlight = p;
    return p;
  }

  /** Single-flight download + verify + hook. True on success. */
  refresh(s: MerchantState, reason: string): Promise<boolean> {
    return this.singleFlight(s.mchid, () => this.download(s, reason));
  }

  /**
   * Takes the unknown-serial slot: true (and the period restarts) when the last unknown-serial
   * refresh of the merchant is older than `unknownSerialMinIntervalMs`.
   */
  takeUnknownSerialSlot(mchid: string): boolean {
    const r = this.#state(mchid);
    if (this.now() - r.lastUnknownSerialAt < this.settings.unknownSerialMinIntervalMs) return false;
    r.lastUnknownSerialAt = this.now();
    return true;
  }

  /** Plans the next scheduled refresh: the period (or `delayMs`), jittered. */
  schedule(s: MerchantState, delayMs?: number): void {
    if (this.hooks.isClosed()) return;
    const r = this.#state(s.mchid);
    clearTimeout(r.timer);
    const interval = this.settings.refreshIntervalMs;
    const base = delayMs ?? interval;
    const ms = Math.max(50, Math.round(base * (1 + (Math.random() * 2 - 1) * this.settings.refreshJitter)));
    r.timer = setTimeout(() => {
      void (async () => {
        let ok = true;
        if (this.hooks.mayDownload(s.mchid)) ok = await this.refresh(s, 'scheduled');
        if (this.hooks.isClosed()) return;
        if (ok) {
          r.failures = 0;
          this.schedule(s);
        } else {
          r.failures++;
          const retry = Math.min(interval, this.settings.retryDelayMs * 2 ** Math.min(10, r.failures - 1));
          this.schedule(s, retry);
        }
      })();
    }, ms).unref();
  }

  /** Stops the schedules. */
  close(): void {
    for (const r of this.#merchants.values()) clearTimeout(r.timer);
  }

  /**
   * One download, outside the single flight: for a caller that holds the flight already (a
   * follower whose request to the leader failed). True on success.
   */
  async download(s: MerchantState, reason: string): Promise<boolean> {
    const m = s.material;
    if (m === undefined || this.hooks.isClosed()) return false;
    const trusted: VerificationKey[] = [...m.verificationKeys.certificates.values(), ...m.verificationKeys.publicKeys.values()];
    this.downloads++;
    let result;
    try {
      result = await downloadPlatformCertificates({
        mchid: s.mchid,
        serialNo: m.merchantSerialNo,
        privateKey: m.privateKey,
        apiV3Key: m.apiV3Key,
        trustedKeys: trusted,
        timeoutMs: this.settings.downloadTimeoutMs,
        ...(this.target.baseUrl === undefined ? {} : { baseUrl: this.target.baseUrl }),
        ...(this.target.dispatcher === undefined ? {} : { dispatcher: this.target.dispatcher }),
      });
    } catch (e) {
      this.metrics.downloads.inc({ mchid: s.mchid, result: 'failed' });
      this.events.emit({ type: 'download-failed', mchid: s.mchid, error: describeError(e), reason });
      return false;
    }
    const now = this.now();
    const valid = result.certificates.filter((c) => c.validTo.getTime() > now);
    const serials = result.certificates.map((c) => c.serial);
    if (result.empty) {
      this.metrics.downloads.inc({ mchid: s.mchid, result: 'empty' });
      this.events.emit({ type: 'downloaded', mchid: s.mchid, serials, empty: true, reason });
      // An empty list cannot be authenticated by decryption: never drop held certificates for it.
      return true;
    }
    this.metrics.downloads.inc({ mchid: s.mchid, result: 'ok' });
    this.events.emit({ type: 'downloaded', mchid: s.mchid, serials, empty: false, reason, ...(result.signedBy === undefined ? {} : { signedBy: result.signedBy }) });
    if (valid.length === 0) {
      this.metrics.validationFailures.inc({ mchid: s.mchid, source: 'download' });
      this.events.emit({ type: 'validation-failed', mchid: s.mchid, source: 'download', problems: ['every downloaded platform certificate is expired'] });
      return false;
    }
    const parsed: ParsedCertificate[] = valid.map((c) => ({ serial: c.serial, pem: c.pem, x509: c.x509, publicKey: c.publicKey, validFrom: c.validFrom, validTo: c.validTo }));
    await this.hooks.onDownloaded(s, parsed);
    return true;
  }
}
