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
	checkBuiltRequest(t, desc, b, exp, SHA256Hex(b.Body), "bodySha256Hex")
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

// smCountingKey counts the unwraps a verifier asks of the SM vectors' server key.
type smCountingKey struct {
	ServerKey
	unwraps int
}

func (k *smCountingKey) Unwrap(w []byte) ([]byte, error) {
	k.unwraps++
	return k.ServerKey.Unwrap(w)
}

// TestVectorsSM checks every case of sm.json (SPEC 6.6): the labels, the primitives' known
// answers, the server key in each of its forms, the fixed SM2 ciphertexts, the sealed requests
// and responses byte for byte, the signed rejection, the unwrap failures and the forged signature.
func TestVectorsSM(t *testing.T) {
	v := loadVectors(t, "sm.json")
	counts := map[string]int{}

	lab := m(v, "labels")
	if s(lab, "request") != smCanonicalLabel || s(lab, "requestAad") != smRequestAADLabel || s(lab, "responseAad") != smResponseAADLabel ||
		s(lab, "responseHkdfInfo") != smResponseHKDFInfo || s(lab, "rejection") != smRejectionLabel {
		t.Errorf("labels %v", lab)
	}

	// ---- primitives
	pr := m(v, "primitives")
	for _, c := range l(pr, "sm3") {
		c := c.(obj)
		if SM3Hex([]byte(s(c, "message"))) != s(c, "digestHex") {
			t.Errorf("SM3(%q)", s(c, "message"))
		}
		counts["sm3"]++
	}
	for _, c := range l(pr, "hmacSm3") {
		c := c.(obj)
		if hex.EncodeToString(HMACSM3(uh(t, s(c, "keyHex")), s(c, "message"))) != s(c, "macHex") {
			t.Errorf("HMAC-SM3(%q)", s(c, "message"))
		}
		counts["hmacSm3"]++
	}
	for _, c := range l(pr, "hkdfSm3") {
		c := c.(obj)
		okm, err := HKDFSM3(uh(t, s(c, "ikmHex")), uh(t, s(c, "saltHex")), []byte(s(c, "info")), int(n(c, "length")))
		if err != nil || hex.EncodeToString(okm) != s(c, "okmHex") {
			t.Errorf("HKDF-SM3: %x %v", okm, err)
		}
		if s(c, "info") == smResponseHKDFInfo && n(c, "length") == 28 && hex.EncodeToString(ResponseOKMSM(uh(t, s(c, "ikmHex")), uh(t, s(c, "saltHex")))) != s(c, "okmHex") {
			t.Error("ResponseOKMSM")
		}
		counts["hkdfSm3"]++
	}
	for _, c := range l(pr, "sm4Gcm") {
		c := c.(obj)
		key, iv, aad, pt := uh(t, s(c, "keyHex")), uh(t, s(c, "ivHex")), uh(t, s(c, "aadHex")), uh(t, s(c, "plaintextHex"))
		want := append(uh(t, s(c, "ciphertextHex")), uh(t, s(c, "tagHex"))...)
		got, err := SM4GCMSeal(key, iv, aad, pt)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("SM4-GCM (%s): %x %v", s(c, "source"), got, err)
		}
		if back, err := SM4GCMOpen(key, iv, aad, want); err != nil || !bytes.Equal(back, pt) {
			t.Errorf("SM4-GCM open (%s): %v", s(c, "source"), err)
		}
		bad := append([]byte(nil), want...)
		bad[len(bad)-1] ^= 1
		if _, err := SM4GCMOpen(key, iv, aad, bad); err == nil {
			t.Errorf("SM4-GCM (%s): a changed tag opens", s(c, "source"))
		}
		counts["sm4Gcm"]++
	}

	// ---- the server key, in every form
	key := m(v, "serverKey")
	var sk ServerKey
	for _, form := range []string{"privateKeyPem", "privateKeyText"} {
		k, err := ParseServerKeyPEM([]byte(s(key, form)))
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		if k.Suite() != SuiteSM2SM4GCM || int64(k.WrappedKeyLen()) != n(key, "wrappedKeyBytes") || hex.EncodeToString(SM2PrivateScalar(k)) != s(key, "privateKeyHex") ||
			hex.EncodeToString(k.Public().SPKI()) != s(key, "spkiDerHex") || ServerKeyIDFor(k.Public()) != s(key, "serverKeyId") {
			t.Errorf("%s: parsed key differs", form)
		}
		sk = k
		counts["privateKeyForms"]++
	}
	if pemOut, err := SM2PrivateKeyPEM(sk); err != nil || string(pemOut) != s(key, "privateKeyPem") {
		t.Errorf("PKCS#8 PEM as OpenSSL writes it:\n%s", pemOut)
	}
	for _, form := range []string{"publicKeyPem", "publicKeyText"} {
		pk, err := ParseServerPublicKeyPEM([]byte(s(key, form)))
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		if pk.Suite() != SuiteSM2SM4GCM || hex.EncodeToString(pk.SPKI()) != s(key, "spkiDerHex") || ServerKeyIDFor(pk) != s(key, "serverKeyId") ||
			hex.EncodeToString(pk.(*sm2PublicKey).Point()) != s(key, "publicKeyHex") {
			t.Errorf("%s: parsed public key differs", form)
		}
		counts["publicKeyForms"]++
	}
	if string(PublicKeyPEM(sk.Public())) != s(key, "publicKeyPem") {
		t.Errorf("SPKI PEM %s", PublicKeyPEM(sk.Public()))
	}

	// ---- the fixed SM2 ciphertexts
	wraps := l(v, "wraps")
	if len(wraps) == 0 {
		t.Fatal("no wraps")
	}
	for i, w := range wraps {
		w := w.(obj)
		wrapped := ub(t, s(w, "wrapped"))
		if len(wrapped) != SM2Wrapped || len(s(w, "wrapped")) != 151 {
			t.Errorf("wraps[%d]: %d bytes", i, len(wrapped))
		}
		if got, err := sk.Unwrap(wrapped); err != nil || !bytes.Equal(got, ub(t, s(w, "sessionKey"))) {
			t.Errorf("wraps[%d]: unwrap %x %v", i, got, err)
		}
		counts["wraps"]++
	}
	// a ciphertext for another SM2 key does not decrypt with this one
	if _, err := sk.Unwrap(ub(t, s(m(v, "otherKeyWrap"), "wrapped"))); err == nil {
		t.Error("otherKeyWrap unwrapped with the vectors' key")
	}
	counts["otherKeyWrap"]++
	// and our own wrap: 113 bytes, 04 first, new every time, unwraps back
	w1, err1 := sk.Public().Wrap(ub(t, s(wraps[0].(obj), "sessionKey")))
	w2, err2 := sk.Public().Wrap(ub(t, s(wraps[0].(obj), "sessionKey")))
	if err1 != nil || err2 != nil || len(w1) != SM2Wrapped || w1[0] != 4 || bytes.Equal(w1, w2) {
		t.Errorf("wrap: %v %v", err1, err2)
	}
	if got, err := sk.Unwrap(w1); err != nil || !bytes.Equal(got, ub(t, s(wraps[0].(obj), "sessionKey"))) {
		t.Errorf("wrap round trip: %v", err)
	}

	verifierAt := func(in obj, now int64, key ServerKey) *Verifier {
		return &Verifier{
			Credentials: StaticCredentials{s(in, "keyId"): {Secrets: []Secret{{Key: ub(t, s(in, "secret"))}}}},
			ServerKeys:  map[string]ServerKey{s(in, "serverKeyId"): key},
			Nonces:      NewMemoryNonceStore(0),
			Now:         func() time.Time { return time.Unix(now, 0) },
		}
	}
	toRequest := func(b *BuiltRequest) *Request {
		hdr := map[string][]string{}
		for k, val := range b.Headers {
			hdr[k] = []string{val}
		}
		return &Request{Method: b.Method, Target: b.Target, Header: hdr, Body: append([]byte(nil), b.Body...), ContentLength: -1}
	}
	tsOf := func(in obj) int64 { return n(obj{"x": json.Number(s(in, "timestamp"))}, "x") }
	buildSM := func(in obj, wrapped []byte) *BuiltRequest {
		t.Helper()
		b, err := BuildRequest(RequestInput{
			Mode: s(in, "mode"), Method: s(in, "method"), Target: s(in, "target"), KeyID: s(in, "keyId"),
			Secret: ub(t, s(in, "secret")), ContentType: s(in, "contentType"), Identity: identityOf(m(in, "identity")),
			Traceparent: s(in, "traceparent"), Body: ub(t, s(in, "body")), Timestamp: s(in, "timestamp"), Nonce: s(in, "nonce"),
			ServerKeyID: s(in, "serverKeyId"), SessionKey: ub(t, s(in, "sessionKey")), IV: ub(t, s(in, "iv")), Wrapped: wrapped,
			Suite: SuiteSM2SM4GCM,
		}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// ---- sealed requests and their responses, byte for byte
	sealed := l(v, "sealed")
	if len(sealed) == 0 {
		t.Fatal("no sealed cases")
	}
	var built []*BuiltRequest
	for _, c := range sealed {
		c := c.(obj)
		in, exp := m(c, "input"), m(c, "expected")
		desc := s(c, "description")
		sessionKey := ub(t, s(in, "sessionKey"))
		if got, err := sk.Unwrap(ub(t, s(in, "wrapped"))); err != nil || !bytes.Equal(got, sessionKey) || len(sessionKey) != 16 {
			t.Fatalf("%s: the wrapped key does not unwrap to the 16-byte session key: %v", desc, err)
		}
		b := buildSM(in, ub(t, s(in, "wrapped")))
		built = append(built, b)
		if b.Suite != SuiteSM2SM4GCM || b.RequestAAD != s(exp, "requestAad") {
			t.Errorf("%s: AAD %q", desc, b.RequestAAD)
		}
		if !bytes.Equal(b.Plaintext, ub(t, s(exp, "plaintext"))) {
			t.Errorf("%s: plaintext %q", desc, b.Plaintext)
		}
		checkBuiltRequest(t, desc, b, exp, SM3Hex(b.Body), "bodySm3Hex")
		// a client given the public key builds the same request (only the wrap is random)
		pb, err := BuildRequest(RequestInput{Mode: s(in, "mode"), Method: s(in, "method"), Target: s(in, "target"), KeyID: s(in, "keyId"),
			Secret: ub(t, s(in, "secret")), ContentType: s(in, "contentType"), Identity: identityOf(m(in, "identity")), Body: ub(t, s(in, "body")),
			Timestamp: s(in, "timestamp"), Nonce: s(in, "nonce"), ServerKeyID: s(in, "serverKeyId"), ServerKey: sk.Public(),
			SessionKey: sessionKey, IV: ub(t, s(in, "iv"))}, 0)
		if err != nil || pb.Suite != SuiteSM2SM4GCM || !bytes.Equal(pb.Body, b.Body) || pb.RequestAAD != b.RequestAAD || len(ub(t, pb.Headers["Wxseal-Wrapped-Key"])) != SM2Wrapped {
			t.Errorf("%s: built from the public key: %v", desc, err)
		}
		// the verifier accepts the vector's request as given (headers as in the file)
		hdr := map[string][]string{}
		for k, val := range m(exp, "headers") {
			hdr[k] = []string{val.(string)}
		}
		counting := &smCountingKey{ServerKey: sk}
		ver := verifierAt(in, tsOf(in), counting)
		got, rej := ver.Verify(context.Background(), &Request{Method: s(in, "method"), Target: s(in, "target"), Header: hdr, Body: ub(t, s(exp, "sealedBody")), ContentLength: -1})
		if rej != nil {
			t.Fatalf("%s: verifier rejects: %v", desc, rej)
		}
		if got.Suite() != SuiteSM2SM4GCM || !bytes.Equal(got.SessionKey(), sessionKey) || !bytes.Equal(got.Body, ub(t, s(in, "body"))) ||
			got.ContentType != s(in, "contentType") || !reflect.DeepEqual(got.Identity, identityOf(m(in, "identity"))) || counting.unwraps != 1 {
			t.Errorf("%s: verifier hands on %+v (%d unwraps)", desc, got, counting.unwraps)
		}
		// its sealed response
		r := m(c, "response")
		rin, rexp := m(r, "input"), m(r, "expected")
		rn := ub(t, s(rin, "responseNonce"))
		okm := ResponseOKMSM(sessionKey, rn)
		if hex.EncodeToString(okm[:16]) != s(rexp, "responseKeyHex") || hex.EncodeToString(okm[16:]) != s(rexp, "responseIvHex") {
			t.Errorf("%s: HKDF-SM3 response key/iv", desc)
		}
		status := int(n(rin, "status"))
		sr, err := got.SealResponse(rn, status, s(rin, "contentType"), ub(t, s(rin, "body")))
		if err != nil {
			t.Fatal(err)
		}
		if int64(sr.WireStatus) != n(rexp, "wireStatus") || ResponseAADSM(s(in, "keyId"), s(in, "nonce"), sr.WireStatus) != s(rexp, "responseAad") ||
			!bytes.Equal(sr.Body, ub(t, s(rexp, "sealedBody"))) || s(m(rexp, "headers"), "wxseal-response-nonce") != B64uEncode(sr.ResponseNonce) ||
			s(m(rexp, "headers"), "content-type") != SealedContentType {
			t.Errorf("%s: sealed response differs", desc)
		}
		if sr2, err := SealResponse(sessionKey, rn, s(in, "keyId"), s(in, "nonce"), status, s(rin, "contentType"), ub(t, s(rin, "body"))); err != nil || !bytes.Equal(sr2.Body, sr.Body) {
			t.Errorf("%s: SealResponse with a 16-byte key is not the SM suite's", desc)
		}
		p, err := OpenResponseSuite(SuiteSM2SM4GCM, sessionKey, s(in, "keyId"), s(in, "nonce"), int(n(rexp, "wireStatus")), SealedContentType, s(m(rexp, "headers"), "wxseal-response-nonce"), ub(t, s(rexp, "sealedBody")))
		wantBody := ub(t, s(rin, "body"))
		if NoContentStatus(status) {
			wantBody = nil
		}
		if err != nil || !bytes.Equal(p.Body, wantBody) || p.ContentType != s(rin, "contentType") {
			t.Errorf("%s: open: %v", desc, err)
		}
		// not with another status, and never as an AES response
		if _, err := OpenResponseSuite(SuiteSM2SM4GCM, sessionKey, s(in, "keyId"), s(in, "nonce"), int(n(rexp, "wireStatus"))+1, SealedContentType, s(m(rexp, "headers"), "wxseal-response-nonce"), ub(t, s(rexp, "sealedBody"))); err == nil {
			t.Errorf("%s: opened under another status", desc)
		}
		if _, err := OpenResponse(sessionKey, s(in, "keyId"), s(in, "nonce"), int(n(rexp, "wireStatus")), SealedContentType, s(m(rexp, "headers"), "wxseal-response-nonce"), ub(t, s(rexp, "sealedBody"))); err == nil {
			t.Errorf("%s: opened outside the SM suite", desc)
		}
		counts["sealed"]++
	}

	// ---- the signed rejection: reproduced, verified, and what the verifier signs for a replay
	rj := m(v, "signedRejection")
	canon := CanonicalRejectionSM(s(rj, "keyId"), s(rj, "requestNonce"), int(n(rj, "status")), s(rj, "code"), s(rj, "serverTime"))
	sealedIn0 := m(sealed[0].(obj), "input")
	secret0 := ub(t, s(sealedIn0, "secret"))
	if canon != s(rj, "canonical") || B64uEncode(HMACSM3(secret0, canon)) != s(rj, "signature") {
		t.Errorf("signed rejection: %q", canon)
	}
	if !VerifyRejectionSuite(SuiteSM2SM4GCM, secret0, s(rj, "keyId"), s(rj, "requestNonce"), int(n(rj, "status")), s(rj, "code"), s(rj, "serverTime"), s(rj, "signature")) ||
		VerifyRejection(secret0, s(rj, "keyId"), s(rj, "requestNonce"), int(n(rj, "status")), s(rj, "code"), s(rj, "serverTime"), s(rj, "signature")) {
		t.Error("the SM rejection verifies only under HMAC-SM3")
	}
	if s(rj, "requestNonce") == s(sealedIn0, "nonce") && s(rj, "keyId") == s(sealedIn0, "keyId") {
		st, _ := json.Number(s(rj, "serverTime")).Int64()
		ver := verifierAt(sealedIn0, st, sk)
		if _, rej := ver.Verify(context.Background(), toRequest(built[0])); rej != nil {
			t.Fatalf("first send: %v", rej)
		}
		_, rej := ver.Verify(context.Background(), toRequest(built[0]))
		if rej == nil || rej.Code != s(rj, "code") || rej.Status != int(n(rj, "status")) || rej.ServerTime != s(rj, "serverTime") || rej.Signature != s(rj, "signature") {
			t.Errorf("the verifier's replay rejection differs: %+v", rej)
		}
	} else {
		t.Error("signedRejection is not for the first sealed request")
	}
	counts["signedRejection"]++

	// ---- unwrap failures: refused by the key, and by the verifier at step 7 (signed, HMAC-SM3)
	failures := l(v, "unwrapFailures")
	if len(failures) == 0 {
		t.Fatal("no unwrap failures")
	}
	for i, f := range failures {
		f := f.(obj)
		desc := s(f, "description")
		wrapped := ub(t, s(f, "wrapped"))
		if got, err := sk.Unwrap(wrapped); err == nil {
			t.Errorf("%s: unwrapped to %x", desc, got)
		}
		in := obj{}
		for k, val := range sealedIn0 {
			in[k] = val
		}
		in["nonce"] = "dW53cmFwLWZhaWx1cmUtMDA" + string(rune('0'+i))
		b := buildSM(in, wrapped)
		counting := &smCountingKey{ServerKey: sk}
		_, rej := verifierAt(in, tsOf(in), counting).Verify(context.Background(), toRequest(b))
		if rej == nil || rej.Code != CodeUnwrapFailed || rej.Status != 400 || counting.unwraps != 1 ||
			!VerifyRejectionSuite(SuiteSM2SM4GCM, secret0, s(in, "keyId"), s(in, "nonce"), 400, CodeUnwrapFailed, rej.ServerTime, rej.Signature) {
			t.Errorf("%s: verifier %v (%d unwraps)", desc, rej, counting.unwraps)
		}
		counts["unwrapFailures"]++
	}

	// ---- forged signatures: refused at step 5, never an unwrap
	forged := l(v, "forgedSignatures")
	if len(forged) == 0 {
		t.Fatal("no forged signatures")
	}
	for _, f := range forged {
		f := f.(obj)
		desc := s(f, "description")
		ci := int(n(f, "case"))
		in := m(sealed[ci].(obj), "input")
		b := built[ci]
		// the forgery is the other suites' MAC over the same string
		if B64uEncode(HMACSHA256(ub(t, s(in, "secret")), b.Canonical)) != s(f, "signature") {
			t.Errorf("%s: not HMAC-SHA256 of the canonical string", desc)
		}
		r := toRequest(b)
		r.Header["Wxseal-Signature"] = []string{s(f, "signature")}
		counting := &smCountingKey{ServerKey: sk}
		ver := verifierAt(in, tsOf(in), counting)
		_, rej := ver.Verify(context.Background(), r)
		if rej == nil || rej.Code != CodeBadSignature || rej.Status != 401 || rej.Signature != "" || counting.unwraps != 0 {
			t.Errorf("%s: %v (%d unwraps)", desc, rej, counting.unwraps)
		}
		// the forgery burnt no nonce: the genuine request still passes
		if _, rej := ver.Verify(context.Background(), toRequest(b)); rej != nil || counting.unwraps != 1 {
			t.Errorf("%s: the genuine request after the forgery: %v", desc, rej)
		}
		counts["forgedSignatures"]++
	}
	t.Logf("sm.json cases checked: %v", counts)
}

// checkBuiltRequest compares a built request with a vector's expected sealed body, body hash (the
// suite's: bodyHash under hashField), canonical string and headers.
func checkBuiltRequest(t *testing.T, desc string, b *BuiltRequest, exp obj, bodyHash, hashField string) {
	t.Helper()
	if !bytes.Equal(b.Body, ub(t, s(exp, "sealedBody"))) {
		t.Errorf("%s: sealed body", desc)
	}
	if bodyHash != s(exp, hashField) {
		t.Errorf("%s: body hash (%s)", desc, hashField)
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
}
