package wxseal

// The SM suite of SPEC 6.6 (sm2-sm4-gcm): HMAC-SM3 signature over the SM canonical string, SM3
// body hash, a 16-byte session key wrapped with SM2 public-key encryption (GB/T 32918.4, wire form
// C1 || C3 || C2 = 113 bytes), SM4-GCM payload, HKDF-SM3 response key. Every primitive comes from
// github.com/tjfoc/gmsm (Debian golang-github-tjfoc-gmsm-dev 1.3.0): sm3.New as a hash.Hash for
// crypto/hmac and x/crypto/hkdf, sm4.NewCipher as a cipher.Block for crypto/cipher.NewGCM, and
// sm2.Encrypt / sm2.Decrypt for the wrap. This file only frames them.

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"

	"github.com/tjfoc/gmsm/sm2"
	"github.com/tjfoc/gmsm/sm3"
	"github.com/tjfoc/gmsm/sm4"
	"golang.org/x/crypto/hkdf"
)

// SuiteSM2SM4GCM is the SM suite of SPEC 6.6, selected by an SM2 server key.
const SuiteSM2SM4GCM = "sm2-sm4-gcm"

// Labels and lengths of the SM suite (SPEC 6.6).
const (
	smCanonicalLabel   = "WXSEAL1-HMAC-SM3"
	smRequestAADLabel  = "WXSEAL1-SM-REQUEST"
	smResponseAADLabel = "WXSEAL1-SM-RESPONSE"
	smRejectionLabel   = "WXSEAL1-HMAC-SM3-REJECTION"
	smResponseHKDFInfo = "WXSEAL1-SM response"
	smSessionKeyLen    = 16
	// SM2Wrapped is the length of an SM2-wrapped session key: C1 (65) || C3 (32) || C2 (16).
	SM2Wrapped = 113
)

// sessionKeyLen is the length of K for a suite: 16 for the SM suite, 32 otherwise (SPEC 6.2, 6.6).
func sessionKeyLen(suite string) int {
	if suite == SuiteSM2SM4GCM {
		return smSessionKeyLen
	}
	return 32
}

// ---------------------------------------------------------------- SM3, HMAC-SM3, HKDF-SM3, SM4-GCM

// SM3Hex is hex(SM3(b)), the SM suite's body hash.
func SM3Hex(b []byte) string {
	h := sm3.New()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// HMACSM3 is HMAC-SM3 (RFC 2104 over SM3) of the UTF-8 text under secret.
func HMACSM3(secret []byte, text string) []byte {
	m := hmac.New(sm3.New, secret)
	m.Write([]byte(text))
	return m.Sum(nil)
}

// HKDFSM3 is HKDF (RFC 5869) over SM3.
func HKDFSM3(ikm, salt, info []byte, length int) ([]byte, error) {
	okm := make([]byte, length)
	if _, err := io.ReadFull(hkdf.New(sm3.New, ikm, salt, info), okm); err != nil {
		return nil, err
	}
	return okm, nil
}

func sm4GCM(key []byte) (cipher.AEAD, error) {
	b, err := sm4.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b) // 12-byte IV, 16-byte tag (RFC 8998)
}

// SM4GCMSeal is SM4-GCM encryption: ciphertext || 16-byte tag.
func SM4GCMSeal(key, iv, aad, pt []byte) ([]byte, error) {
	g, err := sm4GCM(key)
	if err != nil {
		return nil, err
	}
	if len(iv) != g.NonceSize() {
		return nil, errors.New("SM4-GCM: the IV is not 12 bytes")
	}
	return g.Seal(nil, iv, pt, aad), nil
}

// SM4GCMOpen is SM4-GCM decryption of ciphertext || tag.
func SM4GCMOpen(key, iv, aad, ct []byte) ([]byte, error) {
	g, err := sm4GCM(key)
	if err != nil {
		return nil, err
	}
	if len(iv) != g.NonceSize() {
		return nil, errors.New("SM4-GCM: the IV is not 12 bytes")
	}
	return g.Open(nil, iv, ct, aad)
}

// ---------------------------------------------------------------- the SM suite's strings

// CanonicalRequestSM is the SM suite's canonical request string (SPEC 6.6): the 15 lines of 5.2
// with the first line WXSEAL1-HMAC-SM3 (the body hash line is hex(SM3(body)), given in f).
func CanonicalRequestSM(f *SignedFields) string {
	return strings.Join([]string{smCanonicalLabel, f.Mode, f.Method, f.Path, f.CanonicalQuery, f.Timestamp,
		f.Nonce, f.KeyID, f.ContentType, f.ServerKeyID, f.WrappedKey, f.IV, f.Identity, f.Traceparent, f.BodySHA256Hex}, "\n")
}

// RequestAADSM is the SM suite's request associated data (first line WXSEAL1-SM-REQUEST).
func RequestAADSM(method, path, canonicalQuery, timestamp, nonce, keyID, serverKeyID string) string {
	return strings.Join([]string{smRequestAADLabel, method, path, canonicalQuery, timestamp, nonce, keyID, serverKeyID}, "\n")
}

// ResponseAADSM is the SM suite's response associated data (first line WXSEAL1-SM-RESPONSE).
func ResponseAADSM(keyID, requestNonce string, status int) string {
	return strings.Join([]string{smResponseAADLabel, keyID, requestNonce, strconv.Itoa(status)}, "\n")
}

// CanonicalRejectionSM is the SM suite's signed rejection string (first line WXSEAL1-HMAC-SM3-REJECTION).
func CanonicalRejectionSM(keyID, requestNonce string, status int, code, serverTime string) string {
	return strings.Join([]string{smRejectionLabel, keyID, requestNonce, strconv.Itoa(status), code, serverTime}, "\n")
}

// ResponseOKMSM is HKDF-SM3(IKM = K, salt = R, info = "WXSEAL1-SM response", L = 28): the
// response key (16 bytes) then the response IV (12 bytes).
func ResponseOKMSM(sessionKey, responseNonce []byte) []byte {
	okm, err := HKDFSM3(sessionKey, responseNonce, []byte(smResponseHKDFInfo), 28)
	if err != nil {
		panic(err) // 28 bytes are far below HKDF's limit
	}
	return okm
}

// ---------------------------------------------------------------- suite dispatch

// The per-suite parts of the sealed mode. Sign-only requests name no server key and stay
// HMAC-SHA256 (SPEC 6.6 "Sign-only mode"): suite "" is the RSA / X25519 framing.

func bodyHashHex(suite string, body []byte) string {
	if suite == SuiteSM2SM4GCM {
		return SM3Hex(body)
	}
	return SHA256Hex(body)
}

func canonicalRequestFor(suite string, f *SignedFields) string {
	if suite == SuiteSM2SM4GCM {
		return CanonicalRequestSM(f)
	}
	return CanonicalRequest(f)
}

func macFor(suite string, secret []byte, text string) []byte {
	if suite == SuiteSM2SM4GCM {
		return HMACSM3(secret, text)
	}
	return HMACSHA256(secret, text)
}

func requestAADFor(suite, method, path, cq, ts, nonce, keyID, serverKeyID string) string {
	if suite == SuiteSM2SM4GCM {
		return RequestAADSM(method, path, cq, ts, nonce, keyID, serverKeyID)
	}
	return RequestAAD(method, path, cq, ts, nonce, keyID, serverKeyID)
}

func rejectionFor(suite, keyID, nonce string, status int, code, serverTime string) string {
	if suite == SuiteSM2SM4GCM {
		return CanonicalRejectionSM(keyID, nonce, status, code, serverTime)
	}
	return CanonicalRejection(keyID, nonce, status, code, serverTime)
}

func payloadSeal(suite string, key, iv, aad, pt []byte) ([]byte, error) {
	if suite == SuiteSM2SM4GCM {
		return SM4GCMSeal(key, iv, aad, pt)
	}
	return aesGCMSeal(key, iv, aad, pt)
}

func payloadOpen(suite string, key, iv, aad, ct []byte) ([]byte, error) {
	if suite == SuiteSM2SM4GCM {
		return SM4GCMOpen(key, iv, aad, ct)
	}
	return aesGCMOpen(key, iv, aad, ct)
}

// responseKeyIV is the response key and IV of SPEC 6.3 step 2 (6.6 for the SM suite) and the
// response AAD of step 3.
func responseKeyIV(suite string, sessionKey, responseNonce []byte, keyID, requestNonce string, status int) (key, iv, aad []byte) {
	if suite == SuiteSM2SM4GCM {
		okm := ResponseOKMSM(sessionKey, responseNonce)
		return okm[:16], okm[16:28], []byte(ResponseAADSM(keyID, requestNonce, status))
	}
	okm := ResponseOKM(sessionKey, responseNonce)
	return okm[:32], okm[32:44], []byte(ResponseAAD(keyID, requestNonce, status))
}

// ---------------------------------------------------------------- SM2 keys and the wrap

// smSPKIPrefix is the DER SubjectPublicKeyInfo of an SM2 key up to the point (SPEC 6.6):
// SEQUENCE { SEQUENCE { id-ecPublicKey, sm2p256v1 }, BIT STRING { 00 04 x y } }.
var smSPKIPrefix = []byte{0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, 0x03, 0x42, 0x00}

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSM2Curve    = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301}
)

type sm2ServerKey struct {
	priv *sm2.PrivateKey
	pub  *sm2PublicKey
}

func (k *sm2ServerKey) Suite() string           { return SuiteSM2SM4GCM }
func (k *sm2ServerKey) WrappedKeyLen() int      { return SM2Wrapped }
func (k *sm2ServerKey) Public() ServerPublicKey { return k.pub }

// Unwrap is SM2 decryption of C1 || C3 || C2 (SPEC 6.6, step 7). gmsm 1.3.0's Decrypt takes
// exactly this layout (04 || x1 || y1 || C3 || C2) but drops the first byte without looking at it
// and does not check C1 against the curve, so both are checked here first: a C1 that is not an
// uncompressed point of sm2p256v1, a C3 that does not match, or a plaintext that is not 16 bytes
// is an error (WXSEAL_UNWRAP_FAILED for the verifier).
func (k *sm2ServerKey) Unwrap(w []byte) ([]byte, error) {
	if len(w) != SM2Wrapped {
		return nil, errors.New("an SM2-wrapped key is 113 bytes")
	}
	if w[0] != 0x04 {
		return nil, errors.New("C1 is not an uncompressed point")
	}
	if _, _, err := sm2Point(w[:65]); err != nil {
		return nil, err
	}
	pt, err := sm2.Decrypt(k.priv, w)
	if err != nil {
		return nil, errors.New("SM2 decryption failed")
	}
	if len(pt) != smSessionKeyLen {
		return nil, errors.New("the unwrapped key is not 16 bytes")
	}
	return pt, nil
}

type sm2PublicKey struct {
	pub   *sm2.PublicKey
	point []byte // 04 || x || y
}

func (k *sm2PublicKey) Suite() string { return SuiteSM2SM4GCM }
func (k *sm2PublicKey) SPKI() []byte {
	return append(append([]byte(nil), smSPKIPrefix...), k.point...)
}

// Point is the 65-byte uncompressed public point 04 || x || y.
func (k *sm2PublicKey) Point() []byte { return append([]byte(nil), k.point...) }

// Wrap is SM2 encryption of K (SPEC 6.6). gmsm 1.3.0's Encrypt writes 04 || x1 || y1 || C3 || C2
// (C1 uncompressed, the 2012 order): the wire form itself; the layout is checked, never assumed.
func (k *sm2PublicKey) Wrap(sessionKey []byte) ([]byte, error) {
	if len(sessionKey) != smSessionKeyLen {
		return nil, errors.New("the SM suite's session key is 16 bytes")
	}
	w, err := sm2.Encrypt(k.pub, sessionKey)
	if err != nil {
		return nil, err
	}
	if len(w) != SM2Wrapped || w[0] != 0x04 {
		return nil, fmt.Errorf("unexpected SM2 ciphertext layout (%d bytes)", len(w))
	}
	return w, nil
}

var sm2N1 = func() *big.Int { // n - 1: a private scalar d is in [1, n-2] (GB/T 32918.1)
	return new(big.Int).Sub(sm2.P256Sm2().Params().N, big.NewInt(1))
}()

// sm2Point parses an uncompressed point 04 || x || y of sm2p256v1 (coordinates below p, on the curve).
func sm2Point(b []byte) (*big.Int, *big.Int, error) {
	if len(b) != 65 || b[0] != 0x04 {
		return nil, nil, errors.New("not an uncompressed SM2 point")
	}
	c := sm2.P256Sm2()
	x, y := new(big.Int).SetBytes(b[1:33]), new(big.Int).SetBytes(b[33:65])
	p := c.Params().P
	if x.Cmp(p) >= 0 || y.Cmp(p) >= 0 || !c.IsOnCurve(x, y) {
		return nil, nil, errors.New("not a point of sm2p256v1")
	}
	return x, y, nil
}

func pad32(b []byte) []byte {
	out := make([]byte, 32)
	copy(out[32-len(b):], b)
	return out
}

// NewSM2PublicKey makes a client-side public key from the 65-byte point 04 || x || y.
func NewSM2PublicKey(point []byte) (ServerPublicKey, error) {
	x, y, err := sm2Point(point)
	if err != nil {
		return nil, err
	}
	return &sm2PublicKey{pub: &sm2.PublicKey{Curve: sm2.P256Sm2(), X: x, Y: y}, point: append([]byte(nil), point...)}, nil
}

// NewSM2ServerKey makes a server key from the 32-byte private scalar d (1 <= d <= n-2).
func NewSM2ServerKey(scalar []byte) (ServerKey, error) {
	if len(scalar) != 32 {
		return nil, errors.New("an SM2 private key is 32 bytes")
	}
	d := new(big.Int).SetBytes(scalar)
	if d.Sign() <= 0 || d.Cmp(sm2N1) >= 0 {
		return nil, errors.New("the SM2 private scalar is out of range")
	}
	c := sm2.P256Sm2()
	x, y := c.ScalarBaseMult(scalar)
	point := append(append([]byte{0x04}, pad32(x.Bytes())...), pad32(y.Bytes())...)
	pub, err := NewSM2PublicKey(point)
	if err != nil {
		return nil, err
	}
	priv := &sm2.PrivateKey{PublicKey: sm2.PublicKey{Curve: c, X: x, Y: y}, D: d}
	return &sm2ServerKey{priv: priv, pub: pub.(*sm2PublicKey)}, nil
}

// GenerateSM2ServerKey makes a new SM2 key pair (gmsm's GenerateKey).
func GenerateSM2ServerKey() (ServerKey, error) {
	for {
		k, err := sm2.GenerateKey()
		if err != nil {
			return nil, err
		}
		if k.D.Cmp(sm2N1) < 0 { // GenerateKey draws in [1, n-1]; d = n-1 is not a valid SM2 key
			return NewSM2ServerKey(pad32(k.D.Bytes()))
		}
	}
}

// SM2PrivateScalar is the 32-byte private scalar of an SM2 server key (nil for other suites).
func SM2PrivateScalar(k ServerKey) []byte {
	if s, ok := k.(*sm2ServerKey); ok {
		return pad32(s.priv.D.Bytes())
	}
	return nil
}

// ecAlgID is an AlgorithmIdentifier with its parameters (the named curve).
type ecAlgID struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type ecPKCS8 struct {
	Version    int
	Algorithm  ecAlgID
	PrivateKey []byte
	Attributes asn1.RawValue `asn1:"optional,tag:0"`
}

type ecSPKI struct {
	Algorithm ecAlgID
	PublicKey asn1.BitString
}

// sec1 is RFC 5915's ECPrivateKey.
type sec1 struct {
	Version    int
	PrivateKey []byte
	Parameters asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

func curveIsSM2(a ecAlgID) bool {
	if !a.Algorithm.Equal(oidECPublicKey) {
		return false
	}
	var curve asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(a.Parameters.FullBytes, &curve)
	return err == nil && len(rest) == 0 && curve.Equal(oidSM2Curve)
}

// isSM2PKCS8 reports whether a PKCS#8 DER is an SM2 key (id-ecPublicKey with the SM2 curve).
func isSM2PKCS8(der []byte) bool {
	var p ecPKCS8
	rest, err := asn1.Unmarshal(der, &p)
	return err == nil && len(rest) == 0 && curveIsSM2(p.Algorithm)
}

func isSM2SPKI(der []byte) bool {
	var s ecSPKI
	rest, err := asn1.Unmarshal(der, &s)
	return err == nil && len(rest) == 0 && curveIsSM2(s.Algorithm)
}

// parseSEC1SM2 reads an ECPrivateKey; wantCurve requires the SM2 curve in its parameters (the
// SEC1 PEM form, where nothing else names the curve). A public key, when present, must match.
func parseSEC1SM2(der []byte, wantCurve bool) (ServerKey, error) {
	var e sec1
	rest, err := asn1.Unmarshal(der, &e)
	if err != nil || len(rest) != 0 || e.Version != 1 {
		return nil, errors.New("malformed SM2 ECPrivateKey")
	}
	if len(e.Parameters) > 0 && !e.Parameters.Equal(oidSM2Curve) || wantCurve && !e.Parameters.Equal(oidSM2Curve) {
		return nil, errors.New("the EC private key is not on the SM2 curve (1.2.156.10197.1.301)")
	}
	if len(e.PrivateKey) > 32 {
		return nil, errors.New("malformed SM2 private scalar")
	}
	k, err := NewSM2ServerKey(pad32(e.PrivateKey))
	if err != nil {
		return nil, err
	}
	if e.PublicKey.BitLength > 0 && !bytes.Equal(e.PublicKey.Bytes, k.(*sm2ServerKey).pub.point) {
		return nil, errors.New("the SM2 public key does not match the private key")
	}
	return k, nil
}

func parseSM2PKCS8(der []byte) (ServerKey, error) {
	var p ecPKCS8
	if rest, err := asn1.Unmarshal(der, &p); err != nil || len(rest) != 0 || !curveIsSM2(p.Algorithm) {
		return nil, errors.New("not an SM2 PKCS#8 key")
	}
	return parseSEC1SM2(p.PrivateKey, false)
}

// armoredHex reads the bare hex forms of SPEC 6.6 (-----BEGIN WXSEAL SM2 ... KEY----- hex -----END ...-----).
func armoredHex(text []byte, label string, hexLen int) ([]byte, bool, error) {
	s := strings.TrimSpace(string(text))
	begin, end := "-----BEGIN "+label+"-----", "-----END "+label+"-----"
	if !strings.HasPrefix(s, begin) {
		return nil, false, nil
	}
	if !strings.HasSuffix(s, end) {
		return nil, true, errors.New("no " + end + " line")
	}
	h := strings.Join(strings.Fields(s[len(begin):len(s)-len(end)]), "")
	if len(h) != hexLen {
		return nil, true, fmt.Errorf("%s: want %d hex digits", label, hexLen)
	}
	b, err := hex.DecodeString(strings.ToLower(h))
	if err != nil {
		return nil, true, fmt.Errorf("%s: not hex", label)
	}
	return b, true, nil
}

// parseSM2PrivateText reads the SM2-only private key forms: the armored hex form of SPEC 6.6 and
// SEC1 "EC PRIVATE KEY" (or "SM2 PRIVATE KEY") PEM with the SM2 curve. ok is false when the text
// is neither.
func parseSM2PrivateText(text []byte) (k ServerKey, ok bool, err error) {
	if raw, isArmored, err := armoredHex(text, "WXSEAL SM2 PRIVATE KEY", 64); isArmored {
		if err != nil {
			return nil, true, err
		}
		k, err := NewSM2ServerKey(raw)
		return k, true, err
	}
	// SEC1 ECPrivateKey: "EC PRIVATE KEY", or "SM2 PRIVATE KEY" as OpenSSL 3's `openssl ec` labels it
	if b, _ := pem.Decode(text); b != nil && (b.Type == "EC PRIVATE KEY" || b.Type == "SM2 PRIVATE KEY") {
		k, err := parseSEC1SM2(b.Bytes, true)
		return k, true, err
	}
	return nil, false, nil
}

func parseSM2PublicText(text []byte) (ServerPublicKey, bool, error) {
	raw, isArmored, err := armoredHex(text, "WXSEAL SM2 PUBLIC KEY", 130)
	if !isArmored {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	k, err := NewSM2PublicKey(raw)
	return k, true, err
}

func parseSM2SPKI(der []byte) (ServerPublicKey, error) {
	var s ecSPKI
	if rest, err := asn1.Unmarshal(der, &s); err != nil || len(rest) != 0 || !curveIsSM2(s.Algorithm) {
		return nil, errors.New("not an SM2 public key")
	}
	if s.PublicKey.BitLength != 65*8 {
		return nil, errors.New("malformed SM2 public key")
	}
	return NewSM2PublicKey(s.PublicKey.Bytes)
}

// SM2PrivateKeyPEM is the PKCS#8 PEM of an SM2 server key, as OpenSSL writes it (id-ecPublicKey,
// the SM2 curve in the algorithm parameters, an ECPrivateKey with the public point).
func SM2PrivateKeyPEM(k ServerKey) ([]byte, error) {
	s, ok := k.(*sm2ServerKey)
	if !ok {
		return nil, errors.New("not an SM2 key")
	}
	params, _ := asn1.Marshal(oidSM2Curve)
	inner, err := asn1.Marshal(struct {
		Version    int
		PrivateKey []byte
		PublicKey  asn1.BitString `asn1:"explicit,tag:1"`
	}{1, pad32(s.priv.D.Bytes()), asn1.BitString{Bytes: s.pub.point, BitLength: 65 * 8}})
	if err != nil {
		return nil, err
	}
	der, err := asn1.Marshal(ecPKCS8{Algorithm: ecAlgID{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: params}}, PrivateKey: inner})
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
