/**
 * `wxseal gateway --workers N`: one gateway on every core, with node:cluster.
 *
 * The primary serves no request. It forks N workers (worker 1 first, alone, so the SQLite
 * migrations of the control plane and the device registry run once; then the others together);
 * each worker is a whole gateway (startGateway) and all of them accept on the one public port
 * (cluster round-robin). Worker 1 is the admin worker: it alone opens the admin listener (admin
 * API, console, /metrics, /readyz, /healthz) and is the gateway's instance in the control plane
 * (heartbeat). It answers for the whole gateway through the primary, over the cluster's IPC channel:
 * /metrics is every worker's registry merged by prom-client's AggregatorRegistry; the admin stats
 * are every worker's mergeable snapshot (admin/stats.ts) merged. The admin listener stays in a
 * worker, not in the primary, because the admin API needs the gateway's own parts (control plane,
 * credentials, device registry): a primary holding them would be a second gateway that serves no
 * traffic.
 *
 * Signals go to the primary: SIGHUP checks the config file there (an invalid one is reported and
 * no worker reloads: the old config stays everywhere), then every worker reloads; SIGTERM/SIGINT
 * drain every worker (each within shutdown.drainTimeoutMs) and the primary exits 0 once they all
 * stopped cleanly. A worker that exits unexpectedly is replaced, at most RESTART_LIMIT times per
 * slot within RESTART_WINDOW_MS; past that the gateway stops (exit 1) for its supervisor to act.
 *
 * What a worker keeps for itself: the memory nonce store (so N > 1 is refused with it), the session
 * key cache, the device cache (kept coherent by the change feed), the activation rate limits (N
 * workers admit up to N times the rate). Shared: the nonce store in Redis, the control plane and the
 * device registry (SQLite in WAL mode with a busy timeout, or a server database).
 */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { loadGatewayConfig, type GatewayConfig } from './config.js';
import { GatewayConfigError, type ConfigIssue } from './errors.js';
import { errSummary, gatewayLogger } from './logger.js';
import { mergeStatsSnapshots, statsSnapshotSchema, type LiveStats, type StatsSnapshot, type StatsSource } from './admin/stats.js';

/** The environment variable that tells a cluster worker its slot (1 = the admin worker). */
export const WORKER_ENV = 'WXSEAL_GATEWAY_WORKER';
/** Restarts of one worker slot allowed within RESTART_WINDOW_MS before the gateway gives up. */
export const RESTART_LIMIT = 5;
export const RESTART_WINDOW_MS = 60_000;
/** The bound on one IPC question (stats, metrics) to a worker: a busy or dying worker is left out. */
const ASK_TIMEOUT_MS = 2_000;
/** A reload reads the config and builds the verifier state: generous. */
const RELOAD_TIMEOUT_MS = 30_000;
/** Past shutdown.drainTimeoutMs plus this, a worker still running is killed (closing pools and stores took too long). */
const STOP_GRACE_MS = 10_000;

/**
 * The default `--workers`: every core the process may use — the CPUs it may run on, capped by a
 * container's CPU quota (Node counts the host's CPUs: a pod limited to 2 CPUs on a 64-core node
 * would otherwise fork 64 workers that share 2 CPUs of time).
 */
export function defaultWorkerCount(readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): number {
  const cpus = availableParallelism();
  const quota = cgroupCpuQuota(readFile);
  return quota === undefined ? cpus : Math.max(1, Math.min(cpus, Math.ceil(quota)));
}

/** CPUs of time per second the cgroup allows (cgroup v2 cpu.max, else v1 cfs quota/period), or undefined without a limit. */
export function cgroupCpuQuota(readFile: (path: string) => string): number | undefined {
  const ratio = (quota: number, period: number): number | undefined => (Number.isFinite(quota) && Number.isFinite(period) && quota > 0 && period > 0 ? quota / period : undefined);
  try {
    const [quota, period] = readFile('/sys/fs/cgroup/cpu.max').trim().split(/\s+/);
    return quota === 'max' ? undefined : ratio(Number(quota), Number(period));
  } catch {
    // Not cgroup v2 (or no limit file): try v1.
  }
  try {
    return ratio(Number(readFile('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').trim()), Number(readFile('/sys/fs/cgroup/cpu/cpu.cfs_period_us').trim()));
  } catch {
    return undefined;
  }
}

/**
 * What `--workers N` cannot run with, each naming the setting: the memory nonce store is per
 * process, so a request accepted by one worker could be replayed to another.
 */
export function workerIssues(config: GatewayConfig, workers: number): ConfigIssue[] {
  if (workers <= 1) return [];
  if (config.nonceStore.type === 'memory') {
    return [{ path: 'nonceStore.type', message: `the memory nonce store is per process: with --workers ${workers} a request accepted by one worker could be replayed to another (use redis, or --workers 1)` }];
  }
  return [];
}

// --- IPC: requests and replies over the cluster channel ------------------------------------------

type Kind = 'stats' | 'metrics' | 'reload' | 'drain';
type Message =
  | { wxseal: 'ready' }
  | { wxseal: 'ask'; id: number; kind: Kind }
  | { wxseal: 'answer'; id: number; ok: true; value: unknown }
  | { wxseal: 'answer'; id: number; ok: false; error: string };

function isMessage(m: unknown): m is Message {
  return typeof m === 'object' && m !== null && typeof (m as { wxseal?: unknown }).wxseal === 'string';
}

/** No answer within the bound (the other end is busy or hung; a closed channel fails otherwise). */
class AskTimeout extends Error {}

/** One end of the channel: asks with a bounded wait, answers what it serves. */
class Channel {
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  readonly #served = new Map<Kind, () => unknown>();

  /** `send` reports a failed send (a channel closing under it) to its callback, never by throwing or an 'error' event. */
  constructor(private readonly send: (m: Message, failed: (err: Error) => void) => void) {}

  serve(kind: Kind, answer: () => unknown): void {
    this.#served.set(kind, answer);
  }

  ask(kind: Kind, timeoutMs: number): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new AskTimeout(`no answer to ${kind} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.send({ wxseal: 'ask', id, kind }, (err) => {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(err);
      });
    });
  }

  /** Fails every question still waiting (the other end is gone). */
  abandon(reason: string): void {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(new Error(reason));
    }
  }

  /** Handles a message from the other end; false when it is not one of ours. */
  receive(m: unknown): boolean {
    if (!isMessage(m)) return false;
    if (m.wxseal === 'answer') {
      const p = this.#pending.get(m.id);
      if (!p) return true;
      this.#pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.error));
      return true;
    }
    if (m.wxseal === 'ask') {
      const answer = this.#served.get(m.kind);
      // When the other end is gone there is no one to answer.
      const reply = (r: Message): void => this.send(r, () => undefined);
      if (!answer) {
        reply({ wxseal: 'answer', id: m.id, ok: false, error: `${m.kind} is not served here` });
        return true;
      }
      Promise.resolve()
        .then(answer)
        .then(
          (value) => reply({ wxseal: 'answer', id: m.id, ok: true, value }),
          (err: unknown) => reply({ wxseal: 'answer', id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
        );
      return true;
    }
    return false;
  }
}

// --- The worker's side ---------------------------------------------------------------------------

/** This process as worker `id` of a `--workers N` gateway (undefined outside one). */
export class ClusterMember {
  readonly #channel: Channel;

  private constructor(readonly id: number) {
    this.#channel = new Channel((m, failed) => sendFrom(process, m, failed));
    process.on('message', (m) => this.#channel.receive(m));
    process.on('disconnect', () => this.#channel.abandon('the primary is gone'));
  }

  /** The member this process is, when the primary forked it; undefined otherwise. */
  static current(env: Readonly<Record<string, string | undefined>> = process.env): ClusterMember | undefined {
    if (!cluster.isWorker || process.send === undefined) return undefined;
    const id = Number(env[WORKER_ENV]);
    if (!Number.isInteger(id) || id < 1) return undefined;
    member ??= new ClusterMember(id);
    return member;
  }

  /** Worker 1 opens the admin listener and is the gateway's instance in the control plane. */
  get admin(): boolean {
    return this.id === 1;
  }

  /** Wires a gateway in: its metrics and stats for the primary, and the primary's reloads. */
  attach(parts: { registry: Registry; stats: LiveStats | undefined; reload: () => Promise<void> }): void {
    this.#channel.serve('metrics', () => parts.registry.getMetricsAsJSON());
    this.#channel.serve('stats', () => parts.stats?.snapshot() ?? null);
    this.#channel.serve('reload', async () => {
      await parts.reload();
      return true;
    });
  }

  /** What the primary's drain does here (the same as SIGTERM). */
  onDrain(drain: () => void): void {
    this.#channel.serve('drain', () => {
      drain();
      return true;
    });
  }

  /** Tells the primary this worker listens. */
  ready(): void {
    sendFrom(process, { wxseal: 'ready' }, () => undefined);
  }

  /** The whole gateway's metrics, in the Prometheus text format (merged in the primary). */
  async metrics(): Promise<string> {
    return String(await this.#channel.ask('metrics', ASK_TIMEOUT_MS * 2));
  }

  /** The other workers' stats snapshots (those that answered in time). */
  async peerStats(): Promise<StatsSnapshot[]> {
    const value = await this.#channel.ask('stats', ASK_TIMEOUT_MS * 2);
    if (!Array.isArray(value)) return [];
    return value.flatMap((v) => {
      const parsed = statsSnapshotSchema.safeParse(v);
      return parsed.success ? [parsed.data] : [];
    });
  }

  /**
   * The admin worker's stats: its own counters and the other workers' merged, always fresh for the
   * admin API; the heartbeat (synchronous) gets the other workers' last answer, refreshed each beat.
   */
  statsSource(own: LiveStats, onError: (err: unknown) => void): StatsSource & { cached(): StatsSnapshot } {
    let peers: StatsSnapshot[] = [];
    let refreshing = false;
    const merged = (others: StatsSnapshot[]): StatsSnapshot => mergeStatsSnapshots([own.snapshot(), ...others]);
    return {
      snapshot: async () => {
        try {
          peers = await this.peerStats();
        } catch (err) {
          onError(err);
        }
        return merged(peers);
      },
      cached: () => {
        if (!refreshing) {
          refreshing = true;
          this.peerStats()
            .then((p) => (peers = p), onError)
            .finally(() => (refreshing = false));
        }
        return merged(peers);
      },
    };
  }

  /** After the gateway stopped: leaves the cluster so the process can exit with its own code. */
  leave(): void {
    if (cluster.worker?.isConnected()) cluster.worker.disconnect();
  }
}
let member: ClusterMember | undefined;

/** Sends over an IPC channel; a closed channel is told to `failed` (without a callback Node would emit 'error'). */
function sendFrom(end: { send?: (m: Message, cb: (err: Error | null) => void) => boolean; connected?: boolean }, m: Message, failed: (err: Error) => void): void {
  if (!end.send || end.connected === false) return failed(new Error('the IPC channel is closed'));
  end.send(m, (err) => {
    if (err) failed(err);
  });
}

/**
 * After a worker's unexpected exit at `now`, with the slot's earlier restarts: whether to replace
 * it (at most RESTART_LIMIT within RESTART_WINDOW_MS), after what pause (none the first time, then
 * 250 ms doubling up to 10 s), and the restarts to remember. Pure.
 */
export function restartPlan(earlier: readonly number[], now: number): { replace: boolean; delayMs: number; recent: number[] } {
  const recent = [...earlier.filter((t) => now - t < RESTART_WINDOW_MS), now];
  return { replace: recent.length <= RESTART_LIMIT, delayMs: Math.min(10_000, recent.length > 1 ? 250 * 2 ** (recent.length - 2) : 0), recent };
}

// --- The primary's side --------------------------------------------------------------------------

export interface PrimaryOptions {
  /** How many workers (at least 2; with 1 run the gateway in this process instead). */
  workers: number;
  /** The config file, loaded and checked by the caller (again on SIGHUP). */
  configPath: string;
  config: GatewayConfig;
  /** Told when a second SIGTERM/SIGINT cuts the drain short. */
  onForcedExit?: (signal: NodeJS.Signals) => void;
}

interface Slot {
  id: number;
  worker: Worker;
  channel: Channel;
  ready: boolean;
  restarts: number[];
}

/**
 * Runs the primary of a `--workers N` gateway until it stops; resolves with the exit code (0 after
 * a clean drain of every worker; a worker's own code when one fails to start; 1 otherwise).
 */
export async function runGatewayPrimary(o: PrimaryOptions): Promise<number> {
  // Round-robin in the primary: the default on Linux, set so the choice is explicit (the OS's
  // accept() balancing leaves most connections to a few busy workers).
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const log = gatewayLogger(undefined, o.config.log.level).child({ worker: 0 });
  const registry = new Registry();
  const restartsTotal = new Counter({ name: 'wxseal_gateway_worker_restarts_total', help: 'Workers replaced after they exited unexpectedly', registers: [registry] });
  new Gauge({
    name: 'wxseal_gateway_workers',
    help: 'Gateway workers serving requests (wanted: --workers)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.set({ state: 'ready' }, [...slots.values()].filter((s) => s.ready).length);
      this.set({ state: 'wanted' }, o.workers);
    },
  });
  const slots = new Map<number, Slot>();
  // The drain bound in force (a reload may change it).
  let drainTimeoutMs = o.config.shutdown.drainTimeoutMs;
  let stopping = false;
  let stopSignals = 0;
  let failedCode: number | undefined;
  let settle!: (code: number) => void;
  const done = new Promise<number>((r) => (settle = r));
  const readyWaiters = new Map<number, { resolve: () => void; reject: (code: number) => void }>();
  const pendingForks = new Set<NodeJS.Timeout>();

  const peers = (except: number): Slot[] => [...slots.values()].filter((s) => s.id !== except && s.ready && s.worker.isConnected());

  const fork = (id: number, restarts: number[] = []): Slot => {
    const worker = cluster.fork({ [WORKER_ENV]: String(id) });
    const channel = new Channel((m, failed) => sendFrom(worker.process, m, failed));
    const slot: Slot = { id, worker, channel, ready: false, restarts };
    slots.set(id, slot);
    channel.serve('metrics', async () => {
      const answers = await Promise.allSettled([...slots.values()].filter((s) => s.ready && s.worker.isConnected()).map((s) => s.channel.ask('metrics', ASK_TIMEOUT_MS)));
      const parts = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value as object[]] : []));
      const missing = answers.length - parts.length;
      if (missing > 0) log.warn({ missing }, 'metrics: some workers did not answer; /metrics holds the others');
      return AggregatorRegistry.aggregate([...parts, await registry.getMetricsAsJSON()]).metrics();
    });
    channel.serve('stats', async () => {
      const answers = await Promise.allSettled(peers(id).map((s) => s.channel.ask('stats', ASK_TIMEOUT_MS)));
      return answers.flatMap((a) => (a.status === 'fulfilled' && a.value !== null ? [a.value] : []));
    });
    worker.on('message', (m: unknown) => {
      if (isMessage(m) && m.wxseal === 'ready') {
        slot.ready = true;
        if (restarts.length > 0) log.info({ slot: id, workerPid: worker.process.pid }, 'worker replaced');
        readyWaiters.get(id)?.resolve();
        return;
      }
      channel.receive(m);
    });
    worker.on('exit', (code, signal) => {
      channel.abandon('the worker exited');
      slot.ready = false;
      if (slots.get(id) === slot) slots.delete(id);
      // Only the first start waits for readiness; its failure is the start's to report.
      const starting = readyWaiters.get(id);
      starting?.reject(code ?? 1);
      if (stopping) {
        log.info({ slot: id, workerPid: worker.process.pid, code, signal }, 'worker stopped');
        if (code !== 0 && failedCode === undefined) failedCode = 1;
        if (slots.size === 0) settle(failedCode ?? 0);
        return;
      }
      if (starting) return;
      const { replace, delayMs, recent } = restartPlan(restarts, Date.now());
      if (!replace) {
        log.error({ slot: id, workerPid: worker.process.pid, code, signal, restarts: recent.length - 1, windowMs: RESTART_WINDOW_MS }, 'worker keeps exiting; stopping the gateway');
        failedCode = 1;
        stop();
        return;
      }
      restartsTotal.inc();
      log.warn({ slot: id, workerPid: worker.process.pid, code, signal }, 'worker exited unexpectedly; starting a replacement');
      // The first replacement at once; then a growing pause, so a crash loop does not spin.
      const timer = setTimeout(() => {
        pendingForks.delete(timer);
        if (!stopping) fork(id, recent);
      }, delayMs);
      pendingForks.add(timer);
    });
    return slot;
  };

  const waitReady = (id: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      readyWaiters.set(id, {
        resolve: () => {
          readyWaiters.delete(id);
          resolve();
        },
        reject: (code) => {
          readyWaiters.delete(id);
          reject(code);
        },
      });
    });

  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    for (const t of pendingForks) clearTimeout(t);
    pendingForks.clear();
    log.info({ workers: slots.size, drainTimeoutMs }, 'draining every worker');
    if (slots.size === 0) settle(failedCode ?? 0);
    setTimeout(() => {
      if (slots.size === 0) return;
      log.error({ slots: [...slots.keys()], waitedMs: drainTimeoutMs + STOP_GRACE_MS }, 'workers did not stop in time; killing them');
      for (const s of slots.values()) s.worker.process.kill('SIGKILL');
    }, drainTimeoutMs + STOP_GRACE_MS).unref();
    for (const s of slots.values()) {
      // Over IPC, not a signal: a SIGINT from the terminal reaches the workers too, and a second
      // signal would cut their drain short. SIGTERM only when the question goes unanswered (a
      // channel that closed under it belongs to a worker already leaving), or for a worker still
      // starting (no channel yet: it stops on SIGTERM once started).
      if (s.ready) s.channel.ask('drain', RELOAD_TIMEOUT_MS).catch((err: unknown) => err instanceof AskTimeout && s.worker.process.kill('SIGTERM'));
      else s.worker.process.kill('SIGTERM');
    }
  };

  const reload = async (): Promise<void> => {
    try {
      drainTimeoutMs = loadGatewayConfig(o.configPath, { profile: o.config.profile }).shutdown.drainTimeoutMs;
    } catch (err) {
      const issues = err instanceof GatewayConfigError ? err.issues : undefined;
      log.error({ err: errSummary(err), issues }, 'config reload failed; every worker keeps the current config');
      return;
    }
    const targets = [...slots.values()].filter((s) => s.ready);
    const results = await Promise.allSettled(targets.map((s) => s.channel.ask('reload', RELOAD_TIMEOUT_MS)));
    const failed = targets.filter((_, i) => results[i]!.status === 'rejected').map((s) => s.id);
    if (failed.length === 0) log.info({ slots: targets.map((s) => s.id) }, 'config reloaded in every worker');
    else log.error({ failed, slots: targets.map((s) => s.id) }, 'config reload failed in some workers; they keep their current config');
  };

  const onHup = (): void => {
    if (!stopping) void reload();
  };
  const onStop = (signal: NodeJS.Signals): void => {
    stopSignals++;
    if (stopSignals > 1) {
      o.onForcedExit?.(signal);
      for (const s of slots.values()) s.worker.process.kill('SIGKILL');
      settle(1);
      return;
    }
    stop();
  };
  process.on('SIGHUP', onHup);
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  try {
    // Worker 1 first and alone: it migrates the SQLite databases; then the rest together.
    const starting = (async () => {
      fork(1);
      await waitReady(1);
      const rest: Promise<void>[] = [];
      for (let id = 2; id <= o.workers && !stopping; id++) {
        fork(id);
        rest.push(waitReady(id));
      }
      await Promise.all(rest);
    })();
    const started = await starting.then(
      () => true,
      (code: unknown) => {
        // A worker failed to start (it said why on stderr): stop the others, exit with its code.
        if (!stopping) failedCode = typeof code === 'number' && code !== 0 ? code : 1;
        return false;
      },
    );
    if (started && !stopping) log.info({ workers: o.workers, workerPids: [...slots.values()].map((s) => s.worker.process.pid) }, 'gateway workers ready');
    if (!started) {
      readyWaiters.clear();
      stop();
    }
    const code = await done;
    log.info({ code }, 'gateway stopped');
    return code;
  } finally {
    process.off('SIGHUP', onHup);
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
  }
}
