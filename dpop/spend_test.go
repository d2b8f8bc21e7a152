package dpop_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/dpop"
)

// TestCheckThenSpend: Check keeps no state, so a request that fails after
// it takes no room in the replay cache; Spend uses a proof up once.
func TestCheckThenSpend(t *testing.T) {
	clk := newClock(t0)
	v := mustVerifier(t, clk, dpop.Options{})
	proof := mustProof(t, mustProver(t, newECKey(t), clk), "POST", testURL, "", "")
	for i := range 3 {
		if _, err := v.Check(proof, "POST", testURL, ""); err != nil {
			t.Fatalf("Check %d: %v", i, err)
		}
	}
	p, err := v.Check(proof, "POST", testURL, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Spend(context.Background(), p, "192.0.2.1"); err != nil {
		t.Fatalf("first Spend: %v", err)
	}
	if err := v.Spend(context.Background(), p, "192.0.2.2"); code(t, err) != baton.EInvalidDPoPProof {
		t.Fatalf("second Spend, from another address: got %v, want %s", err, baton.EInvalidDPoPProof)
	}
}

// TestSpendPerClient: a client address that fills its share of the cache
// is refused with too_many_requests; other addresses still spend. An IPv6
// client's share is its /64.
func TestSpendPerClient(t *testing.T) {
	clk := newClock(t0)
	v := mustVerifier(t, clk, dpop.Options{ReplayCacheSize: 100, ReplayCachePerClient: 3})
	prover := mustProver(t, newECKey(t), clk)
	spend := func(client string) error {
		p, err := v.Check(mustProof(t, prover, "POST", testURL, "", ""), "POST", testURL, "")
		if err != nil {
			t.Fatal(err)
		}
		return v.Spend(context.Background(), p, client)
	}
	for _, tt := range []struct {
		clients []string // spent in turn; the last one's answer is want
		want    string
	}{
		{[]string{"198.51.100.7", "198.51.100.7", "198.51.100.7", "198.51.100.7"}, baton.ETooManyRequests},
		{[]string{"198.51.100.8"}, ""},
		{[]string{"::ffff:198.51.100.7"}, baton.ETooManyRequests}, // the same IPv4 client
		{[]string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3%eth0", "2001:db8:1:2::4"}, baton.ETooManyRequests},
		{[]string{"2001:db8:1:3::1"}, ""},
	} {
		t.Run(fmt.Sprint(tt.clients), func(t *testing.T) {
			var err error
			for i, c := range tt.clients {
				if err = spend(c); i < len(tt.clients)-1 && err != nil {
					t.Fatalf("spend %d from %s: %v", i, c, err)
				}
			}
			if got := code(t, err); got != tt.want {
				t.Fatalf("last spend: got %v, want %q", err, tt.want)
			}
		})
	}
	clk.Add(dpop.DefaultMaxAge + dpop.DefaultLeeway + 1)
	if err := spend("198.51.100.7"); err != nil {
		t.Fatalf("after the window the share is free again: %v", err)
	}
}
