import type { IncomingHttpHeaders } from 'node:http';
import { WxsealError } from '@wxseal/protocol';

/**
 * An authenticated response. `status`, `contentType` and `body` are proven to come from the server
 * in answer to this very request; `headers` are the wire headers, which wxseal v1 does not
 * authenticate (in sealed mode their content-type is the envelope's, use `contentType`).
 */
export interface WxsealResponse {
  readonly status: number;
  /** status is 2xx. */
  readonly ok: boolean;
  readonly headers: IncomingHttpHeaders;
  /** The media type of `body` (sealed mode: from inside the envelope). */
  readonly contentType: string | undefined;
  /** The decrypted (sealed) or verified (sign-only) body. */
  readonly body: Buffer;
  /** The traceparent the request was sent (and signed) with. */
  readonly traceparent: string;
  /** Attempts the call took, retries and clock correction included. */
  readonly attempts: number;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON; WXSEAL_RESPONSE_INVALID when it is not JSON. */
  json<T = unknown>(): T;
}

export class AuthenticatedResponse implements WxsealResponse {
  readonly ok: boolean;

  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    readonly contentType: string | undefined,
    readonly body: Buffer,
    readonly traceparent: string,
    readonly attempts: number,
  ) {
    this.ok = status >= 200 && status <= 299;
  }

  text(): string {
    return this.body.toString('utf8');
  }

  json<T = unknown>(): T {
    try {
      return JSON.parse(this.text()) as T;
    } catch {
      // The body is authentic but not JSON; its bytes stay out of the message.
      throw new WxsealError('WXSEAL_RESPONSE_INVALID', 'the response body is not JSON', { status: this.status });
    }
  }
}
