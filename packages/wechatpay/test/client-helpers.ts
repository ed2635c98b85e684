// Shared by client*.test.ts and notify*.test.ts: keys and self-signed certificates generated per
// run, a static material source, and a small fake WeChat Pay API server (node:http on
// 127.0.0.1:0) that verifies merchant requests with the core's verifyRequest and signs its answers
// with signResponse, the way WeChat Pay does.
import 'reflect-metadata';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { signResponse, verifyRequest, type AuthorizationParams } from '../src/index.js';
import { StaticMerchantMaterialSource, type StaticMerchantConfig } from '../src/merchant/static-source.js';

export interface RsaPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function rsa(): RsaPair {
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

const SIGNING_ALG = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
type X509Crypto = NonNullable<Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1]>;
type X509KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];

/** A self-signed certificate over `pair` with the given serial (hex, top bit clear) and validity. */
export async function selfSigned(pair: RsaPair, serialHex: string, days = 365, cn = 'Tenpay.com Root CA (test)'): Promise<string> {
  const pkcs8 = pair.privateKey.export({ type: 'pkcs8', format: 'der' });
  const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, SIGNING_ALG, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', spki, SIGNING_ALG, true, ['verify']),
  };
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialHex,
      name: `CN=${cn}`,
      notBefore: new Date(Date.now() - 86_400_000),
      notAfter: new Date(Date.now() + days * 86_400_000),
      signingAlgorithm: SIGNING_ALG,
      keys: keys as unknown as X509KeyPair,
    },
    webcrypto as unknown as X509Crypto,
  );
  return cert.toString('pem');
}

export interface MerchantFixture {
  mchid: string;
  serial: string;
  keys: RsaPair;
  apiV3Key: string;
}

export interface SignerFixture {
  serial: string;
  keys: RsaPair;
  certificatePem?: string;
}

export interface World {
  /** Merchant A: certificate mode and public key mode at once (sends Wechatpay-Serial: PUB_KEY_ID_…). */
  a: MerchantFixture;
  /** Merchant B: certificate mode only. */
  b: MerchantFixture;
  /** WeChat Pay platform certificate known to both merchants. */
  platform: SignerFixture & { certificatePem: string };
  /** A newer platform certificate nobody holds at first (rotation). */
  platform2: SignerFixture & { certificatePem: string };
  /** WeChat Pay public key (public key mode), merchant A only. */
  pub: SignerFixture;
}

const apiV3 = (): string => randomBytes(16).toString('hex'); // 32 ASCII characters

export async function makeWorld(): Promise<World> {
  const platformKeys = rsa();
  const platform2Keys = rsa();
  const platformPem = await selfSigned(platformKeys, '3775B6A45ACD588826D15E583A95F5DD2C5E1111');
  const platform2Pem = await selfSigned(platform2Keys, '5157F09D6EC2C3A0B1C2D3E4F5061728394A5B6C');
  return {
    a: { mchid: '1900000001', serial: '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C', keys: rsa(), apiV3Key: apiV3() },
    b: { mchid: '1900000002', serial: '2AAB0000000000000000000000000000000000B2', keys: rsa(), apiV3Key: apiV3() },
    platform: { serial: '3775B6A45ACD588826D15E583A95F5DD2C5E1111', keys: platformKeys, certificatePem: platformPem },
    platform2: { serial: '5157F09D6EC2C3A0B1C2D3E4F5061728394A5B6C', keys: platform2Keys, certificatePem: platform2Pem },
    pub: { serial: 'PUB_KEY_ID_0119000000012025010100000000000001', keys: rsa() },
  };
}

export function configA(w: World, extra: Partial<StaticMerchantConfig> = {}): StaticMerchantConfig {
  return {
    mchid: w.a.mchid,
    merchantSerialNo: w.a.serial,
    privateKey: w.a.keys.privateKey,
    apiV3Key: w.a.apiV3Key,
    platformCertificates: [w.platform.certificatePem],
    publicKey: { id: w.pub.serial, key: w.pub.keys.publicKey },
    ...extra,
  };
}

export function configB(w: World, extra: Partial<StaticMerchantConfig> = {}): StaticMerchantConfig {
  return {
    mchid: w.b.mchid,
    merchantSerialNo: w.b.serial,
    privateKey: w.b.keys.privateKey,
    apiV3Key: w.b.apiV3Key,
    platformCertificates: [w.platform.certificatePem],
    ...extra,
  };
}

export function staticSource(w: World, options?: ConstructorParameters<typeof StaticMerchantMaterialSource>[1]): StaticMerchantMaterialSource {
  return new StaticMerchantMaterialSource([configA(w), configB(w)], options);
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  auth?: AuthorizationParams;
  authError?: string;
}

export interface FakeAnswer {
  status?: number;
  /** Object (JSON.stringify'd) or exact text. */
  body?: string | object;
  /** Who signs: 'cert' / 'pub' / a signer; 'none' sends no signature headers. Default: by the request's Wechatpay-Serial. */
  signWith?: 'cert' | 'pub' | 'none' | SignerFixture;
  timestamp?: number;
  /** Flip one byte of the body after signing. */
  tamper?: boolean;
  /** Replace the signature with a WECHATPAY/SIGNTEST/ probe. */
  probe?: boolean;
  headers?: Record<string, string>;
  delayMs?: number;
  /** Drop the connection without answering. */
  destroy?: boolean;
}

export const TRANSACTION = {
  appid: 'wxd678efh567hg6787',
  mchid: '1900000001',
  out_trade_no: '1217752501201407033233368018',
  transaction_id: '1217752501201407033233368018',
  trade_type: 'JSAPI',
  trade_state: 'SUCCESS',
  trade_state_desc: '支付成功',
  bank_type: 'CMC',
  success_time: '2018-06-08T10:34:56+08:00',
  payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
  amount: { total: 100, payer_total: 100, currency: 'CNY', payer_currency: 'CNY' },
};

export const REFUND = {
  refund_id: '50000000382019052709732678859',
  out_refund_no: 'R1217752501201407033233368018',
  transaction_id: '1217752501201407033233368018',
  out_trade_no: '1217752501201407033233368018',
  channel: 'ORIGINAL',
  user_received_account: '招商银行信用卡0403',
  create_time: '2020-12-01T16:18:12+08:00',
  status: 'PROCESSING',
  amount: { total: 100, refund: 100, payer_total: 100, payer_refund: 100, settlement_refund: 100, settlement_total: 100, discount_refund: 0, currency: 'CNY' },
};

/** The fake WeChat Pay API: verifies requests like WeChat, answers signed. */
export class FakePayServer {
  readonly requests: RecordedRequest[] = [];
  /** Per-test override; return undefined for the default route. */
  route: ((req: RecordedRequest) => FakeAnswer | undefined | Promise<FakeAnswer | undefined>) | undefined;
  private server: Server | undefined;
  url = '';

  constructor(private readonly world: World) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  reset(): void {
    this.requests.length = 0;
    this.route = undefined;
  }

  private merchantKey(mchid: string, serial: string): KeyObject | undefined {
    for (const m of [this.world.a, this.world.b]) if (m.mchid === mchid && m.serial === serial) return m.keys.publicKey;
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const rec: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
    try {
      rec.auth = verifyRequest({
        authorization: String(req.headers.authorization ?? ''),
        method: rec.method,
        url: rec.url,
        body,
        resolveKey: (mchid, serial) => this.merchantKey(mchid, serial),
      });
    } catch (e) {
      rec.authError = (e as { code?: string }).code ?? String(e);
    }
    this.requests.push(rec);
    let answer: FakeAnswer | undefined;
    if (rec.authError !== undefined) answer = { status: 401, body: { code: 'SIGN_ERROR', message: '签名错误' } };
    else {
      // A custom answer without a status keeps the default route's status and body (it only changes how it is signed or sent).
      const custom = await this.route?.(rec);
      answer = custom === undefined ? defaultRoute(rec) : custom.status !== undefined ? custom : { ...defaultRoute(rec), ...custom };
    }
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    if (answer.destroy) {
      req.socket.destroy();
      return;
    }
    const status = answer.status ?? 200;
    const text = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    const headers: Record<string, string> = { 'Request-ID': `REQ-${this.requests.length}`, ...(text ? { 'Content-Type': 'application/json' } : {}), ...answer.headers };
    const signWith = answer.signWith ?? (String(req.headers['wechatpay-serial'] ?? '').startsWith('PUB_KEY_ID_') ? 'pub' : 'cert');
    if (signWith !== 'none') {
      const signer = signWith === 'cert' ? this.world.platform : signWith === 'pub' ? this.world.pub : signWith;
      const signed = signResponse({ body: text, privateKey: signer.keys.privateKey, serial: signer.serial, timestamp: answer.timestamp });
      Object.assign(headers, signed);
      if (answer.probe) headers['Wechatpay-Signature'] = `WECHATPAY/SIGNTEST/${signed['Wechatpay-Signature']}`;
    }
    let out = Buffer.from(text, 'utf8');
    if (answer.tamper && out.length > 0) {
      out = Buffer.from(out);
      const i = out.indexOf('1'.charCodeAt(0));
      out[i >= 0 ? i : 0] = '2'.charCodeAt(0);
    }
    res.writeHead(status, headers);
    res.end(out);
  }
}

function defaultRoute(rec: RecordedRequest): FakeAnswer {
  const path = rec.url.split('?')[0] ?? '';
  if (rec.method === 'POST' && path === '/v3/pay/transactions/jsapi') return { body: { prepay_id: 'wx201410272009395522657a690389285100' } };
  if (rec.method === 'GET' && /^\/v3\/pay\/transactions\/(id|out-trade-no)\/[^/]+$/.test(path)) {
    const id = decodeURIComponent(path.split('/').pop() ?? '');
    return { body: { ...TRANSACTION, ...(path.includes('/id/') ? { transaction_id: id } : { out_trade_no: id }) } };
  }
  if (rec.method === 'POST' && /^\/v3\/pay\/transactions\/out-trade-no\/[^/]+\/close$/.test(path)) return { status: 204 };
  if (rec.method === 'POST' && path === '/v3/refund/domestic/refunds') {
    const b = JSON.parse(rec.body) as { out_refund_no: string };
    return { body: { ...REFUND, out_refund_no: b.out_refund_no } };
  }
  if (rec.method === 'GET' && path.startsWith('/v3/refund/domestic/refunds/')) return { body: { ...REFUND, out_refund_no: decodeURIComponent(path.split('/').pop() ?? ''), status: 'SUCCESS' } };
  return { status: 404, body: { code: 'NOT_FOUND', message: 'no such resource' } };
}

