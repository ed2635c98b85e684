// Typed errors for everything between a backend and WeChat's servers: WeChat's own errcodes
// (with their meaning, since WeChat answers with a bare number) and transport failures.

/** Meaning of the errcodes this package names; anything else keeps its number and errmsg. */
export const WECHAT_ERRCODES = {
  [-1]: { name: 'SYSTEM_BUSY', meaning: 'system busy, retry later', transient: true },
  40001: { name: 'INVALID_CREDENTIAL', meaning: 'access_token invalid or not the latest (or AppSecret wrong when fetching one)', transient: false },
  40002: { name: 'INVALID_GRANT_TYPE', meaning: 'invalid grant_type', transient: false },
  40013: { name: 'INVALID_APPID', meaning: 'invalid appid', transient: false },
  40014: { name: 'INVALID_ACCESS_TOKEN', meaning: 'invalid access_token', transient: false },
  40029: { name: 'INVALID_CODE', meaning: 'invalid code (js_code or phone code unknown or expired)', transient: false },
  40125: { name: 'INVALID_APPSECRET', meaning: 'invalid AppSecret', transient: false },
  40163: { name: 'CODE_BEEN_USED', meaning: 'code already used', transient: false },
  40164: { name: 'IP_NOT_WHITELISTED', meaning: 'caller IP not in the API IP allow-list', transient: false },
  40226: { name: 'HIGH_RISK_USER', meaning: 'high-risk user, login blocked', transient: false },
  41002: { name: 'MISSING_APPID', meaning: 'appid missing', transient: false },
  41004: { name: 'MISSING_SECRET', meaning: 'AppSecret missing', transient: false },
  41008: { name: 'MISSING_CODE', meaning: 'code missing', transient: false },
  42001: { name: 'ACCESS_TOKEN_EXPIRED', meaning: 'access_token expired', transient: false },
  45009: { name: 'DAILY_QUOTA_REACHED', meaning: 'API daily quota reached', transient: false },
  45011: { name: 'FREQUENCY_LIMITED', meaning: 'API called too often, retry later', transient: true },
  // Mini Program server API security (API 安全), guide section "错误码". `wechatName` is the
  // guide's own spelling (what WECHAT_API_SECURITY_ERRORS shows); `name` builds our stable code.
  40230: { name: 'API_MISSING_WECHATMP_SERIAL', wechatName: 'API_Missing_Wechatmp_Serial', meaning: 'Wechatmp-Serial missing', transient: false },
  40231: { name: 'API_MISSING_WECHATMP_TIMESTAMP', wechatName: 'API_Missing_Wechatmp_Timestamp', meaning: 'Wechatmp-TimeStamp missing', transient: false },
  40232: { name: 'API_MISSING_WECHATMP_SIGNATURE', wechatName: 'API_Missing_Wechatmp_Signature', meaning: 'Wechatmp-Signature missing', transient: false },
  40233: { name: 'API_MISSING_WECHATMP_APPID', wechatName: 'API_Missing_Wechatmp_Appid', meaning: 'Wechatmp-Appid missing', transient: false },
  40234: { name: 'API_INVALID_SIGNATURE', wechatName: 'API_Invalid_Signature', meaning: 'invalid signature (key, salt length or signed string wrong)', transient: false },
  40235: { name: 'API_INVALID_ENCRYPT', wechatName: 'API_Invalid_Encrypt', meaning: 'invalid encryption (key, SN, IV, tag or AAD wrong)', transient: false },
  40236: { name: 'API_INVALID_WECHATMP_APPID', wechatName: 'API_Invalid_Wechatmp_Appid', meaning: 'invalid Wechatmp-Appid', transient: false },
  40237: { name: 'API_WECHATMP_APPID_TOKEN_MISMATCH', wechatName: 'API_Invalid_Wechatmp_Appidmatch', meaning: 'Wechatmp-Appid does not match the access_token', transient: false },
  40238: { name: 'API_SYMMETRIC_KEY_NOT_CONFIGURED', wechatName: 'API_NoExist_DevSecretSym', meaning: 'no symmetric key configured in the console', transient: false },
  40239: { name: 'API_PUBLIC_KEY_NOT_CONFIGURED', wechatName: 'API_NoExist_DevSecretAsym', meaning: 'no public key configured in the console', transient: false },
  40240: { name: 'API_TIMESTAMP_EXPIRED', wechatName: 'API_Expired_Wechatmp_Timestamp', meaning: 'Wechatmp-TimeStamp expired', transient: false },
} as const;

export type KnownWechatErrcode = keyof typeof WECHAT_ERRCODES;

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
export class WechatApiError extends Error {
  readonly code: string;
  readonly errcode: number;
  readonly errmsg: string;
  readonly meaning: string | undefined;
  readonly transient: boolean;
  readonly authenticated: boolean;
  constructor(errcode: number, errmsg: string, options: { authenticated?: boolean; path?: string } = {}) {
    const k = known(errcode);
    const where = options.path ? ` (${options.path})` : '';
    super(`WeChat errcode ${errcode}${k ? ` ${k.name}: ${k.meaning}` : ''}; errmsg: ${errmsg}${where}`);
    this.name = 'WechatApiError';
    this.code = k ? `WECHAT_${k.name}` : 'WECHAT_ERRCODE';
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

export type WechatTransportErrorCode =
  | 'WECHAT_UNAVAILABLE'
  | 'WECHAT_TIMEOUT'
  | 'WECHAT_CIRCUIT_OPEN'
  | 'WECHAT_BAD_RESPONSE'
  | 'WECHAT_ABORTED';

/** WeChat could not be reached, answered garbage or a 5xx, or the breaker refuses to try. */
export class WechatTransportError extends Error {
  readonly code: WechatTransportErrorCode;
  readonly status: number | undefined;
  constructor(code: WechatTransportErrorCode, message: string, options: { status?: number; cause?: unknown } = {}) {
    super(`${code}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WechatTransportError';
    this.code = code;
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
