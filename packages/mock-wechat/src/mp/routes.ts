// Mini Program endpoints: jscode2session (no access_token) and the access_token APIs under /wxa/
// and /cgi-bin/ (getuserphonenumber, getuserriskrank, a generic echo, and user-registered routes).
import { createHash } from 'node:crypto';
import { wxFail } from '../errcodes.js';
import type { AppRegistry } from './apps.js';

/** What an API handler receives once the access_token (and, when used, API security) passed. */
export interface ApiContext {
  /** The app the access_token belongs to. */
  appid: string;
  /** URL path, e.g. `/wxa/getuserriskrank`. */
  path: string;
  /** URL parameters (without access_token) merged with the POST parameters (decrypted when secured). */
  params: Record<string, unknown>;
  /** Whether the request came signed and encrypted (the answer will be too). */
  secured: boolean;
  /** The mock's clock, Unix seconds. */
  nowSeconds: number;
  apps: AppRegistry;
}

/**
 * Answers an API call. The returned object is the response body (errcode 0 is added when absent);
 * throw MockWechatError (wxFail) for a WeChat errcode.
 */
export type ApiHandler = (ctx: ApiContext) => Record<string, unknown> | Promise<Record<string, unknown>>;

function stringParam(params: Record<string, unknown>, name: string): string | undefined {
  const v = params[name];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** POST /wxa/business/getuserphonenumber {code} → phone_info. */
export const getUserPhoneNumber: ApiHandler = (ctx) => {
  const code = stringParam(ctx.params, 'code');
  if (code === undefined) wxFail(41008);
  const p = ctx.apps.consumePhoneCode(ctx.appid, code);
  return {
    errcode: 0,
    errmsg: 'ok',
    phone_info: {
      phoneNumber: p.phoneNumber,
      purePhoneNumber: p.purePhoneNumber,
      countryCode: p.countryCode,
      watermark: { timestamp: ctx.nowSeconds, appid: ctx.appid },
    },
  };
};

/** POST /wxa/getuserriskrank {appid, openid, scene, client_ip, ...} → risk_rank 0..4 derived from the openid. */
export const getUserRiskRank: ApiHandler = (ctx) => {
  const openid = stringParam(ctx.params, 'openid');
  if (openid === undefined) wxFail(40003);
  if (typeof ctx.params.scene !== 'number' || !Number.isInteger(ctx.params.scene)) wxFail(47001, 'scene must be an integer');
  const h = createHash('sha256').update(`${ctx.appid}|risk|${openid}`).digest();
  // Spelled `unoin_id` as in WeChat's own published answer.
  return { errcode: 0, errmsg: 'getuserriskrank succ', risk_rank: h[0]! % 5, unoin_id: h.readUInt32BE(1) };
};

/** Any other API: echoes the (decrypted) params back in `data`. */
export const echo: ApiHandler = (ctx) => ({ errcode: 0, errmsg: 'ok', data: ctx.params });

export const BUILTIN_API_ROUTES: ReadonlyMap<string, ApiHandler> = new Map([
  ['/wxa/business/getuserphonenumber', getUserPhoneNumber],
  ['/wxa/getuserriskrank', getUserRiskRank],
]);

/** GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code. */
export function jscode2session(query: URLSearchParams, apps: AppRegistry): Record<string, unknown> {
  const appid = query.get('appid');
  const secret = query.get('secret');
  const code = query.get('js_code');
  if (!appid) wxFail(41002);
  if (!secret) wxFail(41004);
  if (!code) wxFail(41008);
  if (query.get('grant_type') !== 'authorization_code') wxFail(40002);
  const app = apps.get(appid);
  if (!app) wxFail(40013);
  if (secret !== app.config.secret) wxFail(40125);
  const s = apps.consumeJsCode(appid, code);
  return { session_key: s.session_key, openid: s.openid, ...(s.unionid !== undefined ? { unionid: s.unionid } : {}) };
}
