// Pieces of the Redis loss / Sentinel / Cluster fleet tests: private redis-server processes (own
// ports, own temp dirs, tracked for cleanup from spawn), a TCP proxy that records every request's
// raw wire bytes and the status it got, a load of real @wxseal/client requests through it, and the
// replay of recorded bytes straight to a gateway.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { WxsealClient } from '@wxseal/client';
import { startGateway, type GatewayConfigInput, type RunningGateway } from '@wxseal/gateway';
import { baseConfig, captureLogger, clientFor, startUpstream, type TestKeys, type Upstream } from '../support/gateway.js';
import { pingRedis } from '../support/net.js';
import { spawnTracked, stopProcess } from '../support/processes.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it is true, at most `ms` (a condition wait). */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await sleep(25);
  }
}

/** A free port whose +10000 (a Cluster node's bus port) is free too, below 55536. */
export async function freeClusterPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await portFree(port)) && (await portFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export interface RedisNode {
  readonly port: number;
  readonly dir: string;
  /** Starts the process (again) and waits until it answers PING (a Sentinel answers PING too). */
  start(): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
  readonly running: boolean;
}

/**
 * A private redis-server (or Sentinel, with `sentinel: true`) on `port`, its config file and data in
 * a temp dir of its own (a Sentinel rewrites its config). No persistence unless `extra` asks for it.
 */
export function redisNode(port: number, lines: readonly string[], options: { sentinel?: boolean } = {}): RedisNode {
  const dir = mkdtempSync(join(tmpdir(), 'wxseal-redis-'));
  const conf = join(dir, options.sentinel ? 'sentinel.conf' : 'redis.conf');
  const base = [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'daemonize no', 'protected-mode no'];
  const persistence = options.sentinel ? [] : ['save ""', 'appendonly no'];
  writeFileSync(conf, [...base, ...persistence, ...lines, ''].join('\n'));
  let child: ChildProcess | undefined;
  return {
    port,
    dir,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      const c = spawnTracked('redis-server', options.sentinel ? [conf, '--sentinel'] : [conf], { stdio: 'ignore' });
      child = c;
      const failed = new Promise<Error>((resolve) => c.once('error', resolve));
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (await pingRedis(port)) return;
        const err = await Promise.race([failed, sleep(25).then(() => undefined)]);
        if (err) throw new Error(`cannot start redis-server (install it: npm run services): ${err.message}`);
        if (Date.now() > deadline || c.exitCode !== null) throw new Error(`redis-server did not start on port ${port}`);
      }
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const c = child;
      child = undefined;
      if (c) await stopProcess(c, signal);
    },
  };
}

/** Stops every node and removes its temp dir; never throws (for `after`/`finally`). */
export async function cleanUp(nodes: readonly RedisNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop('SIGKILL').catch(() => undefined)));
  for (const n of nodes) rmSync(n.dir, { recursive: true, force: true });
}

/** One request as it went over the wire, and what the gateway answered. */
export interface Recorded {
  readonly bytes: Buffer;
  /** HTTP status of the answer (0: none came). */
  status: number;
  /** Wxseal-Error of the answer, if any. */
  error: string | undefined;
  readonly sentAt: number;
  answeredAt: number;
  readonly nonce: string;
  readonly keyId: string;
}

/**
 * A TCP proxy in front of the gateway that records each connection's request bytes (the client
 * sends one request per connection: keep-alive off) and the status line of the answer.
 */
export class RecordingProxy {
  readonly records: Recorded[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: number) {
    this.#server = createServer((client) => this.#handle(client));
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.port = (this.#server.address() as AddressInfo).port;
    return `http://127.0.0.1:${this.port}`;
  }

  #handle(client: Socket): void {
    const chunks: Buffer[] = [];
    const answer: Buffer[] = [];
    const sentAt = Date.now();
    const upstream = createConnection({ host: '127.0.0.1', port: this.target });
    this.#sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => {
      chunks.push(d);
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      answer.push(d);
      client.write(d);
    });
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
      const bytes = Buffer.concat(chunks);
      if (bytes.length === 0) return;
      const parsed = parseAnswer(Buffer.concat(answer));
      const head = bytes.toString('latin1');
      this.records.push({
        bytes,
        status: parsed.status,
        error: parsed.error,
        sentAt,
        answeredAt: Date.now(),
        nonce: /\r\nwxseal-nonce: ([^\r]+)/i.exec(head)?.[1] ?? '',
        keyId: /\r\nwxseal-key-id: ([^\r]+)/i.exec(head)?.[1] ?? '',
      });
    };
    client.once('close', done);
    upstream.once('close', () => client.end());
    client.on('error', () => undefined);
    upstream.on('error', () => client.destroy());
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

function parseAnswer(raw: Buffer): { status: number; error: string | undefined } {
  const head = raw.toString('latin1');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
  const error = /\r\nwxseal-error: ([^\r]+)/i.exec(head)?.[1];
  return { status, error };
}

/** Sends recorded request bytes straight to the gateway on a new connection; the answer's status and code. */
export function replay(port: number, bytes: Buffer): Promise<{ status: number; error: string | undefined }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = createConnection({ host: '127.0.0.1', port }, () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no answer to a replay within 10 s'));
    }, 10_000);
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      // The head is enough: status and Wxseal-Error.
      if (Buffer.concat(chunks).includes('\r\n\r\n')) {
        clearTimeout(timer);
        s.destroy();
        resolve(parseAnswer(Buffer.concat(chunks)));
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** `workers` loops of POSTs through `client` until stopped; failures are expected (Redis goes away). */
export function startLoad(client: WxsealClient, workers = 4): { stop(): Promise<void>; sent(): number } {
  let running = true;
  let sent = 0;
  const loops = Array.from({ length: workers }, async (_, w) => {
    while (running) {
      sent++;
      await client.post('/api/orders', { json: { w, n: sent } }).catch(() => undefined);
      await sleep(5);
    }
  });
  return {
    sent: () => sent,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

export const accepted = (r: Recorded): boolean => r.status === 200 && r.error === undefined;

/** `status code` → how many, as one line ("503 WXSEAL_NONCE_STORE_RESET: 35, 401 …"). */
export function countCodes(answers: ReadonlyArray<{ status: number; error: string | undefined }>): string {
  const byCode = new Map<string, number>();
  for (const a of answers) byCode.set(`${a.status} ${a.error ?? '-'}`, (byCode.get(`${a.status} ${a.error ?? '-'}`) ?? 0) + 1);
  return [...byCode].map(([k, n]) => `${k}: ${n}`).join(', ');
}

/**
 * Replays every recorded request straight to the gateway and checks the one rule of these tests:
 * none is accepted again, each is refused as lost (RESET) or as a replay. Returns a summary line.
 */
export async function replayAllRefused(gatewayPort: number, records: readonly Recorded[], options: { resetExpected?: boolean } = {}): Promise<string> {
  const verdicts = await Promise.all(records.map((r) => replay(gatewayPort, r.bytes)));
  const acceptedAgain = verdicts.filter((v) => v.status === 200 && v.error === undefined).length;
  const summary = `replayed ${records.length}: ${acceptedAgain} accepted again; ${countCodes(verdicts)}`;
  assert.equal(acceptedAgain, 0, `no replay accepted (${summary})`);
  for (const v of verdicts) {
    assert.ok(
      (v.status === 503 && v.error === 'WXSEAL_NONCE_STORE_RESET') || (v.status === 401 && v.error === 'WXSEAL_REPLAYED_NONCE'),
      `refused with the loss code or as a replay, not ${v.status} ${v.error}`,
    );
  }
  if (options.resetExpected) assert.ok(verdicts.some((v) => v.error === 'WXSEAL_NONCE_STORE_RESET'), 'the loss code is what refuses them');
  return summary;
}

/** Admin connections to private Redis nodes, closed together in `after`. */
export class RedisAdmins {
  readonly #open = new Set<Redis>();

  connect(port: number): Redis {
    const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => 100, disconnectTimeout: 50 });
    c.on('error', () => undefined); // nodes are killed on purpose
    this.#open.add(c);
    return c;
  }

  /** Runs `fn` on a connection of its own, closed afterwards (for polling). */
  async once<T>(port: number, fn: (c: Redis) => Promise<T>): Promise<T> {
    const c = this.connect(port);
    try {
      return await fn(c);
    } finally {
      c.disconnect();
      this.#open.delete(c);
    }
  }

  disconnectAll(): void {
    for (const c of this.#open) c.disconnect();
    this.#open.clear();
  }
}

/**
 * One test's fleet pieces: its Redis nodes, admin connections, an upstream, a gateway on the given
 * nonce store, a recording proxy in front of it and a client load through the proxy. `close()`
 * stops all of it (for `after`, also when start-up failed half-way).
 */
export class RedisFleetRun {
  readonly nodes: RedisNode[] = [];
  readonly admins = new RedisAdmins();
  readonly logs = captureLogger();
  #upstream: Upstream | undefined;
  #gateway: RunningGateway | undefined;
  #proxy: RecordingProxy | undefined;
  #client: WxsealClient | undefined;
  #load: ReturnType<typeof startLoad> | undefined;

  constructor(readonly keys: TestKeys) {}

  /** Starts the gateway and the load; answers what the test drives. */
  async start(nonceStore: GatewayConfigInput['nonceStore']): Promise<{ gateway: RunningGateway; gatewayPort: number; proxy: RecordingProxy; client: WxsealClient; load: ReturnType<typeof startLoad> }> {
    this.#upstream = await startUpstream();
    const gateway = await startGateway(baseConfig(this.keys, this.#upstream.url, { nonceStore }), { logger: this.logs.logger });
    this.#gateway = gateway;
    const gatewayPort = Number(new URL(gateway.url).port);
    const proxy = new RecordingProxy(gatewayPort);
    this.#proxy = proxy;
    // One request per connection, so the proxy sees each request's bytes alone.
    const client = clientFor(this.keys, await proxy.listen(), { agent: { keepAlive: false } });
    this.#client = client;
    const load = startLoad(client);
    this.#load = load;
    return { gateway, gatewayPort, proxy, client, load };
  }

  async close(): Promise<void> {
    await this.#load?.stop();
    this.#client?.close();
    this.admins.disconnectAll();
    await this.#proxy?.close();
    await this.#gateway?.close();
    await this.#upstream?.close();
    await cleanUp(this.nodes);
  }
}
