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
import { collectBounded } from '@wxseal/support';
import { signRequest } from '../signing.js';
import { SM_CERTIFICATE_ALGORITHM_TYPE, isSm2Key } from '../sm.js';
import { decryptCertificateList, certificateVerificationKey, type PlatformCertificate } from '../certificates.js';
import { isPublicKeyId, verifySignature, readSignatureHeaders, type VerificationKey } from '../verification.js';
import { isWechatPayError } from '../errors.js';
import { toPrivateKey, type PrivateKeyInput } from '../internal.js';
import { CertificateLifecycleError, describeError } from './errors.js';

export const DEFAULT_WECHATPAY_BASE_URL = 'https://api.mch.weixin.qq.com';
export const CERTIFICATES_PATH = '/v3/certificates';

export interface DownloadPlatformCertificatesOptions {
  mchid: string;
  /** Merchant certificate serial (serial_no of Authorization). */
  serialNo: string;
  privateKey: PrivateKeyInput;
  /**
   * `algorithm_type` query of /v3/certificates: 'SM2' lists the SM platform certificates (国密).
   * Default: 'SM2' when privateKey is an SM2 key, none (RSA) otherwise.
   */
  algorithmType?: 'RSA' | 'SM2';
  apiV3Key: string;
  /** scheme://host[:port]; https://api.mch.weixin.qq.com by default. */
  baseUrl?: string;
  /** Deadline of the whole call (default 10 s). */
  timeoutMs?: number;
  /**
   * Keys already trusted (held platform certificates, the WeChat Pay public key). A public-key-only
   * merchant's RESOURCE_NOT_EXISTS answer is signed with its WeChat Pay public key: without that
   * key here it cannot be verified and the download fails with WECHATPAY_LIFECYCLE_UNVERIFIED_ANSWER.
   */
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
  /** Wechatpay-Serial of the key whose signature verified the answer. */
  signedBy: string;
  requestId?: string;
  /**
   * WeChat Pay's own answer that the merchant has no platform certificates (public key only):
   * 404 RESOURCE_NOT_EXISTS or an empty list, signed by one of `trustedKeys`. Any other 404, and
   * any unsigned or unverifiable "no certificates" answer, throws instead.
   */
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
  const algorithmType = opts.algorithmType ?? (isSm2Key(toPrivateKey(opts.privateKey)) ? SM_CERTIFICATE_ALGORITHM_TYPE : undefined);
  if (algorithmType !== undefined) url.searchParams.set('algorithm_type', algorithmType);
  const signed = signRequest({ mchid: opts.mchid, serialNo: opts.serialNo, privateKey: opts.privateKey, method: 'GET', url: url.pathname + url.search });
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
    body = await collectBounded(res.body, {
      limit: maxBytes,
      tooLarge: () => {
        res.body.destroy();
        return new CertificateLifecycleError('WECHATPAY_LIFECYCLE_DOWNLOAD_FAILED', `response body over ${maxBytes} bytes`);
      },
    });
  } catch (e) {
    if (e instanceof CertificateLifecycleError) throw e;
    if (deadline.aborted) fail(`no answer from ${url.origin}${url.pathname} within ${timeoutMs} ms`, e);
    fail(`cannot reach ${url.origin}${url.pathname}: ${describeError(e)}`, e);
  }
  // Bounded and printable: an answer that is not WeChat Pay's may carry anything here.
  const rawRequestId = headers['request-id'];
  const requestId = typeof rawRequestId === 'string' && /^[\x21-\x7e]{1,128}$/.test(rawRequestId) ? rawRequestId : undefined;
  const withId = (m: string) => (requestId ? `${m} (Request-ID ${requestId})` : m);
  const where = `${url.origin}${url.pathname}`;
  if (status === 404) {
    // Public-key-only merchants get 404 RESOURCE_NOT_EXISTS, signed by WeChat Pay (with the public
    // key, as they hold no platform certificate). Any 404 is not that: a wrong base URL or a
    // proxy answers 404 too, so only a verified RESOURCE_NOT_EXISTS means "public key only".
    const signedBy = verifyNoCertificatesAnswer({ headers, body, trustedKeys: opts.trustedKeys, nowSeconds: opts.nowSeconds, what: `HTTP 404 from ${where}`, withId });
    const code = wechatPayErrorCode(body);
    if (code !== 'RESOURCE_NOT_EXISTS') fail(withId(`HTTP 404${code === undefined ? '' : ` ${code}`} from ${where} (signed by ${signedBy}), not RESOURCE_NOT_EXISTS`));
    const out: DownloadedCertificates = { certificates: [], signedBy, empty: true };
    if (requestId !== undefined) out.requestId = requestId;
    return out;
  }
  if (status !== 200) {
    const code = wechatPayErrorCode(body);
    const signed = readHeader(headers, 'wechatpay-signature') !== undefined;
    fail(withId(`HTTP ${status}${code === undefined ? '' : ` ${code}`} from ${where}${signed ? '' : ' (not signed by WeChat Pay: check the base URL and any proxy)'}`));
  }
  let certificates: PlatformCertificate[];
  try {
    certificates = decryptCertificateList(body, opts.apiV3Key);
  } catch (e) {
    fail(withId(`certificate list rejected: ${describeError(e)}`), e);
  }
  if (certificates.length === 0) {
    // Nothing decrypted, so nothing vouches for this answer but its signature.
    const signedBy = verifyNoCertificatesAnswer({ headers, body, trustedKeys: opts.trustedKeys, nowSeconds: opts.nowSeconds, what: `an empty certificate list from ${where}`, withId });
    const out: DownloadedCertificates = { certificates, signedBy, empty: true };
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

function readHeader(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The `code` of a WeChat Pay error body `{code, message}`, bounded; undefined when the body is not one. */
function wechatPayErrorCode(body: Buffer): string | undefined {
  try {
    const j = JSON.parse(body.toString('utf8')) as { code?: unknown };
    if (typeof j === 'object' && j !== null && typeof j.code === 'string') return j.code.slice(0, 64).replace(/[^\x21-\x7e]/g, '?');
  } catch {
    /* not JSON */
  }
  return undefined;
}

/**
 * Verifies the signature of an answer that says "no platform certificates" against the keys
 * already trusted (no certificate came with it); returns the Wechatpay-Serial that signed it.
 * WECHATPAY_LIFECYCLE_UNVERIFIED_ANSWER when it is unsigned or does not verify.
 */
function verifyNoCertificatesAnswer(a: {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  trustedKeys: Iterable<VerificationKey> | undefined;
  nowSeconds: number | undefined;
  what: string;
  withId: (m: string) => string;
}): string {
  const unverified: (m: string, cause?: unknown) => never = (m, cause) => {
    throw new CertificateLifecycleError('WECHATPAY_LIFECYCLE_UNVERIFIED_ANSWER', a.withId(m), cause === undefined ? undefined : { cause });
  };
  if (readHeader(a.headers, 'wechatpay-signature') === undefined) {
    unverified(`${a.what} carries no WeChat Pay signature: not an answer of WeChat Pay (check the base URL and any proxy in between)`);
  }
  const keys = new Map<string, VerificationKey>();
  for (const k of a.trustedKeys ?? []) keys.set(k.kind === 'certificate' ? k.serial : k.id, k);
  try {
    return verifySignature({ headers: a.headers, body: a.body, keys: [...keys.values()], ...(a.nowSeconds === undefined ? {} : { nowSeconds: a.nowSeconds }) }).serial;
  } catch (e) {
    let serial: string | undefined;
    try {
      serial = readSignatureHeaders(a.headers).serial;
    } catch {
      /* malformed headers: reported below */
    }
    if (isWechatPayError(e, 'WECHATPAY_UNKNOWN_SERIAL') && serial !== undefined && isPublicKeyId(serial)) {
      unverified(`${a.what} is signed by ${serial}, a WeChat Pay public key not given: give that public key (pub_key.pem and its PUB_KEY_ID_) to verify that this merchant uses the public key only`, e);
    }
    unverified(`${a.what}${serial === undefined ? '' : ` (Wechatpay-Serial ${serial})`} does not verify: ${describeError(e)}`, e);
  }
}
