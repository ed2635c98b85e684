// Redis for the token tests: the shared server on 127.0.0.1:6379 (a test fails, never skips, if
// it is unreachable), unique key prefixes with cleanup, and a private redis-server the tests may kill.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';

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

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function ping(port: number, timeoutMs = 200): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, timeoutMs);
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
  });
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
  let child: ChildProcess | undefined = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const spawnError = new Promise<Error>((resolve) => child!.once('error', resolve));
  const deadline = Date.now() + 5000;
  for (;;) {
    if (await ping(port)) break;
    const err = await Promise.race([spawnError, sleep(50).then(() => undefined)]);
    if (err) throw new Error(`cannot start redis-server (is it installed?): ${err.message}`);
    if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}`);
  }
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on('error', () => undefined);
  await client.ping();
  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await exited;
  };
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
