package wxseal

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
)

// HPKE (RFC 9180) base mode, single shot, for the one suite of SPEC 6.5:
// DHKEM(X25519, HKDF-SHA256) (0x0020), HKDF-SHA256 (0x0001), AES-256-GCM (0x0002).
// Built from x/crypto's curve25519 and hkdf and the standard library's AES-GCM.

const (
	hpkeKEMID     = 0x0020
	hpkeKDFID     = 0x0001
	hpkeAEADID    = 0x0002
	hpkeInfo      = "wxseal-v1 session key"
	x25519Wrapped = 80
)

func i2osp2(v int) []byte { b := make([]byte, 2); binary.BigEndian.PutUint16(b, uint16(v)); return b }

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var kemSuiteID = cat([]byte("KEM"), i2osp2(hpkeKEMID))

func labeledExtract(suite, salt []byte, label string, ikm []byte) []byte {
	return hkdf.Extract(sha256.New, cat([]byte("HPKE-v1"), suite, []byte(label), ikm), salt)
}

func labeledExpand(suite, prk []byte, label string, info []byte, l int) []byte {
	out := make([]byte, l)
	r := hkdf.Expand(sha256.New, prk, cat(i2osp2(l), []byte("HPKE-v1"), suite, []byte(label), info))
	if _, err := r.Read(out); err != nil {
		panic(err) // l is at most 32 here, far inside HKDF's 255*32
	}
	return out
}

// x25519 wraps curve25519.X25519, which refuses an all-zero output (RFC 9180 §7.1.4).
func x25519(scalar, point []byte) ([]byte, error) { return curve25519.X25519(scalar, point) }

func x25519Public(sk []byte) ([]byte, error) { return curve25519.X25519(sk, curve25519.Basepoint) }

// HPKEDerivePrivateKey is DeriveKeyPair(ikm) of DHKEM(X25519): the raw private key.
func HPKEDerivePrivateKey(ikm []byte) []byte {
	prk := labeledExtract(kemSuiteID, nil, "dkp_prk", ikm)
	return labeledExpand(kemSuiteID, prk, "sk", nil, 32)
}

func extractAndExpand(dh, kemContext []byte) []byte {
	prk := labeledExtract(kemSuiteID, nil, "eae_prk", dh)
	return labeledExpand(kemSuiteID, prk, "shared_secret", kemContext, 32)
}

// hpkeContext is the base-mode key schedule's output for AES-256-GCM.
type hpkeContext struct {
	sharedSecret, keyScheduleContext, secret, key, baseNonce []byte
}

func keySchedule(sharedSecret []byte) *hpkeContext {
	return keyScheduleFor(hpkeAEADID, 32, sharedSecret, []byte(hpkeInfo))
}

// keyScheduleFor is KeySchedule<mode_base> for DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and the
// AEAD aeadID with an Nk-byte key (the tests check it on RFC 9180 A.1.1, AES-128-GCM).
func keyScheduleFor(aeadID, nk int, sharedSecret, info []byte) *hpkeContext {
	suite := cat([]byte("HPKE"), i2osp2(hpkeKEMID), i2osp2(hpkeKDFID), i2osp2(aeadID))
	pskIDHash := labeledExtract(suite, nil, "psk_id_hash", nil)
	infoHash := labeledExtract(suite, nil, "info_hash", info)
	ksc := cat([]byte{0x00}, pskIDHash, infoHash)
	secret := labeledExtract(suite, sharedSecret, "secret", nil)
	return &hpkeContext{
		sharedSecret:       sharedSecret,
		keyScheduleContext: ksc,
		secret:             secret,
		key:                labeledExpand(suite, secret, "key", ksc, nk),
		baseNonce:          labeledExpand(suite, secret, "base_nonce", ksc, 12),
	}
}

// hpkeSeal is SealBase(pkR, info, aad = empty, pt) with the ephemeral private key skE (a sender
// draws a fresh one for every wrap). It returns enc || ct and the context (for the vectors).
func hpkeSeal(pkR, skE, pt []byte) ([]byte, *hpkeContext, error) {
	dh, err := x25519(skE, pkR)
	if err != nil {
		return nil, nil, err
	}
	enc, err := x25519Public(skE)
	if err != nil {
		return nil, nil, err
	}
	ctx := keySchedule(extractAndExpand(dh, cat(enc, pkR)))
	ct, err := aesGCMSeal(ctx.key, ctx.baseNonce, nil, pt)
	if err != nil {
		return nil, nil, err
	}
	return cat(enc, ct), ctx, nil
}

// hpkeOpen is OpenBase(enc, skR, info, aad = empty, ct) for wrapped = enc || ct.
func hpkeOpen(skR, pkR, wrapped []byte) ([]byte, error) {
	if len(wrapped) != x25519Wrapped {
		return nil, errors.New("wrapped key is not 80 bytes")
	}
	enc, ct := wrapped[:32], wrapped[32:]
	dh, err := x25519(skR, enc)
	if err != nil {
		return nil, err
	}
	ctx := keySchedule(extractAndExpand(dh, cat(enc, pkR)))
	return aesGCMOpen(ctx.key, ctx.baseNonce, nil, ct)
}
