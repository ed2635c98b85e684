// Package redisnonce is a wxseal.NonceStore on Redis (SPEC 8, 8.1), with a minimal RESP client
// over net.Conn. It fails closed: when Redis cannot be reached, Claim returns an error and the
// verifier answers WXSEAL_NONCE_STORE_UNAVAILABLE.
//
// Loss detection (SPEC 8.1): an epoch key "<prefix>epoch" holds "<random id>:<start ms>". One Lua
// script per claim checks that the epoch is the one this instance expects and only then does
// SET <prefix>n:<key id>:<nonce> 1 EX ttl NX, atomically. A missing epoch (a restart without
// persistence, a flush) is created with start = now; an epoch this instance did not expect is
// adopted; a reconnect starts a new epoch. Each of these makes its start the loss time L, and
// every request with t <= floor(L/1000) + Margin is refused with wxseal.ErrNonceStoreLost
// (WXSEAL_NONCE_STORE_RESET). Unlike the reference store, all keys share one epoch (no 16 buckets):
// this store targets a single Redis primary (or a Sentinel-managed one), not Redis Cluster.
package redisnonce

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	wxseal "wxseal.dev/go"
)

const claimScript = `local e = redis.call('GET', KEYS[1])
if e ~= ARGV[1] then
  if e then return {0, e} end
  return {0, ''}
end
if redis.call('SET', KEYS[2], '1', 'EX', ARGV[2], 'NX') then return {1, ''} end
return {2, ''}`

// Store is a Redis nonce store. Its zero value is not usable: set Addr (and Prefix).
type Store struct {
	Addr     string // host:port
	Password string // AUTH, when set
	Prefix   string // key prefix, e.g. "wxseal:nonce:"
	// Timeout bounds the dial and every command (default 2 s).
	Timeout time.Duration
	// Margin is m of SPEC 8.1 in seconds (default 0).
	Margin int64
	// Now is the clock for epoch starts (default time.Now).
	Now func() time.Time

	mu        sync.Mutex
	conn      net.Conn
	rd        *bufio.Reader
	wr        *bufio.Writer
	connected bool   // a connection existed before (a new one is a reconnect)
	epoch     string // the epoch this instance expects
	lossSec   int64  // floor(L/1000) of the newest loss known; requests with t <= lossSec+Margin are refused
}

// New makes a store for the Redis at addr with the given key prefix.
func New(addr, prefix string) *Store { return &Store{Addr: addr, Prefix: prefix} }

func (s *Store) timeout() time.Duration {
	if s.Timeout <= 0 {
		return 2 * time.Second
	}
	return s.Timeout
}

func (s *Store) nowMs() int64 {
	if s.Now != nil {
		return s.Now().UnixMilli()
	}
	return time.Now().UnixMilli()
}

func (s *Store) epochKey() string { return s.Prefix + "epoch" }

// Connect dials Redis and settles the epoch now rather than at the first claim. Optional.
func (s *Store) Connect(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ensure(ctx)
}

// Close closes the connection.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		err := s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}

// LossSecond is floor(L/1000) of the newest loss this instance knows (0 when none).
func (s *Store) LossSecond() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lossSec
}

func (s *Store) do(ctx context.Context, args ...string) (any, error) {
	deadline := time.Now().Add(s.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = s.conn.SetDeadline(deadline)
	if err := writeCommand(s.wr, args...); err != nil {
		s.drop()
		return nil, err
	}
	r, err := readReply(s.rd)
	if err != nil {
		s.drop()
		return nil, err
	}
	if e, ok := r.(redisError); ok {
		return nil, e
	}
	return r, nil
}

func (s *Store) drop() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.conn = nil
}

func newEpochValue(ms int64) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b) + ":" + strconv.FormatInt(ms, 10)
}

// adopt takes an epoch value as the expected one and its start as a loss time.
func (s *Store) adopt(value string) error {
	i := strings.LastIndexByte(value, ':')
	if i < 0 {
		return errors.New("redisnonce: malformed epoch " + strconv.Quote(value))
	}
	ms, err := strconv.ParseInt(value[i+1:], 10, 64)
	if err != nil {
		return errors.New("redisnonce: malformed epoch " + strconv.Quote(value))
	}
	s.epoch = value
	if sec := ms / 1000; sec > s.lossSec {
		s.lossSec = sec
	}
	return nil
}

// createOrAdopt makes a new epoch when none exists (SET NX), else adopts the one there.
func (s *Store) createOrAdopt(ctx context.Context) error {
	v := newEpochValue(s.nowMs())
	r, err := s.do(ctx, "SET", s.epochKey(), v, "NX")
	if err != nil {
		return err
	}
	if r == "OK" {
		return s.adopt(v)
	}
	cur, err := s.do(ctx, "GET", s.epochKey())
	if err != nil {
		return err
	}
	if str, ok := cur.(string); ok {
		return s.adopt(str)
	}
	return errors.New("redisnonce: the epoch vanished")
}

func (s *Store) ensure(ctx context.Context) error {
	if s.conn != nil {
		return nil
	}
	d := net.Dialer{Timeout: s.timeout()}
	c, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	s.conn, s.rd, s.wr = c, bufio.NewReader(c), bufio.NewWriter(c)
	if s.Password != "" {
		if _, err := s.do(ctx, "AUTH", s.Password); err != nil {
			s.drop()
			return err
		}
	}
	if s.connected {
		// a reconnect (a restart, a failover): the data cannot tell what was lost, start a new epoch
		v := newEpochValue(s.nowMs())
		if _, err := s.do(ctx, "SET", s.epochKey(), v); err != nil {
			s.drop()
			return err
		}
		if err := s.adopt(v); err != nil {
			return err
		}
	} else if err := s.createOrAdopt(ctx); err != nil {
		s.drop()
		return err
	}
	s.connected = true
	return nil
}

// Claim implements wxseal.NonceStore.
func (s *Store) Claim(ctx context.Context, c wxseal.NonceClaim) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensure(ctx); err != nil {
		return fmt.Errorf("redisnonce: %w", err)
	}
	ttl := c.ExpiresAt - c.Now + 1
	if ttl < 1 {
		ttl = 1
	}
	key := s.Prefix + "n:" + c.KeyID + ":" + c.Nonce
	for attempt := 0; attempt < 3; attempt++ {
		if c.Timestamp <= s.lossSec+s.Margin {
			return wxseal.ErrNonceStoreLost
		}
		r, err := s.do(ctx, "EVAL", claimScript, "2", s.epochKey(), key, s.epoch, strconv.FormatInt(ttl, 10))
		if err != nil {
			return fmt.Errorf("redisnonce: %w", err)
		}
		arr, ok := r.([]any)
		if !ok || len(arr) != 2 {
			return errors.New("redisnonce: unexpected script reply")
		}
		switch arr[0] {
		case int64(1):
			return nil
		case int64(2):
			return wxseal.ErrNonceReplayed
		}
		// the epoch is not the one expected: missing (a loss) or changed by another instance
		if cur, _ := arr[1].(string); cur != "" {
			if err := s.adopt(cur); err != nil {
				return err
			}
		} else if err := s.createOrAdopt(ctx); err != nil {
			return fmt.Errorf("redisnonce: %w", err)
		}
	}
	return errors.New("redisnonce: the epoch keeps changing")
}
