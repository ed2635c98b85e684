package wxseal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"

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

// SealResponse seals a handler's answer. responseNonce nil draws 32 random bytes.
func SealResponse(sessionKey, responseNonce []byte, keyID, requestNonce string, status int, contentType string, body []byte) (*SealedResponse, error) {
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
	okm := ResponseOKM(sessionKey, responseNonce)
	plain := Frame(contentType, nil, body)
	ct, err := aesGCMSeal(okm[:32], okm[32:44], []byte(ResponseAAD(keyID, requestNonce, wire)), plain)
	if err != nil {
		return nil, err
	}
	return &SealedResponse{WireStatus: wire, ResponseNonce: responseNonce, Plaintext: plain, Body: ct}, nil
}

// OpenResponse opens a sealed response with the request's own key id, nonce and the status
// received (SPEC 6.4). Any failure is WXSEAL_RESPONSE_INVALID.
func OpenResponse(sessionKey []byte, keyID, requestNonce string, status int, contentType, responseNonceB64u string, body []byte) (*Payload, error) {
	invalid := func(d string) error { return &Error{Code: CodeResponseInvalid, Status: status, Detail: d} }
	if TrimSpTab(contentType) != SealedContentType {
		return nil, invalid("Content-Type is not " + SealedContentType)
	}
	r, err := B64uDecode(responseNonceB64u)
	if err != nil || len(r) != 32 {
		return nil, invalid("Wxseal-Response-Nonce is absent or not 32 bytes of strict b64u")
	}
	okm := ResponseOKM(sessionKey, r)
	plain, err := aesGCMOpen(okm[:32], okm[32:44], []byte(ResponseAAD(keyID, requestNonce, status)), body)
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
// over the canonical rejection string verifies.
func VerifyRejection(secret []byte, keyID, requestNonce string, status int, code, serverTime, signature string) bool {
	if !IsWireCode(code) || StatusOf(code) != status || serverTime == "" {
		return false
	}
	got, err := B64uDecode(signature)
	if err != nil || len(got) != 32 {
		return false
	}
	return hmac.Equal(HMACSHA256(secret, CanonicalRejection(keyID, requestNonce, status, code, serverTime)), got)
}
