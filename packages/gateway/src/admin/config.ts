/**
 * The optional `admin` section of the gateway config (ADMIN-API.md): who may log in to the admin
 * API and the console, how long sessions live, and where the admin state (audit log, admin-added
 * client secrets, rotated server keys) is kept. Kept apart from config.ts so that file only plugs it in.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { parsePasswordHash, type PasswordHash } from './passwords.js';

const nonEmpty = z.string().min(1, { error: 'must not be empty' });
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be an environment variable name' });
const int = (min: number, max: number) =>
  z
    .number()
    .int()
    .min(min, { error: `must be an integer from ${min} to ${max}` })
    .max(max, { error: `must be an integer from ${min} to ${max}` });

/** Minimum length of the admin token (characters). */
export const MIN_ADMIN_TOKEN_LENGTH = 32;
const MAX_SESSION_TTL_MS = 7 * 24 * 3600 * 1000;
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `8h`, `30m`, `90s`, `1d`, `500ms`, or a number of seconds. */
const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  let ms = NaN;
  if (typeof value === 'number') ms = value * 1000;
  else {
    const m = /^(\d+)(ms|s|m|h|d)$/.exec(value.trim());
    if (m) ms = Number(m[1]) * UNITS[m[2]!]!;
  }
  if (!Number.isSafeInteger(ms) || ms < 1000 || ms > MAX_SESSION_TTL_MS) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration from 1s to 7d, e.g. 8h, 30m, 90s (or a number of seconds)' });
    return z.NEVER;
  }
  return ms;
});

const origin = z.string().refine(
  (v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === v.replace(/\/$/, '');
    } catch {
      return false;
    }
  },
  { error: 'must be an origin such as https://admin.example.com (scheme, host and optional port; no path)' },
);

export const adminSchema = z
  .object({
    auth: z
      .object({
        tokenEnv: envName.optional(),
        tokenFile: nonEmpty.optional(),
        users: z
          .array(
            z
              .object({
                name: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, { error: 'must be 1-64 characters of A-Z a-z 0-9 . _ @ -' }),
                passwordHash: nonEmpty,
              })
              .strict(),
          )
          .default([]),
      })
      .strict(),
    sessionTtl: duration.prefault('8h'),
    stateDir: nonEmpty.default('./wxseal-admin'),
    cookieSecure: z.boolean().default(false),
    /** Origins (besides the listener's own) allowed to make state-changing calls, e.g. behind a TLS proxy. */
    allowedOrigins: z.array(origin).default([]),
    loginRateLimit: z.object({ maxFailures: int(1, 1000).default(5), windowSeconds: int(1, 3600).default(60) }).strict().prefault({}),
    console: z.object({ enabled: z.boolean().default(true), dir: nonEmpty.optional() }).strict().prefault({}),
  })
  .strict();

export type AdminConfigInput = z.input<typeof adminSchema>;

export interface AdminUserConfig {
  readonly name: string;
  /** Non-enumerable: the parsed scrypt hash. */
  readonly passwordHash: PasswordHash;
  /** Non-enumerable: the hash as written in the config (what the control plane stores). */
  readonly passwordHashText: string;
}

export interface AdminConfig {
  /** Non-enumerable: the admin token, when one is configured. */
  readonly token: string | undefined;
  readonly users: readonly AdminUserConfig[];
  /** Idle time after which a session expires. */
  readonly sessionTtlMs: number;
  /** Absolute path. */
  readonly stateDir: string;
  readonly cookieSecure: boolean;
  readonly allowedOrigins: readonly string[];
  readonly loginRateLimit: { readonly maxFailures: number; readonly windowSeconds: number };
  /** `dir`: absolute path of the console's built files (default: @wxseal/console's dist). */
  readonly console: { readonly enabled: boolean; readonly dir: string | undefined };
}

function hide<T extends object>(target: T, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: false, writable: false, configurable: false });
}

interface ResolveContext {
  env: Readonly<Record<string, string | undefined>>;
  baseDir: string;
  issue(path: string, message: string): void;
}

/** Reads the token (environment or file), parses the password hashes and checks the section. */
export function resolveAdminConfig(a: z.output<typeof adminSchema>, ctx: ResolveContext): AdminConfig {
  const { env, baseDir, issue } = ctx;
  let token: string | undefined;
  if (a.auth.tokenEnv !== undefined && a.auth.tokenFile !== undefined) issue('admin.auth', 'give only one of tokenEnv, tokenFile');
  else if (a.auth.tokenEnv !== undefined) {
    token = env[a.auth.tokenEnv]?.trim();
    if (token === undefined || token === '') {
      issue('admin.auth.tokenEnv', `environment variable ${a.auth.tokenEnv} is not set`);
      token = undefined;
    }
  } else if (a.auth.tokenFile !== undefined) {
    const file = resolve(baseDir, a.auth.tokenFile);
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (err) {
      issue('admin.auth.tokenFile', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  if (token !== undefined && token.length < MIN_ADMIN_TOKEN_LENGTH) {
    // The message never repeats the token.
    issue(a.auth.tokenEnv !== undefined ? 'admin.auth.tokenEnv' : 'admin.auth.tokenFile', `the admin token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`);
  }
  const seen = new Set<string>();
  const users: AdminUserConfig[] = [];
  a.auth.users.forEach((u, i) => {
    if (u.name === 'token') issue(`admin.auth.users[${i}].name`, '"token" is reserved for token logins');
    if (seen.has(u.name)) issue(`admin.auth.users[${i}].name`, `duplicates another user's name`);
    seen.add(u.name);
    const parsed = parsePasswordHash(u.passwordHash);
    if (!parsed) {
      issue(`admin.auth.users[${i}].passwordHash`, 'must be a scrypt hash as printed by `wxseal admin hash-password` (scrypt$N=…,r=…,p=…$salt$hash)');
      return;
    }
    const user = { name: u.name };
    hide(user, 'passwordHash', parsed);
    hide(user, 'passwordHashText', u.passwordHash);
    users.push(user as AdminUserConfig);
  });
  if (a.auth.tokenEnv === undefined && a.auth.tokenFile === undefined && a.auth.users.length === 0) {
    issue('admin.auth', 'needs tokenEnv, tokenFile and/or users: nobody could log in');
  }
  const config = {
    users,
    sessionTtlMs: a.sessionTtl,
    stateDir: resolve(baseDir, a.stateDir),
    cookieSecure: a.cookieSecure,
    allowedOrigins: a.allowedOrigins.map((o) => new URL(o).origin),
    loginRateLimit: { ...a.loginRateLimit },
    console: { enabled: a.console.enabled, dir: a.console.dir === undefined ? undefined : resolve(baseDir, a.console.dir) },
  };
  hide(config, 'token', token);
  return config as unknown as AdminConfig;
}
