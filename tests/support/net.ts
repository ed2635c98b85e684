// Network stand-ins shared by the test suites of every package: a free port, a server that
// accepts connections and never answers (a dependency that hangs rather than fails), and a
// private redis-server a test may stop and start (never the shared one on 6379).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { spawnTracked, stopProcess } from './processes.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A TCP server that accepts connections and never answers (a database that is hung, not down). */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** True when a Redis server answers PING on 127.0.0.1:`port` within `timeoutMs`. */
export function pingRedis(port: number, timeoutMs = 200): Promise<boolean> {
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

export interface RedisProcess {
  port: number;
  /** Starts redis-server (no persistence) and waits until it answers; throws when it is not installed. */
  start(): Promise<void>;
  /** Stops it (SIGTERM by default, SIGKILL to simulate a crash) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** A private redis-server on `port` that the test controls. */
export function redisServerProcess(port: number): RedisProcess {
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  return {
    port,
    async start() {
      // Registered for cleanup at spawn: a start that fails or times out leaves nothing running.
      // A directory of its own: a replica writes the RDB of its full sync there, never into the checkout.
      dir ??= mkdtempSync(join(tmpdir(), 'wxseal-redis-'));
      const c = spawnTracked('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
      child = c;
      const spawnError = new Promise<Error>((resolve) => c.once('error', resolve));
      // A guard against a hang, generous for a machine whose cores are busy.
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (await pingRedis(port)) return;
        const err = await Promise.race([spawnError, sleep(50).then(() => undefined)]);
        if (err) throw new Error(`cannot start redis-server (install it: npm run services): ${err.message}`);
        if (Date.now() > deadline || c.exitCode !== null) {
          child = undefined;
          await stopProcess(c, 'SIGKILL');
          throw new Error(`redis-server did not start on port ${port}`);
        }
      }
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const c = child;
      child = undefined;
      if (c) await stopProcess(c, signal);
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    },
  };
}
