// A small HTTP client for a gateway's admin API that keeps the session cookie and the CSRF token,
// and the check that the shared Redis is up: for the admin tests of the gateway package and the
// browser tests in tests/e2e.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Redis } from 'ioredis';
import { ADMIN_API_PREFIX } from '@wxseal/gateway';

export const REDIS_URL = 'redis://127.0.0.1:6379';

export async function requireRedis(): Promise<void> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    assert.equal(await r.ping(), 'PONG');
  } catch (err) {
    throw new Error(`Redis is not reachable at ${REDIS_URL} (${(err as Error).message}). Start it with \`npm run services\`; the admin tests fail rather than skip.`);
  } finally {
    r.disconnect();
  }
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the admin API's JSON of every route, read field by field by the tests
  json: any;
}

export interface CallOptions {
  body?: unknown;
  rawBody?: string;
  cookie?: string;
  csrf?: string;
  origin?: string;
  headers?: Record<string, string>;
}

export function call(base: string, method: string, path: string, o: CallOptions = {}): Promise<Reply> {
  const { hostname, port } = new URL(base);
  const payload = o.rawBody ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  const headers: Record<string, string> = { ...o.headers };
  if (payload !== undefined) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  if (o.cookie !== undefined) headers.cookie = o.cookie;
  if (o.csrf !== undefined) headers['x-csrf-token'] = o.csrf;
  if (o.origin !== undefined) headers.origin = o.origin;
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** A logged-in admin: cookie + CSRF token, and calls that send both. */
export interface AdminSession {
  actor: string;
  cookie: string;
  csrf: string;
  get(path: string): Promise<Reply>;
  post(path: string, body?: unknown): Promise<Reply>;
  del(path: string): Promise<Reply>;
}

export async function login(base: string, body: { token: string } | { user: string; password: string }): Promise<AdminSession> {
  const r = await call(base, 'POST', `${ADMIN_API_PREFIX}/session`, { body });
  assert.equal(r.status, 200, `login: ${r.text}`);
  const setCookie = ([] as string[]).concat(r.headers['set-cookie'] ?? [])[0] ?? '';
  const cookie = setCookie.split(';')[0]!;
  const csrf = String(r.json.csrfToken);
  const api = (p: string): string => `${ADMIN_API_PREFIX}${p}`;
  return {
    actor: String(r.json.actor),
    cookie,
    csrf,
    get: (p) => call(base, 'GET', api(p), { cookie }),
    post: (p, b) => call(base, 'POST', api(p), { cookie, csrf, body: b ?? {} }),
    del: (p) => call(base, 'DELETE', api(p), { cookie, csrf }),
  };
}
