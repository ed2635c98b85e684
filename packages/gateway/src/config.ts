/**
 * Loading a gateway config: reading the file (YAML or JSON) or taking an object, validating it
 * against the format of config-schema.ts, then resolving what it names — secrets and private keys
 * from the environment or files, parsed and checked — and the checks across fields. The result is
 * the GatewayConfig a gateway runs with.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Mode } from '@wxseal/protocol';
import { loadGatewayServerKey, type ServerPrivateKey } from './server-key-material.js';
import { ServerKeyRing, normalizeSecret } from '@wxseal/server';
import { resolveDevicesConfig, type DevicesConfig } from './devices-config.js';
import { resolveAdminConfig, type AdminConfig } from './admin/config.js';
import { perInstanceState, resolveControlPlaneConfig, type ControlPlaneConfig } from './fleet-config.js';
import { resolveNonceStoreConfig, type NonceStoreConfig } from './nonce-config.js';

export type { MemoryNonceStoreConfig, NonceStoreConfig, RedisNonceStoreConfig } from './nonce-config.js';
export type { ControlPlaneConfig } from './fleet-config.js';
import { GatewayConfigError, type ConfigIssue } from './errors.js';
import { hidden } from './config-util.js';
import { loadUpstreamTls, normalizePin, type UpstreamTlsConfig } from './tls/upstream-tls.js';
import { ProfileError, applyProfile, releaseProblems, selectProfile, type Profile, type ProfileOverlays } from './profiles.js';
import { parseConfig, type EDGE_TLS_VERSIONS, type GatewayConfigInput, type ParsedConfig, type LogLevel, type RouteMode } from './config-schema.js';
import { DEFAULT_EDGE_CIPHERS, normalizeFingerprint, normalizeSubject } from './tls/edge-policy.js';
import { readEdgeSyncKey, redisUrlOf, type EdgeSyncConfig } from './tls/edge-sync-config.js';

export type EdgeTlsVersion = (typeof EDGE_TLS_VERSIONS)[number];

export { MAX_HEADER_COUNT, formatPath, type GatewayConfigInput, type LogLevel, type RouteMode } from './config-schema.js';

// ---------------------------------------------------------------------------------------------
// The validated, resolved config: secrets read from env/files, keys parsed, defaults applied.
// ---------------------------------------------------------------------------------------------

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
  /** HTTPS (and mutual TLS) on this listener; undefined: plain HTTP. */
  readonly tls?: EdgeTlsConfig;
}

/** The public listener's TLS material and policy; file paths are absolute. */
export interface EdgeTlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  readonly passphraseEnv?: string;
  /** The key file's passphrase, read from `passphraseEnv`. Non-enumerable: never in JSON or logs. */
  readonly passphrase?: string;
  readonly caFile?: string;
  readonly names: readonly string[];
  readonly minVersion: EdgeTlsVersion;
  /** The cipher list in force (the default when the config gives none). */
  readonly ciphers: string;
  readonly clientAuth?: { readonly caFile: string; readonly crlFile?: string; readonly required: boolean };
  readonly ocspResponseFile?: string;
  readonly watch: boolean;
  /** Fleet sync of the certificate (tls/edge-sync.ts); its keyFile is absolute. */
  readonly sync?: EdgeSyncConfig;
}

/** A key id's client certificate: the SHA-256 fingerprint ("AB:CD:…", upper case) and/or the one-line subject ("CN=…, O=…"). */
export interface ClientCertificateBinding {
  readonly fingerprint256?: string;
  readonly subject?: string;
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
  /** Mutual TLS on this route; undefined: the listener's clientAuth.required decides. */
  readonly clientCertificate?: 'required' | 'optional';
  /** TLS to the https:// upstream: CAs, client certificate, pins, name; its files read and checked at load. */
  readonly tls?: UpstreamTlsConfig;
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
  /** The client certificate this key id must come with (mutual TLS). */
  readonly clientCertificate?: ClientCertificateBinding;
}

export interface ServerKeyConfig {
  readonly id: string;
  /** RSA or X25519 KeyObject, or an SM2 key (SPEC.md 6.6). */
  readonly privateKey: ServerPrivateKey;
}

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
  /** The profile the config was loaded for (profiles.ts); `reload()` applies the same one. */
  readonly profile: Profile;
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
  /** Fleet mode: refuse any per-instance state at start (docs/fleet.md). */
  readonly fleet: boolean;
  /** The shared control plane (credentials, server keys, admin state, audit); undefined: single node. */
  readonly controlPlane: ControlPlaneConfig | undefined;
}

export interface LoadConfigOptions {
  /** Where relative file paths resolve for an object config (default: the working directory). */
  baseDir?: string;
  /** Environment for `secretEnv`, `privateKeyEnv`, `urlEnv` and WXSEAL_ENV (default: process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The profile: dev, test or release (default: WXSEAL_ENV from `env`, else dev). */
  profile?: string;
  /** How the caller's user gives `profile` (e.g. `--env`), named when it is unknown. */
  profileFrom?: string;
}

/** A config object as `loadGatewayConfig` takes it: the format of config-schema.ts, plus profile overlays. */
export type GatewayConfigSource = GatewayConfigInput & { profiles?: ProfileOverlays };

const CONFIG_MARK = Symbol('wxseal.gatewayConfig');

/** True for a config returned by loadGatewayConfig (rather than raw input). */
export function isGatewayConfig(value: unknown): value is GatewayConfig {
  return typeof value === 'object' && value !== null && (value as { [CONFIG_MARK]?: boolean })[CONFIG_MARK] === true;
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
 * The profile (`options.profile`, else WXSEAL_ENV, else dev) picks the overlay of `profiles` merged
 * over the base first; `release` also refuses what only suits development (profiles.ts).
 * Throws GatewayConfigError (WXSEAL_CONFIG_INVALID) listing every mistake with its path.
 */
export function loadGatewayConfig(source: string | GatewayConfigSource | GatewayConfig, options: LoadConfigOptions = {}): GatewayConfig {
  if (isGatewayConfig(source)) return source;
  const env = options.env ?? process.env;
  let raw: unknown;
  let configPath: string | undefined;
  let baseDir: string;
  if (typeof source === 'string') configPath = resolve(source);
  const profile = withProfileErrors(configPath, () => selectProfile(options.profile, env, options.profileFrom));
  if (configPath !== undefined) {
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
  // The profile's overlay merged over the base; the result is what the schema validates.
  const input = withProfileErrors(configPath, () => applyProfile(raw as Record<string, unknown>, profile));

  const c = parseConfig(input, configPath);
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
  // The TLS files are read (and validated) when the listener starts and on each reload, not here:
  // a certificate being rotated must not make a reload of the credentials fail.
  const edgeTls = resolveEdgeTls(c.listeners.public.tls, { env, baseDir, issue });
  const clientAuth = edgeTls?.clientAuth !== undefined;
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
      ...(r.clientCertificate !== undefined ? { clientCertificate: r.clientCertificate } : {}),
      ...(r.tls !== undefined ? { tls: resolveUpstreamTls(r.tls, r.upstream, `routes[${i}].tls`, { env, baseDir, issue }) } : {}),
    };
  });
  c.routes.forEach((r, i) => {
    if (r.clientCertificate !== undefined && !clientAuth) issue(`routes[${i}].clientCertificate`, 'needs listeners.public.tls.clientAuth (the CAs of client certificates)');
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
    const out: { keyId: string; secrets: ClientSecretConfig[]; revoked: boolean; allowedModes?: readonly Mode[]; clientCertificate?: ClientCertificateBinding } = {
      keyId: client.keyId,
      secrets,
      revoked: client.revoked,
    };
    if (client.allowedModes) out.allowedModes = [...new Set(client.allowedModes)];
    if (client.clientCertificate) {
      if (!clientAuth) issue(`clients[${i}].clientCertificate`, 'needs listeners.public.tls.clientAuth: without it no client certificate is ever verified');
      const b = client.clientCertificate;
      out.clientCertificate = {
        ...(b.fingerprint256 !== undefined ? { fingerprint256: normalizeFingerprint(b.fingerprint256) } : {}),
        ...(b.subject !== undefined ? { subject: normalizeSubject(b.subject) } : {}),
      };
    }
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
    let privateKey: ServerPrivateKey;
    try {
      privateKey = loadGatewayServerKey(pem);
    } catch (err) {
      issue(at, `not a usable server private key (RSA, X25519 or SM2): ${(err as Error).message}`);
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

  const nonceStore = resolveNonceStoreConfig(c.nonceStore, { env, issue });

  const devices = c.devices === undefined ? undefined : resolveDevicesConfig(c.devices, { env, baseDir, issue, routes, hasServerKeys: serverKeys.length > 0 });

  const admin = c.admin === undefined ? undefined : resolveAdminConfig(c.admin, { env, baseDir, issue });

  const controlPlane = c.controlPlane === undefined ? undefined : resolveControlPlaneConfig(c.controlPlane, { env, baseDir, issue });

  if (c.fleet) {
    for (const p of perInstanceState({ nonceStore, admin, controlPlane, devices })) {
      if (p.refusedInFleet) issue(p.path, `fleet mode (fleet: true) refuses per-instance state: ${p.message}`);
    }
  }

  const config: GatewayConfig = {
    configPath,
    profile,
    listeners: { public: { ...c.listeners.public, tls: edgeTls }, admin: { ...c.listeners.admin } },
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
    fleet: c.fleet,
    controlPlane,
  };
  // Listed with the other issues, so one error names every setting unfit for release.
  if (profile === 'release') for (const p of releaseProblems(config, input, { baseDir, env })) issue(p.path, p.message);
  if (issues.length > 0) throw new GatewayConfigError(issues, configPath);
  return markLoaded(config);
}

/** Runs a step of profiles.ts, turning its ProfileError into the loader's GatewayConfigError. */
function withProfileErrors<T>(configPath: string | undefined, step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof ProfileError) throw new GatewayConfigError(err.issues, configPath);
    throw err;
  }
}

/** Marks a config as validated and resolved (loadGatewayConfig returns it as is). */
export function markLoaded(config: GatewayConfig): GatewayConfig {
  if (!isGatewayConfig(config)) Object.defineProperty(config, CONFIG_MARK, { value: true, enumerable: false });
  return config;
}

/** listeners.public.tls with its paths resolved, its passphrase read and its cipher list checked. */
function resolveEdgeTls(
  t: ParsedConfig['listeners']['public']['tls'],
  ctx: { env: Readonly<Record<string, string | undefined>>; baseDir: string; issue: (path: string, message: string) => void },
): EdgeTlsConfig | undefined {
  if (t === undefined) return undefined;
  const at = 'listeners.public.tls';
  const abs = (f: string): string => resolve(ctx.baseDir, f);
  const ciphers = t.ciphers ?? DEFAULT_EDGE_CIPHERS;
  try {
    createSecureContext({ ciphers });
  } catch (err) {
    ctx.issue(`${at}.ciphers`, `not a usable cipher list: ${(err as Error).message}`);
  }
  for (const [i, name] of t.names.entries()) {
    if (isIP(name) === 0 && !/^(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(name)) {
      ctx.issue(`${at}.names[${i}]`, 'must be a DNS name or an IP address');
    }
  }
  const out: EdgeTlsConfig = {
    certFile: abs(t.certFile),
    keyFile: abs(t.keyFile),
    ...(t.passphraseEnv !== undefined ? { passphraseEnv: t.passphraseEnv } : {}),
    ...(t.caFile !== undefined ? { caFile: abs(t.caFile) } : {}),
    names: [...t.names],
    minVersion: t.minVersion,
    ciphers,
    ...(t.clientAuth !== undefined
      ? { clientAuth: { caFile: abs(t.clientAuth.caFile), ...(t.clientAuth.crlFile !== undefined ? { crlFile: abs(t.clientAuth.crlFile) } : {}), required: t.clientAuth.required } }
      : {}),
    ...(t.ocspResponseFile !== undefined ? { ocspResponseFile: abs(t.ocspResponseFile) } : {}),
    watch: t.watch,
    ...(t.sync !== undefined ? { sync: { ...t.sync, ...(t.sync.keyFile !== undefined ? { keyFile: abs(t.sync.keyFile) } : {}) } } : {}),
  };
  if (out.sync !== undefined) {
    // The fleet key and the store's URL are checked now, so a start (or --check) fails on them rather than the first upload.
    try {
      readEdgeSyncKey(out.sync, { env: ctx.env });
      if (out.sync.kind === 'redis') redisUrlOf(out.sync, { env: ctx.env });
    } catch (err) {
      ctx.issue(`${at}.sync`, (err as Error).message);
    }
  }
  if (t.passphraseEnv !== undefined) {
    const passphrase = ctx.env[t.passphraseEnv];
    if (passphrase === undefined || passphrase === '') ctx.issue(`${at}.passphraseEnv`, `environment variable ${t.passphraseEnv} is not set`);
    else return hidden(out, 'passphrase', passphrase);
  }
  return out;
}

/**
 * A route's `tls` with its paths resolved, its passphrase read, and its files read and validated
 * (the material is kept, non-enumerable, for the pools to start with).
 */
function resolveUpstreamTls(
  t: NonNullable<ParsedConfig['routes'][number]['tls']>,
  upstream: string,
  at: string,
  ctx: { env: Readonly<Record<string, string | undefined>>; baseDir: string; issue: (path: string, message: string) => void },
): UpstreamTlsConfig {
  const abs = (f: string): string => resolve(ctx.baseDir, f);
  const out: UpstreamTlsConfig = {
    ...(t.caFile !== undefined ? { caFile: abs(t.caFile) } : {}),
    ...(t.certFile !== undefined ? { certFile: abs(t.certFile) } : {}),
    ...(t.keyFile !== undefined ? { keyFile: abs(t.keyFile) } : {}),
    ...(t.passphraseEnv !== undefined ? { passphraseEnv: t.passphraseEnv } : {}),
    pinnedPublicKeys: (t.pinnedPublicKeys ?? []).map((p) => normalizePin(p) ?? p),
    ...(t.servername !== undefined ? { servername: t.servername } : {}),
  };
  if (new URL(upstream).protocol !== 'https:') {
    ctx.issue(at, 'needs an https:// upstream');
    return out;
  }
  if (t.passphraseEnv !== undefined) {
    const passphrase = ctx.env[t.passphraseEnv];
    if (passphrase === undefined || passphrase === '') {
      ctx.issue(`${at}.passphraseEnv`, `environment variable ${t.passphraseEnv} is not set`);
      return out;
    }
    hidden(out, 'passphrase', passphrase);
  }
  try {
    hidden(out, 'material', loadUpstreamTls(out, at));
  } catch (err) {
    if (!(err instanceof GatewayConfigError)) throw err;
    for (const i of err.issues) ctx.issue(i.path, i.message);
  }
  return out;
}
