package wxseal

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SealedContentType is the Content-Type of sealed requests and responses (SPEC 4, 6.2, 6.3).
const SealedContentType = "application/vnd.wxseal.sealed"

// EmptySHA256 is hex(SHA-256("")).
const EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

const (
	metaMaxBytes      = 4096
	identityMemberMax = 256
	responseHKDFInfo  = "WXSEAL1 response"
	ModeSealed        = "sealed"
	ModeSigned        = "signed"
)

// IdentityMembers are the members of the WeChat identity (SPEC 7), in the order the reference writes them.
var IdentityMembers = []string{"openid", "appid", "unionid", "env", "source"}

// Identity is the WeChat identity of SPEC 7: only the known members, each present one a string.
type Identity map[string]string

func (id Identity) OpenID() string  { return id["openid"] }
func (id Identity) AppID() string   { return id["appid"] }
func (id Identity) UnionID() string { return id["unionid"] }
func (id Identity) Env() string     { return id["env"] }
func (id Identity) Source() string  { return id["source"] }

// PathOf is the request target up to (not including) the first '?'.
func PathOf(target string) string {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		return target[:i]
	}
	return target
}

// RawQueryOf is the request target after the first '?', empty if none.
func RawQueryOf(target string) string {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		return target[i+1:]
	}
	return ""
}

// CanonicalQuery (SPEC 5.1): split on &, drop empty segments, stable sort by the bytes before the
// first '=', join with &. Nothing is decoded.
func CanonicalQuery(raw string) string {
	var segs []string
	for _, s := range strings.Split(raw, "&") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	name := func(s string) string {
		if i := strings.IndexByte(s, '='); i >= 0 {
			return s[:i]
		}
		return s
	}
	sort.SliceStable(segs, func(i, j int) bool { return name(segs[i]) < name(segs[j]) }) // Go compares strings bytewise
	return strings.Join(segs, "&")
}

// TargetProblem says why a request target breaks the target rule (SPEC 5.1, 9 step 2.6), or "".
func TargetProblem(target string) string {
	if target == "" {
		return "empty request target"
	}
	if len(target) > 8192 {
		return "request target longer than 8192 bytes"
	}
	for i := 0; i < len(target); i++ {
		if target[i] < 0x21 || target[i] > 0x7e {
			return "request target holds a byte outside 0x21-0x7E"
		}
	}
	if target[0] != '/' {
		return "request target does not start with /"
	}
	if strings.IndexByte(target, '#') >= 0 {
		return "request target holds a fragment"
	}
	path := PathOf(target)
	if strings.IndexByte(path, '\\') >= 0 {
		return "path holds a backslash"
	}
	for i := 0; i+2 < len(path); i++ {
		if path[i] != '%' {
			continue
		}
		hi, ok1 := unhex(path[i+1])
		lo, ok2 := unhex(path[i+2])
		if !ok1 || !ok2 {
			continue
		}
		b := hi<<4 | lo
		if b == 0x2f || b == 0x5c || b == 0x00 {
			return "path holds an encoded separator or NUL"
		}
		if b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_' || b == '~' {
			return "path holds a percent-encoded unreserved character"
		}
	}
	for _, seg := range strings.Split(path, "/") {
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		if seg == "." || seg == ".." {
			return "path holds a dot-segment"
		}
	}
	return ""
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// TrimSpTab removes leading and trailing spaces and tabs, and nothing else.
func TrimSpTab(s string) string {
	return strings.Trim(s, " \t")
}

// SignedFields are the fields of the canonical request string (SPEC 5.2). Empty fields stay empty.
type SignedFields struct {
	Mode, Method, Path, CanonicalQuery, Timestamp, Nonce, KeyID     string
	ContentType, ServerKeyID, WrappedKey, IV, Identity, Traceparent string
	BodySHA256Hex                                                   string
}

// CanonicalRequest is the 15-line string of SPEC 5.2.
func CanonicalRequest(f *SignedFields) string {
	return strings.Join([]string{"WXSEAL1-HMAC-SHA256", f.Mode, f.Method, f.Path, f.CanonicalQuery, f.Timestamp,
		f.Nonce, f.KeyID, f.ContentType, f.ServerKeyID, f.WrappedKey, f.IV, f.Identity, f.Traceparent, f.BodySHA256Hex}, "\n")
}

// HMACSHA256 of the UTF-8 text under secret.
func HMACSHA256(secret []byte, text string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(text))
	return m.Sum(nil)
}

// SHA256Hex is hex(SHA-256(b)).
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// RequestAAD is the request associated data of SPEC 6.2 step 4.
func RequestAAD(method, path, canonicalQuery, timestamp, nonce, keyID, serverKeyID string) string {
	return strings.Join([]string{"WXSEAL1-REQUEST", method, path, canonicalQuery, timestamp, nonce, keyID, serverKeyID}, "\n")
}

// ResponseAAD is the response associated data of SPEC 6.3 step 3.
func ResponseAAD(keyID, requestNonce string, status int) string {
	return strings.Join([]string{"WXSEAL1-RESPONSE", keyID, requestNonce, strconv.Itoa(status)}, "\n")
}

// CanonicalResponse is the sign-only response string of SPEC 12.
func CanonicalResponse(keyID, requestNonce string, status int, contentType string, body []byte) string {
	return strings.Join([]string{"WXSEAL1-HMAC-SHA256-RESPONSE", keyID, requestNonce, strconv.Itoa(status),
		TrimSpTab(contentType), SHA256Hex(body)}, "\n")
}

// CanonicalRejection is the signed rejection string of SPEC 10.1.
func CanonicalRejection(keyID, requestNonce string, status int, code, serverTime string) string {
	return strings.Join([]string{"WXSEAL1-HMAC-SHA256-REJECTION", keyID, requestNonce, strconv.Itoa(status), code, serverTime}, "\n")
}

// ---------------------------------------------------------------- 6.1 framing and the JSON rule

// jsonString writes s as JSON.stringify does: only ", \ and control characters escaped.
func jsonString(buf *bytes.Buffer, s string) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\b':
			buf.WriteString(`\b`)
		case '\f':
			buf.WriteString(`\f`)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		default:
			if c < 0x20 {
				buf.WriteString(`\u00`)
				buf.WriteByte("0123456789abcdef"[c>>4])
				buf.WriteByte("0123456789abcdef"[c&15])
			} else {
				buf.WriteByte(c)
			}
		}
	}
	buf.WriteByte('"')
}

// MetaJSON is the meta of SPEC 6.1 serialised as the reference does (contentType, then identity
// with members in the order openid, appid, unionid, env, source). contentType "" is absent; a nil
// identity is absent.
func MetaJSON(contentType string, identity Identity) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	if contentType != "" {
		b.WriteString(`"contentType":`)
		jsonString(&b, contentType)
		first = false
	}
	if identity != nil {
		if !first {
			b.WriteByte(',')
		}
		b.WriteString(`"identity":{`)
		n := 0
		for _, k := range IdentityMembers {
			v, ok := identity[k]
			if !ok {
				continue
			}
			if n > 0 {
				b.WriteByte(',')
			}
			jsonString(&b, k)
			b.WriteByte(':')
			jsonString(&b, v)
			n++
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes()
}

// Frame is meta JSON || LF || body (SPEC 6.1).
func Frame(contentType string, identity Identity, body []byte) []byte {
	meta := MetaJSON(contentType, identity)
	out := make([]byte, 0, len(meta)+1+len(body))
	out = append(out, meta...)
	out = append(out, '\n')
	return append(out, body...)
}

// Payload is an unframed plaintext.
type Payload struct {
	ContentType string   // "" when absent
	Identity    Identity // nil when absent
	Body        []byte
}

var errMalformed = errors.New("malformed")

// parseJSONText applies the JSON rule of SPEC 6.1: UTF-8 without a byte-order mark, one JSON
// object, no member name twice in any object at any depth (names compared after unescaping, a
// lone surrogate escape read as U+FFFD). Returns the decoded object.
func parseJSONText(b []byte) (map[string]any, error) {
	if bytes.HasPrefix(b, []byte{0xef, 0xbb, 0xbf}) {
		return nil, errors.New("starts with a byte-order mark")
	}
	if !utf8.Valid(b) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		obj     bool
		wantKey bool
		keys    map[string]struct{}
	}
	var stack []*frame
	started, done := false, false
	afterValue := func() {
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if !done {
				return nil, errors.New("truncated JSON")
			}
			break
		}
		if err != nil {
			return nil, errors.New("not JSON")
		}
		if done {
			return nil, errors.New("data after the JSON object")
		}
		if !started {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return nil, errors.New("not a JSON object")
			}
			started = true
		}
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				afterValue()
				if len(stack) == 0 {
					done = true
				}
				continue
			}
			k, ok := tok.(string)
			if !ok {
				return nil, errors.New("not JSON")
			}
			if _, dup := stack[n-1].keys[k]; dup {
				return nil, errors.New("a member name occurs twice: " + strconv.Quote(k))
			}
			stack[n-1].keys[k] = struct{}{}
			stack[n-1].wantKey = false
			continue
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, &frame{obj: true, wantKey: true, keys: map[string]struct{}{}})
			case '[':
				stack = append(stack, &frame{})
			case '}', ']':
				stack = stack[:len(stack)-1]
				afterValue()
				if len(stack) == 0 {
					done = true
				}
			}
			continue
		}
		afterValue()
	}
	var out map[string]any
	full := json.NewDecoder(bytes.NewReader(b))
	full.UseNumber() // numbers are kept as text: 1e400 is not an error (JSON.parse reads Infinity)
	if err := full.Decode(&out); err != nil || out == nil {
		return nil, errors.New("not a JSON object")
	}
	return out, nil
}

// checkIdentity applies SPEC 7 to a decoded identity value.
func checkIdentity(v any) (Identity, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("identity is not a JSON object")
	}
	id := Identity{}
	for _, k := range IdentityMembers {
		x, present := m[k]
		if !present || x == nil {
			continue
		}
		s, ok := x.(string)
		if !ok {
			return nil, errors.New("identity." + k + " is not a string")
		}
		if len(s) > identityMemberMax {
			return nil, errors.New("identity." + k + " is longer than 256 UTF-8 bytes")
		}
		id[k] = s
	}
	return id, nil
}

// ParseIdentityJSON reads a sign-only identity (SPEC 7): the JSON rule, then the member rules.
func ParseIdentityJSON(b []byte) (Identity, error) {
	m, err := parseJSONText(b)
	if err != nil {
		return nil, err
	}
	return checkIdentity(m)
}

// Unframe splits a plaintext at the first LF and checks the meta (SPEC 6.1).
func Unframe(plain []byte) (*Payload, error) {
	limit := len(plain)
	if limit > metaMaxBytes+1 {
		limit = metaMaxBytes + 1
	}
	lf := bytes.IndexByte(plain[:limit], '\n')
	if lf < 0 {
		return nil, errors.New("no LF within the first 4097 bytes")
	}
	meta, err := parseJSONText(plain[:lf])
	if err != nil {
		return nil, err
	}
	p := &Payload{Body: plain[lf+1:]}
	if ct, ok := meta["contentType"]; ok && ct != nil {
		s, ok := ct.(string)
		if !ok {
			return nil, errors.New("contentType is not a string")
		}
		p.ContentType = s
	}
	if idv, ok := meta["identity"]; ok && idv != nil {
		id, err := checkIdentity(idv)
		if err != nil {
			return nil, err
		}
		p.Identity = id
	}
	return p, nil
}
