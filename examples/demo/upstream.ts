/**
 * The demo's "Java/Go service": plain HTTP on loopback, no wxseal inside. It trusts the identity
 * headers because only the gateway can reach it, and answers with what it was told.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoUpstream {
  url: string;
  server: Server;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startDemoUpstream(port = 0): Promise<DemoUpstream> {
  let nextOrder = 1000;
  const server = createServer((req, res) => {
    void readBody(req).then((text) => {
      let payload: unknown = null;
      try {
        payload = text ? JSON.parse(text) : null;
      } catch {
        payload = text;
      }
      const answer = {
        service: 'demo-upstream',
        method: req.method,
        path: req.url,
        orderId: req.method === 'POST' ? nextOrder++ : undefined,
        caller: {
          keyId: req.headers['x-wxseal-key-id'] ?? null,
          openid: req.headers['x-wxseal-openid'] ?? null,
          appid: req.headers['x-wxseal-appid'] ?? null,
          source: req.headers['x-wxseal-source'] ?? null,
        },
        received: payload,
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, server, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
