// An in-test WeChat Pay: GET /v3/certificates checks the merchant's Authorization with the core
// verifyRequest, answers with buildCertificateListBody (encrypted with the APIv3 key) and signs the
// answer with signResponse, like WeChat Pay does.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildCertificateListBody, signResponse, verifyRequest } from '@wxseal/wechatpay';
import type { TestCert } from './certs.js';

export class FakeWechatPay {
  /** Merchant certificates WeChat Pay knows, by serial. */
  readonly merchantKeys = new Map<string, string>();
  /** Platform certificates served. */
  served: TestCert[] = [];
  /** Who signs answers (certificate key, or a public key id with its private key). */
  signer: { serial: string; keyPem: string } | undefined;
  /**
   * 'list' (normal), 'not-found' (public-key-only merchant: 404 RESOURCE_NOT_EXISTS signed by
   * `signer`), 'plain-404' (a proxy's or wrong server's unsigned 404), 'error' (HTTP 500), 'hang'.
   */
  mode: 'list' | 'not-found' | 'plain-404' | 'error' | 'hang' = 'list';
  downloads = 0;
  rejected = 0;
  readonly #server: Server;
  url = '';

  constructor(readonly apiV3Key: string) {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method !== 'GET' || req.url !== '/v3/certificates') {
          res.writeHead(404).end();
          return;
        }
        try {
          verifyRequest({
            authorization: String(req.headers.authorization ?? ''),
            method: 'GET',
            url: req.url,
            body: Buffer.concat(chunks),
            resolveKey: (_mchid, serial) => this.merchantKeys.get(serial),
          });
        } catch (e) {
          this.rejected++;
          res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'SIGN_ERROR', message: String((e as Error).message) }));
          return;
        }
        this.downloads++;
        if (this.mode === 'hang') return;
        if (this.mode === 'error') {
          res.writeHead(500).end('{}');
          return;
        }
        if (this.mode === 'plain-404') {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('File not found');
          return;
        }
        if (this.mode === 'not-found') {
          // WeChat Pay signs this answer (with the public key, for a public-key-only merchant).
          const body = JSON.stringify({ code: 'RESOURCE_NOT_EXISTS', message: '无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥' });
          const headers = this.signer ? signResponse({ body, privateKey: this.signer.keyPem, serial: this.signer.serial, requestId: `req-${this.downloads}` }) : {};
          res.writeHead(404, { 'content-type': 'application/json', ...headers }).end(body);
          return;
        }
        const body = buildCertificateListBody(this.served.map((c) => c.certPem), this.apiV3Key);
        const signer = this.signer ?? { serial: this.served[0]!.serial, keyPem: this.served[0]!.keyPem };
        const headers = signResponse({ body, privateKey: signer.keyPem, serial: signer.serial, requestId: `req-${this.downloads}` });
        res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(body);
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** Answer 404 RESOURCE_NOT_EXISTS signed by `signWith` (a public-key-only merchant), or unsigned. */
  notFound(signWith?: { serial: string; keyPem: string }): void {
    this.mode = 'not-found';
    this.served = [];
    this.signer = signWith;
  }

  /** Serve these certificates; answers signed by `signWith` (default: the first). */
  serve(certs: TestCert[], signWith?: TestCert): void {
    this.served = certs;
    this.signer = signWith ? { serial: signWith.serial, keyPem: signWith.keyPem } : undefined;
  }

  /** An API answer as WeChat Pay would sign it now (for verification checks in tests). */
  answer(body: string, signWith: { serial: string; keyPem: string }) {
    return { body, headers: signResponse({ body, privateKey: signWith.keyPem, serial: signWith.serial }) };
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}
