package wxseal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Secret is one client secret of a key id, with an optional validity (Unix seconds, inclusive;
// nil = unbounded) (SPEC 11).
type Secret struct {
	Key       []byte
	NotBefore *int64
	NotAfter  *int64
}

func (s Secret) validAt(now int64) bool {
	return (s.NotBefore == nil || now >= *s.NotBefore) && (s.NotAfter == nil || now <= *s.NotAfter)
}

// Credential is a key id's state: up to 4 secrets, a revoked flag, and optionally the modes it may use.
type Credential struct {
	Secrets []Secret
	Revoked bool
	// Modes, when not empty, restricts the modes this credential may use (step 4: MODE_NOT_ALLOWED).
	Modes []string
}

// CredentialStore looks up a key id. (nil, nil) means unknown; an error means the store cannot be
// reached (WXSEAL_KEY_STORE_UNAVAILABLE).
type CredentialStore interface {
	Credential(ctx context.Context, keyID string) (*Credential, error)
}

// StaticCredentials is a fixed in-memory CredentialStore.
type StaticCredentials map[string]*Credential

// Credential implements CredentialStore.
func (s StaticCredentials) Credential(_ context.Context, keyID string) (*Credential, error) {
	return s[keyID], nil
}

// Verifier checks requests in the order of SPEC 9 and stops at the first failure.
type Verifier struct {
	Credentials CredentialStore
	// ServerKeys by server key id; RSA, X25519 and SM2 keys may be mixed (rotation across suites):
	// the named key's Suite() selects the suite of steps 5-8 (SPEC 6.6).
	ServerKeys map[string]ServerKey
	Nonces     NonceStore
	// WindowSeconds is W of SPEC 8 (default 60, at most 300).
	WindowSeconds int64
	// MaxBodyBytes is the body limit of step 1 (default 1 MiB).
	MaxBodyBytes int64
	// AllowedModes for this route (default: both).
	AllowedModes []string
	// SessionKeys, when set, caches unwrapped session keys (SPEC 14).
	SessionKeys *SessionKeyCache
	// Now is the server clock (default time.Now).
	Now func() time.Time
}

// Request is what the verifier is handed: method and target as on the request line, headers
// (names in any case; a repeated header has several values) and the body as read.
type Request struct {
	Method string
	Target string
	Header map[string][]string
	Body   []byte
	// ContentLength as announced, -1 when unknown (step 1 also checks it).
	ContentLength int64
}

// Verified is an accepted request: who sent it and what it says.
type Verified struct {
	Mode        string
	KeyID       string
	Nonce       string
	Timestamp   int64
	ServerKeyID string // sealed mode
	// Identity is the WeChat identity the client asserted (SPEC 7); nil when none.
	Identity Identity
	// ContentType of the body: the inner media type (sealed) or Content-Type (sign-only); "" when absent.
	ContentType string
	// Body is the plaintext body.
	Body []byte

	secret     []byte
	sessionKey []byte
	suite      string
}

// SessionKey is the unwrapped K (sealed mode), for sealing the response.
func (v *Verified) SessionKey() []byte { return v.sessionKey }

// Suite is the named server key's suite in sealed mode (SuiteSM2SM4GCM for an SM2 key), "" in
// sign-only mode.
func (v *Verified) Suite() string { return v.suite }

// SealResponse seals the handler's answer to this verified sealed request in its own suite (SPEC
// 6.3, or 6.6 for the SM suite). responseNonce nil draws 32 random bytes.
func (v *Verified) SealResponse(responseNonce []byte, status int, contentType string, body []byte) (*SealedResponse, error) {
	return SealResponseSuite(v.suite, v.sessionKey, responseNonce, v.KeyID, v.Nonce, status, contentType, body)
}

// Secret is the client secret that matched at step 5.
func (v *Verified) Secret() []byte { return v.secret }

var protocolHeaders = []string{
	"wxseal-version", "wxseal-mode", "wxseal-key-id", "wxseal-timestamp", "wxseal-nonce", "wxseal-signature",
	"wxseal-server-key-id", "wxseal-wrapped-key", "wxseal-iv", "wxseal-identity", "content-type", "traceparent",
	"content-encoding", "content-length",
}

func isKeyID(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func isDigits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isMethod(s string) bool {
	if len(s) < 1 || len(s) > 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func isFieldText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\t' && (c < 0x20 || c > 0x7e) {
			return false
		}
	}
	return true
}

func isVisible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// asciiEqualFold compares ASCII letters case-insensitively and nothing else (not U+0131).
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 32
		}
		if y >= 'A' && y <= 'Z' {
			y += 32
		}
		if x != y {
			return false
		}
	}
	return true
}

func (v *Verifier) window() int64 {
	if v.WindowSeconds <= 0 {
		return 60
	}
	if v.WindowSeconds > 300 {
		return 300
	}
	return v.WindowSeconds
}

// BodyLimit is the step-1 limit in bytes.
func (v *Verifier) BodyLimit() int64 {
	if v.MaxBodyBytes <= 0 {
		return 1 << 20
	}
	return v.MaxBodyBytes
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) modeAllowed(mode string) bool {
	if len(v.AllowedModes) == 0 {
		return true
	}
	for _, m := range v.AllowedModes {
		if m == mode {
			return true
		}
	}
	return false
}

// Verify runs steps 1-8 of SPEC 9. On failure it returns an *Error whose ServerTime is set and,
// for a rejection raised after the signature verified, Signature (SPEC 10.1).
func (v *Verifier) Verify(ctx context.Context, req *Request) (*Verified, *Error) {
	now := v.now().Unix()
	res := &Verified{}
	out, err := v.run(ctx, req, now, res)
	if err != nil {
		err.ServerTime = strconv.FormatInt(now, 10)
		if res.secret != nil {
			// under the request's suite: HMAC-SM3 for an SM request (SPEC 6.6, 10.1)
			err.Signature = B64uEncode(macFor(res.suite, res.secret, rejectionFor(res.suite, res.KeyID, res.Nonce, err.Status, err.Code, err.ServerTime)))
		}
		return nil, err
	}
	return out, nil
}

func (v *Verifier) run(ctx context.Context, req *Request, now int64, res *Verified) (*Verified, *Error) {
	h := map[string][]string{}
	for k, vals := range req.Header {
		lk := strings.ToLower(k)
		h[lk] = append(h[lk], vals...)
	}
	one := func(name string) (string, bool) {
		vals := h[name]
		if len(vals) == 0 {
			return "", false
		}
		return vals[0], true
	}
	required := func(name string) (string, *Error) {
		s, ok := one(name)
		if !ok {
			return "", reject(CodeMissingHeader, name)
		}
		return s, nil
	}
	limit := v.BodyLimit()

	// ---- step 1: body size
	if req.ContentLength > limit {
		return nil, reject(CodeBodyTooLarge, "Content-Length over the limit")
	}
	for _, cl := range h["content-length"] {
		cl = TrimSpTab(cl)
		if isDigits(cl, 1, 19) {
			if n, err := strconv.ParseInt(cl, 10, 64); err != nil || n > limit {
				return nil, reject(CodeBodyTooLarge, "Content-Length over the limit")
			}
		}
	}
	if int64(len(req.Body)) > limit {
		return nil, reject(CodeBodyTooLarge, "body over the limit")
	}

	// ---- step 2: header syntax, in the order of SPEC 9 "Inside step 2"
	for _, name := range protocolHeaders { // 2.1
		if len(h[name]) > 1 {
			return nil, reject(CodeMalformedHeader, name+" appears more than once")
		}
	}
	version, ok := one("wxseal-version") // 2.2
	if !ok {
		return nil, reject(CodeMissingHeader, "wxseal-version")
	}
	if version != "1" {
		return nil, reject(CodeUnsupportedVersion, "unsupported version")
	}
	mode, ok := one("wxseal-mode") // 2.3
	if !ok {
		return nil, reject(CodeMissingHeader, "wxseal-mode")
	}
	if mode != ModeSealed && mode != ModeSigned {
		return nil, reject(CodeMalformedHeader, "wxseal-mode")
	}
	sealed := mode == ModeSealed
	if !isMethod(req.Method) { // 2.4
		return nil, reject(CodeMalformedHeader, "method syntax")
	}
	if !v.modeAllowed(mode) { // 2.5
		return nil, reject(CodeModeNotAllowed, "route does not accept "+mode)
	}
	if sealed && req.Method == "HEAD" {
		return nil, reject(CodeModeNotAllowed, "sealed mode with HEAD")
	}
	if p := TargetProblem(req.Target); p != "" { // 2.6
		return nil, reject(CodeMalformedHeader, p)
	}
	keyID, e := required("wxseal-key-id") // 2.7
	if e != nil {
		return nil, e
	}
	if !isKeyID(keyID) {
		return nil, reject(CodeMalformedHeader, "wxseal-key-id syntax")
	}
	ts, e := required("wxseal-timestamp")
	if e != nil {
		return nil, e
	}
	if !isDigits(ts, 1, 12) || len(ts) > 1 && ts[0] == '0' {
		return nil, reject(CodeMalformedHeader, "wxseal-timestamp syntax")
	}
	nonce, e := required("wxseal-nonce")
	if e != nil {
		return nil, e
	}
	if len(nonce) < 22 || len(nonce) > 64 || !isB64uAlphabet(nonce) {
		return nil, reject(CodeMalformedHeader, "wxseal-nonce syntax")
	}
	sigB64, e := required("wxseal-signature")
	if e != nil {
		return nil, e
	}
	if len(sigB64) != 43 {
		return nil, reject(CodeMalformedHeader, "wxseal-signature is not 43 characters")
	}
	sig, err := B64uDecode(sigB64)
	if err != nil || len(sig) != 32 {
		return nil, reject(CodeMalformedHeader, "wxseal-signature is not strict b64u of 32 bytes")
	}
	ctRaw, hasCT := one("content-type") // 2.8
	contentType := TrimSpTab(ctRaw)
	if hasCT && (len(ctRaw) > 256 || !isFieldText(ctRaw)) {
		return nil, reject(CodeMalformedHeader, "content-type syntax")
	}
	if ce, ok := one("content-encoding"); ok && !asciiEqualFold(TrimSpTab(ce), "identity") {
		return nil, reject(CodeMalformedHeader, "content-encoding must be identity")
	}
	traceparent, hasTP := one("traceparent")
	if hasTP && (len(traceparent) < 1 || len(traceparent) > 512 || !isVisible(traceparent)) {
		return nil, reject(CodeMalformedHeader, "traceparent syntax")
	}
	identityB64, hasIdentity := one("wxseal-identity") // 2.9
	var serverKeyID, wrappedB64, ivB64 string
	var wrapped, iv []byte
	if sealed {
		if hasIdentity {
			return nil, reject(CodeMalformedHeader, "wxseal-identity is not allowed in sealed mode")
		}
		if !hasCT || contentType != SealedContentType {
			return nil, reject(CodeMalformedHeader, "content-type must be "+SealedContentType)
		}
		if serverKeyID, e = required("wxseal-server-key-id"); e != nil {
			return nil, e
		}
		if !isKeyID(serverKeyID) {
			return nil, reject(CodeMalformedHeader, "wxseal-server-key-id syntax")
		}
		if wrappedB64, e = required("wxseal-wrapped-key"); e != nil {
			return nil, e
		}
		if n := len(wrappedB64); n != 107 && n != 151 && (n < 342 || n > 683) {
			return nil, reject(CodeMalformedHeader, "wxseal-wrapped-key length")
		}
		if wrapped, err = B64uDecode(wrappedB64); err != nil {
			return nil, reject(CodeMalformedHeader, "wxseal-wrapped-key is not strict b64u")
		}
		if ivB64, e = required("wxseal-iv"); e != nil {
			return nil, e
		}
		if len(ivB64) != 16 {
			return nil, reject(CodeMalformedHeader, "wxseal-iv is not 16 characters")
		}
		if iv, err = B64uDecode(ivB64); err != nil || len(iv) != 12 {
			return nil, reject(CodeMalformedHeader, "wxseal-iv is not 12 bytes")
		}
	} else {
		for _, name := range []string{"wxseal-server-key-id", "wxseal-wrapped-key", "wxseal-iv"} {
			if _, ok := one(name); ok {
				return nil, reject(CodeMalformedHeader, name+" is not allowed in sign-only mode")
			}
		}
		if hasIdentity && (len(identityB64) < 1 || len(identityB64) > 2048 || !isB64uAlphabet(identityB64)) {
			return nil, reject(CodeMalformedHeader, "wxseal-identity is not 1-2048 b64u characters")
		}
	}

	// ---- step 3: timestamp window
	t, _ := strconv.ParseInt(ts, 10, 64)
	w := v.window()
	if t < now-w {
		return nil, reject(CodeTimestampExpired, "")
	}
	if t > now+w {
		return nil, reject(CodeTimestampFuture, "")
	}

	// ---- step 4: key lookup
	if v.Credentials == nil {
		return nil, reject(CodeKeyStoreUnavailable, "no credential store")
	}
	cred, err := v.Credentials.Credential(ctx, keyID)
	if err != nil {
		var we *Error
		if errors.As(err, &we) && IsWireCode(we.Code) {
			return nil, reject(we.Code, we.Detail)
		}
		return nil, reject(CodeKeyStoreUnavailable, "credential store: "+err.Error())
	}
	if cred == nil {
		return nil, reject(CodeUnknownKeyID, "")
	}
	var valid [][]byte
	if !cred.Revoked {
		for _, s := range cred.Secrets {
			if s.validAt(now) && len(valid) < 4 {
				valid = append(valid, s.Key)
			}
		}
	}
	if len(valid) == 0 {
		return nil, reject(CodeKeyRevoked, "")
	}
	if len(cred.Modes) > 0 {
		allowed := false
		for _, m := range cred.Modes {
			allowed = allowed || m == mode
		}
		if !allowed {
			return nil, reject(CodeModeNotAllowed, "credential may not use "+mode)
		}
	}
	var serverKey ServerKey
	suite := "" // sign-only requests name no server key and stay HMAC-SHA256 (SPEC 6.6)
	if sealed {
		serverKey = v.ServerKeys[serverKeyID]
		if serverKey == nil {
			return nil, reject(CodeUnknownServerKey, "")
		}
		if len(wrapped) != serverKey.WrappedKeyLen() {
			return nil, reject(CodeMalformedHeader, "wrapped key length does not match the named server key")
		}
		// the named key's type selects the suite of steps 5-8, before any cryptography
		suite = serverKey.Suite()
	}

	// ---- step 5: HMAC (HMAC-SM3 over the SM string for an SM2 key) with every valid secret,
	// constant time, no early exit
	f := SignedFields{
		Mode: mode, Method: req.Method, Path: PathOf(req.Target), CanonicalQuery: CanonicalQuery(RawQueryOf(req.Target)),
		Timestamp: ts, Nonce: nonce, KeyID: keyID, ContentType: contentType, ServerKeyID: serverKeyID,
		WrappedKey: wrappedB64, IV: ivB64, Traceparent: traceparent, BodySHA256Hex: bodyHashHex(suite, req.Body),
	}
	if !sealed {
		f.Identity = identityB64
	}
	canonical := canonicalRequestFor(suite, &f)
	var matched []byte
	for _, s := range valid {
		if hmac.Equal(macFor(suite, s, canonical), sig) && matched == nil {
			matched = s
		}
	}
	if matched == nil {
		return nil, reject(CodeBadSignature, "")
	}
	// authentic from here on: later rejections are signed (SPEC 10.1), in the request's suite
	res.Mode, res.KeyID, res.Nonce, res.Timestamp, res.secret, res.suite = mode, keyID, nonce, t, matched, suite

	// ---- step 6: nonce check-and-set, kept until t + W
	if v.Nonces == nil {
		return nil, reject(CodeNonceStoreUnavailable, "no nonce store")
	}
	switch err := v.Nonces.Claim(ctx, NonceClaim{KeyID: keyID, Nonce: nonce, Timestamp: t, Now: now, ExpiresAt: t + w}); {
	case err == nil:
	case errors.Is(err, ErrNonceReplayed):
		return nil, reject(CodeReplayedNonce, "")
	case errors.Is(err, ErrNonceStoreFull):
		return nil, reject(CodeNonceStoreFull, "")
	case errors.Is(err, ErrNonceStoreLost):
		return nil, reject(CodeNonceStoreReset, "")
	default:
		return nil, reject(CodeNonceStoreUnavailable, err.Error())
	}

	if !sealed {
		// ---- step 8 (sign-only): the identity header
		res.Body = req.Body
		res.ContentType = contentType
		if hasIdentity {
			raw, err := B64uDecode(identityB64)
			if err != nil {
				return nil, reject(CodeMalformedHeader, "wxseal-identity is not strict b64u")
			}
			id, err := ParseIdentityJSON(raw)
			if err != nil {
				return nil, reject(CodeMalformedHeader, "wxseal-identity: "+err.Error())
			}
			res.Identity = id
		}
		return res, nil
	}

	// ---- step 7: unwrap by the type of the named key (or the session-key cache, SPEC 14)
	res.ServerKeyID = serverKeyID
	var cacheKey [32]byte
	var k []byte
	if v.SessionKeys != nil {
		hsh := sha256.New()
		hsh.Write([]byte(keyID + "\n" + serverKeyID + "\n"))
		hsh.Write(wrapped)
		copy(cacheKey[:], hsh.Sum(nil))
		k = v.SessionKeys.get(cacheKey, time.Unix(now, 0))
	}
	cached := k != nil
	if !cached {
		k, err = serverKey.Unwrap(wrapped)
		if err != nil || len(k) != sessionKeyLen(suite) {
			return nil, reject(CodeUnwrapFailed, "")
		}
	}
	res.sessionKey = k

	// ---- step 8: AES-256-GCM (SM suite: SM4-GCM) with the request AAD, then the framing of 6.1
	aad := requestAADFor(suite, req.Method, f.Path, f.CanonicalQuery, ts, nonce, keyID, serverKeyID)
	plain, err := payloadOpen(suite, k, iv, []byte(aad), req.Body)
	if err != nil {
		return nil, reject(CodeDecryptFailed, "")
	}
	p, err := Unframe(plain)
	if err != nil {
		return nil, reject(CodeMalformedPayload, err.Error())
	}
	if v.SessionKeys != nil && !cached {
		v.SessionKeys.put(cacheKey, k, time.Unix(now, 0))
	}
	res.Identity, res.ContentType, res.Body = p.Identity, p.ContentType, p.Body
	return res, nil
}
