package wxseal

// Every case of the known-answer vectors in ../spec/vectors (SPEC 13), read at test time.

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

type obj = map[string]any

func loadVectors(t *testing.T, name string) obj {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "spec", "vectors", name))
	if err != nil {
		t.Fatalf("reading vectors: %v", err)
	}
	var o obj
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&o); err != nil {
		t.Fatal(err)
	}
	return o
}

func s(o obj, k string) string {
	v, _ := o[k].(string)
	return v
}
func m(o obj, k string) obj   { v, _ := o[k].(map[string]any); return v }
func l(o obj, k string) []any { v, _ := o[k].([]any); return v }
func n(o obj, k string) int64 {
	v, _ := o[k].(json.Number)
	i, _ := v.Int64()
	return i
}
func ub(t *testing.T, v string) []byte {
	t.Helper()
	b, err := B64uDecode(v)
	if err != nil {
		t.Fatalf("vector %q is not b64u: %v", v, err)
	}
	return b
}
func uh(t *testing.T, v string) []byte {
	t.Helper()
	b, err := hex.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
func identityOf(o obj) Identity {
	if o == nil {
		return nil
	}
	id := Identity{}
	for k, v := range o {
		id[k] = v.(string)
	}
	return id
}

func TestVectorsCanonicalQuery(t *testing.T) {
	v := loadVectors(t, "canonical-query.json")
	cases := l(v, "cases")
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		c := c.(obj)
		if got := CanonicalQuery(s(c, "rawQuery")); got != s(c, "canonical") {
			t.Errorf("%q: got %q want %q", s(c, "rawQuery"), got, s(c, "canonical"))
		}
	}
}

func TestVectorsSign(t *testing.T) {
	v := loadVectors(t, "sign.json")
	if SHA256Hex(nil) != s(v, "emptyBodySha256") {
		t.Error("empty body hash")
	}
	for _, c := range l(v, "cases") {
		c := c.(obj)
		f := m(c, "fields")
		body := ub(t, s(c, "body"))
		if SHA256Hex(body) != s(f, "bodySha256") {
			t.Errorf("%s: body hash", s(c, "description"))
		}
		if CanonicalQuery(s(f, "rawQuery")) != s(f, "canonicalQuery") {
			t.Errorf("%s: canonical query", s(c, "description"))
		}
		sf := SignedFields{Mode: s(f, "mode"), Method: s(f, "method"), Path: s(f, "path"), CanonicalQuery: CanonicalQuery(s(f, "rawQuery")),
			Timestamp: s(f, "timestamp"), Nonce: s(f, "nonce"), KeyID: s(f, "keyId"), ContentType: s(f, "contentType"),
			ServerKeyID: s(f, "serverKeyId"), WrappedKey: s(f, "wrappedKey"), IV: s(f, "iv"), Identity: s(f, "identity"),
			Traceparent: s(f, "traceparent"), BodySHA256Hex: SHA256Hex(body)}
		canon := CanonicalRequest(&sf)
		if canon != s(c, "canonical") {
			t.Errorf("%s: canonical\n got %q\nwant %q", s(c, "description"), canon, s(c, "canonical"))
		}
		if sig := B64uEncode(HMACSHA256(ub(t, s(c, "secret")), canon)); sig != s(c, "signature") {
			t.Errorf("%s: signature %s want %s", s(c, "description"), sig, s(c, "signature"))
		}
	}
}

func rsaKeys(t *testing.T) []obj {
	v := loadVectors(t, "rsa-oaep.json")
	var out []obj
	for _, k := range l(v, "keys") {
		out = append(out, k.(obj))
	}
	return out
}

func TestVectorsRSAOAEP(t *testing.T) {
	keys := rsaKeys(t)
	if len(keys) == 0 {
		t.Fatal("no keys")
	}
	for _, k := range keys {
		sk, err := ParseServerKeyPEM([]byte(s(k, "privateKeyPem")))
		if err != nil {
			t.Fatal(err)
		}
		if sk.WrappedKeyLen()*8 != int(n(k, "bits")) || sk.Suite() != SuiteRSAOAEP256 {
			t.Errorf("key of %d bits: wrapped length %d", n(k, "bits"), sk.WrappedKeyLen())
		}
		pk, err := ParseServerPublicKeyPEM([]byte(s(k, "publicKeyPem")))
		if err != nil {
			t.Fatal(err)
		}
		if ServerKeyIDFor(pk) != s(k, "serverKeyId") {
			t.Errorf("server key id %s want %s", ServerKeyIDFor(pk), s(k, "serverKeyId"))
		}
		for _, c := range l(k, "cases") {
			c := c.(obj)
			got, err := sk.Unwrap(ub(t, s(c, "wrapped")))
			if err != nil || !bytes.Equal(got, ub(t, s(c, "sessionKey"))) {
				t.Errorf("unwrap: %v", err)
			}
		}
		// and our own wrap round-trips
		w, err := pk.Wrap(make([]byte, 32))
		if err != nil || len(w) != sk.WrappedKeyLen() {
			t.Fatal("wrap", err)
		}
		if got, err := sk.Unwrap(w); err != nil || !bytes.Equal(got, make([]byte, 32)) {
			t.Error("wrap round trip", err)
		}
	}
}

func TestVectorsSealRequest(t *testing.T) {
	v := loadVectors(t, "seal-request.json")
	key := rsaKeys(t)[n(v, "serverKeyIndex")]
	sk, err := ParseServerKeyPEM([]byte(s(key, "privateKeyPem")))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range l(v, "cases") {
		c := c.(obj)
		checkSealedCase(t, c, sk, nil)
	}
}

// checkSealedCase rebuilds a sealed request vector byte for byte, then has a verifier accept it.
func checkSealedCase(t *testing.T, c obj, sk ServerKey, wrapped []byte) *BuiltRequest {
	t.Helper()
	in, exp := m(c, "input"), m(c, "expected")
	desc := s(c, "description")
	sessionKey := ub(t, s(in, "sessionKey"))
	if wrapped == nil {
		wrapped = ub(t, s(in, "wrappedKey"))
	}
	if got, err := sk.Unwrap(wrapped); err != nil || !bytes.Equal(got, sessionKey) {
		t.Fatalf("%s: the wrapped key does not unwrap to the session key: %v", desc, err)
	}
	b, err := BuildRequest(RequestInput{
		Mode: s(in, "mode"), Method: s(in, "method"), Target: s(in, "target"), KeyID: s(in, "keyId"),
		Secret: ub(t, s(in, "secret")), ContentType: s(in, "contentType"), Identity: identityOf(m(in, "identity")),
		Traceparent: s(in, "traceparent"), Body: ub(t, s(in, "body")), Timestamp: s(in, "timestamp"), Nonce: s(in, "nonce"),
		ServerKeyID: s(in, "serverKeyId"), SessionKey: sessionKey, IV: ub(t, s(in, "iv")), Wrapped: wrapped,
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.RequestAAD != s(exp, "requestAad") {
		t.Errorf("%s: AAD %q", desc, b.RequestAAD)
	}
	// The meta serialisation follows JSON.stringify, so the plaintext matches byte for byte; the
	// parsed meta is compared too (SPEC 6.1).
	wantPlain := ub(t, s(exp, "plaintext"))
	if !bytes.Equal(b.Plaintext, wantPlain) {
		t.Errorf("%s: plaintext\n got %q\nwant %q", desc, b.Plaintext, wantPlain)
	}
	p1, err1 := Unframe(b.Plaintext)
	p2, err2 := Unframe(wantPlain)
	if err1 != nil || err2 != nil || !reflect.DeepEqual(p1, p2) {
		t.Errorf("%s: parsed meta differs: %v %v", desc, err1, err2)
	}
	if !bytes.Equal(b.Body, ub(t, s(exp, "sealedBody"))) {
		t.Errorf("%s: sealed body", desc)
	}
	if SHA256Hex(b.Body) != s(exp, "bodySha256Hex") {
		t.Errorf("%s: body hash", desc)
	}
	if b.Canonical != s(exp, "canonical") {
		t.Errorf("%s: canonical\n got %q\nwant %q", desc, b.Canonical, s(exp, "canonical"))
	}
	wantHeaders := m(exp, "headers")
	if len(wantHeaders) != len(b.Headers) {
		t.Errorf("%s: %d headers, want %d", desc, len(b.Headers), len(wantHeaders))
	}
	for k, val := range b.Headers {
		if wantHeaders[strings.ToLower(k)] != val {
			t.Errorf("%s: header %s = %q, want %v", desc, k, val, wantHeaders[strings.ToLower(k)])
		}
	}
	// and a verifier accepts it, handing on the identity, content type and body
	ts := n(obj{"x": json.Number(s(in, "timestamp"))}, "x")
	ver := &Verifier{
		Credentials: StaticCredentials{s(in, "keyId"): {Secrets: []Secret{{Key: ub(t, s(in, "secret"))}}}},
		ServerKeys:  map[string]ServerKey{s(in, "serverKeyId"): sk},
		Nonces:      NewMemoryNonceStore(0),
		Now:         func() time.Time { return time.Unix(ts, 0) },
	}
	hdr := map[string][]string{}
	for k, val := range b.Headers {
		hdr[k] = []string{val}
	}
	got, rej := ver.Verify(context.Background(), &Request{Method: b.Method, Target: b.Target, Header: hdr, Body: b.Body, ContentLength: -1})
	if rej != nil {
		t.Fatalf("%s: verifier rejects: %v", desc, rej)
	}
	if !bytes.Equal(got.Body, ub(t, s(in, "body"))) || got.ContentType != s(in, "contentType") || !reflect.DeepEqual(got.Identity, identityOf(m(in, "identity"))) {
		t.Errorf("%s: verifier hands on %+v", desc, got)
	}
	return b
}

func TestVectorsResponse(t *testing.T) {
	v := loadVectors(t, "response.json")
	for _, c := range l(v, "sealed") {
		c := c.(obj)
		in, exp := m(c, "input"), m(c, "expected")
		desc := s(c, "description")
		k, r := ub(t, s(in, "sessionKey")), ub(t, s(in, "responseNonce"))
		okm := ResponseOKM(k, r)
		if hex.EncodeToString(okm) != s(exp, "okmHex") || hex.EncodeToString(okm[:32]) != s(exp, "responseKeyHex") || hex.EncodeToString(okm[32:]) != s(exp, "responseIvHex") {
			t.Errorf("%s: OKM", desc)
		}
		sr, err := SealResponse(k, r, s(in, "keyId"), s(in, "requestNonce"), int(n(in, "status")), s(in, "contentType"), ub(t, s(in, "body")))
		if err != nil {
			t.Fatal(err)
		}
		if int64(sr.WireStatus) != n(exp, "wireStatus") {
			t.Errorf("%s: wire status %d", desc, sr.WireStatus)
		}
		if ResponseAAD(s(in, "keyId"), s(in, "requestNonce"), sr.WireStatus) != s(exp, "responseAad") {
			t.Errorf("%s: AAD", desc)
		}
		if !bytes.Equal(sr.Plaintext, ub(t, s(exp, "plaintext"))) {
			t.Errorf("%s: plaintext %q", desc, sr.Plaintext)
		}
		if !bytes.Equal(sr.Body, ub(t, s(exp, "sealedBody"))) {
			t.Errorf("%s: sealed body", desc)
		}
		h := m(exp, "headers")
		if s(h, "content-type") != SealedContentType || s(h, "wxseal-response-nonce") != B64uEncode(sr.ResponseNonce) {
			t.Errorf("%s: headers", desc)
		}
		p, err := OpenResponse(k, s(in, "keyId"), s(in, "requestNonce"), int(n(exp, "wireStatus")), s(h, "content-type"), s(h, "wxseal-response-nonce"), ub(t, s(exp, "sealedBody")))
		if err != nil {
			t.Fatalf("%s: open: %v", desc, err)
		}
		wantBody := ub(t, s(in, "body"))
		if NoContentStatus(int(n(in, "status"))) {
			wantBody = nil
		}
		if !bytes.Equal(p.Body, wantBody) || p.ContentType != s(in, "contentType") {
			t.Errorf("%s: opened %+v", desc, p)
		}
	}
	for _, c := range l(v, "mustNotOpen") {
		c := c.(obj)
		_, err := OpenResponse(ub(t, s(c, "sessionKey")), s(c, "keyId"), s(c, "requestNonce"), int(n(c, "status")), SealedContentType, s(c, "responseNonce"), ub(t, s(c, "sealedBody")))
		if e, ok := err.(*Error); !ok || e.Code != CodeResponseInvalid {
			t.Errorf("%s: opened (err %v)", s(c, "description"), err)
		}
	}
	for _, c := range l(v, "signed") {
		c := c.(obj)
		in, exp := m(c, "input"), m(c, "expected")
		canon := CanonicalResponse(s(in, "keyId"), s(in, "requestNonce"), int(n(in, "status")), s(in, "contentType"), ub(t, s(in, "body")))
		if canon != s(exp, "canonical") {
			t.Errorf("%s: canonical %q", s(c, "description"), canon)
		}
		if B64uEncode(HMACSHA256(ub(t, s(in, "secret")), canon)) != s(exp, "signature") {
			t.Errorf("%s: signature", s(c, "description"))
		}
		if err := VerifySignedResponse(ub(t, s(in, "secret")), s(in, "keyId"), s(in, "requestNonce"), int(n(in, "status")), s(in, "contentType"), ub(t, s(in, "body")), s(exp, "signature")); err != nil {
			t.Errorf("%s: %v", s(c, "description"), err)
		}
	}
	for _, c := range l(v, "signedRejections") {
		c := c.(obj)
		req, resp, exp := m(c, "request"), m(c, "response"), m(c, "expected")
		h := m(resp, "headers")
		status := int(n(resp, "status"))
		canon := CanonicalRejection(s(req, "keyId"), s(req, "nonce"), status, s(h, "wxseal-error"), s(h, "wxseal-server-time"))
		if canon != s(exp, "canonical") {
			t.Errorf("%s: canonical %q", s(c, "description"), canon)
		}
		if B64uEncode(HMACSHA256(ub(t, s(req, "secret")), canon)) != s(exp, "signature") || s(h, "wxseal-signature") != s(exp, "signature") {
			t.Errorf("%s: signature", s(c, "description"))
		}
		if !VerifyRejection(ub(t, s(req, "secret")), s(req, "keyId"), s(req, "nonce"), status, s(h, "wxseal-error"), s(h, "wxseal-server-time"), s(h, "wxseal-signature")) {
			t.Errorf("%s: does not verify", s(c, "description"))
		}
		// the body is the §10 format our middleware writes
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(ub(t, s(resp, "body")), &body) != nil || body.Error.Code != s(h, "wxseal-error") || StatusOf(body.Error.Code) != status {
			t.Errorf("%s: body", s(c, "description"))
		}
	}
	for _, c := range l(v, "rejectionMustNotVerify") {
		c := c.(obj)
		req, resp := m(c, "request"), m(c, "response")
		h := m(resp, "headers")
		if VerifyRejection(ub(t, s(req, "secret")), s(req, "keyId"), s(req, "nonce"), int(n(resp, "status")), s(h, "wxseal-error"), s(h, "wxseal-server-time"), s(h, "wxseal-signature")) {
			t.Errorf("%s: verified", s(c, "description"))
		}
	}
}

func TestVectorsX25519(t *testing.T) {
	v := loadVectors(t, "x25519.json")
	hp, key := m(v, "hpke"), m(v, "serverKey")
	if n(hp, "kemId") != hpkeKEMID || n(hp, "kdfId") != hpkeKDFID || n(hp, "aeadId") != hpkeAEADID || s(hp, "info") != hpkeInfo ||
		hex.EncodeToString([]byte(hpkeInfo)) != s(hp, "infoHex") || s(hp, "aadHex") != "" || n(hp, "mode") != 0 {
		t.Error("suite ids")
	}
	skRaw := HPKEDerivePrivateKey(uh(t, s(key, "ikmHex")))
	if hex.EncodeToString(skRaw) != s(key, "privateKeyHex") {
		t.Error("DeriveKeyPair")
	}
	sk, err := ParseServerKeyPEM([]byte(s(key, "privateKeyPem")))
	if err != nil {
		t.Fatal(err)
	}
	if sk.Suite() != SuiteX25519HPKE || int64(sk.WrappedKeyLen()) != n(key, "wrappedKeyBytes") || !bytes.Equal(sk.(*x25519ServerKey).sk, skRaw) ||
		hex.EncodeToString(sk.(*x25519ServerKey).pk) != s(key, "publicKeyHex") {
		t.Error("private key PEM")
	}
	pk, err := ParseServerPublicKeyPEM([]byte(s(key, "publicKeyPem")))
	if err != nil {
		t.Fatal(err)
	}
	if ServerKeyIDFor(pk) != s(key, "serverKeyId") {
		t.Errorf("server key id %s", ServerKeyIDFor(pk))
	}
	pkRaw := uh(t, s(key, "publicKeyHex"))
	checkWrap := func(w obj, desc string) []byte {
		eph := uh(t, s(w, "ephemeralPrivateKeyHex"))
		if s(w, "ephemeralIkmHex") != "" && !bytes.Equal(HPKEDerivePrivateKey(uh(t, s(w, "ephemeralIkmHex"))), eph) {
			t.Errorf("%s: ephemeral DeriveKeyPair", desc)
		}
		wrapped, ctx, err := hpkeSeal(pkRaw, eph, ub(t, s(w, "sessionKey")))
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(wrapped[:32]) != s(w, "encHex") || hex.EncodeToString(ctx.sharedSecret) != s(w, "sharedSecretHex") ||
			hex.EncodeToString(ctx.keyScheduleContext) != s(w, "keyScheduleContextHex") || hex.EncodeToString(ctx.key) != s(w, "keyHex") ||
			hex.EncodeToString(ctx.baseNonce) != s(w, "baseNonceHex") || B64uEncode(wrapped) != s(w, "wrapped") {
			t.Errorf("%s: wrap differs", desc)
		}
		if got, err := sk.Unwrap(ub(t, s(w, "wrapped"))); err != nil || !bytes.Equal(got, ub(t, s(w, "sessionKey"))) {
			t.Errorf("%s: unwrap: %v", desc, err)
		}
		return wrapped
	}
	wraps := l(v, "wraps")
	if len(wraps) == 0 {
		t.Fatal("no wraps")
	}
	for i, w := range wraps {
		checkWrap(w.(obj), "wraps["+string(rune('0'+i))+"]")
	}
	for _, c := range l(v, "sealed") {
		c := c.(obj)
		in := m(c, "input")
		w := m(in, "wrap")
		wrapped := checkWrap(w, s(c, "description"))
		in["sessionKey"] = s(w, "sessionKey")
		b := checkSealedCase(t, c, sk, wrapped)
		// its sealed response
		r := m(c, "response")
		rin, rexp := m(r, "input"), m(r, "expected")
		sr, err := SealResponse(b.SessionKey, ub(t, s(rin, "responseNonce")), s(in, "keyId"), s(in, "nonce"), int(n(rin, "status")), s(rin, "contentType"), ub(t, s(rin, "body")))
		if err != nil {
			t.Fatal(err)
		}
		if int64(sr.WireStatus) != n(rexp, "wireStatus") || !bytes.Equal(sr.Body, ub(t, s(rexp, "sealedBody"))) ||
			s(m(rexp, "headers"), "wxseal-response-nonce") != B64uEncode(sr.ResponseNonce) || s(m(rexp, "headers"), "content-type") != SealedContentType {
			t.Errorf("%s: sealed response differs", s(c, "description"))
		}
	}
	failures := l(v, "unwrapFailures")
	if len(failures) == 0 {
		t.Fatal("no unwrap failures")
	}
	for _, f := range failures {
		f := f.(obj)
		if got, err := sk.Unwrap(ub(t, s(f, "wrapped"))); err == nil && len(got) == 32 {
			t.Errorf("%s: unwrapped", s(f, "description"))
		}
	}
}

func TestVectorsReject(t *testing.T) {
	v := loadVectors(t, "reject.json")
	key := rsaKeys(t)[n(v, "serverKeyIndex")]
	sk, err := ParseServerKeyPEM([]byte(s(key, "privateKeyPem")))
	if err != nil {
		t.Fatal(err)
	}
	toReq := func(r obj) *Request {
		h := map[string][]string{}
		for k, val := range m(r, "headers") {
			switch x := val.(type) {
			case string:
				h[k] = append(h[k], x)
			case []any:
				for _, y := range x {
					h[k] = append(h[k], y.(string))
				}
			}
		}
		return &Request{Method: s(r, "method"), Target: s(r, "target"), Header: h, Body: ub(t, s(r, "body")), ContentLength: -1}
	}
	cases := l(v, "cases")
	if len(cases) < 90 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		c := c.(obj)
		desc := s(c, "description")
		now := n(c, "now")
		ver := &Verifier{
			Credentials: StaticCredentials{s(v, "keyId"): {Secrets: []Secret{{Key: ub(t, s(v, "secret"))}}}},
			ServerKeys:  map[string]ServerKey{s(key, "serverKeyId"): sk},
			Nonces:      NewMemoryNonceStore(0),
			Now:         func() time.Time { return time.Unix(now, 0) },
		}
		if mb, ok := c["maxBodyBytes"]; ok {
			ver.MaxBodyBytes = n(obj{"x": mb}, "x")
		}
		for _, mode := range l(c, "allowedModes") {
			ver.AllowedModes = append(ver.AllowedModes, mode.(string))
		}
		ctx := context.Background()
		if pre := m(c, "precededBy"); pre != nil {
			if _, rej := ver.Verify(ctx, toReq(pre)); rej != nil {
				t.Errorf("%s: the preceding request was refused: %v", desc, rej)
			}
		}
		if c["sendTwice"] == true {
			if _, rej := ver.Verify(ctx, toReq(m(c, "request"))); rej != nil {
				t.Errorf("%s: first send refused: %v", desc, rej)
			}
		}
		got, rej := ver.Verify(ctx, toReq(m(c, "request")))
		want, _ := c["expectedCode"].(string)
		if want == "" {
			if rej != nil {
				t.Errorf("%s: refused %v", desc, rej)
				continue
			}
			if ei, ok := c["expectedIdentity"]; ok {
				wantID := identityOf(ei.(obj))
				gotID := got.Identity
				if gotID == nil {
					gotID = Identity{}
				}
				if !reflect.DeepEqual(gotID, wantID) {
					t.Errorf("%s: identity %q want %q", desc, gotID, wantID)
				}
			}
			if ect, ok := c["expectedContentType"]; ok {
				w, _ := ect.(string)
				if got.ContentType != w {
					t.Errorf("%s: content type %q want %q", desc, got.ContentType, w)
				}
			}
			continue
		}
		if rej == nil {
			t.Errorf("%s: accepted, want %s", desc, want)
			continue
		}
		if rej.Code != want || rej.Status != StatusOf(want) || rej.ServerTime == "" {
			t.Errorf("%s: got %v want %s", desc, rej, want)
		}
	}
}
