// GET /v3/certificates: signed with the merchant key, sent through undici with a deadline and a
// bounded body, decrypted with the APIv3 key (AEAD_AES_256_GCM, AAD "certificate", serial checked
// by the core), then the response's own signature is verified with one of the certificates just
// decrypted or a key already held.
//
// Trust of the first download: the official SDKs (wechatpay-go `downloader.NewCertificateDownloader`
// with a NullValidator, wechatpay-java `AbstractAutoCertificateProvider`) trust a certificate because
// it decrypts under the APIv3 key, a secret only the merchant and WeChat Pay share: AES-GCM is
// authenticated, so nobody without that key can produce a ciphertext that decrypts. We do the same
// and add two checks the SDKs skip: the certificate must carry the serial its list item announces,
// and the response must be signed by the private key of one of the delivered (or held) certificates,
// which binds the answer to the certificates and catches a mixed or replayed list. An empty list is
// never used to replace held certificates (it cannot be authenticated by decryption).
import { Agent, request, type Dispatcher } from 'undici';
import { signRequest } from '../signing.js';
import { decryptCertificateList, certificateVerificationKey, type PlatformCertificate } from '../certificates.js';
import { verifySignature, readSignatureHeaders, type VerificationKey } from '../verification.js';
import type { PrivateKeyInput } from '../internal.js';
import { CertificateLifecycleError, describeError } from './errors.js';

export const DEFAULT_WECHATPAY_BASE_URL = 'https://api.mch.weixin.qq.com';
export const CERTIFICATES_PATH = '/v3/certificates';

export interface DownloadPlatformCertificatesOptions {
  mchid: string;
  /** Merchant certificate serial (serial_no of Authorization). */
  serialNo: string;
  privateKey: PrivateKeyInput;
  apiV3Key: string;
  /** scheme://host[:port]; https://api.mch.weixin.qq.com by default. */
  baseUrl?: string;
  /** Deadline of the whole call (default 10 s). */
  timeoutMs?: number;
  /** Keys already trusted (held platform certificates, the WeChat Pay public key). */
  trustedKeys?: Iterable<VerificationKey>;
  dispatcher?: Dispatcher;
  /** Largest body read (default 1 MiB). */
  maxResponseBytes?: number;
  /** Clock for the response signature window (tests). */
  nowSeconds?: number;
  signal?: AbortSignal;
}

export interface DownloadedCertificates {
  certificates: PlatformCertificate[];
  /** Wechatpay-Serial of the response (the key that signed it), when the list was not empty. */
  signedBy?: string;
  requestId?: string;
  /** 404 RESOURCE_NOT_EXISTS / empty data: a public-key-only merchant. */
  empty: boolean;
}

let sharedAgent: Agent | undefined;
function defaultDispatcher(): Dispatcher {
  sharedAgent ??= new Agent({ connections: 8, keepAliveTimeout: 10_000, keepAliveMaxTimeout: 30_000 });
  return sharedAgent;
}

function fail(message: string, cause?: unknown): never {
  throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_DOWNLOAD_FAILED', message, cause === undefined ? undefined : { cause });
}

/** Downloads, decrypts and verifies the platform certificate list of one merchant. */
export async function downloadPlatformCertificates(opts: DownloadPlatformCertificatesOptions): Promise<DownloadedCertificates> {
  const base = new URL(opts.baseUrl ?? DEFAULT_WECHATPAY_BASE_URL);
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_CONFIG', 'baseUrl must be http(s)');
  const url = new URL(CERTIFICATES_PATH, base.origin);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxBytes = opts.maxResponseBytes ?? 1024 * 1024;
  const signed = signRequest({ mchid: opts.mchid, serialNo: opts.serialNo, privateKey: opts.privateKey, method: 'GET', url: url.pathname });
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  let status: number;
  let headers: Record<string, string | string[] | undefined>;
  let body: Buffer;
  try {
    const res = await request(url, {
      method: 'GET',
      headers: { authorization: signed.authorization, accept: 'application/json', 'user-agent': 'wxseal-wechatpay-lifecycle' },
      signal,
      dispatcher: opts.dispatcher ?? defaultDispatcher(),
    });
    status = res.statusCode;
    headers = res.headers;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > maxBytes) {
        res.body.destroy();
        fail(`response body over ${maxBytes} bytes`);
      }
      chunks.push(buf);
    }
    body = Buffer.concat(chunks);
  } catch (e) {
    if (e instanceof CertificateLifecycleError) throw e;
    if (deadline.aborted) fail(`no answer from ${url.origin}${url.pathname} within ${timeoutMs} ms`, e);
    fail(`cannot reach ${url.origin}${url.pathname}: ${describeError(e)}`, e);
  }
  const requestId = typeof headers['request-id'] === 'string' ? headers['request-id'] : undefined;
  const withId = (m: string) => (requestId ? `${m} (Request-ID ${requestId})` : m);
  if (status === 404) {
    // Public-key-only merchants: RESOURCE_NOT_EXISTS.
    const out: DownloadedCertificates = { certificates: [], empty: true };
    if (requestId !== undefined) out.requestId = requestId;
    return out;
  }
  if (status !== 200) {
    let code = '';
    try {
      const j = JSON.parse(body.toString('utf8')) as { code?: unknown };
      if (typeof j.code === 'string') code = ` ${j.code.slice(0, 64)}`;
    } catch {
      /* not JSON */
    }
    fail(withId(`HTTP ${status}${code} from ${url.pathname}`));
  }
  let certificates: PlatformCertificate[];
  try {
    certificates = decryptCertificateList(body, opts.apiV3Key);
  } catch (e) {
    fail(withId(`certificate list rejected: ${describeError(e)}`), e);
  }
  if (certificates.length === 0) {
    const out: DownloadedCertificates = { certificates, empty: true };
    if (requestId !== undefined) out.requestId = requestId;
    return out;
  }
  const keys = new Map<string, VerificationKey>();
  for (const k of opts.trustedKeys ?? []) keys.set(k.kind === 'certificate' ? k.serial : k.id, k);
  for (const c of certificates) keys.set(c.serial, certificateVerificationKey(c));
  let signedBy: string;
  try {
    const verified = verifySignature({
      headers,
      body,
      keys: [...keys.values()],
      ...(opts.nowSeconds === undefined ? {} : { nowSeconds: opts.nowSeconds }),
    });
    signedBy = verified.serial;
  } catch (e) {
    let serial = '';
    try {
      serial = ` (Wechatpay-Serial ${readSignatureHeaders(headers).serial})`;
    } catch {
      /* headers missing */
    }
    fail(withId(`certificate list response signature rejected${serial}: ${describeError(e)}`), e);
  }
  const out: DownloadedCertificates = { certificates, signedBy, empty: false };
  if (requestId !== undefined) out.requestId = requestId;
  return out;
}
