/** Protocol constants of wxseal v1 (SPEC.md). Header names are lower-case, as Node presents them. */

export const PROTOCOL_VERSION = '1';

export const HEADERS = {
  version: 'wxseal-version',
  mode: 'wxseal-mode',
  keyId: 'wxseal-key-id',
  timestamp: 'wxseal-timestamp',
  nonce: 'wxseal-nonce',
  signature: 'wxseal-signature',
  serverKeyId: 'wxseal-server-key-id',
  wrappedKey: 'wxseal-wrapped-key',
  iv: 'wxseal-iv',
  identity: 'wxseal-identity',
  traceparent: 'traceparent',
  contentType: 'content-type',
  contentEncoding: 'content-encoding',
  contentLength: 'content-length',
  responseNonce: 'wxseal-response-nonce',
  error: 'wxseal-error',
  serverTime: 'wxseal-server-time',
} as const;

/** First line of each signed or authenticated string: the version is part of what is signed. */
export const LABELS = {
  request: 'WXSEAL1-HMAC-SHA256',
  requestAad: 'WXSEAL1-REQUEST',
  response: 'WXSEAL1-HMAC-SHA256-RESPONSE',
  responseAad: 'WXSEAL1-RESPONSE',
  responseHkdfInfo: 'WXSEAL1 response',
  rejection: 'WXSEAL1-HMAC-SHA256-REJECTION',
} as const;

export const SEALED_CONTENT_TYPE = 'application/vnd.wxseal.sealed';

export type Mode = 'sealed' | 'signed';
export const MODES: readonly Mode[] = ['sealed', 'signed'];

export const SESSION_KEY_BYTES = 32;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const RESPONSE_NONCE_BYTES = 32;
export const SIGNATURE_BYTES = 32;
export const NONCE_RANDOM_BYTES = 16;
export const MIN_SECRET_BYTES = 32;
export const MAX_SECRET_BYTES = 64;
export const MAX_SECRETS_PER_KEY = 4;
export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 4096;

/** Syntax and size limits from SPEC.md sections 4 and 9. */
export const LIMITS = {
  idPattern: /^[A-Za-z0-9._:-]{1,64}$/,
  noncePattern: /^[A-Za-z0-9_-]{22,64}$/,
  timestampPattern: /^(?:0|[1-9][0-9]{0,11})$/,
  methodPattern: /^[A-Z]{1,16}$/,
  maxIdentityHeaderChars: 2048,
  maxIdentityFieldBytes: 256,
  maxTraceparentChars: 512,
  maxTargetBytes: 8192,
  maxMetaBytes: 4096,
  defaultMaxBodyBytes: 1024 * 1024,
  defaultWindowSeconds: 60,
  maxWindowSeconds: 300,
} as const;

/** SHA-256 of the empty string, the body hash of a request without a body. */
export const EMPTY_BODY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
