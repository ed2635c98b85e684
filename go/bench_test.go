package wxseal_test

import (
	"context"
	"testing"

	wxseal "wxseal.dev/go"
)

// go test -run '^$' -bench . -cpu 1 : per-core cost of the verifier's two paths, for each suite
// (BenchmarkForgedRejection/<suite>, BenchmarkValidSealedRequest/<suite>; suites: rsa-oaep-256,
// x25519-hpke, sm2-sm4-gcm).

func benchRequests(b *testing.B, f *fixture, n int) []*wxseal.Request {
	reqs := make([]*wxseal.Request, n)
	for i := range reqs {
		reqs[i] = f.build(b, wxseal.ModeSealed, []byte(`{"sku":"A-1","qty":2}`), wxseal.Identity{"openid": "o-1", "source": "wx_client"})
	}
	return reqs
}

// A forged sealed request (bad signature): steps 1-5 only, never an unwrap.
func BenchmarkForgedRejection(b *testing.B) {
	for _, suite := range suites {
		b.Run(suite, func(b *testing.B) {
			f := newFixture(b, suite)
			r := benchRequests(b, f, 1)[0]
			r.Header["Wxseal-Signature"] = []string{flip(r.Header["Wxseal-Signature"][0])}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, rej := f.verifier.Verify(context.Background(), r); rej == nil || rej.Code != wxseal.CodeBadSignature {
					b.Fatal(rej)
				}
			}
			b.StopTimer()
			if f.key.unwraps.Load() != 0 {
				b.Fatal("unwrapped")
			}
		})
	}
}

// A valid sealed request: every step of SPEC 9 (a fresh nonce each time, in the memory store),
// then the sealed response (6.3; 6.6 for the SM suite: SM2 unwrap, SM4-GCM, HKDF-SM3).
func BenchmarkValidSealedRequest(b *testing.B) {
	for _, suite := range suites {
		b.Run(suite, func(b *testing.B) {
			f := newFixture(b, suite)
			f.verifier.Nonces = wxseal.NewMemoryNonceStore(b.N + 1)
			reqs := benchRequests(b, f, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v, rej := f.verifier.Verify(context.Background(), reqs[i])
				if rej != nil {
					b.Fatal(rej)
				}
				if _, err := v.SealResponse(nil, 200, "application/json", []byte(`{"ok":true}`)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
