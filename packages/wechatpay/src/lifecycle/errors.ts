// Typed errors of the certificate and key lifecycle. Messages never carry key material: only
// merchant ids, serials, file paths / variable names and the reason.

export type CertificateLifecycleErrorCode =
  /** The manager's configuration is unusable (missing source, duplicate merchant, bad option). */
  | 'WECHATPAY_LIFECYCLE_CONFIG'
  /** A candidate key / certificate / APIv3 key failed validation; the previous material stays. */
  | 'WECHATPAY_LIFECYCLE_INVALID_MATERIAL'
  /** A secret source (file, environment variable, secret store) could not be read. */
  | 'WECHATPAY_LIFECYCLE_SOURCE_UNAVAILABLE'
  /** GET /v3/certificates failed (transport, status, decryption or response signature). */
  | 'WECHATPAY_LIFECYCLE_DOWNLOAD_FAILED'
  /**
   * GET /v3/certificates answered "no certificates" (404 or an empty list) without a WeChat Pay
   * signature that verifies with a trusted key: a wrong base URL, a proxy's own 404, or a
   * public-key-only merchant whose public key was not given. Never taken for "public key only".
   */
  | 'WECHATPAY_LIFECYCLE_UNVERIFIED_ANSWER'
  /** Redis / etcd did not answer in time or refused the operation. */
  | 'WECHATPAY_LIFECYCLE_SYNC_UNAVAILABLE'
  /** A synchronised certificate payload was rejected (bad MAC, stale, malformed, expired). */
  | 'WECHATPAY_LIFECYCLE_SYNC_REJECTED'
  /** No material has been loaded yet for the merchant (start() not called or failed). */
  | 'WECHATPAY_LIFECYCLE_NOT_LOADED'
  /** The manager is closed. */
  | 'WECHATPAY_LIFECYCLE_CLOSED';

export class CertificateLifecycleError extends Error {
  readonly code: CertificateLifecycleErrorCode;
  /** Individual validation problems, when the error summarises several. */
  readonly problems: readonly string[];
  constructor(code: CertificateLifecycleErrorCode, message: string, options?: { cause?: unknown; problems?: readonly string[] }) {
    super(`${code}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CertificateLifecycleError';
    this.code = code;
    this.problems = Object.freeze([...(options?.problems ?? [])]);
  }
}

export function isCertificateLifecycleError(err: unknown, code?: CertificateLifecycleErrorCode): err is CertificateLifecycleError {
  return err instanceof CertificateLifecycleError && (code === undefined || err.code === code);
}

/** A short, secret-free description of an unknown error (its message, first line, bounded). */
export function describeError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const line = msg.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
