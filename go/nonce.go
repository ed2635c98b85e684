package wxseal

import (
	"container/heap"
	"context"
	"errors"
	"sync"
)

// Errors a NonceStore returns from Claim. Any other error is read as "the store cannot be
// reached": the verifier answers WXSEAL_NONCE_STORE_UNAVAILABLE and never accepts (fail closed).
var (
	ErrNonceReplayed  = errors.New("wxseal: nonce already accepted")
	ErrNonceStoreFull = errors.New("wxseal: nonce store full")
	ErrNonceStoreLost = errors.New("wxseal: nonce store lost its records after the request was signed")
)

// NonceClaim is one (key id, nonce) pair to record (SPEC 8).
type NonceClaim struct {
	KeyID, Nonce string
	// Timestamp is the request's Wxseal-Timestamp (Unix seconds); Now the server clock.
	Timestamp, Now int64
	// ExpiresAt (Unix seconds) is how long the pair must be kept at least: t + W.
	ExpiresAt int64
}

// NonceStore records (key id, nonce) pairs with an atomic check-and-set. Claim returns nil when
// the pair was new and is now recorded, ErrNonceReplayed when it was already there,
// ErrNonceStoreFull / ErrNonceStoreLost, or any other error when the store cannot answer.
type NonceStore interface {
	Claim(ctx context.Context, c NonceClaim) error
}

// MemoryNonceStore is a bounded in-process store: entries expire at their ExpiresAt; when it
// holds Capacity live entries it refuses new ones (ErrNonceStoreFull) rather than forget one.
type MemoryNonceStore struct {
	mu       sync.Mutex
	capacity int
	seen     map[string]int64
	byExpiry expiryHeap
}

// NewMemoryNonceStore makes a store of at most capacity live entries (<= 0: 1,000,000).
func NewMemoryNonceStore(capacity int) *MemoryNonceStore {
	if capacity <= 0 {
		capacity = 1_000_000
	}
	return &MemoryNonceStore{capacity: capacity, seen: map[string]int64{}}
}

type expiryEntry struct {
	key string
	at  int64
}
type expiryHeap []expiryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any          { o := *h; x := o[len(o)-1]; *h = o[:len(o)-1]; return x }

// Claim implements NonceStore.
func (s *MemoryNonceStore) Claim(_ context.Context, c NonceClaim) error {
	key := c.KeyID + "\n" + c.Nonce
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.byExpiry.Len() > 0 && s.byExpiry[0].at < c.Now {
		e := heap.Pop(&s.byExpiry).(expiryEntry)
		if s.seen[e.key] == e.at {
			delete(s.seen, e.key)
		}
	}
	if _, ok := s.seen[key]; ok {
		return ErrNonceReplayed
	}
	if len(s.seen) >= s.capacity {
		return ErrNonceStoreFull
	}
	s.seen[key] = c.ExpiresAt
	heap.Push(&s.byExpiry, expiryEntry{key, c.ExpiresAt})
	return nil
}

// Len is the number of entries held (live or not yet swept).
func (s *MemoryNonceStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}
