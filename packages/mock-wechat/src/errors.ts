// The MOCK_ codes: the mock's own failures, never what it emulates. The errcodes of the WeChat
// endpoints (ERRMSG in errcodes.ts) and WeChat Pay's codes (PARAM_ERROR, RESOURCE_NOT_EXISTS, …
// in pay/errors.ts) are WeChat's wire and keep WeChat's spelling; they are in no catalogue of ours.
import type { ErrorCatalogue } from '@wxseal/protocol/errors';

export const MOCK_ERRORS = {
  MOCK_WECHAT_ERRCODE: {
    meaning: 'A handler of the mock answers with a WeChat errcode (the `errcode` on the error; the answer on the wire is WeChat\'s `{errcode, errmsg}`).',
    action: 'Read the errcode as WeChat\'s (see the WECHAT_ codes); the mock answers what WeChat would.',
  },
  MOCK_CONTROL_BAD_REQUEST: {
    status: 400,
    meaning: 'A call of the /__mock/ control API has a body or parameter it cannot use (the message names it).',
    action: 'Fix the field the message names (see the mock-wechat README for the control API).',
  },
  MOCK_CONTROL_UNAUTHORIZED: {
    status: 401,
    meaning: 'The control API needs the control token, and the call has none or another.',
    action: 'Send Authorization: Bearer <controlToken> (the token the mock was started with).',
  },
  MOCK_CONTROL_NOT_FOUND: {
    status: 404,
    meaning: 'No such control endpoint, or an appid the mock does not know.',
    action: 'Check the path (see the mock-wechat README) and the appid the mock was started with.',
  },
  MOCK_BODY_TOO_LARGE: {
    status: 413,
    meaning: 'A request body to the mock is larger than it accepts.',
    action: 'Send a smaller body; the mock caps bodies like WeChat does.',
  },
} as const satisfies ErrorCatalogue;

export type MockErrorCode = keyof typeof MOCK_ERRORS;
