package redisnonce

// Against the real Redis at 127.0.0.1:6379 (override with WXSEAL_REDIS_ADDR). These tests fail,
// never skip, when it is not there. Every key lives under a random prefix deleted afterwards.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	wxseal "wxseal.dev/go"
)

func redisAddr() string {
	if a := os.Getenv("WXSEAL_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

type raw struct {
	c  net.Conn
	rd *bufio.Reader
	wr *bufio.Writer
}

func dialRaw(t *testing.T) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", redisAddr(), 2*time.Second)
	if err != nil {
		t.Fatalf("Redis is not reachable at %s (%v): these tests need it and fail rather than skip", redisAddr(), err)
	}
	return &raw{c, bufio.NewReader(c), bufio.NewWriter(c)}
}

func (r *raw) cmd(t *testing.T, args ...string) any {
	t.Helper()
	_ = r.c.SetDeadline(time.Now().Add(2 * time.Second))
	if err := writeCommand(r.wr, args...); err != nil {
		t.Fatal(err)
	}
	v, err := readReply(r.rd)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// newPrefix returns a random key prefix and registers the deletion of its keys.
func newPrefix(t *testing.T) (string, *raw) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "wxseal-go-test:" + hex.EncodeToString(b) + ":"
	r := dialRaw(t)
	if r.cmd(t, "PING") != "PONG" {
		t.Fatal("PING")
	}
	t.Cleanup(func() {
		keys, _ := r.cmd(t, "KEYS", prefix+"*").([]any)
		for _, k := range keys {
			r.cmd(t, "DEL", k.(string))
		}
		if left, _ := r.cmd(t, "KEYS", prefix+"*").([]any); len(left) != 0 {
			t.Errorf("keys left under %s: %v", prefix, left)
		}
		r.c.Close()
	})
	return prefix, r
}

// a store whose clock is fixed at start; claims carry timestamps after it
func newStore(t *testing.T, prefix string, clock *int64) *Store {
	s := New(redisAddr(), prefix)
	s.Now = func() time.Time { return time.Unix(atomic.LoadInt64(clock), 0) }
	t.Cleanup(func() { s.Close() })
	if err := s.Connect(context.Background()); err != nil {
		t.Fatalf("Redis is not reachable at %s (%v): these tests need it and fail rather than skip", redisAddr(), err)
	}
	return s
}

func claim(s *Store, keyID, nonce string, t int64) error {
	return s.Claim(context.Background(), wxseal.NonceClaim{KeyID: keyID, Nonce: nonce, Timestamp: t, Now: t, ExpiresAt: t + 60})
}

func TestClaimReplayAndTTL(t *testing.T) {
	prefix, r := newPrefix(t)
	clock := time.Now().Unix()
	s := newStore(t, prefix, &clock)
	now := clock + 1 // signed after the store's first epoch started
	if err := claim(s, "bff", "nonce-0000000000000000001", now); err != nil {
		t.Fatal(err)
	}
	if err := claim(s, "bff", "nonce-0000000000000000001", now); !errors.Is(err, wxseal.ErrNonceReplayed) {
		t.Fatalf("replay: %v", err)
	}
	if err := claim(s, "other", "nonce-0000000000000000001", now); err != nil {
		t.Fatalf("another key id: %v", err)
	}
	ttl, _ := r.cmd(t, "TTL", prefix+"n:bff:nonce-0000000000000000001").(int64)
	if ttl < 59 || ttl > 61 {
		t.Errorf("TTL %d, want about t + W - now + 1 = 61", ttl)
	}
	// a second instance on the same store sees the first one's nonces
	s2 := newStore(t, prefix, &clock)
	if err := claim(s2, "bff", "nonce-0000000000000000001", now); !errors.Is(err, wxseal.ErrNonceReplayed) {
		t.Fatalf("second instance: %v", err)
	}
}

func TestUnreachableFailsClosed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	s := New(addr, "x:")
	s.Timeout = 300 * time.Millisecond
	err = claim(s, "bff", "nonce-0000000000000000001", time.Now().Unix())
	if err == nil || errors.Is(err, wxseal.ErrNonceReplayed) {
		t.Fatalf("unreachable store: %v", err)
	}
	// and a verifier answers WXSEAL_NONCE_STORE_UNAVAILABLE, never accepts
	key, _ := wxseal.GenerateServerKey(wxseal.SuiteX25519HPKE)
	id := wxseal.ServerKeyIDFor(key.Public())
	secret := make([]byte, 32)
	v := &wxseal.Verifier{Credentials: wxseal.StaticCredentials{"bff": {Secrets: []wxseal.Secret{{Key: secret}}}},
		ServerKeys: map[string]wxseal.ServerKey{id: key}, Nonces: s}
	b, err := wxseal.BuildRequest(wxseal.RequestInput{Method: "POST", Target: "/api/x", KeyID: "bff", Secret: secret, ServerKeyID: id, ServerKey: key.Public()}, time.Now().Unix())
	if err != nil {
		t.Fatal(err)
	}
	h := map[string][]string{}
	for k, val := range b.Headers {
		h[k] = []string{val}
	}
	_, rej := v.Verify(context.Background(), &wxseal.Request{Method: "POST", Target: "/api/x", Header: h, Body: b.Body, ContentLength: -1})
	if rej == nil || rej.Code != wxseal.CodeNonceStoreUnavailable || rej.Status != 503 {
		t.Fatalf("verifier: %v", rej)
	}
}

func TestLossDetected(t *testing.T) {
	prefix, r := newPrefix(t)
	start := time.Now().Unix()
	clock := start
	s := newStore(t, prefix, &clock)
	if got := s.LossSecond(); got != start {
		t.Fatalf("first use of an empty store is a loss at %d, got %d", start, got)
	}
	if err := claim(s, "bff", "nonce-before-loss-00000001", start); !errors.Is(err, wxseal.ErrNonceStoreLost) {
		t.Fatalf("signed in the epoch's first second: %v", err)
	}
	if err := claim(s, "bff", "nonce-before-loss-00000001", start+1); err != nil {
		t.Fatal(err)
	}
	// the store loses its records (a flush of our keys, the epoch included)
	atomic.StoreInt64(&clock, start+5)
	keys, _ := r.cmd(t, "KEYS", prefix+"*").([]any)
	for _, k := range keys {
		r.cmd(t, "DEL", k.(string))
	}
	// a request signed before the loss could have been accepted before it: refused, not accepted twice
	if err := claim(s, "bff", "nonce-before-loss-00000001", start+1); !errors.Is(err, wxseal.ErrNonceStoreLost) {
		t.Fatalf("after the loss: %v", err)
	}
	if err := claim(s, "bff", "nonce-after-loss-000000001", start+6); err != nil {
		t.Fatalf("signed after the loss: %v", err)
	}
	// another instance meets an epoch it did not expect: it adopts the newer start
	s2 := newStore(t, prefix, &clock)
	if s2.LossSecond() != start+5 {
		t.Errorf("second instance loss second %d, want %d", s2.LossSecond(), start+5)
	}
	// a reconnect starts a new epoch
	atomic.StoreInt64(&clock, start+9)
	s.mu.Lock()
	s.drop()
	s.mu.Unlock()
	if err := claim(s, "bff", "nonce-after-reconnect-0001", start+9); !errors.Is(err, wxseal.ErrNonceStoreLost) {
		t.Fatalf("after a reconnect: %v", err)
	}
	if err := claim(s, "bff", "nonce-after-reconnect-0001", start+10); err != nil {
		t.Fatal(err)
	}
	if err := claim(s2, "bff", "nonce-other-instance-00001", start+9); !errors.Is(err, wxseal.ErrNonceStoreLost) {
		t.Fatalf("the other instance adopts the new epoch: %v", err)
	}
}
