/**
 * The optional `devices` section of the gateway config (one key per device, SPEC.md section 15):
 * where the device registry lives, its master keys, the shared Redis cache, the Bloom filter, and
 * the activation / rotation endpoints. Kept apart from config.ts so that file only plugs it in.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEVICE_ACTIVATION_PATH, DEVICE_ROTATION_PATH, type Mode } from '@wxseal/protocol';
import { b64uDecodeStrict } from '@wxseal/protocol/primitives';
import { MASTER_KEYS_ENV, MASTER_KEY_FILE_ENV, MasterKeyRing } from '@wxseal/devices';
import { redactUrl } from '@wxseal/support';

const int = (min: number, max: number) =>
  z
    .number()
    .int()
    .min(min, { error: `must be an integer from ${min} to ${max}` })
    .max(max, { error: `must be an integer from ${min} to ${max}` });
const nonEmpty = z.string().min(1, { error: 'must not be empty' });
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be an environment variable name' });
const path = z.string().regex(/^\/[A-Za-z0-9._~/-]*$/, { error: 'must be a path starting with / (A-Z a-z 0-9 . _ ~ / -)' });
const MAX_GRACE_SECONDS = 366 * 24 * 3600;

function atMostOne(keys: readonly string[], required: boolean) {
  return (value: Record<string, unknown>, ctx: z.RefinementCtx): void => {
    const present = keys.filter((k) => value[k] !== undefined);
    if (present.length > 1) ctx.addIssue({ code: 'custom', message: `give only one of ${present.join(', ')}` });
    else if (required && present.length === 0) ctx.addIssue({ code: 'custom', message: `needs one of ${keys.join(', ')}` });
  };
}

/** A token bucket: `burst` requests at once, refilled at `perMinute`. */
const bucketSchema = z.object({ burst: int(1, 1_000_000), perMinute: int(1, 60_000_000) }).strict();

export const devicesSchema = z
  .object({
    database: z
      .object({
        url: nonEmpty.optional(),
        urlEnv: envName.optional(),
        connectTimeoutMs: int(1, 60_000).default(2_000),
        queryTimeoutMs: int(1, 60_000).default(5_000),
        poolSize: int(1, 1_000).default(10),
      })
      .strict()
      .superRefine(atMostOne(['url', 'urlEnv'], true)),
    /** Neither given: WXSEAL_DEVICE_MASTER_KEYS or WXSEAL_DEVICE_MASTER_KEY_FILE, as MasterKeyRing.fromEnv. */
    masterKeys: z.object({ env: envName.optional(), file: nonEmpty.optional() }).strict().superRefine(atMostOne(['env', 'file'], false)).prefault({}),
    redis: z
      .object({
        url: nonEmpty.optional(),
        urlEnv: envName.optional(),
        prefix: z.string().min(1).default('wxseal:devkey:'),
        cacheKeyEnv: envName.optional(),
        cacheKeyFile: nonEmpty.optional(),
        timeoutMs: int(1, 60_000).default(500),
        connectTimeoutMs: int(1, 60_000).default(2_000),
      })
      .strict()
      .superRefine(atMostOne(['url', 'urlEnv'], true))
      .superRefine(atMostOne(['cacheKeyEnv', 'cacheKeyFile'], true))
      .optional(),
    bloom: z
      .object({
        expectedSerials: int(1, 1_000_000_000).default(1_000_000),
        falsePositiveRate: z.number().gt(0, { error: 'must be between 0 and 0.5' }).max(0.5, { error: 'must be between 0 and 0.5' }).default(0.01),
        rebuildIntervalMs: int(0, 7 * 24 * 3600 * 1000).default(600_000),
      })
      .strict()
      .prefault({}),
    /**
     * Every instance reads the registry's audit log from the last change it applied (always on: it is
     * what bounds how stale an instance can be, whoever made the change). Past maxStalenessMs without
     * a successful check, device lookups are refused unless the database confirms them (503).
     */
    changeFeed: z
      .object({ pollIntervalMs: int(10, 3_600_000).default(250), maxStalenessMs: int(100, 24 * 3_600_000).default(5_000) })
      .strict()
      .prefault({}),
    l1TtlMs: int(1, 3_600_000).default(60_000),
    /** How long past its TTL a known key is served while Redis and the database both fail. */
    staleIfErrorMs: int(0, 24 * 3_600_000).default(300_000),
    sourceTimeoutMs: int(1, 60_000).default(2_000),
    allowedModes: z.array(z.enum(['sealed', 'signed'])).min(1, { error: 'must list "sealed" and/or "signed"' }).optional(),
    activation: z
      .object({
        enabled: z.boolean().default(false),
        path: path.default(DEVICE_ACTIVATION_PATH),
        rateLimit: z
          .object({
            perSerial: bucketSchema.prefault({ burst: 5, perMinute: 5 }),
            perSource: bucketSchema.prefault({ burst: 20, perMinute: 60 }),
            maxTrackedKeys: int(1, 10_000_000).default(100_000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    rotation: z.object({ enabled: z.boolean().default(false), path: path.default(DEVICE_ROTATION_PATH) }).strict().prefault({}),
    rotationGraceSeconds: int(0, MAX_GRACE_SECONDS).default(7 * 24 * 3600),
  })
  .strict();

export type DevicesConfigInput = z.input<typeof devicesSchema>;

export interface TokenBucketConfig {
  readonly burst: number;
  readonly perMinute: number;
}

export interface DevicesRedisConfig {
  /** Non-enumerable (it may hold a password); `displayUrl` is safe to log. */
  readonly url: string;
  readonly displayUrl: string;
  readonly prefix: string;
  /** Non-enumerable: the 32-byte AES key of the Redis values, the same on every instance. */
  readonly cacheKey: Uint8Array;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
}

export interface DevicesConfig {
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
  readonly redis: DevicesRedisConfig | undefined;
  readonly bloom: { readonly expectedSerials: number; readonly falsePositiveRate: number; readonly rebuildIntervalMs: number };
  readonly changeFeed: { readonly pollIntervalMs: number; readonly maxStalenessMs: number };
  readonly l1TtlMs: number;
  readonly staleIfErrorMs: number;
  readonly sourceTimeoutMs: number;
  readonly allowedModes: readonly Mode[] | undefined;
  readonly activation: {
    readonly enabled: boolean;
    readonly path: string;
    readonly rateLimit: { readonly perSerial: TokenBucketConfig; readonly perSource: TokenBucketConfig; readonly maxTrackedKeys: number };
  };
  readonly rotation: { readonly enabled: boolean; readonly path: string };
  readonly rotationGraceSeconds: number;
}

function hide<T extends object>(target: T, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: false, writable: false, configurable: false });
}

const errText = (err: unknown): string => (err as NodeJS.ErrnoException)?.code ?? (err instanceof Error ? err.message : String(err));

interface ResolveContext {
  env: Readonly<Record<string, string | undefined>>;
  baseDir: string;
  issue(path: string, message: string): void;
  routes: readonly { prefix: string }[];
  hasServerKeys: boolean;
}

/** Reads what the section names (URLs from the environment, master keys, the cache key) and checks it. */
export function resolveDevicesConfig(d: z.output<typeof devicesSchema>, ctx: ResolveContext): DevicesConfig {
  const { env, baseDir, issue } = ctx;
  const fromEnv = (name: string, at: string): string | undefined => {
    const v = env[name]?.trim();
    if (v === undefined || v === '') issue(at, `environment variable ${name} is not set`);
    return v === '' ? undefined : v;
  };

  const dbUrl = d.database.url ?? fromEnv(d.database.urlEnv!, 'devices.database.urlEnv') ?? '';
  if (dbUrl !== '' && !/^(sqlite|postgres|postgresql|mysql|mariadb):/i.test(dbUrl)) {
    issue(d.database.url !== undefined ? 'devices.database.url' : 'devices.database.urlEnv', 'must be a sqlite:, postgres://, mysql:// or mariadb:// URL');
  }

  let masterKeys: MasterKeyRing | undefined;
  try {
    if (d.masterKeys.env !== undefined) {
      const text = fromEnv(d.masterKeys.env, 'devices.masterKeys.env');
      if (text !== undefined) masterKeys = MasterKeyRing.parse(text);
    } else if (d.masterKeys.file !== undefined) {
      masterKeys = MasterKeyRing.fromFile(resolve(baseDir, d.masterKeys.file));
    } else {
      masterKeys = MasterKeyRing.fromEnv(env);
    }
  } catch (err) {
    // MasterKeyRing's messages describe the form of the ring, never a key.
    const at = d.masterKeys.env !== undefined ? 'devices.masterKeys.env' : d.masterKeys.file !== undefined ? 'devices.masterKeys.file' : 'devices.masterKeys';
    const hint = at === 'devices.masterKeys' ? ` (give env or file, or set ${MASTER_KEYS_ENV} / ${MASTER_KEY_FILE_ENV})` : '';
    issue(at, `${(err as Error).message}${hint}`);
  }

  let redis: DevicesRedisConfig | undefined;
  if (d.redis) {
    const r = d.redis;
    const url = r.url ?? fromEnv(r.urlEnv!, 'devices.redis.urlEnv') ?? '';
    if (url !== '' && !/^rediss?:\/\/[^/]/.test(url)) issue(r.url !== undefined ? 'devices.redis.url' : 'devices.redis.urlEnv', 'must be a redis:// or rediss:// URL');
    let keyText: string | undefined;
    const keyAt = r.cacheKeyEnv !== undefined ? 'devices.redis.cacheKeyEnv' : 'devices.redis.cacheKeyFile';
    if (r.cacheKeyEnv !== undefined) keyText = fromEnv(r.cacheKeyEnv, keyAt);
    else {
      try {
        keyText = readFileSync(resolve(baseDir, r.cacheKeyFile!), 'utf8').trim();
      } catch (err) {
        issue(keyAt, `cannot read ${resolve(baseDir, r.cacheKeyFile!)}: ${errText(err)}`);
      }
    }
    let cacheKey: Uint8Array = new Uint8Array(0);
    if (keyText !== undefined) {
      const decoded = b64uDecodeStrict(keyText);
      if (!decoded || decoded.length !== 32) issue(keyAt, 'the cache key must be 32 bytes in canonical base64url (43 characters)');
      else cacheKey = decoded;
    }
    const out = { displayUrl: redactUrl(url), prefix: r.prefix, timeoutMs: r.timeoutMs, connectTimeoutMs: r.connectTimeoutMs };
    hide(out, 'url', url);
    hide(out, 'cacheKey', cacheKey);
    redis = out as DevicesRedisConfig;
  }

  const a = d.activation;
  const taken = [a.enabled ? a.path : undefined, d.rotation.enabled ? d.rotation.path : undefined];
  if (a.enabled && d.rotation.enabled && a.path === d.rotation.path) issue('devices.rotation.path', 'must differ from devices.activation.path');
  ctx.routes.forEach((route, i) => {
    for (const p of taken) {
      // The device endpoints are answered before routing; a route that also claimed them would never be reached.
      if (p !== undefined && (route.prefix === '/' || p === route.prefix || p.startsWith(`${route.prefix}/`))) {
        issue(`routes[${i}].prefix`, `covers the device endpoint ${p}; requests to it would never reach this route's upstream`);
      }
    }
  });
  if (d.changeFeed.maxStalenessMs <= d.changeFeed.pollIntervalMs) {
    issue('devices.changeFeed.maxStalenessMs', 'must be greater than devices.changeFeed.pollIntervalMs (every pause between two checks would count as stale)');
  }
  if (d.allowedModes?.includes('sealed') && !ctx.hasServerKeys) issue('devices.allowedModes', 'sealed needs at least one entry in serverKeys');

  const database = {
    displayUrl: redactUrl(dbUrl),
    connectTimeoutMs: d.database.connectTimeoutMs,
    queryTimeoutMs: d.database.queryTimeoutMs,
    poolSize: d.database.poolSize,
  };
  hide(database, 'url', dbUrl);
  const config = {
    database: database as DevicesConfig['database'],
    redis,
    bloom: { ...d.bloom },
    changeFeed: { ...d.changeFeed },
    l1TtlMs: d.l1TtlMs,
    staleIfErrorMs: d.staleIfErrorMs,
    sourceTimeoutMs: d.sourceTimeoutMs,
    allowedModes: d.allowedModes ? [...new Set(d.allowedModes)] : undefined,
    activation: { enabled: a.enabled, path: a.path, rateLimit: { perSerial: { ...a.rateLimit.perSerial }, perSource: { ...a.rateLimit.perSource }, maxTrackedKeys: a.rateLimit.maxTrackedKeys } },
    rotation: { ...d.rotation },
    rotationGraceSeconds: d.rotationGraceSeconds,
  };
  hide(config, 'masterKeys', masterKeys);
  return config as DevicesConfig;
}
