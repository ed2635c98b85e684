/**
 * Loading a gateway config: reading the file (YAML or JSON) or taking an object, validating it
 * against the format of config-schema.ts, then resolving what it names — secrets and private keys
 * from the environment or files, parsed and checked — and the checks across fields. The result is
 * the GatewayConfig a gateway runs with.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadServerPrivateKey, type Mode } from '@wxseal/protocol';
import { ServerKeyRing, normalizeSecret } from '@wxseal/server';
import { resolveDevicesConfig, type DevicesConfig } from './devices-config.js';
import { resolveAdminConfig, type AdminConfig } from './admin/config.js';
import { perInstanceState, resolveControlPlaneConfig, type ControlPlaneConfig } from './fleet-config.js';
import { resolveNonceStoreConfig, type NonceStoreConfig } from './nonce-config.js';

export type { MemoryNonceStoreConfig, NonceStoreConfig, RedisNonceStoreConfig } from './nonce-config.js';
export type { ControlPlaneConfig } from './fleet-config.js';
import { GatewayConfigError, type ConfigIssue } from './errors.js';
import { hidden } from './config-util.js';
import { parseConfig, type GatewayConfigInput, type LogLevel, type RouteMode } from './config-schema.js';

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
  /** Fleet mode: refuse any per-instance state at start (docs/fleet.md). */
  readonly fleet: boolean;
  /** The shared control plane (credentials, server keys, admin state, audit); undefined: single node. */
  readonly controlPlane: ControlPlaneConfig | undefined;
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

  const c = parseConfig(raw, configPath);
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
      issue(at, `not a usable server private key (RSA or X25519): ${(err as Error).message}`);
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
    fleet: c.fleet,
    controlPlane,
  };
  return markLoaded(config);
}

/** Marks a config as validated and resolved (loadGatewayConfig returns it as is). */
export function markLoaded(config: GatewayConfig): GatewayConfig {
  if (!isGatewayConfig(config)) Object.defineProperty(config, CONFIG_MARK, { value: true, enumerable: false });
  return config;
}
