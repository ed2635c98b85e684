package wxseal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// Suites of SPEC 6.5 (never sent on the wire: the type of the named server key decides); the SM
// suite, SuiteSM2SM4GCM, is in sm.go.
const (
	SuiteRSAOAEP256 = "rsa-oaep-256"
	SuiteX25519HPKE = "x25519-hpke"
)

// ServerKey is a server key pair's private side: it unwraps session keys (SPEC 9 step 7).
type ServerKey interface {
	Suite() string
	// WrappedKeyLen is the exact length of a wrapped key for this key (step 4): the RSA modulus
	// length, 80 for X25519, 113 for SM2.
	WrappedKeyLen() int
	Unwrap(wrapped []byte) ([]byte, error)
	// Public is the public key clients are given.
	Public() ServerPublicKey
}

// ServerPublicKey is what a client is given: it wraps session keys (SPEC 6.2 step 2).
type ServerPublicKey interface {
	Suite() string
	Wrap(sessionKey []byte) ([]byte, error)
	// SPKI is the DER SubjectPublicKeyInfo (for ServerKeyIDFor).
	SPKI() []byte
}

// ---------------------------------------------------------------- RSA-OAEP (SHA-256, MGF1-SHA-256)

type rsaServerKey struct{ k *rsa.PrivateKey }

func (k *rsaServerKey) Suite() string      { return SuiteRSAOAEP256 }
func (k *rsaServerKey) WrappedKeyLen() int { return k.k.Size() }
func (k *rsaServerKey) Public() ServerPublicKey {
	p, _ := NewRSAPublicKey(&k.k.PublicKey)
	return p
}
func (k *rsaServerKey) Unwrap(w []byte) ([]byte, error) {
	// crypto/rsa uses the same hash for OAEP and MGF1: SHA-256 for both, empty label.
	return rsa.DecryptOAEP(sha256.New(), nil, k.k, w, nil)
}

type rsaPublicKey struct {
	k    *rsa.PublicKey
	spki []byte
}

func (k *rsaPublicKey) Suite() string { return SuiteRSAOAEP256 }
func (k *rsaPublicKey) SPKI() []byte  { return k.spki }
func (k *rsaPublicKey) Wrap(sk []byte) ([]byte, error) {
	return rsa.EncryptOAEP(sha256.New(), rand.Reader, k.k, sk, nil)
}

// ---------------------------------------------------------------- X25519 HPKE (SPEC 6.5)

type x25519ServerKey struct{ sk, pk []byte }

func (k *x25519ServerKey) Suite() string           { return SuiteX25519HPKE }
func (k *x25519ServerKey) WrappedKeyLen() int      { return x25519Wrapped }
func (k *x25519ServerKey) Public() ServerPublicKey { return &x25519PublicKey{pk: k.pk} }
func (k *x25519ServerKey) Unwrap(w []byte) ([]byte, error) {
	return hpkeOpen(k.sk, k.pk, w)
}

type x25519PublicKey struct{ pk []byte }

func (k *x25519PublicKey) Suite() string { return SuiteX25519HPKE }
func (k *x25519PublicKey) SPKI() []byte  { return x25519SPKI(k.pk) }
func (k *x25519PublicKey) Wrap(sessionKey []byte) ([]byte, error) {
	skE := make([]byte, 32)
	if _, err := rand.Read(skE); err != nil {
		return nil, err
	}
	w, _, err := hpkeSeal(k.pk, skE, sessionKey)
	return w, err
}

// NewX25519ServerKey makes a server key from a raw 32-byte X25519 private key.
func NewX25519ServerKey(raw []byte) (ServerKey, error) {
	if len(raw) != 32 {
		return nil, errors.New("an X25519 private key is 32 bytes")
	}
	pk, err := x25519Public(raw)
	if err != nil {
		return nil, err
	}
	return &x25519ServerKey{sk: append([]byte(nil), raw...), pk: pk}, nil
}

// NewX25519PublicKey makes a client-side public key from 32 raw bytes.
func NewX25519PublicKey(raw []byte) (ServerPublicKey, error) {
	if len(raw) != 32 {
		return nil, errors.New("an X25519 public key is 32 bytes")
	}
	return &x25519PublicKey{pk: append([]byte(nil), raw...)}, nil
}

// NewRSAServerKey wraps an RSA private key (modulus 2048-4096 bits, exponent 65537).
func NewRSAServerKey(k *rsa.PrivateKey) (ServerKey, error) {
	if b := k.N.BitLen(); b < 2048 || b > 4096 || k.E != 65537 {
		return nil, fmt.Errorf("RSA key of %d bits, exponent %d: SPEC 2 wants 2048-4096 bits and 65537", b, k.E)
	}
	return &rsaServerKey{k: k}, nil
}

var oidX25519 = asn1.ObjectIdentifier{1, 3, 101, 110}

type algID struct {
	Algorithm asn1.ObjectIdentifier
}

type pkcs8 struct {
	Version    int
	Algorithm  algID
	PrivateKey []byte
}

type spki struct {
	Algorithm algID
	PublicKey asn1.BitString
}

func x25519SPKI(pk []byte) []byte {
	der, _ := asn1.Marshal(spki{Algorithm: algID{oidX25519}, PublicKey: asn1.BitString{Bytes: pk, BitLength: 256}})
	return der
}

func pemBlock(text []byte, typ string) ([]byte, error) {
	b, _ := pem.Decode(text)
	if b == nil || b.Type != typ {
		return nil, fmt.Errorf("not a %s PEM", typ)
	}
	return b.Bytes, nil
}

// ParseServerKeyPEM reads a PKCS#8 PEM private key, RSA, X25519 or SM2 (Go 1.19's x509 has no
// X25519 and no SM2, so their PKCS#8 structures are read with encoding/asn1). For SM2 it also takes
// the SEC1 "EC PRIVATE KEY" PEM with the SM2 curve and the armored hex form of SPEC 6.6
// (-----BEGIN WXSEAL SM2 PRIVATE KEY-----).
func ParseServerKeyPEM(text []byte) (ServerKey, error) {
	if k, ok, err := parseSM2PrivateText(text); ok {
		return k, err
	}
	der, err := pemBlock(text, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	if isSM2PKCS8(der) {
		return parseSM2PKCS8(der)
	}
	var p pkcs8
	if rest, err := asn1.Unmarshal(der, &p); err == nil && len(rest) == 0 && p.Algorithm.Algorithm.Equal(oidX25519) {
		var raw []byte
		if rest, err := asn1.Unmarshal(p.PrivateKey, &raw); err != nil || len(rest) != 0 {
			return nil, errors.New("malformed X25519 private key")
		}
		return NewX25519ServerKey(raw)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	rk.Precompute()
	return NewRSAServerKey(rk)
}

// ParseServerPublicKeyPEM reads an SPKI PEM public key, RSA, X25519 or SM2 (id-ecPublicKey with the
// SM2 curve), or the armored hex form of SPEC 6.6 (-----BEGIN WXSEAL SM2 PUBLIC KEY-----).
func ParseServerPublicKeyPEM(text []byte) (ServerPublicKey, error) {
	if k, ok, err := parseSM2PublicText(text); ok {
		return k, err
	}
	der, err := pemBlock(text, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	if isSM2SPKI(der) {
		return parseSM2SPKI(der)
	}
	var s spki
	if rest, err := asn1.Unmarshal(der, &s); err == nil && len(rest) == 0 && s.Algorithm.Algorithm.Equal(oidX25519) {
		if s.PublicKey.BitLength != 256 {
			return nil, errors.New("malformed X25519 public key")
		}
		return NewX25519PublicKey(s.PublicKey.Bytes)
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("unsupported public key type %T", k)
	}
	return &rsaPublicKey{k: rk, spki: der}, nil
}

// ServerKeyIDFor is the reference naming: "sk-" + the first 16 hex digits of SHA-256(SPKI DER).
func ServerKeyIDFor(pub ServerPublicKey) string {
	s := sha256.Sum256(pub.SPKI())
	return "sk-" + hex.EncodeToString(s[:])[:16]
}

// ---------------------------------------------------------------- AES-256-GCM

func aesGCMSeal(key, iv, aad, pt []byte) ([]byte, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return g.Seal(nil, iv, pt, aad), nil
}

func aesGCMOpen(key, iv, aad, ct []byte) ([]byte, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return g.Open(nil, iv, ct, aad)
}

// NewRSAPublicKey makes a client-side public key from an RSA public key.
func NewRSAPublicKey(k *rsa.PublicKey) (ServerPublicKey, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, err
	}
	return &rsaPublicKey{k: k, spki: der}, nil
}

// GenerateServerKey makes a new server key pair of the given suite (RSA-2048, X25519 or SM2).
func GenerateServerKey(suite string) (ServerKey, error) {
	switch suite {
	case SuiteRSAOAEP256:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		return NewRSAServerKey(k)
	case SuiteX25519HPKE:
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		return NewX25519ServerKey(raw)
	case SuiteSM2SM4GCM:
		return GenerateSM2ServerKey()
	}
	return nil, fmt.Errorf("unknown suite %q", suite)
}

// PublicKeyPEM is the SPKI PEM of a server public key (what clients are given).
func PublicKeyPEM(p ServerPublicKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p.SPKI()})
}
