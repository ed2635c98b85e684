package wxseal

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client calls a wxseal server (SPEC 5, 6.2) and authenticates its answers (6.4, 12, 10.1).
type Client struct {
	BaseURL string // scheme://host[:port], no trailing path
	KeyID   string
	Secret  []byte
	// Mode is ModeSealed (default) or ModeSigned.
	Mode        string
	ServerKeyID string
	ServerKey   ServerPublicKey
	HTTPClient  *http.Client
	// MaxResponseBytes bounds what is read of an answer (default 16 MiB).
	MaxResponseBytes int64
	Now              func() time.Time
	// Reuse, when set, reuses one session key and its wrapped form within bounds (SPEC 14).
	Reuse *ReusePolicy
	// MaxBodyBytes is the server's body limit: a request whose bytes on the wire (in sealed mode
	// meta + LF + body + 16-byte tag) would exceed it is refused before sending with
	// WXSEAL_CONFIG_INVALID (SPEC 6.1). Default 1 MiB.
	MaxBodyBytes int64
	// MaxClockCorrection bounds the clock offset taken from Wxseal-Server-Time after a
	// WXSEAL_TIMESTAMP_EXPIRED or _FUTURE rejection (SPEC 8, once per call, then one retry with a new
	// nonce and signature). Default 24 h; negative disables the correction.
	MaxClockCorrection time.Duration

	mu     sync.Mutex
	reused *reusedKey
	offset int64 // seconds added to the local clock (SPEC 8 skew correction)
}

// ReusePolicy bounds session-key reuse (SPEC 14): by age and by number of requests.
type ReusePolicy struct {
	MaxAge  time.Duration // default 300 s, at most 3600 s
	MaxUses int           // default 10 000, at most 2^20
}

type reusedKey struct {
	k, wrapped []byte
	serverKey  string
	created    time.Time
	uses       int
}

// Call is one request.
type Call struct {
	Method      string
	Target      string // path and query, e.g. "/api/orders?x=1"
	ContentType string
	Identity    Identity
	Traceparent string
	Body        []byte
}

// Response is an authenticated answer: sealed answers are opened, signed ones verified.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
	Header      http.Header
}

func (c *Client) localNow() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) now() time.Time {
	c.mu.Lock()
	off := c.offset
	c.mu.Unlock()
	return c.localNow().Add(time.Duration(off) * time.Second)
}

func (c *Client) sessionKey() (k, wrapped []byte, err error) {
	if c.Reuse == nil {
		return nil, nil, nil
	}
	maxAge, maxUses := c.Reuse.MaxAge, c.Reuse.MaxUses
	if maxAge <= 0 || maxAge > time.Hour {
		maxAge = 300 * time.Second
	}
	if maxUses <= 0 || maxUses > 1<<20 {
		maxUses = 10000
	}
	now := c.now() // before taking the lock: now() takes it too
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.reused; r == nil || r.serverKey != c.ServerKeyID || len(r.k) != sessionKeyLen(c.ServerKey.Suite()) || now.Sub(r.created) >= maxAge || r.uses >= maxUses {
		k, err := randomBytes(sessionKeyLen(c.ServerKey.Suite())) // 16 bytes for the SM suite
		if err != nil {
			return nil, nil, err
		}
		w, err := c.ServerKey.Wrap(k)
		if err != nil {
			return nil, nil, err
		}
		c.reused = &reusedKey{k: k, wrapped: w, serverKey: c.ServerKeyID, created: now}
	}
	c.reused.uses++
	return c.reused.k, c.reused.wrapped, nil
}

func (c *Client) dropReused() {
	c.mu.Lock()
	c.reused = nil
	c.mu.Unlock()
}

// Do sends one request. A verifier rejection is returned as *Error with its §10 code (Signed
// tells whether it was a signed rejection that verified for this request); an answer that does
// not authenticate is *Error WXSEAL_RESPONSE_INVALID; a transport failure WXSEAL_NETWORK.
// Any authenticated answer, whatever its status, is returned as a Response.
func (c *Client) Do(ctx context.Context, call Call) (*Response, error) {
	resp, err := c.do(ctx, call)
	var we *Error
	if err != nil && errors.As(err, &we) && (we.Code == CodeTimestampExpired || we.Code == CodeTimestampFuture) && c.MaxClockCorrection >= 0 {
		bound := c.MaxClockCorrection
		if bound == 0 {
			bound = 24 * time.Hour
		}
		serverTime, perr := strconv.ParseInt(we.ServerTime, 10, 64)
		offset := serverTime - c.localNow().Unix()
		if perr == nil && time.Duration(abs(offset))*time.Second <= bound {
			c.mu.Lock()
			c.offset = offset
			c.mu.Unlock()
			return c.do(ctx, call) // a new nonce, timestamp and signature
		}
	}
	return resp, err
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func (c *Client) do(ctx context.Context, call Call) (*Response, error) {
	mode := c.Mode
	if mode == "" {
		mode = ModeSealed
	}
	in := RequestInput{Mode: mode, Method: call.Method, Target: call.Target, KeyID: c.KeyID, Secret: c.Secret,
		ContentType: call.ContentType, Identity: call.Identity, Traceparent: call.Traceparent, Body: call.Body,
		ServerKeyID: c.ServerKeyID, ServerKey: c.ServerKey}
	limit := c.MaxBodyBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	size := int64(len(call.Body))
	if mode == ModeSealed {
		size += int64(len(MetaJSON(call.ContentType, call.Identity))) + 1 + 16
	}
	if size > limit {
		return nil, &Error{Code: CodeConfigInvalid, Detail: "the body cannot fit the server's limit"}
	}
	if mode == ModeSealed && c.ServerKey == nil {
		return nil, &Error{Code: CodeConfigInvalid, Detail: "sealed mode needs the server public key"}
	}
	if mode == ModeSealed {
		k, w, err := c.sessionKey()
		if err != nil {
			return nil, err
		}
		in.SessionKey, in.Wrapped = k, w
	}
	b, err := BuildRequest(in, c.now().Unix())
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, b.Method, strings.TrimRight(c.BaseURL, "/")+"/", bytes.NewReader(b.Body))
	if err != nil {
		return nil, &Error{Code: CodeConfigInvalid, Detail: err.Error()}
	}
	// the request target goes on the request line exactly as signed (no re-encoding)
	hreq.URL.Opaque = PathOf(b.Target)
	hreq.URL.RawQuery = RawQueryOf(b.Target)
	for k, v := range b.Headers {
		hreq.Header.Set(k, v)
	}
	hreq.ContentLength = int64(len(b.Body))
	// bodies are signed and sealed as sent: no transparent gzip (Go's transport would otherwise ask
	// for it and hand over a decoded body)
	hreq.Header.Set("Accept-Encoding", "identity")
	var hc http.Client
	if c.HTTPClient != nil {
		hc = *c.HTTPClient
	} else {
		hc.Timeout = 10 * time.Second
	}
	// an answer is authenticated as received: a redirect is never followed on the client's behalf
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(hreq)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, &Error{Code: CodeTimeout, Detail: err.Error()}
		}
		return nil, &Error{Code: CodeNetwork, Detail: err.Error()}
	}
	defer resp.Body.Close()
	respLimit := c.MaxResponseBytes
	if respLimit <= 0 {
		respLimit = 16 << 20
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, respLimit+1))
	if err != nil {
		return nil, &Error{Code: CodeNetwork, Status: resp.StatusCode, Detail: err.Error()}
	}
	if int64(len(body)) > respLimit {
		return nil, &Error{Code: CodeResponseInvalid, Status: resp.StatusCode, Detail: "answer over the client's limit"}
	}
	if code := resp.Header.Get("Wxseal-Error"); IsWireCode(code) && StatusOf(code) == resp.StatusCode {
		e := &Error{Code: code, Status: resp.StatusCode, ServerTime: resp.Header.Get("Wxseal-Server-Time"),
			Signature: resp.Header.Get("Wxseal-Signature"), Detail: "rejected by the server"}
		e.Signed = VerifyRejectionSuite(b.Suite, c.Secret, b.KeyID, b.Nonce, resp.StatusCode, code, e.ServerTime, e.Signature)
		if code == CodeUnwrapFailed || code == CodeUnknownServerKey || code == CodeDecryptFailed {
			c.dropReused()
		}
		return nil, e
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header}
	if mode == ModeSealed {
		p, err := OpenResponseSuite(b.Suite, b.SessionKey, b.KeyID, b.Nonce, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Wxseal-Response-Nonce"), body)
		if err != nil {
			return nil, err
		}
		out.ContentType, out.Body = p.ContentType, p.Body
		return out, nil
	}
	ct := resp.Header.Get("Content-Type")
	if NoContentStatus(resp.StatusCode) {
		ct = ""
	}
	if err := VerifySignedResponse(c.Secret, b.KeyID, b.Nonce, resp.StatusCode, ct, body, resp.Header.Get("Wxseal-Signature")); err != nil {
		return nil, err
	}
	out.ContentType, out.Body = TrimSpTab(ct), body
	return out, nil
}
