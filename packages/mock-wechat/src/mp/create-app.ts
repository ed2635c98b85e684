// One test app generated in one call: the mock's side (MockAppConfig) and the matching client side
// (what a backend configures: AppSecret, symmetric key + SN, RSA private key + SN, platform certificates).
import { randomBytes } from 'node:crypto';
import { sm2GenerateKeyPair } from '@wxseal/gm';
import { generateRsaKeyPair, randomConsoleNumber } from '../certs.js';
import type { ApiSecurityMode, JsCodeFixture, MockAppConfig, MockAsymmetricAlgorithm, MockSymmetricAlgorithm, PhoneFixture } from './apps.js';
import { sm2PrivateKeyPem, sm2SpkiPem } from './sm2.js';

/** What a client of the mock needs, in the shape `client.json` holds. */
export interface MockMpClientConfig {
  appid: string;
  secret: string;
  /** Present when not AES256_GCM (the default). */
  symmetricAlgorithm?: MockSymmetricAlgorithm;
  /** Present when not RSAwithSHA256 (the default). */
  asymmetricAlgorithm?: MockAsymmetricAlgorithm;
  /** base64 of the 32-byte AES256_GCM key (16 bytes under SM4_GCM). */
  symKey: string;
  symSn: string;
  /** PKCS#8 PEM of the app's RSA private key (signs requests); PKCS#8 PEM of its SM2 key under SM2withSM3. */
  privateKeyPem: string;
  privateKeySn: string;
  /** Console number (Wechatmp-Serial) → platform certificate PEM. */
  platformCertificates: Record<string, string>;
  /** Where the mock listens, e.g. http://127.0.0.1:8090. */
  baseUrl?: string;
  /** Present only when the mock runs with publicBaseUrl: the scheme+host to compute urlpath with. */
  publicBaseUrl?: string;
}

export interface CreateMockMpAppOptions {
  appid?: string;
  secret?: string;
  /** API security mode; default 'required'. */
  mode?: ApiSecurityMode;
  requireRequestSerial?: boolean;
  /** Number of js_code and phone code fixtures generated (default 3 each). */
  fixtures?: number;
  acceptAnyCode?: boolean;
  /** Leave the symmetric key / public key out of the mock's config (to provoke 40238 / 40239). */
  omitSymKey?: boolean;
  omitPublicKey?: boolean;
  /** AES256_GCM (default) or SM4_GCM. */
  symmetricAlgorithm?: MockSymmetricAlgorithm;
  /** RSAwithSHA256 (default) or SM2withSM3. */
  asymmetricAlgorithm?: MockAsymmetricAlgorithm;
}

export interface MockMpApp {
  /** Give this to startMockWechat({ apps }) or mock.addApp(). */
  config: MockAppConfig;
  /** The client side, without platform certificates. */
  client: Omit<MockMpClientConfig, 'platformCertificates' | 'baseUrl' | 'publicBaseUrl'>;
  /** Generated js_code fixtures (also in config.jsCodes). */
  jsCodes: Record<string, JsCodeFixture>;
  /** Generated phone code fixtures (also in config.phoneCodes). */
  phoneCodes: Record<string, PhoneFixture>;
  /** The full client configuration for a running mock (its platform certificates — SM2 ones under SM2withSM3 — and URL). */
  clientConfig(mock: { platformCertificates(): Record<string, string>; sm2PlatformCertificates?(): Record<string, string>; url: string }): MockMpClientConfig;
}

/** Generates an app: appid, AppSecret, RSA-2048 key pair + SN, AES-256 key + SN, code fixtures. */
export async function createMockMpApp(options: CreateMockMpAppOptions = {}): Promise<MockMpApp> {
  const appid = options.appid ?? `wx${randomBytes(8).toString('hex')}`;
  const secret = options.secret ?? randomBytes(16).toString('hex');
  const symmetric = options.symmetricAlgorithm ?? 'AES256_GCM';
  const asymmetric = options.asymmetricAlgorithm ?? 'RSAwithSHA256';
  let keys: { privateKeyPem: string; publicKeyPem: string };
  if (asymmetric === 'SM2withSM3') {
    const kp = sm2GenerateKeyPair();
    keys = { privateKeyPem: sm2PrivateKeyPem(kp.privateKeyHex), publicKeyPem: sm2SpkiPem(kp.publicKeyHex) };
  } else {
    keys = await generateRsaKeyPair();
  }
  const symKey = randomBytes(symmetric === 'SM4_GCM' ? 16 : 32).toString('base64');
  const symSn = randomConsoleNumber();
  const privateKeySn = randomConsoleNumber();
  const n = options.fixtures ?? 3;
  if (!Number.isInteger(n) || n < 0 || n > 1000) throw new RangeError('fixtures must be 0..1000');
  const jsCodes: Record<string, JsCodeFixture> = {};
  const phoneCodes: Record<string, PhoneFixture> = {};
  for (let i = 0; i < n; i++) {
    const tag = randomBytes(6).toString('hex');
    jsCodes[`jscode-${i}-${tag}`] = {
      openid: `o${randomBytes(20).toString('base64url').slice(0, 27)}`,
      unionid: `u${randomBytes(20).toString('base64url').slice(0, 27)}`,
      session_key: randomBytes(16).toString('base64'),
    };
    const number = `1380013${String(8000 + i).padStart(4, '0')}`;
    phoneCodes[`phonecode-${i}-${tag}`] = { phoneNumber: number, purePhoneNumber: number, countryCode: '86' };
  }
  const config: MockAppConfig = {
    appid,
    secret,
    apiSecurity: {
      mode: options.mode ?? 'required',
      ...(symmetric !== 'AES256_GCM' ? { symmetricAlgorithm: symmetric } : {}),
      ...(asymmetric !== 'RSAwithSHA256' ? { asymmetricAlgorithm: asymmetric } : {}),
      ...(options.omitSymKey ? {} : { symKey, symSn }),
      ...(options.omitPublicKey ? {} : { publicKeyPem: keys.publicKeyPem }),
      publicKeySn: privateKeySn,
      requireRequestSerial: options.requireRequestSerial === true,
    },
    jsCodes: { ...jsCodes },
    phoneCodes: { ...phoneCodes },
    ...(options.acceptAnyCode ? { acceptAnyCode: true } : {}),
  };
  const client = {
    appid,
    secret,
    ...(symmetric !== 'AES256_GCM' ? { symmetricAlgorithm: symmetric } : {}),
    ...(asymmetric !== 'RSAwithSHA256' ? { asymmetricAlgorithm: asymmetric } : {}),
    symKey,
    symSn,
    privateKeyPem: keys.privateKeyPem,
    privateKeySn,
  };
  return {
    config,
    client,
    jsCodes,
    phoneCodes,
    clientConfig: (mock) => ({
      ...client,
      platformCertificates: asymmetric === 'SM2withSM3' && mock.sm2PlatformCertificates ? mock.sm2PlatformCertificates() : mock.platformCertificates(),
      baseUrl: mock.url,
    }),
  };
}
