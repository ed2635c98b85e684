/**
 * Admin password hashes: scrypt (node:crypto), stored as
 * `scrypt$N=16384,r=8,p=1$<salt base64>$<hash base64>` (what `wxseal admin hash-password` prints).
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface PasswordHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

export const DEFAULT_SCRYPT = { N: 16384, r: 8, p: 1 } as const;
const HASH_BYTES = 32;
const SALT_BYTES = 16;
/** Longest password considered (longer ones are refused before any work). */
export const MAX_PASSWORD_LENGTH = 1024;

function scryptAsync(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

const maxmem = (N: number, r: number, p: number): number => 128 * N * r * (p + 1) + 1024 * 1024;

const b64 = (bytes: Buffer): string => bytes.toString('base64').replace(/=+$/, '');

/** Hashes a password with a fresh random salt. */
export async function hashPassword(password: string, params: { N: number; r: number; p: number } = DEFAULT_SCRYPT): Promise<string> {
  if (typeof password !== 'string' || password.length === 0) throw new TypeError('the password must not be empty');
  if (password.length > MAX_PASSWORD_LENGTH) throw new TypeError(`the password must be at most ${MAX_PASSWORD_LENGTH} characters`);
  const salt = randomBytes(SALT_BYTES);
  const { N, r, p } = params;
  const hash = await scryptAsync(password, salt, HASH_BYTES, { N, r, p, maxmem: maxmem(N, r, p) });
  return `scrypt$N=${N},r=${r},p=${p}$${b64(salt)}$${b64(hash)}`;
}

/** Parses a stored hash; undefined when it is not one (or its parameters are out of range). */
export function parsePasswordHash(text: string): PasswordHash | undefined {
  const m = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/_-]+={0,2})\$([A-Za-z0-9+/_-]+={0,2})$/.exec(text.trim());
  if (!m) return undefined;
  const N = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  // N a power of two from 2^10 to 2^20; r and p small enough to stay within maxmem bounds.
  if (!Number.isSafeInteger(N) || N < 1024 || N > 1 << 20 || (N & (N - 1)) !== 0) return undefined;
  if (r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  const salt = Buffer.from(m[4]!, 'base64');
  const hash = Buffer.from(m[5]!, 'base64');
  if (salt.length < 8 || hash.length < 16 || hash.length > 128) return undefined;
  return { N, r, p, salt, hash };
}

/** Constant-time check of a password against a parsed hash. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  if (typeof password !== 'string' || password.length === 0 || password.length > MAX_PASSWORD_LENGTH) return false;
  const { N, r, p } = stored;
  const derived = await scryptAsync(password, stored.salt, stored.hash.length, { N, r, p, maxmem: maxmem(N, r, p) });
  return timingSafeEqual(derived, stored.hash);
}

/** A hash no password matches, verified for unknown user names so they take as long as known ones. */
export const DUMMY_HASH: PasswordHash = { ...DEFAULT_SCRYPT, salt: randomBytes(SALT_BYTES), hash: randomBytes(HASH_BYTES) };
