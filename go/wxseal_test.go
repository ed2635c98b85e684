package wxseal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	wxseal "wxseal.dev/go"
)

// countingKey counts every unwrap a verifier asks of a server key.
type countingKey struct {
	wxseal.ServerKey
	unwraps atomic.Int64
}

func (k *countingKey) Unwrap(w []byte) ([]byte, error) {
	k.unwraps.Add(1)
	return k.ServerKey.Unwrap(w)
}

var (
	rsaOnce sync.Once
	rsaKey  wxseal.ServerKey
)

func serverKey(t testing.TB, suite string) wxseal.ServerKey {
	t.Helper()
	if suite == wxseal.SuiteRSAOAEP256 {
		rsaOnce.Do(func() {
			var err error
			if rsaKey, err = wxseal.GenerateServerKey(suite); err != nil {
				panic(err)
			}
		})
		return rsaKey
	}
	k, err := wxseal.GenerateServerKey(suite)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type fixture struct {
	key      *countingKey
	keyID    string
	secret   []byte
	serverID string
	verifier *wxseal.Verifier
	clock    *int64
}

func newFixture(t testing.TB, suite string) *fixture {
	sk := &countingKey{ServerKey: serverKey(t, suite)}
	secret := bytes.Repeat([]byte{7}, 32)
	now := time.Now().Unix()
	f := &fixture{key: sk, keyID: "bff-go", secret: secret, serverID: wxseal.ServerKeyIDFor(sk.Public()), clock: &now}
	f.verifier = &wxseal.Verifier{
		Credentials: wxseal.StaticCredentials{"bff-go": {Secrets: []wxseal.Secret{{Key: secret}}}},
		ServerKeys:  map[string]wxseal.ServerKey{f.serverID: sk},
		Nonces:      wxseal.NewMemoryNonceStore(1000),
		Now:         func() time.Time { return time.Unix(atomic.LoadInt64(f.clock), 0) },
	}
	return f
}

func (f *fixture) build(t testing.TB, mode string, body []byte, id wxseal.Identity) *wxseal.Request {
	t.Helper()
	b, err := wxseal.BuildRequest(wxseal.RequestInput{Mode: mode, Method: "POST", Target: "/api/orders?b=2&a=1", KeyID: f.keyID,
		Secret: f.secret, ContentType: "application/json", Identity: id, Body: body, ServerKeyID: f.serverID, ServerKey: f.key.Public()},
		atomic.LoadInt64(f.clock))
	if err != nil {
		t.Fatal(err)
	}
	h := map[string][]string{}
	for k, v := range b.Headers {
		h[k] = []string{v}
	}
	return &wxseal.Request{Method: b.Method, Target: b.Target, Header: h, Body: b.Body, ContentLength: -1}
}

var suites = []string{wxseal.SuiteRSAOAEP256, wxseal.SuiteX25519HPKE, wxseal.SuiteSM2SM4GCM}

func TestAcceptsSealedWithIdentity(t *testing.T) {
	for _, suite := range suites {
		f := newFixture(t, suite)
		id := wxseal.Identity{"openid": "o-1", "appid": "wx1", "unionid": "u-1", "env": "prod", "source": "wx_client"}
		v, rej := f.verifier.Verify(context.Background(), f.build(t, wxseal.ModeSealed, []byte(`{"a":1}`), id))
		if rej != nil {
			t.Fatalf("%s: %v", suite, rej)
		}
		if v.KeyID != "bff-go" || v.Identity.OpenID() != "o-1" || v.Identity.AppID() != "wx1" || v.Identity.UnionID() != "u-1" ||
			v.Identity.Env() != "prod" || v.Identity.Source() != "wx_client" || string(v.Body) != `{"a":1}` || v.ContentType != "application/json" {
			t.Errorf("%s: %+v", suite, v)
		}
		if f.key.unwraps.Load() != 1 {
			t.Errorf("%s: %d unwraps", suite, f.key.unwraps.Load())
		}
	}
}

// A forged request (any signed byte changed, or no valid secret) fails at step 5, before any unwrap.
func TestForgedRequestRejectedWithoutUnwrap(t *testing.T) {
	for _, suite := range suites {
		f := newFixture(t, suite)
		forgeries := map[string]func(r *wxseal.Request){
			"ciphertext": func(r *wxseal.Request) { r.Body[0] ^= 1 },
			"wrapped key": func(r *wxseal.Request) {
				w := r.Header["Wxseal-Wrapped-Key"][0]
				r.Header["Wxseal-Wrapped-Key"] = []string{flip(w)}
			},
			"iv":   func(r *wxseal.Request) { r.Header["Wxseal-Iv"] = []string{flip(r.Header["Wxseal-Iv"][0])} },
			"path": func(r *wxseal.Request) { r.Target = "/api/refunds" },
			"signature": func(r *wxseal.Request) {
				r.Header["Wxseal-Signature"] = []string{flip(r.Header["Wxseal-Signature"][0])}
			},
		}
		for name, forge := range forgeries {
			r := f.build(t, wxseal.ModeSealed, []byte("x"), nil)
			forge(r)
			_, rej := f.verifier.Verify(context.Background(), r)
			if rej == nil || rej.Code != wxseal.CodeBadSignature || rej.Status != 401 || rej.Signature != "" {
				t.Errorf("%s/%s: %v", suite, name, rej)
			}
		}
		if n := f.key.unwraps.Load(); n != 0 {
			t.Errorf("%s: %d unwraps for forged requests", suite, n)
		}
		// and the forged copies burnt no nonce: the genuine one still passes
		r := f.build(t, wxseal.ModeSealed, []byte("x"), nil)
		forged := f.build(t, wxseal.ModeSealed, []byte("x"), nil)
		forged.Header["Wxseal-Nonce"] = r.Header["Wxseal-Nonce"]
		if _, rej := f.verifier.Verify(context.Background(), forged); rej == nil || rej.Code != wxseal.CodeBadSignature {
			t.Fatalf("%s: forged copy %v", suite, rej)
		}
		if _, rej := f.verifier.Verify(context.Background(), r); rej != nil {
			t.Errorf("%s: genuine request after a forged copy of its nonce: %v", suite, rej)
		}
	}
}

// flip changes the first character of a b64u value to another one of the alphabet.
func flip(s string) string {
	c := "A"
	if s[0] == 'A' {
		c = "B"
	}
	return c + s[1:]
}

func TestReplayRefused(t *testing.T) {
	for _, suite := range []string{wxseal.SuiteX25519HPKE, wxseal.SuiteSM2SM4GCM} {
		f := newFixture(t, suite)
		r := f.build(t, wxseal.ModeSealed, []byte("x"), nil)
		if _, rej := f.verifier.Verify(context.Background(), r); rej != nil {
			t.Fatal(rej)
		}
		_, rej := f.verifier.Verify(context.Background(), r)
		if rej == nil || rej.Code != wxseal.CodeReplayedNonce || rej.Status != 401 {
			t.Fatalf("%s: replay: %v", suite, rej)
		}
		// a signed rejection (10.1): it verifies for this very request only, under the request's
		// suite (HMAC-SM3 over WXSEAL1-HMAC-SM3-REJECTION for an SM request, SPEC 6.6)
		nonce := r.Header["Wxseal-Nonce"][0]
		other := wxseal.SuiteSM2SM4GCM
		if suite == wxseal.SuiteSM2SM4GCM {
			other = wxseal.SuiteX25519HPKE
		}
		if !wxseal.VerifyRejectionSuite(suite, f.secret, f.keyID, nonce, 401, rej.Code, rej.ServerTime, rej.Signature) {
			t.Errorf("%s: the replay rejection is not signed", suite)
		}
		if wxseal.VerifyRejectionSuite(other, f.secret, f.keyID, nonce, 401, rej.Code, rej.ServerTime, rej.Signature) {
			t.Errorf("%s: the replay rejection verifies under the other suite's MAC", suite)
		}
		if f.key.unwraps.Load() != 1 {
			t.Errorf("%s: %d unwraps: the replay must not reach step 7", suite, f.key.unwraps.Load())
		}
	}
}

// Over HTTP, the Go client sees an SM replay rejection as signed (it checks HMAC-SM3).
func TestSMClientSeesSignedRejection(t *testing.T) {
	f := newFixture(t, wxseal.SuiteSM2SM4GCM)
	f.verifier.Nonces = brokenStore{}
	srv := httptest.NewServer(wxseal.Middleware(f.verifier, http.NotFoundHandler()))
	defer srv.Close()
	c := &wxseal.Client{BaseURL: srv.URL, KeyID: f.keyID, Secret: f.secret, ServerKeyID: f.serverID, ServerKey: f.key.Public()}
	_, err := c.Do(context.Background(), wxseal.Call{Method: "POST", Target: "/api/x", Body: []byte("b")})
	var we *wxseal.Error
	if !errors.As(err, &we) || we.Code != wxseal.CodeNonceStoreUnavailable || we.Status != 503 || !we.Signed {
		t.Errorf("%v (signed %v)", err, we != nil && we.Signed)
	}
}

// The wrapped key's length is the named key's (SPEC 9 step 4): 113 bytes (151 characters) for SM2.
func TestSMWrappedKeyLength(t *testing.T) {
	sm := newFixture(t, wxseal.SuiteSM2SM4GCM)
	x := newFixture(t, wxseal.SuiteX25519HPKE)
	smReq := sm.build(t, wxseal.ModeSealed, []byte("x"), nil)
	xReq := x.build(t, wxseal.ModeSealed, []byte("x"), nil)
	if n := len(smReq.Header["Wxseal-Wrapped-Key"][0]); n != 151 {
		t.Fatalf("SM wrapped key of %d characters", n)
	}
	// an X25519-sized wrapped key naming the SM2 key, and the other way round
	smReq.Header["Wxseal-Wrapped-Key"] = xReq.Header["Wxseal-Wrapped-Key"]
	xReq2 := x.build(t, wxseal.ModeSealed, []byte("x"), nil)
	xReq2.Header["Wxseal-Wrapped-Key"] = sm.build(t, wxseal.ModeSealed, []byte("x"), nil).Header["Wxseal-Wrapped-Key"]
	for name, c := range map[string]struct {
		f *fixture
		r *wxseal.Request
	}{"107 naming SM2": {sm, smReq}, "151 naming X25519": {x, xReq2}} {
		if _, rej := c.f.verifier.Verify(context.Background(), c.r); rej == nil || rej.Code != wxseal.CodeMalformedHeader || rej.Signature != "" {
			t.Errorf("%s: %v", name, rej)
		}
	}
	// 151 characters with non-zero unused bits: malformed at step 2
	r := sm.build(t, wxseal.ModeSealed, []byte("x"), nil)
	w := r.Header["Wxseal-Wrapped-Key"][0]
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", w[150])
	r.Header["Wxseal-Wrapped-Key"] = []string{w[:150] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1])}
	if _, rej := sm.verifier.Verify(context.Background(), r); rej == nil || rej.Code != wxseal.CodeMalformedHeader {
		t.Errorf("non-zero unused bits: %v", rej)
	}
	if sm.key.unwraps.Load() != 0 || x.key.unwraps.Load() != 0 {
		t.Error("unwrapped a malformed wrapped key")
	}
}

func TestExpiredAndFutureTimestamps(t *testing.T) {
	f := newFixture(t, wxseal.SuiteX25519HPKE)
	now := atomic.LoadInt64(f.clock)
	old := f.build(t, wxseal.ModeSigned, []byte("x"), nil)
	atomic.StoreInt64(f.clock, now+61)
	if _, rej := f.verifier.Verify(context.Background(), old); rej == nil || rej.Code != wxseal.CodeTimestampExpired || rej.Status != 401 || rej.ServerTime != fmt.Sprint(now+61) {
		t.Errorf("expired: %v", rej)
	}
	atomic.StoreInt64(f.clock, now-61)
	if _, rej := f.verifier.Verify(context.Background(), old); rej == nil || rej.Code != wxseal.CodeTimestampFuture {
		t.Errorf("future: %v", rej)
	}
	atomic.StoreInt64(f.clock, now+60)
	if _, rej := f.verifier.Verify(context.Background(), old); rej != nil {
		t.Errorf("edge of the window: %v", rej)
	}
}

type brokenStore struct{}

func (brokenStore) Claim(context.Context, wxseal.NonceClaim) error {
	return errors.New("connection refused")
}

func TestNonceStoreFailsClosed(t *testing.T) {
	f := newFixture(t, wxseal.SuiteX25519HPKE)
	f.verifier.Nonces = brokenStore{}
	_, rej := f.verifier.Verify(context.Background(), f.build(t, wxseal.ModeSealed, []byte("x"), nil))
	if rej == nil || rej.Code != wxseal.CodeNonceStoreUnavailable || rej.Status != 503 || rej.Signature == "" {
		t.Fatalf("%v", rej)
	}
	if f.key.unwraps.Load() != 0 {
		t.Error("unwrapped with no nonce store")
	}
}

func TestMemoryNonceStoreBoundedAndExpiring(t *testing.T) {
	s := wxseal.NewMemoryNonceStore(2)
	ctx := context.Background()
	claim := func(nonce string, now int64) error {
		return s.Claim(ctx, wxseal.NonceClaim{KeyID: "k", Nonce: nonce, Timestamp: now, Now: now, ExpiresAt: now + 60})
	}
	if claim("a", 100) != nil || claim("b", 100) != nil {
		t.Fatal("claims")
	}
	if err := claim("a", 100); !errors.Is(err, wxseal.ErrNonceReplayed) {
		t.Errorf("replay: %v", err)
	}
	if err := claim("c", 100); !errors.Is(err, wxseal.ErrNonceStoreFull) {
		t.Errorf("full: %v", err)
	}
	if err := claim("a", 160); !errors.Is(err, wxseal.ErrNonceReplayed) {
		t.Errorf("kept until t + W inclusive: %v", err)
	}
	if err := claim("c", 161); err != nil {
		t.Errorf("after expiry: %v", err)
	}
	if s.Len() != 1 {
		t.Errorf("len %d", s.Len())
	}
}

func TestSessionKeyReuse(t *testing.T) {
	for _, suite := range []string{wxseal.SuiteRSAOAEP256, wxseal.SuiteSM2SM4GCM} {
		testSessionKeyReuse(t, suite)
	}
}

func testSessionKeyReuse(t *testing.T, suite string) {
	f := newFixture(t, suite)
	f.verifier.SessionKeys = wxseal.NewSessionKeyCache(100, time.Minute)
	srv := httptest.NewServer(wxseal.Middleware(f.verifier, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})))
	defer srv.Close()
	c := &wxseal.Client{BaseURL: srv.URL, KeyID: f.keyID, Secret: f.secret, ServerKeyID: f.serverID, ServerKey: f.key.Public(),
		Reuse: &wxseal.ReusePolicy{MaxUses: 3}}
	for i := 0; i < 5; i++ {
		resp, err := c.Do(context.Background(), wxseal.Call{Method: "POST", Target: "/api/x", Body: []byte("b")})
		if err != nil || string(resp.Body) != "ok" {
			t.Fatalf("%d: %v", i, err)
		}
	}
	if n := f.key.unwraps.Load(); n != 2 {
		t.Errorf("%s: %d unwraps for 5 requests with 3 uses per key, want 2", suite, n)
	}
}

// The middleware and the client, over HTTP: both suites, both modes.
func TestMiddlewareAndClient(t *testing.T) {
	for _, suite := range suites {
		f := newFixture(t, suite)
		var seen *wxseal.Verified
		var seenBody string
		mux := http.NewServeMux()
		mux.HandleFunc("/api/echo", func(w http.ResponseWriter, r *http.Request) {
			seen, _ = wxseal.FromContext(r.Context())
			b, _ := io.ReadAll(r.Body)
			seenBody = string(b)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			_ = json.NewEncoder(w).Encode(map[string]string{"ct": r.Header.Get("Content-Type"), "openid": seen.Identity.OpenID()})
		})
		mux.HandleFunc("/api/empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
		mux.HandleFunc("/api/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
		srv := httptest.NewServer(wxseal.Middleware(f.verifier, mux))
		defer srv.Close()
		for _, mode := range []string{wxseal.ModeSealed, wxseal.ModeSigned} {
			c := &wxseal.Client{BaseURL: srv.URL, KeyID: f.keyID, Secret: f.secret, Mode: mode, ServerKeyID: f.serverID, ServerKey: f.key.Public()}
			resp, err := c.Do(context.Background(), wxseal.Call{Method: "POST", Target: "/api/echo?z=1&a=2", ContentType: "text/plain",
				Identity: wxseal.Identity{"openid": "o-42", "source": "wx_client"}, Body: []byte("hello")})
			if err != nil {
				t.Fatalf("%s/%s: %v", suite, mode, err)
			}
			if resp.Status != 201 || resp.ContentType != "application/json" || !strings.Contains(string(resp.Body), `"openid":"o-42"`) ||
				!strings.Contains(string(resp.Body), `"ct":"text/plain"`) {
				t.Errorf("%s/%s: %d %s %s", suite, mode, resp.Status, resp.ContentType, resp.Body)
			}
			if seen == nil || seen.Mode != mode || seen.KeyID != f.keyID || seenBody != "hello" || seen.Identity.Source() != "wx_client" {
				t.Errorf("%s/%s: handler saw %+v %q", suite, mode, seen, seenBody)
			}
			resp, err = c.Do(context.Background(), wxseal.Call{Method: "GET", Target: "/api/empty"})
			if err != nil || (mode == wxseal.ModeSealed && resp.Status != 200) || (mode == wxseal.ModeSigned && resp.Status != 204) || len(resp.Body) != 0 {
				t.Errorf("%s/%s: 204: %v %+v", suite, mode, err, resp)
			}
			resp, err = c.Do(context.Background(), wxseal.Call{Method: "GET", Target: "/api/panic"})
			if err != nil || resp.Status != 500 {
				t.Errorf("%s/%s: a panic is an authenticated 500: %v %+v", suite, mode, err, resp)
			}
		}
		// a client with a wrong secret: the rejection format of SPEC 10
		bad := &wxseal.Client{BaseURL: srv.URL, KeyID: f.keyID, Secret: bytes.Repeat([]byte{8}, 32), ServerKeyID: f.serverID, ServerKey: f.key.Public()}
		_, err := bad.Do(context.Background(), wxseal.Call{Method: "POST", Target: "/api/echo", Body: []byte("x")})
		var we *wxseal.Error
		if !errors.As(err, &we) || we.Code != wxseal.CodeBadSignature || we.Status != 401 || we.Signed {
			t.Errorf("%s: %v", suite, err)
		}
		res, err := http.Post(srv.URL+"/api/echo", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 || res.Header.Get("Wxseal-Error") != wxseal.CodeMissingHeader || res.Header.Get("Wxseal-Server-Time") == "" ||
			res.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(string(body), `{"error":{"code":"WXSEAL_MISSING_HEADER","message":`) {
			t.Errorf("%s: unsigned request: %d %v %s", suite, res.StatusCode, res.Header, body)
		}
		if n := f.key.unwraps.Load(); n != 3 {
			t.Errorf("%s: %d unwraps, want 3 (the sealed requests that verified)", suite, n)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	f := newFixture(t, wxseal.SuiteX25519HPKE)
	f.verifier.MaxBodyBytes = 64
	srv := httptest.NewServer(wxseal.Middleware(f.verifier, http.NotFoundHandler()))
	defer srv.Close()
	c := &wxseal.Client{BaseURL: srv.URL, KeyID: f.keyID, Secret: f.secret, ServerKeyID: f.serverID, ServerKey: f.key.Public()}
	_, err := c.Do(context.Background(), wxseal.Call{Method: "POST", Target: "/api/x", Body: bytes.Repeat([]byte("a"), 100)})
	var we *wxseal.Error
	if !errors.As(err, &we) || we.Code != wxseal.CodeBodyTooLarge || we.Status != 413 {
		t.Errorf("%v", err)
	}
}

// A client whose clock is an hour off corrects it from Wxseal-Server-Time once and succeeds.
func TestClientClockCorrection(t *testing.T) {
	f := newFixture(t, wxseal.SuiteX25519HPKE)
	srv := httptest.NewServer(wxseal.Middleware(f.verifier, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})))
	defer srv.Close()
	c := &wxseal.Client{BaseURL: srv.URL, KeyID: f.keyID, Secret: f.secret, ServerKeyID: f.serverID, ServerKey: f.key.Public(),
		Now: func() time.Time { return time.Now().Add(-time.Hour) }}
	resp, err := c.Do(context.Background(), wxseal.Call{Method: "GET", Target: "/api/x"})
	if err != nil || string(resp.Body) != "ok" {
		t.Fatalf("%v", err)
	}
	c.MaxClockCorrection = -1
	c2 := &wxseal.Client{BaseURL: srv.URL, KeyID: f.keyID, Secret: f.secret, ServerKeyID: f.serverID, ServerKey: f.key.Public(),
		Now: func() time.Time { return time.Now().Add(time.Hour) }, MaxClockCorrection: -1}
	_, err = c2.Do(context.Background(), wxseal.Call{Method: "GET", Target: "/api/x"})
	var we *wxseal.Error
	if !errors.As(err, &we) || we.Code != wxseal.CodeTimestampFuture {
		t.Errorf("without correction: %v", err)
	}
	// a body that cannot fit the server's limit is refused before sending
	c.MaxBodyBytes = 100
	_, err = c.Do(context.Background(), wxseal.Call{Method: "POST", Target: "/api/x", Body: bytes.Repeat([]byte("a"), 90)})
	if !errors.As(err, &we) || we.Code != wxseal.CodeConfigInvalid {
		t.Errorf("oversized body: %v", err)
	}
}

// Over HTTP, a repeated protocol header is WXSEAL_MALFORMED_HEADER (SPEC 4, 9 step 2.1).
func TestRepeatedHeaderOverHTTP(t *testing.T) {
	f := newFixture(t, wxseal.SuiteX25519HPKE)
	srv := httptest.NewServer(wxseal.Middleware(f.verifier, http.NotFoundHandler()))
	defer srv.Close()
	r := f.build(t, wxseal.ModeSealed, []byte("x"), nil)
	req, _ := http.NewRequest("POST", srv.URL+r.Target, bytes.NewReader(r.Body))
	for k, v := range r.Header {
		req.Header[k] = v
	}
	req.Header.Add("Wxseal-Nonce", "another-nonce-0000000000")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 || res.Header.Get("Wxseal-Error") != wxseal.CodeMalformedHeader {
		t.Errorf("%d %s", res.StatusCode, res.Header.Get("Wxseal-Error"))
	}
}

// A redirect is an authenticated answer like any other: the client returns it, never follows it.
func TestClientDoesNotFollowRedirects(t *testing.T) {
	f := newFixture(t, wxseal.SuiteX25519HPKE)
	srv := httptest.NewServer(wxseal.Middleware(f.verifier, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})))
	defer srv.Close()
	for _, mode := range []string{wxseal.ModeSealed, wxseal.ModeSigned} {
		c := &wxseal.Client{BaseURL: srv.URL, KeyID: f.keyID, Secret: f.secret, Mode: mode, ServerKeyID: f.serverID, ServerKey: f.key.Public()}
		resp, err := c.Do(context.Background(), wxseal.Call{Method: "GET", Target: "/api/x"})
		if err != nil || resp.Status != 302 || resp.Header.Get("Location") != "/elsewhere" {
			t.Errorf("%s: %v %+v", mode, err, resp)
		}
	}
}
