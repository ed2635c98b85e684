// A MerchantMaterialSource over in-memory configuration (several merchants): for tests, scripts
// and simple deployments that load keys at start-up. `refresh` is an optional callback run when
// an answer or callback names an unknown serial (download certificates, re-read a file, …); it
// may return new material for the merchant. Refreshes are single-flight per merchant.
// Production deployments with certificate rotation use the lifecycle CertificateManager instead.
import { X509Certificate, type KeyObject } from 'node:crypto';
import { fail } from '../errors.js';
import { toPrivateKey, toPublicKey, type PrivateKeyInput, type PublicKeyInput } from '../internal.js';
import { apiV3KeyBytes } from '../aead.js';
import {
  createVerificationKeySet,
  isPublicKeyId,
  normalizeCertificateSerial,
  platformCertificateKey,
  selectVerificationKey,
  wechatPayPublicKey,
  type PlatformCertificateKey,
  type VerificationKey,
} from '../verification.js';
import type { MerchantMaterial, MerchantMaterialSource } from './material.js';

export interface StaticMerchantConfig {
  mchid: string;
  /** Serial of the merchant API certificate (hex). */
  merchantSerialNo: string;
  /** apiclient_key.pem or a KeyObject. */
  privateKey: PrivateKeyInput;
  merchantCertificate?: string | X509Certificate;
  /** The APIv3 key: 32 ASCII characters. */
  apiV3Key: string;
  /** Platform certificates (PEM or X509Certificate). */
  platformCertificates?: ReadonlyArray<string | X509Certificate>;
  /** The WeChat Pay public key (public key mode) and its `PUB_KEY_ID_…`. */
  publicKey?: { id: string; key: PublicKeyInput };
  /**
   * Wechatpay-Serial sent on requests and the key for sensitive fields. Default: the public key id
   * when one is configured, else the newest currently valid platform certificate.
   */
  wechatpaySerial?: string;
}

/** What a refresh callback may hand back: replacements for some fields (e.g. new platform certificates). */
export type StaticMerchantUpdate = Partial<Omit<StaticMerchantConfig, 'mchid'>>;

export type StaticRefreshCallback = (mchid: string, serial: string) => Promise<StaticMerchantUpdate | void> | StaticMerchantUpdate | void;

export interface StaticMerchantMaterialSourceOptions {
  refresh?: StaticRefreshCallback;
  /** Clock for choosing the newest valid certificate (ms since epoch). */
  now?: () => number;
}

function buildMaterial(cfg: StaticMerchantConfig, version: number, nowMs: number): MerchantMaterial {
  if (typeof cfg !== 'object' || cfg === null) fail('WECHATPAY_BAD_ARGUMENT', 'merchant config must be an object');
  if (typeof cfg.mchid !== 'string' || !/^[0-9]{1,32}$/.test(cfg.mchid)) fail('WECHATPAY_BAD_ARGUMENT', 'mchid must be 1-32 decimal digits');
  if (typeof cfg.merchantSerialNo !== 'string' || !/^[0-9A-Fa-f]{1,64}$/.test(cfg.merchantSerialNo)) fail('WECHATPAY_BAD_ARGUMENT', 'merchantSerialNo must be hex');
  const privateKey: KeyObject = toPrivateKey(cfg.privateKey);
  if (typeof cfg.apiV3Key !== 'string') fail('WECHATPAY_BAD_ARGUMENT', 'apiV3Key must be a string');
  apiV3KeyBytes(cfg.apiV3Key); // 32 bytes or WECHATPAY_BAD_ARGUMENT
  let merchantCertificate: X509Certificate | undefined;
  if (cfg.merchantCertificate !== undefined) {
    try {
      merchantCertificate = typeof cfg.merchantCertificate === 'string' ? new X509Certificate(cfg.merchantCertificate) : cfg.merchantCertificate;
    } catch (e) {
      fail('WECHATPAY_BAD_ARGUMENT', 'merchantCertificate is not a readable certificate', e);
    }
  }
  const certs: PlatformCertificateKey[] = (cfg.platformCertificates ?? []).map((c) => platformCertificateKey(c));
  const keys: VerificationKey[] = [...certs];
  if (cfg.publicKey !== undefined) keys.push(wechatPayPublicKey(cfg.publicKey.id, cfg.publicKey.key));
  const verificationKeys = createVerificationKeySet(keys);

  let wechatpaySerial = cfg.wechatpaySerial;
  if (wechatpaySerial === undefined) {
    if (cfg.publicKey !== undefined) wechatpaySerial = cfg.publicKey.id;
    else {
      let best: PlatformCertificateKey | undefined;
      for (const c of certs) {
        if (c.validFrom !== undefined && c.validFrom.getTime() > nowMs) continue;
        if (c.validTo !== undefined && c.validTo.getTime() < nowMs) continue;
        if (best === undefined || (c.validTo?.getTime() ?? 0) > (best.validTo?.getTime() ?? 0)) best = c;
      }
      wechatpaySerial = best?.serial;
    }
  }
  let encryptionKey: KeyObject | undefined;
  if (wechatpaySerial !== undefined) {
    const k = selectVerificationKey(verificationKeys, wechatpaySerial); // WECHATPAY_UNKNOWN_SERIAL if not held
    encryptionKey = toPublicKey(k.publicKey);
    if (!isPublicKeyId(wechatpaySerial)) wechatpaySerial = normalizeCertificateSerial(wechatpaySerial);
  }
  const m: MerchantMaterial = {
    mchid: cfg.mchid,
    merchantSerialNo: cfg.merchantSerialNo.toUpperCase(),
    privateKey,
    apiV3Key: cfg.apiV3Key,
    verificationKeys,
    version,
    ...(merchantCertificate ? { merchantCertificate } : {}),
    ...(wechatpaySerial !== undefined ? { wechatpaySerial } : {}),
    ...(encryptionKey ? { encryptionKey } : {}),
  };
  return Object.freeze(m);
}

function serialKnown(m: MerchantMaterial, serial: string): boolean {
  try {
    selectVerificationKey(m.verificationKeys, serial);
    return true;
  } catch {
    return false;
  }
}

/** Immutable snapshots from in-memory configuration; `update` swaps a merchant's snapshot atomically. */
export class StaticMerchantMaterialSource implements MerchantMaterialSource {
  private readonly configs = new Map<string, StaticMerchantConfig>();
  private readonly snapshots = new Map<string, MerchantMaterial>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly refreshCallback: StaticRefreshCallback | undefined;
  private readonly now: () => number;
  private version = 0;
  /** Refreshes run per merchant (tests look at it). */
  readonly refreshCounts = new Map<string, number>();

  constructor(merchants: Iterable<StaticMerchantConfig>, options: StaticMerchantMaterialSourceOptions = {}) {
    this.refreshCallback = options.refresh;
    this.now = options.now ?? Date.now;
    for (const cfg of merchants) {
      if (this.configs.has(cfg?.mchid)) fail('WECHATPAY_BAD_ARGUMENT', `merchant ${cfg.mchid} given twice`);
      this.install(cfg);
    }
  }

  private install(cfg: StaticMerchantConfig): MerchantMaterial {
    const m = buildMaterial(cfg, ++this.version, this.now());
    this.configs.set(cfg.mchid, cfg);
    this.snapshots.set(cfg.mchid, m);
    return m;
  }

  current(mchid: string): MerchantMaterial {
    const m = this.snapshots.get(mchid);
    if (m === undefined) fail('WECHATPAY_BAD_ARGUMENT', `merchant ${String(mchid)} is not configured`);
    return m;
  }

  /** Adds a merchant or replaces fields of one; the new snapshot applies to exchanges started afterwards. */
  update(mchid: string, update: StaticMerchantUpdate | StaticMerchantConfig): MerchantMaterial {
    const prev = this.configs.get(mchid);
    const next = { ...(prev ?? {}), ...update, mchid } as StaticMerchantConfig;
    return this.install(next);
  }

  async refreshForUnknownSerial(mchid: string, serial: string): Promise<boolean> {
    this.current(mchid);
    if (serialKnown(this.current(mchid), serial)) return true;
    if (this.refreshCallback === undefined) return false;
    let p = this.inflight.get(mchid);
    if (p === undefined) {
      const callback = this.refreshCallback;
      p = (async () => {
        this.refreshCounts.set(mchid, (this.refreshCounts.get(mchid) ?? 0) + 1);
        const update = await callback(mchid, serial);
        if (update) this.update(mchid, update);
      })().finally(() => this.inflight.delete(mchid));
      this.inflight.set(mchid, p);
    }
    await p;
    return serialKnown(this.current(mchid), serial);
  }
}
