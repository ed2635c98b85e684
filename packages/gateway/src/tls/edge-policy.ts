/**
 * The edge's fixed policy, shared by the config loader and the TLS code (no imports, so neither
 * depends on the other): the default cipher list and the normal forms of a certificate's
 * fingerprint and subject that key-id bindings are compared in.
 */

/**
 * TLS 1.3's suites (all AEAD), then TLS 1.2's ECDHE suites with AEAD ciphers only (forward
 * secrecy, no CBC, no RSA key exchange), strongest first.
 */
export const DEFAULT_EDGE_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** "AB:CD:…" (upper case, colons) from hex with or without colons, any case. */
export function normalizeFingerprint(value: string): string {
  const hex = value.replace(/:/g, '').toUpperCase();
  return hex.match(/.{2}/g)?.join(':') ?? hex;
}

/** A distinguished name on one line, "CN=client, O=Example", from either form (commas or X509Certificate's lines). */
export function normalizeSubject(value: string): string {
  return value
    .split(/\s*[\n,]\s*/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .join(', ');
}

/** True when `cert` is the certificate a key id is bound to (every field the binding gives matches). */
export function bindingMatches(binding: { readonly fingerprint256?: string; readonly subject?: string }, cert: { fingerprint256: string; subject: string }): boolean {
  if (binding.fingerprint256 !== undefined && normalizeFingerprint(cert.fingerprint256) !== binding.fingerprint256) return false;
  if (binding.subject !== undefined && normalizeSubject(cert.subject) !== binding.subject) return false;
  return true;
}
