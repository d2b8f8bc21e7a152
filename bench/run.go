package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/token"
)

func signalNotify(c chan<- os.Signal) { signal.Notify(c, syscall.SIGTERM, os.Interrupt) }

// rig is everything a run needs: the target server (started or given), the
// hello server and the client.
type rig struct {
	o      options
	b      *backend
	srv    *server
	bin    string
	url    string
	hello  *helloServer
	client *http.Client
}

// newRig starts (unless -url) a baton server on a fresh store seeded with
// users (and o.sessions filler sessions), and the hello server.
func newRig(ctx context.Context, o options, users int, vuTokens []string, factors *factorSeed) (_ *rig, err error) {
	r := &rig{o: o, url: o.url, client: newClient(o.c + o.meC)}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if o.url == "" {
		pkg := "./cmd/baton"
		if o.profile != "" {
			pkg = "./bench/cmd/batonprof"
		}
		if o.bin != "" && o.profile == "" {
			r.bin = o.bin
		} else {
			o.logf("building %s", pkg)
			if r.bin, err = buildBinary(ctx, pkg); err != nil {
				return nil, err
			}
		}
		if r.b, err = newBackend(ctx, o); err != nil {
			return nil, err
		}
		if err = r.b.migrate(ctx, r.bin); err != nil {
			return nil, err
		}
		o.logf("seeding %d users, %d sessions", users, o.sessions)
		t0 := time.Now()
		if err = seed(ctx, r.b, users, o.sessions, vuTokens); err != nil {
			return nil, err
		}
		if err = seedFactors(ctx, r.b, factors); err != nil {
			return nil, err
		}
		o.logf("seeded in %s", time.Since(t0).Round(time.Millisecond))
		if r.srv, err = startServer(ctx, r.b, r.bin, o.profile != ""); err != nil {
			return nil, err
		}
		r.url = r.srv.url
		o.logf("server %s ready in %s", r.url, r.srv.readyAt.Sub(r.srv.startedAt).Round(time.Millisecond))
	} else {
		if factors != nil {
			return nil, fmt.Errorf("-scenario %s seeds factors or single-sign-on sessions by SQL: it needs a server the tool starts (no -url)", o.scenario)
		}
		// An external server: register the users through the API (each
		// costs the server a hash; 409 means they exist from a previous
		// run).
		t := &target{client: r.client, url: r.url}
		v := &vu{}
		for i := range users {
			status, err := t.do(ctx, v, http.MethodPost, "/v1/register",
				`{"username":"`+userName(i)+`","password":"`+benchPassword+`"}`, "")
			if err != nil {
				return nil, err
			}
			if status != http.StatusCreated && status != http.StatusConflict {
				return nil, fmt.Errorf("register %s: status %d: %s", userName(i), status, v.buf.Bytes())
			}
		}
	}
	if r.hello, err = startHello(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rig) close() {
	if r.hello != nil {
		r.hello.stop()
	}
	if r.srv != nil {
		r.srv.stop()
	}
	if r.b != nil {
		r.b.close()
	}
	r.client.CloseIdleConnections()
}

func (r *rig) target() *target { return &target{client: r.client, url: r.url} }

// runResult is one measured run of a scenario and of hello beside it.
type runResult struct {
	per       [nOps]stats
	hello     stats
	errs      map[string]int
	relogins  int
	d         time.Duration
	serverCPU time.Duration // during the window; 0 when unknown
	peakRSSKB int64         // VmHWM of the server at the end (reset at the window start)
	// afterRSSKB is the server's VmRSS rssSettle after the load stopped
	// (flood only): what the flood leaves resident once the runtime has
	// had time to return the heap.
	afterRSSKB int64
	toolCPU    time.Duration // this process, during the window
	// otherCPU is the CPU time every other process on the machine (other
	// engineers' tests, PostgreSQL) used during the window: busy time from
	// /proc/stat minus the server's and this tool's.
	otherCPU time.Duration
	// pgCPU is what PostgreSQL's processes used during the window (all of
	// them, so other engineers' PostgreSQL tests count too); only with
	// -store postgres.
	pgCPU time.Duration
	// pgOwnCPU is what the backends serving the server's own database
	// used: the CPU PostgreSQL spends on the requests, without its
	// background processes (WAL writer, checkpointer, autovacuum) or
	// other databases' backends.
	pgOwnCPU time.Duration
	// stmts is pg_stat_statements over the window (postgres, when the
	// server has the extension loaded).
	stmts []stmtStat
	// base is the baseline run on the same server right after: for the
	// second-factor scenarios a plain password login by users without a
	// factor, for the provider's scenarios a v1 refresh (see baseOp). It
	// is the denominator of the ratios.
	base *runResult
}

// total is the throughput over every op of the scenario (not hello).
func (r runResult) total() float64 {
	var t float64
	for o := range opHello {
		t += r.per[o].rps
	}
	return t
}

// measure runs st on vus for warmup + d and samples CPU at the window's
// edges; with profile set it takes a CPU profile of the server over the
// window and an alloc profile after.
func (r *rig) measure(ctx context.Context, vus []*vu, st step, d time.Duration, profile string) runResult {
	now := time.Now()
	w := window{start: now.Add(r.o.warmup), end: now.Add(r.o.warmup + d)}
	var res runResult
	res.d = d
	cpuDone := make(chan struct{})
	go func() {
		defer close(cpuDone)
		time.Sleep(time.Until(w.start))
		var s0, t0 time.Duration
		if r.srv != nil {
			s0, _ = procCPU(r.srv.pid())
			// Reset the server's peak RSS so VmHWM at the end is the peak
			// of the window, not of set-up (whose logins each hold a
			// 19 MiB argon2 buffer).
			resetPeakRSS(r.srv.pid())
		}
		t0, _ = procCPU(os.Getpid())
		b0, _ := machineBusy()
		var pg0 time.Duration
		var own0 map[int]time.Duration
		pgss := false
		if r.o.store == "postgres" && r.srv != nil {
			pgss = r.b.pgssReset(ctx)
			pg0 = commCPU("postgres")
			own0 = r.b.backendCPU(ctx)
		}
		var profDone chan struct{}
		if profile != "" && r.srv != nil && r.srv.pprofURL != "" {
			profDone = make(chan struct{})
			go func() {
				defer close(profDone)
				secs := max(1, int(d.Seconds()))
				r.fetchProfile(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), profile+"-cpu.pprof")
			}()
		}
		time.Sleep(time.Until(w.end))
		if r.srv != nil {
			s1, _ := procCPU(r.srv.pid())
			res.serverCPU = s1 - s0
		}
		t1, _ := procCPU(os.Getpid())
		res.toolCPU = t1 - t0
		if r.o.store == "postgres" && r.srv != nil {
			res.pgCPU = max(0, commCPU("postgres")-pg0)
			for pid, t := range r.b.backendCPU(ctx) {
				res.pgOwnCPU += t - own0[pid]
			}
			if pgss {
				res.stmts, _ = r.b.pgssRead(ctx)
			}
		}
		if b1, err := machineBusy(); err == nil && b0 > 0 {
			res.otherCPU = max(0, b1-b0-res.serverCPU-res.toolCPU-res.pgCPU)
		}
		if profDone != nil {
			<-profDone
		}
	}()
	samples := runVUs(ctx, r.target(), vus, st, w)
	<-cpuDone
	res.per, res.errs, res.relogins = merge(samples, d)
	if r.srv != nil {
		res.peakRSSKB, _ = procStatusKB(r.srv.pid(), "VmHWM")
		if r.o.scenario == "flood" {
			time.Sleep(rssSettle)
			res.afterRSSKB, _ = procStatusKB(r.srv.pid(), "VmRSS")
		}
		if profile != "" && r.srv.pprofURL != "" {
			r.fetchProfile(ctx, "/debug/pprof/allocs", profile+"-allocs.pprof")
		}
	}
	return res
}

func (r *rig) fetchProfile(ctx context.Context, path, file string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.srv.pprofURL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile:", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile:", err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile:", err)
	}
}

// measureHello runs the hello server with the same client and concurrency.
func (r *rig) measureHello(ctx context.Context, c int, d time.Duration) stats {
	vus := make([]*vu, c)
	for i := range vus {
		vus[i] = &vu{id: i}
	}
	o := r.o
	o.warmup = min(o.warmup, 500*time.Millisecond)
	hr := &rig{o: o, url: r.hello.url, client: r.client}
	res := hr.measure(ctx, vus, fixed(opHello), d, "")
	return res.per[opHello]
}

// scenarioStep returns the step of an HTTP scenario and whether its
// virtual users need a session first.
func scenarioStep(o options) (step, bool) {
	switch o.scenario {
	case "login":
		return fixed(opLogin), false
	case "refresh":
		return fixed(opRefresh), true
	case "refresh-cookie":
		return fixed(opRefreshCookie), true
	case "me":
		return fixed(opMe), true
	case "mixed":
		return mixedStep, true
	case "flood":
		c := o.c
		return func(ctx context.Context, t *target, v *vu) (op, int, error) {
			if v.id < c {
				return fixed(opLogin)(ctx, t, v)
			}
			return fixed(opMe)(ctx, t, v)
		}, true
	}
	panic("no HTTP scenario " + o.scenario)
}

// scenarioResult is the medians of several runs.
type scenarioResult struct {
	o         options
	runs      []runResult
	hashBound float64 // logins/s the hashing allows (login, flood)
	hashTime  time.Duration
}

// runHTTP runs an HTTP scenario o.runs times on a fresh rig, each run
// followed by a hello run.
func runHTTP(ctx context.Context, o options) (*scenarioResult, error) {
	vusN := o.c
	if o.scenario == "flood" {
		vusN = o.c + o.meC
	}
	users := o.users
	if users <= 0 {
		users = vusN
	}
	if isMFAScenario(o.scenario) {
		return runMFA(ctx, o)
	}
	if isProviderScenario(o.scenario) {
		return runProvider(ctx, o)
	}
	st, needSession := scenarioStep(o)
	// A server the tool starts gets its virtual users' sessions by SQL;
	// an external one through a login each.
	// A browser-style virtual user signs in with cookies (the CSRF
	// token comes with them); the others start from seeded tokens.
	cookies := o.scenario == "refresh-cookie"
	var vuTokens []string
	if needSession && o.url == "" && !cookies {
		vuTokens = make([]string, vusN)
		for i := range vuTokens {
			rt, err := token.NewRefreshToken()
			if err != nil {
				return nil, err
			}
			vuTokens[i] = rt
		}
	}
	r, err := newRig(ctx, o, users, vuTokens, nil)
	if err != nil {
		return nil, err
	}
	defer r.close()
	res := &scenarioResult{o: o}
	if o.scenario == "login" || o.scenario == "flood" {
		res.hashTime, res.hashBound = hashBound(ctx)
	}
	vus, err := setupVUs(ctx, r.target(), vusN, users, vuTokens, needSession && !cookies)
	if err != nil {
		return nil, err
	}
	if cookies {
		t := r.target()
		if err := inParallel(vus, 4, func(v *vu) error {
			if status, err := t.loginCookie(ctx, v); err != nil || status != http.StatusOK {
				return fmt.Errorf("set-up login of %s: status %d, %v: %s", v.user, status, err, v.buf.Bytes())
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if res.runs, err = r.runBeside(ctx, vus, st, nil, 0); err != nil {
		return nil, err
	}
	return res, nil
}

// runBeside runs st on vus o.runs times, each run followed by a baseline
// run of baseOp on base when there is one (on the same server, so the
// ratio compares like with like; runResult.base) and a hello run at the
// scenario's concurrency (a flood's login and me clients together).
func (r *rig) runBeside(ctx context.Context, vus []*vu, st step, base []*vu, baseOp op) ([]runResult, error) {
	o := r.o
	var runs []runResult
	for i := range o.runs {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		profile, err := profilePath(o, i)
		if err != nil {
			return nil, err
		}
		o.logf("run %d/%d %s c=%d", i+1, o.runs, o.scenario, o.c)
		rr := r.measure(ctx, vus, st, o.d, profile)
		if base != nil {
			o.logf("run %d/%d %s c=%d (baseline, same server)", i+1, o.runs, opNames[baseOp], len(base))
			br := r.measure(ctx, base, fixed(baseOp), o.d, "")
			rr.base = &br
		}
		rr.hello = r.measureHello(ctx, len(vus), o.helloD)
		runs = append(runs, rr)
	}
	return runs, nil
}

// profilePath is where run i's profiles go: with -profile, the first
// run's, named by store, scenario and concurrency; "" otherwise.
func profilePath(o options, i int) (string, error) {
	if o.profile == "" || i != 0 {
		return "", nil
	}
	if err := os.MkdirAll(o.profile, 0o755); err != nil {
		return "", err
	}
	return filepath.Join(o.profile, fmt.Sprintf("%s-%s-c%d", o.store, o.scenario, o.c)), nil
}

// hashBound times single argon2id hashes with the server's parameters in
// this process (the server idle) and returns the median and the login
// ceiling it implies: cores / time per hash.
func hashBound(ctx context.Context) (time.Duration, float64) {
	h := password.NewHasher(password.DefaultParams, 1)
	var ts []time.Duration
	for range 7 {
		t0 := time.Now()
		if _, err := h.Hash(ctx, benchPassword); err != nil {
			return 0, 0
		}
		ts = append(ts, time.Since(t0))
	}
	m := median(ts)
	return m, float64(runtime.NumCPU()) / m.Seconds()
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// med extracts a figure from every run and returns its median.
func med[T int64 | float64 | time.Duration](runs []runResult, f func(runResult) T) T {
	xs := make([]T, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return median(xs)
}

// opSummary is the median figures of one op across runs.
type opSummary struct {
	rps                float64
	p50, p90, p99, max time.Duration
	ratio              float64 // rps / hello rps of the same run, median
}

func (s *scenarioResult) op(o op) opSummary {
	return opSummary{
		rps:   med(s.runs, func(r runResult) float64 { return r.per[o].rps }),
		p50:   med(s.runs, func(r runResult) time.Duration { return r.per[o].p50 }),
		p90:   med(s.runs, func(r runResult) time.Duration { return r.per[o].p90 }),
		p99:   med(s.runs, func(r runResult) time.Duration { return r.per[o].p99 }),
		max:   med(s.runs, func(r runResult) time.Duration { return r.per[o].max }),
		ratio: med(s.runs, func(r runResult) float64 { return ratio(r.per[o].rps, r.hello.rps) }),
	}
}

func (s *scenarioResult) hello() opSummary {
	return opSummary{
		rps: med(s.runs, func(r runResult) float64 { return r.hello.rps }),
		p50: med(s.runs, func(r runResult) time.Duration { return r.hello.p50 }),
		p90: med(s.runs, func(r runResult) time.Duration { return r.hello.p90 }),
		p99: med(s.runs, func(r runResult) time.Duration { return r.hello.p99 }),
		max: med(s.runs, func(r runResult) time.Duration { return r.hello.max }),
	}
}

func (s *scenarioResult) totalRPS() float64 { return med(s.runs, runResult.total) }

func (s *scenarioResult) totalRatio() float64 {
	return med(s.runs, func(r runResult) float64 { return ratio(r.total(), r.hello.rps) })
}

// cpuPerReq is the server's CPU time per request of the scenario.
func (s *scenarioResult) cpuPerReq() time.Duration {
	return s.perReq(func(r runResult) time.Duration { return r.serverCPU })
}

// perReq is the median over the runs of cpu(run) per request.
func (s *scenarioResult) perReq(cpu func(runResult) time.Duration) time.Duration {
	return med(s.runs, func(r runResult) time.Duration {
		n := r.total() * r.d.Seconds()
		if n == 0 {
			return 0
		}
		return time.Duration(float64(cpu(r)) / n)
	})
}

// cpuBound estimates the throughput this machine would reach if the run
// were CPU-bound and had every core to itself: cores ÷ the CPU time one
// request costs the server, the load tool and (with -store postgres)
// PostgreSQL. On a shared machine it is steadier than req/s; it says
// nothing about fsync or lock waits.
func (s *scenarioResult) cpuBound() float64 {
	return med(s.runs, func(r runResult) float64 {
		n := r.total() * r.d.Seconds()
		cpu := r.serverCPU + r.toolCPU + r.pgCPU
		if n == 0 || cpu == 0 {
			return 0
		}
		return float64(runtime.NumCPU()) / (cpu.Seconds() / n)
	})
}

// cpuUse is the server's CPU time per second of wall time (2.0 = both cores
// of a 2-core machine).
func (s *scenarioResult) cpuUse() float64 {
	return med(s.runs, func(r runResult) float64 { return r.serverCPU.Seconds() / r.d.Seconds() })
}

func (s *scenarioResult) otherCPUUse() float64 {
	return med(s.runs, func(r runResult) float64 { return r.otherCPU.Seconds() / r.d.Seconds() })
}

func (s *scenarioResult) pgCPUUse() float64 {
	return med(s.runs, func(r runResult) float64 { return r.pgCPU.Seconds() / r.d.Seconds() })
}

// pgOwnCPUPerReq is the CPU time the server's database backends spent
// per request.
func (s *scenarioResult) pgOwnCPUPerReq() time.Duration {
	return s.perReq(func(r runResult) time.Duration { return r.pgOwnCPU })
}

func (s *scenarioResult) toolCPUUse() float64 {
	return med(s.runs, func(r runResult) float64 { return r.toolCPU.Seconds() / r.d.Seconds() })
}

// rssSettle is how long after a flood the server's RSS is sampled: a few
// seconds, so the figure is what stays resident, not what the last hashes
// held, yet well before the runtime's 2-minute forced GC would hide a heap
// that is never returned otherwise.
const rssSettle = 5 * time.Second

// afterRSSMB is the median RSS after the load stopped (flood only).
func (s *scenarioResult) afterRSSMB() float64 {
	return float64(med(s.runs, func(r runResult) int64 { return r.afterRSSKB })) / 1024
}

func (s *scenarioResult) peakRSSMB() float64 {
	var m int64
	for _, r := range s.runs {
		m = max(m, r.peakRSSKB)
	}
	return float64(m) / 1024
}

// rssRuns lists an RSS figure of every run, in MB, to show the noise.
func (s *scenarioResult) rssRuns(f func(runResult) int64) string {
	xs := make([]string, len(s.runs))
	for i, r := range s.runs {
		xs[i] = fmt.Sprintf("%.1f", float64(f(r))/1024)
	}
	return strings.Join(xs, ", ")
}

func (s *scenarioResult) errors() (map[string]int, int, int) {
	errs := map[string]int{}
	relogins, total := 0, 0
	for _, r := range s.runs {
		for k, v := range r.errs {
			errs[k] += v
			total += v
		}
		relogins += r.relogins
	}
	return errs, total, relogins
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < 10*time.Microsecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func fmtRate(x float64) string {
	switch {
	case x >= 100:
		return commas(int64(x + 0.5))
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// print writes a human-readable summary of s.
func (s *scenarioResult) print(w io.Writer) {
	o := s.o
	where := o.url
	if where == "" {
		where = "started " + o.store + " server"
		if o.profile != "" {
			where += " (benchmark build with pprof)"
		}
	}
	fmt.Fprintf(w, "scenario %s, c=%d", o.scenario, o.c)
	if o.scenario == "flood" {
		fmt.Fprintf(w, " login + %d me", o.meC)
	}
	fmt.Fprintf(w, ", %s, %d run(s) of %s (medians), %s", where, len(s.runs), o.d, machineShort())
	if o.sessions > 0 {
		fmt.Fprintf(w, ", %s seeded sessions", commas(int64(o.sessions)))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-18s %10s %9s %9s %9s %9s %8s\n", "op", "req/s", "p50", "p90", "p99", "max", "÷hello")
	for op := range opHello {
		if med(s.runs, func(r runResult) float64 { return float64(r.per[op].n) }) == 0 {
			continue
		}
		x := s.op(op)
		fmt.Fprintf(w, "%-18s %10s %9s %9s %9s %9s %7.1f%%\n", opNames[op], fmtRate(x.rps), fmtDur(x.p50), fmtDur(x.p90), fmtDur(x.p99), fmtDur(x.max), 100*x.ratio)
	}
	if o.scenario == "mixed" {
		fmt.Fprintf(w, "%-18s %10s %49.1f%%\n", "total", fmtRate(s.totalRPS()), 100*s.totalRatio())
	}
	h := s.hello()
	if s.runs[0].base != nil {
		s.printBase(w)
	}
	fmt.Fprintf(w, "%-18s %10s %9s %9s %9s %9s\n", "hello", fmtRate(h.rps), fmtDur(h.p50), fmtDur(h.p90), fmtDur(h.p99), fmtDur(h.max))
	if s.o.url == "" {
		fmt.Fprintf(w, "server: %.2f CPU-s/s, %s CPU per request, peak RSS %.1f MB; load tool %.2f CPU-s/s; other processes %.2f CPU-s/s\n",
			s.cpuUse(), fmtDur(s.cpuPerReq()), s.peakRSSMB(), s.toolCPUUse(), s.otherCPUUse())
		if s.o.scenario == "flood" {
			fmt.Fprintf(w, "server RSS %s after the flood: %.1f MB (median; runs: %s; peaks: %s)\n", rssSettle, s.afterRSSMB(),
				s.rssRuns(func(r runResult) int64 { return r.afterRSSKB }), s.rssRuns(func(r runResult) int64 { return r.peakRSSKB }))
		}
		if s.o.store == "postgres" {
			fmt.Fprintf(w, "postgres processes: %.2f CPU-s/s (not counted in other processes); the server's backends: %s CPU per request\n",
				s.pgCPUUse(), fmtDur(s.pgOwnCPUPerReq()))
			last := s.runs[len(s.runs)-1]
			printStatements(w, last.stmts, last.total()*last.d.Seconds())
		}
		fmt.Fprintf(w, "CPU-bound estimate with all %d cores free: %s req/s\n", runtime.NumCPU(), fmtRate(s.cpuBound()))
	}
	if s.hashBound > 0 {
		fmt.Fprintf(w, "argon2id: %s per hash here → bound %d cores ÷ %s = %.0f logins/s; login at %.0f%% of it\n",
			fmtDur(s.hashTime), runtime.NumCPU(), fmtDur(s.hashTime), s.hashBound, 100*s.op(opLogin).rps/s.hashBound)
	}
	errs, total, relogins := s.errors()
	if total == 0 {
		fmt.Fprintln(w, "errors: none")
	} else {
		keys := make([]string, 0, len(errs))
		for k := range errs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "errors: %d (all runs)", total)
		for _, k := range keys {
			fmt.Fprintf(w, "; %s ×%d", k, errs[k])
		}
		fmt.Fprintln(w)
	}
	if relogins > 0 {
		fmt.Fprintf(w, "re-logins after a broken refresh chain: %d\n", relogins)
	}
}

// mainOp is the op a scenario measures.
func (s *scenarioResult) mainOp() op {
	switch s.o.scenario {
	case "login-totp":
		return opLoginTOTP
	case "login-passkey-2fa":
		return opLoginPasskey2FA
	case "passkey":
		return opPasskey
	case "code-exchange":
		return opCodeExchange
	case "client-refresh":
		return opClientRefresh
	}
	return opLogin
}

// baseOp is the op of the baseline run beside the scenario (runResult.base)
// and how the report names it.
func (s *scenarioResult) baseOp() (op, string) {
	if isProviderScenario(s.o.scenario) {
		return opRefresh, "v1 refresh (POST /v1/refresh)"
	}
	return opLogin, "plain password login"
}

// printBase writes the baseline measured beside the scenario on the same
// server and the scenario's ratios to it.
func (s *scenarioResult) printBase(w io.Writer) {
	base := make([]runResult, len(s.runs))
	for i, r := range s.runs {
		base[i] = *r.base
		base[i].hello = r.hello
	}
	b := &scenarioResult{o: s.o, runs: base}
	bop, what := s.baseOp()
	x := b.op(bop)
	fmt.Fprintf(w, "%-18s %10s %9s %9s %9s %9s %7.1f%%  (%s, same server, next %s)\n",
		opNames[bop], fmtRate(x.rps), fmtDur(x.p50), fmtDur(x.p90), fmtDur(x.p99), fmtDur(x.max), 100*x.ratio, what, s.o.d)
	rps := med(s.runs, func(r runResult) float64 { return ratio(r.total(), r.base.per[bop].rps) })
	cpu, bcpu := s.cpuPerReq(), b.cpuPerReq()
	main := s.op(s.mainOp())
	fmt.Fprintf(w, "÷%s: %.2f× the ops per second; p50 %.2f×, p99 %.2f×; server CPU per op %s vs %s per %s (%.2f×)",
		opNames[bop], rps, ratio(float64(main.p50), float64(x.p50)), ratio(float64(main.p99), float64(x.p99)),
		fmtDur(cpu), fmtDur(bcpu), opNames[bop], ratio(float64(cpu), float64(bcpu)))
	if _, n, _ := b.errors(); n > 0 {
		fmt.Fprintf(w, "; %s errors: %d", opNames[bop], n)
	}
	fmt.Fprintln(w)
}

func runOne(ctx context.Context, o options) error {
	defer cleanupBuilds()
	switch o.scenario {
	case "verify":
		res, err := runVerify(ctx, o)
		if err != nil {
			return err
		}
		res.print(os.Stdout)
		return nil
	case "coldstart":
		res, err := runColdStart(ctx, o)
		if err != nil {
			return err
		}
		res.print(os.Stdout)
		return nil
	}
	res, err := runHTTP(ctx, o)
	if err != nil {
		return err
	}
	res.print(os.Stdout)
	return nil
}
