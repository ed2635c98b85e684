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
const redisStoreSchema = z
  .object({
    type: z.literal('redis'),
    url: nonEmpty.optional(),
    urlEnv: envName.optional(),
    prefix: z.string().default('wxseal:gateway:nonce:'),
    commandTimeoutMs: ms.default(500),
    connectTimeoutMs: ms.default(2_000),
    reconnectMaxDelayMs: ms.default(2_000),
  })
  .strict()
  .superRefine((r, ctx) => {
    const present = (['url', 'urlEnv'] as const).filter((k) => r[k] !== undefined);
    if (present.length !== 1) ctx.addIssue({ code: 'custom', message: present.length === 0 ? 'needs one of url, urlEnv' : 'give only one of url, urlEnv' });
  });

export const nonceStoreSchema = z.discriminatedUnion('type', [memoryStoreSchema, redisStoreSchema]).prefault({ type: 'memory' });

export interface MemoryNonceStoreConfig {
  readonly type: 'memory';
  readonly maxEntries: number;
}

export interface RedisNonceStoreConfig {
  readonly type: 'redis';
  /** Non-enumerable (it may hold a password); `displayUrl` is safe to log. */
  readonly url: string;
  readonly displayUrl: string;
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

/** Reads the URL (from the environment when `urlEnv`) and checks it. */
export function resolveNonceStoreConfig(n: z.output<typeof nonceStoreSchema>, { env, issue }: ResolveContext): NonceStoreConfig {
  if (n.type !== 'redis') return { type: 'memory', maxEntries: n.maxEntries };
  let url = n.url;
  if (n.urlEnv !== undefined) {
    url = env[n.urlEnv];
    if (url === undefined || url.trim() === '') issue('nonceStore.urlEnv', `environment variable ${n.urlEnv} is not set`);
  }
  if (url !== undefined && url.trim() !== '' && !/^rediss?:\/\/[^/]/.test(url.trim())) {
    issue(n.urlEnv !== undefined ? 'nonceStore.urlEnv' : 'nonceStore.url', 'must be a redis:// or rediss:// URL');
  }
  const base = {
    type: 'redis' as const,
    displayUrl: redactUrl(url?.trim() ?? ''),
    prefix: n.prefix,
    commandTimeoutMs: n.commandTimeoutMs,
    connectTimeoutMs: n.connectTimeoutMs,
    reconnectMaxDelayMs: n.reconnectMaxDelayMs,
  };
  return hidden(base, 'url', url?.trim() ?? '');
}
