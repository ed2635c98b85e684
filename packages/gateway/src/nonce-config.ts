/**
 * The `nonceStore` section of the gateway config: memory (one process) or Redis (shared by a
 * fleet). Kept apart from config.ts so that file only plugs it in.
 */
import { z } from 'zod';
import { redactUrl } from '@wxseal/support';
import { hidden } from './config-util.js';

const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;
const int = (min: number, max: number = Number.MAX_SAFE_INTEGER) =>
  z
    .number()
    .int()
    .min(min, { error: `must be an integer from ${min} to ${max}` })
    .max(max, { error: `must be an integer from ${min} to ${max}` });
const ms = int(1, MAX_TIMEOUT_MS);
const nonEmpty = z.string().min(1, { error: 'must not be empty' });
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be an environment variable name' });

const memoryStoreSchema = z.object({ type: z.literal('memory'), maxEntries: int(1).default(200_000) }).strict();
const hostName = z.string().regex(/^[A-Za-z0-9._:-]{1,253}$/, { error: 'must be a host name or IP address' });
const endpoint = z.object({ host: hostName, port: int(1, 65_535) }).strict();
const redisStoreSchema = z
  .object({
    type: z.literal('redis'),
    // One of: a URL (one Redis), Sentinel (sentinels + name), or a Cluster (cluster.nodes).
    url: nonEmpty.optional(),
    urlEnv: envName.optional(),
    sentinels: z.array(endpoint).min(1).max(16).optional(),
    /** The Sentinel master group name (`sentinel monitor <name> …`). */
    name: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, { error: 'must be a Sentinel master name' }).optional(),
    cluster: z.object({ nodes: z.array(endpoint).min(1).max(32) }).strict().optional(),
    /** Password of the Redis servers (Sentinel and Cluster forms; a URL carries its own). */
    passwordEnv: envName.optional(),
    /** Password of the Sentinels themselves (`requirepass` in sentinel.conf). */
    sentinelPasswordEnv: envName.optional(),
    prefix: z.string().regex(/^[^{}]*$/, { error: 'must not contain { or } (the store adds Redis Cluster hash tags)' }).default('wxseal:gateway:nonce:'),
    commandTimeoutMs: ms.default(500),
    connectTimeoutMs: ms.default(2_000),
    reconnectMaxDelayMs: ms.default(2_000),
    /** Seconds past a detected loss whose timestamps are still refused (SPEC.md 8.1; default 0, at most 300). */
    resetMarginSeconds: int(0, 300).default(0),
    /** Replicas that must acknowledge each nonce (WAIT) before a request is accepted: default 1 with sentinels, else 0. */
    minReplicaAcks: int(0, 16).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const present = (['url', 'urlEnv', 'sentinels', 'cluster'] as const).filter((k) => r[k] !== undefined);
    if (present.length !== 1) {
      ctx.addIssue({ code: 'custom', message: present.length === 0 ? 'needs one of url, urlEnv, sentinels, cluster' : 'give only one of url, urlEnv, sentinels, cluster' });
    }
    if (r.sentinels !== undefined && r.name === undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: 'the Sentinel master name is required with sentinels' });
    if (r.sentinels === undefined && r.name !== undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: 'only with sentinels' });
    if (r.cluster !== undefined && (r.minReplicaAcks ?? 0) > 0) ctx.addIssue({ code: 'custom', path: ['minReplicaAcks'], message: 'not supported with cluster' });
    if (r.sentinels === undefined && r.sentinelPasswordEnv !== undefined) ctx.addIssue({ code: 'custom', path: ['sentinelPasswordEnv'], message: 'only with sentinels' });
    if (r.sentinels === undefined && r.cluster === undefined && r.passwordEnv !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['passwordEnv'], message: 'only with sentinels or cluster (a URL carries its own password)' });
    }
  });

export const nonceStoreSchema = z.discriminatedUnion('type', [memoryStoreSchema, redisStoreSchema]).prefault({ type: 'memory' });

export interface MemoryNonceStoreConfig {
  readonly type: 'memory';
  readonly maxEntries: number;
}

export interface RedisEndpoint {
  readonly host: string;
  readonly port: number;
}

/** How the gateway reaches Redis: one server by URL, a Sentinel-managed master, or a Cluster. */
export type RedisTopology =
  | { readonly kind: 'url' }
  | { readonly kind: 'sentinel'; readonly sentinels: readonly RedisEndpoint[]; readonly name: string }
  | { readonly kind: 'cluster'; readonly nodes: readonly RedisEndpoint[] };

export interface RedisNonceStoreConfig {
  readonly type: 'redis';
  /**
   * Non-enumerable (it may hold a password); `displayUrl` is safe to log. For Sentinel and Cluster
   * it is a description (`redis-sentinel://h:p,h:p/name`, `redis-cluster://h:p,h:p`), not a URL ioredis reads.
   */
  readonly url: string;
  readonly displayUrl: string;
  readonly topology: RedisTopology;
  /** Non-enumerable: the servers' password (Sentinel, Cluster), from `passwordEnv`. */
  readonly password?: string | undefined;
  /** Non-enumerable: the Sentinels' password, from `sentinelPasswordEnv`. */
  readonly sentinelPassword?: string | undefined;
  readonly resetMarginSeconds: number;
  /** Replicas that acknowledge each nonce before a request is accepted (WAIT). */
  readonly minReplicaAcks: number;
  readonly prefix: string;
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly reconnectMaxDelayMs: number;
}

export type NonceStoreConfig = MemoryNonceStoreConfig | RedisNonceStoreConfig;

interface ResolveContext {
  env: Readonly<Record<string, string | undefined>>;
  issue(path: string, message: string): void;
}

/** Reads the URL (from the environment when `urlEnv`) or the Sentinel/Cluster endpoints and passwords, and checks them. */
export function resolveNonceStoreConfig(n: z.output<typeof nonceStoreSchema>, { env, issue }: ResolveContext): NonceStoreConfig {
  if (n.type !== 'redis') return { type: 'memory', maxEntries: n.maxEntries };
  const secret = (name: string | undefined, path: string): string | undefined => {
    if (name === undefined) return undefined;
    const value = env[name];
    if (value === undefined || value === '') issue(`nonceStore.${path}`, `environment variable ${name} is not set`);
    return value;
  };
  const list = (eps: readonly RedisEndpoint[]): string => eps.map((e) => `${e.host}:${e.port}`).join(',');
  let url = n.url;
  let topology: RedisTopology = { kind: 'url' };
  if (n.sentinels !== undefined) {
    topology = { kind: 'sentinel', sentinels: n.sentinels, name: n.name ?? '' };
    url = `redis-sentinel://${list(n.sentinels)}/${n.name ?? ''}`;
  } else if (n.cluster !== undefined) {
    topology = { kind: 'cluster', nodes: n.cluster.nodes };
    url = `redis-cluster://${list(n.cluster.nodes)}`;
  } else {
    if (n.urlEnv !== undefined) {
      url = env[n.urlEnv];
      if (url === undefined || url.trim() === '') issue('nonceStore.urlEnv', `environment variable ${n.urlEnv} is not set`);
    }
    if (url !== undefined && url.trim() !== '' && !/^rediss?:\/\/[^/]/.test(url.trim())) {
      issue(n.urlEnv !== undefined ? 'nonceStore.urlEnv' : 'nonceStore.url', 'must be a redis:// or rediss:// URL');
    }
  }
  const base = {
    type: 'redis' as const,
    displayUrl: topology.kind === 'url' ? redactUrl(url?.trim() ?? '') : (url ?? ''),
    topology,
    prefix: n.prefix,
    commandTimeoutMs: n.commandTimeoutMs,
    connectTimeoutMs: n.connectTimeoutMs,
    reconnectMaxDelayMs: n.reconnectMaxDelayMs,
    resetMarginSeconds: n.resetMarginSeconds,
    // With Sentinel a failover is expected: a nonce only the old master held would be lost with it.
    minReplicaAcks: n.minReplicaAcks ?? (topology.kind === 'sentinel' ? 1 : 0),
  };
  const withUrl = hidden(base, 'url', url?.trim() ?? '');
  const withPassword = hidden(withUrl, 'password', secret(n.passwordEnv, 'passwordEnv'));
  return hidden(withPassword, 'sentinelPassword', secret(n.sentinelPasswordEnv, 'sentinelPasswordEnv'));
}