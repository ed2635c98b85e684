package wxseal

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/hkdf"
)

// device-request.json (SPEC 15.2, 15.7): device requests are ordinary requests signed with the
// serial as key id and the device key as secret; the rotation answer is a signed response whose
// delivery opens under the old device key (15.6).
func TestVectorsDeviceRequest(t *testing.T) {
	v := loadVectors(t, "device-request.json")
	cases := l(v, "cases")
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		c := c.(obj)
		in, exp := m(c, "input"), m(c, "expected")
		b, err := BuildRequest(RequestInput{Mode: s(in, "mode"), Method: s(in, "method"), Target: s(in, "target"), KeyID: s(in, "serial"),
			Secret: ub(t, s(in, "deviceKey")), ContentType: s(in, "contentType"), Body: ub(t, s(in, "body")),
			Timestamp: s(in, "timestamp"), Nonce: s(in, "nonce")}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if b.Canonical != s(exp, "canonical") {
			t.Errorf("%s: canonical %q", s(c, "description"), b.Canonical)
		}
		want := m(exp, "headers")
		if len(want) != len(b.Headers) {
			t.Errorf("%s: %d headers", s(c, "description"), len(b.Headers))
		}
		for k, val := range b.Headers {
			if want[strings.ToLower(k)] != val {
				t.Errorf("%s: %s = %q", s(c, "description"), k, val)
			}
		}
	}
	r := m(v, "rotation")
	req, resp := m(r, "request"), m(r, "response")
	key := ub(t, s(r, "deviceKey"))
	h := map[string][]string{}
	for k, val := range m(req, "headers") {
		h[k] = []string{val.(string)}
	}
	ts := n(obj{"x": json.Number(s(m(req, "headers"), "wxseal-timestamp"))}, "x")
	ver := &Verifier{
		Credentials: StaticCredentials{s(r, "serial"): {Secrets: []Secret{{Key: key}}}},
		Nonces:      NewMemoryNonceStore(0),
		Now:         func() time.Time { return time.Unix(ts, 0) },
	}
	got, rej := ver.Verify(context.Background(), &Request{Method: s(req, "method"), Target: s(req, "target"), Header: h, Body: ub(t, s(req, "body")), ContentLength: -1})
	if rej != nil || got.KeyID != s(r, "serial") {
		t.Fatalf("rotation request refused: %v", rej)
	}
	nonce := s(m(req, "headers"), "wxseal-nonce")
	f := SignedFields{Mode: "signed", Method: s(req, "method"), Path: s(req, "target"), Timestamp: s(m(req, "headers"), "wxseal-timestamp"),
		Nonce: nonce, KeyID: s(r, "serial"), BodySHA256Hex: EmptySHA256}
	if CanonicalRequest(&f) != s(req, "canonical") {
		t.Error("rotation canonical")
	}
	rh := m(resp, "headers")
	body := ub(t, s(resp, "body"))
	if err := VerifySignedResponse(key, s(r, "serial"), nonce, int(n(resp, "status")), s(rh, "content-type"), body, s(rh, "wxseal-signature")); err != nil {
		t.Fatalf("rotation response: %v", err)
	}
	// the delivery (15.6), wrapped under the device key that signed the request
	var d struct{ KeyVersion, ServerNonce, SealedKey string }
	if err := json.Unmarshal(body, &d); err != nil || d.KeyVersion != s(r, "newKeyVersion") {
		t.Fatalf("delivery %s", body)
	}
	salt := append([]byte(nonce), ub(t, d.ServerNonce)...)
	okm := make([]byte, 44)
	if _, err := io.ReadFull(hkdf.New(sha256.New, key, salt, []byte("WXSEAL1 device-key rotate")), okm); err != nil {
		t.Fatal(err)
	}
	aad := strings.Join([]string{"WXSEAL1-DEVICE-KEY", s(r, "productId"), s(r, "serial"), d.KeyVersion}, "\n")
	newKey, err := aesGCMOpen(okm[:32], okm[32:], []byte(aad), ub(t, d.SealedKey))
	if err != nil || B64uEncode(newKey) != s(r, "newDeviceKey") {
		t.Fatalf("delivery does not open to the new device key: %v", err)
	}
}
