// Where a request goes: the /__mock/ control API (never faulted nor counted), then the fault plan,
// then by path to the WeChat Pay side (/v3/), the token endpoints, jscode2session or the
// access_token APIs; one log entry per answered request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { handleControl, type ControlledMock } from './control.js';
import { MockWechatError, errorBody } from './errcodes.js';
import { DEFAULT_FAULT_BODY, type FaultRegistry } from './faults.js';
import { BodyTooLargeError, readBody, sendJson, sendText } from './http-util.js';
import type { AppRegistry } from './mp/apps.js';
import { answerApiCall, type ApiAnswer, type ApiCallContext } from './mp/api-call.js';
import { jscode2session } from './mp/routes.js';
import { codeForStatus } from './pay/errors.js';
import { MEDIA_MAX_BODY, MEDIA_PATHS } from './pay/media.js';
import type { PayAnswer, PaySide } from './pay/side.js';
import type { StatsCounter } from './stats.js';
import { classicToken, stableToken } from './token/routes.js';
import type { TokenStore } from './token/store.js';
import type { MockWechatOptions } from './types.js';

/** The parts of the mock the router reads. */
export interface RouterContext {
  readonly options: Pick<MockWechatOptions, 'logger' | 'controlApi' | 'controlToken'>;
  readonly maxBodyBytes: number;
  readonly stats: StatsCounter;
  readonly faults: FaultRegistry;
  readonly apps: AppRegistry;
  readonly tokens: TokenStore;
  readonly api: ApiCallContext;
  /** The handle the control API drives. */
  readonly control: ControlledMock;
  /** Aborted by down(): requests parked in an injected latency die with the outage. */
  lifetime(): AbortSignal;
  /** The Pay side, created on first use. */
  pay(): Promise<PaySide>;
}

/** Answers one request. */
export async function routeRequest(ctx: RouterContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = Date.now();
  const method = req.method ?? 'GET';
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://mock.invalid');
  } catch {
    sendText(res, 400, 'bad request target', true);
    return;
  }
  const path = url.pathname;
  const logger = ctx.options.logger;
  const log = (status: number, errcode?: number, fault?: string, ignoredUrlParameters?: string[]) => {
    if (!logger) return;
    try {
      logger({
        method,
        path: path.slice(0, 200),
        status,
        ...(errcode !== undefined ? { errcode } : {}),
        ...(fault ? { fault } : {}),
        ...(ignoredUrlParameters !== undefined ? { ignoredUrlParameters } : {}),
        ms: Date.now() - started,
      });
    } catch {
      // a throwing logger must not break the mock
    }
  };

  if (path === '/__mock' || path.startsWith('/__mock/')) {
    if (ctx.options.controlApi === false) {
      sendText(res, 404, 'not found');
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req, 64 * 1024);
    } catch (err) {
      if (err instanceof BodyTooLargeError) sendText(res, 413, 'body too large', true);
      return;
    }
    const status = await handleControl(ctx.control, { method, path, query: url.searchParams, headers: req.headers, body, controlToken: ctx.options.controlToken }, res);
    log(status);
    return;
  }

  ctx.stats.request(path);
  const plan = ctx.faults.plan(path);
  if (plan.delayMs > 0 || plan.terminal) ctx.stats.fault();
  if (plan.delayMs > 0) {
    try {
      await sleep(plan.delayMs, undefined, { signal: ctx.lifetime() });
    } catch {
      req.socket.destroy();
      return;
    }
  }
  if (plan.terminal?.kind === 'drop') {
    req.socket.destroy();
    log(0, undefined, 'drop');
    return;
  }
  if (isPayPath(path) && (plan.terminal?.kind === 'http-status' || plan.terminal?.kind === 'errcode')) {
    // Pay flavour: a signed `{code, message}` JSON answer (errcode 45009/45011 → 429 FREQUENCY_LIMITED, others → 500 SYSTEM_ERROR).
    const t = plan.terminal;
    if (t.kind === 'errcode' || t.body === DEFAULT_FAULT_BODY) {
      const status = t.kind === 'http-status' ? t.status : t.errcode === 45009 || t.errcode === 45011 ? 429 : 500;
      const message = t.kind === 'errcode' ? t.errmsg : undefined;
      const answer = (await ctx.pay()).faultAnswer(req.headers, status, codeForStatus(status).code, message);
      sendPay(res, answer);
      log(answer.status, undefined, t.kind);
      return;
    }
  }
  if (plan.terminal?.kind === 'http-status') {
    sendText(res, plan.terminal.status, plan.terminal.body);
    log(plan.terminal.status, undefined, 'http-status');
    return;
  }
  if (plan.terminal?.kind === 'errcode') {
    const errcode = plan.terminal.errcode;
    ctx.stats.rejection(errcode);
    const body = plan.terminal.errmsg !== undefined ? { errcode, errmsg: plan.terminal.errmsg } : errorBody(errcode, 'injected');
    sendJson(res, 200, body);
    log(200, errcode, 'errcode');
    return;
  }

  let body: Buffer;
  try {
    // Media uploads carry files of up to 5 MB (WeChat Pay's own limit), whatever maxBodyBytes says.
    body = await readBody(req, MEDIA_PATHS.has(path) ? Math.max(ctx.maxBodyBytes, MEDIA_MAX_BODY) : ctx.maxBodyBytes);
  } catch (err) {
    if (err instanceof BodyTooLargeError) {
      sendText(res, 413, 'request body too large', true);
      log(413);
    }
    return;
  }

  if (isPayPath(path)) {
    let answer: PayAnswer;
    try {
      const pay = await ctx.pay();
      answer = pay.handle({ method, target: req.url ?? path, path, query: url.searchParams, headers: req.headers, body });
    } catch {
      sendJson(res, 500, { code: 'SYSTEM_ERROR', message: '系统错误' });
      log(500);
      return;
    }
    sendPay(res, answer);
    log(answer.status);
    return;
  }

  try {
    const answer = await dispatchWechat(ctx, req, method, path, url.searchParams, body);
    if (answer === undefined) {
      sendText(res, 404, 'mock-wechat: no such endpoint');
      log(404);
      return;
    }
    const errcode = typeof answer.errcode === 'number' && answer.errcode !== 0 ? answer.errcode : undefined;
    if (errcode !== undefined) ctx.stats.rejection(errcode);
    sendJson(res, 200, answer.body, answer.headers);
    log(200, errcode, undefined, answer.ignoredUrlParameters);
  } catch (err) {
    if (err instanceof MockWechatError) {
      ctx.stats.rejection(err.errcode);
      sendJson(res, 200, errorBody(err.errcode, err.detail));
      log(200, err.errcode);
      return;
    }
    ctx.stats.rejection(-1);
    sendJson(res, 500, errorBody(-1));
    log(500, -1);
  }
}

/** The WeChat (non-Pay) endpoints: undefined for an unknown one; throws MockWechatError for plain error answers. */
async function dispatchWechat(ctx: RouterContext, req: IncomingMessage, method: string, path: string, query: URLSearchParams, body: Buffer): Promise<ApiAnswer | undefined> {
  if (path === '/cgi-bin/token') {
    if (method !== 'GET' && method !== 'POST') return undefined;
    return { body: classicToken(query, ctx.apps, ctx.tokens) };
  }
  if (path === '/cgi-bin/stable_token') {
    if (method !== 'POST') throw new MockWechatError(43002);
    return { body: stableToken(body, ctx.apps, ctx.tokens) };
  }
  if (path === '/sns/jscode2session') {
    if (method !== 'GET' && method !== 'POST') return undefined;
    return { body: jscode2session(query, ctx.apps) };
  }
  if (path.startsWith('/wxa/') || path.startsWith('/cgi-bin/')) {
    if (method !== 'GET' && method !== 'POST') return undefined;
    return answerApiCall(ctx.api, req, path, query, body);
  }
  return undefined;
}

function isPayPath(path: string): boolean {
  return path === '/v3' || path.startsWith('/v3/');
}

function sendPay(res: ServerResponse, answer: PayAnswer): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(answer.status, { ...answer.headers, 'Content-Length': String(Buffer.byteLength(answer.body)) });
  res.end(answer.body);
}
