// What the Redis and etcd stores share: the store's interface, its messages and options, the
// deadline every operation runs under, and the checks of subjects and payload sizes.
import { withTimeout } from '@wxseal/support';
import { errorText } from '@wxseal/protocol/errors';
import type { SyncErrorFactory } from './errors.js';

/**
 * A message from the store: a subject's published payload (what `read` would now return), or a
 * signal another instance sent about a subject (WeChat Pay: "an unknown serial, please refresh").
 */
export type SyncMessage = { type: 'payload'; subject: string; payload: string } | { type: 'signal'; subject: string; data: string };

/**
 * The fleet's shared store. A subject is any string of `SUBJECT_PATTERN` (a merchant id, "edge:public")
 * naming one piece of material, its leader and its signals. Every operation runs under the store's
 * deadline and fails with the factory's `unavailable` error (never hangs).
 */
export interface SyncStore {
  readonly kind: 'redis' | 'etcd';
  /** Random per store: what a leader key holds. */
  readonly instanceId: string;
  /**
   * Subscribes to every subject's payloads and signals under the prefix. Resolves once subscribed;
   * rejects with `unavailable` when the store does not answer in time (the client keeps trying in
   * the background, and messages flow once it connects). `onMessage` never throws into the client.
   */
  start(onMessage: (msg: SyncMessage) => void, onError: (err: unknown) => void): Promise<void>;
  /** Acquires or renews leadership of a subject; true while this instance leads. */
  campaign(subject: string): Promise<boolean>;
  /** Gives leadership up (only when this instance holds it). */
  resign(subject: string): Promise<void>;
  /** Stores the subject's payload and notifies the subscribers. */
  publish(subject: string, payload: string): Promise<void>;
  /** The subject's current payload (undefined when none was published). */
  read(subject: string): Promise<string | undefined>;
  /** Sends a signal about a subject to the subscribers (WeChat Pay's refresh request). */
  signal(subject: string, data: string): Promise<void>;
  /** Stops the subscription, revokes the lease, and closes the clients the store opened itself. */
  close(): Promise<void>;
}

export interface CommonStoreOptions {
  /**
   * Namespace of every key and channel of the store. Users keep theirs apart (WeChat Pay:
   * `wxseal:wechatpay:certs:` / `wxseal/wechatpay/certs/`).
   */
  prefix: string;
  /** Deadline of each operation (ms; default 2000; subscribing gets twice this). */
  opTimeoutMs?: number;
  /** Largest payload or signal accepted or sent (bytes of UTF-8; default 1 MiB). */
  maxPayloadBytes?: number;
  /** Builds the errors the store raises (default: FleetSyncError with FLEET_SYNC_ codes). */
  errors?: SyncErrorFactory;
}

/** Subjects: 1-128 characters, no whitespace or separators that would mix keys up. */
export const SUBJECT_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

export const DEFAULT_OP_TIMEOUT_MS = 2_000;
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** The settings both stores resolve from their options. */
export class StoreSettings {
  readonly prefix: string;
  readonly timeoutMs: number;
  readonly maxPayloadBytes: number;
  readonly errors: SyncErrorFactory;

  constructor(options: CommonStoreOptions, errors: SyncErrorFactory) {
    this.errors = options.errors ?? errors;
    if (typeof options.prefix !== 'string' || options.prefix.length === 0 || options.prefix.length > 256 || /\s/.test(options.prefix)) {
      throw this.errors('config', 'prefix must be 1-256 characters without whitespace');
    }
    this.prefix = options.prefix;
    this.timeoutMs = positiveInt(options.opTimeoutMs ?? DEFAULT_OP_TIMEOUT_MS, 'opTimeoutMs', this.errors);
    this.maxPayloadBytes = positiveInt(options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES, 'maxPayloadBytes', this.errors);
  }

  /**
   * Runs a store operation under the deadline: a timeout or a failure of the store becomes the
   * factory's `unavailable` error (the original as its cause). Unref'd: background sync must not
   * hold a closing process open.
   */
  async run<T>(what: string, op: () => PromiseLike<T> | T, ms = this.timeoutMs): Promise<T> {
    let late: Error | undefined;
    try {
      return await withTimeout(op, ms, () => (late = this.errors('unavailable', `${what} did not answer within ${ms} ms`)), { unref: true });
    } catch (err) {
      if (err === late) throw err;
      throw this.errors('unavailable', `${what} failed: ${errorText(err)}`, { cause: err });
    }
  }

  subject(subject: string): string {
    if (typeof subject !== 'string' || !SUBJECT_PATTERN.test(subject)) throw this.errors('config', 'a subject must be 1-128 characters of A-Z a-z 0-9 . _ : @ -');
    return subject;
  }

  /** Refuses a payload or signal larger than the bound before it reaches the store. */
  outgoing(what: string, text: string): string {
    if (typeof text !== 'string') throw this.errors('rejected', `${what} must be a string`);
    if (Buffer.byteLength(text, 'utf8') > this.maxPayloadBytes) throw this.errors('rejected', `${what} is larger than ${this.maxPayloadBytes} bytes`);
    return text;
  }

  /** Whether something read from the store is within the bound (UTF-16 length ≤ bytes, so cheap first). */
  fits(text: string): boolean {
    return text.length <= this.maxPayloadBytes && Buffer.byteLength(text, 'utf8') <= this.maxPayloadBytes;
  }
}

function positiveInt(value: number, name: string, errors: SyncErrorFactory): number {
  if (!Number.isInteger(value) || value <= 0 || value > 3_600_000 * 24) throw errors('config', `${name} must be a positive integer`);
  return value;
}

/**
 * Reports store errors once per outage: a client that retries every second would otherwise raise
 * the same alarm each time. `recovered()` re-arms it.
 */
export class OutageReporter {
  #reported = false;
  constructor(private readonly report: (err: unknown) => void) {}

  error(err: unknown): void {
    if (this.#reported) return;
    this.#reported = true;
    this.report(err);
  }

  recovered(): void {
    this.#reported = false;
  }
}

/** Calls a user callback without letting it throw into a client's event loop. */
export function safely(run: () => void, onError: (err: unknown) => void): void {
  try {
    run();
  } catch (err) {
    try {
      onError(err);
    } catch {
      /* the error callback itself failed: nothing left to tell */
    }
  }
}
