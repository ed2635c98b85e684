package wxseal

import "fmt"

// Error codes of SPEC §10 (sent on the wire in Wxseal-Error) and the client-only codes.
const (
	CodeBodyTooLarge          = "WXSEAL_BODY_TOO_LARGE"
	CodeUnsupportedVersion    = "WXSEAL_UNSUPPORTED_VERSION"
	CodeMissingHeader         = "WXSEAL_MISSING_HEADER"
	CodeMalformedHeader       = "WXSEAL_MALFORMED_HEADER"
	CodeModeNotAllowed        = "WXSEAL_MODE_NOT_ALLOWED"
	CodeTimestampExpired      = "WXSEAL_TIMESTAMP_EXPIRED"
	CodeTimestampFuture       = "WXSEAL_TIMESTAMP_FUTURE"
	CodeUnknownKeyID          = "WXSEAL_UNKNOWN_KEY_ID"
	CodeKeyRevoked            = "WXSEAL_KEY_REVOKED"
	CodeUnknownServerKey      = "WXSEAL_UNKNOWN_SERVER_KEY"
	CodeBadSignature          = "WXSEAL_BAD_SIGNATURE"
	CodeReplayedNonce         = "WXSEAL_REPLAYED_NONCE"
	CodeUnwrapFailed          = "WXSEAL_UNWRAP_FAILED"
	CodeDecryptFailed         = "WXSEAL_DECRYPT_FAILED"
	CodeMalformedPayload      = "WXSEAL_MALFORMED_PAYLOAD"
	CodeNonceStoreFull        = "WXSEAL_NONCE_STORE_FULL"
	CodeNonceStoreUnavailable = "WXSEAL_NONCE_STORE_UNAVAILABLE"
	CodeNonceStoreReset       = "WXSEAL_NONCE_STORE_RESET"
	CodeKeyStoreUnavailable   = "WXSEAL_KEY_STORE_UNAVAILABLE"
	CodeCredentialsStale      = "WXSEAL_CREDENTIALS_STALE"
	CodeRouteNotFound         = "WXSEAL_ROUTE_NOT_FOUND"
	CodeTooManyHeaders        = "WXSEAL_TOO_MANY_HEADERS"

	// Client-only codes: never sent on the wire.
	CodeResponseInvalid = "WXSEAL_RESPONSE_INVALID"
	CodeNetwork         = "WXSEAL_NETWORK"
	CodeTimeout         = "WXSEAL_TIMEOUT"
	CodeConfigInvalid   = "WXSEAL_CONFIG_INVALID"
	CodeRemoteError     = "WXSEAL_REMOTE_ERROR"
)

var wireStatus = map[string]int{
	CodeBodyTooLarge: 413, CodeUnsupportedVersion: 400, CodeMissingHeader: 400, CodeMalformedHeader: 400,
	CodeModeNotAllowed: 403, CodeTimestampExpired: 401, CodeTimestampFuture: 401, CodeUnknownKeyID: 401,
	CodeKeyRevoked: 401, CodeUnknownServerKey: 400, CodeBadSignature: 401, CodeReplayedNonce: 401,
	CodeUnwrapFailed: 400, CodeDecryptFailed: 400, CodeMalformedPayload: 400, CodeNonceStoreFull: 503,
	CodeNonceStoreUnavailable: 503, CodeNonceStoreReset: 503, CodeKeyStoreUnavailable: 503,
	CodeCredentialsStale: 503, CodeRouteNotFound: 404, CodeTooManyHeaders: 431,
}

var messages = map[string]string{
	CodeBodyTooLarge:          "the body exceeds the limit",
	CodeUnsupportedVersion:    "Wxseal-Version is not 1",
	CodeMissingHeader:         "a required header is absent",
	CodeMalformedHeader:       "a header or the request target breaks its syntax",
	CodeModeNotAllowed:        "the route does not accept this mode",
	CodeTimestampExpired:      "the timestamp is older than the window",
	CodeTimestampFuture:       "the timestamp is further ahead than the window",
	CodeUnknownKeyID:          "no credential has this key id",
	CodeKeyRevoked:            "the credential is revoked or not valid now",
	CodeUnknownServerKey:      "the server holds no key with this server key id",
	CodeBadSignature:          "the signature does not match",
	CodeReplayedNonce:         "this nonce was already accepted for this key id",
	CodeUnwrapFailed:          "the wrapped key does not decrypt with the named server key",
	CodeDecryptFailed:         "the body does not decrypt",
	CodeMalformedPayload:      "the decrypted plaintext breaks the framing",
	CodeNonceStoreFull:        "the nonce store refuses new nonces until old ones expire",
	CodeNonceStoreUnavailable: "the nonce store cannot be reached",
	CodeNonceStoreReset:       "the nonce store lost its records after the request was signed; send a new request",
	CodeKeyStoreUnavailable:   "the credential store cannot be reached",
	CodeCredentialsStale:      "the server cannot confirm its view of the credentials",
}

// IsWireCode reports whether code is one of the codes of SPEC §10 (a verifier rejection).
func IsWireCode(code string) bool { _, ok := wireStatus[code]; return ok }

// StatusOf is the HTTP status of a §10 code (0 for a code that is not sent on the wire).
func StatusOf(code string) int { return wireStatus[code] }

// Error is a wxseal failure: a verifier rejection (Status and the §10 code), or a client-side
// failure (client-only codes, Status 0 unless a response was received).
type Error struct {
	Code   string
	Status int
	// Detail is for logs; it is never sent on the wire (messages never echo secrets or plaintext).
	Detail string
	// ServerTime is the Wxseal-Server-Time of a rejection (Unix seconds, decimal).
	ServerTime string
	// Signature is the Wxseal-Signature of a signed rejection (SPEC 10.1), empty when unsigned.
	Signature string
	// Signed, on the client side: the rejection's signature verified for this very request.
	Signed bool
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Detail)
	}
	return fmt.Sprintf("%s (%d)", e.Code, e.Status)
}

// Message is the text for humans sent in the rejection body.
func (e *Error) Message() string {
	if m, ok := messages[e.Code]; ok {
		return m
	}
	return e.Code
}

func reject(code, detail string) *Error {
	return &Error{Code: code, Status: wireStatus[code], Detail: detail}
}
