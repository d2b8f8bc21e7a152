package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	got := summarize(lat, 2*time.Second)
	want := stats{n: 100, rps: 50, p50: 50 * time.Millisecond, p90: 90 * time.Millisecond, p99: 99 * time.Millisecond, max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("summarize: got %+v, want %+v", got, want)
	}
	if got := summarize(nil, time.Second); got != (stats{}) {
		t.Errorf("summarize(nil): got %+v, want zero", got)
	}
}

func TestSpliceGenerated(t *testing.T) {
	gen := beginMarker + "\nnew\n" + endMarker + "\n"
	doc := "# title\n\nprose\n" + beginMarker + "\nold\n" + endMarker + "\nmore prose\n"
	got := spliceGenerated(doc, gen)
	want := "# title\n\nprose\n" + beginMarker + "\nnew\n" + endMarker + "\nmore prose\n"
	if got != want {
		t.Errorf("splice:\ngot  %q\nwant %q", got, want)
	}
	if got := spliceGenerated("# title", gen); got != "# title\n\n"+gen {
		t.Errorf("splice without markers: got %q", got)
	}
}

func TestWriteMicro(t *testing.T) {
	path := filepath.Join(t.TempDir(), "micro.txt")
	out := `pkg: github.com/batonauth/baton/sqlite
BenchmarkRotateParallel-2   	   10000	    130000 ns/op	        15.00 ops/commit	    1458 B/op	      45 allocs/op
BenchmarkRotateParallel-2   	   10000	    100000 ns/op	        16.00 ops/commit	    1456 B/op	      45 allocs/op
BenchmarkRotateParallel-2   	   10000	    120000 ns/op	        17.00 ops/commit	    1457 B/op	      45 allocs/op
PASS
`
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := writeMicro(&b, path); err != nil {
		t.Fatalf("writeMicro: %v", err)
	}
	want := "| sqlite | BenchmarkRotateParallel-2 | 120µs | 1457 | 45 | 16 ops/commit |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("writeMicro: got\n%s\nwant a row %s", b.String(), want)
	}
}

func TestProcFigures(t *testing.T) {
	pid := os.Getpid()
	if _, err := procCPU(pid); err != nil {
		t.Errorf("procCPU: %v", err)
	}
	if kb, err := procStatusKB(pid, "VmHWM"); err != nil || kb <= 0 {
		t.Errorf("procStatusKB(VmHWM): got %d, %v, want > 0, nil", kb, err)
	}
	if busy, err := machineBusy(); err != nil || busy <= 0 {
		t.Errorf("machineBusy: got %v, %v, want > 0, nil", busy, err)
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd: got %v, want 2", got)
	}
	if got := median([]time.Duration{4, 1, 3, 2}); got != 2 {
		t.Errorf("median even: got %v, want 2 (integer mean of 2 and 3)", got)
	}
}

// TestTOTPUsers checks the rule login-totp lives by: virtual users share
// no user, and no (user, step) pair is handed out twice.
func TestTOTPUsers(t *testing.T) {
	const users, c = 10, 3
	m := &mfaRig{scenario: "login-totp", users: users}
	vus := make([]*vu, c)
	for i := range vus {
		vus[i] = &vu{id: i}
	}
	m.assignUsers(vus)
	owner := map[int]int{}
	for _, v := range vus {
		for _, u := range v.pool {
			if prev, ok := owner[u]; ok {
				t.Fatalf("user %d belongs to virtual users %d and %d", u, prev, v.id)
			}
			owner[u] = v.id
		}
	}
	if len(owner) != users {
		t.Fatalf("%d users assigned, want %d", len(owner), users)
	}
	type pair struct {
		user int
		step int64
	}
	seen := map[pair]bool{}
	tests := []struct {
		step  int64
		calls int // calls to nextUser for virtual user 0 (users 0, 3, 6, 9)
		fresh int // how many of them find a user
	}{
		{step: 100, calls: 6, fresh: 4},
		{step: 101, calls: 2, fresh: 2},
		{step: 101, calls: 3, fresh: 2},
		{step: 102, calls: 4, fresh: 4},
	}
	v := vus[0]
	for _, tt := range tests {
		got := 0
		for range tt.calls {
			u, err := v.nextUser(tt.step)
			if err != nil {
				if err != errNoFreshUser {
					t.Fatalf("step %d: %v", tt.step, err)
				}
				continue
			}
			got++
			if owner[u] != 0 {
				t.Errorf("virtual user 0 got user %d of virtual user %d", u, owner[u])
			}
			p := pair{u, tt.step}
			if seen[p] {
				t.Errorf("user %d handed out twice in step %d", u, tt.step)
			}
			seen[p] = true
		}
		if got != tt.fresh {
			t.Errorf("step %d: %d users for %d calls, want %d", tt.step, got, tt.calls, tt.fresh)
		}
	}
	// Passkey scenarios take no step: plain round-robin.
	w := vus[1]
	for i, want := range []int{1, 4, 7, 1} {
		if u, err := w.nextUser(0); err != nil || u != want {
			t.Errorf("round-robin call %d: got %d, %v, want %d", i, u, err, want)
		}
	}
}

// TestMain lets the test binary serve hello as the tool does (startHello
// runs os.Executable with -hello-serve).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-hello-serve" {
		serveHello()
		return
	}
	os.Exit(m.Run())
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name, location, want string
	}{
		{"Code", providerRedirect + "?code=bac_x&state=s&iss=i", "bac_x"},
		{"Error", providerRedirect + "?error=login_required&state=s", ""},
		{"OtherPlace", "/login?request=bar_x", ""},
		{"OtherClient", "https://evil.example/callback?code=bac_x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.location)
			if err != nil {
				t.Fatal(err)
			}
			got, err := codeOf(u)
			if got != tt.want || (err == nil) != (tt.want != "") {
				t.Errorf("codeOf(%s) = %q, %v; want %q", tt.location, got, err, tt.want)
			}
			// The error table counts errors by their text: no one-time
			// value in it.
			if err != nil && strings.Contains(err.Error(), "bar_") {
				t.Errorf("codeOf(%s): the error %q holds the request's token", tt.location, err)
			}
		})
	}
}

// TestProviderScenarios runs code-exchange and client-refresh briefly
// against a started server on each store (PostgreSQL when it answers):
// the client registered by the CLI, browsers signed in through /login,
// every op and every v1 refresh beside them answered 2xx.
func TestProviderScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts baton")
	}
	stores := []string{"sqlite", "postgres"}
	dbURL := os.Getenv("BATON_TEST_DATABASE_URL")
	if dbURL == "" {
		dbURL = "postgres://postgres@127.0.0.1:5432/test"
	}
	// Like every PostgreSQL test here (postgres/pgtest), this one fails
	// rather than skips without the server: CI has it.
	if err := pgExec(context.Background(), dbURL, "SELECT 1"); err != nil {
		t.Fatalf("PostgreSQL is required (set BATON_TEST_DATABASE_URL): %v", err)
	}
	t.Cleanup(cleanupBuilds)
	for _, store := range stores {
		for _, sc := range []string{"code-exchange", "client-refresh"} {
			t.Run(store+"/"+sc, func(t *testing.T) {
				o := options{scenario: sc, c: 2, d: 300 * time.Millisecond, warmup: 100 * time.Millisecond,
					helloD: 200 * time.Millisecond, runs: 1, store: store, dbURL: dbURL, users: 6, idTokenAlg: "EdDSA"}
				res, err := runProvider(context.Background(), o)
				if err != nil {
					t.Fatalf("runProvider: %v", err)
				}
				rr := res.runs[0]
				if errs, n, _ := res.errors(); n > 0 {
					t.Errorf("errors: %v", errs)
				}
				if got := rr.per[res.mainOp()].n; got == 0 {
					t.Errorf("no %s op measured", sc)
				}
				if rr.base == nil || rr.base.per[opRefresh].n == 0 {
					t.Error("no v1 refresh measured beside it")
				} else if _, n, _ := (&scenarioResult{runs: []runResult{*rr.base}}).errors(); n > 0 {
					t.Errorf("v1 refresh errors: %v", rr.base.errs)
				}
				if rr.hello.n == 0 {
					t.Error("no hello measured")
				}
			})
		}
	}
}
