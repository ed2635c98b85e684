// Test helpers: requests built with the CLIENT functions of @wxseal/wechat, with single-field corruptions.
import { constants, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { buildEncryptedRequest, requestHeaders, sealEnvelope, signRequest } from '@wxseal/wechat';
import type { MockMpApp, MockWechat } from '@wxseal/mock-wechat';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  text: string;
  json: () => Record<string, unknown>;
}

/** Response headers as a plain object (lowercase names). */
export function headersOf(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

export async function http(url: string, init: RequestInit = {}): Promise<HttpAnswer> {
  const res = await fetch(url, init);
  const text = await res.text();
  return {
    status: res.status,
    headers: headersOf(res),
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return http(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

export async function stableToken(mock: MockWechat, appid: string, secret: string, forceRefresh?: boolean): Promise<Record<string, unknown>> {
  const r = await postJson(`${mock.url}/cgi-bin/stable_token`, { grant_type: 'client_credential', appid, secret, ...(forceRefresh !== undefined ? { force_refresh: forceRefresh } : {}) });
  return r.json();
}

export async function classicToken(mock: MockWechat, appid: string, secret: string): Promise<Record<string, unknown>> {
  const q = new URLSearchParams({ grant_type: 'client_credential', appid, secret });
  return (await http(`${mock.url}/cgi-bin/token?${q}`)).json();
}

/** Knobs for one secured request; every field left out takes its correct value. */
export interface SecuredCallOptions {
  params?: Record<string, unknown>;
  timestamp?: number;
  /** urlpath base used by the client (AAD and signature); default mock.url. */
  urlBase?: string;
  /** Wechatmp-Appid header value. */
  headerAppid?: string;
  /** Fields of the AAD, each replaceable alone. */
  aad?: { urlPath?: string; appid?: string; timestamp?: number; sn?: string };
  /** Fields of the signed string, each replaceable alone, and the padding. */
  sig?: { urlPath?: string; appid?: string; timestamp?: number; saltLength?: number; pkcs1?: boolean; privateKeyPem?: string };
  /** Inner security fields. */
  inner?: { _appid?: unknown; _timestamp?: unknown; dropNonce?: boolean };
  symKey?: string;
  iv?: Buffer;
  /** Mutates the body after signing is computed (signature stays over the original). */
  bodyAfterSigning?: (body: string) => string;
  /** Mutates the body before signing (signature covers the mutation). */
  bodyBeforeSigning?: (body: string) => string;
  omitHeaders?: string[];
  extraHeaders?: Record<string, string>;
  token?: string;
  /** URL parameters sent in the clear beside access_token (a secured call should carry none). */
  extraQuery?: Record<string, string>;
}

export interface SecuredCall {
  urlPath: string;
  answer: HttpAnswer;
}

/** Sends a signed, encrypted POST to `path` as `app`, optionally corrupting exactly one thing. */
export async function securedCall(mock: MockWechat, app: MockMpApp, token: string, path: string, o: SecuredCallOptions = {}): Promise<SecuredCall> {
  const c = app.client;
  const urlPath = `${o.urlBase ?? mock.url}${path}`;
  const ts = o.timestamp ?? Math.floor(Date.now() / 1000);
  const params = o.params ?? { hello: 'world', n: 1 };
  let body: string;
  const needsManual = o.aad !== undefined || o.inner !== undefined;
  if (!needsManual) {
    body = buildEncryptedRequest({ urlPath, appid: c.appid, timestamp: ts, symKey: o.symKey ?? c.symKey, symSn: c.symSn, params, ...(o.iv ? { iv: o.iv } : {}) }).body;
  } else {
    const inner: Record<string, unknown> = {};
    if (!o.inner?.dropNonce) inner._n = randomBytes(16).toString('base64url');
    inner._appid = o.inner && '_appid' in o.inner ? o.inner._appid : c.appid;
    inner._timestamp = o.inner && '_timestamp' in o.inner ? o.inner._timestamp : ts;
    Object.assign(inner, params);
    const aad = `${o.aad?.urlPath ?? urlPath}|${o.aad?.appid ?? c.appid}|${o.aad?.timestamp ?? ts}|${o.aad?.sn ?? c.symSn}`;
    const env = sealEnvelope(o.symKey ?? c.symKey, o.iv ?? randomBytes(12), aad, JSON.stringify(inner));
    body = JSON.stringify({ iv: env.iv, data: env.data, authtag: env.authtag });
  }
  if (o.bodyBeforeSigning) body = o.bodyBeforeSigning(body);
  const s = o.sig ?? {};
  let signature: string;
  if (s.saltLength === undefined && !s.pkcs1 && s.urlPath === undefined && s.appid === undefined && s.timestamp === undefined && s.privateKeyPem === undefined) {
    signature = signRequest({ urlPath, appid: c.appid, timestamp: ts, body, privateKey: c.privateKeyPem });
  } else {
    const msg = Buffer.from(`${s.urlPath ?? urlPath}\n${s.appid ?? c.appid}\n${s.timestamp ?? ts}\n${body}`, 'utf8');
    const key = createPrivateKey(s.privateKeyPem ?? c.privateKeyPem);
    signature = sign(
      'sha256',
      msg,
      s.pkcs1 ? { key, padding: constants.RSA_PKCS1_PADDING } : { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: s.saltLength ?? 32 },
    ).toString('base64');
  }
  if (o.bodyAfterSigning) body = o.bodyAfterSigning(body);
  const headers: Record<string, string> = { ...requestHeaders(c.appid, ts, signature), 'Wechatmp-Serial': c.privateKeySn };
  if (o.headerAppid !== undefined) headers['Wechatmp-Appid'] = o.headerAppid;
  for (const h of o.omitHeaders ?? []) delete headers[h];
  Object.assign(headers, o.extraHeaders ?? {});
  const query = new URLSearchParams({ access_token: o.token ?? token, ...(o.extraQuery ?? {}) });
  const answer = await postJson(`${mock.url}${path}?${query}`, body, headers);
  return { urlPath, answer };
}
