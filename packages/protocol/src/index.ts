/**
 * @wxseal/protocol — wxseal protocol v1 (SPEC.md): canonical strings, HMAC signatures, the
 * AES-256-GCM envelope with its session key wrapped by RSA-OAEP or by HPKE with X25519, and response
 * sealing. Depends on nothing but node:crypto and runs on Node 16.13 and later.
 *
 * This entry holds what a client, a verifier or a device speaks the protocol with. The building
 * blocks underneath (base64url, SHA-256, HMAC, AES-GCM, RSA-OAEP, HPKE, HKDF, the strict JSON reader,
 * the AADs and the plaintext framing) are in `@wxseal/protocol/primitives`.
 */
export {
  PROTOCOL_VERSION,
  HEADERS,
  LABELS,
  SEALED_CONTENT_TYPE,
  MODES,
  SESSION_KEY_BYTES,
  IV_BYTES,
  TAG_BYTES,
  RESPONSE_NONCE_BYTES,
  SIGNATURE_BYTES,
  NONCE_RANDOM_BYTES,
  MIN_SECRET_BYTES,
  MAX_SECRET_BYTES,
  MAX_SECRETS_PER_KEY,
  MIN_RSA_BITS,
  MAX_RSA_BITS,
  LIMITS,
  EMPTY_BODY_SHA256,
  type Mode,
} from './constants.js';
export {
  CodedError,
  isCodedError,
  errorText,
  WIRE_ERRORS,
  WIRE_ERROR_STATUS,
  CLIENT_ERRORS,
  CLIENT_ERROR_CODES,
  LOCAL_ERRORS,
  LOCAL_ERROR_CODES,
  WxsealError,
  isWireErrorCode,
  isWxsealError,
  statusesOf,
  type ErrorInfo,
  type ErrorCatalogue,
  type WireErrorCode,
  type ClientErrorCode,
  type LocalErrorCode,
  type WxsealErrorCode,
} from './errors.js';
export { unsafePathReason, requestTargetReason } from './target.js';
export { canonicalRequestString, canonicalResponseString, type SignedRequestFields, type ResponseBinding } from './canonical.js';
export {
  loadServerPublicKey,
  loadServerPrivateKey,
  wrappedKeyLength,
  serverKeySuite,
  SESSION_KEY_HPKE_INFO,
  X25519_WRAPPED_KEY_BYTES,
  type KeyInput,
  type ServerKeySuite,
} from './envelope.js';
export { IDENTITY_FIELDS, validateIdentity, encodeIdentityHeader, decodeIdentityHeader, type WechatIdentity } from './identity.js';
export { sealedBodyLength, type PayloadMeta } from './payload.js';
export { buildRequest, unixNow, type RequestSpec, type RequestContext, type BuiltRequest, type ServerPublicKey } from './request.js';
export {
  parseRequestHeaders,
  SINGLE_HEADERS,
  checkTimestamp,
  signedFieldsOf,
  requestSignatureIndex,
  verifyRequestSignature,
  openSealedRequest,
  type HeaderGetter,
  type ParsedRequest,
  type SealedParsedRequest,
  type SignedParsedRequest,
  type ParsedRequestOf,
} from './verify.js';
export {
  sealableStatus,
  sealResponse,
  signResponse,
  openResponse,
  SIGNED_REJECTION_CODES,
  canonicalRejectionString,
  signRejection,
  isAuthenticRejection,
  parseRejection,
  rejectionResponse,
  type ServerResponseContext,
  type PlainResponse,
  type WireResponse,
  type OpenedResponse,
  type Rejection,
} from './response.js';
export {
  DEVICE_LABELS,
  DEVICE_ACTIVATION_PATH,
  DEVICE_ROTATION_PATH,
  DEVICE_KEY_BYTES,
  DEVICE_SERVER_NONCE_BYTES,
  SEALED_DEVICE_KEY_BYTES,
  MAX_KEY_VERSION,
  MAX_ACTIVATION_BODY_BYTES,
  ACTIVATION_NONCE_SCOPE_PREFIX,
  deviceRequestSpec,
  generateDeviceKey,
  canonicalActivationString,
  encodeActivationBody,
  buildActivationRequest,
  parseActivationRequest,
  verifyActivationSignature,
  sealDeviceKey,
  parseDeviceKeyDelivery,
  openDeviceKey,
  openActivationResponse,
  type DeviceKeyPurpose,
  type ActivationFields,
  type ActivationSpec,
  type ActivationContext,
  type BuiltActivationRequest,
  type ParsedActivationRequest,
  type DeviceKeyDelivery,
  type DeviceKeyBinding,
  type SealedDeviceKey,
  type ActivationResult,
} from './device.js';
