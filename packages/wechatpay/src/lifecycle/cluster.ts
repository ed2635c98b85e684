// What an instance does with the shared list of platform certificates (the store is
// @wxseal/fleet-sync's; sync.ts holds its options and WeChat Pay's payload): the leader publishes
// each verified download; followers take the list from the store at start, on every notification
// and on a slow poll, re-validating it (MAC, freshness, PEMs, expiry) before it may replace
// anything; a follower meeting an unknown serial asks the leader and waits, and downloads itself
// when the leader cannot be asked or does not answer.
import type { SyncMessage, SyncStore } from '@wxseal/fleet-sync';
import type { LifecycleSettings } from './config.js';
import type { LeaderElection } from './election.js';
import { describeError } from './errors.js';
import type { LifecycleEvents } from './events.js';
import { knowsSerial, type MerchantState } from './merchant-state.js';
import type { LifecycleMetrics } from './metrics.js';
import type { PlatformRefresher } from './refresh.js';
import { openSyncPayload, sealSyncPayload, syncMacKey } from './sync.js';
import { parseCertificatePem, type ParsedCertificate } from './validate.js';

export interface ClusterHost {
  state(mchid: string): MerchantState | undefined;
  /** Swaps in a verified list of platform certificates; true when the snapshot changed. */
  applyPlatform(s: MerchantState, certs: ParsedCertificate[]): boolean;
  isClosed(): boolean;
  /** Reports a store failure (a `sync-failed` event). */
  syncFailed(mchid: string | undefined, err: unknown): void;
}

export class ClusterSync {
  /** issuedAt of the newest list accepted per merchant: older ones are refused. */
  readonly #lastAcceptedIssuedAt = new Map<string, number>();

  constructor(
    private readonly backend: SyncStore,
    private readonly election: LeaderElection,
    private readonly refresher: PlatformRefresher,
    private readonly settings: LifecycleSettings,
    private readonly metrics: LifecycleMetrics,
    private readonly events: LifecycleEvents,
    private readonly now: () => number,
    private readonly host: ClusterHost,
  ) {}

  /** Subscribes to the store's messages; when that fails every merchant downloads locally (degraded). */
  async start(mchids: readonly string[]): Promise<void> {
    try {
      await this.backend.start(
        (msg) => this.#onMessage(msg),
        (err) => this.host.syncFailed(undefined, err),
      );
    } catch (e) {
      this.host.syncFailed(undefined, e);
      for (const mchid of mchids) this.election.markDegraded(mchid);
    }
  }

  /** Platform certificates at start: the leader downloads, a follower takes the leader's list (or downloads when none comes). */
  async acquireAtStart(s: MerchantState): Promise<void> {
    if (this.election.isDegraded(s.mchid)) {
      await this.refresher.refresh(s, 'start');
      return;
    }
    const standing = await this.election.campaignAtStart(s.mchid);
    if (standing === 'unavailable') {
      await this.refresher.refresh(s, 'start (sync unavailable)');
      return;
    }
    if (standing === 'leader') {
      await this.refresher.refresh(s, 'start (leader)');
      return;
    }
    if (await this.pull(s)) return;
    // The leader may be downloading right now: wait for its list, then fall back to a local download.
    const got = await this.#waitFor(() => s.platform.length > 0, this.settings.followerWaitMs);
    if (!got && !this.host.isClosed()) await this.refresher.refresh(s, 'start (no list from the leader)');
  }

  /**
   * A follower's refresh for an unknown serial: the shared list first, then a request to the
   * leader and a bounded wait. Runs as the merchant's single flight, so a download it falls back to
   * must not go through the flight again (it would wait for itself).
   */
  async followerRefresh(s: MerchantState, serial: string): Promise<boolean> {
    if (await this.pull(s)) {
      if (knowsSerial(s.material, serial)) return true;
    }
    try {
      await this.backend.signal(s.mchid, serial);
    } catch (e) {
      this.host.syncFailed(s.mchid, e);
      await this.refresher.download(s, 'unknown-serial (sync unavailable)');
      return knowsSerial(s.material, serial);
    }
    await this.#waitFor(() => knowsSerial(s.material, serial), this.settings.followerWaitMs);
    return knowsSerial(s.material, serial);
  }

  /** The leader shares a verified list (public PEMs, MACed with a key derived from the APIv3 key). */
  async publishIfLeader(s: MerchantState, certs: ParsedCertificate[]): Promise<void> {
    if (!this.election.isLeader(s.mchid)) return;
    const payload = sealSyncPayload({ v: 1, mchid: s.mchid, issuedAt: this.now(), origin: this.backend.instanceId, certificates: certs.map((c) => c.pem) }, this.#macKey(s));
    try {
      await this.backend.publish(s.mchid, payload);
    } catch (e) {
      this.host.syncFailed(s.mchid, e);
    }
  }

  /** Reads the shared list and applies it; true when a usable list was applied (or already held). */
  async pull(s: MerchantState): Promise<boolean> {
    let text: string | undefined;
    try {
      text = await this.backend.read(s.mchid);
    } catch (e) {
      this.host.syncFailed(s.mchid, e);
      return false;
    }
    if (text === undefined) return false;
    return this.#apply(s, text, true);
  }

  /** The slow poll of followers, in case a notification was missed. */
  async pollFollowers(states: readonly MerchantState[]): Promise<void> {
    if (this.host.isClosed()) return;
    await Promise.all(states.filter((s) => s.download && !this.election.isLeader(s.mchid)).map((s) => this.pull(s)));
  }

  close(): Promise<void> {
    return this.backend.close().catch(() => undefined);
  }

  #macKey(s: MerchantState): Buffer | undefined {
    const k = s.material?.apiV3Key;
    return k ? syncMacKey(k, s.mchid) : undefined;
  }

  #onMessage(msg: SyncMessage): void {
    const s = this.host.state(msg.subject);
    if (s === undefined || this.host.isClosed() || !s.download) return;
    if (msg.type === 'payload') {
      this.#apply(s, msg.payload, false);
      return;
    }
    // A follower saw an unknown serial (the signal's data): the leader downloads, within the same rate limit.
    if (this.election.isLeader(s.mchid) && !knowsSerial(s.material, msg.data) && !this.refresher.inFlight(s.mchid) && this.refresher.takeUnknownSerialSlot(s.mchid)) {
      void this.refresher.refresh(s, 'unknown-serial (requested by a follower)');
    }
  }

  #apply(s: MerchantState, text: string, fromPoll: boolean): boolean {
    const reject = (reason: string, serials: string[] = [], origin?: string): boolean => {
      this.metrics.syncReceived.inc({ mchid: s.mchid, result: 'rejected' });
      this.metrics.validationFailures.inc({ mchid: s.mchid, source: 'sync' });
      this.events.emit({ type: 'sync-received', mchid: s.mchid, accepted: false, serials, reason, ...(origin === undefined ? {} : { origin }) });
      this.events.emit({ type: 'validation-failed', mchid: s.mchid, source: 'sync', problems: [reason] });
      return false;
    };
    let payload;
    try {
      payload = openSyncPayload(text, s.mchid, this.settings.requireSyncMac ? this.#macKey(s) : undefined);
    } catch (e) {
      return reject(describeError(e));
    }
    if (payload.origin === this.backend.instanceId) return true;
    const lastAccepted = this.#lastAcceptedIssuedAt.get(s.mchid) ?? 0;
    if (payload.issuedAt < lastAccepted) {
      if (fromPoll) return s.platform.length > 0;
      return reject(`stale list (issued ${new Date(payload.issuedAt).toISOString()}, already have a newer one)`, [], payload.origin);
    }
    if (payload.issuedAt === lastAccepted) return s.platform.length > 0;
    const problems: string[] = [];
    const now = this.now();
    const certs: ParsedCertificate[] = [];
    for (const pem of payload.certificates) {
      const c = parseCertificatePem(pem, 'synchronised platform certificate', problems);
      if (c !== undefined && c.validTo.getTime() > now && !certs.some((x) => x.serial === c.serial)) certs.push(c);
    }
    const serials = certs.map((c) => c.serial);
    if (problems.length > 0) return reject(problems.join('; '), serials, payload.origin);
    if (certs.length === 0) return reject('no unexpired certificate in the list', serials, payload.origin);
    this.#lastAcceptedIssuedAt.set(s.mchid, payload.issuedAt);
    const changed = this.host.applyPlatform(s, certs);
    this.metrics.syncReceived.inc({ mchid: s.mchid, result: changed ? 'accepted' : 'unchanged' });
    this.events.emit({ type: 'sync-received', mchid: s.mchid, accepted: true, serials, origin: payload.origin });
    return true;
  }

  /** Polls `cond` every 25 ms for up to `ms` (real time); stops early when the manager closes. */
  #waitFor(cond: () => boolean, ms: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const started = Date.now();
      const tick = () => {
        if (cond()) return resolve(true);
        if (this.host.isClosed() || Date.now() - started >= ms) return resolve(cond());
        setTimeout(tick, 25).unref();
      };
      tick();
    });
  }
}
