package wxseal

import (
	"encoding/base64"
	"errors"
)

var b64 = base64.RawURLEncoding

// B64uEncode is base64url without padding (SPEC 1).
func B64uEncode(b []byte) string { return b64.EncodeToString(b) }

// B64uDecode decodes strictly (SPEC 1): no padding, only the b64u alphabet, no length of 1 mod 4,
// and the re-encoding must equal the input (no non-zero unused bits in the last character).
func B64uDecode(s string) ([]byte, error) {
	if !isB64uAlphabet(s) {
		return nil, errors.New("not b64u")
	}
	if len(s)%4 == 1 {
		return nil, errors.New("b64u length is 1 modulo 4")
	}
	out, err := b64.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("not strict b64u")
	}
	if b64.EncodeToString(out) != s {
		return nil, errors.New("non-zero unused bits")
	}
	return out, nil
}

func isB64uAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
