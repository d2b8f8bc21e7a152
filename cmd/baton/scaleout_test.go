package main

// Scale-out on PostgreSQL, end to end: several real baton processes share
// one database (pgtest.NewDatabase) and are driven through HTTP only.
// These tests fail, not skip, when PostgreSQL is unreachable.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// clusterEnv is the configuration every instance of a test cluster
// shares: one database, one issuer, and no abuse limits (the tests fail
// refreshes on purpose, from one address).
func clusterEnv(dbURL string, extra ...string) []string {
	return append([]string{
		"BATON_DATABASE_URL=" + dbURL,
		"BATON_ISSUER=http://baton.test",
		"BATON_LIMIT_ACCOUNT_FAILURES=off",
		"BATON_LIMIT_IP_FAILURES=off",
		"BATON_LIMIT_IP_REGISTRATIONS=off",
		"BATON_DEMO=false",
	}, extra...)
}

// isURL reports whether a connection string is a URL rather than
// key=value pairs (pgtest accepts both).
func isURL(conn string) bool {
	return strings.HasPrefix(conn, "postgres://") || strings.HasPrefix(conn, "postgresql://")
}

// asURL returns conn as a postgres:// URL, the only form BATON_DATABASE_URL
// accepts.
func asURL(t *testing.T, conn string) string {
	t.Helper()
	if isURL(conn) {
		return conn
	}
	cfg, err := pgx.ParseConfig(conn)
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "postgres", User: url.User(cfg.User), Host: net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), Path: "/" + cfg.Database}
	if cfg.Password != "" {
		u.User = url.UserPassword(cfg.User, cfg.Password)
	}
	if cfg.TLSConfig == nil {
		u.RawQuery = "sslmode=disable"
	}
	return u.String()
}

// withPoolSize sets pool_max_conns on a database URL, so that a few
// processes (and other packages' tests running beside them) stay well
// below the server's max_connections.
func withPoolSize(t *testing.T, dbURL string, n int) string {
	t.Helper()
	u, err := url.Parse(asURL(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", fmt.Sprint(n))
	u.RawQuery = q.Encode()
	return u.String()
}

// startCluster starts n baton processes at once against a fresh database
// (so they race to migrate it and create its keys) and returns the
// database's URL and the processes.
func startCluster(t *testing.T, n int, extra ...string) (string, []*proc) {
	t.Helper()
	skipShort(t)
	dbURL := pgtest.NewDatabase(t)
	env := clusterEnv(withPoolSize(t, dbURL, 4), extra...)
	ps := make([]*proc, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ps[i], errs[i] = spawnBaton(t, env...) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return dbURL, ps
}

// skipShort skips in -short mode, like the package's other tests that
// start processes. Without -short these tests need PostgreSQL and fail
// when it is unreachable.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real processes")
	}
}

// reply is one HTTP answer.
type reply struct {
	status int
	hdr    http.Header
	raw    []byte
	body   map[string]any
	err    error
}

func (r reply) code() string        { s, _ := r.body["error"].(string); return s }
func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

func (r reply) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.raw))
}

// is reports whether r has the status and, when code is not empty, the
// error code.
func (r reply) is(status int, code string) bool {
	return r.err == nil && r.status == status && (code == "" || r.code() == code)
}

// unavailable reports whether r is the contract's answer to a storage
// outage: 503 unavailable with Retry-After.
func (r reply) unavailable() bool {
	return r.is(http.StatusServiceUnavailable, "unavailable") && r.hdr.Get("Retry-After") != ""
}

// testClient keeps connections to the instances alive between requests
// (polling every few milliseconds must not churn through ports) and bounds
// every request, so a hung server fails the test instead of stalling it.
var testClient = &http.Client{
	Timeout:   20 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
}

// call sends method path to p with an optional bearer token and JSON body.
func (p *proc) call(method, path, bearer string, body any) reply {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		return reply{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := testClient.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, hdr: res.Header, raw: raw, err: err}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (p *proc) register(user string) reply {
	return p.call("POST", "/v1/register", "", map[string]string{"username": user, "password": testPassword})
}

func (p *proc) login(user string) reply {
	return p.call("POST", "/v1/login", "", map[string]string{"username": user, "password": testPassword})
}

func (p *proc) refresh(rt string) reply {
	return p.call("POST", "/v1/refresh", "", map[string]string{"refresh_token": rt})
}

func (p *proc) me(at string) reply { return p.call("GET", "/v1/me", at, nil) }

func (p *proc) logout(at string) reply { return p.call("POST", "/v1/logout", at, nil) }

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	return p.cmd.ProcessState == nil && p.cmd.Process.Signal(syscall.Signal(0)) == nil
}

func mustRegister(t *testing.T, p *proc, user string) {
	t.Helper()
	if r := p.register(user); !r.is(http.StatusCreated, "") {
		t.Fatalf("register %s: got %v, want 201", user, r)
	}
}

// session is a logged-in client's tokens.
type session struct{ at, rt, sid string }

func mustLogin(t *testing.T, p *proc, user string) session {
	t.Helper()
	r := p.login(user)
	if !r.is(http.StatusOK, "") || r.str("access_token") == "" || r.str("refresh_token") == "" {
		t.Fatalf("login %s: got %v, want 200 with tokens", user, r)
	}
	return session{at: r.str("access_token"), rt: r.str("refresh_token"), sid: r.str("session_id")}
}

// waitFor polls cond every 5 ms until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestScaleOutRotationRace fires 24 concurrent refreshes of one refresh
// token spread over three instances on one database. Without a grace
// window at most one wins and the session ends up revoked everywhere (the
// losers are reuse); with one, every caller gets the same successor.
func TestScaleOutRotationRace(t *testing.T) {
	const callers, rounds = 24, 4
	for _, tt := range []struct {
		name string
		env  []string
	}{
		{"NoGrace", []string{"BATON_REUSE_GRACE=0"}},
		{"Grace", nil}, // the default, 10s
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := startCluster(t, 3, tt.env...)
			user := "race-" + strings.ToLower(tt.name)
			mustRegister(t, ps[0], user)
			for round := range rounds {
				s := mustLogin(t, ps[round%len(ps)], user)
				replies := make([]reply, callers)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range callers {
					wg.Go(func() {
						<-start
						replies[i] = ps[i%len(ps)].refresh(s.rt)
					})
				}
				close(start)
				wg.Wait()

				if tt.name == "NoGrace" {
					checkNoGraceRace(t, ps, s, replies, round)
				} else {
					checkGraceRace(t, ps, s, replies, round)
				}
			}
		})
	}
}

func checkNoGraceRace(t *testing.T, ps []*proc, s session, replies []reply, round int) {
	t.Helper()
	var won []reply
	lost := 0
	for i, r := range replies {
		switch {
		case r.is(http.StatusOK, ""):
			won = append(won, r)
		case r.is(http.StatusUnauthorized, "invalid_grant"):
			lost++
		default:
			t.Errorf("round %d caller %d (instance %d): got %v, want 200 or 401 invalid_grant", round, i, i%len(ps), r)
		}
	}
	if len(won) > 1 {
		t.Fatalf("round %d: %d refreshes of one token succeeded, want at most 1", round, len(won))
	}
	// Every access token and refresh token of the session is now dead on
	// every instance (reuse revoked it; other instances hear within 1 s).
	ats, rts := []string{s.at}, []string{s.rt}
	for _, w := range won {
		ats, rts = append(ats, w.str("access_token")), append(rts, w.str("refresh_token"))
	}
	for i, p := range ps {
		for _, at := range ats {
			var last reply
			if !waitFor(2*time.Second, func() bool {
				last = p.me(at)
				return last.is(http.StatusUnauthorized, "invalid_token")
			}) {
				t.Fatalf("round %d instance %d: GET /v1/me with an access token of the reused session: got %v, want 401 invalid_token", round, i, last)
			}
		}
		for _, rt := range rts {
			if r := p.refresh(rt); !r.is(http.StatusUnauthorized, "invalid_grant") {
				t.Fatalf("round %d instance %d: refresh with a token of the reused session: got %v, want 401 invalid_grant", round, i, r)
			}
		}
	}
	t.Logf("round %d: %d concurrent refreshes over %d instances: %d×200, %d×401 invalid_grant; session revoked on all instances",
		round, len(replies), len(ps), len(won), lost)
}

func checkGraceRace(t *testing.T, ps []*proc, s session, replies []reply, round int) {
	t.Helper()
	successors := map[string]int{}
	for i, r := range replies {
		if !r.is(http.StatusOK, "") || r.str("refresh_token") == "" {
			t.Fatalf("round %d caller %d (instance %d): got %v, want 200", round, i, i%len(ps), r)
		}
		successors[r.str("refresh_token")]++
	}
	if len(successors) != 1 {
		t.Fatalf("round %d: %d distinct successors among %d answers, want 1", round, len(successors), len(replies))
	}
	var next string
	for next = range successors {
	}
	if next == s.rt {
		t.Fatalf("round %d: the successor is the presented token", round)
	}
	// The successor and every new access token work on every instance.
	for i, p := range ps {
		if r := p.me(replies[(i+1)%len(replies)].str("access_token")); !r.is(http.StatusOK, "") {
			t.Fatalf("round %d instance %d: GET /v1/me with a new access token: got %v, want 200", round, i, r)
		}
	}
	if r := ps[(round+1)%len(ps)].refresh(next); !r.is(http.StatusOK, "") {
		t.Fatalf("round %d: refresh with the successor: got %v, want 200", round, r)
	}
	t.Logf("round %d: %d concurrent refreshes over %d instances: %d×200, all with the same successor",
		round, len(replies), len(ps), len(replies))
}

// durations summarises propagation times.
func durations(ds []time.Duration) (median, maximum time.Duration) {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)-1]
}

// propagation logs out s on a and returns how long after the 204 both
// others answer 401 invalid_token for its access token, polling every
// 5 ms (up to 3 s). afterLogout, when not nil, runs right after the 204.
func propagation(t *testing.T, a *proc, others []*proc, s session, afterLogout func()) time.Duration {
	t.Helper()
	for i, p := range others {
		if r := p.me(s.at); !r.is(http.StatusOK, "") {
			t.Fatalf("before logout, instance %d: got %v, want 200", i, r)
		}
	}
	if r := a.logout(s.at); !r.is(http.StatusNoContent, "") {
		t.Fatalf("logout: got %v, want 204", r)
	}
	start := time.Now()
	if afterLogout != nil {
		afterLogout()
	}
	if r := a.me(s.at); !r.is(http.StatusUnauthorized, "invalid_token") {
		t.Fatalf("the revoking instance right after logout: got %v, want 401 invalid_token", r)
	}
	pending := slices.Clone(others)
	for len(pending) > 0 {
		if time.Since(start) > 3*time.Second {
			t.Fatalf("%d instance(s) still accept the access token 3 s after logout", len(pending))
		}
		pending = slices.DeleteFunc(pending, func(p *proc) bool {
			r := p.me(s.at)
			if !r.is(http.StatusOK, "") && !r.is(http.StatusUnauthorized, "invalid_token") {
				t.Fatalf("while waiting for the revocation: got %v, want 200 or 401 invalid_token", r)
			}
			return r.status == http.StatusUnauthorized
		})
		if len(pending) > 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// TestScaleOutRevocationPropagation: a logout on one instance makes the
// session's access token fail on the two others within a second, through
// LISTEN/NOTIFY, and also when the listeners' connections are dead,
// through the periodic catch-up of the revocation feed.
func TestScaleOutRevocationPropagation(t *testing.T) {
	dbURL, ps := startCluster(t, 3)
	mustRegister(t, ps[0], "prop")
	others := func(i int) (*proc, []*proc) {
		a := ps[i%len(ps)]
		var rest []*proc
		for _, p := range ps {
			if p != a {
				rest = append(rest, p)
			}
		}
		return a, rest
	}

	t.Run("Notify", func(t *testing.T) {
		const trials = 20
		var ds []time.Duration
		for i := range trials {
			a, rest := others(i)
			ds = append(ds, propagation(t, a, rest, mustLogin(t, a, "prop"), nil))
		}
		med, maxd := durations(ds)
		t.Logf("logout on one instance → 401 on both others, %d trials: median %v, max %v", trials, med, maxd)
		if maxd >= time.Second {
			t.Fatalf("max propagation %v over %d trials, want < 1s (all: %v)", maxd, trials, ds)
		}
	})

	t.Run("CatchUp", func(t *testing.T) {
		admin, err := pgx.Connect(t.Context(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close(context.Background())
		// Listener backends: the watchers' own connections (application
		// name baton-watcher, or whatever the URL set, then running LISTEN).
		const listeners = `datname = current_database() AND pid <> pg_backend_pid()
			AND (application_name = 'baton-watcher' OR query ILIKE 'LISTEN%')`
		const trials = 6
		var ds []time.Duration
		clean := 0
		for i := range trials {
			a, rest := others(i)
			s := mustLogin(t, a, "prop")
			// Terminate the listeners and wait until their backends are
			// gone: from then until the watchers reconnect after their
			// back-off (100 ms, doubling), a NOTIFY reaches nobody.
			rows, _ := admin.Query(t.Context(), `WITH l AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE `+listeners+`)
				SELECT pid FROM l WHERE pg_terminate_backend(pid)`)
			pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
			if err != nil {
				t.Fatal(err)
			}
			if !waitFor(5*time.Second, func() bool {
				var n int
				err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&n)
				return err == nil && n == 0
			}) {
				t.Fatal("terminated listener backends did not exit")
			}
			// Did any listener exist when the revocation committed? One that
			// did would still be there right after the 204; none at all
			// means the NOTIFY reached no one and the periodic sync
			// delivered the revocation.
			var after int
			d := propagation(t, a, rest, s, func() {
				if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE `+listeners).Scan(&after); err != nil {
					t.Fatal(err)
				}
			})
			if after == 0 {
				clean++
			}
			ds = append(ds, d)
			t.Logf("trial %d: terminated %d listener backend(s); %d listener(s) connected right after the revocation; propagated in %v", i, len(pids), after, d)
		}
		med, maxd := durations(ds)
		t.Logf("with dead listeners, %d trials (%d without any listener connected): median %v, max %v", trials, clean, med, maxd)
		if maxd >= time.Second {
			t.Fatalf("max propagation %v with dead listeners, want < 1s (all: %v)", maxd, ds)
		}
		if clean < trials/2 {
			t.Fatalf("only %d of %d trials ran without a listener connected; the catch-up path is not proven", clean, trials)
		}
		for i, p := range ps {
			if !strings.Contains(p.Logs(), "revocation listener stopped") {
				t.Errorf("instance %d never logged its listener stopping", i)
			}
		}
	})
}

// TestScaleOutSharedKeys: instances started together on an empty database
// end up with the same keys, so tokens minted by one verify on the others,
// the JWKS is identical everywhere, and a grace replay on another instance
// derives the same successor (the rotation HMAC key is shared).
func TestScaleOutSharedKeys(t *testing.T) {
	_, ps := startCluster(t, 3)

	var jwks []map[string]any
	for i, p := range ps {
		r := p.call("GET", "/.well-known/jwks.json", "", nil)
		keys, _ := r.body["keys"].([]any)
		if !r.is(http.StatusOK, "") || len(keys) == 0 {
			t.Fatalf("instance %d JWKS: got %v, want 200 with keys", i, r)
		}
		jwks = append(jwks, r.body)
	}
	for i := 1; i < len(jwks); i++ {
		if !reflect.DeepEqual(jwks[0], jwks[i]) {
			t.Fatalf("JWKS differ: instance 0 %v, instance %d %v", jwks[0], i, jwks[i])
		}
	}

	mustRegister(t, ps[0], "keys")
	for i, minter := range ps {
		s := mustLogin(t, minter, "keys")
		for j, p := range ps {
			r := p.me(s.at)
			if !r.is(http.StatusOK, "") || r.str("username") != "keys" || r.str("session_id") != s.sid {
				t.Fatalf("token minted by instance %d, GET /v1/me on instance %d: got %v, want 200 for keys in session %s", i, j, r, s.sid)
			}
		}
	}

	// Rotate on A; present the spent token to B and C within the grace
	// window: the same successor.
	s := mustLogin(t, ps[0], "keys")
	first := ps[0].refresh(s.rt)
	if !first.is(http.StatusOK, "") {
		t.Fatalf("refresh on instance 0: got %v, want 200", first)
	}
	for j, p := range ps[1:] {
		r := p.refresh(s.rt)
		if !r.is(http.StatusOK, "") || r.str("refresh_token") != first.str("refresh_token") {
			t.Fatalf("grace replay on instance %d: got %v, want 200 with the successor instance 0 gave", j+1, r)
		}
		if r := ps[0].me(r.str("access_token")); !r.is(http.StatusOK, "") {
			t.Fatalf("access token from the replay on instance %d, on instance 0: got %v, want 200", j+1, r)
		}
	}
	t.Logf("3 instances started together: identical JWKS (%d key(s)); tokens verify across instances; grace replay gives the same successor everywhere",
		len(jwks[0]["keys"].([]any)))
}

// faultTally counts outcomes per request kind and collects wrong answers.
type faultTally struct {
	mu     sync.Mutex
	counts map[string]int
	bad    []string
}

// check records r for kind: ok statuses are the right answers for the
// request; 503 unavailable with Retry-After is always acceptable; anything
// else (a 500, a transport error, a wrong status) is recorded as wrong. It
// reports whether r was one of ok.
func (f *faultTally) check(kind string, r reply, ok ...int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	good := r.err == nil && slices.Contains(ok, r.status)
	switch {
	case good:
		f.counts[fmt.Sprintf("%s %d", kind, r.status)]++
	case r.unavailable():
		f.counts[kind+" 503"]++
	default:
		f.counts[kind+" WRONG"]++
		if len(f.bad) < 20 {
			f.bad = append(f.bad, fmt.Sprintf("%s: got %v (Retry-After %q), want %v or 503 unavailable with Retry-After", kind, r, r.hdr.Get("Retry-After"), ok))
		}
	}
	return good
}

func (f *faultTally) wrong(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts["WRONG"]++
	if len(f.bad) < 20 {
		f.bad = append(f.bad, fmt.Sprintf(format, args...))
	}
}

func (f *faultTally) report(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make([]string, 0, len(f.counts))
	for k := range f.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, f.counts[k])
	}
	t.Logf("outcomes:%s", b.String())
	for _, s := range f.bad {
		t.Error(s)
	}
}

// faultLoad runs a bounded mix of requests against p until stop is closed:
// refresh chains (each refresh followed by GET /v1/me with the new access
// token), GET /v1/me on a long-lived session, logins with right and wrong
// passwords, and login+logout. Every answer must be right for the request
// or 503 unavailable with Retry-After; a refresh chain must never break
// (every successor it was given works, or gets 503, next time).
func faultLoad(t *testing.T, p *proc, user string, chains []*session, stop <-chan struct{}, f *faultTally) {
	t.Helper()
	meSession := mustLogin(t, p, user)
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var wg sync.WaitGroup
	for c, s := range chains {
		wg.Go(func() {
			for i := 0; i < 5000 && !stopped(); i++ {
				r := p.refresh(s.rt)
				if !f.check("refresh", r, http.StatusOK) {
					if r.status == http.StatusUnauthorized {
						f.wrong("chain %d broke after %d refreshes: %v", c, i, r)
						return
					}
					time.Sleep(10 * time.Millisecond) // 503: retry the same token
					continue
				}
				if r.str("refresh_token") == "" || r.str("refresh_token") == s.rt {
					f.wrong("chain %d: refresh answered 200 without a new refresh token: %v", c, r)
					return
				}
				s.at, s.rt = r.str("access_token"), r.str("refresh_token")
				if r := p.me(s.at); f.check("me(new)", r, http.StatusOK) && r.str("username") != user {
					f.wrong("chain %d: GET /v1/me: got %v, want user %s", c, r, user)
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; i < 5000 && !stopped(); i++ {
			if r := p.me(meSession.at); f.check("me", r, http.StatusOK) && r.str("username") != user {
				f.wrong("GET /v1/me: got %v, want user %s", r, user)
			}
		}
	})
	wg.Go(func() {
		for i := 0; i < 500 && !stopped(); i++ {
			if i%4 == 3 {
				r := p.call("POST", "/v1/login", "", map[string]string{"username": user, "password": "not the password"})
				if f.check("login(wrong)", r, http.StatusUnauthorized) && r.code() != "invalid_credentials" {
					f.wrong("login with a wrong password: got %v, want 401 invalid_credentials", r)
				}
				continue
			}
			r := p.login(user)
			if !f.check("login", r, http.StatusOK) || i%2 == 1 {
				continue
			}
			// Log the new session out (retrying a 503: a logout whose
			// answer was lost is done again, and a second logout is 204).
			at := r.str("access_token")
			for j := 0; j < 50; j++ {
				r := p.logout(at)
				if f.check("logout", r, http.StatusNoContent) {
					if r := p.me(at); !r.is(http.StatusUnauthorized, "invalid_token") {
						f.wrong("GET /v1/me after a 204 logout: got %v, want 401 invalid_token", r)
					}
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	})
	wg.Wait()
}

// recovered waits until every kind of request succeeds again, then
// requires a run of rounds without a single failure.
func recovered(t *testing.T, p *proc, user string, chains []*session) {
	t.Helper()
	var last reply
	if !waitFor(15*time.Second, func() bool { last = p.call("GET", "/readyz", "", nil); return last.is(http.StatusOK, "") }) {
		t.Fatalf("/readyz after the faults: got %v, want 200 within 15 s", last)
	}
	round := func() error {
		for c, s := range chains {
			r := p.refresh(s.rt)
			if !r.is(http.StatusOK, "") {
				return fmt.Errorf("chain %d refresh: %v", c, r)
			}
			s.at, s.rt = r.str("access_token"), r.str("refresh_token")
			if r := p.me(s.at); !r.is(http.StatusOK, "") {
				return fmt.Errorf("chain %d me: %v", c, r)
			}
		}
		return nil
	}
	// The pool may still hold connections that died in the last fault:
	// each fails once (503, the client retries) and is replaced.
	var err error
	if !waitFor(10*time.Second, func() bool { err = round(); return err == nil }) {
		t.Fatalf("no full round of requests succeeded within 10 s of the faults: %v", err)
	}
	for i := range 20 {
		if err := round(); err != nil {
			t.Fatalf("after recovery, round %d: %v", i, err)
		}
	}
	if r := p.login(user); !r.is(http.StatusOK, "") {
		t.Fatalf("login after recovery: got %v, want 200", r)
	}
}

// TestScaleOutDatabaseFaults breaks the database under a running baton
// process, through HTTP only: its connections terminated by the server
// (pg_terminate_backend) again and again under load, and the database
// vanishing altogether (a TCP proxy stops forwarding). Every answer is
// right or 503 unavailable with Retry-After, never a 500; no refresh chain
// breaks; the process survives and everything works again afterwards.
func TestScaleOutDatabaseFaults(t *testing.T) {
	skipShort(t)
	t.Run("BackendsTerminated", func(t *testing.T) {
		dbURL := pgtest.NewDatabase(t)
		p := startBaton(t, clusterEnv(asURL(t, dbURL))...)
		admin, err := pgx.Connect(t.Context(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close(context.Background())
		mustRegister(t, p, "fault")
		chains := make([]*session, 3)
		for i := range chains {
			s := mustLogin(t, p, "fault")
			chains[i] = &s
		}

		var f faultTally
		stop := make(chan struct{})
		var killed []int
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer close(stop)
			for range 6 {
				time.Sleep(300 * time.Millisecond)
				var n int
				err := admin.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
					FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
				if err != nil {
					f.wrong("terminate: %v", err)
				}
				killed = append(killed, n)
			}
			time.Sleep(300 * time.Millisecond)
		}()
		faultLoad(t, p, "fault", chains, stop, &f)
		<-done
		f.report(t)
		t.Logf("terminated backends per fault: %v", killed)
		if !p.alive() {
			t.Fatalf("baton died:\n%s", p.Logs())
		}
		if strings.Contains(p.Logs(), `"panic"`) {
			t.Fatalf("baton logged a panic:\n%s", p.Logs())
		}
		if slices.Max(killed) == 0 {
			t.Fatal("no backend was terminated: the test proves nothing")
		}
		recovered(t, p, "fault", chains)
	})

	t.Run("Unreachable", func(t *testing.T) {
		dbURL := pgtest.NewDatabase(t)
		px := startTCPProxy(t, dbURL)
		p := startBaton(t, clusterEnv(px.url)...)
		mustRegister(t, p, "gone")
		chains := make([]*session, 2)
		for i := range chains {
			s := mustLogin(t, p, "gone")
			chains[i] = &s
		}
		var f faultTally
		for cycle := range 3 {
			px.setDown(true)
			var last reply
			if !waitFor(5*time.Second, func() bool { last = p.call("GET", "/readyz", "", nil); return last.unavailable() }) {
				t.Fatalf("cycle %d: /readyz with the database gone: got %v, want 503 unavailable with Retry-After", cycle, last)
			}
			f.check("readyz(down)", last)
			// Every request that needs the store: 503 unavailable with
			// Retry-After, nothing else. GET /v1/me needs it only for a
			// profile not yet cached: the token is verified offline, so
			// a 200 with the right user is also correct.
			for range 5 {
				for _, s := range chains {
					f.check("refresh(down)", p.refresh(s.rt))
					if r := p.me(s.at); f.check("me(down)", r, 200) && r.body["username"] != "gone" {
						f.wrong("me(down): answered for %v, want the user gone", r.body["username"])
					}
				}
				f.check("login(down)", p.login("gone"))
				f.check("register(down)", p.register(fmt.Sprintf("new-%d", cycle)))
				f.check("logout(down)", p.logout(chains[0].at))
			}
			px.setDown(false)
			if !p.alive() {
				t.Fatalf("baton died:\n%s", p.Logs())
			}
			// Back: ready again, and the chains continue where they were.
			recovered(t, p, "gone", chains)
		}
		f.report(t)
		t.Logf("proxy connections cut: %d", px.cut.Load())
	})
}

// tcpProxy forwards 127.0.0.1 connections to PostgreSQL. While down it
// resets every connection it forwards and every new one, so baton sees
// the database vanish; it then forwards again.
type tcpProxy struct {
	url    string // dbURL through the proxy
	target string
	down   atomic.Bool
	cut    atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startTCPProxy(t *testing.T, dbURL string) *tcpProxy {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &tcpProxy{target: net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), conns: map[net.Conn]struct{}{}}
	u, err := url.Parse(asURL(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = ln.Addr().String()
	px.url = u.String()
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		px.setDown(true)
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if px.down.Load() {
				reset(c)
				px.cut.Add(1)
				continue
			}
			s, err := net.DialTimeout("tcp", px.target, 5*time.Second)
			if err != nil {
				reset(c)
				continue
			}
			px.mu.Lock()
			px.conns[c], px.conns[s] = struct{}{}, struct{}{}
			px.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				px.mu.Lock()
				delete(px.conns, dst)
				delete(px.conns, src)
				px.mu.Unlock()
				dst.Close()
				src.Close()
			}
			wg.Go(func() { pipe(s, c) })
			wg.Go(func() { pipe(c, s) })
		}
	})
	return px
}

// setDown stops (resetting every open connection) or resumes forwarding.
func (px *tcpProxy) setDown(down bool) {
	px.down.Store(down)
	if !down {
		return
	}
	px.mu.Lock()
	defer px.mu.Unlock()
	for c := range px.conns {
		reset(c)
		px.cut.Add(1)
	}
	clear(px.conns)
}

// reset closes c with a TCP reset rather than an orderly shutdown.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
