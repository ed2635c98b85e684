// errmsg texts the mock answers with, modelled on what WeChat's servers print (lowercase English,
// then " rid: <request id>"). Clients must key on errcode, never on errmsg.
import { randomBytes } from 'node:crypto';
import { CodedError } from '@wxseal/protocol/errors';

export const ERRMSG: Readonly<Record<number, string>> = {
  [-1]: 'system error',
  40001: 'invalid credential, access_token is invalid or not latest',
  40002: 'invalid grant_type',
  40003: 'invalid openid',
  40013: 'invalid appid',
  40014: 'invalid access_token',
  40029: 'invalid code',
  40125: 'invalid appsecret',
  40163: 'code been used',
  41001: 'access_token missing',
  41002: 'appid missing',
  41004: 'appsecret missing',
  41008: 'missing code',
  42001: 'access_token expired',
  43002: 'require POST method',
  44002: 'empty post data',
  45009: 'reach max api daily quota limit',
  45011: 'api minute-quota reach limit  mustslower  retry next minute',
  47001: 'data format error',
  40230: 'missing Wechatmp-Serial',
  40231: 'missing Wechatmp-TimeStamp',
  40232: 'missing Wechatmp-Signature',
  40233: 'missing Wechatmp-Appid',
  40234: 'invalid signature',
  40235: 'invalid encrypt',
  40236: 'invalid Wechatmp-Appid',
  40237: 'Wechatmp-Appid does not match access_token',
  40238: 'symmetric key not set by developer',
  40239: 'public key not set by developer',
  40240: 'expired Wechatmp-TimeStamp',
};

/** A fresh WeChat-style request id (`xxxxxxxx-xxxxxxxx-xxxxxxxx`). */
export function newRid(): string {
  const h = randomBytes(12).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 16)}-${h.slice(16, 24)}`;
}

/** The `{errcode, errmsg}` body of an error answer; `detail` (never secret) is appended for humans. */
export function errorBody(errcode: number, detail?: string, rid = newRid()): { errcode: number; errmsg: string } {
  const base = ERRMSG[errcode] ?? 'error';
  return { errcode, errmsg: `${base}${detail ? `: ${detail}` : ''} rid: ${rid}` };
}

/**
 * Thrown inside handlers to answer `{errcode, errmsg}` (plain, unsigned). The code is the mock's
 * own (MOCK_WECHAT_ERRCODE); the errcode is WeChat's.
 */
export class MockWechatError extends CodedError<'MOCK_WECHAT_ERRCODE'> {
  override readonly name = 'MockWechatError';
  readonly errcode: number;
  readonly detail: string | undefined;
  constructor(errcode: number, detail?: string) {
    super('MOCK_WECHAT_ERRCODE', `errcode ${errcode}${detail ? `: ${detail}` : ''}`);
    this.errcode = errcode;
    this.detail = detail;
  }
}

export function wxFail(errcode: number, detail?: string): never {
  throw new MockWechatError(errcode, detail);
}
