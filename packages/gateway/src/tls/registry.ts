/**
 * The TLS certificates a gateway holds right now — its edge (server) chain, the CAs it trusts for
 * client certificates, and per upstream the CA, pinned keys and client certificate it presents —
 * as one list that the expiry gauge (wxseal_tls_certificate_expiry_seconds), the admin API's
 * certificates page and the 30/7-day warnings read. Whoever loads or swaps a certificate replaces
 * its entry here in the same step, so the list never shows a certificate that is not in use.
 */
import { X509Certificate } from 'node:crypto';

/** Which side of which connection a certificate serves. */
export type TlsCertificateRole = 'edge' | 'client-ca' | 'upstream-ca' | 'upstream-client';

export interface TlsCertificateEntry {
  readonly role: TlsCertificateRole;
  /** The listener ("public") or the route/upstream name the certificate belongs to. */
  readonly name: string;
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  /** SHA-256 of the DER, upper-case hex with colons (as X509Certificate.fingerprint256). */
  readonly fingerprint256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Where it was read from: a file path, "etcd", "inline", … (never the key). */
  readonly source: string;
}

/** Splits a PEM bundle into its certificates (in order); throws on a block that does not parse. */
export function parseCertificates(pem: string | Buffer): X509Certificate[] {
  const text = typeof pem === 'string' ? pem : pem.toString('utf8');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** One-line subject ("CN=api.example.com, O=Example"), from X509Certificate's multi-line form. */
export function oneLineName(name: string): string {
  return name.split('\n').filter((s) => s.length > 0).join(', ');
}

export function entryOf(role: TlsCertificateRole, name: string, cert: X509Certificate, source: string): TlsCertificateEntry {
  return {
    role,
    name,
    subject: oneLineName(cert.subject),
    issuer: oneLineName(cert.issuer),
    serial: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    source,
  };
}

export class TlsCertificateRegistry {
  readonly #entries = new Map<string, readonly TlsCertificateEntry[]>();

  /** Replaces what `role`/`name` holds with `certs` (an empty list removes it). */
  set(role: TlsCertificateRole, name: string, certs: readonly X509Certificate[], source: string): void {
    const key = `${role}\u0000${name}`;
    if (certs.length === 0) this.#entries.delete(key);
    else this.#entries.set(key, certs.map((c) => entryOf(role, name, c, source)));
  }

  delete(role: TlsCertificateRole, name: string): void {
    this.#entries.delete(`${role}\u0000${name}`);
  }

  list(): TlsCertificateEntry[] {
    return [...this.#entries.values()].flat();
  }
}
