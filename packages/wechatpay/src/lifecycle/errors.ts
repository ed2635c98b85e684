// Typed errors of the certificate and key lifecycle. Messages never carry key material: only
// merchant ids, serials, file paths / variable names and the reason.
import { CodedError, errorText, type ErrorCatalogue } from '@wxseal/protocol/errors';

/** The WECHATPAY_LIFECYCLE_ codes of the certificate and key lifecycle. */
export const WECHATPAY_LIFECYCLE_ERRORS = {
  WECHATPAY_LIFECYCLE_CONFIG: {
    meaning: 'The manager\'s configuration is unusable (missing source, duplicate merchant, bad option).',
    action: 'Fix the option the message names.',
  },
  WECHATPAY_LIFECYCLE_INVALID_MATERIAL: {
    meaning: 'A candidate key, certificate or APIv3 key failed validation; the previous material stays in use.',
    action: 'Fix the files or secrets the problems list names (wxseal pay certs check helps), then reload.',
  },
  WECHATPAY_LIFECYCLE_SOURCE_UNAVAILABLE: {
    meaning: 'A secret source (file, environment variable, secret store) could not be read.',
    action: 'Check the path, the variable or the secret store, and the process\'s permissions.',
  },
  WECHATPAY_LIFECYCLE_DOWNLOAD_FAILED: {
    meaning: 'GET /v3/certificates failed (transport, HTTP status, decryption or the answer\'s signature).',
    action: 'Check the merchant id, private key, serial and APIv3 key, and the network to WeChat Pay; the held certificates stay in use.',
  },
  WECHATPAY_LIFECYCLE_UNVERIFIED_ANSWER: {
    // Never taken for "public key only": that would let a wrong base URL or a proxy's own 404
    // switch a merchant's verification off.
    meaning: 'GET /v3/certificates answered "no certificates" (404 or an empty list) without a WeChat Pay signature that verifies with a trusted key.',
    action: 'Check the base URL and proxies; for a public-key-only merchant, give the WeChat Pay public key and its id.',
  },
  WECHATPAY_LIFECYCLE_SYNC_UNAVAILABLE: {
    meaning: 'Redis or etcd (the shared certificate list, leader election) did not answer in time or refused the operation.',
    action: 'Check Redis / etcd; each instance keeps its own certificates meanwhile.',
  },
  WECHATPAY_LIFECYCLE_SYNC_REJECTED: {
    meaning: 'A synchronised certificate payload was rejected (bad MAC, stale, malformed, expired).',
    action: 'Check that every instance has the same sync key; a payload written by someone else is ignored.',
  },
  WECHATPAY_LIFECYCLE_NOT_LOADED: {
    meaning: 'No material has been loaded yet for the merchant (start() not called, or it failed).',
    action: 'Call start() and look at why it failed.',
  },
  WECHATPAY_LIFECYCLE_CLOSED: {
    meaning: 'The manager is closed.',
    action: 'Do not use a manager after close(); create a new one.',
  },
} as const satisfies ErrorCatalogue;

export type CertificateLifecycleErrorCode = keyof typeof WECHATPAY_LIFECYCLE_ERRORS;

export class CertificateLifecycleError extends CodedError<CertificateLifecycleErrorCode> {
  override readonly name = 'CertificateLifecycleError';
  /** Individual validation problems, when the error summarises several. */
  readonly problems: readonly string[];
  constructor(code: CertificateLifecycleErrorCode, message: string, options?: { cause?: unknown; problems?: readonly string[] }) {
    super(code, message, options);
    this.problems = Object.freeze([...(options?.problems ?? [])]);
  }
}

export function isCertificateLifecycleError(err: unknown, code?: CertificateLifecycleErrorCode): err is CertificateLifecycleError {
  return err instanceof CertificateLifecycleError && (code === undefined || err.code === code);
}

/**
 * A short, secret-free description of an unknown error (its display form, `CODE: message` for a
 * coded error, first line, bounded).
 */
export function describeError(err: unknown): string {
  const msg = errorText(err);
  const line = msg.split('\n', 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
