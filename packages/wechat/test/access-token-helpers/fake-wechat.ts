// A tiny stand-in for WeChat's token endpoints (POST /cgi-bin/stable_token, GET /cgi-bin/token)
// on 127.0.0.1: counts fetches, issues a new token per successful fetch with a configurable
// expires_in, and can be scripted to answer errcodes, 5xx, hang, or drop connections.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the next request gets: a token, an errcode, an HTTP 5xx, no answer, or a dropped connection. */
export type FakeReply = 'ok' | { errcode: number; errmsg?: string } | { status: number } | 'hang' | 'drop';

export interface FakeRequest {
  path: string;
  method: string;
  body: Record<string, unknown> | undefined;
  query: Record<string, string>;
}

export interface FakeWechat {
  url: string;
  /** Requests received (every answer, errors included). */
  readonly requests: FakeRequest[];
  /** Tokens issued so far. */
  readonly issued: string[];
  /** expires_in of issued tokens (seconds). */
  expiresIn: number;
  /** Default reply once `script` is empty. */
  reply: FakeReply;
  /** Replies consumed one per request, before `reply`. */
  script: FakeReply[];
  /** Delay before answering (ms). */
  delayMs: number;
  /** Back to a fresh state between tests: no requests or tokens recorded, `ok` replies, 7200 s tokens. */
  reset(): void;
  close(): Promise<void>;
}

export const APPID = 'wx0123456789abcdef';
export const SECRET = 'secret-0123456789abcdef0123456789ab';

export async function startFakeWechat(options: { expiresIn?: number } = {}): Promise<FakeWechat> {
  const sockets = new Set<Socket>();
  const hung: ServerResponse[] = [];
  let counter = 0;
  const state: Omit<FakeWechat, 'url' | 'close' | 'reset'> = {
    requests: [],
    issued: [],
    expiresIn: options.expiresIn ?? 7200,
    reply: 'ok',
    script: [],
    delayMs: 0,
  };
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    let body: Record<string, unknown> | undefined;
    if (chunks.length > 0) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
    }
    const query = Object.fromEntries(url.searchParams);
    state.requests.push({ path: url.pathname, method: req.method ?? '', body, query });
    const reply = state.script.length > 0 ? state.script.shift()! : state.reply;
    if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
    if (reply === 'hang') {
      hung.push(res);
      return;
    }
    if (reply === 'drop') {
      req.socket.destroy();
      return;
    }
    if (typeof reply === 'object' && 'status' in reply) return send(res, reply.status, { error: 'unavailable' });
    if (typeof reply === 'object') return send(res, 200, { errcode: reply.errcode, errmsg: reply.errmsg ?? `error ${reply.errcode}` });
    const creds = url.pathname === '/cgi-bin/stable_token' && req.method === 'POST' ? body : url.pathname === '/cgi-bin/token' && req.method === 'GET' ? query : undefined;
    if (!creds) return send(res, 404, { errcode: 404, errmsg: 'no such endpoint' });
    if (creds['grant_type'] !== 'client_credential') return send(res, 200, { errcode: 40002, errmsg: 'invalid grant_type' });
    if (creds['appid'] !== APPID) return send(res, 200, { errcode: 40013, errmsg: 'invalid appid' });
    if (creds['secret'] !== SECRET) return send(res, 200, { errcode: 40125, errmsg: 'invalid appsecret' });
    counter++;
    const token = `TOKEN-${counter}-${url.pathname === '/cgi-bin/token' ? 'classic' : 'stable'}`;
    state.issued.push(token);
    send(res, 200, { access_token: token, expires_in: state.expiresIn });
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const fake = state as FakeWechat;
  fake.url = `http://127.0.0.1:${port}`;
  fake.reset = () => {
    state.requests.length = 0;
    state.issued.length = 0;
    state.script = [];
    state.reply = 'ok';
    state.delayMs = 0;
    state.expiresIn = 7200;
  };
  fake.close = async () => {
    for (const r of hung) r.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return fake;
}

/** Successful token fetches (requests answered with a token). */
export function fetchCount(fake: FakeWechat): number {
  return fake.issued.length;
}
