package wxseal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"

	"golang.org/x/crypto/hkdf"
)

// ResponseOKM is HKDF-SHA256(IKM = K, salt = R, info = "WXSEAL1 response", L = 44) (SPEC 6.3).
func ResponseOKM(sessionKey, responseNonce []byte) []byte {
	okm := make([]byte, 44)
	if _, err := io.ReadFull(hkdf.New(sha256.New, sessionKey, responseNonce, []byte(responseHKDFInfo)), okm); err != nil {
		panic(err)
	}
	return okm
}

// NoContentStatus: 1xx, 204 and 304 cannot carry content (SPEC 6.3).
func NoContentStatus(status int) bool {
	return status >= 100 && status < 200 || status == 204 || status == 304
}

// SealedResponse is a response sealed per SPEC 6.3.
type SealedResponse struct {
	WireStatus    int
	ResponseNonce []byte
	Plaintext     []byte
	Body          []byte
}

// SealResponse seals a handler's answer. responseNonce nil draws 32 random bytes. The suite is the
// one of the session key's length, which SPEC 6.2 and 6.6 keep apart: a 16-byte K is the SM suite's
// (HKDF-SM3, SM4-GCM), a 32-byte K the AES-256-GCM one; SealResponseSuite names it explicitly.
func SealResponse(sessionKey, responseNonce []byte, keyID, requestNonce string, status int, contentType string, body []byte) (*SealedResponse, error) {
	suite := ""
	if len(sessionKey) == smSessionKeyLen {
		suite = SuiteSM2SM4GCM
	}
	return SealResponseSuite(suite, sessionKey, responseNonce, keyID, requestNonce, status, contentType, body)
}

// SealResponseSuite seals a handler's answer under the given suite: SuiteSM2SM4GCM (SPEC 6.6) or
// any other value for the AES-256-GCM framing of 6.3 (RSA and X25519 keys).
func SealResponseSuite(suite string, sessionKey, responseNonce []byte, keyID, requestNonce string, status int, contentType string, body []byte) (*SealedResponse, error) {
	if len(sessionKey) != sessionKeyLen(suite) {
		return nil, errors.New("wxseal: the session key has the wrong length for the suite")
	}
	if responseNonce == nil {
		responseNonce = make([]byte, 32)
		if _, err := rand.Read(responseNonce); err != nil {
			return nil, err
		}
	}
	wire := status
	if NoContentStatus(status) {
		wire, body = 200, nil
	}
	key, iv, aad := responseKeyIV(suite, sessionKey, responseNonce, keyID, requestNonce, wire)
	plain := Frame(contentType, nil, body)
	ct, err := payloadSeal(suite, key, iv, aad, plain)
	if err != nil {
		return nil, err
	}
	return &SealedResponse{WireStatus: wire, ResponseNonce: responseNonce, Plaintext: plain, Body: ct}, nil
}

// OpenResponse opens a sealed response with the request's own key id, nonce and the status
// received (SPEC 6.4), in the AES-256-GCM framing of 6.3 (RSA and X25519 keys). Any failure is
// WXSEAL_RESPONSE_INVALID. OpenResponseSuite opens the SM suite's responses too.
func OpenResponse(sessionKey []byte, keyID, requestNonce string, status int, contentType, responseNonceB64u string, body []byte) (*Payload, error) {
	return OpenResponseSuite("", sessionKey, keyID, requestNonce, status, contentType, responseNonceB64u, body)
}

// OpenResponseSuite opens a sealed response of the given suite (SuiteSM2SM4GCM: HKDF-SM3, SM4-GCM
// and the WXSEAL1-SM-RESPONSE AAD of SPEC 6.6; anything else: 6.3).
func OpenResponseSuite(suite string, sessionKey []byte, keyID, requestNonce string, status int, contentType, responseNonceB64u string, body []byte) (*Payload, error) {
	invalid := func(d string) error { return &Error{Code: CodeResponseInvalid, Status: status, Detail: d} }
	if TrimSpTab(contentType) != SealedContentType {
		return nil, invalid("Content-Type is not " + SealedContentType)
	}
	r, err := B64uDecode(responseNonceB64u)
	if err != nil || len(r) != 32 {
		return nil, invalid("Wxseal-Response-Nonce is absent or not 32 bytes of strict b64u")
	}
	if len(sessionKey) != sessionKeyLen(suite) {
		return nil, invalid("the session key has the wrong length for the suite")
	}
	key, iv, aad := responseKeyIV(suite, sessionKey, r, keyID, requestNonce, status)
	plain, err := payloadOpen(suite, key, iv, aad, body)
	if err != nil {
		return nil, invalid("does not decrypt")
	}
	p, err := Unframe(plain)
	if err != nil {
		return nil, invalid("inner framing: " + err.Error())
	}
	return p, nil
}

// VerifySignedResponse checks a sign-only response (SPEC 12) in constant time.
func VerifySignedResponse(secret []byte, keyID, requestNonce string, status int, contentType string, body []byte, signature string) error {
	got, err := B64uDecode(signature)
	if err != nil || len(got) != 32 {
		return &Error{Code: CodeResponseInvalid, Status: status, Detail: "missing or malformed response signature"}
	}
	if !hmac.Equal(HMACSHA256(secret, CanonicalResponse(keyID, requestNonce, status, contentType, body)), got) {
		return &Error{Code: CodeResponseInvalid, Status: status, Detail: "response signature does not verify"}
	}
	return nil
}

// VerifyRejection reports whether a rejection is a signed rejection (SPEC 10.1) for this very
// request: Wxseal-Error names a §10 code whose status is the one received, and the signature
// over the canonical rejection string verifies (HMAC-SHA256; VerifyRejectionSuite for the SM suite).
func VerifyRejection(secret []byte, keyID, requestNonce string, status int, code, serverTime, signature string) bool {
	return VerifyRejectionSuite("", secret, keyID, requestNonce, status, code, serverTime, signature)
}

// VerifyRejectionSuite is VerifyRejection for a request of the given suite: a rejection of an SM
// suite request is signed with HMAC-SM3 over the WXSEAL1-HMAC-SM3-REJECTION string (SPEC 6.6).
func VerifyRejectionSuite(suite string, secret []byte, keyID, requestNonce string, status int, code, serverTime, signature string) bool {
	if !IsWireCode(code) || StatusOf(code) != status || serverTime == "" {
		return false
	}
	got, err := B64uDecode(signature)
	if err != nil || len(got) != 32 {
		return false
	}
	return hmac.Equal(macFor(suite, secret, rejectionFor(suite, keyID, requestNonce, status, code, serverTime)), got)
}
