/**
 * The client certificate of a request's connection, as mutual TLS on the public listener saw it:
 * none, presented but refused by the client CA / CRL (with OpenSSL's reason), or verified. Read once
 * per connection (a keep-alive connection carries many requests; its certificate cannot change).
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HEADERS } from '@wxseal/protocol';
import type { ClientCertificateBinding, GatewayConfig } from '../config.js';
import { bindingMatches } from './edge-policy.js';
import { oneLineName } from './registry.js';

const KEY_ID_HEADER = HEADERS.keyId;

export type PeerCertificate =
  | { readonly state: 'none' }
  | { readonly state: 'invalid'; readonly code: string; readonly reason: string }
  | { readonly state: 'verified'; readonly subject: string; readonly fingerprint256: string };

const NONE: PeerCertificate = { state: 'none' };
const seen = new WeakMap<Socket, PeerCertificate>();

/** True when the request came over TLS. */
export function isTlsSocket(socket: Socket): socket is TLSSocket {
  return (socket as Partial<TLSSocket>).encrypted === true;
}

/** OpenSSL's verify codes, said for the person reading the refusal. */
function reasonOf(code: string): string {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return 'the client certificate has expired';
    case 'CERT_NOT_YET_VALID':
      return 'the client certificate is not valid yet';
    case 'CERT_REVOKED':
      return 'the client certificate is revoked (CRL)';
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return 'the client certificate is not issued by a CA the gateway trusts';
    case 'UNABLE_TO_GET_CRL':
      return 'no CRL of the client certificate\'s issuer is loaded';
    case 'CRL_HAS_EXPIRED':
      return 'the CRL of the client certificate\'s issuer has expired';
    case 'INVALID_PURPOSE':
      return 'the client certificate is not for client authentication';
    default:
      return 'the client certificate does not verify';
  }
}

/** The connection's client certificate (cached per connection); `none` on plain HTTP. */
export function peerCertificateOf(socket: Socket): PeerCertificate {
  if (!isTlsSocket(socket)) return NONE;
  const known = seen.get(socket);
  if (known) return known;
  const cert = socket.getPeerX509Certificate();
  let out: PeerCertificate;
  if (cert === undefined) out = NONE;
  else if (socket.authorized) out = { state: 'verified', subject: oneLineName(cert.subject), fingerprint256: cert.fingerprint256 };
  else {
    const err = socket.authorizationError as unknown;
    const code = typeof err === 'string' ? err : err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : 'UNKNOWN';
    out = { state: 'invalid', code, reason: `${reasonOf(code)} (${code})` };
  }
  seen.set(socket, out);
  return out;
}

const bindings = new WeakMap<GatewayConfig, ReadonlyMap<string, ClientCertificateBinding>>();

/** The key ids of a config bound to a client certificate (built once per config). */
export function certificateBindings(config: GatewayConfig): ReadonlyMap<string, ClientCertificateBinding> {
  let map = bindings.get(config);
  if (!map) {
    const m = new Map<string, ClientCertificateBinding>();
    for (const c of config.clients) if (c.clientCertificate) m.set(c.keyId, c.clientCertificate);
    bindings.set(config, (map = m));
  }
  return map;
}

/**
 * Why a request's key id may not come over this connection, or undefined when it may: a key id
 * bound to a certificate needs that certificate, verified, on the connection. Every Wxseal-Key-Id
 * field is checked (a repeated one is refused later by the verifier anyway).
 */
export function bindingRefusal(config: GatewayConfig, rawHeaders: readonly string[], socket: Socket): string | undefined {
  const map = certificateBindings(config);
  if (map.size === 0) return undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== KEY_ID_HEADER.length || name.toLowerCase() !== KEY_ID_HEADER) continue;
    const keyId = rawHeaders[i + 1]!;
    const binding = map.get(keyId);
    if (binding === undefined) continue;
    const peer = peerCertificateOf(socket);
    if (peer.state !== 'verified') return `key id ${keyId} is bound to a client certificate and the connection presented ${peer.state === 'none' ? 'none' : 'one that does not verify'}`;
    if (!bindingMatches(binding, peer)) return `key id ${keyId} is bound to another client certificate`;
  }
  return undefined;
}
