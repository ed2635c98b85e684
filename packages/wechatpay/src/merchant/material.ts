// The contract between the Pay client and whatever supplies a merchant's keys and certificates
// (static configuration in tests, the hot-reloading, cluster-synchronised CertificateManager in
// production). A snapshot is immutable: a request takes one at its start and finishes with it,
// so a swap never changes keys under an in-flight request.
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { VerificationKeySet } from '../verification.js';

/** Everything needed to sign for, and verify on behalf of, one merchant at one moment. */
export interface MerchantMaterial {
  readonly mchid: string;
  /** Serial of the merchant API certificate (serial_no in Authorization). */
  readonly merchantSerialNo: string;
  readonly privateKey: KeyObject;
  readonly merchantCertificate?: X509Certificate;
  /** APIv3 key (32 ASCII characters). */
  readonly apiV3Key: string;
  /** Platform certificates and/or the WeChat Pay public key, selected by Wechatpay-Serial. */
  readonly verificationKeys: VerificationKeySet;
  /**
   * Sent as Wechatpay-Serial on every request and used to encrypt sensitive fields: the WeChat
   * Pay public key id when one is configured (selects public-key-signed answers during a
   * migration), else the newest valid platform certificate's serial.
   */
  readonly wechatpaySerial?: string;
  /** The key matching `wechatpaySerial`, for sensitive-field encryption. */
  readonly encryptionKey?: KeyObject;
  /** Increases with every swap (diagnostics, tests). */
  readonly version: number;
}

export interface MerchantMaterialSource {
  /** The current snapshot; throws WECHATPAY_BAD_ARGUMENT for an unknown merchant. Synchronous and cheap. */
  current(mchid: string): MerchantMaterial;
  /**
   * A response or notification named a serial not in the snapshot: fetch platform certificates
   * once (single-flight, rate-limited) and say whether the serial is now known.
   */
  refreshForUnknownSerial(mchid: string, serial: string): Promise<boolean>;
}
