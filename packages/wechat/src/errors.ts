// Typed errors for everything between a backend and WeChat's servers: WeChat's own errcodes
// (with their meaning, since WeChat answers with a bare number) and transport failures.
import { CodedError, type ErrorCatalogue, type ErrorInfo } from '@wxseal/protocol/errors';

/**
 * Meaning of the errcodes this package names, and what to do about each; anything else keeps its
 * number and errmsg (code WECHAT_ERRCODE). The WECHAT_<NAME> codes of WechatApiError and their
 * catalogue entries are derived from this one table.
 */
export const WECHAT_ERRCODES = {
  [-1]: { name: 'SYSTEM_BUSY', meaning: 'system busy, retry later', transient: true, action: 'Retry later (transient errcodes are retried by the client).' },
  40001: {
    name: 'INVALID_CREDENTIAL',
    meaning: 'access_token invalid or not the latest (or AppSecret wrong when fetching one)',
    transient: false,
    action: 'When fetching a token: check the AppSecret. Otherwise another party fetched a newer token: the client drops its token and retries once; make every instance share one token store.',
  },
  40002: { name: 'INVALID_GRANT_TYPE', meaning: 'invalid grant_type', transient: false, action: 'A bug in the caller (this package sends the documented grant_type): report it.' },
  40013: { name: 'INVALID_APPID', meaning: 'invalid appid', transient: false, action: 'Check the appid in the configuration.' },
  40014: { name: 'INVALID_ACCESS_TOKEN', meaning: 'invalid access_token', transient: false, action: 'The client fetches a fresh token and retries once; if it lasts, make every instance share one token store.' },
  40029: { name: 'INVALID_CODE', meaning: 'invalid code (js_code or phone code unknown or expired)', transient: false, action: 'Get a fresh code from the mini program (wx.login, getPhoneNumber); codes expire after 5 minutes.' },
  40125: { name: 'INVALID_APPSECRET', meaning: 'invalid AppSecret', transient: false, action: 'Check the AppSecret (reset it in the Mini Program console if in doubt).' },
  40163: { name: 'CODE_BEEN_USED', meaning: 'code already used', transient: false, action: 'A code is single-use: never retry with it; get a new one from the mini program.' },
  40164: { name: 'IP_NOT_WHITELISTED', meaning: 'caller IP not in the API IP allow-list', transient: false, action: 'Add the server\'s egress IP to the API IP allow-list in the Mini Program console.' },
  40226: { name: 'HIGH_RISK_USER', meaning: 'high-risk user, login blocked', transient: false, action: 'WeChat blocked this user\'s login; tell the user, nothing to retry.' },
  41002: { name: 'MISSING_APPID', meaning: 'appid missing', transient: false, action: 'Configure the appid.' },
  41004: { name: 'MISSING_SECRET', meaning: 'AppSecret missing', transient: false, action: 'Configure the AppSecret.' },
  41008: { name: 'MISSING_CODE', meaning: 'code missing', transient: false, action: 'Pass the code the mini program obtained.' },
  42001: { name: 'ACCESS_TOKEN_EXPIRED', meaning: 'access_token expired', transient: false, action: 'The client fetches a fresh token and retries once; if it lasts, check the server clock and the shared token store.' },
  45009: { name: 'DAILY_QUOTA_REACHED', meaning: 'API daily quota reached', transient: false, action: 'Wait for the daily reset, or reset the quota in the console; cache results and tokens instead of calling per request.' },
  45011: { name: 'FREQUENCY_LIMITED', meaning: 'API called too often, retry later', transient: true, action: 'Retry later (the client retries it); lower the call rate.' },
  // Mini Program server API security (API 安全), guide section "错误码". `wechatName` is the
  // guide's own spelling (what WECHAT_API_SECURITY_ERRORS shows); `name` builds our stable code.
  40230: { name: 'API_MISSING_WECHATMP_SERIAL', wechatName: 'API_Missing_Wechatmp_Serial', meaning: 'Wechatmp-Serial missing', transient: false, action: 'Call through WechatMpClient with API security configured (it sends every Wechatmp-* header).' },
  40231: { name: 'API_MISSING_WECHATMP_TIMESTAMP', wechatName: 'API_Missing_Wechatmp_Timestamp', meaning: 'Wechatmp-TimeStamp missing', transient: false, action: 'Call through WechatMpClient with API security configured (it sends every Wechatmp-* header).' },
  40232: { name: 'API_MISSING_WECHATMP_SIGNATURE', wechatName: 'API_Missing_Wechatmp_Signature', meaning: 'Wechatmp-Signature missing', transient: false, action: 'Call through WechatMpClient with API security configured (it sends every Wechatmp-* header).' },
  40233: { name: 'API_MISSING_WECHATMP_APPID', wechatName: 'API_Missing_Wechatmp_Appid', meaning: 'Wechatmp-Appid missing', transient: false, action: 'Call through WechatMpClient with API security configured (it sends every Wechatmp-* header).' },
  40234: { name: 'API_INVALID_SIGNATURE', wechatName: 'API_Invalid_Signature', meaning: 'invalid signature (key, salt length or signed string wrong)', transient: false, action: 'Check that the RSA private key and its serial match the public key registered in the console (API 安全).' },
  40235: { name: 'API_INVALID_ENCRYPT', wechatName: 'API_Invalid_Encrypt', meaning: 'invalid encryption (key, SN, IV, tag or AAD wrong)', transient: false, action: 'Check that the symmetric key and its SN match the ones in the console (API 安全).' },
  40236: { name: 'API_INVALID_WECHATMP_APPID', wechatName: 'API_Invalid_Wechatmp_Appid', meaning: 'invalid Wechatmp-Appid', transient: false, action: 'Check the appid the client is configured with.' },
  40237: { name: 'API_WECHATMP_APPID_TOKEN_MISMATCH', wechatName: 'API_Invalid_Wechatmp_Appidmatch', meaning: 'Wechatmp-Appid does not match the access_token', transient: false, action: 'Use an access_token of the same appid as Wechatmp-Appid.' },
  40238: { name: 'API_SYMMETRIC_KEY_NOT_CONFIGURED', wechatName: 'API_NoExist_DevSecretSym', meaning: 'no symmetric key configured in the console', transient: false, action: 'Configure a symmetric key in the Mini Program console (开发管理 → API 安全).' },
  40239: { name: 'API_PUBLIC_KEY_NOT_CONFIGURED', wechatName: 'API_NoExist_DevSecretAsym', meaning: 'no public key configured in the console', transient: false, action: 'Register an RSA public key in the Mini Program console (开发管理 → API 安全).' },
  40240: { name: 'API_TIMESTAMP_EXPIRED', wechatName: 'API_Expired_Wechatmp_Timestamp', meaning: 'Wechatmp-TimeStamp expired', transient: false, action: 'Synchronise the server clock (NTP); build every request fresh.' },
} as const;

export type KnownWechatErrcode = keyof typeof WECHAT_ERRCODES;

/** The code of a WechatApiError: WECHAT_<NAME> for a named errcode, WECHAT_ERRCODE otherwise. */
export type WechatApiErrorCode = `WECHAT_${(typeof WECHAT_ERRCODES)[KnownWechatErrcode]['name']}` | 'WECHAT_ERRCODE';

/** The catalogue of WechatApiError's codes, from WECHAT_ERRCODES (WeChat answers HTTP 200 with an errcode). */
export const WECHAT_API_ERRORS = {
  ...(Object.fromEntries(
    Object.entries(WECHAT_ERRCODES).map(([errcode, e]) => [`WECHAT_${e.name}`, { meaning: `WeChat errcode ${errcode}: ${e.meaning}.`, action: e.action }]),
  ) as { readonly [C in Exclude<WechatApiErrorCode, 'WECHAT_ERRCODE'>]: ErrorInfo }),
  WECHAT_ERRCODE: {
    meaning: 'WeChat answered an errcode this package does not name; `errcode` and `errmsg` are on the error.',
    action: 'Look the errcode up in WeChat\'s documentation of the API called.',
  },
} satisfies ErrorCatalogue<WechatApiErrorCode>;

/** Codes of WechatTransportError: no usable answer from WeChat. */
export const WECHAT_TRANSPORT_ERRORS = {
  WECHAT_UNAVAILABLE: {
    meaning: 'WeChat could not be reached (connection, DNS, TLS) or answered with an HTTP 5xx.',
    action: 'Transient: retried with backoff. If it lasts, check the outbound network or proxy, then WeChat\'s status.',
  },
  WECHAT_TIMEOUT: {
    meaning: 'WeChat did not answer within the deadline.',
    action: 'Transient: retried. If it lasts, check the outbound network, or raise the timeout.',
  },
  WECHAT_CIRCUIT_OPEN: {
    meaning: 'The circuit breaker is open after repeated failures: the call was refused without trying.',
    action: 'Wait until the breaker half-opens; look at the failures that opened it.',
  },
  WECHAT_BAD_RESPONSE: {
    meaning: 'WeChat\'s answer cannot be used: not JSON, too large, or without a field the API documents.',
    action: 'Check for a proxy answering in WeChat\'s place; report the call if WeChat changed its answer.',
  },
  WECHAT_ABORTED: {
    meaning: 'The caller\'s AbortSignal fired.',
    action: 'Nothing, if the abort was meant; otherwise find who aborts the call.',
  },
} as const satisfies ErrorCatalogue;

export type WechatTransportErrorCode = keyof typeof WECHAT_TRANSPORT_ERRORS;

/** errcodes after which the access_token is dropped and the call retried once with a fresh one. */
export const TOKEN_INVALID_ERRCODES: ReadonlySet<number> = new Set([40001, 40014, 42001]);

function known(errcode: number): (typeof WECHAT_ERRCODES)[KnownWechatErrcode] | undefined {
  return Object.prototype.hasOwnProperty.call(WECHAT_ERRCODES, errcode)
    ? WECHAT_ERRCODES[errcode as KnownWechatErrcode]
    : undefined;
}

/**
 * WeChat answered with a non-zero errcode. `code` is stable (`WECHAT_<NAME>` for the named ones,
 * `WECHAT_ERRCODE` otherwise); `authenticated` says whether the answer carried a verified
 * Wechatmp-Signature (error bodies of the API security scheme often do not).
 */
export class WechatApiError extends CodedError<WechatApiErrorCode> {
  override readonly name = 'WechatApiError';
  readonly errcode: number;
  readonly errmsg: string;
  readonly meaning: string | undefined;
  readonly transient: boolean;
  readonly authenticated: boolean;
  constructor(errcode: number, errmsg: string, options: { authenticated?: boolean; path?: string } = {}) {
    const k = known(errcode);
    const where = options.path ? ` (${options.path})` : '';
    super(k ? `WECHAT_${k.name}` : 'WECHAT_ERRCODE', `WeChat errcode ${errcode}${k ? ` ${k.name}: ${k.meaning}` : ''}; errmsg: ${errmsg}${where}`);
    this.errcode = errcode;
    this.errmsg = errmsg;
    this.meaning = k?.meaning;
    this.transient = k?.transient ?? false;
    this.authenticated = options.authenticated ?? false;
  }
  /** True for 40001 / 40014 / 42001: the token is bad, not the request. */
  get tokenInvalid(): boolean {
    return TOKEN_INVALID_ERRCODES.has(this.errcode);
  }
}

/** WeChat could not be reached, answered garbage or a 5xx, or the breaker refuses to try. */
export class WechatTransportError extends CodedError<WechatTransportErrorCode> {
  override readonly name = 'WechatTransportError';
  readonly status: number | undefined;
  constructor(code: WechatTransportErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(code, message, options);
    this.status = options.status;
  }
  /** Worth retrying later (not a circuit-open refusal, not an abort). */
  get transient(): boolean {
    return this.code === 'WECHAT_UNAVAILABLE' || this.code === 'WECHAT_TIMEOUT';
  }
}

/** Reads `{errcode, errmsg}` from a parsed WeChat JSON body; errcode 0 / absent → undefined. */
export function wechatErrorOf(body: unknown, options: { authenticated?: boolean; path?: string } = {}): WechatApiError | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { errcode, errmsg } = body as { errcode?: unknown; errmsg?: unknown };
  if (errcode === undefined || errcode === 0) return undefined;
  const n = typeof errcode === 'number' ? errcode : Number(errcode);
  if (!Number.isSafeInteger(n)) return undefined;
  if (n === 0) return undefined;
  return new WechatApiError(n, typeof errmsg === 'string' ? errmsg.slice(0, 512) : '', options);
}
