// Package ratelimit counts events per key in fixed windows to throttle
// password guessing, refresh-token guessing and mass registration. Only
// failures are counted for logins and refreshes, so a busy office behind
// one address is never throttled for succeeding.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"sync"
	"time"

	"github.com/batonauth/baton"
)

// Rule is COUNT events per Window; a zero Count disables it.
type Rule struct {
	Count  int
	Window time.Duration
}

// Shared counts events across instances (the PostgreSQL store provides
// it), so a limit holds for the whole deployment, not per process.
type Shared interface {
	// AddCount adds one event to key's counter for the window starting at
	// window, kept until expires, and returns the window's count.
	AddCount(ctx context.Context, key string, window, expires time.Time) (int64, error)
}

// Counter counts events per key in fixed windows aligned to the clock, so
// every instance agrees on where a window starts. It is safe for concurrent
// use; memory is bounded by the keys seen in the current window.
//
// With a Shared backend, each Add also counts in the store and adopts the
// deployment-wide count it returns. Checks stay local (no store round trip
// on the hot path): an instance learns of other instances' events at its
// own next event for the key, so across N instances a window admits at most
// N-1 events beyond its budget.
type Counter struct {
	rule   Rule
	now    func() time.Time
	shared Shared
	prefix string

	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	start time.Time
	n     int64
}

// NewCounter returns a counter for rule; now is the clock (time.Now if nil).
func NewCounter(rule Rule, now func() time.Time) *Counter {
	if now == nil {
		now = time.Now
	}
	return &Counter{rule: rule, now: now, buckets: make(map[string]*bucket)}
}

// Share makes the counter count in s too, under keys starting with name.
func (c *Counter) Share(s Shared, name string) {
	c.shared, c.prefix = s, name+":"
}

func (c *Counter) window(now time.Time) time.Time { return now.Truncate(c.rule.Window) }

// Exceeded reports whether key has used up its budget, and if so for how
// long.
func (c *Counter) Exceeded(key string) (time.Duration, bool) {
	if c.rule.Count == 0 {
		return 0, false
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buckets[key]
	if b == nil || !b.start.Equal(c.window(now)) || b.n < int64(c.rule.Count) {
		return 0, false
	}
	return b.start.Add(c.rule.Window).Sub(now), true
}

// Add counts one event for key.
func (c *Counter) Add(ctx context.Context, key string) {
	if c.rule.Count == 0 {
		return
	}
	now := c.now()
	start := c.window(now)
	c.mu.Lock()
	if now.Sub(c.sweep) >= c.rule.Window {
		for k, b := range c.buckets {
			if !b.start.Equal(start) {
				delete(c.buckets, k)
			}
		}
		c.sweep = now
	}
	b := c.buckets[key]
	if b == nil || !b.start.Equal(start) {
		b = &bucket{start: start}
		c.buckets[key] = b
	}
	b.n++
	c.mu.Unlock()
	if c.shared == nil {
		return
	}
	// Keys hold usernames and addresses: the store sees only their hash.
	sum := sha256.Sum256([]byte(key))
	n, err := c.shared.AddCount(ctx, c.prefix+base64.RawURLEncoding.EncodeToString(sum[:16]), start, start.Add(c.rule.Window))
	if err != nil {
		return // the local count still holds
	}
	c.mu.Lock()
	if b.start.Equal(start) && n > b.n {
		b.n = n
	}
	c.mu.Unlock()
}

// TooMany is the error of a refused request; it carries Retry-After.
type TooMany struct {
	Err   *baton.Error
	After time.Duration
}

func (e *TooMany) Error() string { return e.Err.Error() }

// RetryAfter is the wait in whole seconds, at least one.
func (e *TooMany) RetryAfter() int {
	s := int((e.After + time.Second - 1) / time.Second)
	return max(s, 1)
}

func (e *TooMany) Unwrap() error { return e.Err }

func tooMany(after time.Duration) error {
	return &TooMany{Err: baton.Errorf(baton.ETooManyRequests, "too many attempts; retry in %s seconds", strconv.Itoa(max(int(after/time.Second), 1))), After: after}
}

// Limits applies the contract's three limits in one process.
type Limits struct {
	Account       *Counter // failed password checks per account and IP
	IP            *Counter // failed logins, reauths and refreshes per IP
	Registrations *Counter // registrations per IP
}

// AllowAttempt refuses when earlier failures used up a budget.
func (l *Limits) AllowAttempt(_ context.Context, account, ip string) error {
	if d, over := l.IP.Exceeded(ip); over {
		return tooMany(d)
	}
	if account != "" {
		if d, over := l.Account.Exceeded(account + "\x00" + ip); over {
			return tooMany(d)
		}
	}
	return nil
}

// Failed counts a failed attempt.
func (l *Limits) Failed(ctx context.Context, account, ip string) {
	l.IP.Add(ctx, ip)
	if account != "" {
		l.Account.Add(ctx, account+"\x00"+ip)
	}
}

// AllowRegistration counts a registration and refuses past the budget.
func (l *Limits) AllowRegistration(ctx context.Context, ip string) error {
	if d, over := l.Registrations.Exceeded(ip); over {
		return tooMany(d)
	}
	l.Registrations.Add(ctx, ip)
	return nil
}

// Share counts all three limits in s as well (see Counter.Share).
func (l *Limits) Share(s Shared) {
	l.Account.Share(s, "account")
	l.IP.Share(s, "ip")
	l.Registrations.Share(s, "register")
}
