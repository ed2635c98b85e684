/**
 * Fleet sync of the edge certificate: an upload to one gateway reaches every instance of the fleet
 * within seconds. The bundle (certificate chain, its private key and, when set by an upload, the
 * client-auth material: client CA bundle and CRL) travels through
 * @wxseal/fleet-sync's store (etcd or Redis; the same transport WeChat Pay's certificate lifecycle
 * uses) under one subject per listener ("edge:public"), encrypted: AES-256-GCM under
 * HKDF-SHA256(fleet key, "wxseal/gateway/edge-tls-sync", subject), the subject as additional data,
 * a fresh IV each time. A receiver refuses what does not decrypt, names another subject, is
 * malformed or oversized, or is older than the newest bundle it accepted (issuedAt only moves
 * forward), and hands the rest to `onBundle` (edge-tls.ts: validate, then swap) one at a time.
 */
import { errorText } from '@wxseal/protocol';
import { SubjectCipher, connectSyncStore, fleetSyncErrors, type SyncMessage, type SyncStore } from '@wxseal/fleet-sync';
import { edgeSyncConfigSchema, readEdgeSyncKey, redisUrlOf, type EdgeSyncConfigInput, type EdgeSyncContext } from './edge-sync-config.js';

/** The subject of the public listener's certificate. */
export const EDGE_SYNC_SUBJECT = 'edge:public';
/** HKDF salt of the edge bundles: a fleet key shared with another use never yields the same key. */
export const EDGE_SYNC_SALT = 'wxseal/gateway/edge-tls-sync';

/** Bounds of a bundle (characters): far above a real chain, far below what would hurt. */
export const EDGE_BUNDLE_LIMITS = { certPem: 64 * 1024, keyPem: 16 * 1024, caPem: 256 * 1024, crlPem: 256 * 1024, origin: 128 } as const;
/** The sealed value (base64 of the encrypted JSON): above the sum of the limits, JSON escapes and base64 included. */
const MAX_ENVELOPE = 1024 * 1024;
/** A bundle dated further ahead than this is refused: one bad clock must not freeze rotation. */
const MAX_FUTURE_MS = 10 * 60_000;

export interface EdgeCertificateBundle {
  /** The certificate chain, leaf first (PEM). */
  readonly certPem: string;
  /** Its private key (PEM). Encrypted in the store, never logged. */
  readonly keyPem: string;
  /** The CA bundle of client certificates (mutual TLS), when an upload set one (otherwise each instance's clientAuth.caFile). */
  readonly caPem?: string;
  /** The CRL of client certificates (PEM), when an upload set one (otherwise each instance's clientAuth.crlFile). */
  readonly crlPem?: string;
  /** Unix ms; strictly increasing across the bundles a fleet accepts. */
  readonly issuedAt: number;
  /** Who published it (an instance id; diagnostics). */
  readonly origin: string;
}

/** What publish() takes: issuedAt and origin default to now (kept increasing) and this instance. */
export type EdgeBundleInput = Omit<EdgeCertificateBundle, 'issuedAt' | 'origin'> & { issuedAt?: number; origin?: string };

export interface EdgeCertificateSyncOptions extends EdgeSyncContext {
  /** The listener's subject (default "edge:public"). */
  subject?: string;
  /** Written as the origin of what this instance publishes (default: the store's random id). */
  instanceId?: string;
  /** A store built by the caller (tests); by default one is opened from the config and closed by close(). */
  store?: SyncStore;
}

/** The plaintext inside the envelope. */
interface WireBundle {
  v: 1;
  subject: string;
  issuedAt: number;
  origin: string;
  certPem: string;
  keyPem: string;
  caPem?: string;
  crlPem?: string;
}

export class EdgeCertificateSync {
  readonly subject: string;
  readonly instanceId: string;
  readonly #store: SyncStore;
  readonly #cipher: SubjectCipher;
  readonly #pollIntervalMs: number;
  #newest = 0;
  /** Deliveries run one after another, so two bundles never race to the swap. */
  #queue: Promise<void> = Promise.resolve();
  #onBundle: ((bundle: EdgeCertificateBundle) => Promise<void>) | undefined;
  #onError: (err: unknown) => void = () => undefined;
  #poll: NodeJS.Timeout | undefined;
  #started = false;
  #closed = false;

  /** Reads the fleet key (and the Redis URL) now: a bad config throws FleetSyncError FLEET_SYNC_CONFIG here. */
  constructor(config: EdgeSyncConfigInput, options: EdgeCertificateSyncOptions = {}) {
    const parsed = edgeSyncConfigSchema.safeParse(config);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw fleetSyncErrors('config', `tls.sync${issue && issue.path.length > 0 ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}`);
    }
    const c = parsed.data;
    this.subject = options.subject ?? EDGE_SYNC_SUBJECT;
    // The cipher checks the subject and holds only the derived key, not the fleet key.
    this.#cipher = new SubjectCipher(readEdgeSyncKey(c, options), { salt: EDGE_SYNC_SALT, subject: this.subject });
    this.#pollIntervalMs = c.pollIntervalMs;
    const id = options.instanceId;
    if (id !== undefined && (!/^[ -~]+$/.test(id) || id.length > EDGE_BUNDLE_LIMITS.origin)) throw fleetSyncErrors('config', `instanceId must be 1-${EDGE_BUNDLE_LIMITS.origin} printable ASCII characters`);
    // Opened last: nothing after this throws, so a refused config leaves no client behind.
    this.#store =
      options.store ??
      (c.kind === 'etcd'
        ? connectSyncStore({ kind: 'etcd', endpoints: c.endpoints, prefix: c.prefix, opTimeoutMs: c.opTimeoutMs, maxPayloadBytes: MAX_ENVELOPE })
        : connectSyncStore({ kind: 'redis', url: redisUrlOf(c, options), prefix: c.prefix, opTimeoutMs: c.opTimeoutMs, maxPayloadBytes: MAX_ENVELOPE }));
    this.instanceId = id ?? this.#store.instanceId;
  }

  /** issuedAt of the newest bundle accepted or published here (0 before any). */
  get newestIssuedAt(): number {
    return this.#newest;
  }

  /**
   * Subscribes, then reads the bundle the store holds and delivers it (resolves once that one is
   * handled). Store failures do not reject: they go to `onError` (FLEET_SYNC_UNAVAILABLE) while the
   * client reconnects and the poll retries, so a gateway starts with its local certificate when the
   * store is down. Refused bundles (FLEET_SYNC_REJECTED) and `onBundle` rejections go to `onError`
   * too; the watch goes on.
   */
  async start(onBundle: (bundle: EdgeCertificateBundle) => Promise<void>, onError?: (err: unknown) => void): Promise<void> {
    if (this.#started || this.#closed) throw fleetSyncErrors('config', 'start() called twice or after close()');
    this.#started = true;
    this.#onBundle = onBundle;
    if (onError) this.#onError = onError;
    try {
      await this.#store.start(
        (msg) => this.#onMessage(msg),
        (err) => this.#report(err),
      );
    } catch (err) {
      this.#report(err);
    }
    await this.#pull(true);
    if (this.#closed) return;
    this.#poll = setInterval(() => void this.#pull(false), this.#pollIntervalMs);
    this.#poll.unref();
  }

  /**
   * Encrypts and stores a bundle; every started instance of the fleet receives it. Returns what was
   * published. Throws FLEET_SYNC_REJECTED for an oversized bundle or one not newer than the newest
   * seen here, FLEET_SYNC_UNAVAILABLE when the store does not take it.
   */
  async publish(input: EdgeBundleInput): Promise<EdgeCertificateBundle> {
    if (this.#closed) throw fleetSyncErrors('config', 'publish() after close()');
    const previous = this.#newest;
    const issuedAt = input.issuedAt ?? Math.max(Date.now(), previous + 1);
    const bundle: EdgeCertificateBundle = {
      certPem: input.certPem,
      keyPem: input.keyPem,
      ...(input.caPem === undefined ? {} : { caPem: input.caPem }),
      ...(input.crlPem === undefined ? {} : { crlPem: input.crlPem }),
      issuedAt,
      origin: input.origin ?? this.instanceId,
    };
    const problem = checkBundle(bundle);
    if (problem !== undefined) throw fleetSyncErrors('rejected', `bundle for ${this.subject} not published: ${problem}`);
    if (issuedAt <= previous) throw fleetSyncErrors('rejected', `bundle for ${this.subject} not published: issuedAt ${issuedAt} is not after the newest one seen here (${previous})`);
    if (issuedAt > Date.now() + MAX_FUTURE_MS) throw fleetSyncErrors('rejected', `bundle for ${this.subject} not published: issuedAt is more than 10 minutes ahead of this instance's clock`);
    const wire: WireBundle = { v: 1, subject: this.subject, ...bundle };
    const sealed = this.#cipher.seal(JSON.stringify(wire));
    // Taken as the newest before the store answers: this instance's own echo is then not delivered back.
    this.#newest = issuedAt;
    try {
      await this.#store.publish(this.subject, sealed);
    } catch (err) {
      if (this.#newest === issuedAt) this.#newest = previous;
      throw err;
    }
    return bundle;
  }

  /** Stops the watch and the poll and closes the store; a delivery in progress finishes, no new one starts. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#poll);
    await this.#store.close();
  }

  #report(err: unknown): void {
    if (this.#closed) return;
    try {
      this.#onError(err);
    } catch {
      /* the caller's error callback failed: nothing left to tell */
    }
  }

  #onMessage(msg: SyncMessage): void {
    if (msg.type !== 'payload' || msg.subject !== this.subject) return;
    void this.#enqueue(msg.payload, true);
  }

  /** Reads the stored bundle; a poll stays quiet about one older than what it holds (a publish may be racing it). */
  async #pull(atStart: boolean): Promise<void> {
    if (this.#closed) return;
    let text: string | undefined;
    try {
      text = await this.#store.read(this.subject);
    } catch (err) {
      this.#report(err);
      return;
    }
    if (text !== undefined) await this.#enqueue(text, atStart);
  }

  #enqueue(text: string, reportStale: boolean): Promise<void> {
    const next = this.#queue.then(() => this.#deliver(text, reportStale));
    this.#queue = next.catch(() => undefined);
    return this.#queue;
  }

  async #deliver(text: string, reportStale: boolean): Promise<void> {
    if (this.#closed || this.#onBundle === undefined) return;
    let bundle: EdgeCertificateBundle;
    try {
      bundle = this.#open(text);
    } catch (err) {
      this.#report(err);
      return;
    }
    if (bundle.issuedAt === this.#newest) return; // the one already held (or this instance's own echo)
    if (bundle.issuedAt < this.#newest) {
      if (reportStale) {
        this.#report(fleetSyncErrors('rejected', `bundle for ${this.subject} from ${bundle.origin} refused: issued ${new Date(bundle.issuedAt).toISOString()}, older than the newest accepted (${new Date(this.#newest).toISOString()})`));
      }
      return;
    }
    try {
      await this.#onBundle(bundle);
    } catch (err) {
      this.#report(fleetSyncErrors('rejected', `bundle for ${this.subject} from ${bundle.origin} refused by the receiver: ${errorText(err)}`, { cause: err }));
      return;
    }
    // Accepted only once the receiver took it: a bundle it refused may be offered again.
    if (bundle.issuedAt > this.#newest) this.#newest = bundle.issuedAt;
  }

  /** Decrypts and checks one stored value; throws FLEET_SYNC_REJECTED. */
  #open(text: string): EdgeCertificateBundle {
    const reject = (why: string): never => {
      throw fleetSyncErrors('rejected', `bundle for ${this.subject} refused: ${why}`);
    };
    const plain = this.#cipher.open(text, MAX_ENVELOPE);
    let w: Partial<WireBundle>;
    try {
      w = JSON.parse(plain) as Partial<WireBundle>;
    } catch {
      return reject('the plaintext is not JSON');
    }
    if (typeof w !== 'object' || w === null || w.v !== 1) reject('unknown version');
    if (w.subject !== this.subject) reject('it names another subject');
    const bundle = {
      certPem: w.certPem,
      keyPem: w.keyPem,
      ...(w.caPem === undefined ? {} : { caPem: w.caPem }),
      ...(w.crlPem === undefined ? {} : { crlPem: w.crlPem }),
      issuedAt: w.issuedAt,
      origin: w.origin,
    } as EdgeCertificateBundle;
    const problem = checkBundle(bundle);
    if (problem !== undefined) reject(problem);
    if (bundle.issuedAt > Date.now() + MAX_FUTURE_MS) reject(`issued ${new Date(bundle.issuedAt).toISOString()}, more than 10 minutes ahead of this instance's clock`);
    return bundle;
  }
}

/** Shape and bounds of a bundle; the reason it is unusable, or undefined. */
function checkBundle(b: EdgeCertificateBundle): string | undefined {
  const L = EDGE_BUNDLE_LIMITS;
  if (typeof b.certPem !== 'string' || b.certPem.length === 0 || b.certPem.length > L.certPem) return `certPem must be a PEM string of at most ${L.certPem} characters`;
  if (typeof b.keyPem !== 'string' || b.keyPem.length === 0 || b.keyPem.length > L.keyPem) return `keyPem must be a PEM string of at most ${L.keyPem} characters`;
  if (b.caPem !== undefined && (typeof b.caPem !== 'string' || b.caPem.length === 0 || b.caPem.length > L.caPem)) return `caPem must be a PEM string of at most ${L.caPem} characters`;
  if (b.crlPem !== undefined && (typeof b.crlPem !== 'string' || b.crlPem.length === 0 || b.crlPem.length > L.crlPem)) return `crlPem must be a PEM string of at most ${L.crlPem} characters`;
  if (typeof b.issuedAt !== 'number' || !Number.isSafeInteger(b.issuedAt) || b.issuedAt <= 0) return 'issuedAt must be a positive integer (Unix ms)';
  if (typeof b.origin !== 'string' || b.origin.length === 0 || b.origin.length > L.origin || !/^[ -~]+$/.test(b.origin)) return `origin must be 1-${L.origin} printable ASCII characters`;
  return undefined;
}
