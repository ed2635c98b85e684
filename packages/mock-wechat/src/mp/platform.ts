// The platform keys the mock signs Mini Program API responses with: the current one and, during a
// certificate rotation, the one being retired (sent as Wechatmp-Serial-Deprecated / -Signature-Deprecated).
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { generateMpPlatformKey, privateKeyObject, type MpPlatformKey } from '../certs.js';

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

  constructor(current: MpPlatformKey) {
    this.#current = load(current);
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
