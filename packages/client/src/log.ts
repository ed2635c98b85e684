/**
 * Structured log entries. They carry routing and timing facts only: never a body, a secret, an
 * identity, a header value other than traceparent, or a query string.
 */
export type LogEvent =
  /** An authenticated response was received (whatever its status). */
  | 'response'
  /** The server's verifier rejected the request (Wxseal-Error). */
  | 'rejected'
  /** The response did not authenticate. */
  | 'invalid_response'
  /**
   * The connection failed; `sent` tells whether the request may have reached the server, `code`
   * is WXSEAL_NETWORK, or WXSEAL_TLS_FAILED / WXSEAL_TLS_PIN_MISMATCH for a refused TLS handshake.
   */
  | 'network_error'
  /** The clock offset was corrected from Wxseal-Server-Time. */
  | 'clock_corrected'
  /** Another attempt follows after `delayMs`. */
  | 'retry'
  /** The call's deadline passed. */
  | 'timeout'
  /** The caller's AbortSignal fired. */
  | 'aborted';

export interface LogEntry {
  event: LogEvent;
  method: string;
  /** The path as sent (base path included), without the query. */
  path: string;
  /** 1 for the first attempt of the call. */
  attempt: number;
  /** Milliseconds since the call began (monotonic clock). */
  durationMs: number;
  traceparent: string;
  /** The caller's request id (e.g. the cloud function's context.request_id), if given. */
  requestId?: string;
  status?: number;
  code?: string;
  /** System error code of a network failure (ECONNREFUSED, ...). */
  errno?: string;
  /** Network failures: whether any byte of the request may have been written. */
  sent?: boolean;
  delayMs?: number;
  offsetSeconds?: number;
}

export type Logger = (entry: LogEntry) => void;
