// WeChat Pay's own keys in the mock: platform certificates (RSA-2048, X.509 serial = Wechatpay-Serial)
// with a rotation ring, and one WeChat Pay public key (public key mode, id PUB_KEY_ID_<digits>).
import { createPublicKey, randomBytes, randomInt, type KeyObject } from 'node:crypto';
import { normalizeCertificateSerial } from '@wxseal/wechatpay';
import { createCertificate, generateRsaKeyPair, privateKeyObject } from '../certs.js';

/** A platform certificate held by the mock (WeChat Pay's side: with its private key). */
export interface PayPlatformCertificate {
  /** Upper-case hex X.509 serial without leading zeros (the Wechatpay-Serial). */
  serial: string;
  certificatePem: string;
  privateKeyPem: string;
}

/** The WeChat Pay public key of public key mode (WeChat Pay's side: with its private key). */
export interface PayPublicKeyMaterial {
  /** `PUB_KEY_ID_` + digits. */
  id: string;
  publicKeyPem: string;
  privateKeyPem: string;
}

/** 20 random bytes as hex, first byte 0x10..0x7f: no leading zero, positive INTEGER, 40 hex digits like WeChat's. */
export function randomCertificateSerialHex(): string {
  const b = randomBytes(20);
  b[0] = 0x10 + ((b[0] ?? 0) % 0x70);
  return b.toString('hex');
}

/** Generates a platform certificate (self-signed, 5 years from yesterday unless told). */
export async function generatePayPlatformCertificate(options: { nowMs?: number; validityDays?: number } = {}): Promise<PayPlatformCertificate> {
  const created = await createCertificate({
    subject: 'CN=Tenpay.com Root CA mock platform, OU=Tenpay.com CA Center, O=wxseal mock (not Tencent), L=Shenzhen, C=CN',
    notBeforeMs: (options.nowMs ?? Date.now()) - 86_400_000,
    validityDays: options.validityDays ?? 1825,
    serialNumberHex: randomCertificateSerialHex(),
  });
  return { serial: normalizeCertificateSerial(created.x509SerialHex), certificatePem: created.certificatePem, privateKeyPem: created.privateKeyPem };
}

/** Generates a WeChat Pay public key: RSA-2048 and an id `PUB_KEY_ID_01` + 30 digits. */
export async function generatePayPublicKey(): Promise<PayPublicKeyMaterial> {
  const pair = await generateRsaKeyPair();
  let digits = '01';
  while (digits.length < 32) digits += String(randomInt(0, 10));
  return { id: `PUB_KEY_ID_${digits}`, publicKeyPem: pair.publicKeyPem, privateKeyPem: pair.privateKeyPem };
}

/** Which certificate signs while two are listed (see README: WeChat ramps the new one up over the last 5 days). */
export type RotationSigning = 'new' | 'old' | 'alternate';

interface HeldCertificate extends PayPlatformCertificate {
  key: KeyObject;
}

const MAX_CERTIFICATES = 4;

/**
 * A set of platform certificates (oldest first) and who signs while two are listed: the RSA ones
 * (PayKeyRing) and the SM2 ones (SmPayKeyRing, sm-keys.ts) rotate the same way.
 */
export class PlatformCertificateSet {
  #certs: HeldCertificate[];
  #signing: RotationSigning = 'new';
  #flip = false;
  readonly #label: string;
  readonly #loadKey: (pem: string) => KeyObject;

  /** `label` names the certificates in errors ("platform certificate"); `loadKey` reads a private key PEM. */
  constructor(first: PayPlatformCertificate, options: { label: string; loadKey: (pem: string) => KeyObject }) {
    this.#label = options.label;
    this.#loadKey = options.loadKey;
    this.#certs = [this.#hold(first)];
  }

  /** Serial → PEM of every listed certificate, oldest first. */
  certificates(): Record<string, string> {
    return Object.fromEntries(this.#certs.map((c) => [c.serial, c.certificatePem]));
  }

  certificatePems(): string[] {
    return this.#certs.map((c) => c.certificatePem);
  }

  /** The newest certificate's serial. */
  get newestSerial(): string {
    return this.#newest().serial;
  }

  get rotating(): boolean {
    return this.#certs.length > 1;
  }

  get rotationSigning(): RotationSigning {
    return this.#signing;
  }

  /** The certificate that signs the next answer / notification. */
  signer(): { serial: string; key: KeyObject } {
    const newest = this.#newest();
    if (this.#certs.length === 1 || this.#signing === 'new') return newest;
    const oldest = this.#certs[0] ?? newest;
    if (this.#signing === 'old') return oldest;
    this.#flip = !this.#flip;
    return this.#flip ? newest : oldest;
  }

  /** Adds a certificate (listed at once); `signing` picks who signs during the overlap. */
  add(cert: PayPlatformCertificate, signing: RotationSigning = 'new'): void {
    if (this.#certs.length >= MAX_CERTIFICATES) throw new RangeError(`at most ${MAX_CERTIFICATES} ${this.#label}s; withdraw old ones first`);
    if (this.#certs.some((c) => c.serial === cert.serial)) throw new Error(`${this.#label} ${cert.serial} already listed`);
    this.#certs.push(this.#hold(cert));
    this.#signing = signing;
    this.#flip = false;
  }

  /** Removes every certificate but the newest; returns the serials removed. */
  withdrawOld(): string[] {
    const removed = this.#certs.slice(0, -1).map((c) => c.serial);
    this.#certs = [this.#newest()];
    this.#signing = 'new';
    return removed;
  }

  /** The private key of a listed certificate (what decrypts a sensitive field sent under its serial). */
  privateKeyOf(serial: string): KeyObject | undefined {
    const want = serial.toUpperCase().replace(/^0+/, '');
    return this.#certs.find((c) => c.serial === want)?.key;
  }

  #newest(): HeldCertificate {
    const c = this.#certs[this.#certs.length - 1];
    if (!c) throw new Error(`no ${this.#label}`);
    return c;
  }

  #hold(cert: PayPlatformCertificate): HeldCertificate {
    return { ...cert, serial: normalizeCertificateSerial(cert.serial), key: this.#loadKey(cert.privateKeyPem) };
  }
}

/** The RSA platform certificates and the WeChat Pay public key; who signs what. */
export class PayKeyRing extends PlatformCertificateSet {
  readonly publicKey: PayPublicKeyMaterial & { key: KeyObject };

  constructor(first: PayPlatformCertificate, publicKey: PayPublicKeyMaterial) {
    super(first, { label: 'platform certificate', loadKey: privateKeyObject });
    createPublicKey(publicKey.publicKeyPem);
    this.publicKey = { ...publicKey, key: privateKeyObject(publicKey.privateKeyPem) };
  }

  publicKeySigner(): { serial: string; key: KeyObject } {
    return { serial: this.publicKey.id, key: this.publicKey.key };
  }
}
