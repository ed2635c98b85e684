// Pieces of the edge TLS tests (edge-tls, edge-mtls, edge-tls-reload): a PKI made per run
// (tests/support/tls-certs.ts), TLS files written the way a rotation writes them (temporary file,
// then rename), HTTPS requests that each open their own connection and report the certificate they
// saw, and a wxseal client over HTTPS.
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { WxsealClient } from '@wxseal/client';
import { clientFor, type TestKeys } from '../../../tests/support/gateway.js';
import type { TlsMaterial } from '../../../tests/support/tls-certs.js';

/** Writes `content` to `file` through a temporary file and a rename (what cert-manager and friends do). */
export function atomicWrite(file: string, content: string): void {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, file);
}

/** The edge certificate and key as files in `dir`: cert.pem, key.pem. */
export function writeEdgeFiles(dir: string, m: Pick<TlsMaterial, 'certPem' | 'keyPem'>): { certFile: string; keyFile: string } {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  // The key first, then the certificate: both within the watcher's quiet period.
  atomicWrite(keyFile, m.keyPem);
  atomicWrite(certFile, m.certPem);
  return { certFile, keyFile };
}

export interface TlsReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The server certificate this connection saw. */
  peerFingerprint: string;
  protocol: string | null;
  cipher: string;
  alpn: string | false | null;
}

export interface TlsRequestOptions {
  ca: string;
  cert?: string;
  key?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  ciphers?: string;
  /** ALPN protocols offered. */
  alpn?: string[];
  /** Per-request bound (a guard against a hang). */
  timeoutMs?: number;
}

/** One HTTPS request on a new connection (no agent: every request is a full handshake). */
export function tlsRequest(base: string, path: string, o: TlsRequestOptions): Promise<TlsReply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    let peerFingerprint = '';
    let protocol: string | null = null;
    let cipher = '';
    let alpn: string | false | null = null;
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined) headers['content-length'] = String(Buffer.byteLength(o.body));
    const req = request(
      {
        hostname,
        port,
        path,
        method: o.method ?? 'GET',
        headers,
        agent: false,
        ca: o.ca,
        ...(o.cert !== undefined ? { cert: o.cert, key: o.key } : {}),
        ...(o.minVersion ? { minVersion: o.minVersion } : {}),
        ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}),
        ...(o.ciphers ? { ciphers: o.ciphers } : {}),
        ...(o.alpn ? { ALPNProtocols: o.alpn } : {}),
        timeout: o.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), peerFingerprint, protocol, cipher, alpn }));
        res.on('error', reject);
      },
    );
    req.on('socket', (s) => {
      const socket = s as TLSSocket;
      socket.once('secureConnect', () => {
        peerFingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
        protocol = socket.getProtocol();
        cipher = socket.getCipher().name;
        alpn = socket.alpnProtocol;
      });
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    // Whether the handshake had completed tells a failed handshake from a failed request.
    req.on('error', (err: Error) => reject(Object.assign(err, { handshakeDone: peerFingerprint !== '' })));
    req.end(o.body);
  });
}

/** A wxseal client over HTTPS: trusts `ca`, presents `cert`/`key` when given. */
export function httpsClient(keys: TestKeys, base: string, tls: { ca: string; cert?: string; key?: string; keepAlive?: boolean }): { client: WxsealClient; agent: Agent } {
  const agent = new Agent({ ca: tls.ca, keepAlive: tls.keepAlive ?? true, ...(tls.cert !== undefined ? { cert: tls.cert, key: tls.key } : {}) });
  return { client: clientFor(keys, base, { agent }), agent };
}

/** The value of one sample of a metric in the Prometheus text format (undefined when absent). */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
