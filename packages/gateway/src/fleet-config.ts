/**
 * The `controlPlane` section of the gateway config (docs/fleet.md): the shared SQL database that
 * holds client secrets, server keys, admin users and sessions and the audit log; the channels a
 * change is announced on; how often each instance confirms its view and how stale it may get
 * before it fails closed. Kept apart from config.ts so that file only plugs it in.
 */
import { resolve } from 'node:path';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { MASTER_KEYS_ENV, MASTER_KEY_FILE_ENV, MasterKeyRing } from '@wxseal/devices';
import { redactUrl } from '@wxseal/support';
import { hidden } from './config-util.js';

const int = (min: number, max: number) =>
  z
    .number()
    .int()
    .min(min, { error: `must be an integer from ${min} to ${max}` })
    .max(max, { error: `must be an integer from ${min} to ${max}` });
const nonEmpty = z.string().min(1, { error: 'must not be empty' });
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be an environment variable name' });

function atMostOne(keys: readonly string[], required: boolean) {
  return (value: Record<string, unknown>, ctx: z.RefinementCtx): void => {
    const present = keys.filter((k) => value[k] !== undefined);
    if (present.length > 1) ctx.addIssue({ code: 'custom', message: `give only one of ${present.join(', ')}` });
    else if (required && present.length === 0) ctx.addIssue({ code: 'custom', message: `needs one of ${keys.join(', ')}` });
  };
}

export const controlPlaneSchema = z
  .object({
    database: z
      .object({
        url: nonEmpty.optional(),
        urlEnv: envName.optional(),
        connectTimeoutMs: int(1, 60_000).default(2_000),
        queryTimeoutMs: int(1, 60_000).default(5_000),
        poolSize: int(1, 1_000).default(5),
      })
      .strict()
      .superRefine(atMostOne(['url', 'urlEnv'], true)),
    /** Neither given: WXSEAL_DEVICE_MASTER_KEYS or WXSEAL_DEVICE_MASTER_KEY_FILE (the ring device keys use). */
    masterKeys: z.object({ env: envName.optional(), file: nonEmpty.optional() }).strict().superRefine(atMostOne(['env', 'file'], false)).prefault({}),
    /** Announces every change on Redis pub/sub (optional: the version check alone bounds the delay by pollIntervalMs). */
    redis: z
      .object({ url: nonEmpty.optional(), urlEnv: envName.optional(), channel: nonEmpty.default('wxseal:control-plane:changes') })
      .strict()
      .superRefine(atMostOne(['url', 'urlEnv'], true))
      .optional(),
    /** PostgreSQL only: also LISTEN/NOTIFY on this channel (default true on PostgreSQL). */
    postgresNotify: z.boolean().default(true),
    /** How often each instance checks the change version (ms): the bound on the delay when a message is lost. */
    pollIntervalMs: int(50, 60_000).default(250),
    /** Past this since the last confirmed check, the instance refuses the credentials it cannot confirm (503 WXSEAL_CREDENTIALS_STALE). */
    maxStalenessMs: int(500, 3_600_000).default(5_000),
    /** How often each instance publishes its heartbeat and stats for the fleet view (ms). */
    heartbeatIntervalMs: int(100, 60_000).default(2_000),
    /** This instance's name in the fleet view (default: host name, pid and a random suffix). */
    instanceId: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,64}$/, { error: 'must be 1-64 characters of A-Z a-z 0-9 . _ : -' })
      .optional(),
  })
  .strict();

export interface ControlPlaneConfig {
  readonly database: {
    /** Non-enumerable (it may hold a password). */
    readonly url: string;
    readonly displayUrl: string;
    readonly connectTimeoutMs: number;
    readonly queryTimeoutMs: number;
    readonly poolSize: number;
  };
  /** Non-enumerable: never shows in JSON.stringify or a log of the config. */
  readonly masterKeys: MasterKeyRing;
  readonly redis: { readonly url: string; readonly displayUrl: string; readonly channel: string } | undefined;
  readonly postgresNotify: boolean;
  readonly pollIntervalMs: number;
  readonly maxStalenessMs: number;
  readonly heartbeatIntervalMs: number;
  readonly instanceId: string;
}

interface ResolveContext {
  env: Readonly<Record<string, string | undefined>>;
  baseDir: string;
  issue(path: string, message: string): void;
}

/** The instance id used when the config names none: readable in the console, unique per process. */
export function defaultInstanceId(): string {
  // One per process, so a reload does not see a changed section.
  processInstanceId ??= `${hostname().replace(/[^A-Za-z0-9._-]/g, '').slice(0, 40) || 'host'}-${process.pid}-${randomBytes(2).toString('hex')}`;
  return processInstanceId;
}
let processInstanceId: string | undefined;

/** Reads what the section names (URLs from the environment, the master key ring) and checks it. */
export function resolveControlPlaneConfig(c: z.output<typeof controlPlaneSchema>, ctx: ResolveContext): ControlPlaneConfig {
  const { env, baseDir, issue } = ctx;
  const fromEnv = (name: string, at: string): string | undefined => {
    const v = env[name]?.trim();
    if (v === undefined || v === '') issue(at, `environment variable ${name} is not set`);
    return v === '' ? undefined : v;
  };
  const dbUrl = c.database.url ?? fromEnv(c.database.urlEnv!, 'controlPlane.database.urlEnv') ?? '';
  if (dbUrl !== '' && !/^(sqlite|postgres|postgresql|mysql|mariadb):/i.test(dbUrl)) {
    issue(c.database.url !== undefined ? 'controlPlane.database.url' : 'controlPlane.database.urlEnv', 'must be a sqlite:, postgres://, mysql:// or mariadb:// URL');
  }
  let masterKeys: MasterKeyRing | undefined;
  try {
    if (c.masterKeys.env !== undefined) {
      const text = fromEnv(c.masterKeys.env, 'controlPlane.masterKeys.env');
      if (text !== undefined) masterKeys = MasterKeyRing.parse(text);
    } else if (c.masterKeys.file !== undefined) masterKeys = MasterKeyRing.fromFile(resolve(baseDir, c.masterKeys.file));
    else masterKeys = MasterKeyRing.fromEnv(env);
  } catch (err) {
    // MasterKeyRing's messages describe the form of the ring, never a key.
    const at = c.masterKeys.env !== undefined ? 'controlPlane.masterKeys.env' : c.masterKeys.file !== undefined ? 'controlPlane.masterKeys.file' : 'controlPlane.masterKeys';
    const hint = at === 'controlPlane.masterKeys' ? ` (give env or file, or set ${MASTER_KEYS_ENV} / ${MASTER_KEY_FILE_ENV})` : '';
    issue(at, `${(err as Error).message}${hint}`);
  }
  let redis: ControlPlaneConfig['redis'];
  if (c.redis) {
    const url = c.redis.url ?? fromEnv(c.redis.urlEnv!, 'controlPlane.redis.urlEnv') ?? '';
    if (url !== '' && !/^rediss?:\/\/[^/]/.test(url)) issue(c.redis.url !== undefined ? 'controlPlane.redis.url' : 'controlPlane.redis.urlEnv', 'must be a redis:// or rediss:// URL');
    redis = hidden({ displayUrl: redactUrl(url), channel: c.redis.channel }, 'url', url);
  }
  const database = hidden(
    { displayUrl: redactUrl(dbUrl), connectTimeoutMs: c.database.connectTimeoutMs, queryTimeoutMs: c.database.queryTimeoutMs, poolSize: c.database.poolSize },
    'url',
    dbUrl,
  );
  const out = {
    database,
    redis,
    postgresNotify: c.postgresNotify,
    pollIntervalMs: c.pollIntervalMs,
    maxStalenessMs: c.maxStalenessMs,
    heartbeatIntervalMs: c.heartbeatIntervalMs,
    instanceId: c.instanceId ?? defaultInstanceId(),
  };
  return hidden(out, 'masterKeys', masterKeys as MasterKeyRing);
}

/** What a config keeps per instance, each with the setting that decides it. */
export interface PerInstanceState {
  readonly path: string;
  readonly message: string;
  /** True when fleet mode refuses it; false when it is only said (a per-instance limit is not a security decision). */
  readonly refusedInFleet: boolean;
}

const isSqlite = (url: string): boolean => /^sqlite:/i.test(url);

/**
 * The state a gateway with this config would keep for itself alone. In fleet mode the refused
 * ones stop the start (config error naming the setting); otherwise the start-up log lists them.
 */
export function perInstanceState(c: {
  nonceStore: { type: string };
  admin: unknown;
  controlPlane: { database: { url: string } } | undefined;
  devices: { database: { url: string }; activation: { enabled: boolean } } | undefined;
}): PerInstanceState[] {
  const out: PerInstanceState[] = [];
  if (c.nonceStore.type === 'memory') {
    out.push({ path: 'nonceStore.type', message: 'the memory nonce store is per instance: a request accepted by one gateway could be replayed to another (use redis)', refusedInFleet: true });
  }
  if (!c.controlPlane) {
    out.push({
      path: 'controlPlane',
      message: c.admin
        ? 'no shared control plane: client secrets, server keys, admin sessions and the audit log live in this instance\'s admin.stateDir'
        : 'no shared control plane: credentials come from this instance\'s config file alone (a reload changes one instance)',
      refusedInFleet: true,
    });
  } else if (isSqlite(c.controlPlane.database.url)) {
    out.push({ path: 'controlPlane.database.url', message: 'SQLite is a file of one host: a fleet needs PostgreSQL or MariaDB', refusedInFleet: true });
  }
  if (c.devices && isSqlite(c.devices.database.url)) {
    out.push({ path: 'devices.database.url', message: 'SQLite is a file of one host: a fleet needs PostgreSQL or MariaDB for the device registry', refusedInFleet: true });
  }
  if (c.devices?.activation.enabled) {
    out.push({ path: 'devices.activation.rateLimit', message: 'activation rate limits are counted per instance (N instances admit up to N times the rate)', refusedInFleet: false });
  }
  return out;
}
