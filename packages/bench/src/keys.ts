import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gm } from './gm.js';
import { sm2ServerKeyId } from '@wxseal/protocol';
import { b64uEncode } from '@wxseal/protocol/primitives';
import { serverKeyIdFor } from '@wxseal/server';

/**
 * The key material of one bench run, generated fresh by the orchestrator and handed to every child
 * process through a file in the run's private temporary directory (never logged, deleted at the end).
 */
export interface BenchKeys {
  /** The client credential's key id. */
  keyId: string;
  /** The client secret, b64u (32 bytes). */
  secret: string;
  /** The server key id of the RSA-2048 key pair. */
  serverKeyId: string;
  publicKeyPem: string;
  privateKeyPem: string;
  /** The X25519 server key pair (SPEC 6.5), held by the gateway beside the RSA one. */
  x25519ServerKeyId: string;
  x25519PublicKeyPem: string;
  x25519PrivateKeyPem: string;
  /** The SM2 server key pair (SPEC 6.6, the SM suite), held by the gateway beside the others; generated per run. */
  sm2ServerKeyId: string;
  /** Uncompressed point 04‖x‖y, hex. */
  sm2PublicKeyHex: string;
  sm2PrivateKeyHex: string;
  /** PKCS#8 PEM, as `wxseal keygen --type sm2` writes it (what the gateway is configured with). */
  sm2PrivateKeyPem: string;
  /** SPKI PEM, what a client is given. */
  sm2PublicKeyPem: string;
}

/** Environment variable that carries the path of the keys file to child processes. */
export const KEYS_ENV = 'WXSEAL_BENCH_KEYS';

export function generateBenchKeys(): BenchKeys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
  const x = generateKeyPairSync('x25519');
  const sm2 = gm.sm2GenerateKeyPair();
  return {
    sm2ServerKeyId: sm2ServerKeyId(sm2.publicKeyHex),
    sm2PublicKeyHex: sm2.publicKeyHex,
    sm2PrivateKeyHex: sm2.privateKeyHex,
    sm2PrivateKeyPem: gm.sm2PrivateKeyToPem(sm2.privateKeyHex),
    sm2PublicKeyPem: gm.sm2PublicKeyToPem(sm2.publicKeyHex),
    x25519ServerKeyId: serverKeyIdFor(x.privateKey),
    x25519PublicKeyPem: x.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    x25519PrivateKeyPem: x.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    keyId: 'bench-client',
    secret: b64uEncode(randomBytes(32)),
    serverKeyId: serverKeyIdFor(privateKey),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export function writeBenchKeys(dir: string, keys: BenchKeys): string {
  const path = join(dir, 'keys.json');
  writeFileSync(path, JSON.stringify(keys), { mode: 0o600 });
  return path;
}

/** Reads the keys file named by WXSEAL_BENCH_KEYS (in a child process). */
export function readBenchKeys(path: string | undefined = process.env[KEYS_ENV]): BenchKeys {
  if (!path) throw new Error(`${KEYS_ENV} is not set: bench servers are started by the bench harness`);
  return JSON.parse(readFileSync(path, 'utf8')) as BenchKeys;
}
