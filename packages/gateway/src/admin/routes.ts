/**
 * The admin API's route table: method, path, zod schemas for params / query / body / response,
 * the success status and, for state-changing routes, the audit action. The handlers live in
 * api.ts; the OpenAPI document (openapi.ts) is generated from this table.
 */
import { z } from 'zod';
import { statsSnapshotSchema } from './stats.js';
import { CERTIFICATE_KINDS } from './certificates.js';

export const API_PREFIX = '/admin/api/v1';
export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_IMPORT_BODY_BYTES = 8 * 1024 * 1024;
export const MAX_IMPORT_ROWS = 10_000;

const ID = /^[A-Za-z0-9._:-]{1,64}$/;
const idText = (what: string) => z.string().regex(ID, { error: `${what} must be 1-64 characters of A-Z a-z 0-9 . _ : -` });
const serial = idText('serial');
const productId = idText('productId');
const reason = z
  .string({ error: 'reason is required (1-500 characters: why this change is made)' })
  .trim()
  .min(1, { error: 'reason must not be empty' })
  .max(500, { error: 'reason must be at most 500 characters' });
const iso = z.string().describe('ISO 8601 date-time');
const limit = (max: number, fallback: number) =>
  z.coerce.number({ error: `limit must be an integer from 1 to ${max}` }).int({ error: `limit must be an integer from 1 to ${max}` }).min(1).max(max).default(fallback);

// --- shared response shapes -------------------------------------------------------------------

export const errorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export const deviceSchema = z.object({
  serial: z.string(),
  productId: z.string(),
  status: z.enum(['active', 'revoked']),
  keyVersion: z.number().int(),
  createdAt: iso,
  updatedAt: iso,
  revokedAt: iso.optional(),
  revokeReason: z.string().optional(),
  lastSeenAt: iso.optional(),
});

export const auditEntrySchema = z.object({
  id: z.number().int(),
  at: iso,
  actor: z.string(),
  action: z.string(),
  target: z.string().optional(),
  reason: z.string().optional(),
  outcome: z.enum(['ok', 'refused', 'failed']),
  client: z.string(),
  detail: z.record(z.string(), z.unknown()).optional(),
});

const issuedKeySchema = z.object({ keyId: z.string(), secret: z.string().describe('base64url, shown once'), version: z.number().int() });
const sessionSchema = z.object({ actor: z.string(), csrfToken: z.string(), expiresAt: iso });
const ownerSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('wechatpay'), mchid: z.string().min(1).max(32) }).strict(),
  z.object({ kind: z.literal('mp'), appid: z.string().min(1).max(64) }).strict(),
  // The gateway's own TLS material: a listener ("public") or a route's upstream, by name.
  z.object({ kind: z.literal('tls'), name: z.string().min(1).max(128) }).strict(),
]);

const edgeTlsStatusSchema = z.object({
  subject: z.string(),
  issuer: z.string(),
  serial: z.string(),
  fingerprint256: z.string(),
  notBefore: iso,
  notAfter: iso,
  names: z.array(z.string()),
  source: z.enum(['start', 'file', 'signal', 'admin', 'upload', 'fleet']),
  loadedAt: iso,
  clientCas: z.number().int(),
  crl: z.boolean().describe('whether a CRL of client certificates is in force'),
  clientAuthSource: z
    .enum(['files', 'upload', 'fleet'])
    .describe('where the client CAs and CRL come from: clientAuth.caFile/crlFile, or a bundle (an upload here, the fleet) that set them and wins over the files until a newer bundle or POST /tls/edge/reload'),
  lastFailure: z.object({ at: iso, source: z.string(), reason: z.string() }).optional(),
});

// --- the table --------------------------------------------------------------------------------

export interface AdminRouteSpec {
  readonly id: string;
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** Below API_PREFIX, with `:name` parameters. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  /** Reachable without a session: the login call and the list of login methods. */
  readonly public?: boolean;
  /** Audit action of a state-changing route. */
  readonly action?: string;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  readonly bodyLimit?: number;
  readonly status: number;
  readonly response?: z.ZodType;
}

const reasonBody = z.object({ reason }).strict();
// The bounds of the fleet bundle (tls/edge-sync.ts EDGE_BUNDLE_LIMITS): what is accepted here travels.
const clientCaPem = z.string().min(1).max(256 * 1024).describe('the CA bundle of client certificates, PEM: replaces clientAuth.caFile\'s on every instance of the fleet');
const crlPem = z.string().min(1).max(256 * 1024).describe('the CRL of client certificates, PEM (-----BEGIN X509 CRL-----): replaces clientAuth.crlFile\'s on every instance of the fleet');
const serverKeyType = z
  .enum(['rsa', 'x25519', 'sm2'], { error: 'type must be "rsa", "x25519" or "sm2"' })
  .describe('the server key type: rsa (RSA-OAEP-SHA256), x25519 (HPKE, RFC 9180: no RSA on the server\'s hot path) or sm2 (the SM suite: SM2, SM4-GCM, SM3)');
const serverKeySuite = z
  .enum(['rsa-oaep-256', 'x25519-hpke', 'sm2-sm4-gcm'])
  .describe('the suite sealed requests to the key use (SPEC.md 6.2, 6.5, 6.6), named by the key type');

export const ADMIN_ROUTES = [
  {
    id: 'login',
    method: 'POST',
    path: '/session',
    tag: 'session',
    summary: 'Log in with the admin token or a user name and password; sets the session cookie',
    public: true,
    action: 'session.login',
    body: z.union([
      z.object({ token: z.string().min(1).max(1024) }).strict(),
      z.object({ user: z.string().min(1).max(64), password: z.string().min(1).max(1024) }).strict(),
    ]),
    status: 200,
    response: sessionSchema,
  },
  {
    // Public like the login: a login page opens on the form that can succeed. It tells no more
    // than the login form itself would (which kinds of credential are accepted), nothing about them.
    id: 'loginMethods',
    method: 'GET',
    path: '/session/methods',
    tag: 'session',
    summary: 'The login methods this gateway accepts (admin token, user name and password)',
    public: true,
    status: 200,
    response: z.object({ methods: z.array(z.enum(['token', 'password'])) }),
  },
  { id: 'getSession', method: 'GET', path: '/session', tag: 'session', summary: 'The current session', status: 200, response: sessionSchema },
  { id: 'logout', method: 'DELETE', path: '/session', tag: 'session', summary: 'Log out (clears the cookie)', action: 'session.logout', status: 204 },
  {
    id: 'listDevices',
    method: 'GET',
    path: '/devices',
    tag: 'devices',
    summary: 'Devices by serial prefix, product and status, keyset-paged in serial order',
    query: z
      .object({
        q: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, { error: 'q must be a serial prefix (1-64 characters of A-Z a-z 0-9 . _ : -)' }).optional(),
        product: productId.optional(),
        status: z.enum(['active', 'revoked']).optional(),
        cursor: z.string().max(200).optional(),
        limit: limit(200, 50),
      })
      .strict(),
    status: 200,
    response: z.object({ devices: z.array(deviceSchema), nextCursor: z.string().optional() }),
  },
  {
    id: 'provisionDevice',
    method: 'POST',
    path: '/devices',
    tag: 'devices',
    summary: 'Provision (activate) a device; its key is shown this once',
    action: 'device.provision',
    body: z.object({ serial, productId, reason }).strict(),
    status: 201,
    response: z.object({ device: deviceSchema, key: issuedKeySchema }),
  },
  {
    id: 'importDevices',
    method: 'POST',
    path: '/devices/import',
    tag: 'devices',
    summary: `Provision many devices of one product (at most ${MAX_IMPORT_ROWS} rows); serials already provisioned are skipped`,
    action: 'device.import',
    body: z
      .object({
        productId,
        rows: z
          .array(z.object({ serial, key: z.string().regex(/^[A-Za-z0-9_-]{43}$/, { error: 'key must be 32 bytes in base64url (43 characters)' }).optional() }).strict())
          .min(1, { error: 'rows must not be empty' })
          .max(MAX_IMPORT_ROWS, { error: `rows must hold at most ${MAX_IMPORT_ROWS} entries` }),
        reason,
      })
      .strict(),
    bodyLimit: MAX_IMPORT_BODY_BYTES,
    status: 200,
    response: z.object({ imported: z.number().int(), skipped: z.number().int(), failed: z.array(z.object({ serial: z.string(), error: z.string() })) }),
  },
  {
    id: 'getDevice',
    method: 'GET',
    path: '/devices/:serial',
    tag: 'devices',
    summary: 'One device and its audit trail (oldest first)',
    params: z.object({ serial }),
    status: 200,
    response: z.object({ device: deviceSchema, audit: z.array(auditEntrySchema) }),
  },
  {
    id: 'rotateDevice',
    method: 'POST',
    path: '/devices/:serial/rotate',
    tag: 'devices',
    summary: 'Give a device a new key; the old one keeps working for graceSeconds',
    action: 'device.rotate',
    params: z.object({ serial }),
    body: z.object({ graceSeconds: z.number().int().min(0).max(604_800).default(3600), reason }).strict(),
    status: 200,
    response: z.object({ device: deviceSchema, key: issuedKeySchema }),
  },
  {
    id: 'revokeDevice',
    method: 'POST',
    path: '/devices/:serial/revoke',
    tag: 'devices',
    summary: 'Revoke a device, at once on every instance',
    action: 'device.revoke',
    params: z.object({ serial }),
    body: reasonBody,
    status: 200,
    response: z.object({ device: deviceSchema }),
  },
  {
    id: 'listCredentials',
    method: 'GET',
    path: '/credentials',
    tag: 'credentials',
    summary: 'Client credentials and their secrets (never the secret values)',
    status: 200,
    response: z.object({
      credentials: z.array(
        z.object({
          keyId: z.string(),
          secrets: z.array(z.object({ secretId: z.string(), source: z.enum(['config', 'admin']), status: z.enum(['active', 'retired']), createdAt: iso.optional() })),
        }),
      ),
    }),
  },
  {
    id: 'addSecret',
    method: 'POST',
    path: '/credentials/:keyId/secrets',
    tag: 'credentials',
    summary: 'Add a random secret to a client credential (shown once; accepted at once)',
    action: 'credential.secret.add',
    params: z.object({ keyId: idText('keyId') }),
    body: reasonBody,
    status: 201,
    response: z.object({ secretId: z.string(), secret: z.string() }),
  },
  {
    id: 'retireSecret',
    method: 'POST',
    path: '/credentials/:keyId/secrets/:secretId/retire',
    tag: 'credentials',
    summary: 'Retire a client secret (it stops verifying at once)',
    action: 'credential.secret.retire',
    params: z.object({ keyId: idText('keyId'), secretId: z.string().min(1).max(128) }),
    body: reasonBody,
    status: 200,
    response: z.object({ secretId: z.string(), status: z.literal('retired') }),
  },
  {
    id: 'listServerKeys',
    method: 'GET',
    path: '/server-keys',
    tag: 'server-keys',
    summary: 'Server keys (RSA, X25519 or SM2): the active one, those kept for decryption, the retired ones',
    status: 200,
    response: z.object({
      keys: z.array(
        z.object({
          kid: z.string(),
          type: serverKeyType,
          suite: serverKeySuite,
          status: z.enum(['active', 'decrypt-only', 'retired']),
          source: z.enum(['config', 'admin']),
          createdAt: iso.optional(),
          publicKeyPem: z.string(),
        }),
      ),
    }),
  },
  {
    id: 'rotateServerKey',
    method: 'POST',
    path: '/server-keys/rotate',
    tag: 'server-keys',
    summary: 'Generate a server key (RSA-2048 by default, or X25519) and make it the active one (the previous keys still decrypt)',
    action: 'server-key.rotate',
    body: z.object({ type: serverKeyType.default('rsa'), reason }).strict(),
    status: 201,
    response: z.object({ kid: z.string(), type: serverKeyType, suite: serverKeySuite, publicKeyPem: z.string() }),
  },
  {
    id: 'retireServerKey',
    method: 'POST',
    path: '/server-keys/:kid/retire',
    tag: 'server-keys',
    summary: 'Retire a server key that is not the active one (it stops decrypting at once)',
    action: 'server-key.retire',
    params: z.object({ kid: idText('kid') }),
    body: reasonBody,
    status: 200,
    response: z.object({ kid: z.string(), status: z.literal('retired') }),
  },
  {
    id: 'listCertificates',
    method: 'GET',
    path: '/certificates',
    tag: 'certificates',
    summary: 'TLS certificates of the gateway (edge, client CAs, upstreams), WeChat platform and WeChat Pay certificates and public keys, with their expiry status',
    status: 200,
    response: z.object({
      certificates: z.array(
        z.object({
          owner: ownerSchema,
          kind: z.enum(CERTIFICATE_KINDS),
          serial: z.string(),
          subject: z.string().optional(),
          source: z.string(),
          notAfter: iso.optional(),
          secondsToExpiry: z.number().int().optional(),
          status: z.enum(['ok', 'warning', 'critical', 'expired']),
        }),
      ),
    }),
  },
  {
    id: 'refreshCertificates',
    method: 'POST',
    path: '/certificates/refresh',
    tag: 'certificates',
    summary: 'Refresh certificates (all owners, or one)',
    action: 'certificates.refresh',
    body: z.object({ owner: ownerSchema.optional(), reason }).strict(),
    status: 200,
    response: z.object({ refreshed: z.number().int() }),
  },
  {
    id: 'listAudit',
    method: 'GET',
    path: '/audit',
    tag: 'audit',
    summary: 'The admin audit log, newest first',
    query: z
      .object({
        cursor: z.string().regex(/^\d{1,15}$/, { error: 'cursor must be the nextCursor of a previous page' }).optional(),
        limit: limit(200, 50),
        actor: z.string().max(128).optional(),
        action: z.string().max(64).optional(),
      })
      .strict(),
    status: 200,
    response: z.object({ entries: z.array(auditEntrySchema), nextCursor: z.string().optional() }),
  },
  {
    id: 'getStats',
    method: 'GET',
    path: '/stats',
    tag: 'stats',
    summary: 'Live counters of the whole fleet (every live instance added up), or of one instance (?instance=), with the last 60 minutes per minute',
    query: z.object({ instance: idText('instance').optional() }).strict(),
    status: 200,
    response: z.object({
      scope: z.enum(['fleet', 'instance']),
      instance: z.string().optional().describe('the instance shown when scope is instance'),
      instanceCount: z.number().int().describe('how many instances the totals add up'),
      totals: statsSnapshotSchema,
      instances: z.array(
        z.object({
          instanceId: z.string(),
          startedAt: z.number().int().describe('Unix ms'),
          heartbeatAt: z.number().int().describe('Unix ms of its last heartbeat'),
          heartbeatAgeMs: z.number().int().describe('age of that heartbeat on the answering instance\'s clock'),
          stalenessMs: z.number().int().describe('how stale its control-plane view was (-1: never confirmed)'),
          version: z.number().int().describe('the control-plane change version it has applied'),
          self: z.boolean().describe('the instance that answered this call'),
          live: z.boolean().describe('heartbeat recent enough; gone instances are listed but not counted'),
          hasStats: z.boolean(),
          accepted: z.number().int(),
          rejected: z.number().int(),
        }),
      ),
      fleet: z.object({ available: z.boolean(), reason: z.string().optional().describe('why the fleet view is unavailable (the totals are then this instance\'s alone)') }),
    }),
  },
  {
    id: 'getEdgeTls',
    method: 'GET',
    path: '/tls/edge',
    tag: 'tls',
    summary: 'The certificate the public listener serves (HTTPS), where it came from, and the last failed reload',
    status: 200,
    response: edgeTlsStatusSchema,
  },
  {
    id: 'reloadEdgeTls',
    method: 'POST',
    path: '/tls/edge/reload',
    tag: 'tls',
    summary: 'Re-reads the edge certificate, key, client CAs and CRL from their files; swapped in only when they validate (409 and the current certificate stays otherwise)',
    action: 'tls.edge.reload',
    body: reasonBody,
    status: 200,
    response: edgeTlsStatusSchema,
  },
  {
    id: 'uploadEdgeTls',
    method: 'POST',
    path: '/tls/edge',
    tag: 'tls',
    summary: 'Replaces the edge certificate and key (PEM): validated like a file reload, written over certFile/keyFile, swapped in (400 and nothing changes when it does not validate)',
    action: 'tls.edge.upload',
    body: z
      .object({
        certPem: z.string().min(1).max(256 * 1024).describe('the certificate chain, PEM, leaf first'),
        keyPem: z.string().min(1).max(64 * 1024).describe('its private key, PEM (unencrypted; re-encrypted on disk with the configured passphrase)'),
        clientCaPem: clientCaPem.optional(),
        crlPem: crlPem.optional(),
        reason,
      })
      .strict(),
    bodyLimit: 1024 * 1024,
    status: 200,
    response: edgeTlsStatusSchema.extend({
      persisted: z.boolean().describe('false: served, but the files could not be written (a restart returns to them)'),
      published: z.boolean().optional().describe('with listeners.public.tls.sync: whether the fleet store took it (absent without sync)'),
    }),
  },
  {
    id: 'setEdgeClientAuth',
    method: 'POST',
    path: '/tls/edge/client-auth',
    tag: 'tls',
    summary:
      'Replaces the client CAs and/or the CRL of mutual TLS, keeping the served certificate; republished to the fleet with it, so every instance refuses a revoked client certificate within seconds (useFiles: back to clientAuth.caFile/crlFile everywhere). 400 and nothing changes when it does not validate',
    action: 'tls.edge.client-auth',
    body: z
      .object({
        clientCaPem: clientCaPem.optional(),
        crlPem: crlPem.optional(),
        useFiles: z.literal(true).optional().describe('drop the client CAs and CRL a bundle set: every instance returns to its clientAuth.caFile/crlFile'),
        reason,
      })
      .strict(),
    bodyLimit: 1024 * 1024,
    status: 200,
    response: edgeTlsStatusSchema.extend({
      persisted: z.boolean().describe('false: in force, but not written to clientAuth.caFile/crlFile (none configured, or the write failed); the fleet store still holds it'),
      published: z.boolean().optional().describe('with listeners.public.tls.sync: whether the fleet store took it (absent without sync)'),
    }),
  },
  {
    id: 'openapi',
    method: 'GET',
    path: '/openapi.json',
    tag: 'meta',
    summary: 'This document (OpenAPI 3.1)',
    status: 200,
    response: z.record(z.string(), z.unknown()),
  },
] as const satisfies readonly AdminRouteSpec[];

export type AdminRouteId = (typeof ADMIN_ROUTES)[number]['id'];

/** Finds the route of a method and a path below API_PREFIX; `pathMatched` tells a 404 from a wrong method. */
export function matchRoute(method: string, path: string): { route?: AdminRouteSpec; params: Record<string, string>; pathMatched: boolean } {
  const parts = path.split('/').slice(1);
  let pathMatched = false;
  for (const route of ADMIN_ROUTES as readonly AdminRouteSpec[]) {
    const pattern = route.path.split('/').slice(1);
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const p = pattern[i]!;
      const v = parts[i]!;
      if (p.startsWith(':')) {
        let decoded: string;
        try {
          decoded = decodeURIComponent(v);
        } catch {
          ok = false;
          break;
        }
        if (decoded === '') ok = false;
        params[p.slice(1)] = decoded;
      } else if (p !== v) ok = false;
    }
    if (!ok) continue;
    pathMatched = true;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, params, pathMatched };
  }
  return { params: {}, pathMatched };
}
