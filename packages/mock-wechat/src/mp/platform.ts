// The platform keys the mock signs Mini Program API responses with: the current one and, during a
// certificate rotation, the one being retired (sent as Wechatmp-Serial-Deprecated / -Signature-Deprecated).
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { generateMpPlatformKey, privateKeyObject, randomConsoleNumber, type MpPlatformKey } from '../certs.js';
import { createSm2Certificate } from '../pay/sm-keys.js';
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

export class PlatformKeyRing {
  #current: LoadedKey;
  #deprecated: LoadedKey | undefined;
  readonly #sm2: MpSm2PlatformKey;

  constructor(current: MpPlatformKey, sm2?: MpSm2PlatformKey) {
    this.#current = load(current);
    if (sm2) {
      if (sm2PublicHexOf(sm2.certificatePem) !== sm2.publicKeyHex.toLowerCase()) throw new TypeError('SM2 platform certificate does not match its key');
      this.#sm2 = { ...sm2 };
    } else {
      const c = createSm2Certificate({ subject: 'CN=wxseal mock-wechat SM2 platform, OU=WxgMp, O=wxseal mock (not Tencent), C=CN', notBeforeMs: Date.now() - 86_400_000, validityDays: 1825 });
      this.#sm2 = { consoleNumber: randomConsoleNumber(), privateKeyHex: c.privateKeyHex, publicKeyHex: c.publicKeyHex, certificatePem: c.certificatePem };
    }
  }

  /** The SM2 platform key (SM2withSM3 apps); not rotated by rotate(). */
  get sm2(): MpSm2PlatformKey {
    return this.#sm2;
  }

  /** Console number → SM2 platform certificate PEM, what an SM2withSM3 client verifies with. */
  sm2Certificates(): Record<string, string> {
    return { [this.#sm2.consoleNumber]: this.#sm2.certificatePem };
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

  /** Starts a rotation: `next` (or a fresh key) becomes current, the current one deprecated. */
  async rotate(next?: MpPlatformKey): Promise<string> {
    const loaded = load(next ?? (await generateMpPlatformKey()));
    if (loaded.spec.consoleNumber === this.#current.spec.consoleNumber) throw new TypeError('the new platform key needs its own console number');
    this.#deprecated = this.#current;
    this.#current = loaded;
    return loaded.spec.consoleNumber;
  }

  /** Ends a rotation: the deprecated pair is no longer sent. */
  finishRotation(): void {
    this.#deprecated = undefined;
  }
}
