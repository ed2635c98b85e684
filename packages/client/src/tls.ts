import { X509Certificate, createHash, createPrivateKey, createPublicKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { checkServerIdentity as defaultCheckServerIdentity, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls';
import { WxsealError } from '@wxseal/protocol';

/**
 * TLS to the server: trusted CAs, a client certificate (mutual TLS) and public-key pins. Node 16.13
 * to 24, node:tls only.
 */

export type PemInput = string | Buffer;

export interface ClientTlsOptions {
  /** CA certificates (PEM) trusted for the server's certificate, instead of Node's built-in list. */
  ca?: PemInput | PemInput[];
  /** The client certificate (PEM, leaf first then its intermediates), for servers that require mutual TLS. */
  cert?: PemInput;
  /** The client certificate's private key (PEM). */
  key?: PemInput;
  /** The passphrase of an encrypted `key`. */
  passphrase?: string;
  /** The name the server's certificate must carry (and the SNI sent); default: the base URL's host. */
  servername?: string;
  /**
   * Public-key pins: base64 of the SHA-256 of a DER SubjectPublicKeyInfo (HPKP `pin-sha256`, curl's
   * `sha256//…`; the prefix is optional). The connection is accepted when any certificate of the
   * verified chain (leaf, intermediates, the CA) has a pinned key.
   */
  pinnedPublicKeys?: string[];
}

export interface ResolvedTls {
  ca: string[] | undefined;
  cert: string | undefined;
  key: string | undefined;
  passphrase: string | undefined;
  servername: string | undefined;
  /** The SHA-256 digests (32 bytes each), empty when nothing is pinned. */
  pins: Buffer[];
}

/** Largest PEM input accepted (a CA bundle of a few hundred certificates). */
const MAX_PEM_BYTES = 1024 * 1024;
const MAX_PINS = 32;
const MAX_CA_ENTRIES = 1_000;
const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function configError(message: string): never {
  throw new WxsealError('WXSEAL_CONFIG_INVALID', message);
}

function pemText(name: string, value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (Buffer.isBuffer(value)) text = value.toString('utf8');
  else configError(`${name} must be PEM text (a string or a Buffer)`);
  if (Buffer.byteLength(text) > MAX_PEM_BYTES) configError(`${name} is larger than ${MAX_PEM_BYTES} bytes`);
  return text;
}

/** Every certificate of a PEM text; a block that does not parse, or none at all, is an error. */
function certificates(name: string, text: string): X509Certificate[] {
  const blocks = text.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) configError(`${name} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      return configError(`${name}: certificate ${i + 1} does not parse`);
    }
  });
}

function spkiOf(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/** `sha256//AAAA…=` or `AAAA…=` → the 32-byte digest, or undefined when it is not one. */
export function parsePin(value: unknown): Buffer | undefined {
  if (typeof value !== 'string') return undefined;
  const b64 = value.startsWith('sha256//') ? value.slice(8) : value;
  if (!/^[A-Za-z0-9+/]{43}=$/.test(b64)) return undefined;
  const digest = Buffer.from(b64, 'base64');
  // Canonical only: the same 32 bytes always have the same text.
  return digest.length === 32 && digest.toString('base64') === b64 ? digest : undefined;
}

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo: the pin that matches it. */
export function publicKeyPin(cert: X509Certificate): string {
  return createHash('sha256').update(spkiOf(cert.publicKey)).digest('base64');
}

/** Validates the `tls` option (WXSEAL_CONFIG_INVALID naming the field); undefined when absent. */
export function resolveTls(value: unknown, isHttps: boolean, hasOwnAgent: boolean): ResolvedTls | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) configError('tls must be an object');
  if (!isHttps) configError('tls is set but baseUrl is not https:');
  // An Agent of the caller's own shares its TLS sessions with other users, and a resumed session
  // skips the pin check: the caller configures TLS on that agent instead.
  if (hasOwnAgent) configError('tls cannot be combined with an http(s).Agent instance as agent: give the TLS options to that agent, or pass agent options');
  const t = value as ClientTlsOptions;
  const known = new Set(['ca', 'cert', 'key', 'passphrase', 'servername', 'pinnedPublicKeys']);
  for (const k of Object.keys(t)) if (!known.has(k)) configError(`tls.${k} is not an option (ca, cert, key, passphrase, servername, pinnedPublicKeys)`);

  let ca: string[] | undefined;
  if (t.ca !== undefined) {
    const list: unknown[] = Array.isArray(t.ca) ? t.ca : [t.ca];
    if (list.length === 0 || list.length > MAX_CA_ENTRIES) configError(`tls.ca must hold 1 to ${MAX_CA_ENTRIES} PEM texts`);
    ca = list.map((entry, i) => {
      const name = Array.isArray(t.ca) ? `tls.ca[${i}]` : 'tls.ca';
      const text = pemText(name, entry);
      certificates(name, text);
      return text;
    });
  }

  if ((t.cert === undefined) !== (t.key === undefined)) configError(t.cert === undefined ? 'tls.key is set without tls.cert' : 'tls.cert is set without tls.key');
  if (t.passphrase !== undefined && (typeof t.passphrase !== 'string' || t.key === undefined)) configError('tls.passphrase must be a string, with tls.key');
  let cert: string | undefined;
  let key: string | undefined;
  if (t.cert !== undefined && t.key !== undefined) {
    cert = pemText('tls.cert', t.cert);
    const leaf = certificates('tls.cert', cert)[0]!;
    key = pemText('tls.key', t.key);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key, format: 'pem', ...(t.passphrase !== undefined ? { passphrase: t.passphrase } : {}) });
    } catch {
      // OpenSSL's reason is left out: nothing about the key's content goes into a message.
      return configError('tls.key is not a usable PEM private key (an encrypted one needs tls.passphrase)');
    }
    if (!spkiOf(createPublicKey(privateKey)).equals(spkiOf(leaf.publicKey))) configError('tls.key does not match tls.cert (the first certificate)');
  }

  let servername: string | undefined;
  if (t.servername !== undefined) {
    if (typeof t.servername !== 'string' || !/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(t.servername) || isIP(t.servername) !== 0) {
      configError('tls.servername must be a DNS name (SNI carries no IP address)');
    }
    servername = t.servername;
  }

  const pins: Buffer[] = [];
  if (t.pinnedPublicKeys !== undefined) {
    if (!Array.isArray(t.pinnedPublicKeys) || t.pinnedPublicKeys.length === 0 || t.pinnedPublicKeys.length > MAX_PINS) {
      configError(`tls.pinnedPublicKeys must list 1 to ${MAX_PINS} pins (omit it to pin nothing)`);
    }
    t.pinnedPublicKeys.forEach((p, i) => {
      const digest = parsePin(p);
      if (!digest) configError(`tls.pinnedPublicKeys[${i}] must be the base64 SHA-256 of a SubjectPublicKeyInfo (44 characters, optionally after sha256//)`);
      pins.push(digest);
    });
  }

  return { ca, cert, key, passphrase: t.passphrase, servername, pins };
}

function pinned(pins: readonly Buffer[], digest: Buffer): boolean {
  let found = false;
  // Every pin is compared, in constant time: the check takes as long whichever one matches.
  for (const pin of pins) if (timingSafeEqual(pin, digest)) found = true;
  return found;
}

/**
 * Node's checkServerIdentity, then the pins: Node calls it once the chain verified against the CAs,
 * before 'secureConnect', so a refusal closes the connection before any request byte is written.
 * Any certificate of the verified chain may match (HPKP): pinning the CA or an intermediate
 * survives leaf renewals, pinning the leaf's key survives re-issuance with the same key.
 */
export function pinningCheck(pins: readonly Buffer[]): (host: string, cert: PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const err = defaultCheckServerIdentity(host, cert);
    if (err) return err;
    const seen = new Set<string>();
    // The chain as Node reports it, up to the trust anchor; a self-signed root is its own issuer.
    for (let c: DetailedPeerCertificate | undefined = cert as DetailedPeerCertificate; c && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
      seen.add(c.fingerprint256);
      if (!c.raw) continue;
      // `pubkey` is the bare EC point for EC keys; the pin is over the whole SubjectPublicKeyInfo.
      const digest = createHash('sha256').update(spkiOf(new X509Certificate(c.raw).publicKey)).digest();
      if (pinned(pins, digest)) return undefined;
    }
    return new WxsealError('WXSEAL_TLS_PIN_MISMATCH', `the TLS certificate chain of ${host} has none of the pinned public keys (leaf ${cert.fingerprint256})`);
  };
}

/** What the keep-alive agent is given for its connections (its sessions are then this client's alone). */
export function tlsAgentOptions(tls: ResolvedTls): Record<string, unknown> {
  return {
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert, key: tls.key } : {}),
    ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    ...(tls.pins.length > 0 ? { checkServerIdentity: pinningCheck(tls.pins) } : {}),
  };
}

/** OpenSSL's certificate verification results and Node's TLS error codes. */
const TLS_CODES =
  /^(ERR_SSL_|ERR_TLS_|CERT_|CRL_|UNABLE_TO_|ERROR_IN_(?:CERT|CRL)_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|INVALID_CA$|INVALID_PURPOSE$|PATH_LENGTH_EXCEEDED$|HOSTNAME_MISMATCH$|EPROTO$)/;

/**
 * What a connection error means for TLS: 'pin' for a pin mismatch, 'tls' for another handshake
 * failure (certificate not trusted or not for this name, client certificate refused, protocol
 * error), undefined for anything else. Both are permanent: the same certificates will fail again.
 */
export function tlsFailureKind(error: Error, isHttps: boolean): 'pin' | 'tls' | undefined {
  if (!isHttps) return undefined;
  const code = (error as { code?: unknown }).code;
  if (code === 'WXSEAL_TLS_PIN_MISMATCH') return 'pin';
  return typeof code === 'string' && TLS_CODES.test(code) ? 'tls' : undefined;
}
