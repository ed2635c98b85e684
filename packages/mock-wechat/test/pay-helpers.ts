// Test helpers for the Pay side: requests signed with the CLIENT functions of @wxseal/wechatpay,
// with single-field corruptions, and answers verified with the keys the mock exposes.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createVerificationKeySet,
  platformCertificateKey,
  requestTargetOf,
  signRequest,
  verifySignature,
  wechatPayPublicKey,
  type VerifiedSignature,
  type VerificationKeySet,
} from '@wxseal/wechatpay';
import type { MockPayClientConfig, MockWechat } from '@wxseal/mock-wechat';

export interface PayAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
  json: () => Record<string, unknown>;
}

export interface PayCallOptions {
  body?: unknown;
  timestamp?: number;
  /** Replace the signature (base64) after signing. */
  signature?: string;
  serialNo?: string;
  mchid?: string;
  /** Sign with another private key. */
  privateKeyPem?: string;
  /** Body bytes sent differ from those signed. */
  sendBody?: string;
  /** Authorization header value override (null = none). */
  authorization?: string | null;
  headers?: Record<string, string>;
}

export async function payCall(mock: MockWechat, client: MockPayClientConfig, method: string, pathAndQuery: string, o: PayCallOptions = {}): Promise<PayAnswer> {
  const url = `${mock.url}${pathAndQuery}`;
  const bodyText = o.body === undefined ? '' : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  const signed = signRequest({
    mchid: o.mchid ?? client.mchid,
    serialNo: o.serialNo ?? client.merchantSerialNo,
    privateKey: o.privateKeyPem ?? client.privateKeyPem,
    method,
    url: requestTargetOf(url),
    body: bodyText,
    ...(o.timestamp !== undefined ? { timestamp: o.timestamp } : {}),
  });
  let authorization: string | null = signed.authorization;
  if (o.signature !== undefined) authorization = authorization.replace(/signature="[^"]*"/, `signature="${o.signature}"`);
  if (o.authorization !== undefined) authorization = o.authorization;
  const headers: Record<string, string> = { Accept: 'application/json', ...(o.headers ?? {}) };
  if (authorization !== null) headers['Authorization'] = authorization;
  const sent = o.sendBody ?? bodyText;
  if (method !== 'GET' && sent !== '') headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method, headers, ...(method !== 'GET' && sent !== '' ? { body: sent } : {}) });
  const text = await res.text();
  const out: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    out[k] = v;
  });
  return { status: res.status, headers: out, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** Every key the mock exposes (platform certificates + the public key). */
export function payKeys(mock: MockWechat): VerificationKeySet {
  const pk = mock.payPublicKey();
  return createVerificationKeySet([...Object.values(mock.payPlatformCertificates()).map((pem) => platformCertificateKey(pem)), wechatPayPublicKey(pk.id, pk.pem)]);
}

/** Verifies an answer's Wechatpay-* signature over its raw body. */
export function verifyAnswer(mock: MockWechat, answer: PayAnswer, keys: VerificationKeySet = payKeys(mock)): VerifiedSignature {
  return verifySignature({ headers: answer.headers, body: answer.text, keys });
}

export interface ReceivedCallback {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A callback receiver: records every POST and answers with `status` (default 200 {"code":"SUCCESS"}). */
export async function callbackServer(answer: (cb: ReceivedCallback) => number = () => 200): Promise<{ url: string; received: ReceivedCallback[]; close: () => Promise<void> }> {
  const received: ReceivedCallback[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const cb = { headers: req.headers, body: Buffer.concat(chunks) };
      received.push(cb);
      const status = answer(cb);
      const body = status === 200 ? '{"code":"SUCCESS","message":"成功"}' : status === 204 ? '' : '{"code":"FAIL","message":"失败"}';
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/pay/notify`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
