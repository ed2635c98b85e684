/**
 * The gateway's side of the shared control plane (docs/fleet.md): the SQL store that holds client
 * secrets, server keys, admin users and sessions, login failures, the audit log and the fleet's
 * heartbeats; the sync that applies every change made anywhere (this instance, another one, the
 * CLI) within `pollIntervalMs`, sooner when a Redis or PostgreSQL message announces it; and the
 * staleness rule: an instance whose view was not confirmed for `maxStalenessMs` refuses the
 * credentials it cannot confirm (WXSEAL_CREDENTIALS_STALE) instead of trusting an old view.
 *
 * Without a `controlPlane` section a gateway with an admin section keeps the same state in a
 * SQLite file of its stateDir (a single node); its secrets are sealed under the device master key
 * ring when one is configured, else under a key generated into the stateDir on first start.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ControlPlaneStore,
  ControlPlaneSync,
  migrateControlPlaneDatabase,
  openControlPlaneDatabase,
  redisChangeNotifier,
  type ChangeNotifier,
  type CredentialOverlay,
} from '@wxseal/control-plane';
import { WxsealError } from '@wxseal/protocol';
import type { ClientCredential, KeyResolver } from '@wxseal/server';
import { MASTER_KEYS_ENV, MASTER_KEY_FILE_ENV, MasterKeyRing } from '@wxseal/devices';
import type { GatewayConfig } from './config.js';
import { defaultInstanceId, type ControlPlaneConfig } from './fleet-config.js';
import { errSummary, type Logger } from './logger.js';

/** The single-node control plane: a SQLite file in the admin stateDir, polled rarely (no other writer but the CLI). */
const SINGLE_NODE = { pollIntervalMs: 1_000, maxStalenessMs: 60_000, heartbeatIntervalMs: 5_000 } as const;

export interface ControlPlaneHooks {
  now: () => number;
  log: Logger;
  /** Called after a new overlay is in place (the gateway rebuilds its verifier state). Must not throw. */
  applied: (overlay: CredentialOverlay) => void;
  /** What this instance publishes in its heartbeat (the admin stats snapshot). */
  heartbeatStats: () => unknown;
  /** Told about every failure of the database, Redis or PostgreSQL channel (logged throttled). */
  onError: (err: unknown, component: string) => void;
}

/** Where the control plane of a config lives; undefined when the gateway has none (no admin, no controlPlane). */
export function controlPlaneSettings(config: GatewayConfig, env: Readonly<Record<string, string | undefined>> = process.env): ControlPlaneConfig | undefined {
  if (config.controlPlane) return config.controlPlane;
  if (!config.admin) return undefined;
  const stateDir = config.admin.stateDir;
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  chmodSync(stateDir, 0o700);
  const database = { displayUrl: `sqlite:${join(stateDir, 'control-plane.db')}`, connectTimeoutMs: 2_000, queryTimeoutMs: 5_000, poolSize: 1 };
  Object.defineProperty(database, 'url', { value: database.displayUrl, enumerable: false });
  const settings = {
    database: database as ControlPlaneConfig['database'],
    redis: undefined,
    postgresNotify: false,
    ...SINGLE_NODE,
    instanceId: defaultInstanceId(),
  };
  Object.defineProperty(settings, 'masterKeys', { value: singleNodeMasterKeys(config, stateDir, env), enumerable: false });
  return settings as ControlPlaneConfig;
}

/** The device ring when there is one (config or environment), else a key generated once into the stateDir (0600). */
function singleNodeMasterKeys(config: GatewayConfig, stateDir: string, env: Readonly<Record<string, string | undefined>>): MasterKeyRing {
  if (config.devices) return config.devices.masterKeys;
  if (env[MASTER_KEYS_ENV] || env[MASTER_KEY_FILE_ENV]) return MasterKeyRing.fromEnv(env);
  const file = join(stateDir, 'master-keys');
  if (!existsSync(file)) writeFileSync(file, `cp1:${MasterKeyRing.generateKey()}\n`, { mode: 0o600, flag: 'wx' });
  return MasterKeyRing.parse(readFileSync(file, 'utf8'));
}

export class ControlPlaneRuntime {
  readonly settings: ControlPlaneConfig;
  readonly store: ControlPlaneStore;
  readonly sync: ControlPlaneSync;
  readonly startedAt: number;
  readonly #db: ReturnType<typeof openControlPlaneDatabase>;
  readonly #notifier: ChangeNotifier | undefined;
  readonly #hooks: ControlPlaneHooks;
  readonly #config: GatewayConfig;
  #overlay: CredentialOverlay | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;

  constructor(config: GatewayConfig, settings: ControlPlaneConfig, hooks: ControlPlaneHooks) {
    this.settings = settings;
    this.#config = config;
    this.#hooks = hooks;
    this.startedAt = hooks.now();
    const d = settings.database;
    this.#db = openControlPlaneDatabase(d.url, { connectTimeoutMs: d.connectTimeoutMs, queryTimeoutMs: d.queryTimeoutMs, poolSize: d.poolSize });
    const pgChannel = settings.postgresNotify && /^postgres(ql)?:/i.test(d.url) ? 'wxseal_control_plane' : undefined;
    this.#notifier = settings.redis ? redisChangeNotifier({ url: settings.redis.url, channel: settings.redis.channel, onError: (err) => hooks.onError(err, 'redis') }) : undefined;
    this.store = new ControlPlaneStore({
      db: this.#db,
      masterKeys: settings.masterKeys,
      now: hooks.now,
      origin: settings.instanceId,
      ...(this.#notifier ? { notifier: this.#notifier } : {}),
      ...(pgChannel ? { postgresNotifyChannel: pgChannel } : {}),
    });
    this.sync = new ControlPlaneSync({
      db: this.#db,
      pollIntervalMs: settings.pollIntervalMs,
      now: hooks.now,
      apply: async () => {
        const overlay = await this.store.loadOverlay();
        this.#overlay = overlay;
        hooks.applied(overlay);
      },
      ...(settings.redis ? { redis: { url: settings.redis.url, channel: settings.redis.channel } } : {}),
      ...(pgChannel ? { postgresNotify: { url: d.url, channel: pgChannel } } : {}),
      onError: (err, component) => hooks.onError(err, component),
    });
  }

  get instanceId(): string {
    return this.settings.instanceId;
  }

  /** The overlay in force; undefined until the first successful check. */
  get overlay(): CredentialOverlay | undefined {
    return this.#overlay;
  }

  /** Milliseconds since this instance last confirmed its view (Infinity before the first time). */
  staleness(): number {
    return this.sync.staleness();
  }

  /** True when the view is older than the bound: credentials are then refused (fail closed). */
  stale(): boolean {
    return this.sync.staleness() > this.settings.maxStalenessMs;
  }

  /**
   * Migrates, seeds the configured admin users, applies the current state and starts the sync and
   * the heartbeat. A database that is down does not stop the gateway: it starts stale, so it
   * refuses credentials and reports not ready until the first check succeeds.
   */
  async start(options: { heartbeat?: boolean } = {}): Promise<void> {
    try {
      await migrateControlPlaneDatabase(this.#db);
      const users = this.#config.admin?.users ?? [];
      if (users.length > 0) await this.store.users.seed(users.map((u) => ({ user: u.name, passwordHash: u.passwordHashText })));
    } catch (err) {
      this.#hooks.onError(err, 'database');
    }
    try {
      await this.sync.start();
    } catch (err) {
      this.#hooks.onError(err, 'database');
      this.#hooks.log.warn({ err: errSummary(err), database: this.settings.database.displayUrl }, 'control plane not reachable at start; credentials are refused until it is (fail closed)');
    }
    // A tool run (the CLI) is not an instance of the fleet: no heartbeat.
    if (options.heartbeat === false) return;
    this.#beat();
    this.#heartbeat = setInterval(() => this.#beat(), this.settings.heartbeatIntervalMs);
    this.#heartbeat.unref();
  }

  /** After this instance changed something: applies it here now (the others learn through the sync). */
  async changed(): Promise<void> {
    await this.sync.checkNow();
  }

  #beat(): void {
    if (this.#beating) return;
    const staleness = this.sync.staleness();
    this.#beating = this.store.instances
      .heartbeat({
        instanceId: this.instanceId,
        startedAt: this.startedAt,
        version: this.sync.appliedVersion,
        stalenessMs: Number.isFinite(staleness) ? Math.round(staleness) : -1,
        stats: this.#hooks.heartbeatStats(),
      })
      .catch((err: unknown) => this.#hooks.onError(err, 'database'))
      .finally(() => {
        this.#beating = undefined;
      });
  }

  async close(): Promise<void> {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    await this.#beating;
    if (this.#heartbeat) await this.store.instances.remove(this.instanceId).catch((err: unknown) => this.#hooks.onError(err, 'database'));
    await this.sync.close().catch((err: unknown) => this.#hooks.onError(err, 'database'));
    await this.#notifier?.close().catch((err: unknown) => this.#hooks.onError(err, 'redis'));
    await this.#db.destroy().catch((err: unknown) => this.#hooks.onError(err, 'database'));
  }
}

/**
 * A key resolver that answers only while the control plane confirms this instance's view: past
 * `maxStalenessMs` every lookup is refused with WXSEAL_CREDENTIALS_STALE (503), so a secret
 * retired or a device revoked elsewhere cannot stay valid here because this instance stopped
 * hearing about changes. One comparison per request while the view is fresh.
 */
export class StalenessGuard implements KeyResolver {
  constructor(
    private readonly inner: KeyResolver,
    private readonly controlPlane: Pick<ControlPlaneRuntime, 'stale'>,
  ) {}

  resolve(keyId: string): Promise<ClientCredential | undefined> {
    if (this.controlPlane.stale()) return Promise.reject(new WxsealError('WXSEAL_CREDENTIALS_STALE', 'this instance cannot confirm its credentials with the control plane now'));
    return this.inner.resolve(keyId);
  }
}
