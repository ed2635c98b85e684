// Test certificates with chosen serials and validity (@peculiar/x509 over node's WebCrypto).
import { createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto } from 'node:crypto';
import { normalizeCertificateSerial } from '@wxseal/wechatpay';

// @peculiar/x509's DI container (tsyringe) needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
const x509 = await import('@peculiar/x509');

export interface TestCert {
  serial: string;
  certPem: string;
  keyPem: string;
  publicKeyPem: string;
  notBefore: Date;
  notAfter: Date;
}

const ALG = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
let counter = 0;

export function rsaKeyPem(bits = 2048): string {
  return generateKeyPairSync('rsa', { modulusLength: bits }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A self-signed certificate; `daysLeft` from now (negative: expired), `serialHex` chosen or unique. */
export async function makeCert(opts: { daysLeft?: number; serialHex?: string; keyPem?: string; cn?: string; bits?: number } = {}): Promise<TestCert> {
  const keyPem = opts.keyPem ?? rsaKeyPem(opts.bits);
  const priv = createPrivateKey(keyPem);
  const pub = createPublicKey(priv);
  const pkcs8 = priv.export({ type: 'pkcs8', format: 'der' });
  const spki = pub.export({ type: 'spki', format: 'der' });
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, ALG, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', spki, ALG, true, ['verify']),
  };
  const daysLeft = opts.daysLeft ?? 365;
  const notAfter = new Date(Date.now() + daysLeft * DAY);
  const notBefore = new Date(Math.min(Date.now() - DAY, notAfter.getTime() - 2 * DAY));
  const serialHex = opts.serialHex ?? `5${(Date.now() * 1000 + counter++).toString(16).padStart(15, '0')}${Math.floor(Math.random() * 0xffff).toString(16).padStart(4, '0')}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    { serialNumber: serialHex, name: `CN=${opts.cn ?? 'wxseal test'}`, notBefore, notAfter, signingAlgorithm: ALG, keys: keys as never },
    webcrypto as never,
  );
  return {
    serial: normalizeCertificateSerial(cert.serialNumber),
    certPem: cert.toString('pem'),
    keyPem,
    publicKeyPem: pub.export({ type: 'spki', format: 'pem' }).toString(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

export const APIV3_KEY = 'wxsealTestApiV3Key0123456789abcd';
