// Typed errors of the typed calls beyond the HTTP client's own: a downloaded file (bill) that does
// not match the digest WeChat Pay announced for it, or cannot be read. Codes are stable.
import { CodedError, type ErrorCatalogue } from '@wxseal/protocol/errors';

/** The codes of WechatPayDownloadError. */
export const WECHATPAY_DOWNLOAD_ERRORS = {
  WECHATPAY_BILL_HASH_MISMATCH: {
    meaning: 'A downloaded bill\'s digest is not the hash_value its (verified) bill answer announced: the file was altered or cut in transit.',
    action: 'Discard the file and ask for the bill again (the download_url lives 30 s); if it repeats, look for a proxy rewriting answers.',
  },
  WECHATPAY_BILL_HASH_UNSUPPORTED: {
    meaning: 'The bill answer names a hash_type other than SHA1, the only one WeChat Pay documents.',
    action: 'Report it: WeChat Pay changed its bill API; do not use the file unchecked.',
  },
  WECHATPAY_BILL_GZIP_INVALID: {
    meaning: 'A bill asked for with tar_type GZIP (or starting with the gzip magic bytes) does not decompress.',
    action: 'Ask for the bill again; if it repeats, ask without tar_type.',
  },
} as const satisfies ErrorCatalogue;

export type WechatPayDownloadErrorCode = keyof typeof WECHATPAY_DOWNLOAD_ERRORS;

/** A downloaded file failed its integrity check; never retried automatically. */
export class WechatPayDownloadError extends CodedError<WechatPayDownloadErrorCode> {
  override readonly name = 'WechatPayDownloadError';
  /** Path of the download (no query: the token is a credential for 30 s). */
  readonly path: string;
  constructor(code: WechatPayDownloadErrorCode, message: string, options: { path: string; cause?: unknown }) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.path = options.path;
  }
}

export function isWechatPayDownloadError(err: unknown, code?: WechatPayDownloadErrorCode): err is WechatPayDownloadError {
  return err instanceof WechatPayDownloadError && (code === undefined || err.code === code);
}
