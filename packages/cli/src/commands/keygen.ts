import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LIMITS, WxsealError, b64uEncode } from '@wxseal/protocol';

export interface KeygenOptions {
  out: string;
  bits: number;
  keyId: string;
  baseUrl: string;
  force: boolean;
}

export interface KeygenResult {
  serverKeyId: string;
  files: string[];
}

/** SPEC.md section 2: "sk-" + first 16 hex digits of SHA-256 over the DER SubjectPublicKeyInfo. */
export function serverKeyIdOf(publicKey: KeyObject): string {
  return 'sk-' + createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/**
 * Writes a server RSA key pair, a client secret and sample configs for both ends. Private
 * material is written with mode 0600; existing files are never overwritten without --force.
 */
export function keygen(opts: KeygenOptions): KeygenResult {
  if (![2048, 3072, 4096].includes(opts.bits)) throw new WxsealError('WXSEAL_CONFIG_INVALID', '--bits must be 2048, 3072 or 4096');
  if (!LIMITS.idPattern.test(opts.keyId)) throw new WxsealError('WXSEAL_CONFIG_INVALID', '--key-id must be 1-64 characters of A-Z a-z 0-9 . _ : -');
  const names = ['server-private.pem', 'server-public.pem', 'client-secret.txt', 'client.json', 'server.json'];
  const paths = names.map((n) => join(opts.out, n));
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length > 0 && !opts.force) {
    throw new WxsealError('WXSEAL_CONFIG_INVALID', `refusing to overwrite ${existing.join(', ')} (use --force)`);
  }
  mkdirSync(opts.out, { recursive: true, mode: 0o700 });

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: opts.bits, publicExponent: 65537 });
  const serverKeyId = serverKeyIdOf(publicKey);
  const secret = b64uEncode(randomBytes(32));
  const [priv, pub, secretPath, clientPath, serverPath] = paths as [string, string, string, string, string];

  writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  writeFileSync(secretPath, secret + '\n', { mode: 0o600 });
  const client = {
    baseUrl: opts.baseUrl,
    keyId: opts.keyId,
    secretFile: 'client-secret.txt',
    serverKeyId,
    serverPublicKeyFile: 'server-public.pem',
    mode: 'sealed',
  };
  writeFileSync(clientPath, JSON.stringify(client, null, 2) + '\n', { mode: 0o600 });
  const server = {
    windowSeconds: 60,
    maxBodyBytes: 1048576,
    clients: [{ keyId: opts.keyId, secrets: [{ secretFile: 'client-secret.txt' }] }],
    serverKeys: [{ id: serverKeyId, privateKeyFile: 'server-private.pem' }],
  };
  writeFileSync(serverPath, JSON.stringify(server, null, 2) + '\n', { mode: 0o600 });
  return { serverKeyId, files: paths };
}
