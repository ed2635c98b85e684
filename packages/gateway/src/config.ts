import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { LIMITS, MAX_SECRETS_PER_KEY, loadServerPrivateKey, type Mode } from '@wxseal/protocol';
import { ServerKeyRing, normalizeSecret } from '@wxseal/server';
import { devicesSchema, resolveDevicesConfig, type DevicesConfig } from './devices-config.js';
import { adminSchema, resolveAdminConfig, type AdminConfig } from './admin/config.js';
import { GatewayConfigError, type ConfigIssue } from './errors.js';

// ---------------------------------------------------------------------------------------------
// The file format (validated with zod). Every field has a default unless it names something only
// the operator can know (ports, upstreams, credentials).
// ---------------------------------------------------------------------------------------------

const ROUTE_MODES = ['sealed', 'signed', 'sealed-or-signed', 'passthrough'] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;

const int = (min: number, max: number = Number.MAX_SAFE_INTEGER) =>
  z
    .number()
    .int()
    .min(min, { error: max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}` })
    .max(max, { error: `must be an integer from ${min} to ${max}` });

const port = int(0, 65535);
const ms = int(1, MAX_TIMEOUT_MS);
const bytes = int(0);
const id = z.string().regex(LIMITS.idPattern, { error: 'must be 1-64 characters of A-Z a-z 0-9 . _ : -' });
const nonEmpty = z.string().min(1, { error: 'must not be empty' });
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be an environment variable name' });

/** Unix seconds, or an ISO 8601 date-time such as 2025-01-01T00:00:00Z. */
const instant = z.union([int(0), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const ms = /^\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'must be Unix seconds or an ISO 8601 date-time (e.g. 2025-01-01T00:00:00Z)' });
    return z.NEVER;
  }
  return Math.floor(ms / 1000);
});

// A wxseal request needs up to 14 header fields of its own, plus Host, Content-Length, ….
const MIN_HEADER_COUNT = 32;
/** The largest `limits.maxHeaderCount` (the gateway's server collects one field more than this). */
export const MAX_HEADER_COUNT = 1_000;

/** An IPv4/IPv6 address, or one with a prefix length in range (`10.0.0.0/8`, `fd00::/8`). */
function isAddressOrCidr(value: string): boolean {
  const slash = value.indexOf('/');
  const address = slash < 0 ? value : value.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return false;
  if (slash < 0) return true;
  const bits = value.slice(slash + 1);
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

function isSafePrefix(p: string): boolean {
  if (!/^\/[\x21-\x7e]*$/.test(p) || /[?#%\\]/.test(p)) return false;
  return !p.split('/').some((s) => s === '.' || s === '..');
}

const prefix = z.string().refine(isSafePrefix, {
  error: 'must be a path starting with / (printable ASCII; no query, fragment, %, \\ or dot-segments)',
});

const upstreamUrl = z.string().refine(
  (v) => {
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      return false;
    }
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.search === '' && url.hash === '' && url.username === '' && url.password === '';
  },
  { error: 'must be an http(s) URL (no credentials, query or fragment)' },
);

const listenerSchema = z.object({ host: nonEmpty.default('127.0.0.1'), port }).strict();

const publicListenerSchema = z
  .object({
    host: nonEmpty.default('0.0.0.0'),
    port,
    requestTimeoutMs: ms.default(60_000),
    headersTimeoutMs: ms.default(10_000),
    keepAliveTimeoutMs: ms.default(5_000),
  })
  .strict();

const routeSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._/:-]{1,128}$/, { error: 'must be 1-128 characters of A-Z a-z 0-9 . _ / : -' }).optional(),
    prefix,
    upstream: upstreamUrl,
    mode: z.enum(ROUTE_MODES).default('sealed'),
    stripPrefix: z.boolean().default(false),
    maxBodyBytes: bytes.optional(),
    maxResponseBytes: bytes.optional(),
    timeoutMs: ms.optional(),
    connectTimeoutMs: ms.optional(),
  })
  .strict();

const secretSchema = z
  .object({
    id: nonEmpty.optional(),
    secret: nonEmpty.optional(),
    secretEnv: envName.optional(),
    secretFile: nonEmpty.optional(),
    notBefore: instant.optional(),
    notAfter: instant.optional(),
  })
  .strict()
  .superRefine((s, ctx) => exactlyOne(s, ['secret', 'secretEnv', 'secretFile'], ctx));

const clientSchema = z
  .object({
    keyId: id,
    secrets: z
      .array(secretSchema)
      .min(1, { error: 'must list at least one secret' })
      .max(MAX_SECRETS_PER_KEY, { error: `must list at most ${MAX_SECRETS_PER_KEY} secrets (SPEC.md section 11)` }),
    allowedModes: z.array(z.enum(['sealed', 'signed'])).min(1, { error: 'must list "sealed" and/or "signed"' }).optional(),
    revoked: z.boolean().default(false),
  })
  .strict();

const serverKeySchema = z
  .object({
    id: id.optional(),
    privateKey: nonEmpty.optional(),
    privateKeyEnv: envName.optional(),
    privateKeyFile: nonEmpty.optional(),
  })
  .strict()
  .superRefine((k, ctx) => exactlyOne(k, ['privateKey', 'privateKeyEnv', 'privateKeyFile'], ctx));

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
  .superRefine((r, ctx) => exactlyOne(r, ['url', 'urlEnv'], ctx));

const schema = z
  .object({
    listeners: z
      .object({
        public: publicListenerSchema,
        admin: listenerSchema.prefault({ port: 9090 }),
      })
      .strict(),
    routes: z.array(routeSchema).min(1, { error: 'must list at least one route' }),
    clients: z.array(clientSchema).default([]),
    serverKeys: z.array(serverKeySchema).default([]),
    nonceStore: z.discriminatedUnion('type', [memoryStoreSchema, redisStoreSchema]).prefault({ type: 'memory' }),
    limits: z
      .object({
        windowSeconds: int(1, LIMITS.maxWindowSeconds).default(LIMITS.defaultWindowSeconds),
        maxBodyBytes: bytes.default(LIMITS.defaultMaxBodyBytes),
        maxResponseBytes: bytes.default(8 * 1024 * 1024),
        upstreamTimeoutMs: ms.default(30_000),
        upstreamConnectTimeoutMs: ms.default(5_000),
        // Node's server keeps at most 2,000 header fields and drops the rest silently; the gateway
        // refuses a request over this count instead (431), before reading anything else.
        maxHeaderCount: int(MIN_HEADER_COUNT, MAX_HEADER_COUNT).default(100),
      })
      .strict()
      .prefault({}),
    trustedProxies: z.array(z.string().refine(isAddressOrCidr, { error: 'must be an IP address or a CIDR block (10.0.0.0/8, fd00::/8)' })).max(1024).default([]),
    sessionKeyCache: z.object({ maxEntries: int(1).default(10_000), ttlSeconds: int(1, 86_400).default(300) }).strict().optional(),
    shutdown: z.object({ drainTimeoutMs: ms.default(10_000) }).strict().prefault({}),
    log: z.object({ level: z.enum(LOG_LEVELS).default('info') }).strict().prefault({}),
    devices: devicesSchema.optional(),
    admin: adminSchema.optional(),
  })
  .strict();

/** A config as written in the file (or passed as an object): the input of `loadGatewayConfig`. */
export type GatewayConfigInput = z.input<typeof schema>;

function exactlyOne(value: Record<string, unknown>, keys: readonly string[], ctx: z.RefinementCtx): void {
  const present = keys.filter((k) => value[k] !== undefined);
  if (present.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message: present.length === 0 ? `needs one of ${keys.join(', ')}` : `give only one of ${present.join(', ')}`,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The validated, resolved config: secrets read from env/files, keys parsed, defaults applied.
// ---------------------------------------------------------------------------------------------

export type RouteMode = (typeof ROUTE_MODES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ListenerConfig {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
}

export interface PublicListenerConfig extends ListenerConfig {
  /** Longest time to receive a whole request (Node's requestTimeout). */
  readonly requestTimeoutMs: number;
  /** Longest time to receive the request headers (slow-loris bound). */
  readonly headersTimeoutMs: number;
  /** Idle keep-alive connections are closed after this. */
  readonly keepAliveTimeoutMs: number;
}

export interface RouteConfig {
  /** Metrics and log label; defaults to the prefix. */
  readonly name: string;
  /** Path prefix, matched on whole segments (`/api` matches `/api` and `/api/x`, not `/apix`). */
  readonly prefix: string;
  /** Upstream base URL; its path, if any, is put before the forwarded path. */
  readonly upstream: string;
  readonly mode: RouteMode;
  readonly stripPrefix: boolean;
  readonly maxBodyBytes: number;
  readonly maxResponseBytes: number;
  /** Deadline for the upstream's whole answer (headers and body). */
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
}

export interface ClientSecretConfig {
  readonly id?: string;
  readonly notBefore?: number;
  readonly notAfter?: number;
  /** Raw bytes. Non-enumerable: never shows in JSON.stringify or console.log of the config. */
  readonly secret: Uint8Array;
}

export interface ClientConfig {
  readonly keyId: string;
  readonly secrets: readonly ClientSecretConfig[];
  readonly allowedModes?: readonly Mode[];
  readonly revoked: boolean;
}

export interface ServerKeyConfig {
  readonly id: string;
  readonly privateKey: KeyObject;
}

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

export interface LimitsConfig {
  readonly windowSeconds: number;
  readonly maxBodyBytes: number;
  readonly maxResponseBytes: number;
  readonly upstreamTimeoutMs: number;
  readonly upstreamConnectTimeoutMs: number;
  /** Most header fields a request may have (431 WXSEAL_TOO_MANY_HEADERS beyond). */
  readonly maxHeaderCount: number;
}

export interface GatewayConfig {
  /** Absolute path of the file the config came from; `reload()` re-reads it. */
  readonly configPath: string | undefined;
  readonly listeners: { readonly public: PublicListenerConfig; readonly admin: ListenerConfig };
  readonly routes: readonly RouteConfig[];
  readonly clients: readonly ClientConfig[];
  readonly serverKeys: readonly ServerKeyConfig[];
  readonly nonceStore: NonceStoreConfig;
  readonly limits: LimitsConfig;
  /** Peers whose X-Forwarded-For is believed for the client address (addresses and CIDR blocks). */
  readonly trustedProxies: readonly string[];
  readonly sessionKeyCache: { readonly maxEntries: number; readonly ttlSeconds: number } | undefined;
  readonly shutdown: { readonly drainTimeoutMs: number };
  readonly log: { readonly level: LogLevel };
  /** Device keys (一机一密, SPEC.md section 15); undefined when the section is absent. */
  readonly devices: DevicesConfig | undefined;
  /** The admin API and console (ADMIN-API.md); undefined when the section is absent. */
  readonly admin: AdminConfig | undefined;
}

export interface LoadConfigOptions {
  /** Where relative file paths resolve for an object config (default: the working directory). */
  baseDir?: string;
  /** Environment for `secretEnv`, `privateKeyEnv`, `urlEnv` (default: process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

const CONFIG_MARK = Symbol('wxseal.gatewayConfig');

/** True for a config returned by loadGatewayConfig (rather than raw input). */
export function isGatewayConfig(value: unknown): value is GatewayConfig {
  return typeof value === 'object' && value !== null && (value as { [CONFIG_MARK]?: boolean })[CONFIG_MARK] === true;
}

/** `routes[1].upstream` from zod's ['routes', 1, 'upstream']. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

const article = (word: string): string => (/^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`);

// Messages for the issues the schema does not word itself.
const errorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${article(issue.expected === 'int' ? 'integer' : issue.expected)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_union':
      if ('discriminator' in issue && Array.isArray((issue as { options?: unknown }).options)) {
        return `must be one of ${((issue as { options: unknown[] }).options).map((v) => JSON.stringify(v)).join(', ')}`;
      }
      return undefined;
    default:
      return undefined;
  }
};

function issuesOf(error: z.ZodError): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: formatPath([...issue.path, key]), message: 'unknown field' });
    } else {
      out.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return out;
}

function hidden<T extends object, K extends string, V>(target: T, key: K, value: V): T & { readonly [P in K]: V } {
  Object.defineProperty(target, key, { value, enumerable: false, writable: false, configurable: false });
  return target as T & { readonly [P in K]: V };
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[invalid url]';
  }
}

function readText(file: string, baseDir: string): string {
  return readFileSync(resolve(baseDir, file), 'utf8');
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? (err instanceof Error ? err.message : String(err));
}

/**
 * Reads, validates and resolves a gateway config: a YAML or JSON file (path), or an object of the
 * same shape. Secrets and private keys are read from `secretEnv`/`secretFile`/`privateKeyEnv`/
 * `privateKeyFile` here (relative files resolve against the config file's directory), and checked.
 * Throws GatewayConfigError (WXSEAL_CONFIG_INVALID) listing every mistake with its path.
 */
export function loadGatewayConfig(source: string | GatewayConfigInput | GatewayConfig, options: LoadConfigOptions = {}): GatewayConfig {
  if (isGatewayConfig(source)) return source;
  const env = options.env ?? process.env;
  let raw: unknown;
  let configPath: string | undefined;
  let baseDir: string;
  if (typeof source === 'string') {
    configPath = resolve(source);
    baseDir = dirname(configPath);
    let text: string;
    try {
      text = readFileSync(configPath, 'utf8');
    } catch (err) {
      throw new GatewayConfigError([{ path: '', message: `cannot read ${configPath}: ${errnoOf(err)}` }], configPath);
    }
    try {
      // YAML 1.2 is a superset of JSON; JSON.parse gives better messages for .json files.
      raw = configPath.endsWith('.json') ? JSON.parse(text) : parseYaml(text, { prettyErrors: true, uniqueKeys: true });
    } catch (err) {
      throw new GatewayConfigError([{ path: '', message: `cannot parse: ${(err as Error).message.split('\n')[0]}` }], configPath);
    }
  } else {
    raw = source;
    baseDir = resolve(options.baseDir ?? process.cwd());
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new GatewayConfigError([{ path: '', message: 'the config must be an object (a YAML mapping)' }], configPath);
  }

  const parsed = schema.safeParse(raw, { error: errorMap });
  if (!parsed.success) throw new GatewayConfigError(issuesOf(parsed.error), configPath);
  const c = parsed.data;
  const issues: ConfigIssue[] = [];
  const issue = (path: string, message: string): void => {
    issues.push({ path, message });
  };

  // Cross-field checks.
  if (c.listeners.public.port !== 0 && c.listeners.public.port === c.listeners.admin.port) {
    issue('listeners.admin.port', 'must differ from listeners.public.port');
  }
  if (c.listeners.public.headersTimeoutMs > c.listeners.public.requestTimeoutMs) {
    issue('listeners.public.headersTimeoutMs', 'must not exceed listeners.public.requestTimeoutMs');
  }
  const seenPrefix = new Map<string, number>();
  const seenName = new Map<string, number>();
  const routes: RouteConfig[] = c.routes.map((r, i) => {
    const normalized = r.prefix.length > 1 ? r.prefix.replace(/\/+$/, '') || '/' : r.prefix;
    const name = r.name ?? normalized;
    const prevPrefix = seenPrefix.get(normalized);
    if (prevPrefix !== undefined) issue(`routes[${i}].prefix`, `duplicates routes[${prevPrefix}].prefix`);
    else seenPrefix.set(normalized, i);
    const prevName = seenName.get(name);
    // A duplicated prefix already says it all when the name defaults to the prefix.
    if (prevName !== undefined && prevPrefix === undefined) issue(`routes[${i}].name`, `duplicates the name of routes[${prevName}]`);
    else seenName.set(name, i);
    if ((r.mode === 'sealed' || r.mode === 'sealed-or-signed') && c.serverKeys.length === 0) {
      issue(`routes[${i}].mode`, `${r.mode} needs at least one entry in serverKeys`);
    }
    return {
      name,
      prefix: normalized,
      upstream: new URL(r.upstream).toString(),
      mode: r.mode,
      stripPrefix: r.stripPrefix,
      maxBodyBytes: r.maxBodyBytes ?? c.limits.maxBodyBytes,
      maxResponseBytes: r.maxResponseBytes ?? c.limits.maxResponseBytes,
      timeoutMs: r.timeoutMs ?? c.limits.upstreamTimeoutMs,
      connectTimeoutMs: r.connectTimeoutMs ?? c.limits.upstreamConnectTimeoutMs,
    };
  });
  // With devices configured, the credentials may all live in the device registry.
  if (routes.some((r) => r.mode !== 'passthrough') && c.clients.length === 0 && c.devices === undefined) {
    issue('clients', 'must list at least one client credential (or configure devices) for the sealed/signed routes');
  }

  // Client credentials: secrets from the config, the environment or files.
  const seenKey = new Map<string, number>();
  const clients: ClientConfig[] = c.clients.map((client, i) => {
    const prev = seenKey.get(client.keyId);
    if (prev !== undefined) issue(`clients[${i}].keyId`, `duplicates clients[${prev}].keyId`);
    else seenKey.set(client.keyId, i);
    const secrets: ClientSecretConfig[] = [];
    client.secrets.forEach((s, j) => {
      const at = `clients[${i}].secrets[${j}]`;
      let text: string | undefined;
      if (s.secret !== undefined) text = s.secret;
      else if (s.secretEnv !== undefined) {
        text = env[s.secretEnv];
        if (text === undefined || text.trim() === '') issue(`${at}.secretEnv`, `environment variable ${s.secretEnv} is not set`);
      } else if (s.secretFile !== undefined) {
        try {
          text = readText(s.secretFile, baseDir);
        } catch (err) {
          issue(`${at}.secretFile`, `cannot read ${resolve(baseDir, s.secretFile)}: ${errnoOf(err)}`);
        }
      }
      if (text === undefined || text.trim() === '') return;
      if (s.notBefore !== undefined && s.notAfter !== undefined && s.notAfter < s.notBefore) issue(`${at}.notAfter`, 'must not be before notBefore');
      try {
        const normalized = normalizeSecret({ secret: text.trim(), ...(s.id !== undefined ? { id: s.id } : {}) });
        const entry: { id?: string; notBefore?: number; notAfter?: number } = {};
        if (s.id !== undefined) entry.id = s.id;
        if (s.notBefore !== undefined) entry.notBefore = s.notBefore;
        if (s.notAfter !== undefined) entry.notAfter = s.notAfter;
        secrets.push(hidden(entry, 'secret', normalized.secret));
      } catch (err) {
        // normalizeSecret's messages describe the value's form, never the value.
        issue(at, (err as Error).message);
      }
    });
    const out: { keyId: string; secrets: ClientSecretConfig[]; revoked: boolean; allowedModes?: readonly Mode[] } = {
      keyId: client.keyId,
      secrets,
      revoked: client.revoked,
    };
    if (client.allowedModes) out.allowedModes = [...new Set(client.allowedModes)];
    return out;
  });

  // Server keys: parsed once here, so a bad key is a config error rather than a failed request.
  const ring = new ServerKeyRing();
  const serverKeys: ServerKeyConfig[] = [];
  c.serverKeys.forEach((k, i) => {
    const at = `serverKeys[${i}]`;
    let pem: string | undefined;
    if (k.privateKey !== undefined) pem = k.privateKey;
    else if (k.privateKeyEnv !== undefined) {
      pem = env[k.privateKeyEnv];
      if (pem === undefined || pem.trim() === '') issue(`${at}.privateKeyEnv`, `environment variable ${k.privateKeyEnv} is not set`);
    } else if (k.privateKeyFile !== undefined) {
      try {
        pem = readText(k.privateKeyFile, baseDir);
      } catch (err) {
        issue(`${at}.privateKeyFile`, `cannot read ${resolve(baseDir, k.privateKeyFile)}: ${errnoOf(err)}`);
      }
    }
    if (pem === undefined || pem.trim() === '') return;
    let privateKey: KeyObject;
    try {
      privateKey = loadServerPrivateKey(pem);
    } catch (err) {
      issue(at, `not a usable RSA private key: ${(err as Error).message}`);
      return;
    }
    try {
      // The ring computes the default id and refuses a duplicate one.
      const keyId = ring.add({ privateKey, ...(k.id !== undefined ? { id: k.id } : {}) });
      serverKeys.push({ id: keyId, privateKey });
    } catch (err) {
      issue(at, (err as Error).message);
    }
  });

  let nonceStore: NonceStoreConfig;
  if (c.nonceStore.type === 'redis') {
    const r = c.nonceStore;
    let url = r.url;
    if (r.urlEnv !== undefined) {
      url = env[r.urlEnv];
      if (url === undefined || url.trim() === '') issue('nonceStore.urlEnv', `environment variable ${r.urlEnv} is not set`);
    }
    if (url !== undefined && url.trim() !== '' && !/^rediss?:\/\/[^/]/.test(url.trim())) {
      issue(r.urlEnv !== undefined ? 'nonceStore.urlEnv' : 'nonceStore.url', 'must be a redis:// or rediss:// URL');
    }
    const base = {
      type: 'redis' as const,
      displayUrl: redactUrl(url?.trim() ?? ''),
      prefix: r.prefix,
      commandTimeoutMs: r.commandTimeoutMs,
      connectTimeoutMs: r.connectTimeoutMs,
      reconnectMaxDelayMs: r.reconnectMaxDelayMs,
    };
    nonceStore = hidden(base, 'url', url?.trim() ?? '');
  } else {
    nonceStore = { type: 'memory', maxEntries: c.nonceStore.maxEntries };
  }

  const devices = c.devices === undefined ? undefined : resolveDevicesConfig(c.devices, { env, baseDir, issue, routes, hasServerKeys: serverKeys.length > 0 });

  const admin = c.admin === undefined ? undefined : resolveAdminConfig(c.admin, { env, baseDir, issue });

  if (issues.length > 0) throw new GatewayConfigError(issues, configPath);

  const config: GatewayConfig = {
    configPath,
    listeners: { public: { ...c.listeners.public }, admin: { ...c.listeners.admin } },
    routes,
    clients,
    serverKeys,
    nonceStore,
    limits: { ...c.limits },
    trustedProxies: [...c.trustedProxies],
    sessionKeyCache: c.sessionKeyCache ? { ...c.sessionKeyCache } : undefined,
    shutdown: { ...c.shutdown },
    log: { ...c.log },
    devices,
    admin,
  };
  return markLoaded(config);
}

/** Marks a config as validated and resolved (loadGatewayConfig returns it as is). */
export function markLoaded(config: GatewayConfig): GatewayConfig {
  if (!isGatewayConfig(config)) Object.defineProperty(config, CONFIG_MARK, { value: true, enumerable: false });
  return config;
}
