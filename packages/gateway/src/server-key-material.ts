/**
 * A gateway server key as loaded from the config: an RSA or X25519 KeyObject, or an SM2 key (the SM
 * suite, SPEC.md 6.6), which is not a KeyObject: Node's OpenSSL does not expose SM2 encryption, so
 * SM2 keys are held as hex and used through @wxseal/gm. An SM2 key file is PEM (PKCS#8 as OpenSSL
 * and `wxseal keygen --type sm2` write it, or SEC1), or the armored `WXSEAL SM2 PRIVATE KEY` hex form.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { WxsealError, loadServerPrivateKey, looksLikeSm2Key, parseSm2PrivateKey, sm2ServerKeyId } from '@wxseal/protocol';
import { serverKeyTypeOf, type ServerKeyType, type Sm2PrivateKeyInput } from '@wxseal/server';
import { sm2PrivateKeyFromPem, sm2PublicKeyFromPrivate, sm2PublicKeyToPem } from '@wxseal/gm';

export type ServerPrivateKey = KeyObject | Sm2PrivateKeyInput;

export function isSm2Key(key: ServerPrivateKey): key is Sm2PrivateKeyInput {
  return (key as Sm2PrivateKeyInput).type === 'sm2' && typeof (key as Sm2PrivateKeyInput).privateKeyHex === 'string';
}

/** Parses a server private key: PEM (RSA, X25519) or the armored SM2 form. WXSEAL_CONFIG_INVALID otherwise. */
export function loadGatewayServerKey(text: string): ServerPrivateKey {
  if (looksLikeSm2Key(text)) {
    const privateKeyHex = parseSm2PrivateKey(text);
    if (privateKeyHex === undefined) throw new WxsealError('WXSEAL_CONFIG_INVALID', 'an SM2 server private key is the armored WXSEAL SM2 PRIVATE KEY form (64 hex digits)');
    try {
      sm2PublicKeyFromPrivate(privateKeyHex);
    } catch (cause) {
      throw new WxsealError('WXSEAL_CONFIG_INVALID', 'the SM2 private key is not a valid SM2 scalar', { cause });
    }
    return { type: 'sm2', privateKeyHex };
  }
  // A PEM SM2 key (Node would parse it but cannot encrypt with SM2): recognised first, by @wxseal/gm.
  if (/-----BEGIN (?:SM2 |EC )?PRIVATE KEY-----/.test(text)) {
    try {
      return { type: 'sm2', privateKeyHex: sm2PrivateKeyFromPem(text) };
    } catch {
      // not SM2: Node reads it below
    }
  }
  return loadServerPrivateKey(text);
}

export function serverKeyTypeOfMaterial(key: ServerPrivateKey): ServerKeyType {
  return isSm2Key(key) ? 'sm2' : serverKeyTypeOf(key);
}

/** The public key as handed to clients: SPKI PEM (for SM2 too). */
export function publicKeyTextOf(key: ServerPrivateKey): string {
  if (isSm2Key(key)) return sm2PublicKeyToPem(sm2PublicKeyFromPrivate(key.privateKeyHex));
  return createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
}

/** SPEC.md section 2: `sk-` and the first 16 hex digits of SHA-256 over the DER SubjectPublicKeyInfo. */
export function serverKeyIdOfMaterial(key: ServerPrivateKey): string {
  if (isSm2Key(key)) return sm2ServerKeyId(sm2PublicKeyFromPrivate(key.privateKeyHex));
  return 'sk-' + createHash('sha256').update(createPublicKey(key).export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}
