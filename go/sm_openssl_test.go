package wxseal

// The SM suite checked against OpenSSL 3 (the openssl command line, which must be installed:
// a missing openssl fails the test, it never skips): keys written by `openssl genpkey -algorithm
// SM2`, SM2 ciphertexts of `openssl pkeyutl -encrypt` (ASN.1 SM2Cipher, converted to the raw
// C1 || C3 || C2 wire form) opened here, ours opened by `openssl pkeyutl -decrypt`, and SM3,
// HMAC-SM3 and HKDF-SM3 against `openssl dgst` and `openssl kdf`.

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sm2Cipher is GB/T 35276's ASN.1 SM2 ciphertext, what OpenSSL's pkeyutl reads and writes.
type sm2Cipher struct {
	X, Y       *big.Int
	Hash       []byte
	CipherText []byte
}

// sm2CipherToRaw converts OpenSSL's DER SM2Cipher to the wire form 04 || x || y || C3 || C2.
func sm2CipherToRaw(der []byte) ([]byte, error) {
	var c sm2Cipher
	rest, err := asn1.Unmarshal(der, &c)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("not a DER SM2Cipher")
	}
	if c.X.Sign() < 0 || c.Y.Sign() < 0 || c.X.BitLen() > 256 || c.Y.BitLen() > 256 || len(c.Hash) != 32 {
		return nil, errors.New("malformed SM2Cipher")
	}
	out := append([]byte{0x04}, pad32(c.X.Bytes())...)
	out = append(out, pad32(c.Y.Bytes())...)
	out = append(out, c.Hash...)
	return append(out, c.CipherText...), nil
}

// rawToSM2Cipher is the other way round.
func rawToSM2Cipher(raw []byte) ([]byte, error) {
	if len(raw) < 97 || raw[0] != 0x04 {
		return nil, errors.New("not 04 || x || y || C3 || C2")
	}
	return asn1.Marshal(sm2Cipher{X: new(big.Int).SetBytes(raw[1:33]), Y: new(big.Int).SetBytes(raw[33:65]), Hash: raw[65:97], CipherText: raw[97:]})
}

func openssl(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl (OpenSSL 3) is required for the SM cross-checks (Debian: apt-get install openssl): %v", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func TestSMAgainstOpenSSL(t *testing.T) {
	if v := string(openssl(t, nil, "version")); !strings.HasPrefix(v, "OpenSSL 3.") {
		t.Fatalf("want OpenSSL 3, have %q", v)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "sm2.pem")
	openssl(t, nil, "genpkey", "-algorithm", "SM2", "-out", keyFile)
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ParseServerKeyPEM(keyPEM)
	if err != nil {
		t.Fatalf("OpenSSL's PKCS#8 SM2 key: %v", err)
	}
	if sk.Suite() != SuiteSM2SM4GCM || sk.WrappedKeyLen() != SM2Wrapped {
		t.Fatalf("suite %s", sk.Suite())
	}
	// our PKCS#8 writer gives back OpenSSL's file, byte for byte
	if again, err := SM2PrivateKeyPEM(sk); err != nil || !bytes.Equal(again, keyPEM) {
		t.Errorf("PKCS#8 PEM differs from OpenSSL's:\n%s\n%s", again, keyPEM)
	}
	// the public key: OpenSSL's SPKI is ours, so is the id
	pubPEM := openssl(t, nil, "pkey", "-in", keyFile, "-pubout")
	pk, err := ParseServerPublicKeyPEM(pubPEM)
	if err != nil {
		t.Fatalf("OpenSSL's SPKI: %v", err)
	}
	if !bytes.Equal(pk.SPKI(), sk.Public().SPKI()) || ServerKeyIDFor(pk) != ServerKeyIDFor(sk.Public()) || !bytes.Equal(PublicKeyPEM(pk), pubPEM) {
		t.Errorf("public key differs:\n%s\n%s", PublicKeyPEM(pk), pubPEM)
	}
	pubFile := filepath.Join(dir, "sm2.pub.pem")
	if err := os.WriteFile(pubFile, pubPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	// the SEC1 form OpenSSL's `ec` writes ("SM2 PRIVATE KEY", the curve in [0]), and the same DER
	// labelled "EC PRIVATE KEY"
	sec1 := openssl(t, nil, "ec", "-in", keyFile)
	for _, text := range [][]byte{sec1, bytes.ReplaceAll(sec1, []byte("SM2 PRIVATE KEY"), []byte("EC PRIVATE KEY"))} {
		k, err := ParseServerKeyPEM(text)
		if err != nil || !bytes.Equal(SM2PrivateScalar(k), SM2PrivateScalar(sk)) || !bytes.Equal(k.Public().SPKI(), sk.Public().SPKI()) {
			t.Errorf("SEC1 %q: %v", strings.SplitN(string(text), "\n", 2)[0], err)
		}
	}
	// a P-256 key is not an SM2 key, in any form
	p256 := filepath.Join(dir, "p256.pem")
	openssl(t, nil, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p256)
	p256PEM, _ := os.ReadFile(p256)
	if k, err := ParseServerKeyPEM(p256PEM); err == nil {
		t.Errorf("a P-256 PKCS#8 key parsed as %s", k.Suite())
	}
	if k, err := ParseServerKeyPEM(openssl(t, nil, "ec", "-in", p256)); err == nil {
		t.Errorf("a P-256 SEC1 key parsed as %s", k.Suite())
	}
	if k, err := ParseServerPublicKeyPEM(openssl(t, nil, "pkey", "-in", p256, "-pubout")); err == nil {
		t.Errorf("a P-256 public key parsed as %s", k.Suite())
	}

	// OpenSSL encrypts 16-byte session keys to the public key; the Go side, holding OpenSSL's
	// PEM private key, unwraps them
	for i := 0; i < 4; i++ {
		k := make([]byte, 16)
		if _, err := rand.Read(k); err != nil {
			t.Fatal(err)
		}
		kFile := filepath.Join(dir, "k.bin")
		if err := os.WriteFile(kFile, k, 0o600); err != nil {
			t.Fatal(err)
		}
		der := openssl(t, nil, "pkeyutl", "-encrypt", "-pubin", "-inkey", pubFile, "-in", kFile)
		raw, err := sm2CipherToRaw(der)
		if err != nil || len(raw) != SM2Wrapped {
			t.Fatalf("OpenSSL's ciphertext: %d bytes, %v", len(raw), err)
		}
		if got, err := sk.Unwrap(raw); err != nil || !bytes.Equal(got, k) {
			t.Errorf("OpenSSL ciphertext %d: unwrap %x %v, want %x", i, got, err, k)
		}
		// the same ciphertext in the older C1 || C2 || C3 order is refused
		swapped := append(append(append([]byte(nil), raw[:65]...), raw[97:]...), raw[65:97]...)
		if _, err := sk.Unwrap(swapped); err == nil {
			t.Error("a C1 || C2 || C3 ciphertext unwrapped")
		}
		// and the other way: OpenSSL decrypts what the Go side wraps to OpenSSL's public key
		w, err := pk.Wrap(k)
		if err != nil || len(w) != SM2Wrapped {
			t.Fatal(err)
		}
		wDER, err := rawToSM2Cipher(w)
		if err != nil {
			t.Fatal(err)
		}
		wFile := filepath.Join(dir, "w.der")
		if err := os.WriteFile(wFile, wDER, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := openssl(t, nil, "pkeyutl", "-decrypt", "-inkey", keyFile, "-in", wFile); !bytes.Equal(got, k) {
			t.Errorf("OpenSSL decrypts our wrap %d to %x, want %x", i, got, k)
		}
	}

	// SM3 of a body (what the SM canonical string's last line carries), HMAC-SM3, HKDF-SM3
	body := []byte("{\"sku\":\"A-1\",\"qty\":2}\n订单 ✓")
	for _, msg := range [][]byte{nil, []byte("abc"), body, bytes.Repeat([]byte("x"), 1000)} {
		got := strings.TrimSpace(string(openssl(t, msg, "dgst", "-sm3", "-r")))
		if want := strings.Fields(got)[0]; SM3Hex(msg) != want {
			t.Errorf("SM3 of %d bytes: %s, openssl %s", len(msg), SM3Hex(msg), want)
		}
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	canonical := "WXSEAL1-HMAC-SM3\nsealed\nPOST\n/api/x\n\n1763900000\nnonce-0000000000000000\nbff\n"
	mac := strings.Fields(string(openssl(t, []byte(canonical), "dgst", "-sm3", "-mac", "HMAC", "-macopt", "hexkey:"+hex.EncodeToString(secret), "-r")))[0]
	if hex.EncodeToString(HMACSM3(secret, canonical)) != mac {
		t.Errorf("HMAC-SM3 differs from openssl's %s", mac)
	}
	ikm, salt := make([]byte, 16), make([]byte, 32)
	_, _ = rand.Read(ikm)
	_, _ = rand.Read(salt)
	okmText := string(openssl(t, nil, "kdf", "-keylen", "28", "-kdfopt", "digest:SM3", "-kdfopt", "hexkey:"+hex.EncodeToString(ikm),
		"-kdfopt", "hexsalt:"+hex.EncodeToString(salt), "-kdfopt", "info:"+smResponseHKDFInfo, "HKDF"))
	if want := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(okmText), ":", "")); hex.EncodeToString(ResponseOKMSM(ikm, salt)) != want {
		t.Errorf("HKDF-SM3 %x, openssl %s", ResponseOKMSM(ikm, salt), want)
	}
}
