package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/resource"
	"github.com/batonauth/baton/token"
)

// verifyResult is the in-process verification scenario: access tokens
// verified by c goroutines through the resource-server middleware's
// Verifier (package resource, following a revocation feed of 1,000
// entries), through token.Keyring.Verify alone, and by the bare Ed25519
// signature check of the same token.
type verifyResult struct {
	o                   options
	resource, full, raw []float64 // verifications per second, per run
}

// runVerify measures in-process verification. The JWKS and the revocation
// feed the Verifier reads at start come from a loopback server in this
// process; nothing touches the network while measuring.
func runVerify(ctx context.Context, o options) (*verifyResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	iss := "http://" + ln.Addr().String()
	now := time.Now()
	key, err := token.NewSigningKey(now.Add(-time.Minute), now.Add(-time.Minute))
	if err != nil {
		return nil, err
	}
	k := token.NewKeyring(token.Options{Issuer: iss, Audience: iss})
	if err := k.SetKeys([]*baton.Key{key}, now); err != nil {
		return nil, err
	}
	// A feed of 1,000 revoked sessions, so the revoked-set lookup works on
	// a set of realistic size.
	var feed strings.Builder
	feed.WriteString(`{"cursor":"1000","revoked":[`)
	until := now.Add(time.Hour).UTC().Format(time.RFC3339)
	for i := range 1000 {
		if i > 0 {
			feed.WriteByte(',')
		}
		fmt.Fprintf(&feed, `{"sid":"revoked-%04d","revoked_at":%q,"until":%q}`, i, until, until)
	}
	feed.WriteString(`]}`)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(k.JWKS())
	})
	var polled atomic.Bool
	mux.HandleFunc("/v1/revocations", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if polled.Swap(true) {
			_, _ = w.Write([]byte(`{"cursor":"1000","revoked":[]}`))
			return
		}
		_, _ = w.Write([]byte(feed.String()))
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	rv, err := resource.New(ctx, resource.Options{Issuer: iss, ClientID: "bench", ClientSecret: "bench",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("resource.New: %w", err)
	}
	defer rv.Close()
	if n := rv.RevokedCount(); n != 1000 {
		return nil, fmt.Errorf("resource verifier follows %d revoked sessions, want 1000", n)
	}

	iat := now.Truncate(time.Second)
	tok, err := k.Sign(&token.Claims{
		Subject: "0b6e4f0c-8d5e-4c55-9f3c-0d6c1f4b2a11", IssuedAt: iat, ExpiresAt: iat.Add(time.Hour),
		AuthTime: iat, ID: "5f0c3c9e-2f7a-4d8b-8a51-3a4f9a0e6c21", SessionID: "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
		ClientID: "bench",
	})
	if err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:i])
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		return nil, err
	}
	pub := ed25519.PublicKey(key.Public)
	if _, err := rv.Verify(ctx, tok); err != nil {
		return nil, fmt.Errorf("resource Verify: %w", err)
	}
	fns := []func() bool{
		func() bool { _, err := rv.Verify(ctx, tok); return err == nil },
		func() bool { _, err := k.Verify(tok, time.Now()); return err == nil },
		func() bool { return ed25519.Verify(pub, input, sig) },
	}
	res := &verifyResult{o: o}
	// The three are interleaved in 100 ms slices, so load from other
	// processes on a shared machine hits them alike and the ratios hold.
	const slice = 100 * time.Millisecond
	for range o.runs {
		var rates [3]float64
		rounds := max(1, int(o.d/slice))
		for range rounds {
			for i, f := range fns {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				rates[i] += loop(ctx, o.c, slice, f) / float64(rounds)
			}
		}
		res.resource = append(res.resource, rates[0])
		res.full = append(res.full, rates[1])
		res.raw = append(res.raw, rates[2])
	}
	return res, nil
}

// loop runs f on c goroutines for d and returns calls per second.
func loop(ctx context.Context, c int, d time.Duration, f func() bool) float64 {
	var n atomic.Int64
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			var k int64
			for ctx.Err() == nil {
				for range 16 {
					if !f() {
						panic("verification failed")
					}
				}
				k += 16
				if !time.Now().Before(end) {
					break
				}
			}
			n.Add(k)
		})
	}
	wg.Wait()
	// The goroutines overshoot end by up to 16 calls: divide by the time
	// they actually ran.
	return float64(n.Load()) / time.Since(start).Seconds()
}

func (v *verifyResult) ratio(xs []float64) float64 {
	r := make([]float64, len(xs))
	for i := range xs {
		r[i] = ratio(xs[i], v.raw[i])
	}
	return median(r)
}

func (v *verifyResult) print(w io.Writer) {
	fmt.Fprintf(w, "scenario verify (in process), c=%d goroutines, GOMAXPROCS=%d, %d run(s) of %s each (medians)\n",
		v.o.c, runtime.GOMAXPROCS(0), len(v.raw), v.o.d)
	fmt.Fprintf(w, "resource.Verifier.Verify %10s/s  %6s per verification per core  %5.1f%% of raw (target ≥ 85%%)\n",
		fmtRate(median(v.resource)), fmtDur(perCore(median(v.resource), v.o.c)), 100*v.ratio(v.resource))
	fmt.Fprintf(w, "token.Keyring.Verify     %10s/s  %6s per verification per core  %5.1f%% of raw\n",
		fmtRate(median(v.full)), fmtDur(perCore(median(v.full), v.o.c)), 100*v.ratio(v.full))
	fmt.Fprintf(w, "ed25519.Verify (raw)     %10s/s  %6s per verification per core\n",
		fmtRate(median(v.raw)), fmtDur(perCore(median(v.raw), v.o.c)))
}

func perCore(rate float64, c int) time.Duration {
	if rate == 0 {
		return 0
	}
	return time.Duration(float64(min(c, runtime.GOMAXPROCS(0))) / rate * float64(time.Second))
}
