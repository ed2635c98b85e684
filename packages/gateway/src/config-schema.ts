/**
 * The gateway config file's format, validated with zod: every field, its bounds and defaults, and
 * the wording of zod's issues as `path: message` lines. Every field has a default unless it names
 * something only the operator can know (ports, upstreams, credentials). Resolving what the file
 * names (secrets, keys, URLs) and the checks across fields are config.ts's.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { LIMITS, MAX_SECRETS_PER_KEY } from '@wxseal/protocol';
import { devicesSchema } from './devices-config.js';
import { adminSchema } from './admin/config.js';
import { controlPlaneSchema } from './fleet-config.js';
import { nonceStoreSchema } from './nonce-config.js';
import { GatewayConfigError, type ConfigIssue } from './errors.js';

export const ROUTE_MODES = ['sealed', 'signed', 'sealed-or-signed', 'passthrough'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
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
    nonceStore: nonceStoreSchema,
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
    fleet: z.boolean().default(false),
    controlPlane: controlPlaneSchema.optional(),
  })
  .strict();

/** A config as written in the file (or passed as an object): the input of `loadGatewayConfig`. */
export type GatewayConfigInput = z.input<typeof schema>;
/** A config that fits the format, defaults applied; nothing it names is read or checked yet. */
export type ParsedConfig = z.output<typeof schema>;

function exactlyOne(value: Record<string, unknown>, keys: readonly string[], ctx: z.RefinementCtx): void {
  const present = keys.filter((k) => value[k] !== undefined);
  if (present.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message: present.length === 0 ? `needs one of ${keys.join(', ')}` : `give only one of ${present.join(', ')}`,
    });
  }
}

export type RouteMode = (typeof ROUTE_MODES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

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

/** Validates a config against the format; throws GatewayConfigError listing every issue with its path. */
export function parseConfig(raw: unknown, configPath: string | undefined): ParsedConfig {
  const parsed = schema.safeParse(raw, { error: errorMap });
  if (!parsed.success) throw new GatewayConfigError(issuesOf(parsed.error), configPath);
  return parsed.data;
}
