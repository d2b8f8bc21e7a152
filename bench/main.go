// Command bench is baton's load tool: it drives a baton server over real
// HTTP with a stdlib client and reports throughput, latency percentiles,
// errors by status and (when it started the server itself) the server's CPU
// time and peak RSS (after a flood also its RSS 5 s later, once the runtime
// could return the heap). Every HTTP figure comes with the throughput of a
// trivial net/http "hello" server measured in the same run, with the same
// client and concurrency, so results read as a fraction of what this
// machine's HTTP stack can do at all.
//
// Usage:
//
//	go run ./bench -scenario refresh -c 64 -d 10s                 # embedded SQLite store
//	go run ./bench -scenario me -c 16 -store postgres             # PostgreSQL (own database, dropped after)
//	go run ./bench -scenario refresh -c 64 -sessions 1000000      # 1M stored sessions seeded by SQL (COPY on PostgreSQL)
//	go run ./bench -scenario flood                                # 32 login clients + 8 /v1/me clients
//	go run ./bench -scenario coldstart                            # exec to /readyz 200 on an existing data dir
//	go run ./bench -scenario verify -c 2                          # in-process token verification
//	go run ./bench -scenario login-totp -c 16 -d 10s              # password + TOTP, beside a plain login
//	go run ./bench -scenario code-exchange -c 16                  # /oauth/authorize + /oauth/token, beside a v1 refresh
//	go run ./bench -scenario client-refresh -c 16                 # a client's refresh_token grant, beside a v1 refresh
//	go run ./bench -scenario refresh -profile /tmp/prof           # CPU and alloc profiles (benchmark build)
//	go run ./bench -url http://127.0.0.1:8080 -scenario me        # an already running server (loopback only)
//	go run ./bench -report BENCHMARKS.md -micro micro.txt         # the whole matrix, rewriting BENCHMARKS.md
//
// Scenarios: login, refresh (each virtual user keeps its own rotation
// chain), me (GET /v1/me), mixed (1 login : 100 refreshes : 2,000 /v1/me),
// flood, coldstart, verify; login-totp, login-passkey-2fa (password, then
// the second step) and passkey (usernameless), each op one whole sign-in,
// each run followed by a plain login on the same server for the ratio;
// code-exchange (GET /oauth/authorize with a baton_sso cookie, then
// POST /oauth/token authorization_code) and client-refresh (a registered
// client's refresh_token grant), each run followed by a v1 refresh on the
// same server for the ratio. Everything is bounded by -d and stops by
// itself; only 127.0.0.1 targets are accepted.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

type options struct {
	scenario string
	c        int
	meC      int
	d        time.Duration
	warmup   time.Duration
	helloD   time.Duration
	runs     int
	url      string
	store    string
	dbURL    string
	users    int
	sessions int
	// idTokenAlg is the provider scenarios' client's ID-token algorithm.
	idTokenAlg string
	pool       int
	keepDB     bool
	profile    string
	bin        string
	report     string
	micro      string
	quick      bool
	verbose    bool
}

func main() {
	var o options
	flag.StringVar(&o.scenario, "scenario", "refresh", "login | refresh | refresh-cookie | me | mixed | flood | coldstart | verify | login-totp | login-passkey-2fa | passkey | code-exchange | client-refresh")
	flag.IntVar(&o.c, "c", 16, "concurrency: virtual users, each one request at a time (flood: login clients)")
	flag.IntVar(&o.meC, "me-c", 8, "flood: concurrent GET /v1/me clients beside the login flood")
	flag.DurationVar(&o.d, "d", 5*time.Second, "measured duration of each run")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each run")
	flag.DurationVar(&o.helloD, "hello-d", 0, "measured duration of each hello run (default -d)")
	flag.IntVar(&o.runs, "runs", 1, "repetitions; medians are reported")
	flag.StringVar(&o.url, "url", "", "target server (127.0.0.1 only); empty: build and start baton on a fresh data dir")
	flag.StringVar(&o.store, "store", "sqlite", "store of the started server: sqlite | postgres")
	flag.StringVar(&o.dbURL, "database-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server for -store postgres; a database of its own is created and dropped (TLS off by default: on loopback it costs ~5 % of a refresh, and the figures compare the stores, not TLS)")
	flag.IntVar(&o.users, "users", 0, "user accounts (default: one per virtual user; login-totp, login-passkey-2fa, passkey: 6,000 with the factor; code-exchange: 2,000 signed in)")
	flag.StringVar(&o.idTokenAlg, "id-token-alg", "RS256", "code-exchange, client-refresh: the client's ID-token algorithm (RS256, ES256, EdDSA)")
	flag.IntVar(&o.sessions, "sessions", 0, "extra stored sessions seeded by SQL (COPY on PostgreSQL) before the server starts (started server only)")
	flag.IntVar(&o.pool, "pool", 0, "postgres: the started server's pool_max_conns (default: baton's)")
	flag.BoolVar(&o.keepDB, "keep-db", false, "postgres: leave the started server's database behind (for EXPLAIN)")
	flag.StringVar(&o.profile, "profile", "", "directory for CPU and alloc profiles of the server (starts the benchmark build bench/cmd/batonprof)")
	flag.StringVar(&o.bin, "bin", "", "baton binary to start instead of building ./cmd/baton (A/B comparisons of two builds)")
	flag.StringVar(&o.report, "report", "", "run the whole matrix and rewrite the results section of this markdown file")
	flag.StringVar(&o.micro, "micro", "", "report: go test -bench output to summarise in the report")
	flag.BoolVar(&o.quick, "quick", false, "report: one short run per cell (smoke test)")
	flag.BoolVar(&o.verbose, "v", false, "log progress")
	hello := flag.Bool("hello-serve", false, "internal: serve the hello handler and print its address")
	flag.Parse()

	if *hello {
		serveHello()
		return
	}
	if o.helloD == 0 {
		o.helloD = o.d
	}
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if o.report != "" {
		err = runReport(ctx, o)
	} else {
		err = runOne(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (o *options) check() error {
	switch o.scenario {
	case "login", "refresh", "refresh-cookie", "me", "mixed", "flood", "coldstart", "verify", "login-totp", "login-passkey-2fa", "passkey",
		"code-exchange", "client-refresh":
	default:
		return fmt.Errorf("unknown -scenario %q", o.scenario)
	}
	switch o.idTokenAlg {
	case "RS256", "ES256", "EdDSA":
	default:
		return fmt.Errorf("-id-token-alg must be RS256, ES256 or EdDSA")
	}
	if o.c < 1 || o.c > 4096 || o.meC < 0 || o.meC > 4096 {
		return fmt.Errorf("-c and -me-c must be in 1..4096")
	}
	if o.d <= 0 || o.d > 10*time.Minute || o.warmup < 0 || o.warmup > time.Minute {
		return fmt.Errorf("-d must be in (0, 10m] and -warmup in [0, 1m]")
	}
	if o.runs < 1 || o.runs > 50 {
		return fmt.Errorf("-runs must be in 1..50")
	}
	if o.store != "sqlite" && o.store != "postgres" {
		return fmt.Errorf("-store must be sqlite or postgres")
	}
	if o.url != "" {
		u, err := url.Parse(o.url)
		if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" {
			return fmt.Errorf("-url must be http://127.0.0.1[:port]: only loopback targets")
		}
		o.url = strings.TrimSuffix(o.url, "/")
		if o.sessions > 0 || o.profile != "" || o.scenario == "coldstart" {
			return fmt.Errorf("-sessions, -profile and -scenario coldstart need a server the tool starts (no -url)")
		}
	}
	if o.store == "postgres" {
		u, err := url.Parse(o.dbURL)
		if err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
			return fmt.Errorf("-database-url must point at 127.0.0.1")
		}
	}
	if o.pool < 0 || o.pool > 1000 {
		return fmt.Errorf("-pool must be in 0..1000")
	}
	if o.sessions < 0 || o.sessions > 10_000_000 {
		return fmt.Errorf("-sessions must be in 0..10000000")
	}
	return nil
}

func (o options) logf(format string, args ...any) {
	if o.verbose {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
}
