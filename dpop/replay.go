package dpop

import (
	"crypto/sha256"
	"errors"
	"net/netip"
	"sync"
	"time"
)

var (
	errReplayed = errors.New("jti already used with this key")
	// errCacheFull means every remembered jti is still inside its window.
	errCacheFull = errors.New("replay cache full")
	// errClientFull means the client's share of the cache is used up.
	errClientFull = errors.New("client's share of the replay cache full")
)

// replayCache remembers the jti of accepted proofs for as long as the
// proofs could be accepted again (RFC 9449 §11.1). It is safe for
// concurrent use.
//
// Each entry is kept for window = MaxAge+Leeway after it was recorded. A
// proof recorded at time s had iat ≤ s+Leeway, and is refused as too old
// once now > iat+MaxAge, so by s+window at the latest: forgetting it then
// lets no replay through. Because every entry lives equally long, entries
// expire in the order they were added, and a FIFO queue finds the expired
// ones in O(1) amortised time per add, with no timer or sweeper goroutine.
//
// The cache is bounded twice: in all (max) and per client address
// (perClient). When either bound is reached, add refuses the new proof
// instead of dropping an entry early, which would re-open a replay window
// for a proof an attacker may hold. Anyone can make valid proofs with keys
// of their own, so without the per-client bound one client could fill the
// cache and make every honest proof wait; with it, a client that floods
// fills its own share only, and denying everyone takes max/perClient
// addresses, each past the credential checks callers make before Spend.
type replayCache struct {
	window    int64 // nanoseconds
	max       int
	perClient int

	mu      sync.Mutex
	seen    map[replayID]struct{}
	clients map[string]int // live entries per client
	queue   []replayEntry  // in order of expiry from head on
	head    int
}

// replayID identifies a proof: a hash of its key's thumbprint and its jti.
// Including the thumbprint means one client cannot spend another's jti
// values (a jti need only be unique per key), and hashing bounds an
// entry's size whatever the jti's. 128 bits leave collisions to chance
// alone, about 2^-94 among 100,000 entries; SHA-256 makes them impossible
// to arrange.
type replayID [16]byte

type replayEntry struct {
	id      replayID
	client  string
	expires int64 // Unix nanoseconds
}

func newReplayCache(max, perClient int, window time.Duration) *replayCache {
	return &replayCache{window: int64(window), max: max, perClient: perClient,
		seen: make(map[replayID]struct{}), clients: make(map[string]int)}
}

func replayKey(jkt, jti string) replayID {
	// A stack buffer: jkt is 43 bytes and jti at most MaxJTIBytes.
	var buf [64 + MaxJTIBytes]byte
	b := append(buf[:0], jkt...)
	b = append(b, 0) // a thumbprint has no NUL: the split is unambiguous
	b = append(b, jti...)
	sum := sha256.Sum256(b)
	return replayID(sum[:len(replayID{})])
}

// clientKey is the share of the cache an address draws on: an IPv6
// client's /64, which one subscriber usually holds whole (so a flood
// cannot rotate through its addresses), and an IPv4 address as it is.
// Anything else (no address known) is one share, cut to a bounded length.
func clientKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr[:min(len(addr), 64)]
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.String()
	}
	return a.String()
}

// add records id for client at now. It returns errReplayed if id is
// already recorded and unexpired, errCacheFull or errClientFull if there
// is no room.
func (c *replayCache) add(id replayID, client string, now time.Time) error {
	t := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Drop what expired. Should the clock step back, entries stay longer
	// than needed: the mistake is on the safe side.
	for c.head < len(c.queue) && c.queue[c.head].expires < t {
		e := &c.queue[c.head]
		delete(c.seen, e.id)
		if n := c.clients[e.client] - 1; n > 0 {
			c.clients[e.client] = n
		} else {
			delete(c.clients, e.client)
		}
		*e = replayEntry{}
		c.head++
	}
	if _, ok := c.seen[id]; ok {
		return errReplayed
	}
	if len(c.seen) >= c.max {
		return errCacheFull
	}
	if c.clients[client] >= c.perClient {
		return errClientFull
	}
	// Reuse the queue's dead prefix once it is at least half the slice, so
	// the backing array stays within twice the live entries.
	if c.head > 0 && c.head >= len(c.queue)/2 {
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue = c.queue[:n]
		c.head = 0
	}
	c.seen[id] = struct{}{}
	c.clients[client]++
	c.queue = append(c.queue, replayEntry{id: id, client: client, expires: t + c.window})
	return nil
}
