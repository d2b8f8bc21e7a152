package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// builds caches the binaries built in this process, by package.
var builds struct {
	sync.Mutex
	dir  string
	bins map[string]string
}

// buildBinary builds the main package pkg (relative to the module root)
// with go build, once per process.
func buildBinary(ctx context.Context, pkg string) (string, error) {
	builds.Lock()
	defer builds.Unlock()
	if bin, ok := builds.bins[pkg]; ok {
		return bin, nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	if builds.dir == "" {
		builds.dir, err = os.MkdirTemp("", "baton-bench-bin-")
		if err != nil {
			return "", err
		}
		builds.bins = map[string]string{}
	}
	bin := filepath.Join(builds.dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	builds.bins[pkg] = bin
	return bin, nil
}

func cleanupBuilds() {
	builds.Lock()
	defer builds.Unlock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
		builds.dir = ""
		builds.bins = nil
	}
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run bench inside the baton module")
	}
	return filepath.Dir(mod), nil
}

// backend is the storage a started server runs on: a data directory, and
// for PostgreSQL a database of its own.
type backend struct {
	store   string
	dir     string // temporary directory: data dir, log
	dataDir string
	pgAdmin string // the server's URL with its original database
	pgName  string
	pgURL   string
	// pool is the server's pool_max_conns, 0 for baton's default.
	pool int
	// keep leaves the database behind (-keep-db), for EXPLAIN on the rows
	// a run left.
	keep bool
}

// newBackend creates a fresh data directory, and for PostgreSQL a fresh
// database baton_bench_<hex>.
func newBackend(ctx context.Context, o options) (*backend, error) {
	dir, err := os.MkdirTemp("", "baton-bench-")
	if err != nil {
		return nil, err
	}
	b := &backend{store: o.store, dir: dir, dataDir: filepath.Join(dir, "data"), pool: o.pool, keep: o.keepDB}
	if o.store == "postgres" {
		var r [6]byte
		_, _ = rand.Read(r[:])
		b.pgAdmin = o.dbURL
		b.pgName = "baton_bench_" + hex.EncodeToString(r[:])
		if err := pgExec(ctx, b.pgAdmin, "CREATE DATABASE "+b.pgName); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("create database: %w", err)
		}
		b.pgURL, err = withDatabase(o.dbURL, b.pgName)
		if err != nil {
			b.close()
			return nil, err
		}
	}
	return b, nil
}

func (b *backend) close() {
	if b.pgName != "" && b.keep {
		fmt.Fprintf(os.Stderr, "bench: kept database %s (drop it when done)\n", b.pgName)
		b.pgName = ""
	}
	if b.pgName != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pgExec(ctx, b.pgAdmin, "DROP DATABASE IF EXISTS "+b.pgName+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: drop database %s: %v\n", b.pgName, err)
		}
		b.pgName = ""
	}
	os.RemoveAll(b.dir)
}

func withDatabase(connURL, name string) (string, error) {
	u, err := parseURL(connURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

func pgExec(ctx context.Context, connURL, sql string) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// env is the server's environment: the parent's without BATON_*, plus the
// benchmark configuration.
func (b *backend) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BATON_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"BATON_ADDR=127.0.0.1:0",
		"BATON_DATA_DIR="+b.dataDir,
		"BATON_COOKIE_SECURE=false",
		"BATON_DEMO=false",
		// Runs are minutes long; a 5-minute access token would expire under
		// the "me" load of a long report.
		"BATON_ACCESS_TTL=1h",
		"BATON_LIMIT_ACCOUNT_FAILURES=off",
		"BATON_LIMIT_IP_FAILURES=off",
		"BATON_LIMIT_IP_REGISTRATIONS=off",
		// The relying party of the seeded passkeys (mfa.go): the
		// loopback default would be http://localhost:<port of 127.0.0.1:0>.
		"BATON_WEBAUTHN_RP_ID="+benchRPID,
		"BATON_WEBAUTHN_ORIGINS="+benchOrigin,
	)
	if b.pgURL != "" {
		u := b.pgURL
		if b.pool > 0 {
			// Only the server's pool: the tool's own connections are
			// plain pgx ones, which would send it as a setting.
			sep := "?"
			if strings.Contains(u, "?") {
				sep = "&"
			}
			u += fmt.Sprintf("%spool_max_conns=%d", sep, b.pool)
		}
		env = append(env, "BATON_DATABASE_URL="+u)
	}
	return append(env, extra...)
}

// migrate creates the schema with "baton migrate", so seeding can insert
// rows before the server starts.
func (b *backend) migrate(ctx context.Context, bin string) error {
	cmd := exec.CommandContext(ctx, bin, "migrate")
	cmd.Env = b.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("baton migrate: %v\n%s", err, out)
	}
	return nil
}

// server is a baton process started by the tool.
type server struct {
	cmd       *exec.Cmd
	url       string
	pprofURL  string
	logPath   string
	startedAt time.Time
	readyAt   time.Time // first /readyz 200
	exited    chan struct{}
	exitErr   error
}

// startServer starts bin serve on the backend and waits until /readyz
// answers 200.
func startServer(ctx context.Context, b *backend, bin string, pprof bool) (*server, error) {
	logPath := filepath.Join(b.dir, fmt.Sprintf("server-%d.log", time.Now().UnixNano()))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	var extra []string
	if pprof {
		extra = append(extra, "BATON_BENCH_PPROF_ADDR=127.0.0.1:0")
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = b.env(extra...)
	// The server writes its log straight into the file: a pipe would cost
	// this process CPU on every logged request.
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &server{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	s.startedAt = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.exitErr = cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(ctx, pprof); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, tail(logPath, 2000))
	}
	return s, nil
}

// waitReady polls the log for the listening address, then /readyz.
func (s *server) waitReady(ctx context.Context, pprof bool) error {
	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("server exited: %v", s.exitErr)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if s.url == "" || (pprof && s.pprofURL == "") {
			s.scanLog()
		}
		if s.url != "" && (!pprof || s.pprofURL != "") {
			resp, err := client.Get(s.url + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					s.readyAt = time.Now()
					return nil
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
	return errors.New("server not ready within 60s")
}

func (s *server) scanLog() {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return
	}
	for line := range bytes.Lines(b) {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "baton listening":
			s.url = "http://" + rec.Addr
		case "pprof listening":
			s.pprofURL = "http://" + rec.Addr
		}
	}
}

// stop sends SIGTERM and waits (SIGKILL after 20 s).
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// procCPU returns the CPU time (user+system) the process used so far, from
// /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields count from after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("malformed stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed stat")
	}
	// USER_HZ is 100 on every Linux this runs on.
	return time.Duration(ut+st) * (time.Second / 100), nil
}

// commCPU returns the CPU time used so far by every process whose command
// name is comm (PostgreSQL's backends are all "postgres").
func commCPU(comm string) time.Duration {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(b)) != comm {
			continue
		}
		if t, err := procCPU(pid); err == nil {
			total += t
		}
	}
	return total
}

// backendCPU returns the CPU time so far of each backend connected to the
// server's database (nil when it cannot tell): PostgreSQL runs one process
// per connection, and the server's pool keeps its connections.
func (b *backend) backendCPU(ctx context.Context) map[int]time.Duration {
	conn, err := pgx.Connect(ctx, b.pgAdmin)
	if err != nil {
		return nil
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, b.pgName)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil
	}
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		if t, err := procCPU(int(pid)); err == nil {
			out[int(pid)] = t
		}
	}
	return out
}

// machineBusy returns the CPU time all processes used so far: the "cpu"
// line of /proc/stat without idle and iowait.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, errors.New("malformed /proc/stat")
	}
	var busy int64
	for i, v := range f[1:8] { // user nice system idle iowait irq softirq
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		busy += n
	}
	return time.Duration(busy) * (time.Second / 100), nil
}

// procStatusKB returns a kB field of /proc/<pid>/status (VmHWM, VmRSS).
func procStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in status", field)
}

// resetPeakRSS resets VmHWM to the current RSS (proc(5), clear_refs "5").
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
