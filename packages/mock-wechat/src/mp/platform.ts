// The platform keys the mock signs Mini Program API responses with: the current one and, during a
// certificate rotation, the one being retired (sent as Wechatmp-Serial-Deprecated / -Signature-Deprecated).
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { generateMpPlatformKey, privateKeyObject, randomConsoleNumber, type MpPlatformKey } from '../certs.js';
import { createSm2Certificate } from '../pay/sm-keys.js';
import { sm2PublicKeyFromPrivate } from '@wxseal/gm';
import { sm2PublicHexOf } from './sm2.js';

/** The SM2 platform key that signs answers to apps configured with SM2withSM3, with its certificate. */
export interface MpSm2PlatformKey {
  consoleNumber: string;
  privateKeyHex: string;
  publicKeyHex: string;
  /** Self-signed SM2/SM3 X.509 certificate of publicKeyHex (what the console hands out). */
  certificatePem: string;
}

interface LoadedKey {
  readonly spec: MpPlatformKey;
  readonly key: KeyObject;
}

function load(spec: MpPlatformKey): LoadedKey {
  if (typeof spec?.consoleNumber !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(spec.consoleNumber)) throw new TypeError('platform key consoleNumber must be printable ASCII');
  const key = privateKeyObject(spec.privateKeyPem);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(spec.certificatePem);
  } catch {
    throw new TypeError('platform certificatePem is not a readable certificate');
  }
  const a = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const b = cert.publicKey.export({ type: 'spki', format: 'der' });
  if (!a.equals(b)) throw new TypeError('platform certificate does not match its private key');
  return { spec: { ...spec }, key };
}

/** A fresh SM2 platform key: key pair, console number and a self-signed SM2/SM3 certificate (5 years from yesterday). */
export function generateMpSm2PlatformKey(): MpSm2PlatformKey {
  const c = createSm2Certificate({ subject: 'CN=wxseal mock-wechat SM2 platform, OU=WxgMp, O=wxseal mock (not Tencent), C=CN', notBeforeMs: Date.now() - 86_400_000, validityDays: 1825 });
  return { consoleNumber: randomConsoleNumber(), privateKeyHex: c.privateKeyHex, publicKeyHex: c.publicKeyHex, certificatePem: c.certificatePem };
}

export function loadSm2PlatformKey(spec: MpSm2PlatformKey): MpSm2PlatformKey {
  if (typeof spec?.consoleNumber !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(spec.consoleNumber)) throw new TypeError('SM2 platform key consoleNumber must be printable ASCII');
  if (typeof spec.publicKeyHex !== 'string' || typeof spec.privateKeyHex !== 'string') throw new TypeError('SM2 platform key needs privateKeyHex and publicKeyHex');
  if (sm2PublicHexOf(spec.certificatePem) !== spec.publicKeyHex.toLowerCase()) throw new TypeError('SM2 platform certificate does not match its key');
  let derived: string;
  try {
    derived = sm2PublicKeyFromPrivate(spec.privateKeyHex.toLowerCase());
  } catch {
    throw new TypeError('SM2 platform privateKeyHex is not an SM2 private key');
  }
  if (derived !== spec.publicKeyHex.toLowerCase()) throw new TypeError('SM2 platform privateKeyHex does not match publicKeyHex');
  return { ...spec, privateKeyHex: spec.privateKeyHex.toLowerCase(), publicKeyHex: spec.publicKeyHex.toLowerCase() };
}

/**
 * The platform keys: RSA (RSAwithSHA256 apps) and SM2 (SM2withSM3 apps), each with its console
 * number and certificate. A rotation replaces both at once: the new keys sign as Wechatmp-Serial /
 * -Signature, the previous ones as Wechatmp-Serial-Deprecated / -Signature-Deprecated, until
 * finishRotation().
 */
export class PlatformKeyRing {
  #current: LoadedKey;
  #deprecated: LoadedKey | undefined;
  #sm2: MpSm2PlatformKey;
  #sm2Deprecated: MpSm2PlatformKey | undefined;

  constructor(current: MpPlatformKey, sm2?: MpSm2PlatformKey) {
    this.#current = load(current);
    this.#sm2 = sm2 ? loadSm2PlatformKey(sm2) : generateMpSm2PlatformKey();
  }

  /** The current SM2 platform key (signs answers to SM2withSM3 apps). */
  get sm2(): MpSm2PlatformKey {
    return this.#sm2;
  }

  /** The SM2 platform key being retired, during a rotation (signs the -Deprecated pair). */
  get sm2Deprecated(): MpSm2PlatformKey | undefined {
    return this.#sm2Deprecated;
  }

  /** Console number → SM2 platform certificate PEM: the current one and, in rotation, the deprecated one. */
  sm2Certificates(): Record<string, string> {
    const out: Record<string, string> = { [this.#sm2.consoleNumber]: this.#sm2.certificatePem };
    if (this.#sm2Deprecated) out[this.#sm2Deprecated.consoleNumber] = this.#sm2Deprecated.certificatePem;
    return out;
  }

  get current(): LoadedKey {
    return this.#current;
  }

  get deprecated(): LoadedKey | undefined {
    return this.#deprecated;
  }

  /** Console number → certificate PEM: the current one and, in rotation, the deprecated one. */
  certificates(): Record<string, string> {
    const out: Record<string, string> = { [this.#current.spec.consoleNumber]: this.#current.spec.certificatePem };
    if (this.#deprecated) out[this.#deprecated.spec.consoleNumber] = this.#deprecated.spec.certificatePem;
    return out;
  }

  /**
   * Starts a rotation: `next` (or a fresh RSA key) and `options.sm2` (or a fresh SM2 key) become
   * current, the current ones deprecated. Returns the new RSA console number (the SM2 one is `sm2`).
   */
  async rotate(next?: MpPlatformKey, options: { sm2?: MpSm2PlatformKey } = {}): Promise<string> {
    const loaded = load(next ?? (await generateMpPlatformKey()));
    const sm2 = options.sm2 ? loadSm2PlatformKey(options.sm2) : generateMpSm2PlatformKey();
    if (loaded.spec.consoleNumber === this.#current.spec.consoleNumber) throw new TypeError('the new platform key needs its own console number');
    if (sm2.consoleNumber === this.#sm2.consoleNumber) throw new TypeError('the new SM2 platform key needs its own console number');
    this.#deprecated = this.#current;
    this.#current = loaded;
    this.#sm2Deprecated = this.#sm2;
    this.#sm2 = sm2;
    return loaded.spec.consoleNumber;
  }

  /** Ends a rotation: the deprecated pairs (RSA and SM2) are no longer sent. */
  finishRotation(): void {
    this.#deprecated = undefined;
    this.#sm2Deprecated = undefined;
  }
}
