import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LIMITS, WxsealError, type Mode } from '@wxseal/protocol';
import { b64uDecodeStrict } from '@wxseal/protocol/primitives';
import { ProfileError, applyProfile, developmentFileProblems, inlineSecretProblems, selectProfile, type Profile, type ProfileOverlays } from '@wxseal/gateway/profiles';

/**
 * The client configuration file `wxseal keygen` writes and `wxseal call` reads. The secret can
 * live in the file, in another file, or in an environment variable, so the file itself can be
 * shared without the secret. `profiles` holds dev / test / release overlays, as in the gateway's
 * config (@wxseal/gateway profiles.ts); release refuses an inline secret and development files.
 */
export interface ClientConfigFile {
  baseUrl: string;
  keyId: string;
  secret?: string;
  secretFile?: string;
  secretEnv?: string;
  serverKeyId?: string;
  serverPublicKeyFile?: string;
  mode?: Mode;
  timeoutMs?: number;
  profiles?: ProfileOverlays;
}

export interface ResolvedClientConfig {
  /** The profile the config was read for. */
  profile: Profile;
  baseUrl: string;
  keyId: string;
  secret: string;
  serverKeyId: string | undefined;
  serverPublicKey: string | undefined;
  mode: Mode;
  timeoutMs: number | undefined;
}

const fail = (message: string): never => {
  throw new WxsealError('WXSEAL_CONFIG_INVALID', message);
};

function str(obj: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = obj[key];
  if (v === undefined) return required ? fail(`config: "${key}" is required`) : undefined;
  if (typeof v !== 'string' || v === '') return fail(`config: "${key}" must be a non-empty string`);
  return v;
}

/** Runs a step of the profile code, its errors worded like the others of this file. */
function profileStep<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof ProfileError) fail(`config: ${err.message}`);
    throw err;
  }
}

/**
 * Reads a client config for a profile: `profile` (the `--profile` option), else WXSEAL_ENV, else
 * dev. Throws WxsealError WXSEAL_CONFIG_INVALID naming the field (every one the release profile refuses).
 */
export function loadClientConfig(path: string, env: NodeJS.ProcessEnv = process.env, profile?: string): ResolvedClientConfig {
  const chosen = profileStep(() => selectProfile(profile, env, '--profile'));
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new WxsealError('WXSEAL_CONFIG_INVALID', `config: cannot read ${path}: ${(cause as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('config: must be a JSON object');
  const obj = profileStep(() => applyProfile(raw as Record<string, unknown>, chosen));
  const base = dirname(resolve(path));
  const rel = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  if (chosen === 'release') {
    // Every refusal at once, so one run names them all; the checks are the gateway's own.
    const refused = [...inlineSecretProblems(obj), ...developmentFileProblems(obj, base, env)];
    if (refused.length > 0) fail(`config: the release profile refuses ${refused.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  }

  const baseUrl = str(obj, 'baseUrl', true)!;
  try {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') fail('config: "baseUrl" must be http or https');
  } catch (e) {
    if (e instanceof WxsealError) throw e;
    fail(`config: "baseUrl" is not a URL`);
  }
  const keyId = str(obj, 'keyId', true)!;
  if (!LIMITS.idPattern.test(keyId)) fail('config: "keyId" must be 1-64 characters of A-Z a-z 0-9 . _ : -');

  const sources = ['secret', 'secretFile', 'secretEnv'].filter((k) => obj[k] !== undefined);
  if (sources.length !== 1) fail('config: give exactly one of "secret", "secretFile" or "secretEnv"');
  let secret: string;
  if (obj.secret !== undefined) secret = str(obj, 'secret', true)!;
  else if (obj.secretFile !== undefined) {
    const file = str(obj, 'secretFile', true)!;
    try {
      secret = readFileSync(rel(file), 'utf8').trim();
    } catch (cause) {
      secret = fail(`config: cannot read secretFile ${file} (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`);
    }
  }
  else {
    const name = str(obj, 'secretEnv', true)!;
    secret = env[name] ?? fail(`config: environment variable ${name} (secretEnv) is not set`);
  }
  const secretBytes = b64uDecodeStrict(secret);
  if (!secretBytes || secretBytes.length < 32) fail('config: the secret must be base64url of at least 32 bytes');

  const mode = (str(obj, 'mode', false) ?? 'sealed') as Mode;
  if (mode !== 'sealed' && mode !== 'signed') fail('config: "mode" must be "sealed" or "signed"');
  const serverKeyId = str(obj, 'serverKeyId', false);
  const keyFile = str(obj, 'serverPublicKeyFile', false);
  if (mode === 'sealed' && (!serverKeyId || !keyFile)) fail('config: sealed mode needs "serverKeyId" and "serverPublicKeyFile"');
  let serverPublicKey: string | undefined;
  if (keyFile) {
    try {
      serverPublicKey = readFileSync(rel(keyFile), 'utf8');
    } catch {
      fail(`config: cannot read serverPublicKeyFile ${keyFile}`);
    }
  }
  const timeoutMs = obj.timeoutMs;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0))) fail('config: "timeoutMs" must be a positive number');
  return { profile: chosen, baseUrl, keyId, secret, serverKeyId, serverPublicKey, mode, timeoutMs: timeoutMs as number | undefined };
}
