// Key and certificate generation shared by every emulated platform: the Mini Program API
// security platform certificate today, WeChat Pay v3 platform certificates later (those are
// identified by their X.509 serial, the Mini Program ones by a console number, so both are returned).
import { createPrivateKey, createPublicKey, generateKeyPair, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type * as X509 from '@peculiar/x509';

let x509Module: Promise<typeof X509> | undefined;
/** @peculiar/x509, loaded on first use (after the Reflect metadata polyfill its DI container needs). */
function loadX509(): Promise<typeof X509> {
  x509Module ??= import('reflect-metadata').then(() => import('@peculiar/x509'));
  return x509Module;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** An RSA key pair as PEM (private key PKCS#8, public key SPKI). */
export interface RsaKeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
}

/** Generates an RSA key pair (2048 bits unless told), off the main thread. */
export async function generateRsaKeyPair(modulusLength = 2048): Promise<RsaKeyPairPem> {
  if (!Number.isInteger(modulusLength) || modulusLength < 2048 || modulusLength > 8192) {
    throw new RangeError('modulusLength must be an integer in 2048..8192');
  }
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', {
    modulusLength,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** 32 lowercase hex characters, the shape of the numbers the MP console shows (key SNs, certificate numbers). */
export function randomConsoleNumber(): string {
  return randomBytes(16).toString('hex');
}

export interface CertificateIssuer {
  /** Issuer certificate (PEM). */
  certificatePem: string;
  /** Issuer private key (PEM, RSA). */
  privateKeyPem: string;
}

export interface CreateCertificateOptions {
  /** Subject DN, e.g. `CN=wxseal mock platform, O=Tencent Inc. (mock), C=CN`. */
  subject: string;
  /** Key pair to certify; a fresh RSA-2048 pair when absent. */
  keyPair?: RsaKeyPairPem;
  /** Signs with this CA instead of self-signing. */
  issuer?: CertificateIssuer;
  /** Unix milliseconds of notBefore; default now − 1 day. */
  notBeforeMs?: number;
  /** Validity from notBefore, in days; default 3650. */
  validityDays?: number;
  /** X.509 serial as hex (even length); random 16 bytes when absent. */
  serialNumberHex?: string;
  /** Marks the certificate as a CA (basicConstraints cA=TRUE, keyCertSign). */
  isCa?: boolean;
}

export interface GeneratedCertificate extends RsaKeyPairPem {
  certificatePem: string;
  /** The X.509 serial number, uppercase hex (what WeChat Pay calls the certificate serial). */
  x509SerialHex: string;
  notBefore: Date;
  notAfter: Date;
}

// @peculiar/x509 is typed against the DOM WebCrypto types; node's webcrypto objects are the same at run time.
type X509Crypto = NonNullable<Parameters<typeof X509.X509CertificateGenerator.createSelfSigned>[1]>;
type X509KeyPair = Parameters<typeof X509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
type X509CryptoKey = X509KeyPair['privateKey'];

const SIGNING_ALG = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

async function toWebCryptoPair(pair: RsaKeyPairPem): Promise<{ privateKey: webcrypto.CryptoKey; publicKey: webcrypto.CryptoKey }> {
  const pkcs8 = createPrivateKey(pair.privateKeyPem).export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(pair.publicKeyPem).export({ type: 'spki', format: 'der' });
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, SIGNING_ALG, false, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, SIGNING_ALG, true, ['verify']);
  return { privateKey, publicKey };
}

/** Creates an X.509 certificate (self-signed, or issued by `issuer`) with @peculiar/x509 over node's WebCrypto. */
export async function createCertificate(options: CreateCertificateOptions): Promise<GeneratedCertificate> {
  const x509 = await loadX509();
  const keyPair = options.keyPair ?? (await generateRsaKeyPair());
  const crypto = webcrypto as unknown as X509Crypto;
  const subjectKeys = await toWebCryptoPair(keyPair);
  const notBefore = new Date(options.notBeforeMs ?? Date.now() - 86_400_000);
  const validityDays = options.validityDays ?? 3650;
  if (!Number.isFinite(validityDays) || validityDays <= 0) throw new RangeError('validityDays must be positive');
  const notAfter = new Date(notBefore.getTime() + validityDays * 86_400_000);
  let serial = options.serialNumberHex ?? randomBytes(16).toString('hex');
  if (!/^[0-9a-fA-F]+$/.test(serial) || serial.length % 2 !== 0 || serial.length > 40) throw new RangeError('serialNumberHex must be even-length hex, at most 20 bytes');
  // A positive INTEGER: clear the top bit so DER needs no sign byte.
  serial = ((parseInt(serial.slice(0, 2), 16) & 0x7f) | 0x01).toString(16).padStart(2, '0') + serial.slice(2);

  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(options.isCa === true, undefined, true),
    new x509.KeyUsagesExtension(
      options.isCa === true
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature
        : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(subjectKeys.publicKey as unknown as X509CryptoKey, false, crypto),
  ];

  let cert: X509.X509Certificate;
  if (options.issuer === undefined) {
    cert = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: serial,
        name: options.subject,
        notBefore,
        notAfter,
        signingAlgorithm: SIGNING_ALG,
        keys: subjectKeys as unknown as X509KeyPair,
        extensions,
      },
      crypto,
    );
  } else {
    const issuerCert = new x509.X509Certificate(options.issuer.certificatePem);
    const issuerKey = createPrivateKey(options.issuer.privateKeyPem).export({ type: 'pkcs8', format: 'der' });
    const signingKey = await webcrypto.subtle.importKey('pkcs8', issuerKey, SIGNING_ALG, false, ['sign']);
    cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: serial,
        subject: options.subject,
        issuer: issuerCert.subject,
        notBefore,
        notAfter,
        signingAlgorithm: SIGNING_ALG,
        publicKey: subjectKeys.publicKey as unknown as X509CryptoKey,
        signingKey: signingKey as unknown as X509CryptoKey,
        extensions,
      },
      crypto,
    );
  }
  return {
    ...keyPair,
    certificatePem: cert.toString('pem'),
    x509SerialHex: cert.serialNumber.toUpperCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

/** A Mini Program API-security platform key: RSA key, its certificate, and the console number sent as Wechatmp-Serial. */
export interface MpPlatformKey {
  /** The console's certificate number (Wechatmp-Serial), NOT the X.509 serial. */
  consoleNumber: string;
  privateKeyPem: string;
  certificatePem: string;
}

/** Generates a platform key for the Mini Program API security emulation. */
export async function generateMpPlatformKey(options: { nowMs?: number; validityDays?: number } = {}): Promise<MpPlatformKey> {
  const created = await createCertificate({
    subject: 'CN=wxseal mock-wechat platform, OU=WxgMp, O=wxseal mock (not Tencent), C=CN',
    notBeforeMs: (options.nowMs ?? Date.now()) - 86_400_000,
    validityDays: options.validityDays ?? 1825,
  });
  return { consoleNumber: randomConsoleNumber(), privateKeyPem: created.privateKeyPem, certificatePem: created.certificatePem };
}

/** Parses a private key PEM once, for repeated signing. */
export function privateKeyObject(pem: string): KeyObject {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType !== 'rsa') throw new TypeError('an RSA private key is required');
  return key;
}
