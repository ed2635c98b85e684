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
import { edgeSyncConfigSchema } from './tls/edge-sync-config.js';
import { GatewayConfigError, type ConfigIssue } from './errors.js';
import { normalizePin } from './tls/upstream-tls.js';

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

/** TLS versions the edge accepts as its minimum (1.3 is preferred whenever the client offers it). */
export const EDGE_TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
const file = nonEmpty.max(4096, { error: 'must be at most 4096 characters' });

/** HTTPS on the public listener (packages/gateway/src/tls/edge-tls.ts; README "TLS at the edge"). */
const edgeTlsSchema = z
  .object({
    /** The certificate chain (leaf first), PEM. */
    certFile: file,
    keyFile: file,
    /** The environment variable holding the key file's passphrase (an encrypted PKCS#8 key). */
    passphraseEnv: envName.optional(),
    /** CA bundle the certificate chain must lead to (checked before every swap). */
    caFile: file.optional(),
    /** DNS names and IP addresses the certificate must cover (checked before every swap). */
    names: z.array(nonEmpty.max(253)).max(100).default([]),
    minVersion: z.enum(EDGE_TLS_VERSIONS).default('TLSv1.2'),
    /** OpenSSL cipher list (TLS 1.2) and TLS 1.3 suites; default: ECDHE with AEAD only. */
    ciphers: nonEmpty.max(4096).optional(),
    /** Mutual TLS: the CAs of client certificates (requested on every connection, required per route). */
    clientAuth: z.object({ caFile: file, crlFile: file.optional(), required: z.boolean().default(false) }).strict().optional(),
    /** A DER OCSP response stapled to handshakes, refreshed by an external job (openssl ocsp -respout). */
    ocspResponseFile: file.optional(),
    /** Reload on changes to the files (debounced); SIGHUP and the admin API reload regardless. */
    watch: z.boolean().default(true),
    /** Shares the certificate across the fleet (etcd or Redis, encrypted): an upload to one instance reaches all. */
    sync: edgeSyncConfigSchema.optional(),
  })
  .strict();

const publicListenerSchema = z
  .object({
    host: nonEmpty.default('0.0.0.0'),
    port,
    requestTimeoutMs: ms.default(60_000),
    headersTimeoutMs: ms.default(10_000),
    keepAliveTimeoutMs: ms.default(5_000),
    tls: edgeTlsSchema.optional(),
  })
  .strict();

/**
 * TLS from the gateway to a route's https:// upstream. The upstream's certificate is always
 * verified (there is no way to turn that off); `caFile` replaces Node's built-in CAs.
 */
const upstreamTlsSchema = z
  .object({
    /** CA bundle (PEM) trusted for the upstream's certificate. */
    caFile: file.optional(),
    /** Client certificate (PEM, leaf first) presented to an upstream that requires mutual TLS. */
    certFile: file.optional(),
    keyFile: file.optional(),
    /** The environment variable holding the key file's passphrase. */
    passphraseEnv: envName.optional(),
    /** base64 SHA-256 of a SubjectPublicKeyInfo (optionally after sha256//); any certificate of the chain may match. */
    pinnedPublicKeys: z
      .array(z.string().refine((p) => normalizePin(p) !== undefined, { error: 'must be the base64 SHA-256 of a SubjectPublicKeyInfo (44 characters, optionally after sha256//)' }))
      .min(1, { error: 'must list at least one pin (or be left out)' })
      .max(32)
      .optional(),
    /** The name the upstream's certificate must carry (and the SNI sent); default: the upstream's host. */
    servername: z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, { error: 'must be a DNS name' }).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if ((t.certFile === undefined) !== (t.keyFile === undefined)) {
      ctx.addIssue({ code: 'custom', path: [t.certFile === undefined ? 'keyFile' : 'certFile'], message: t.certFile === undefined ? 'needs certFile' : 'needs keyFile' });
    }
    if (t.passphraseEnv !== undefined && t.keyFile === undefined) ctx.addIssue({ code: 'custom', path: ['passphraseEnv'], message: 'needs keyFile' });
  });

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
    /** Mutual TLS on this route (needs listeners.public.tls.clientAuth). */
    clientCertificate: z.enum(['required', 'optional']).optional(),
    /** TLS to an https:// upstream (packages/gateway/src/tls/upstream-tls.ts; README "Upstream TLS"). */
    tls: upstreamTlsSchema.optional(),
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
    /** Binds the key id to a client certificate: requests signed with it must come over a connection presenting that certificate. */
    clientCertificate: z
      .object({
        fingerprint256: z
          .string()
          .regex(/^(?:[0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, { error: 'must be a SHA-256 fingerprint: 64 hex digits, with or without colons' })
          .optional(),
        subject: nonEmpty.max(1024).optional(),
      })
      .strict()
      .refine((b) => b.fingerprint256 !== undefined || b.subject !== undefined, { error: 'needs fingerprint256 and/or subject' })
      .optional(),
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
