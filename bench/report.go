package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The report rewrites only what lies between these markers; the prose
// around them (method, analysis, next steps) is written by hand.
const (
	beginMarker = "<!-- BEGIN GENERATED: make bench rewrites everything up to the END marker -->"
	endMarker   = "<!-- END GENERATED -->"
)

// runReport runs the whole matrix and rewrites the generated section of
// o.report.
func runReport(ctx context.Context, o options) error {
	defer cleanupBuilds()
	// Fail early on an unreadable file; it is read again at the end, so
	// edits to the prose made while the matrix runs are kept.
	if _, err := os.ReadFile(o.report); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	runs, d := 3, 3*time.Second
	if o.quick {
		runs, d = 1, time.Second
	}
	base := o
	base.runs, base.d, base.helloD, base.warmup = runs, d, 2*time.Second, time.Second
	if o.quick {
		base.helloD, base.warmup = time.Second, 500*time.Millisecond
	}
	base.profile, base.url, base.sessions, base.users = "", "", 0, 0
	started := time.Now()

	var out strings.Builder
	var cells []*scenarioResult
	progress := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%s] "+format+"\n", append([]any{time.Since(started).Round(time.Second)}, args...)...)
	}

	for _, store := range []string{"sqlite", "postgres"} {
		for _, c := range []int{16, 64} {
			for _, sc := range []string{"refresh", "refresh-cookie", "me", "login", "mixed"} {
				co := base
				co.store, co.c, co.scenario = store, c, sc
				// Tables of a realistic size: a handful of rows would let
				// PostgreSQL's planner scan them whole, and updates bloat
				// a tiny table's few pages quickly.
				co.sessions = 10_000
				if o.quick {
					co.sessions = 100
				}
				progress("%s c=%d %s", store, c, sc)
				res, err := runHTTP(ctx, co)
				if err != nil {
					return fmt.Errorf("%s c=%d %s: %w", store, c, sc, err)
				}
				cells = append(cells, res)
			}
		}
	}
	fo := base
	fo.store, fo.scenario, fo.c, fo.meC = "sqlite", "flood", 32, 8
	progress("flood")
	flood, err := runHTTP(ctx, fo)
	if err != nil {
		return fmt.Errorf("flood: %w", err)
	}
	vo := base
	vo.scenario, vo.c, vo.d = "verify", runtime.GOMAXPROCS(0), 2*time.Second
	if o.quick {
		vo.d = 500 * time.Millisecond
	}
	progress("verify")
	verify, err := runVerify(ctx, vo)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	var big [2]*scenarioResult
	for i, n := range []int{10_000, 1_000_000} {
		so := base
		so.store, so.scenario, so.c, so.sessions = "sqlite", "refresh", 64, n
		if o.quick {
			so.sessions = n / 100
		}
		progress("refresh with %d sessions", so.sessions)
		if big[i], err = runHTTP(ctx, so); err != nil {
			return fmt.Errorf("refresh with %d sessions: %w", so.sessions, err)
		}
	}
	co := base
	co.store, co.scenario, co.runs, co.sessions = "sqlite", "coldstart", 7, 1_000_000
	if o.quick {
		co.sessions = 10_000
	}
	progress("cold start")
	cold, err := runColdStart(ctx, co)
	if err != nil {
		return fmt.Errorf("cold start: %w", err)
	}

	fmt.Fprintln(&out, beginMarker)
	fmt.Fprintf(&out, "Generated %s by `make bench` in %s. Machine: %s. Each cell of the HTTP load table: a fresh server (fresh data directory or database, %s filler sessions seeded beside the virtual users'), %d run(s) of %s after %s of warm-up, each followed by a %s hello run; medians.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), time.Since(started).Round(time.Second), machine(), commas(int64(cells[0].o.sessions)), runs, d, base.warmup, base.helloD)
	var others []float64
	for _, c := range cells {
		others = append(others, c.otherCPUUse())
	}
	fmt.Fprintf(&out, "Noise: other processes on this shared machine used a median %.2f (max %.2f) CPU-seconds per second of the %d cores during the measured windows (column \"others\").\n\n",
		median(others), slices.Max(others), runtime.NumCPU())

	fmt.Fprintln(&out, "#### HTTP load (load tool on the same machine)")
	fmt.Fprintln(&out)
	fmt.Fprintln(&out, "| store | c | scenario | req/s | p50 | p90 | p99 | max | hello req/s | ÷hello | server CPU/req | server CPU-s/s | PG CPU-s/s | others CPU-s/s | CPU-bound est. req/s | peak RSS MB | errors |")
	fmt.Fprintln(&out, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range cells {
		writeRow(&out, c)
	}
	fmt.Fprintln(&out)
	fmt.Fprintln(&out, "`mixed` rows: total over login, refresh and me; latency columns are those of `me`, per-op rows follow:")
	fmt.Fprintln(&out)
	fmt.Fprintln(&out, "| store | c | op in mixed | req/s | p50 | p90 | p99 | max |")
	fmt.Fprintln(&out, "|---|---:|---|---:|---:|---:|---:|---:|")
	for _, c := range cells {
		if c.o.scenario != "mixed" {
			continue
		}
		for _, k := range []op{opLogin, opRefresh, opMe} {
			x := c.op(k)
			fmt.Fprintf(&out, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", c.o.store, c.o.c, opNames[k], fmtRate(x.rps), fmtDur(x.p50), fmtDur(x.p90), fmtDur(x.p99), fmtDur(x.max))
		}
	}
	fmt.Fprintln(&out)

	fmt.Fprintln(&out, "#### Extra scenarios")
	fmt.Fprintln(&out)
	fmt.Fprintln(&out, "| scenario | req/s | p50 | p90 | p99 | max | ÷hello | server CPU/req | CPU-bound est. req/s | peak RSS MB | others CPU-s/s |")
	fmt.Fprintln(&out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, k := range []op{opLogin, opMe} {
		x := flood.op(k)
		clients := fo.c
		if k == opMe {
			clients = fo.meC
		}
		fmt.Fprintf(&out, "| flood (sqlite): %s, %d clients | %s | %s | %s | %s | %s | %.1f%% | | | %.0f | %.2f |\n",
			opNames[k], clients, fmtRate(x.rps), fmtDur(x.p50), fmtDur(x.p90), fmtDur(x.p99), fmtDur(x.max), 100*x.ratio, flood.peakRSSMB(), flood.otherCPUUse())
	}
	for _, b := range big {
		x := b.op(opRefresh)
		fmt.Fprintf(&out, "| refresh (sqlite), c=64, %s stored sessions | %s | %s | %s | %s | %s | %.1f%% | %s | %s | %.0f | %.2f |\n",
			commas(int64(b.o.sessions)), fmtRate(x.rps), fmtDur(x.p50), fmtDur(x.p90), fmtDur(x.p99), fmtDur(x.max), 100*x.ratio, fmtDur(b.cpuPerReq()), fmtRate(b.cpuBound()), b.peakRSSMB(), b.otherCPUUse())
	}
	fmt.Fprintln(&out)
	fmt.Fprintf(&out, "- verify (in process, %d goroutines, 100 ms slices interleaved): `resource.Verifier.Verify` %s/s (%.1f%% of raw), `token.Keyring.Verify` %s/s (%.1f%%), raw `ed25519.Verify` %s/s.\n",
		vo.c, fmtRate(median(verify.resource)), 100*verify.ratio(verify.resource), fmtRate(median(verify.full)), 100*verify.ratio(verify.full), fmtRate(median(verify.raw)))
	fmt.Fprintf(&out, "- cold start (sqlite, existing data directory with %s sessions, %d starts): exec → first `/readyz` 200 median %s (min %s, max %s).\n",
		commas(int64(co.sessions)), len(cold.times), fmtDur(median(cold.times)), fmtDur(minOf(cold.times)), fmtDur(maxOf(cold.times)))
	fmt.Fprintf(&out, "- argon2id here: %s per hash (median of 7, this process, server idle) → login bound %d cores ÷ %s = %.0f/s.\n\n",
		fmtDur(flood.hashTime), runtime.NumCPU(), fmtDur(flood.hashTime), flood.hashBound)

	writeTargets(&out, cells, flood, verify, big, cold)

	if o.micro != "" {
		if err := writeMicro(&out, o.micro); err != nil {
			return err
		}
	}
	fmt.Fprintln(&out, endMarker)

	doc, err := os.ReadFile(o.report)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	newDoc := spliceGenerated(string(doc), out.String())
	if err := os.WriteFile(o.report, []byte(newDoc), 0o644); err != nil {
		return err
	}
	progress("wrote %s", o.report)
	return nil
}

func writeRow(out *strings.Builder, c *scenarioResult) {
	var x opSummary
	rps, rat := c.totalRPS(), c.totalRatio()
	switch c.o.scenario {
	case "login":
		x = c.op(opLogin)
	case "refresh":
		x = c.op(opRefresh)
	case "refresh-cookie":
		x = c.op(opRefreshCookie)
	case "me", "mixed":
		x = c.op(opMe)
	}
	_, nerr, _ := c.errors()
	pg := "-"
	if c.o.store == "postgres" {
		pg = fmt.Sprintf("%.2f", c.pgCPUUse())
	}
	fmt.Fprintf(out, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %.1f%% | %s | %.2f | %s | %.2f | %s | %.0f | %d |\n",
		c.o.store, c.o.c, c.o.scenario, fmtRate(rps), fmtDur(x.p50), fmtDur(x.p90), fmtDur(x.p99), fmtDur(x.max),
		fmtRate(c.hello().rps), 100*rat, fmtDur(c.cpuPerReq()), c.cpuUse(), pg, c.otherCPUUse(), fmtRate(c.cpuBound()), c.peakRSSMB(), nerr)
}

func find(cells []*scenarioResult, store string, c int, sc string) *scenarioResult {
	for _, x := range cells {
		if x.o.store == store && x.o.c == c && x.o.scenario == sc {
			return x
		}
	}
	return nil
}

func met(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func writeTargets(out *strings.Builder, cells []*scenarioResult, flood *scenarioResult, verify *verifyResult, big [2]*scenarioResult, cold *coldResult) {
	fmt.Fprintln(out, "#### Targets (computed from the figures above)")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| target | measured | verdict |")
	fmt.Fprintln(out, "|---|---|---|")
	for _, t := range []struct {
		store string
		want  float64
	}{{"sqlite", 5000}, {"postgres", 2500}} {
		c := find(cells, t.store, 64, "refresh")
		x := c.op(opRefresh)
		fmt.Fprintf(out, "| refresh %s, 64 clients: ≥ %s/s, p99 < 25 ms | %s/s (%+.0f%%), p99 %s; CPU-bound estimate on a free machine %s/s | %s |\n",
			t.store, commas(int64(t.want)), fmtRate(x.rps), 100*(x.rps/t.want-1), fmtDur(x.p99), fmtRate(c.cpuBound()), met(x.rps >= t.want && x.p99 < 25*time.Millisecond))
	}
	for _, store := range []string{"sqlite", "postgres"} {
		c := find(cells, store, 64, "me")
		x := c.op(opMe)
		fmt.Fprintf(out, "| GET /v1/me (%s, 64 clients): ≥ 12,000/s, p99 < 10 ms | %s/s (%+.0f%%), p99 %s; CPU-bound estimate on a free machine %s/s | %s |\n",
			store, fmtRate(x.rps), 100*(x.rps/12000-1), fmtDur(x.p99), fmtRate(c.cpuBound()), met(x.rps >= 12000 && x.p99 < 10*time.Millisecond))
	}
	for _, cc := range []int{16, 64} {
		c := find(cells, "sqlite", cc, "login")
		x := c.op(opLogin)
		// CPU-adjusted: what share of the server's CPU went into hashing,
		// which holds even when other processes took cores away.
		eff := 0.0
		if c.cpuPerReq() > 0 {
			eff = float64(flood.hashTime) / float64(c.cpuPerReq())
		}
		fmt.Fprintf(out, "| login (sqlite, %d clients) within 10%% of the argon2id bound (%.0f/s) | %s/s = %.0f%% of the bound; server CPU per login %s vs %s per hash (%.0f%% of its CPU is hashing) | %s |\n",
			cc, flood.hashBound, fmtRate(x.rps), 100*x.rps/flood.hashBound, fmtDur(c.cpuPerReq()), fmtDur(flood.hashTime), 100*eff, met(x.rps >= 0.9*flood.hashBound))
	}
	fm := flood.op(opMe)
	fmt.Fprintf(out, "| GET /v1/me p99 < 50 ms during a login flood (32 login + 8 me clients) | p99 %s (me at %s/s, logins at %s/s) | %s |\n",
		fmtDur(fm.p99), fmtRate(fm.rps), fmtRate(flood.op(opLogin).rps), met(fm.p99 < 50*time.Millisecond))
	vr := verify.ratio(verify.resource)
	fmt.Fprintf(out, "| verify ≥ 85%% of raw Ed25519 throughput | resource.Verifier %.1f%%, token.Keyring %.1f%% | %s |\n", 100*vr, 100*verify.ratio(verify.full), met(vr >= 0.85))
	r10, r1m := big[0].op(opRefresh), big[1].op(opRefresh)
	fmt.Fprintf(out, "| refresh with %s sessions within 15%% of %s sessions (sqlite, 64 clients) | %s/s vs %s/s = %.0f%% | %s |\n",
		commas(int64(big[1].o.sessions)), commas(int64(big[0].o.sessions)), fmtRate(r1m.rps), fmtRate(r10.rps), 100*ratio(r1m.rps, r10.rps), met(r1m.rps >= 0.85*r10.rps))
	fmt.Fprintf(out, "| server RSS < 100 MB under 64-client refresh with %s sessions | peak %.0f MB (VmHWM, reset at the window start) | %s |\n",
		commas(int64(big[1].o.sessions)), big[1].peakRSSMB(), met(big[1].peakRSSMB() < 100))
	fmt.Fprintf(out, "| server RSS ≤ 100 MB after a login flood (32 login + 8 me clients, default settings) | %.0f MB %s after the load (median), peak %.0f MB | %s |\n",
		flood.afterRSSMB(), rssSettle, flood.peakRSSMB(), met(flood.afterRSSMB() <= 100))
	fmt.Fprintf(out, "| cold start to ready < 200 ms (existing data dir, %s sessions) | median %s | %s |\n",
		commas(int64(cold.o.sessions)), fmtDur(median(cold.times)), met(median(cold.times) < 200*time.Millisecond))
	fmt.Fprintln(out)
}

// writeMicro summarises go test -bench output: the median of each
// benchmark's figures over its -count runs.
func writeMicro(out *strings.Builder, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	type bench struct {
		pkg, name string
		metrics   map[string][]float64
		units     []string
	}
	var order []*bench
	byKey := map[string]*bench{}
	pkg := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "github.com/batonauth/baton/")
			continue
		}
		fs := strings.Fields(line)
		if len(fs) < 4 || !strings.HasPrefix(fs[0], "Benchmark") {
			continue
		}
		key := pkg + " " + fs[0]
		b := byKey[key]
		if b == nil {
			b = &bench{pkg: pkg, name: fs[0], metrics: map[string][]float64{}}
			byKey[key] = b
			order = append(order, b)
		}
		for i := 2; i+1 < len(fs); i += 2 {
			v, err := strconv.ParseFloat(fs[i], 64)
			if err != nil {
				break
			}
			u := fs[i+1]
			if _, ok := b.metrics[u]; !ok {
				b.units = append(b.units, u)
			}
			b.metrics[u] = append(b.metrics[u], v)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Fprintln(out, "#### Micro-benchmarks (`go test -bench`, median of the -count runs)")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| package | benchmark | time/op | B/op | allocs/op | other |")
	fmt.Fprintln(out, "|---|---|---:|---:|---:|---|")
	for _, b := range order {
		ns := median(b.metrics["ns/op"])
		var other []string
		for _, u := range b.units {
			switch u {
			case "ns/op", "B/op", "allocs/op":
				continue
			}
			other = append(other, fmt.Sprintf("%.4g %s", median(b.metrics[u]), u))
		}
		fmt.Fprintf(out, "| %s | %s | %s | %.0f | %.0f | %s |\n", b.pkg, b.name, fmtDur(time.Duration(ns)),
			median(b.metrics["B/op"]), median(b.metrics["allocs/op"]), strings.Join(other, ", "))
	}
	fmt.Fprintln(out)
	return nil
}

// spliceGenerated replaces the generated section of doc (or appends one).
func spliceGenerated(doc, gen string) string {
	i := strings.Index(doc, beginMarker)
	j := strings.Index(doc, endMarker)
	if i < 0 || j < i {
		if doc != "" && !strings.HasSuffix(doc, "\n") {
			doc += "\n"
		}
		return doc + "\n" + gen
	}
	return doc[:i] + strings.TrimSuffix(gen, "\n") + doc[j+len(endMarker):]
}
