// Package password hashes passwords with argon2id and decides which
// passwords are acceptable.
//
// A hash is deliberately expensive, in time and memory (about 20 ms and
// 19 MiB with DefaultParams), so a Hasher bounds how many run at once: a
// flood of logins then queues for the hashing slots instead of exhausting
// memory or starving every other request of CPU. Hashes are stored as PHC
// strings (phc.go), parsed strictly and with bounds so that a tampered row
// cannot make a login allocate gigabytes. The policy (policy.go) follows
// NIST SP 800-63B: a length range and a list of common passwords, no
// composition rules.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/batonauth/baton"
	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters and the salt and key lengths.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's recommended minimum for argon2id (m=19 MiB,
// t=2, p=1): about 20 ms on one core.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters, for the hasher's own and for those read from a
// stored hash. The upper ones keep a tampered hash from costing more than a
// few seconds or a gigabyte; the lower ones refuse parameters too weak to
// be anyone's intent.
const (
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 100
	maxThreads = 64
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

func (p Params) check() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("t=%d is outside 1..%d", p.Time, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("p=%d is outside 1..%d", p.Threads, maxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		// argon2 needs 8 KiB per lane; x/crypto would silently raise it.
		return fmt.Errorf("m=%d is outside %d..%d", p.Memory, 8*uint32(p.Threads), maxMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d is outside %d..%d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d is outside %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// Hasher hashes and verifies passwords with fixed parameters, running at
// most a fixed number of hashes at once. It is safe for concurrent use.
type Hasher struct {
	params Params
	// sem holds a token per running hash.
	sem chan struct{}
	// ended counts the hashes with large buffers that ended (collectDue).
	ended atomic.Int64
	// dummySalt and dummyKey are what VerifyDummy compares against.
	dummySalt, dummyKey []byte
	// hook, set only by tests, observes the slots.
	hook func(hookEvent)
}

type hookEvent int

const (
	hookWait    hookEvent = iota // about to wait for a slot
	hookStart                    // holds a slot, about to hash
	hookDone                     // hashed, about to free the slot
	hookCollect                  // about to collect the heap, holding the slot
)

// NewHasher returns a Hasher with parameters p that runs at most
// maxConcurrent hashes at once, or runtime.NumCPU() when maxConcurrent <= 0:
// each hash keeps a core busy, so more would only slow every one down, and
// each holds p.Memory KiB. It panics when p is out of bounds, which is a
// configuration error.
func NewHasher(p Params, maxConcurrent int) *Hasher {
	if err := p.check(); err != nil {
		panic("password: NewHasher: " + err.Error())
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.NumCPU()
	}
	return &Hasher{
		params:    p,
		sem:       make(chan struct{}, maxConcurrent),
		dummySalt: make([]byte, p.SaltLen),
		dummyKey:  make([]byte, p.KeyLen),
	}
}

// Params returns the hasher's parameters.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string of an argon2id hash of pw with a new random
// salt. Waiting for a slot respects ctx: when it ends first, the error has
// code baton.EUnavailable.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key, err := h.derive(ctx, pw, salt, h.params)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether pw matches encoded, a PHC string made by Hash (or
// by a Hasher with other parameters). needsRehash is true when pw matches
// but encoded was made with other parameters than the hasher's: the caller,
// who now holds the password, should store a new Hash of it.
//
// An encoded string that is not a well-formed argon2id hash within bounds
// is an error wrapping ErrInvalidHash (code baton.EInternal: the store
// holds something it should not); when ctx ends while waiting for a slot
// the error has code baton.EUnavailable.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (ok, needsRehash bool, err error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.derive(ctx, pw, salt, p)
	if err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, ok && p != h.params, nil
}

// VerifyDummy does the work of a Verify with the hasher's parameters and
// throws the result away. Call it when the user does not exist, so that an
// unknown user costs as much as a wrong password and the answer's timing
// does not tell which usernames exist (API.md, Login). It returns an error
// only when ctx ends while waiting for a slot, as Verify would.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	got, err := h.derive(ctx, pw, h.dummySalt, h.params)
	if err != nil {
		return err
	}
	subtle.ConstantTimeCompare(got, h.dummyKey)
	return nil
}

// derive computes the argon2id key while holding a slot.
func (h *Hasher) derive(ctx context.Context, pw string, salt []byte, p Params) ([]byte, error) {
	if h.hook != nil {
		h.hook(hookWait)
	}
	if err := ctx.Err(); err != nil {
		return nil, busy(err)
	}
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, busy(ctx.Err())
	}
	defer func() { <-h.sem }()
	if h.hook != nil {
		h.hook(hookStart)
		defer h.hook(hookDone)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	if p.Memory >= collectFrom && h.collectDue() {
		// The hash's buffer is garbage now. Collected before the slot is
		// free, the next hash reuses its pages, and the heap stays within
		// HeapBound. Left to the collector's pace, a flood of logins grows
		// the heap by a buffer per hash between collections (RSS near 150
		// MB on two cores), and under a memory limit the runtime hands
		// each freed buffer back to the OS and faults the next one in,
		// which halved logins a second (BENCHMARKS.md). A collection of a
		// server's few-MB heap costs a few percent of a hash.
		if h.hook != nil {
			h.hook(hookCollect)
		}
		runtime.GC()
	}
	return key, nil
}

// collectFrom is the buffer size, in KiB, from which hashes are followed by
// collections: one that outweighs a server's live heap (1-2 MB).
const collectFrom = 4 << 10

// collectDue counts a hash with a large buffer that ended and reports
// whether to collect now: every collectEvery-th one, and whenever no other
// hash is running, so the last of a burst leaves nothing behind.
func (h *Hasher) collectDue() bool {
	return h.ended.Add(1)%int64(collectEvery(cap(h.sem))) == 0 || len(h.sem) == 1
}

// collectEvery is how many hashes may end between two collections on a
// hasher with slots slots: each one up to 7 slots, a quarter of the slots
// from 8. With many cores hashes end hundreds of times a second, and a
// collection after each would keep the collector running without a pause
// (a collection waits for one that starts after it is asked for, so they
// would run back to back).
func collectEvery(slots int) int { return max(1, slots/4) }

// HeapBound is the most heap the buffers of a Hasher's hashes hold at once
// for params p and slots slots (NewHasher's maxConcurrent): one per running
// hash, plus the garbage of those that ended since the last collection. A
// process's memory limit should leave room for it.
func HeapBound(p Params, slots int) int64 {
	n := slots
	if p.Memory >= collectFrom {
		n += collectEvery(slots) - 1
	}
	return int64(n) * int64(p.Memory) << 10
}

func busy(err error) error {
	return baton.WrapError(baton.EUnavailable, "too many password checks in progress, try again", err)
}
