/**
 * `listeners.public.tls.sync`: where the fleet shares its edge certificate (etcd or Redis) and the
 * fleet sync key that encrypts it there. Every instance of a fleet names the same store, prefix
 * and key; an upload to any one of them reaches the others within seconds (tls/edge-sync.ts).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { fleetSyncErrors, parseFleetKey } from '@wxseal/fleet-sync';

const int = (min: number, max: number) =>
  z
    .number()
    .int()
    .min(min, { error: `must be an integer from ${min} to ${max}` })
    .max(max, { error: `must be an integer from ${min} to ${max}` });
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be an environment variable name' });
const file = z.string().min(1, { error: 'must not be empty' }).max(4096, { error: 'must be at most 4096 characters' });
const prefix = z.string().regex(/^[A-Za-z0-9._:/-]{1,128}$/, { error: 'must be 1-128 characters of A-Z a-z 0-9 . _ : / -' });
const endpoint = z.string().regex(/^(https?:\/\/)?[A-Za-z0-9.[\]:-]+(:\d{1,5})?\/?$/, { error: 'must be host:port or http(s)://host:port' });
const redisUrl = z.string().regex(/^rediss?:\/\/[^/\s]/, { error: 'must be a redis:// or rediss:// URL' });

/** The fleet key: exactly one of keyEnv / keyFile (32 bytes in base64, the same on every instance). */
const key = {
  /** Environment variable holding the key. */
  keyEnv: envName.optional(),
  /** File holding the key (relative to the config file's directory). */
  keyFile: file.optional(),
};
const timing = {
  /** Deadline of each store operation (ms). */
  opTimeoutMs: int(50, 60_000).default(2_000),
  /** Each instance re-reads the shared bundle this often, in case a notification was lost (ms). */
  pollIntervalMs: int(1_000, 3_600_000).default(30_000),
};

function exactlyOne(keys: readonly string[]) {
  return (value: Record<string, unknown>, ctx: z.RefinementCtx): void => {
    const present = keys.filter((k) => value[k] !== undefined);
    if (present.length > 1) ctx.addIssue({ code: 'custom', message: `give only one of ${present.join(', ')}` });
    else if (present.length === 0) ctx.addIssue({ code: 'custom', message: `needs one of ${keys.join(', ')}` });
  };
}

const etcdSchema = z
  .object({
    kind: z.literal('etcd'),
    /** The etcd members, `host:port` or `http(s)://host:port`. */
    endpoints: z.array(endpoint).min(1, { error: 'needs at least one endpoint' }).max(16),
    prefix: prefix.default('wxseal/gateway/edge-tls/'),
    ...key,
    ...timing,
  })
  .strict();

const redisSchema = z
  .object({
    kind: z.literal('redis'),
    url: redisUrl.optional(),
    /** Environment variable holding the URL (it may carry a password). */
    urlEnv: envName.optional(),
    prefix: prefix.default('wxseal:gateway:edge-tls:'),
    ...key,
    ...timing,
  })
  .strict()
  .superRefine(exactlyOne(['url', 'urlEnv']));

export const edgeSyncConfigSchema = z.discriminatedUnion('kind', [etcdSchema, redisSchema]).superRefine(exactlyOne(['keyEnv', 'keyFile']));

/** The section as written in the config file. */
export type EdgeSyncConfigInput = z.input<typeof edgeSyncConfigSchema>;
/** The section with its defaults applied. */
export type EdgeSyncConfig = z.output<typeof edgeSyncConfigSchema>;

/** Where environment variables and relative files are read from. */
export interface EdgeSyncContext {
  /** Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Directory `keyFile` is relative to (the config file's). Default: the working directory. */
  baseDir?: string;
}

/**
 * Reads and checks the fleet key the section names; throws FleetSyncError FLEET_SYNC_CONFIG (the
 * message names the variable or file, never the key). The config loader may call it to fail at
 * start-up; EdgeCertificateSync calls it when built.
 */
export function readEdgeSyncKey(config: Pick<EdgeSyncConfig, 'keyEnv' | 'keyFile'>, ctx: EdgeSyncContext = {}): Buffer {
  let text: string | undefined;
  let where: string;
  if (config.keyEnv !== undefined) {
    where = `environment variable ${config.keyEnv}`;
    text = (ctx.env ?? process.env)[config.keyEnv];
    if (text === undefined || text.trim() === '') throw fleetSyncErrors('config', `${where} (tls.sync.keyEnv) is not set`);
  } else if (config.keyFile !== undefined) {
    const path = resolve(ctx.baseDir ?? process.cwd(), config.keyFile);
    where = path;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw fleetSyncErrors('config', `cannot read the fleet sync key file ${path} (tls.sync.keyFile): ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  } else {
    throw fleetSyncErrors('config', 'tls.sync needs keyEnv or keyFile');
  }
  try {
    return parseFleetKey(text);
  } catch (err) {
    throw fleetSyncErrors('config', `${where}: ${(err as Error).message}`);
  }
}

/** The Redis URL the section names (url, or the variable urlEnv); throws FLEET_SYNC_CONFIG. */
export function redisUrlOf(config: Extract<EdgeSyncConfig, { kind: 'redis' }>, ctx: EdgeSyncContext = {}): string {
  if (config.url !== undefined) return config.url;
  const v = config.urlEnv === undefined ? undefined : (ctx.env ?? process.env)[config.urlEnv]?.trim();
  if (v === undefined || v === '') throw fleetSyncErrors('config', `environment variable ${config.urlEnv ?? '(none)'} (tls.sync.urlEnv) is not set`);
  if (!/^rediss?:\/\/[^/\s]/.test(v)) throw fleetSyncErrors('config', `environment variable ${config.urlEnv} (tls.sync.urlEnv) must hold a redis:// or rediss:// URL`);
  return v;
}
