// One call of an access_token API under /wxa/ or /cgi-bin/: the token is checked, the call opened
// (API security: verified and decrypted) when the app requires it or the caller sent Wechatmp-*
// headers, handed to its route (or echo), and the result sealed again when the call came sealed.
import type { IncomingMessage } from 'node:http';
import { MockWechatError, errorBody } from '../errcodes.js';
import type { StatsCounter } from '../stats.js';
import type { TokenStore } from '../token/store.js';
import type { AppEntry, AppRegistry } from './apps.js';
import type { PlatformKeyRing } from './platform.js';
import { echo, type ApiHandler } from './routes.js';
import { hasSecurityHeaders, openSecuredRequest, sealResponse } from './security.js';

/** What an endpoint answers: the body (JSON), extra headers, the errcode for stats and logs. */
export interface ApiAnswer {
  body: unknown;
  headers?: Record<string, string>;
  errcode?: number;
  ignoredUrlParameters?: string[];
}

/** The parts of the mock an API call reads. */
export interface ApiCallContext {
  readonly apps: AppRegistry;
  readonly tokens: TokenStore;
  readonly platform: PlatformKeyRing;
  readonly routes: ReadonlyMap<string, ApiHandler>;
  readonly stats: StatsCounter;
  /** Accepted |now − Wechatmp-TimeStamp|, seconds. */
  readonly timestampWindowSeconds: number;
  /** The mock's clock, Unix seconds. */
  nowSeconds(): number;
  /** Scheme and host the client computed urlpath with (AAD and signatures). */
  baseUrl(req: IncomingMessage): string;
}

/** Answers the call; throws MockWechatError for a plain (unsealed) error answer. */
export async function answerApiCall(ctx: ApiCallContext, req: IncomingMessage, path: string, query: URLSearchParams, body: Buffer): Promise<ApiAnswer> {
  const token = query.get('access_token');
  if (!token) throw new MockWechatError(41001);
  const checked = ctx.tokens.check(token);
  if (!checked.ok) throw new MockWechatError(checked.errcode, checked.detail);
  const app: AppEntry | undefined = ctx.apps.get(checked.appid);
  if (!app) throw new MockWechatError(40001, 'the app of this access_token is gone');

  const secured = app.mode === 'required' || (app.mode === 'optional' && hasSecurityHeaders(req.headers));
  const urlPath = ctx.baseUrl(req) + path;
  const nowSeconds = ctx.nowSeconds();
  let params: Record<string, unknown>;
  let ignoredUrlParameters: string[] | undefined;
  if (secured) {
    const opened = openSecuredRequest({
      urlPath,
      headers: req.headers,
      body,
      nowSeconds,
      timestampWindowSeconds: ctx.timestampWindowSeconds,
      tokenApp: app,
      knownAppid: (id) => ctx.apps.get(id) !== undefined,
    });
    ctx.stats.secured();
    // URL parameters of a secured call travel inside the encrypted data (the guide: 原请求字段，
    // 包含URL参数、POST参数，不包含AccessToken); WeChat reads none from the URL but
    // access_token, so any other is ignored here too, and named in the log.
    params = opened.params;
    const names = [...new Set([...query.keys()].filter((k) => k !== 'access_token'))];
    if (names.length > 0) ignoredUrlParameters = names.slice(0, 16).map((k) => k.slice(0, 64));
  } else {
    params = plainParams(query, body);
  }

  const handler = ctx.routes.get(path) ?? echo;
  let result: Record<string, unknown>;
  try {
    const r = await handler({ appid: app.config.appid, path, params, secured, nowSeconds, apps: ctx.apps });
    result = typeof r === 'object' && r !== null && !Array.isArray(r) ? r : { errcode: -1, errmsg: 'system error: handler returned no object' };
    if (result.errcode === undefined) result = { errcode: 0, errmsg: 'ok', ...result };
  } catch (err) {
    if (!(err instanceof MockWechatError)) throw err;
    // Business errors of a verified call are answered sealed like any result.
    if (!secured) throw err;
    result = errorBody(err.errcode, err.detail);
  }
  const errcode = typeof result.errcode === 'number' ? result.errcode : undefined;
  if (!secured) return { body: result, ...(errcode !== undefined ? { errcode } : {}) };
  const sealed = sealResponse({ urlPath, app, platform: ctx.platform, nowSeconds: ctx.nowSeconds(), result });
  return { body: sealed.body, headers: sealed.headers, ...(errcode !== undefined ? { errcode } : {}), ...(ignoredUrlParameters !== undefined ? { ignoredUrlParameters } : {}) };
}

/** An unsecured call's parameters: the URL's (without access_token), then the JSON body's over them. */
function plainParams(query: URLSearchParams, body: Buffer): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const [k, v] of query) if (k !== 'access_token' && params[k] === undefined) params[k] = v;
  if (body.length > 0) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new MockWechatError(47001, 'POST data is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new MockWechatError(47001, 'POST data is not a JSON object');
    Object.assign(params, parsed);
  }
  return params;
}
