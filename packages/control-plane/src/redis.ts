import { Redis, type RedisOptions } from 'ioredis';
import { invalidInput } from './errors.js';
import type { ChangeNotifier } from './store.js';

/** Connection settings shared by the publishing and the subscribing side: bounded, reconnecting. */
export function redisOptions(connectTimeoutMs: number): RedisOptions {
  return {
    lazyConnect: false,
    connectTimeout: connectTimeoutMs,
    maxRetriesPerRequest: 1,
    // Reconnect quickly but not in a tight loop; the version check covers the gap.
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 5), 1_000),
    enableOfflineQueue: true,
  };
}

export function checkChannel(channel: unknown): string {
  if (typeof channel !== 'string' || channel.length === 0 || channel.length > 256) return invalidInput('a Redis channel is 1-256 characters');
  return channel;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export interface RedisChangeNotifierOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  channel: string;
  /** Told about every failed publication (the change itself is committed; polling catches it). Must not throw. */
  onError?: (err: unknown) => void;
  /** Bound on one PUBLISH, queueing while (re)connecting included (ms, default 500). */
  timeoutMs?: number;
}

/**
 * Announces each committed change with `PUBLISH <channel> <version>`. A publication that fails or
 * takes longer than `timeoutMs` rejects (after onError); ControlPlaneStore ignores the rejection,
 * because every instance's periodic version check finds the change anyway.
 */
export function redisChangeNotifier(options: RedisChangeNotifierOptions): ChangeNotifier {
  const channel = checkChannel(options.channel);
  const timeoutMs = options.timeoutMs ?? 500;
  const onError = options.onError ?? (() => undefined);
  const redis = new Redis(options.url, redisOptions(Math.max(timeoutMs, 1_000)));
  // Connection errors are reported through onError on publication; the 'error' event must be handled.
  redis.on('error', () => undefined);
  let closed = false;
  return {
    async notify(version: number): Promise<void> {
      if (closed) return;
      try {
        await withTimeout(redis.publish(channel, String(version)), timeoutMs, 'Redis PUBLISH');
      } catch (err) {
        onError(err);
        throw err;
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      try {
        await withTimeout(redis.quit(), 1_000, 'Redis QUIT');
      } catch {
        redis.disconnect();
      }
    },
  };
}
