// Test PKI for the TLS tests: a CA, server and client certificates with chosen names and validity
// (expired and not-yet-valid ones included, which the openssl CLI of Debian 12 cannot issue in one
// step). ECDSA P-256 keeps key generation fast. @peculiar/x509 builds the certificates over
// node's WebCrypto; every key is generated here, per test run.
import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto } from 'node:crypto';

// @peculiar/x509's DI container (tsyringe) needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
const x509 = await import('@peculiar/x509');

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
let serialCounter = 0;

export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  cert: X509Certificate;
  /** SHA-256 of the DER, "AB:CD:…" (X509Certificate.fingerprint256). */
  fingerprint256: string;
  /** base64 SHA-256 of the SubjectPublicKeyInfo: the form public-key pins take. */
  spkiSha256: string;
}

export interface TestCa extends TlsMaterial {
  name: string;
}

export interface IssueOptions {
  cn: string;
  /** DNS names and IP addresses for the subjectAltName (default: localhost, 127.0.0.1, ::1 for servers). */
  sans?: string[];
  notBefore?: Date;
  notAfter?: Date;
  /** Days of validity from now when notAfter is not given (negative: already expired). Default 365. */
  days?: number;
  usage?: 'server' | 'client' | 'both';
  /** Reuse a key (PKCS#8 PEM): a renewal of the same key. */
  keyPem?: string;
}

function newKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

async function cryptoKeys(keyPem: string): Promise<CryptoKeyPair> {
  const priv = createPrivateKey(keyPem);
  const pub = createPublicKey(priv);
  return {
    privateKey: await webcrypto.subtle.importKey('pkcs8', priv.export({ type: 'pkcs8', format: 'der' }), ALG, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', pub.export({ type: 'spki', format: 'der' }), ALG, true, ['verify']),
  } as CryptoKeyPair;
}

function uniqueSerial(): string {
  return `4${(Date.now() * 1000 + serialCounter++).toString(16).padStart(15, '0')}${Math.floor(Math.random() * 0xffff).toString(16).padStart(4, '0')}`;
}

function material(certPem: string, keyPem: string): TlsMaterial {
  const cert = new X509Certificate(certPem);
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return { certPem, keyPem, cert, fingerprint256: cert.fingerprint256, spkiSha256: createHash('sha256').update(spki).digest('base64') };
}

/** A self-signed CA, valid from yesterday for ten years. */
export async function makeCa(name = 'wxseal test CA'): Promise<TestCa> {
  const keyPem = newKeyPem();
  const keys = await cryptoKeys(keyPem);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: uniqueSerial(),
      name: `CN=${name}`,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 3650 * DAY),
      signingAlgorithm: ALG,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    },
    webcrypto as never,
  );
  return { ...material(cert.toString('pem'), keyPem), name };
}

/** A leaf certificate signed by `ca`. */
export async function issueCert(ca: TestCa, options: IssueOptions): Promise<TlsMaterial> {
  const keyPem = options.keyPem ?? newKeyPem();
  const keys = await cryptoKeys(keyPem);
  const caKeys = await cryptoKeys(ca.keyPem);
  const usage = options.usage ?? 'server';
  const notAfter = options.notAfter ?? new Date(Date.now() + (options.days ?? 365) * DAY);
  const notBefore = options.notBefore ?? new Date(Math.min(Date.now() - DAY, notAfter.getTime() - 2 * DAY));
  const sans = options.sans ?? (usage === 'client' ? [] : ['localhost', '127.0.0.1', '::1']);
  const ekus = [
    ...(usage !== 'client' ? [x509.ExtendedKeyUsage.serverAuth] : []),
    ...(usage !== 'server' ? [x509.ExtendedKeyUsage.clientAuth] : []),
  ];
  const extensions: InstanceType<typeof x509.Extension>[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(ekus),
    await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
  ];
  if (sans.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(sans.map((s) => ({ type: /^[\d.]+$|:/.test(s) ? ('ip' as const) : ('dns' as const), value: s }))));
  }
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: uniqueSerial(),
      subject: `CN=${options.cn}`,
      issuer: `CN=${ca.name}`,
      notBefore,
      notAfter,
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      extensions,
    },
    webcrypto as never,
  );
  return material(cert.toString('pem'), keyPem);
}

/** A CRL signed by `ca` revoking `revoked` (PEM), valid from yesterday for 30 days. */
export async function makeCrl(ca: TestCa, revoked: readonly TlsMaterial[]): Promise<string> {
  const caKeys = await cryptoKeys(ca.keyPem);
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: `CN=${ca.name}`,
      thisUpdate: new Date(Date.now() - DAY),
      nextUpdate: new Date(Date.now() + 30 * DAY),
      signingAlgorithm: ALG,
      signingKey: caKeys.privateKey,
      entries: revoked.map((m) => ({ serialNumber: m.cert.serialNumber, revocationDate: new Date(Date.now() - 60_000), reason: x509.X509CrlReason.keyCompromise })),
    },
    webcrypto as never,
  );
  // OpenSSL reads the label "X509 CRL" (RFC 7468), not the "CRL" @peculiar/x509 writes.
  return crl.toString('pem').replace(/-----(BEGIN|END) CRL-----/g, '-----$1 X509 CRL-----');
}
