// Package ratelimit counts events per key in fixed windows to throttle
// password guessing, refresh-token guessing and mass registration. Only
// failures are counted for logins and refreshes, so a busy office behind
// one address is never throttled for succeeding.
package ratelimit

import (
	"context"
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

// Counter counts events per key in fixed windows. It is safe for concurrent
// use. Memory is bounded by the keys seen in the current window.
type Counter struct {
	rule Rule
	now  func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	start time.Time
	n     int
}

// NewCounter returns a counter for rule; now is the clock (time.Now if nil).
func NewCounter(rule Rule, now func() time.Time) *Counter {
	if now == nil {
		now = time.Now
	}
	return &Counter{rule: rule, now: now, buckets: make(map[string]*bucket)}
}

// Exceeded reports whether key has used up its budget, and if so for how
// long (rounded up to a second).
func (c *Counter) Exceeded(key string) (time.Duration, bool) {
	if c.rule.Count == 0 {
		return 0, false
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buckets[key]
	if b == nil || now.Sub(b.start) >= c.rule.Window || b.n < c.rule.Count {
		return 0, false
	}
	return b.start.Add(c.rule.Window).Sub(now), true
}

// Add counts one event for key.
func (c *Counter) Add(key string) {
	if c.rule.Count == 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.sweep) >= c.rule.Window {
		for k, b := range c.buckets {
			if now.Sub(b.start) >= c.rule.Window {
				delete(c.buckets, k)
			}
		}
		c.sweep = now
	}
	b := c.buckets[key]
	if b == nil || now.Sub(b.start) >= c.rule.Window {
		c.buckets[key] = &bucket{start: now, n: 1}
		return
	}
	b.n++
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
func (l *Limits) AllowAttempt(_ context.Context, kind, account, ip string) error {
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
func (l *Limits) Failed(_ context.Context, kind, account, ip string) {
	l.IP.Add(ip)
	if account != "" {
		l.Account.Add(account + "\x00" + ip)
	}
}

// AllowRegistration counts a registration and refuses past the budget.
func (l *Limits) AllowRegistration(_ context.Context, ip string) error {
	if d, over := l.Registrations.Exceeded(ip); over {
		return tooMany(d)
	}
	l.Registrations.Add(ip)
	return nil
}
