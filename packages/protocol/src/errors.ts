// The one error model of wxseal, and the catalogue of the WXSEAL_ codes this package owns.
//
// This module imports nothing (no node:*, no other file), so a browser bundle can take it whole:
// the admin console imports it as `@wxseal/protocol/errors` to explain rejection codes.

/**
 * One entry of an error catalogue: what a code means, what the person who sees it should do, and
 * the HTTP status it is answered with where it has one.
 */
export interface ErrorInfo {
  /** What happened, in one sentence (English). */
  readonly meaning: string;
  /** What the user (developer, operator) should do about it. */
  readonly action: string;
  /** The HTTP status a server answers the code with, when it travels over HTTP with a fixed one. */
  readonly status?: number;
}

/**
 * A family's codes, declared once by the package that owns them: code → ErrorInfo. The code union
 * of the family is `keyof` the catalogue, so a code raised anywhere must be in it or the
 * typecheck fails; `docs/errors.md` is generated from these objects.
 */
export type ErrorCatalogue<C extends string = string> = { readonly [K in C]: ErrorInfo };

/** The HTTP status of each code of a catalogue whose every entry declares one. */
export function statusesOf<T extends { readonly [code: string]: ErrorInfo & { readonly status: number } }>(
  catalogue: T,
): { readonly [C in keyof T]: T[C]['status'] } {
  return Object.fromEntries(Object.entries(catalogue).map(([code, info]) => [code, info.status])) as { readonly [C in keyof T]: T[C]['status'] };
}

/**
 * The base of every error class of wxseal: a stable `code` (prefixed by its family: `WXSEAL_`,
 * `ADMIN_`, `DEVICE_`, …), a `message` for humans that never repeats the code, and the standard
 * `cause`. Callers branch on `code` (or the class), never on the message.
 *
 * The display form, `CODE: message`, is `toString()`: what the CLI prints and what logs show.
 */
export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  // `declare`: no field is emitted, so the property exists only when a cause was given.
  declare readonly cause?: unknown;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = 'CodedError';
    this.code = code;
    // What `new Error(message, { cause })` does (own, non-enumerable, writable), written out so the
    // class behaves the same on every runtime and under an ES2021 lib.
    if (options?.cause !== undefined) {
      Object.defineProperty(this, 'cause', { value: options.cause, writable: true, configurable: true, enumerable: false });
    }
  }

  /** `CODE: message`, the one display form of an error. */
  override toString(): string {
    return `${this.code}: ${this.message}`;
  }
}

export function isCodedError(err: unknown, code?: string): err is CodedError {
  return err instanceof CodedError && (code === undefined || err.code === code);
}

/**
 * The display form of anything thrown: `CODE: message` for a CodedError, the message of any other
 * Error, else its string form. For logs and one-line reports.
 */
export function errorText(err: unknown): string {
  if (err instanceof CodedError) return err.toString();
  if (err instanceof Error) return err.message;
  return String(err);
}

const RETRY_LATER = 'Transient: retry later (a client retries idempotent requests itself); if it lasts, check the server\'s store and its logs.';

/**
 * The rejections of SPEC.md section 10: the codes a server (or a gateway) puts in `Wxseal-Error`,
 * with the HTTP status it answers each with.
 */
export const WIRE_ERRORS = {
  WXSEAL_BODY_TOO_LARGE: {
    status: 413,
    meaning: 'The request body exceeds the server\'s size limit (in sealed mode the limit is on the ciphertext).',
    action: 'Send a smaller body, or raise the server\'s body limit (maxBodyBytes / the route\'s limit) if the size is legitimate.',
  },
  WXSEAL_UNSUPPORTED_VERSION: {
    status: 400,
    meaning: 'Wxseal-Version is not 1: the client speaks a protocol version this server does not.',
    action: 'Use a client that speaks wxseal protocol version 1.',
  },
  WXSEAL_MISSING_HEADER: {
    status: 400,
    meaning: 'A required wxseal header is absent (a proxy may have stripped it).',
    action: 'Send requests through @wxseal/client (or follow SPEC.md section 4); check that proxies pass the Wxseal-* headers through.',
  },
  WXSEAL_MALFORMED_HEADER: {
    status: 400,
    meaning: 'A header or the request target breaks its syntax, appears twice, or is not allowed in this mode.',
    action: 'Check the client\'s version and the request path (no dot-segments, %2F or backslashes); check that no proxy rewrites headers or the path.',
  },
  WXSEAL_MODE_NOT_ALLOWED: {
    status: 403,
    meaning: 'The route (or this credential) does not accept this mode (sealed or sign-only), or sealed mode was used with HEAD.',
    action: 'Call the route in a mode it accepts (see the route\'s mode in the server or gateway config).',
  },
  WXSEAL_TIMESTAMP_EXPIRED: {
    status: 401,
    meaning: 'The request\'s timestamp is older than the server\'s window.',
    action: 'Synchronise the client\'s clock (NTP); @wxseal/client corrects its offset from Wxseal-Server-Time and retries once.',
  },
  WXSEAL_TIMESTAMP_FUTURE: {
    status: 401,
    meaning: 'The request\'s timestamp is further ahead than the server\'s window.',
    action: 'Synchronise the client\'s clock (NTP); @wxseal/client corrects its offset from Wxseal-Server-Time and retries once.',
  },
  WXSEAL_UNKNOWN_KEY_ID: {
    status: 401,
    meaning: 'No credential has this key id (for a device: the serial is not provisioned, or belongs to another product).',
    action: 'Check the client\'s key id against the server\'s credentials (or the device registry); provision it if it is missing.',
  },
  WXSEAL_KEY_REVOKED: {
    status: 401,
    meaning: 'The credential exists but is revoked, or none of its secrets is valid now.',
    action: 'Issue the client a valid secret (rotate or reactivate the credential); a revoked device must be re-activated.',
  },
  WXSEAL_UNKNOWN_SERVER_KEY: {
    status: 400,
    meaning: 'The server holds no key with the Wxseal-Server-Key-Id the client encrypted to.',
    action: 'Give the client the server\'s current public key and key id (after a rotation, keep the old key until clients have moved).',
  },
  WXSEAL_BAD_SIGNATURE: {
    status: 401,
    meaning: 'The HMAC signature matches none of the credential\'s valid secrets.',
    action: 'Check that client and server hold the same secret for this key id, and that nothing on the way changes the method, path, query, headers or body.',
  },
  WXSEAL_REPLAYED_NONCE: {
    status: 401,
    meaning: 'This nonce was already accepted for this key id: a replay, or a client that reused a nonce.',
    action: 'Never resend a request as is; build a new one (@wxseal/client does). Repeated replays are worth an investigation.',
  },
  WXSEAL_UNWRAP_FAILED: {
    status: 400,
    meaning: 'The wrapped session key does not decrypt with the named server key.',
    action: 'Check that the client\'s server public key matches the server\'s private key for that key id.',
  },
  WXSEAL_DECRYPT_FAILED: {
    status: 400,
    meaning: 'The body does not decrypt (AES-GCM tag mismatch): it was altered, or encrypted for another request.',
    action: 'Check that nothing on the way alters the body (a proxy re-encoding, a truncation); send it again as a new request.',
  },
  WXSEAL_MALFORMED_PAYLOAD: {
    status: 400,
    meaning: 'The decrypted plaintext breaks the framing of SPEC.md 6.1 (meta, content type, JSON rule).',
    action: 'Use a conforming client (@wxseal/client); report the client version if it is one.',
  },
  WXSEAL_NONCE_STORE_FULL: {
    status: 503,
    meaning: 'The nonce store refuses new nonces until old ones expire.',
    action: 'Transient: retry later. Size the nonce store for the request rate times the timestamp window, or use Redis.',
  },
  WXSEAL_NONCE_STORE_UNAVAILABLE: {
    status: 503,
    meaning: 'The nonce store (Redis) cannot be reached; the request is refused, never accepted unchecked.',
    action: RETRY_LATER,
  },
  WXSEAL_NONCE_STORE_RESET: {
    status: 503,
    meaning: 'The nonce store lost its records (a restart without persistence, a failover to a replica that missed writes, a flush); for one timestamp window after the loss a request signed before it is refused, so nothing seen before the loss can be accepted again.',
    action: 'Build and send a new request (@wxseal/client retries with a fresh timestamp and nonce). Give the nonce store persistence and a failover that keeps writes (see the fleet guide).',
  },
  WXSEAL_KEY_STORE_UNAVAILABLE: {
    status: 503,
    meaning: 'The credential store (or device registry) cannot be reached.',
    action: RETRY_LATER,
  },
  WXSEAL_CREDENTIALS_STALE: {
    status: 503,
    meaning: 'This gateway instance could not confirm its view of the credentials with the shared control plane within the configured bound (controlPlane.maxStalenessMs), so it accepts none it cannot confirm (fail closed).',
    action: 'Transient: retry later (another instance may answer). Check the control-plane database and the instance\'s /readyz detail.',
  },
  WXSEAL_ROUTE_NOT_FOUND: {
    status: 404,
    meaning: 'A gateway has no route for the request path.',
    action: 'Check the path, or add a route for it to the gateway config.',
  },
  WXSEAL_TOO_MANY_HEADERS: {
    status: 431,
    meaning: 'The request has more header fields than the gateway accepts.',
    action: 'Send fewer header fields; check for a proxy that adds many.',
  },
  WXSEAL_CLIENT_CERT_REQUIRED: {
    status: 401,
    meaning: 'The route requires mutual TLS and the connection presented no client certificate.',
    action: 'Configure the client with its client certificate and key (the client SDK\'s `tls.cert` and `tls.key`).',
  },
  WXSEAL_CLIENT_CERT_INVALID: {
    status: 401,
    meaning: 'The connection\'s client certificate did not verify against the listener\'s client CA: unknown issuer, expired or not yet valid, or revoked by the CRL; the message says which.',
    action: 'Use a client certificate issued by the CA the gateway trusts and within its validity; renew an expired one.',
  },
  WXSEAL_CLIENT_CERT_MISMATCH: {
    status: 403,
    meaning: 'The request is signed with a key id bound to a client certificate, and the connection presented another certificate.',
    action: 'Use the client certificate bound to that key id (clients[].clientCertificate in the gateway config), or update the binding.',
  },
} as const satisfies ErrorCatalogue;

export type WireErrorCode = keyof typeof WIRE_ERRORS;

/** Stable codes of SPEC.md section 10, with the HTTP status a server answers each with. */
export const WIRE_ERROR_STATUS = statusesOf(WIRE_ERRORS);

/** Codes only a client raises, about the exchange it tried; they never travel on the wire. */
export const CLIENT_ERRORS = {
  WXSEAL_RESPONSE_INVALID: {
    meaning: 'The response does not authenticate (wrong key, tampered body or status, an answer to another request, a proxy\'s page), is too large, or is not the JSON asked for.',
    action: 'Check the client\'s server public key and secret, and that nothing between client and server rewrites responses; raise maxResponseBytes if the answer is legitimately large.',
  },
  WXSEAL_TIMEOUT: {
    meaning: 'The call\'s deadline passed before an answer arrived (or a cloud function had no time left for it).',
    action: 'Raise timeoutMs (or the cloud function\'s time limit), or find out why the server answers slowly.',
  },
  WXSEAL_ABORTED: {
    meaning: 'The caller\'s AbortSignal fired.',
    action: 'Nothing, if the abort was meant; otherwise find who aborts the call.',
  },
  WXSEAL_NETWORK: {
    meaning: 'The connection failed (refused, reset, DNS, TLS); `cause` holds the socket error.',
    action: 'Check the base URL, the server\'s reachability and its TLS certificate.',
  },
  WXSEAL_TLS_PIN_MISMATCH: {
    meaning: 'The server\'s TLS certificate verified, but its public key is none of the pinned ones (tls.pinnedPublicKeys); nothing was sent.',
    action: 'If the server\'s key was rotated, pin the new key (base64 SHA-256 of its SubjectPublicKeyInfo) before the rotation; otherwise something intercepts the connection.',
  },
  WXSEAL_TLS_FAILED: {
    meaning: 'The TLS handshake failed: the server certificate did not verify against the trusted CAs or the name, or the server refused the client certificate; `cause` holds the TLS error.',
    action: 'Check tls.ca (the server\'s CA), tls.servername, and the client certificate the server expects.',
  },
  WXSEAL_REMOTE_ERROR: {
    meaning: 'forwardEvent received an authenticated answer with a non-2xx status; `status` and `response` hold it.',
    action: 'Read the response (error.response) and handle the application\'s own error.',
  },
} as const satisfies ErrorCatalogue;

export type ClientErrorCode = keyof typeof CLIENT_ERRORS;

/** Codes only a client raises; they never travel on the wire. */
export const CLIENT_ERROR_CODES = Object.keys(CLIENT_ERRORS) as readonly ClientErrorCode[];

/**
 * Codes any component raises about its own setup (client, server, gateway, devices, CLI); never sent
 * on the wire, and never a client's alone.
 */
export const LOCAL_ERRORS = {
  WXSEAL_CONFIG_INVALID: {
    meaning: 'An option, config file or key given to a wxseal component is invalid; the message names it. Nothing was sent.',
    action: 'Fix the option or config the message names (for the gateway: `wxseal gateway --check <config>` lists every problem).',
  },
} as const satisfies ErrorCatalogue;

export type LocalErrorCode = keyof typeof LOCAL_ERRORS;

export const LOCAL_ERROR_CODES = Object.keys(LOCAL_ERRORS) as readonly LocalErrorCode[];

export type WxsealErrorCode = WireErrorCode | ClientErrorCode | LocalErrorCode;

export function isWireErrorCode(code: string): code is WireErrorCode {
  return Object.prototype.hasOwnProperty.call(WIRE_ERRORS, code);
}

/** The error type of the wxseal protocol: a WXSEAL_ `code`, and for wire codes the HTTP `status`. */
export class WxsealError extends CodedError<WxsealErrorCode> {
  override readonly name = 'WxsealError';
  /** HTTP status a server answers with (wire codes), or the status received (client codes). */
  readonly status: number | undefined;

  constructor(code: WxsealErrorCode, message: string, options?: { status?: number; cause?: unknown }) {
    super(code, message, options);
    this.status = options?.status ?? (isWireErrorCode(code) ? WIRE_ERRORS[code].status : undefined);
  }
}

export function isWxsealError(err: unknown, code?: WxsealErrorCode): err is WxsealError {
  return err instanceof WxsealError && (code === undefined || err.code === code);
}
