/**
 * @wxseal/protocol/primitives — the building blocks the protocol functions are made of: strict
 * base64url and UTF-8, SHA-256, HMAC, HKDF, AES-256-GCM, RSA-OAEP and HPKE (RFC 9180, X25519) session
 * keys, the HKDF derivations, the associated data, the sealed plaintext framing and the strict JSON
 * reader (SPEC.md 1, 5-7, 6.5, 15.6).
 * For known-answer vectors, tests, benchmarks and implementations that assemble the steps
 * themselves; a client or verifier uses `@wxseal/protocol`.
 */
export { b64uEncode, b64uDecodeStrict, decodeHeaderBytes, sha256Hex, decodeUtf8Strict, toWellFormed } from './encoding.js';
export { parseJsonObject, hasRepeatedMember } from './json.js';
export { hmacSha256, signCanonical, matchSignature } from './hmac.js';
export { hkdfExtract, hkdfExpand, hkdfSha256 } from './hkdf.js';
export {
  generateSessionKey,
  generateIv,
  generateResponseNonce,
  publicRandomBytes,
  wrapSessionKey,
  unwrapSessionKey,
  aesGcmEncrypt,
  aesGcmDecrypt,
  deriveResponseKey,
} from './envelope.js';
export {
  HPKE_IDS,
  HPKE_X25519_ENC_BYTES,
  HPKE_TAG_BYTES,
  x25519PrivateKeyFromRaw,
  x25519PublicKeyFromRaw,
  x25519RawPublicKey,
  x25519RawPrivateKey,
  hpkeDeriveKeyPair,
  hpkeEncap,
  hpkeDecap,
  hpkeKeySchedule,
  hpkeNonce,
  hpkeContextSeal,
  hpkeContextOpen,
  hpkeExport,
  hpkeSeal,
  hpkeOpen,
  type HpkeAead,
  type HpkeKeyPair,
  type HpkeAeadContext,
  type HpkeContext,
} from './hpke.js';
export { splitTarget, canonicalQuery, trimContentType, requestAad, responseAad } from './canonical.js';
export { encodePayloadMeta, encodePayload, encodePayloadParts, decodePayload } from './payload.js';
export { generateNonce } from './request.js';
export {
  sm2SpkiDer,
  smCanonicalRequestString,
  smCanonicalRejectionString,
  sm3Hex,
  smSignCanonical,
  smRequestAad,
  smResponseAad,
  deriveSmResponseKey,
  sm4GcmSeal,
  sm4GcmOpen,
  wrapSmSessionKey,
  unwrapSmSessionKey,
  generateSmSessionKey,
} from './sm.js';
export { formatKeyVersion, deviceKeySalt, deriveDeviceKeyWrap, deviceKeyAad } from './device.js';
