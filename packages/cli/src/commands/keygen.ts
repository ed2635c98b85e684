import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LIMITS, sm2ServerKeyId } from '@wxseal/protocol';
import { sm2GenerateKeyPair, sm2PrivateKeyToPem, sm2PublicKeyToPem } from '@wxseal/gm';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { CliError } from '../errors.js';
import type { ServerKeyType } from './credentials.js';

/**
 * The key types keygen writes: the admin API's (rsa, x25519) and sm2, the SM suite (SPEC.md 6.6),
 * whose keys live in the config only (the admin API does not generate them).
 */
export type KeygenKeyType = ServerKeyType | 'sm2';
export const KEYGEN_KEY_TYPES: readonly KeygenKeyType[] = ['rsa', 'x25519', 'sm2'];

export interface KeygenOptions {
  out: string;
  /**
   * The server key type (default rsa). x25519 wraps session keys with HPKE (RFC 9180): no RSA on
   * the server's hot path, and a 32-byte key instead of a 2048-bit modulus. sm2 selects the SM suite
   * (SPEC.md 6.6: SM2, SM4-GCM, SM3); its key files are PKCS#8 / SPKI PEM.
   */
  type?: KeygenKeyType;
  /** RSA modulus size: 2048 (default), 3072 or 4096. Refused with type x25519. */
  bits?: number;
  keyId: string;
  /** The gateway's URL as the client reaches it; written into client.json, and its port is the gateway's. */
  baseUrl: string;
  force: boolean;
  /** The service the gateway forwards /api to (default http://127.0.0.1:3000). */
  upstream?: string;
  /** Port of the gateway's admin listener (health, metrics; default 9090). */
  adminPort?: number;
}

export interface KeygenResult {
  serverKeyId: string;
  type: KeygenKeyType;
  files: string[];
}

export const DEFAULT_UPSTREAM = 'http://127.0.0.1:3000';
export const DEFAULT_ADMIN_PORT = 9090;
const DEFAULT_GATEWAY_PORT = 8080;

/** SPEC.md section 2: "sk-" + first 16 hex digits of SHA-256 over the DER SubjectPublicKeyInfo. */
export function serverKeyIdOf(publicKey: KeyObject): string {
  return 'sk-' + createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** A server key pair: RSA with the modulus size, or X25519. */
export function generateServerKeyPair(type: ServerKeyType, bits = 2048): { privateKey: KeyObject; publicKey: KeyObject } {
  return type === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 65537 });
}

function httpUrl(value: string, option: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError('CLI_INVALID_INPUT', `${JSON.stringify(value)} is not a URL`, option);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError('CLI_INVALID_INPUT', `${value} must be an http or https URL`, option);
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new CliError('CLI_INVALID_INPUT', `${value} must have no credentials, query or fragment`, option);
  }
  return url;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

// JSON strings are valid YAML double-quoted scalars: no value can turn into a number, a boolean or a mapping.
const q = (value: string): string => JSON.stringify(value);

/**
 * The gateway configuration matching client.json: one route, the client credential, the server
 * key, the in-memory nonce store. Written with comments, since it is the file a newcomer edits next.
 */
function gatewayYaml(o: { keyId: string; serverKeyId: string; type: KeygenKeyType; host: string; port: number; adminPort: number; upstream: string; baseUrl: string }): string {
  return `# wxseal gateway configuration, written by \`wxseal keygen\` next to client.json.
#   check:  npx wxseal gateway --config gateway.yaml --check
#   run:    npx wxseal gateway --config gateway.yaml      (SIGHUP reloads, SIGTERM drains and stops)
# Every option is described in the @wxseal/gateway README. Relative paths resolve against the
# directory of this file. This file holds no secret itself, but it names the private files.

listeners:
  public:                    # where client.json's baseUrl (${o.baseUrl}) must arrive
    host: ${q(o.host)}${o.host === '127.0.0.1' ? '        # this machine only; 0.0.0.0 accepts other machines' : ''}
    port: ${o.port}
  admin:                     # /healthz, /readyz, /metrics: keep it off the public network
    host: "127.0.0.1"
    port: ${o.adminPort}

routes:                      # longest prefix wins; any other path is refused (404 WXSEAL_ROUTE_NOT_FOUND)
  - name: api
    prefix: /api
    upstream: ${q(o.upstream)}   # your service, plain HTTP on a private network (wxseal keygen --upstream)
    mode: sealed-or-signed   # sealed requests, and sign-only ones (wxseal call --mode signed)

clients:                     # the client credential of client.json
  - keyId: ${q(o.keyId)}
    secrets:
      - secretFile: client-secret.txt

serverKeys:                  # the ${o.type === 'x25519' ? 'X25519' : o.type === 'sm2' ? 'SM2 (SM suite: SM2, SM4-GCM, SM3)' : 'RSA'} key that opens sealed requests
  - id: ${q(o.serverKeyId)}
    privateKeyFile: server-private.pem

nonceStore:                  # replay protection; memory is right for ONE gateway instance.
  type: memory               # With several instances: type: redis, url: redis://host:6379/0
  maxEntries: 100000
`;
}

/**
 * Writes a server key pair (RSA, or X25519 with type x25519), a client secret, client.json for \`wxseal call\` and the SDK,
 * gateway.yaml for \`wxseal gateway\`, and server.json for the Node server library. Private
 * material is written with mode 0600; existing files are never overwritten without --force.
 */
export function keygen(opts: KeygenOptions): KeygenResult {
  const type = opts.type ?? 'rsa';
  if (!KEYGEN_KEY_TYPES.includes(type)) throw new CliError('CLI_INVALID_INPUT', 'the server key type must be rsa, x25519 or sm2', '--type');
  if (type !== 'rsa' && opts.bits !== undefined) throw new CliError('CLI_INVALID_INPUT', `--bits sizes an RSA key; an ${type === 'sm2' ? 'SM2' : 'X25519'} key has no size to choose`, '--bits');
  if (type === 'rsa' && opts.bits !== undefined && ![2048, 3072, 4096].includes(opts.bits)) {
    throw new CliError('CLI_INVALID_INPUT', 'the RSA modulus must be 2048, 3072 or 4096 bits', '--bits');
  }
  if (!LIMITS.idPattern.test(opts.keyId)) throw new CliError('CLI_INVALID_INPUT', 'a key id is 1-64 characters of A-Z a-z 0-9 . _ : -', '--key-id');
  const base = httpUrl(opts.baseUrl, '--base-url');
  const upstream = httpUrl(opts.upstream ?? DEFAULT_UPSTREAM, '--upstream').toString().replace(/\/$/, '');
  const port = base.port === '' ? DEFAULT_GATEWAY_PORT : Number(base.port);
  const adminPort = opts.adminPort ?? DEFAULT_ADMIN_PORT;
  if (!Number.isInteger(adminPort) || adminPort < 1 || adminPort > 65535) throw new CliError('CLI_INVALID_INPUT', 'must be a port number (1-65535)', '--admin-port');
  if (adminPort === port) throw new CliError('CLI_INVALID_INPUT', `the admin listener needs a port other than the gateway's ${port} (from --base-url)`, '--admin-port');

  const names = ['server-private.pem', 'server-public.pem', 'client-secret.txt', 'client.json', 'gateway.yaml', 'server.json'];
  const paths = names.map((n) => join(opts.out, n));
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length > 0 && !opts.force) {
    throw new CliError('CLI_FILE_EXISTS', `refusing to overwrite ${existing.join(', ')} (add --force to replace them)`, '--out');
  }
  try {
    mkdirSync(opts.out, { recursive: true, mode: 0o700 });
    return writeFiles(opts, paths as [string, string, string, string, string, string], { type, port, adminPort, upstream, base });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) throw err;
    const path = (err as NodeJS.ErrnoException).path ?? opts.out;
    throw new CliError('CLI_FILE_UNWRITABLE', `cannot write ${path}: ${code}`, '--out');
  }
}

function writeFiles(
  opts: KeygenOptions,
  [priv, pub, secretPath, clientPath, gatewayPath, serverPath]: [string, string, string, string, string, string],
  { type, port, adminPort, upstream, base }: { type: KeygenKeyType; port: number; adminPort: number; upstream: string; base: URL },
): KeygenResult {
  let serverKeyId: string;
  if (type === 'sm2') {
    // PKCS#8 and SPKI PEM, byte for byte what OpenSSL writes for an SM2 key (SPEC.md 6.6).
    const pair = sm2GenerateKeyPair();
    serverKeyId = sm2ServerKeyId(pair.publicKeyHex);
    writeFileSync(priv, sm2PrivateKeyToPem(pair.privateKeyHex), { mode: 0o600 });
    writeFileSync(pub, sm2PublicKeyToPem(pair.publicKeyHex), { mode: 0o644 });
  } else {
    const { privateKey, publicKey } = generateServerKeyPair(type, opts.bits ?? 2048);
    serverKeyId = serverKeyIdOf(publicKey);
    writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  }
  const secret = b64uEncode(randomBytes(32));

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
  const host = LOOPBACK.has(base.hostname) ? '127.0.0.1' : '0.0.0.0';
  writeFileSync(gatewayPath, gatewayYaml({ keyId: opts.keyId, serverKeyId, type, host, port, adminPort, upstream, baseUrl: opts.baseUrl }), { mode: 0o600 });
  const server = {
    windowSeconds: 60,
    maxBodyBytes: 1048576,
    clients: [{ keyId: opts.keyId, secrets: [{ secretFile: 'client-secret.txt' }] }],
    serverKeys: [{ id: serverKeyId, privateKeyFile: 'server-private.pem' }],
  };
  writeFileSync(serverPath, JSON.stringify(server, null, 2) + '\n', { mode: 0o600 });
  return { serverKeyId, type, files: [priv, pub, secretPath, clientPath, gatewayPath, serverPath] };
}
