package wxseal

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// RFC 9180 appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode. The
// same KEM and KDF as SPEC 6.5 (whose AEAD is AES-256-GCM): the published values check the KEM,
// the labeled HKDF and the key schedule underneath the wxseal wrap.
func TestRFC9180A11(t *testing.T) {
	h := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	info := h("4f6465206f6e2061204772656369616e2055726e")
	skEm := HPKEDerivePrivateKey(h("7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234"))
	skRm := HPKEDerivePrivateKey(h("6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037"))
	if hex.EncodeToString(skEm) != "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736" ||
		hex.EncodeToString(skRm) != "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8" {
		t.Fatal("DeriveKeyPair")
	}
	pkEm, _ := x25519Public(skEm)
	pkRm, _ := x25519Public(skRm)
	if hex.EncodeToString(pkEm) != "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431" ||
		hex.EncodeToString(pkRm) != "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d" {
		t.Fatal("public keys")
	}
	dh, err := x25519(skEm, pkRm)
	if err != nil {
		t.Fatal(err)
	}
	ss := extractAndExpand(dh, cat(pkEm, pkRm))
	dh2, _ := x25519(skRm, pkEm)
	if hex.EncodeToString(ss) != "fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc" || !bytes.Equal(extractAndExpand(dh2, cat(pkEm, pkRm)), ss) {
		t.Fatal("shared secret (Encap / Decap)")
	}
	c := keyScheduleFor(0x0001, 16, ss, info)
	if hex.EncodeToString(c.keyScheduleContext) != "00725611c9d98c07c03f60095cd32d400d8347d45ed67097bbad50fc56da742d07cb6cffde367bb0565ba28bb02c90744a20f5ef37f30523526106f637abb05449" ||
		hex.EncodeToString(c.secret) != "12fff91991e93b48de37e7daddb52981084bd8aa64289c3788471d9a9712f397" ||
		hex.EncodeToString(c.key) != "4531685d41d65f03dc48f6b8302c05b0" ||
		hex.EncodeToString(c.baseNonce) != "56d890e5accaaf011cff4b7d" {
		t.Fatal("key schedule")
	}
	ct, err := aesGCMSeal(c.key, c.baseNonce, h("436f756e742d30"), h("4265617574792069732074727574682c20747275746820626561757479"))
	if err != nil || hex.EncodeToString(ct) != "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a" {
		t.Fatal("seq 0 encryption")
	}
	// a low-order enc (u = 0, u = 1) is refused (RFC 9180 7.1.4)
	for _, u := range []byte{0, 1} {
		point := make([]byte, 32)
		point[0] = u
		if _, err := x25519(skRm, point); err == nil {
			t.Errorf("X25519 with u = %d accepted", u)
		}
	}
}
