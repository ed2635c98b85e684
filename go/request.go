package wxseal

import (
	"crypto/rand"
	"errors"
	"strconv"
)

// RequestInput describes one request to build (SPEC 5, 6.2). Zero values draw what the protocol
// wants fresh: Timestamp (now), Nonce (16 random bytes), SessionKey (32 random bytes, 16 for the SM
// suite), IV (12).
type RequestInput struct {
	Mode        string // ModeSealed (default) or ModeSigned
	Method      string
	Target      string // path and query as sent on the request line
	KeyID       string
	Secret      []byte
	ContentType string   // the body's media type ("" = none)
	Identity    Identity // nil = none
	Traceparent string
	Body        []byte

	Timestamp string
	Nonce     string

	// Sealed mode.
	ServerKeyID string
	ServerKey   ServerPublicKey
	SessionKey  []byte
	IV          []byte
	// Wrapped, when set, is used as the wrapped session key (vectors; session-key reuse).
	Wrapped []byte
	// Suite of the sealed mode when ServerKey is nil (Wrapped given); otherwise ServerKey.Suite()
	// decides. SuiteSM2SM4GCM selects the SM suite (SPEC 6.6); anything else the AES-256-GCM one.
	Suite string
}

// BuiltRequest is a request ready to send: its headers and body, and what the client keeps to
// open the answer.
type BuiltRequest struct {
	Method, Target string
	Headers        map[string]string
	Body           []byte
	Canonical      string
	RequestAAD     string
	Plaintext      []byte
	KeyID, Nonce   string
	SessionKey     []byte
	// Suite is the sealed suite (SuiteSM2SM4GCM or the server key's suite); "" in sign-only mode.
	Suite string
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	_, err := rand.Read(b)
	return b, err
}

// NewNonce is b64u of 16 bytes from the CSPRNG (22 characters).
func NewNonce() (string, error) {
	b, err := randomBytes(16)
	return B64uEncode(b), err
}

// BuildRequest signs (and in sealed mode seals) a request.
func BuildRequest(in RequestInput, nowUnix int64) (*BuiltRequest, error) {
	var err error
	mode := in.Mode
	if mode == "" {
		mode = ModeSealed
	}
	if in.Timestamp == "" {
		in.Timestamp = strconv.FormatInt(nowUnix, 10)
	}
	if in.Nonce == "" {
		if in.Nonce, err = NewNonce(); err != nil {
			return nil, err
		}
	}
	if TargetProblem(in.Target) != "" {
		return nil, &Error{Code: CodeConfigInvalid, Detail: "request target: " + TargetProblem(in.Target)}
	}
	path, cq := PathOf(in.Target), CanonicalQuery(RawQueryOf(in.Target))
	b := &BuiltRequest{Method: in.Method, Target: in.Target, Headers: map[string]string{}, KeyID: in.KeyID, Nonce: in.Nonce}
	f := SignedFields{Mode: mode, Method: in.Method, Path: path, CanonicalQuery: cq, Timestamp: in.Timestamp,
		Nonce: in.Nonce, KeyID: in.KeyID, Traceparent: in.Traceparent}
	h := b.Headers
	h["Wxseal-Version"] = "1"
	h["Wxseal-Mode"] = mode
	h["Wxseal-Key-Id"] = in.KeyID
	h["Wxseal-Timestamp"] = in.Timestamp
	h["Wxseal-Nonce"] = in.Nonce
	if in.Traceparent != "" {
		h["Traceparent"] = in.Traceparent
	}
	switch mode {
	case ModeSealed:
		if in.Method == "HEAD" {
			return nil, &Error{Code: CodeConfigInvalid, Detail: "sealed mode cannot be used with HEAD"}
		}
		suite := in.Suite
		if in.ServerKey != nil {
			suite = in.ServerKey.Suite()
		}
		k := in.SessionKey
		if k == nil {
			if k, err = randomBytes(sessionKeyLen(suite)); err != nil {
				return nil, err
			}
		}
		if len(k) != sessionKeyLen(suite) {
			return nil, &Error{Code: CodeConfigInvalid, Detail: "the session key has the wrong length for the suite"}
		}
		iv := in.IV
		if iv == nil {
			if iv, err = randomBytes(12); err != nil {
				return nil, err
			}
		}
		wrapped := in.Wrapped
		if wrapped == nil {
			if in.ServerKey == nil {
				return nil, &Error{Code: CodeConfigInvalid, Detail: "no server public key"}
			}
			if wrapped, err = in.ServerKey.Wrap(k); err != nil {
				return nil, err
			}
		}
		b.SessionKey, b.Suite = k, suite
		b.RequestAAD = requestAADFor(suite, in.Method, path, cq, in.Timestamp, in.Nonce, in.KeyID, in.ServerKeyID)
		b.Plaintext = Frame(in.ContentType, in.Identity, in.Body)
		if b.Body, err = payloadSeal(suite, k, iv, []byte(b.RequestAAD), b.Plaintext); err != nil {
			return nil, err
		}
		f.ContentType = SealedContentType
		f.ServerKeyID = in.ServerKeyID
		f.WrappedKey = B64uEncode(wrapped)
		f.IV = B64uEncode(iv)
		h["Content-Type"] = SealedContentType
		h["Wxseal-Server-Key-Id"] = in.ServerKeyID
		h["Wxseal-Wrapped-Key"] = f.WrappedKey
		h["Wxseal-Iv"] = f.IV
	case ModeSigned:
		b.Body = in.Body
		f.ContentType = TrimSpTab(in.ContentType)
		if in.ContentType != "" {
			h["Content-Type"] = in.ContentType
		}
		if in.Identity != nil {
			f.Identity = B64uEncode(MetaIdentityJSON(in.Identity))
			h["Wxseal-Identity"] = f.Identity
		}
	default:
		return nil, errors.New("wxseal: unknown mode " + mode)
	}
	// the SM suite hashes, builds and signs with SM3 (SPEC 6.6); sign-only mode stays SHA-256
	f.BodySHA256Hex = bodyHashHex(b.Suite, b.Body)
	b.Canonical = canonicalRequestFor(b.Suite, &f)
	h["Wxseal-Signature"] = B64uEncode(macFor(b.Suite, in.Secret, b.Canonical))
	return b, nil
}

// MetaIdentityJSON is the identity object alone, serialised as the reference does.
func MetaIdentityJSON(id Identity) []byte {
	m := MetaJSON("", id) // {"identity":{...}}
	return m[len(`{"identity":`) : len(m)-1]
}
