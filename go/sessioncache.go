package wxseal

import (
	"container/list"
	"sync"
	"time"
)

// SessionKeyCache keeps unwrapped session keys (SPEC 14), bounded by size and idle time, indexed by
// SHA-256(key id || LF || server key id || LF || wrapped key). The verifier consults it only at
// step 7 (after the HMAC and the nonce) and adds an entry only after the body decrypted.
type SessionKeyCache struct {
	mu      sync.Mutex
	max     int
	idle    time.Duration
	entries map[[32]byte]*list.Element
	lru     *list.List
}

type cacheEntry struct {
	id   [32]byte
	key  []byte
	used time.Time
}

// NewSessionKeyCache makes a cache of at most max entries, each dropped after idle without use.
func NewSessionKeyCache(max int, idle time.Duration) *SessionKeyCache {
	if max <= 0 {
		max = 10000
	}
	if idle <= 0 {
		idle = 5 * time.Minute
	}
	return &SessionKeyCache{max: max, idle: idle, entries: map[[32]byte]*list.Element{}, lru: list.New()}
}

func (c *SessionKeyCache) get(id [32]byte, now time.Time) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[id]
	if !ok {
		return nil
	}
	e := el.Value.(*cacheEntry)
	if now.Sub(e.used) > c.idle {
		c.lru.Remove(el)
		delete(c.entries, id)
		return nil
	}
	e.used = now
	c.lru.MoveToFront(el)
	return e.key
}

func (c *SessionKeyCache) put(id [32]byte, key []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[id]; ok {
		el.Value.(*cacheEntry).used = now
		c.lru.MoveToFront(el)
		return
	}
	c.entries[id] = c.lru.PushFront(&cacheEntry{id: id, key: append([]byte(nil), key...), used: now})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).id)
	}
}

// Len is the number of cached keys.
func (c *SessionKeyCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
