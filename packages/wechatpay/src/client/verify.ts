// Signature verification with the "unknown serial → refresh once → verify again" rule, shared by
// the HTTP client (answers) and the notification handlers (callbacks).
import { isWechatPayError } from '../errors.js';
import type { HeaderInput } from '../internal.js';
import type { MerchantMaterial, MerchantMaterialSource } from '../merchant/material.js';
import { readSignatureHeaders, verifySignature, type VerifiedSignature } from '../verification.js';

export interface VerifyWithRefreshOptions {
  source: MerchantMaterialSource;
  mchid: string;
  /** The snapshot the exchange started with. */
  material: MerchantMaterial;
  headers: HeaderInput;
  /** Raw body bytes exactly as received. */
  body: Uint8Array;
  nowSeconds?: number;
  windowSeconds?: number;
  /** Told about the refresh (serial asked for, whether the source says it is now known). */
  onRefresh?: (serial: string, known: boolean) => void;
}

export interface VerifiedWith {
  verified: VerifiedSignature;
  /** The snapshot whose key set verified (a fresh one after a refresh). */
  material: MerchantMaterial;
  /** True when a refresh was needed. */
  refreshed: boolean;
}

/**
 * verifySignature with the snapshot's key set; on WECHATPAY_UNKNOWN_SERIAL asks the source to
 * refresh ONCE, takes a fresh snapshot and verifies again. Any failure is the core's typed
 * WechatPayError (still WECHATPAY_UNKNOWN_SERIAL when the refresh did not bring the key).
 */
export async function verifyWithRefresh(opts: VerifyWithRefreshOptions): Promise<VerifiedWith> {
  const base = { headers: opts.headers, body: opts.body, nowSeconds: opts.nowSeconds, windowSeconds: opts.windowSeconds };
  try {
    return { verified: verifySignature({ ...base, keys: opts.material.verificationKeys }), material: opts.material, refreshed: false };
  } catch (err) {
    if (!isWechatPayError(err, 'WECHATPAY_UNKNOWN_SERIAL')) throw err;
    const serial = readSignatureHeaders(opts.headers).serial;
    let known: boolean;
    try {
      known = await opts.source.refreshForUnknownSerial(opts.mchid, serial);
    } catch {
      // The refresh itself failed (certificate download down): still an unknown serial.
      opts.onRefresh?.(serial, false);
      throw err;
    }
    opts.onRefresh?.(serial, known);
    const material = opts.source.current(opts.mchid);
    return { verified: verifySignature({ ...base, keys: material.verificationKeys }), material, refreshed: true };
  }
}
