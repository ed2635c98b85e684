// A fleet of gateway processes started from one config object: each instance gets its own
// listeners (port 0: the OS picks a free port for each), its own config file and, when the config
// is a function, its own values (state directory, instance id...). start-up waits until every
// instance listens and answers /readyz; if one fails to start, every instance already started is
// stopped before the error is thrown. For the fleet tests in tests/e2e.
import { request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GatewayConfigInput } from '@wxseal/gateway';
import { spawnGateway, type GatewayProcess } from './gateway-process.js';
import { writeYaml } from './gateway.js';

export interface FleetOptions {
  /** The config of every instance, or a function of the instance's index (0-based). Its listeners are forced to port 0. */
  config: GatewayConfigInput | ((index: number) => GatewayConfigInput);
  /** Instances (default 3). */
  count?: number;
  /** Where the config files are written (relative paths in the config are resolved from it). Default: a new temporary directory. */
  dir?: string;
  /** Extra environment of every instance. */
  env?: Record<string, string>;
  /** Start the instances one after the other (default) or all at once. */
  sequential?: boolean;
  /** Bound on each instance's start and on its first 200 from /readyz (default 120 000 ms: a guard against a hang). */
  readyMs?: number;
  /** Wait for /readyz to answer 200 (default true). */
  waitReady?: boolean;
}

export interface Fleet {
  /** Public URL of each instance, in order. */
  urls: string[];
  /** Admin listener URL of each instance, in order. */
  adminUrls: string[];
  instances: GatewayProcess[];
  dir: string;
  /** Stops every instance (SIGTERM, then SIGKILL past the drain); safe to call twice. */
  stop(): Promise<void>;
}

function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function waitReady(gw: GatewayProcess, index: number, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    if ((await status(`${gw.adminUrl}/readyz`)) === 200) return;
    if (gw.child.exitCode !== null || gw.child.signalCode !== null) throw new Error(`fleet instance ${index + 1} exited before it was ready; stderr: ${gw.stderr()}`);
    if (performance.now() > deadline) throw new Error(`fleet instance ${index + 1} not ready within ${ms} ms; stderr: ${gw.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts the fleet; on any failure stops what it started and rethrows. */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const count = options.count ?? 3;
  const readyMs = options.readyMs ?? 120_000;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'wxseal-fleet-'));
  const instances: GatewayProcess[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= Promise.all(instances.map((g) => g.kill())).then(() => undefined));
  const files = Array.from({ length: count }, (_, i) => {
    const base = typeof options.config === 'function' ? options.config(i) : options.config;
    const listeners = { ...base.listeners, public: { ...base.listeners?.public, host: base.listeners?.public?.host ?? '127.0.0.1', port: 0 } } as GatewayConfigInput['listeners'];
    if (base.listeners?.admin !== undefined) Object.assign(listeners!, { admin: { ...base.listeners.admin, port: 0 } });
    return writeYaml(dir, `fleet-gateway-${i + 1}.yaml`, { ...base, listeners });
  });
  const startOne = async (file: string, i: number): Promise<void> => {
    const gw = await spawnGateway(file, options.env, readyMs);
    instances[i] = gw;
    if (options.waitReady !== false) await waitReady(gw, i, readyMs);
  };
  try {
    if (options.sequential === false) {
      const results = await Promise.allSettled(files.map((f, i) => startOne(f, i)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } else {
      for (const [i, f] of files.entries()) await startOne(f, i);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { urls: instances.map((g) => g.url), adminUrls: instances.map((g) => g.adminUrl), instances, dir, stop };
}
