/**
 * Configuration profiles: one file holds a base and, under `profiles`, `dev` / `test` / `release`
 * overlays. The chosen profile's overlay is deep-merged over the base (objects merge, arrays and
 * scalars replace, `null` deletes a key) before the config is validated. The profile comes from
 * an option (`--env`, `--profile`), else WXSEAL_ENV, else `dev`. `release` adds the refusals of
 * what only suits development (releaseProblems); `test` and `dev` add none.
 *
 * One implementation for the gateway config and the CLI's client config: this module imports only
 * node built-ins and @wxseal/protocol, and is exported as `@wxseal/gateway/profiles`, so
 * `wxseal call` uses it without loading the proxy.
 */
import { serverKeyIdOfMaterial, type ServerPrivateKey } from './server-key-material.js';
import { isIP } from 'node:net';
import { dirname, resolve, sep } from 'node:path';
import { WxsealError } from '@wxseal/protocol';

export const PROFILES = ['dev', 'test', 'release'] as const;
export type Profile = (typeof PROFILES)[number];
export const DEFAULT_PROFILE: Profile = 'dev';
/** The environment variable naming the profile when no option does. */
export const PROFILE_ENV = 'WXSEAL_ENV';
/** Where `npm start` and `npm run demo` write their development keys instead of .wxseal/dev, when set. */
export const DEV_DIR_ENV = 'WXSEAL_DEV_DIR';
/**
 * The directory the development bootstraps write under (`.wxseal/dev` for `npm start` and
 * `npm run demo`, `.wxseal/mock-wechat` for `wxseal mock-wechat`); git-ignored.
 */
export const DEV_STATE_DIR = '.wxseal';

/**
 * Server keys whose private halves are published in spec/vectors (rsa-oaep.json, x25519.json,
 * sm.json): anyone can open what is sealed to them.
 */
export const PUBLISHED_SERVER_KEY_IDS: ReadonlySet<string> = new Set(['sk-380aa01071de0baf', 'sk-10acd11711d9bc73', 'sk-cd15ff7e456b7fc1', 'sk-d31f5445b3d953fc']);

/** The overlays a config may carry under `profiles`: the settings each profile changes. */
export type ProfileOverlays = { readonly [P in Profile]?: Readonly<Record<string, unknown>> | null };

/** One problem: where (`clients[0].secrets[0].secret`) and what. */
export interface ProfileIssue {
  readonly path: string;
  readonly message: string;
}

/** A profile that cannot be chosen or applied: WXSEAL_CONFIG_INVALID, every issue with its path. */
export class ProfileError extends WxsealError {
  readonly issues: readonly ProfileIssue[];

  constructor(issues: readonly ProfileIssue[]) {
    super('WXSEAL_CONFIG_INVALID', issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; '));
    this.issues = issues;
  }
}

// Overlays come from a file: bounded so a hostile one cannot exhaust the stack.
const MAX_DEPTH = 32;
const MAX_SHOWN = 64;

const shown = (value: string): string => JSON.stringify(value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}…` : value);

export function isProfile(value: unknown): value is Profile {
  return typeof value === 'string' && (PROFILES as readonly string[]).includes(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `a.b`, `a[0]`, or `a["odd key"]`: the path form of the config errors. */
function child(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (!/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key)) return `${path}[${shown(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

// An own data property even for `__proto__`: the schema then refuses it as an unknown field.
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * The profile to use: `explicit` (an option; `from` names it in errors, e.g. `--env`), else
 * WXSEAL_ENV from `env` (empty counts as unset), else dev. Throws ProfileError for any other name.
 */
export function selectProfile(explicit: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env, from = 'the profile option'): Profile {
  const fromEnv = env[PROFILE_ENV];
  const [value, source] = explicit !== undefined ? [explicit, from] : fromEnv !== undefined && fromEnv !== '' ? [fromEnv, PROFILE_ENV] : [DEFAULT_PROFILE, 'default'];
  if (!isProfile(value)) throw new ProfileError([{ path: '', message: `unknown profile ${shown(value)} (${source}): the profiles are ${PROFILES.join(', ')}` }]);
  return value;
}

/**
 * `overlay` deep-merged over `base`: objects merge key by key, arrays and scalars replace, and a
 * `null` in the overlay deletes the key. Neither argument is modified.
 */
export function mergeOverlay(base: unknown, overlay: unknown, path = '', depth = 0): unknown {
  if (!isPlainObject(overlay)) return overlay;
  if (depth > MAX_DEPTH) throw new ProfileError([{ path, message: `nested deeper than ${MAX_DEPTH} levels` }]);
  const out: Record<string, unknown> = {};
  if (isPlainObject(base)) for (const [k, v] of Object.entries(base)) define(out, k, v);
  for (const [k, v] of Object.entries(overlay)) {
    if (v === null) delete out[k];
    else define(out, k, mergeOverlay(Object.hasOwn(out, k) ? out[k] : undefined, v, child(path, k), depth + 1));
  }
  return out;
}

/**
 * The config for `profile`: `raw` without its `profiles` key, with that profile's overlay merged
 * over it. Every overlay is checked for its form (an object, or null for none) whichever profile
 * is chosen, so a mistake in `release` shows in `dev` already. Throws ProfileError.
 */
export function applyProfile(raw: Readonly<Record<string, unknown>>, profile: Profile): Record<string, unknown> {
  const base: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (k !== 'profiles') define(base, k, v);
  const profiles = raw.profiles;
  if (profiles === undefined) return base;
  if (!isPlainObject(profiles)) throw new ProfileError([{ path: 'profiles', message: `must be an object with the keys ${PROFILES.join(', ')} (each the settings that profile changes)` }]);
  const issues: ProfileIssue[] = [];
  for (const [name, overlay] of Object.entries(profiles)) {
    const at = child('profiles', name);
    if (!isProfile(name)) issues.push({ path: at, message: `unknown profile: the profiles are ${PROFILES.join(', ')}` });
    else if (overlay !== null && !isPlainObject(overlay)) issues.push({ path: at, message: 'must be an object (the settings this profile changes) or null' });
    else if (isPlainObject(overlay) && Object.hasOwn(overlay, 'profiles')) issues.push({ path: `${at}.profiles`, message: 'profiles do not nest' });
  }
  if (issues.length > 0) throw new ProfileError(issues);
  const overlay = profiles[profile];
  return overlay === undefined || overlay === null ? base : (mergeOverlay(base, overlay, `profiles.${profile}`) as Record<string, unknown>);
}

/** Calls `visit` for every string in `value` with its path and its key. */
function eachString(value: unknown, visit: (path: string, key: string, text: string) => void, path = '', key = '', depth = 0): void {
  if (depth > MAX_DEPTH) return;
  if (typeof value === 'string') visit(path, key, value);
  else if (Array.isArray(value)) value.forEach((v, i) => eachString(v, visit, child(path, i), key, depth + 1));
  else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) eachString(v, visit, child(path, k), k, depth + 1);
}

// Field names that hold a secret when their value is given inline. Every secret of the gateway's
// schema (clients[].secrets[].secret, serverKeys[].privateKey) and of the client config (secret)
// is one; the others cover sections that may grow one (a TLS key, a password).
const SECRET_FIELDS = new Set(['secret', 'privateKey', 'key', 'password', 'passphrase', 'token', 'apiKey', 'apiV3Key', 'cacheKey', 'masterKey', 'masterKeys']);
// Where the schema has `<name>Env` / `<name>File` beside the inline field.
const REFERENCE_HINT: Readonly<Record<string, string>> = {
  secret: 'use secretEnv or secretFile',
  privateKey: 'use privateKeyEnv or privateKeyFile',
  token: 'use tokenEnv or tokenFile',
};
const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

function urlPassword(text: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text)) return false;
  try {
    const url = new URL(text);
    return url.password !== '' || /(?:^|&)(?:password|pass|pwd)=[^&]/i.test(url.search.slice(1));
  } catch {
    return false;
  }
}

/**
 * Secrets written in the config itself rather than named by reference (an environment variable, a
 * file): secret-like fields with a string value, private keys in PEM form anywhere, and URLs that
 * carry a password (`redis://:pw@host`, `postgres://u:pw@host`). Never repeats a value.
 */
export function inlineSecretProblems(raw: unknown): ProfileIssue[] {
  const out: ProfileIssue[] = [];
  eachString(raw, (path, key, text) => {
    if (SECRET_FIELDS.has(key)) out.push({ path, message: `inline ${key === 'privateKey' || PEM_PRIVATE_KEY.test(text) ? 'private key' : 'secret'}; ${REFERENCE_HINT[key] ?? 'give it through an environment variable or a file'}` });
    else if (PEM_PRIVATE_KEY.test(text)) out.push({ path, message: 'inline private key; give it through an environment variable or a file' });
    else if (urlPassword(text)) out.push({ path, message: `password inline in the URL; ${key === 'url' ? 'use urlEnv' : 'give the URL through an environment variable'}` });
  });
  return out;
}

/**
 * True for a path in a development directory: under a `.wxseal` directory (where `npm start`,
 * `npm run demo` and `wxseal mock-wechat` generate their keys and tokens) or under WXSEAL_DEV_DIR.
 */
export function isDevelopmentPath(path: string, env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const absolute = resolve(path);
  if (absolute.split(sep).includes(DEV_STATE_DIR)) return true;
  const devDir = env[DEV_DIR_ENV];
  if (devDir === undefined || devDir === '') return false;
  const dir = resolve(devDir);
  return absolute === dir || absolute.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * Files named by the config (`…File`, `file`: keys, secrets, tokens, master key rings) that lie in
 * a development directory (isDevelopmentPath); relative ones resolve against `baseDir`.
 */
export function developmentFileProblems(raw: unknown, baseDir: string, env: Readonly<Record<string, string | undefined>> = process.env): ProfileIssue[] {
  const out: ProfileIssue[] = [];
  eachString(raw, (path, key, text) => {
    if (!(key === 'file' || key.endsWith('File')) || text === '') return;
    const file = resolve(baseDir, text);
    const what = /cert/i.test(key) ? 'development certificate' : 'development key';
    if (isDevelopmentPath(file, env)) out.push({ path, message: `${what}: ${file} is in a development directory (${DEV_STATE_DIR}/ or ${DEV_DIR_ENV}, where npm start generates its keys); use keys made for release` });
  });
  return out;
}

/** What releaseProblems reads of a loaded gateway config (GatewayConfig has it all). */
export interface ReleaseCheckedConfig {
  readonly configPath: string | undefined;
  readonly listeners: { readonly public: { readonly host: string } };
  readonly nonceStore: { readonly type: string };
  readonly serverKeys: readonly { readonly id: string; readonly privateKey: ServerPrivateKey }[];
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1' || /^(?:0+:){7}0*1$/.test(h) || /^::ffff:127\./.test(h);
}


const at = (raw: unknown, ...path: string[]): unknown => path.reduce<unknown>((v, k) => (isPlainObject(v) ? v[k] : undefined), raw);

/**
 * What the release profile refuses in a gateway config, every problem with its config path:
 * plain HTTP on a non-loopback public listener (no `listeners.public.tls`), the memory nonce store,
 * inline secrets, development keys (files under .wxseal/ or WXSEAL_DEV_DIR, server keys published in
 * spec/vectors), and the development console login token that `npm start` prints to the terminal.
 * `config` is the loaded config, `rawInput` what it was loaded from (profile applied); relative
 * files resolve against `context.baseDir` (default: the config file's directory).
 */
export function releaseProblems(
  config: ReleaseCheckedConfig,
  rawInput: unknown,
  context: { baseDir?: string; env?: Readonly<Record<string, string | undefined>> } = {},
): ProfileIssue[] {
  const env = context.env ?? process.env;
  const baseDir = context.baseDir ?? (config.configPath !== undefined ? dirname(config.configPath) : process.cwd());
  const out: ProfileIssue[] = [];
  const host = config.listeners.public.host;
  if (!isLoopback(host) && !isPlainObject(at(rawInput, 'listeners', 'public', 'tls'))) {
    const given = at(rawInput, 'listeners', 'public', 'host') === undefined ? ' (the default)' : '';
    out.push({ path: 'listeners.public.host', message: `plain HTTP on ${host}${given}, not a loopback address; configure listeners.public.tls, or listen on 127.0.0.1 behind a TLS-terminating proxy` });
  }
  if (config.nonceStore.type === 'memory') {
    const given = at(rawInput, 'nonceStore', 'type') === undefined ? ' (the default)' : '';
    out.push({ path: 'nonceStore.type', message: `the memory nonce store${given} is per process: lost on a restart and not shared between instances or workers; use type: redis` });
  }
  out.push(...inlineSecretProblems(rawInput));
  for (const p of developmentFileProblems(rawInput, baseDir, env)) {
    // The token file of the development setup is the login token npm start prints to the terminal.
    out.push(
      p.path === 'admin.auth.tokenFile'
        ? { path: p.path, message: 'the development console login token (npm start prints it to the terminal); use tokenEnv, a token file outside the development directory, or users with password hashes' }
        : p,
    );
  }
  const rawKeys = at(rawInput, 'serverKeys');
  // Loaded keys line up with the file's only when every one loaded (else other issues are reported too).
  const aligned = Array.isArray(rawKeys) && rawKeys.length === config.serverKeys.length;
  config.serverKeys.forEach((k, i) => {
    const id = serverKeyIdOfMaterial(k.privateKey);
    if (!PUBLISHED_SERVER_KEY_IDS.has(id)) return;
    const field = aligned ? ['privateKey', 'privateKeyEnv', 'privateKeyFile'].find((f) => at(rawKeys[i], f) !== undefined) : undefined;
    out.push({ path: aligned ? `serverKeys[${i}]${field ? `.${field}` : ''}` : 'serverKeys', message: `development key: ${id} is a test-vector key whose private half is published in spec/vectors` });
  });
  return out;
}
