// SM2 key material for the API security scheme's SM2withSM3 signatures, reduced to the hex forms
// @wxseal/gm signs and verifies with: a private scalar (64 hex) and an uncompressed point 04‖x‖y
// (130 hex). Accepted: those hex strings, PEM (PKCS#8 / SEC1 private keys, SPKI public keys,
// X.509 certificates) and KeyObjects (Node's OpenSSL reads SM2 keys but does not name them; their
// DER export is read). The parsing itself is @wxseal/gm's; this module only dispatches on the form.
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  sm2PrivateKeyFromDer,
  sm2PrivateKeyFromPem,
  sm2PublicKeyFromCertificate,
  sm2PublicKeyFromDer,
  sm2PublicKeyFromPem,
  sm2PublicKeyFromPrivate,
  sm2PublicKeyToPem,
} from '@wxseal/gm';

/** A hex SM2 key, a PEM string (key or certificate), or a KeyObject holding an SM2 key. */
export type Sm2KeyMaterial = string | KeyObject;

const PRIVATE_HEX = /^[0-9a-fA-F]{64}$/;
const PUBLIC_HEX = /^04[0-9a-fA-F]{128}$/;

export class Sm2KeyError extends Error {
  override readonly name = 'Sm2KeyError';
}

/** The SM2 private scalar (64 lowercase hex) of a hex string, a PEM private key or a KeyObject. */
export function sm2PrivateKeyHexOf(material: Sm2KeyMaterial): string {
  if (typeof material === 'string') {
    const t = material.trim();
    if (PRIVATE_HEX.test(t)) {
      sm2PublicKeyFromPrivate(t); // range check by @wxseal/gm
      return t.toLowerCase();
    }
    if (!t.includes('-----BEGIN ')) throw new Sm2KeyError('an SM2 private key is 64 hex digits or a PEM private key');
    return sm2PrivateKeyFromPem(t);
  }
  if (material.type !== 'private') throw new Sm2KeyError('an SM2 private key is required');
  return sm2PrivateKeyFromDer(material.export({ type: 'pkcs8', format: 'der' }));
}

/** The SM2 public point (04‖x‖y, 130 lowercase hex) of a hex string, a PEM key or certificate, or a KeyObject. */
export function sm2PublicKeyHexOf(material: Sm2KeyMaterial): string {
  if (typeof material === 'string') {
    const t = material.trim();
    if (PUBLIC_HEX.test(t)) return sm2PublicKeyFromPem(sm2PublicKeyToPem(t.toLowerCase())); // point check by @wxseal/gm
    if (PRIVATE_HEX.test(t)) return sm2PublicKeyFromPrivate(t);
    if (t.includes('-----BEGIN CERTIFICATE-----')) return sm2PublicKeyFromCertificate(t);
    if (t.includes('PRIVATE KEY-----')) return sm2PublicKeyFromPrivate(sm2PrivateKeyFromPem(t));
    if (t.includes('-----BEGIN ')) return sm2PublicKeyFromPem(t);
    throw new Sm2KeyError('an SM2 public key is 04‖x‖y hex, a PEM public key or a certificate');
  }
  const key = material.type === 'private' ? createPublicKey(material) : material;
  return sm2PublicKeyFromDer(key.export({ type: 'spki', format: 'der' }));
}

/** SPKI PEM of an SM2 public point (what a console shows as the public key). */
export function sm2PublicKeyPem(publicKeyHex: string): string {
  return sm2PublicKeyToPem(publicKeyHex);
}
