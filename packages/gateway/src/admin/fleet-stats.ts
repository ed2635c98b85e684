/**
 * The admin API's stats across the fleet (GET /admin/api/v1/stats): every instance writes its stats
 * snapshot with its heartbeat into the shared control-plane store; this view merges the live
 * instances' snapshots (stats.ts mergeStatsSnapshots) and lists every instance it knows, or gives
 * one instance's snapshot on demand. This instance always counts with its live in-memory counters,
 * never with its last heartbeat. A directory that fails or hangs degrades to this instance's view
 * with a flag saying why: the stats page must not fail because the database does.
 */
import { CodedError } from '@wxseal/protocol';
import { errSummary } from '../logger.js';
import { AdminError } from './http.js';
import { mergeStatsSnapshots, statsSnapshotSchema, type StatsSnapshot, type StatsSource } from './stats.js';

/** One heartbeat as the control-plane store returns it. */
export interface InstanceRow {
  instanceId: string;
  /** Unix ms. */
  startedAt: number;
  /** Unix ms. */
  heartbeatAt: number;
  /** The control-plane change version the instance has applied. */
  version: number;
  /** How stale the instance's view of the control plane was at its heartbeat (ms; -1 = never confirmed). */
  stalenessMs: number;
  /** What the instance wrote: its StatsSnapshot (checked before use). */
  stats: unknown;
}

/** The instances the control plane knows (`store.instances` of @wxseal/control-plane). */
export interface InstanceDirectory {
  /** The instances whose last heartbeat is at most maxAgeMs old. */
  list(maxAgeMs: number): Promise<InstanceRow[]>;
}

export interface FleetInstance {
  instanceId: string;
  startedAt: number;
  heartbeatAt: number;
  /** now - heartbeatAt on this instance's clock (the browser's may differ). */
  heartbeatAgeMs: number;
  stalenessMs: number;
  version: number;
  /** The instance answering this call. */
  self: boolean;
  /** Heartbeat within maxAgeMs; gone instances are listed (for a while) but not counted in the totals. */
  live: boolean;
  /** False when its heartbeat holds no readable stats snapshot (then it is not counted). */
  hasStats: boolean;
  accepted: number;
  rejected: number;
}

export interface FleetStatsView {
  scope: 'fleet' | 'instance';
  /** The instance shown when scope is 'instance'. */
  instance?: string;
  /** How many instances the totals add up. */
  instanceCount: number;
  totals: StatsSnapshot;
  /** Every instance known, sorted by id. */
  instances: FleetInstance[];
  /** available false: the directory failed, and the totals are this instance's alone. */
  fleet: { available: boolean; reason?: string };
}

export interface FleetStatsOptions {
  /** This instance's counters (with `--workers N`, every worker's, merged). */
  local: StatsSource;
  instanceId: string;
  /** Undefined on a single node: the fleet is this instance alone. */
  directory: InstanceDirectory | undefined;
  /** A heartbeat older than this marks its instance gone (e.g. 3 heartbeat intervals). */
  maxAgeMs: number;
  now: () => number;
  /** How long a gone instance stays listed (default 15 minutes, never less than maxAgeMs). */
  goneListedForMs?: number;
  /** The bound on one directory call (default 2000 ms): a hanging database degrades the view, never the call. */
  timeoutMs?: number;
  /** This instance's current control-plane version and staleness (otherwise those of its last heartbeat). */
  selfStatus?: () => { version: number; stalenessMs: number };
  /** Told when the directory fails (for the log; the view itself says only a short reason). */
  onError?: (err: unknown) => void;
}

interface Member {
  row: FleetInstance;
  stats: StatsSnapshot | undefined;
}

class DirectoryTimeout extends Error {}

export class FleetStats {
  readonly #o: FleetStatsOptions;

  constructor(options: FleetStatsOptions) {
    this.#o = options;
  }

  async view(query: { instance?: string | undefined }): Promise<FleetStatsView> {
    const local = await this.#o.local.snapshot();
    const { members, fleet } = await this.#members(local);
    const wanted = query.instance;
    if (wanted !== undefined) {
      const m = members.find((x) => x.row.instanceId === wanted);
      if (!m) {
        // Without the directory an unknown id may well exist: say the lookup failed, not "no such instance".
        if (!fleet.available) throw new AdminError('ADMIN_UNAVAILABLE', `instance ${wanted} cannot be looked up: ${fleet.reason ?? 'the fleet view is unavailable'}`);
        throw new AdminError('ADMIN_NOT_FOUND', `no instance ${wanted} (known: the instances with a heartbeat in the last ${Math.round(this.#listAgeMs() / 1000)} s)`);
      }
      if (!m.stats) throw new AdminError('ADMIN_UNAVAILABLE', `instance ${wanted} published no readable stats (another version?)`);
      return { scope: 'instance', instance: wanted, instanceCount: 1, totals: m.stats, instances: members.map((x) => x.row), fleet };
    }
    const counted = members.filter((m) => m.row.live && m.stats).map((m) => m.stats!);
    const totals = counted.length > 1 ? mergeStatsSnapshots(counted as [StatsSnapshot, ...StatsSnapshot[]]) : local;
    return { scope: 'fleet', instanceCount: Math.max(1, counted.length), totals, instances: members.map((x) => x.row), fleet };
  }

  #listAgeMs(): number {
    return Math.max(this.#o.maxAgeMs, this.#o.goneListedForMs ?? 15 * 60_000);
  }

  async #members(local: StatsSnapshot): Promise<{ members: Member[]; fleet: FleetStatsView['fleet'] }> {
    const { directory, instanceId } = this.#o;
    const now = this.#o.now();
    let rows: InstanceRow[] = [];
    let fleet: FleetStatsView['fleet'] = { available: true };
    if (directory) {
      try {
        rows = await this.#list(directory);
      } catch (err) {
        this.#o.onError?.(err);
        fleet = { available: false, reason: reasonOf(err, this.#o.timeoutMs ?? 2_000) };
      }
    }
    const members: Member[] = [];
    let selfRow: InstanceRow | undefined;
    for (const r of rows) {
      if (r.instanceId === instanceId) {
        selfRow = r;
        continue;
      }
      const parsed = statsSnapshotSchema.safeParse(r.stats);
      const stats = parsed.success ? parsed.data : undefined;
      members.push({ row: rowOf(r, now, false, now - r.heartbeatAt <= this.#o.maxAgeMs, stats), stats });
    }
    const status = this.#o.selfStatus?.();
    const self: InstanceRow = {
      instanceId,
      startedAt: selfRow?.startedAt ?? Date.parse(local.since),
      heartbeatAt: selfRow?.heartbeatAt ?? now,
      version: status?.version ?? selfRow?.version ?? 0,
      stalenessMs: status?.stalenessMs ?? selfRow?.stalenessMs ?? 0,
      stats: local,
    };
    // This instance is answering, so it is live whatever its last heartbeat says.
    members.push({ row: rowOf(self, now, true, true, local), stats: local });
    members.sort((a, b) => (a.row.instanceId < b.row.instanceId ? -1 : a.row.instanceId > b.row.instanceId ? 1 : 0));
    return { members, fleet };
  }

  async #list(directory: InstanceDirectory): Promise<InstanceRow[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DirectoryTimeout()), this.#o.timeoutMs ?? 2_000);
    });
    try {
      const rows = await Promise.race([directory.list(this.#listAgeMs()), timeout]);
      if (!Array.isArray(rows)) throw new TypeError('the instance directory answered no list');
      return rows;
    } finally {
      clearTimeout(timer);
    }
  }
}

function rowOf(r: InstanceRow, now: number, self: boolean, live: boolean, stats: StatsSnapshot | undefined): FleetInstance {
  return {
    instanceId: r.instanceId,
    startedAt: r.startedAt,
    heartbeatAt: r.heartbeatAt,
    heartbeatAgeMs: Math.max(0, now - r.heartbeatAt),
    stalenessMs: r.stalenessMs,
    version: r.version,
    self,
    live,
    hasStats: stats !== undefined,
    accepted: stats?.accepted ?? 0,
    rejected: stats ? Object.values(stats.rejected).reduce((a, b) => a + b, 0) : 0,
  };
}

/** A short reason for the view: the error's code when it has one, never a driver message (it may name hosts or users). */
function reasonOf(err: unknown, timeoutMs: number): string {
  if (err instanceof DirectoryTimeout) return `the control-plane database did not answer within ${timeoutMs} ms`;
  if (err instanceof CodedError) return `the control-plane database failed (${err.code})`;
  return 'the control-plane database failed';
}

/** What fleetStatsFor needs of the gateway's control-plane runtime (control-plane.ts), structurally. */
export interface FleetStatsSource {
  readonly instanceId: string;
  readonly settings: { readonly heartbeatIntervalMs: number };
  readonly store: { readonly instances: InstanceDirectory };
  readonly sync: { readonly appliedVersion: number };
  staleness(): number;
}

/**
 * The admin API's FleetStats over the control-plane runtime: an instance is live while its last
 * heartbeat is at most three intervals old (one lost or slow write does not mark it gone).
 */
export function fleetStatsFor(d: {
  stats: StatsSource;
  controlPlane: FleetStatsSource | undefined;
  now: () => number;
  log?: { warn(obj: object, msg: string): void };
}): FleetStats {
  const cp = d.controlPlane;
  return new FleetStats({
    local: d.stats,
    instanceId: cp?.instanceId ?? 'local',
    directory: cp?.store.instances,
    maxAgeMs: Math.max(1_500, 3 * (cp?.settings.heartbeatIntervalMs ?? 0)),
    now: d.now,
    ...(cp
      ? {
          selfStatus: () => {
            const s = cp.staleness();
            return { version: cp.sync.appliedVersion, stalenessMs: Number.isFinite(s) ? Math.round(s) : -1 };
          },
        }
      : {}),
    onError: (err) => d.log?.warn({ err: errSummary(err) }, 'fleet stats: the instance directory failed; answering with this instance alone'),
  });
}
