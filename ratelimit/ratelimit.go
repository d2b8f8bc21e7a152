// Package ratelimit throttles password guessing, refresh-token guessing and
// mass registration. Only failures are counted for logins and refreshes, so
// a busy office behind one address is never throttled for succeeding.
//
// A limit of COUNT per WINDOW is enforced with the generic cell rate
// algorithm (GCRA): each key keeps one time, its theoretical arrival time
// (TAT), the time by which its events so far would have been spent at the
// steady rate of COUNT per WINDOW. An event fits when, after it, the TAT is
// no more than WINDOW ahead of now. So a quiet key has a burst of COUNT,
// after which one more event fits every WINDOW/COUNT, and a key that stays
// quiet for WINDOW has its whole budget back. Unlike fixed windows there is
// no edge to straddle: a burst of COUNT just before a clock-aligned window
// boundary is not followed by another COUNT just after it. One time per key
// also keeps the state small (a sliding log would hold COUNT times per key).
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/netip"
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

// interval is the steady spacing of events, WINDOW/COUNT, in whole
// microseconds as the shared store keeps times (so both compute the same
// waits), and at least one.
func (r Rule) interval() time.Duration {
	return max((r.Window / time.Duration(r.Count)).Truncate(time.Microsecond), time.Microsecond)
}

// tolerance is how far ahead of now a TAT may be before the next event,
// so that COUNT events fit at once.
func (r Rule) tolerance() time.Duration { return r.Window - r.interval() }

// ClientKey is the rate-limit key of a client address, and the one place
// that rule lives: an IPv4 address is its own key; an IPv6 address is
// keyed by its /64, with any zone ignored; an IPv4-mapped IPv6 address is
// the IPv4 address. One IPv6 subscriber or host is normally given a whole
// /64 (SLAAC and privacy addresses rotate inside it freely), so keying by
// the full address would hand every client 2^64 fresh budgets. The /64 is
// only the throttling granularity: session records and the audit log keep
// the full address, which is what identifies a device to its user and to
// an investigation. A peer that is not an IP address (a Unix socket) is its
// own key.
func ClientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// Counter keeps a GCRA budget per key. It is safe for concurrent use.
//
// With a shared baton.RateStore, the store holds the deployment-wide budget and
// decides; the local budget refuses first, without a store round trip,
// when this instance alone has used it up (an attacker hammering one
// instance costs the store nothing), and it still holds while the store is
// unreachable.
type Counter struct {
	rule   Rule
	now    func() time.Time
	shared baton.RateStore
	prefix string

	mu    sync.Mutex
	tat   map[string]time.Time
	sweep time.Time
}

// NewCounter returns a counter for rule; now is the clock (time.Now if nil).
func NewCounter(rule Rule, now func() time.Time) *Counter {
	if now == nil {
		now = time.Now
	}
	if rule.Count < 0 || rule.Window <= 0 {
		rule.Count = 0
	}
	return &Counter{rule: rule, now: now, tat: make(map[string]time.Time)}
}

// Share makes the counter keep its budgets in s too, under keys starting
// with name.
func (c *Counter) Share(s baton.RateStore, name string) {
	c.shared, c.prefix = s, name+":"
}

// storeKey is key as the store sees it: keys hold usernames and addresses,
// so the store gets only their hash.
func (c *Counter) storeKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return c.prefix + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// Spent is one event taken from a budget; Return gives it back.
type Spent struct {
	c      *Counter
	key    string
	shared bool // also spent in the shared store
}

// TakeLocal is Take without the shared store's round trip: it spends from
// this instance's budget only, which knows the deployment's state as of
// its last shared failure. For the hot path (refresh): the deployment-wide
// budget learns of the event only if it fails (Spent.Failed), so a
// successful refresh costs no store write.
func (c *Counter) TakeLocal(key string) (Spent, error) {
	if c.rule.Count == 0 {
		return Spent{}, nil
	}
	if wait, ok := c.takeLocal(key, c.now()); !ok {
		return Spent{}, tooMany(wait)
	}
	return Spent{c: c, key: key}, nil
}

// Failed records a failed event taken with TakeLocal in the shared store,
// and takes the deployment's TAT back, so this instance refuses once the
// deployment's budget is spent. Events taken with Take are already there.
func (s Spent) Failed(ctx context.Context) {
	if s.c == nil || s.shared || s.c.shared == nil {
		return
	}
	now := s.c.now()
	_, tat, err := s.c.shared.TakeRate(ctx, s.c.storeKey(s.key), now, s.c.rule.interval(), s.c.rule.Window)
	if err != nil {
		return
	}
	s.c.mu.Lock()
	if tat.After(s.c.tat[s.key]) {
		s.c.tat[s.key] = tat
	}
	s.c.mu.Unlock()
}

// Take spends one event of key's budget. When the budget has no room it
// spends nothing and returns a too_many_requests error (*TooMany) saying
// how long until it has.
func (c *Counter) Take(ctx context.Context, key string) (Spent, error) {
	if c.rule.Count == 0 {
		return Spent{}, nil
	}
	now := c.now()
	if wait, ok := c.takeLocal(key, now); !ok {
		return Spent{}, tooMany(wait)
	}
	s := Spent{c: c, key: key}
	if c.shared == nil {
		return s, nil
	}
	ok, tat, err := c.shared.TakeRate(ctx, c.storeKey(key), now, c.rule.interval(), c.rule.Window)
	if err != nil {
		return s, nil // the local budget still holds
	}
	if !ok {
		// Other instances used the budget up: refuse, and remember the
		// deployment's TAT so the next refusals need no store round trip.
		c.mu.Lock()
		c.returnLocked(key)
		if tat.After(c.tat[key]) {
			c.tat[key] = tat
		}
		c.mu.Unlock()
		return Spent{}, tooMany(tat.Sub(now) - c.rule.tolerance())
	}
	s.shared = true
	return s, nil
}

func (c *Counter) takeLocal(key string, now time.Time) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A TAT in the past is the same as none, and each event moves a TAT
	// at most one interval ahead. Sweeping every interval (not every
	// window) means a flood from many addresses that fail once each keeps
	// one or two intervals' worth of keys, not a window's worth.
	if now.Sub(c.sweep) >= max(c.rule.interval(), time.Second) {
		for k, t := range c.tat {
			if !t.After(now) {
				delete(c.tat, k)
			}
		}
		c.sweep = now
	}
	tat := c.tat[key]
	if tat.Before(now) {
		tat = now
	}
	if wait := tat.Sub(now) - c.rule.tolerance(); wait > 0 {
		return wait, false
	}
	c.tat[key] = tat.Add(c.rule.interval())
	return 0, true
}

func (c *Counter) returnLocked(key string) {
	if t, ok := c.tat[key]; ok {
		c.tat[key] = t.Add(-c.rule.interval())
	}
}

// Return gives the event back, here and in the shared store. Moving the
// TAT back by one interval undoes exactly this event whatever others were
// spent meanwhile; a TAT that lands in the past is a whole budget.
func (s Spent) Return(ctx context.Context) {
	if s.c == nil {
		return
	}
	s.c.mu.Lock()
	s.c.returnLocked(s.key)
	s.c.mu.Unlock()
	if s.shared {
		_ = s.c.shared.ReturnRate(ctx, s.c.storeKey(s.key), s.c.rule.interval())
	}
}

// TooMany is the error of a refused request; it carries Retry-After.
type TooMany struct {
	Err   *baton.Error
	After time.Duration
}

func (e *TooMany) Error() string { return e.Err.Error() }

// RetryAfter is the wait in whole seconds, rounded up (a client that waits
// that long finds room), at least one.
func (e *TooMany) RetryAfter() int {
	s := int((e.After + time.Second - 1) / time.Second)
	return max(s, 1)
}

func (e *TooMany) Unwrap() error { return e.Err }

func tooMany(after time.Duration) error {
	e := &TooMany{After: after}
	e.Err = baton.Errorf(baton.ETooManyRequests, "too many attempts; retry in %s seconds", strconv.Itoa(e.RetryAfter()))
	return e
}

// returnTimeout bounds giving back a spent event after the request's own
// deadline may have passed.
const returnTimeout = 2 * time.Second

// Limits applies the contract's three limits. Every method takes the
// client's full address and keys it with ClientKey.
type Limits struct {
	Account       *Counter // failed password checks per account and client IP
	IP            *Counter // failed logins, reauths and refreshes per client IP
	Registrations *Counter // registrations per client IP
	// EmailRequests counts forgot-password and verification requests per
	// client IP (nil: unlimited). It counts requests, whether or not a
	// message goes out, so it tells nobody which accounts exist.
	EmailRequests *Counter
	// SecondFactor counts wrong second-factor codes per account from any
	// IP (nil: unlimited). Whoever reaches the second step has the
	// password; a per-IP budget alone would let a spread-out attacker try
	// a million TOTP codes.
	SecondFactor *Counter
	// Ceremonies counts the unauthenticated starts of sign-in ceremonies
	// that store a challenge (passkey sign-in options) per client IP
	// (nil: unlimited), so nobody can fill the challenge table.
	Ceremonies *Counter
}

// Attempt is asked before a password check for account, or a refresh
// (account empty). It spends one failure from each budget the attempt
// falls under before the attempt runs, so that concurrent attempts cannot
// all pass a check that none of them has failed yet; done(false) gives the
// failure back once the attempt did not fail, since only failures count.
// When a budget has no room, err is a too_many_requests *TooMany.
//
// A password check costs tens of milliseconds of hashing, so it also takes
// from the shared budget up front (exact across instances). A refresh is
// the hot path: it spends locally and reaches the shared store only when
// it fails, so a successful refresh costs no store round trip; across
// instances a refresh flood may then overshoot by one event per instance
// before each has learnt the deployment's state.
func (l *Limits) Attempt(ctx context.Context, account, ip string) (done func(failed bool), err error) {
	key := ClientKey(ip)
	if account == "" {
		byIP, err := l.IP.TakeLocal(key)
		if err != nil {
			return nil, err
		}
		return func(failed bool) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), returnTimeout)
			defer cancel()
			if failed {
				byIP.Failed(ctx)
			} else {
				byIP.Return(ctx)
			}
		}, nil
	}
	byIP, err := l.IP.Take(ctx, key)
	if err != nil {
		return nil, err
	}
	var byAccount Spent
	if account != "" {
		if byAccount, err = l.Account.Take(ctx, account+"\x00"+key); err != nil {
			byIP.Return(ctx)
			return nil, err
		}
	}
	return func(failed bool) {
		if failed {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), returnTimeout)
		defer cancel()
		byIP.Return(ctx)
		byAccount.Return(ctx)
	}, nil
}

// AttemptSecondFactor is asked before a second-factor code of account is
// checked; like Attempt it spends a failure up front and done(false)
// gives it back.
func (l *Limits) AttemptSecondFactor(ctx context.Context, account string) (done func(failed bool), err error) {
	if l.SecondFactor == nil || account == "" {
		return func(bool) {}, nil
	}
	spent, err := l.SecondFactor.Take(ctx, account)
	if err != nil {
		return nil, err
	}
	return func(failed bool) {
		if failed {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), returnTimeout)
		defer cancel()
		spent.Return(ctx)
	}, nil
}

// AllowCeremony counts the start of an unauthenticated sign-in ceremony
// and refuses past the budget.
func (l *Limits) AllowCeremony(ctx context.Context, ip string) error {
	if l.Ceremonies == nil {
		return nil
	}
	_, err := l.Ceremonies.Take(ctx, ClientKey(ip))
	return err
}

// AllowRegistration counts a registration and refuses past the budget.
func (l *Limits) AllowRegistration(ctx context.Context, ip string) error {
	_, err := l.Registrations.Take(ctx, ClientKey(ip))
	return err
}

// AllowEmailRequest counts a request that may send mail and refuses past
// the budget.
func (l *Limits) AllowEmailRequest(ctx context.Context, ip string) error {
	if l.EmailRequests == nil {
		return nil
	}
	_, err := l.EmailRequests.Take(ctx, ClientKey(ip))
	return err
}

// Share keeps every limit in s as well (see Counter.Share).
func (l *Limits) Share(s baton.RateStore) {
	l.Account.Share(s, "account")
	l.IP.Share(s, "ip")
	l.Registrations.Share(s, "register")
	if l.SecondFactor != nil {
		l.SecondFactor.Share(s, "second-factor")
	}
	if l.Ceremonies != nil {
		l.Ceremonies.Share(s, "ceremony")
	}
	if l.EmailRequests != nil {
		l.EmailRequests.Share(s, "email-request")
	}
}
