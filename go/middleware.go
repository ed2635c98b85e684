package wxseal

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
)

type verifiedKey struct{}

// FromContext returns the verified request the middleware handed to the handler: the identity
// (key id, OPENID, APPID, UNIONID, ENV, SOURCE), the mode, and the plaintext content type.
func FromContext(ctx context.Context) (*Verified, bool) {
	v, ok := ctx.Value(verifiedKey{}).(*Verified)
	return v, ok
}

// WithVerified stores a verified request in a context (what the middleware does).
func WithVerified(ctx context.Context, v *Verified) context.Context {
	return context.WithValue(ctx, verifiedKey{}, v)
}

// WriteRejection answers a verifier rejection as SPEC 10 says: its status, Wxseal-Error,
// Wxseal-Server-Time, Content-Type application/json, the JSON error body, and Wxseal-Signature
// when the rejection is signed (10.1).
func WriteRejection(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Wxseal-Error", e.Code)
	h.Set("Wxseal-Server-Time", e.ServerTime)
	if e.Signature != "" {
		h.Set("Wxseal-Signature", e.Signature)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	type inner struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	body, _ := json.Marshal(struct {
		Error inner `json:"error"`
	}{inner{e.Code, e.Message()}})
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// recorder buffers the handler's answer so that it can be sealed or signed as a whole.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// Middleware verifies every request (SPEC 9) before next sees it. A rejection is answered in the
// format of SPEC 10 and next is not called. An accepted request reaches next with the plaintext
// body, Content-Type set to the inner media type, and the Verified record in its context
// (FromContext); next's answer is sealed (6.3) in sealed mode or signed (12) in sign-only mode,
// whatever its status, and a panic in next is answered as an authenticated 500 (10.2).
func Middleware(v *Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := v.BodyLimit()
		var body []byte
		if r.ContentLength <= limit {
			var err error
			body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
			if err != nil {
				// the client went away or sent a broken body: nothing was verified, nothing to sign
				http.Error(w, "cannot read the request body", http.StatusBadRequest)
				return
			}
		}
		req := &Request{Method: r.Method, Target: r.RequestURI, Header: r.Header, Body: body, ContentLength: r.ContentLength}
		ver, rej := v.Verify(r.Context(), req)
		if rej != nil {
			WriteRejection(w, rej)
			return
		}
		r2 := r.Clone(WithVerified(r.Context(), ver))
		r2.Body = io.NopCloser(bytes.NewReader(ver.Body))
		r2.ContentLength = int64(len(ver.Body))
		r2.Header.Del("Content-Length")
		if ver.Mode == ModeSealed {
			for _, hname := range []string{"Wxseal-Wrapped-Key", "Wxseal-Iv", "Wxseal-Server-Key-Id"} {
				r2.Header.Del(hname)
			}
			if ver.ContentType != "" {
				r2.Header.Set("Content-Type", ver.ContentType)
			} else {
				r2.Header.Del("Content-Type")
			}
		}
		rec := &recorder{header: http.Header{}}
		func() {
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					rec.header = http.Header{}
					rec.status = http.StatusInternalServerError
					rec.body.Reset()
				}
			}()
			next.ServeHTTP(rec, r2)
		}()
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		writeAnswer(w, r, ver, rec)
	})
}

func writeAnswer(w http.ResponseWriter, r *http.Request, ver *Verified, rec *recorder) {
	h := w.Header()
	for k, vals := range rec.header {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Content-Encoding", "Content-Type", "Wxseal-Signature", "Wxseal-Response-Nonce", "Wxseal-Error":
			continue
		}
		h[k] = vals
	}
	ct := TrimSpTab(rec.header.Get("Content-Type"))
	if ver.Mode == ModeSealed {
		sr, err := ver.SealResponse(nil, rec.status, ct, rec.body.Bytes()) // in the request's suite (6.3 / 6.6)
		if err != nil {
			// no CSPRNG: nothing can be sealed; fail loudly rather than answer unsealed
			panic(err)
		}
		h.Set("Content-Type", SealedContentType)
		h.Set("Wxseal-Response-Nonce", B64uEncode(sr.ResponseNonce))
		h.Set("Content-Length", strconv.Itoa(len(sr.Body)))
		w.WriteHeader(sr.WireStatus)
		_, _ = w.Write(sr.Body)
		return
	}
	body := rec.body.Bytes()
	if NoContentStatus(rec.status) {
		body, ct = nil, ""
	} else if r.Method == http.MethodHead {
		body = nil
	}
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	h.Set("Wxseal-Signature", B64uEncode(HMACSHA256(ver.secret, CanonicalResponse(ver.KeyID, ver.Nonce, rec.status, ct, body))))
	if !NoContentStatus(rec.status) {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(rec.status)
	if len(body) > 0 {
		_, _ = w.Write(body)
	}
}
