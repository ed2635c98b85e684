// SM2 key material of the mock (app public keys, the platform key, generated client keys), read
// and written by @wxseal/gm; the signatures themselves come from @wxseal/gm as well.
import { sm2PrivateKeyToPem, sm2PublicKeyFromCertificate, sm2PublicKeyFromPem, sm2PublicKeyToPem } from '@wxseal/gm';

const PUBLIC_HEX = /^04[0-9a-fA-F]{128}$/;

/** 04‖x‖y (hex) of an SM2 public key given as hex, SPKI PEM or certificate PEM. */
export function sm2PublicHexOf(material: string): string {
  try {
    const t = material.trim();
    if (PUBLIC_HEX.test(t)) return sm2PublicKeyFromPem(sm2PublicKeyToPem(t.toLowerCase()));
    return t.includes('BEGIN CERTIFICATE') ? sm2PublicKeyFromCertificate(t) : sm2PublicKeyFromPem(t);
  } catch {
    throw new TypeError('apiSecurity.publicKeyPem is not a readable SM2 public key or certificate');
  }
}

/** SPKI PEM of an SM2 public point. */
export function sm2SpkiPem(publicKeyHex: string): string {
  return sm2PublicKeyToPem(publicKeyHex);
}

/** PKCS#8 PEM of an SM2 private key, what a client configures as its private key. */
export function sm2PrivateKeyPem(privateKeyHex: string): string {
  return sm2PrivateKeyToPem(privateKeyHex);
}
