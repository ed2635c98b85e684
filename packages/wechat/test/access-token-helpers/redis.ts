// Redis for the token tests: the shared server on 127.0.0.1:6379 (a test fails, never skips, if
// it is unreachable), unique key prefixes with cleanup, and a private redis-server the tests may kill.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { freePort, redisServerProcess } from '../../../../tests/support/net.js';

export { freePort };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A connected client to the shared Redis on 6379; rejects (the test fails) if it is not there. */
export async function sharedRedis(): Promise<Redis> {
  const client = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    client.disconnect();
    throw new Error(`Redis at 127.0.0.1:6379 is required by the access_token tests and is unreachable: ${String(e)}`);
  }
  return client;
}

export function uniquePrefix(): string {
  return `wxseal:test:at:${process.pid}:${randomBytes(6).toString('hex')}:`;
}

export async function deletePrefix(client: Redis, prefix: string): Promise<void> {
  const keys = await client.keys(`${prefix}*`);
  if (keys.length > 0) await client.del(...keys);
}

export interface PrivateRedis {
  port: number;
  /** A client that keeps trying to reconnect (as production clients do) after the server dies. */
  client: Redis;
  kill(): Promise<void>;
  close(): Promise<void>;
}

/** Starts `redis-server --port N --save '' --appendonly no` on a free port (never touches 6379). */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const server = redisServerProcess(port);
  await server.start();
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on('error', () => undefined);
  await client.ping();
  const kill = () => server.stop('SIGKILL');
  return {
    port,
    client,
    kill,
    close: async () => {
      client.disconnect();
      await kill();
    },
  };
}
