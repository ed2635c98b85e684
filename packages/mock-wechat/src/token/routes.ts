// /cgi-bin/token and /cgi-bin/stable_token.
import { wxFail } from '../errcodes.js';
import type { AppRegistry } from '../mp/apps.js';
import type { IssuedToken, TokenStore } from './store.js';

function credentials(apps: AppRegistry, grantType: unknown, appid: unknown, secret: unknown) {
  if (grantType !== 'client_credential') wxFail(40002);
  if (typeof appid !== 'string' || appid.length === 0) wxFail(41002);
  if (typeof secret !== 'string' || secret.length === 0) wxFail(41004);
  const app = apps.get(appid);
  if (!app) wxFail(40013);
  return { app, secretMatches: secret === app.config.secret };
}

/** GET /cgi-bin/token?grant_type=client_credential&appid&secret: a new token on every call. */
export function classicToken(query: URLSearchParams, apps: AppRegistry, tokens: TokenStore): IssuedToken {
  const { app, secretMatches } = credentials(apps, query.get('grant_type'), query.get('appid'), query.get('secret'));
  // WeChat documents 40001 for a wrong AppSecret on this endpoint.
  if (!secretMatches) wxFail(40001, 'AppSecret error or AppSecret does not belong to this appid');
  return tokens.issueClassic(app.config.appid);
}

/** POST /cgi-bin/stable_token {grant_type, appid, secret, force_refresh?}. */
export function stableToken(body: Buffer, apps: AppRegistry, tokens: TokenStore): IssuedToken {
  if (body.length === 0) wxFail(44002);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    wxFail(47001, 'body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) wxFail(47001, 'body is not a JSON object');
  const p = parsed as Record<string, unknown>;
  const { app, secretMatches } = credentials(apps, p.grant_type, p.appid, p.secret);
  if (!secretMatches) wxFail(40125);
  if (p.force_refresh !== undefined && typeof p.force_refresh !== 'boolean') wxFail(47001, 'force_refresh must be a boolean');
  const r = tokens.issueStable(app.config.appid, p.force_refresh === true);
  if ('errcode' in r) wxFail(r.errcode, 'daily force_refresh quota used up');
  return r;
}
