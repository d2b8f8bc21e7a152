package session_test

import (
	"slices"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/session"
)

// TestNoEnumerationByTiming: with production argon2id parameters, a login
// for an unknown user costs what a wrong password for a real one costs.
// Medians over interleaved tries; the bound is loose on purpose (a shared
// machine is noisy) yet catches the real failure, a skipped hash, which is
// two orders of magnitude faster.
func TestNoEnumerationByTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes with production parameters")
	}
	f := newFixture(t, func(c *session.Config) { c.Hasher = password.NewHasher(password.DefaultParams, 1) })
	f.user(t, "alice")
	const tries = 15
	var unknown, wrong []time.Duration
	for i := 0; i < tries; i++ {
		for _, name := range []string{"nobody-here", "alice"} {
			start := time.Now()
			_, err := f.svc.Login(ctx, session.LoginRequest{Username: name, Password: "not the password"}, cl)
			d := time.Since(start)
			wantCode(t, err, baton.EInvalidCredentials)
			if name == "alice" {
				wrong = append(wrong, d)
			} else {
				unknown = append(unknown, d)
			}
		}
	}
	mu, mw := median(unknown), median(wrong)
	ratio := float64(mu) / float64(mw)
	t.Logf("median login time: unknown user %v, wrong password %v (ratio %.2f)", mu, mw, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("unknown-user logins take %.2f× the time of wrong-password logins", ratio)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
