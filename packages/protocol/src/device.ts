/**
 * Devices, one key per device (一机一密), SPEC.md section 15: the activation request a device
 * signs with its product secret, the sealed delivery of its own device key (at activation and at
 * rotation), and the RequestSpec helper with which a device signs ordinary v1 requests.
 * Pure functions over node:crypto (Node 16.13 and later); lookups, nonce stores and key storage
 * belong to the registry and the gateway.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { HEADERS, IV_BYTES, LIMITS, SIGNATURE_BYTES, TAG_BYTES } from './constants.js';
import { b64uDecodeStrict, b64uEncode } from './encoding.js';
import { aesGcmDecrypt, aesGcmEncrypt } from './envelope.js';
import { WxsealError } from './errors.js';
import { matchSignature, signCanonical } from './hmac.js';
import { parseJsonObject } from './json.js';
import { generateNonce, unixNow, type RequestSpec } from './request.js';
import { parseRejection, type Rejection } from './response.js';
import type { HeaderGetter } from './verify.js';

/** First lines and HKDF labels of section 15: each names its purpose and the version. */
export const DEVICE_LABELS = {
  activation: 'WXSEAL1-DEVICE-ACTIVATE',
  keyAad: 'WXSEAL1-DEVICE-KEY',
  hkdfActivate: 'WXSEAL1 device-key activate',
  hkdfRotate: 'WXSEAL1 device-key rotate',
} as const;

/** Suggested paths (SPEC.md 15.3, 15.7); a deployment may choose others. */
export const DEVICE_ACTIVATION_PATH = '/wxseal/device/activate';
export const DEVICE_ROTATION_PATH = '/wxseal/device/rotate';

export const DEVICE_KEY_BYTES = 32;
export const DEVICE_SERVER_NONCE_BYTES = 32;
/** The sealed key: 32 bytes of ciphertext and the 16-byte GCM tag. */
export const SEALED_DEVICE_KEY_BYTES = DEVICE_KEY_BYTES + TAG_BYTES;
export const MAX_KEY_VERSION = 2147483647;
export const MAX_ACTIVATION_BODY_BYTES = 1024;
/** Prefix of the activation nonce scope; `/` is outside the key id alphabet, so it never equals a key id. */
export const ACTIVATION_NONCE_SCOPE_PREFIX = 'activate/';

export type DeviceKeyPurpose = 'activate' | 'rotate';

const KEY_VERSION_PATTERN = /^[1-9][0-9]{0,9}$/;
const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const SERVER_NONCE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const SEALED_KEY_PATTERN = /^[A-Za-z0-9_-]{64}$/;
const ACTIVATION_MEMBERS = ['productId', 'serial', 'timestamp', 'nonce', 'signature'] as const;
const JSON_CONTENT_TYPE = 'application/json';

const configInvalid = (message: string): never => {
  throw new WxsealError('WXSEAL_CONFIG_INVALID', message);
};

function checkId(what: string, value: string): void {
  if (!LIMITS.idPattern.test(value)) configInvalid(`${what} must be 1-64 characters of A-Z a-z 0-9 . _ : -`);
}

function checkSecret(what: string, secret: Uint8Array, min: number, max: number): void {
  if (secret.length < min || secret.length > max) configInvalid(`${what} must be ${min === max ? min : `${min}-${max}`} bytes`);
}

/** Key versions are decimal 1..2^31-1 on the wire and in the AAD, so C firmware can keep them in an int32. */
export function formatKeyVersion(version: number): string {
  if (!Number.isInteger(version) || version < 1 || version > MAX_KEY_VERSION) {
    throw new RangeError(`key version must be an integer in 1..${MAX_KEY_VERSION}`);
  }
  return String(version);
}

function parseKeyVersion(text: string): number | undefined {
  if (!KEY_VERSION_PATTERN.test(text)) return undefined;
  const version = Number(text);
  return version <= MAX_KEY_VERSION ? version : undefined;
}

// --- device requests (15.2) ----------------------------------------------------------------------

/**
 * The RequestSpec of a device's own v1 request: the serial is the key id, the device key the
 * secret. Nothing else differs from any client's request, so buildRequest and the verifier apply.
 */
export function deviceRequestSpec(
  serial: string,
  deviceKey: Uint8Array,
  request: Omit<RequestSpec, 'keyId' | 'secret'>,
): RequestSpec {
  checkId('serial', serial);
  checkSecret('device key', deviceKey, DEVICE_KEY_BYTES, DEVICE_KEY_BYTES);
  return { ...request, keyId: serial, secret: deviceKey };
}

export function generateDeviceKey(): Buffer {
  return randomBytes(DEVICE_KEY_BYTES);
}

// --- the activation request (15.3-15.5) ----------------------------------------------------------

/** The signed members of an activation request, in wire form. */
export interface ActivationFields {
  productId: string;
  serial: string;
  timestamp: string;
  nonce: string;
}

/** The 5-line canonical activation string of SPEC.md 15.4. */
export function canonicalActivationString(f: ActivationFields): string {
  return [DEVICE_LABELS.activation, f.productId, f.serial, f.timestamp, f.nonce].join('\n');
}

/** Body of an activation request in the member order the vectors use (any order is valid on the wire). */
export function encodeActivationBody(f: ActivationFields & { signature: string }): Buffer {
  return Buffer.from(
    JSON.stringify({ productId: f.productId, serial: f.serial, timestamp: f.timestamp, nonce: f.nonce, signature: f.signature }),
    'utf8',
  );
}

export interface ActivationSpec {
  productId: string;
  serial: string;
  /** The per-product secret flashed into every unit (32-64 bytes). */
  productSecret: Uint8Array;
  /** Unix seconds; defaults to now. */
  timestamp?: number;
  /** Fixed only by vectors and tests; otherwise 16 CSPRNG bytes, as for any request. */
  nonce?: string;
}

/** What the device keeps to open the answer to its activation request. */
export interface ActivationContext {
  productId: string;
  serial: string;
  nonce: string;
  productSecret: Uint8Array;
}

export interface BuiltActivationRequest {
  /** POST these headers and body to the activation path. */
  headers: Record<string, string>;
  body: Buffer;
  canonical: string;
  fields: ActivationFields & { signature: string };
  context: ActivationContext;
}

/** Device side: the signed activation request of SPEC.md 15.3. */
export function buildActivationRequest(spec: ActivationSpec): BuiltActivationRequest {
  checkId('productId', spec.productId);
  checkId('serial', spec.serial);
  checkSecret('product secret', spec.productSecret, 32, 64);
  if (spec.nonce !== undefined && !LIMITS.noncePattern.test(spec.nonce)) configInvalid('nonce breaks the nonce syntax');
  const timestamp = String(spec.timestamp ?? unixNow());
  if (!LIMITS.timestampPattern.test(timestamp)) configInvalid('timestamp must be whole Unix seconds');
  const fields: ActivationFields = { productId: spec.productId, serial: spec.serial, timestamp, nonce: spec.nonce ?? generateNonce() };
  const canonical = canonicalActivationString(fields);
  const signed = { ...fields, signature: signCanonical(spec.productSecret, canonical) };
  return {
    headers: { [HEADERS.contentType]: JSON_CONTENT_TYPE },
    body: encodeActivationBody(signed),
    canonical,
    fields: signed,
    context: { productId: spec.productId, serial: spec.serial, nonce: fields.nonce, productSecret: spec.productSecret },
  };
}

/** An activation request whose body passed steps 1-2 of SPEC.md 15.5. */
export interface ParsedActivationRequest extends ActivationFields {
  timestampSeconds: number;
  /** The decoded 32-byte HMAC. */
  signature: Buffer;
  /** The scope under which the nonce is recorded: `activate/` + product id (SPEC.md 15.5 step 6). */
  nonceScope: string;
}

const malformedPayload = (message: string): never => {
  throw new WxsealError('WXSEAL_MALFORMED_PAYLOAD', message);
};

/**
 * Server side, steps 1-2 of SPEC.md 15.5: size, then syntax. Pure string work, no lookups and no
 * cryptography; messages never echo the values.
 */
export function parseActivationRequest(body: Uint8Array): ParsedActivationRequest {
  if (body.length > MAX_ACTIVATION_BODY_BYTES) {
    throw new WxsealError('WXSEAL_BODY_TOO_LARGE', `activation body exceeds ${MAX_ACTIVATION_BODY_BYTES} bytes`);
  }
  const raw = parseJsonObject(body, 'activation body', malformedPayload);
  for (const name of Object.keys(raw)) {
    // Unknown members are refused: nothing outside the canonical string may reach the server unsigned.
    if (!(ACTIVATION_MEMBERS as readonly string[]).includes(name)) malformedPayload('activation body has an unknown member');
  }
  const member = (name: (typeof ACTIVATION_MEMBERS)[number], pattern: RegExp): string => {
    const value = raw[name];
    if (typeof value !== 'string') return malformedPayload(`activation member ${name} must be a string`);
    if (!pattern.test(value)) malformedPayload(`activation member ${name} breaks its syntax`);
    return value;
  };
  const productId = member('productId', LIMITS.idPattern);
  const serial = member('serial', LIMITS.idPattern);
  const timestamp = member('timestamp', LIMITS.timestampPattern);
  const nonce = member('nonce', LIMITS.noncePattern);
  const signature = b64uDecodeStrict(member('signature', SIGNATURE_PATTERN));
  if (!signature || signature.length !== SIGNATURE_BYTES) return malformedPayload('activation signature is not canonical base64url of 32 bytes');
  return {
    productId,
    serial,
    timestamp,
    timestampSeconds: Number(timestamp),
    nonce,
    signature,
    nonceScope: ACTIVATION_NONCE_SCOPE_PREFIX + productId,
  };
}

/**
 * Server side, step 5 of SPEC.md 15.5: the HMAC against every valid product secret, in constant
 * time and without stopping at the first match. Returns the index of the secret that matched.
 */
export function verifyActivationSignature(parsed: ParsedActivationRequest, productSecrets: readonly Uint8Array[]): number {
  const index = matchSignature(productSecrets, canonicalActivationString(parsed), parsed.signature);
  if (index === -1) throw new WxsealError('WXSEAL_BAD_SIGNATURE', 'activation signature does not match');
  return index;
}

// --- key delivery (15.6) -------------------------------------------------------------------------

/** The JSON members of a key delivery; all are strings so firmware needs no number parser. */
export interface DeviceKeyDelivery {
  keyVersion: string;
  serverNonce: string;
  sealedKey: string;
}

/** What binds a delivery: who it is for, what it answers, and the secret it is wrapped under. */
export interface DeviceKeyBinding {
  purpose: DeviceKeyPurpose;
  /** The product secret (activate) or the device key that verified the request (rotate). */
  wrappingSecret: Uint8Array;
  productId: string;
  serial: string;
  /** The nonce of the request being answered. */
  requestNonce: string;
}

/** HKDF salt of SPEC.md 15.6: UTF-8(request nonce) || server nonce (fixed 32 bytes, so the split is unambiguous). */
export function deviceKeySalt(requestNonce: string, serverNonce: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(requestNonce, 'utf8'), serverNonce]);
}

/** OKM = HKDF-SHA256(wrapping secret, salt, info, 44): the AES key and the GCM IV of one delivery. */
export function deriveDeviceKeyWrap(
  purpose: DeviceKeyPurpose,
  wrappingSecret: Uint8Array,
  requestNonce: string,
  serverNonce: Uint8Array,
): { key: Buffer; iv: Buffer } {
  const info = purpose === 'activate' ? DEVICE_LABELS.hkdfActivate : DEVICE_LABELS.hkdfRotate;
  const okm = Buffer.from(hkdfSync('sha256', wrappingSecret, deviceKeySalt(requestNonce, serverNonce), info, DEVICE_KEY_BYTES + IV_BYTES));
  return { key: okm.subarray(0, DEVICE_KEY_BYTES), iv: okm.subarray(DEVICE_KEY_BYTES) };
}

/** The 4-line associated data of SPEC.md 15.6. */
export function deviceKeyAad(f: { productId: string; serial: string; keyVersion: number }): Buffer {
  return Buffer.from([DEVICE_LABELS.keyAad, f.productId, f.serial, formatKeyVersion(f.keyVersion)].join('\n'), 'utf8');
}

export interface SealedDeviceKey {
  status: 200;
  headers: Record<string, string>;
  /** UTF-8 JSON of `delivery`: the activation answer, or the rotation handler's response body. */
  body: Buffer;
  delivery: DeviceKeyDelivery;
  /** The plaintext key, for the registry to store before the body is sent. */
  deviceKey: Buffer;
  keyVersion: number;
}

/**
 * Server side: seals a device key for the device (SPEC.md 15.6). `deviceKey` and `serverNonce`
 * are fixed only by vectors and tests; otherwise both come from the CSPRNG.
 */
export function sealDeviceKey(
  binding: DeviceKeyBinding,
  keyVersion: number,
  fixed?: { deviceKey?: Uint8Array; serverNonce?: Uint8Array },
): SealedDeviceKey {
  checkId('productId', binding.productId);
  checkId('serial', binding.serial);
  if (binding.purpose === 'activate') checkSecret('product secret', binding.wrappingSecret, 32, 64);
  else checkSecret('device key', binding.wrappingSecret, DEVICE_KEY_BYTES, DEVICE_KEY_BYTES);
  if (!LIMITS.noncePattern.test(binding.requestNonce)) configInvalid('request nonce breaks the nonce syntax');
  const deviceKey = fixed?.deviceKey ? Buffer.from(fixed.deviceKey) : generateDeviceKey();
  checkSecret('device key', deviceKey, DEVICE_KEY_BYTES, DEVICE_KEY_BYTES);
  const serverNonce = fixed?.serverNonce ? Buffer.from(fixed.serverNonce) : randomBytes(DEVICE_SERVER_NONCE_BYTES);
  checkSecret('server nonce', serverNonce, DEVICE_SERVER_NONCE_BYTES, DEVICE_SERVER_NONCE_BYTES);
  const aad = deviceKeyAad({ productId: binding.productId, serial: binding.serial, keyVersion });
  const { key, iv } = deriveDeviceKeyWrap(binding.purpose, binding.wrappingSecret, binding.requestNonce, serverNonce);
  const delivery: DeviceKeyDelivery = {
    keyVersion: formatKeyVersion(keyVersion),
    serverNonce: b64uEncode(serverNonce),
    sealedKey: b64uEncode(aesGcmEncrypt(key, iv, aad, deviceKey)),
  };
  return {
    status: 200,
    // A device key must never sit in a cache, even sealed.
    headers: { [HEADERS.contentType]: JSON_CONTENT_TYPE, 'cache-control': 'no-store' },
    body: Buffer.from(JSON.stringify(delivery), 'utf8'),
    delivery,
    deviceKey,
    keyVersion,
  };
}

const responseInvalid = (message: string, status?: number): never => {
  throw new WxsealError('WXSEAL_RESPONSE_INVALID', message, status === undefined ? undefined : { status });
};

/** Reads a delivery body; members it does not know are ignored, a repeated one is refused (SPEC.md 15.6). */
export function parseDeviceKeyDelivery(body: Uint8Array): DeviceKeyDelivery {
  const raw = parseJsonObject(body, 'key delivery', responseInvalid);
  const member = (name: keyof DeviceKeyDelivery, pattern: RegExp): string => {
    const value = raw[name];
    if (typeof value !== 'string' || !pattern.test(value)) return responseInvalid(`key delivery member ${name} is missing or malformed`);
    return value;
  };
  return {
    keyVersion: member('keyVersion', KEY_VERSION_PATTERN),
    serverNonce: member('serverNonce', SERVER_NONCE_PATTERN),
    sealedKey: member('sealedKey', SEALED_KEY_PATTERN),
  };
}

/**
 * Device side: opens a delivery with its own product id, serial and request nonce. Any failure,
 * including a GCM tag that does not verify, is WXSEAL_RESPONSE_INVALID and yields nothing.
 */
export function openDeviceKey(binding: DeviceKeyBinding, delivery: Uint8Array | DeviceKeyDelivery): { deviceKey: Buffer; keyVersion: number } {
  const d = delivery instanceof Uint8Array ? parseDeviceKeyDelivery(delivery) : delivery;
  const keyVersion = parseKeyVersion(d.keyVersion) ?? responseInvalid('key delivery keyVersion is malformed');
  const serverNonce = b64uDecodeStrict(d.serverNonce);
  if (!serverNonce || serverNonce.length !== DEVICE_SERVER_NONCE_BYTES) return responseInvalid('key delivery serverNonce is malformed');
  const sealed = b64uDecodeStrict(d.sealedKey);
  if (!sealed || sealed.length !== SEALED_DEVICE_KEY_BYTES) return responseInvalid('key delivery sealedKey is malformed');
  const { key, iv } = deriveDeviceKeyWrap(binding.purpose, binding.wrappingSecret, binding.requestNonce, serverNonce);
  const aad = deviceKeyAad({ productId: binding.productId, serial: binding.serial, keyVersion });
  const deviceKey = aesGcmDecrypt(key, iv, aad, sealed, 'WXSEAL_RESPONSE_INVALID');
  return { deviceKey, keyVersion };
}

export type ActivationResult =
  | { ok: true; deviceKey: Buffer; keyVersion: number }
  /** A verifier rejection (SPEC.md section 10); its serverTime serves clock correction. */
  | { ok: false; rejection: Rejection };

/**
 * Device side: the server's answer to an activation request. A recognised rejection is returned
 * (the caller decides on clock correction or retry); a 200 must carry a delivery that opens;
 * anything else is WXSEAL_RESPONSE_INVALID.
 */
export function openActivationResponse(
  ctx: ActivationContext,
  res: { status: number; header: HeaderGetter; body: Uint8Array },
): ActivationResult {
  const rejection = parseRejection(res.status, res.header, res.body);
  if (rejection) return { ok: false, rejection };
  if (res.status !== 200) return responseInvalid(`activation answered with status ${res.status}`, res.status);
  const binding: DeviceKeyBinding = {
    purpose: 'activate',
    wrappingSecret: ctx.productSecret,
    productId: ctx.productId,
    serial: ctx.serial,
    requestNonce: ctx.nonce,
  };
  return { ok: true, ...openDeviceKey(binding, res.body) };
}
