package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds cmd/baton once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "baton-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "baton")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a baton server process.
type proc struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	mu   *sync.Mutex
}

// startBaton runs `baton serve` with env on a free loopback port and waits
// until it listens.
func startBaton(t *testing.T, env ...string) *proc {
	t.Helper()
	p, err := spawnBaton(t, env...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// spawnBaton is startBaton for use from any goroutine: it reports failure
// as an error instead of failing the test. The process is killed at the
// test's cleanup either way.
func spawnBaton(t *testing.T, env ...string) (*proc, error) {
	bin, err := buildBinary()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "BATON_ADDR=127.0.0.1:0", "BATON_ISSUER=http://baton.test", "BATON_COOKIE_SECURE=false")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "baton listening" {
				addr <- m["addr"].(string)
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			return nil, fmt.Errorf("baton exited before listening:\n%s", p.Logs())
		}
		p.url = "http://" + a
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("baton did not start:\n%s", p.Logs())
	}
	return p, nil
}

func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// post sends a JSON body and decodes the JSON answer.
func (p *proc) post(path string, body any, hdr ...string) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", p.url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(req)
}

func (p *proc) get(path, bearer string) (int, map[string]any, error) {
	req, _ := http.NewRequest("GET", p.url+path, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(req)
}

func do(req *http.Request) (int, map[string]any, error) {
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m, nil
}

const testPassword = "correct horse battery staple"

// TestCrashSafety kills the server with SIGKILL in the middle of a refresh
// chain and restarts it on the same data directory: the last refresh token
// acknowledged with a 200 still works (directly, or through the grace rule
// if the kill hit a request whose answer was lost), and users and sessions
// survive.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := filepath.Join(t.TempDir(), "data")
	env := []string{"BATON_DATA_DIR=" + dir, "BATON_REUSE_GRACE=30s"}
	for round := 0; round < 3; round++ {
		t.Run(fmt.Sprintf("Round%d", round), func(t *testing.T) {
			p := startBaton(t, env...)
			user := fmt.Sprintf("crash-%d", round)
			if st, b, err := p.post("/v1/register", map[string]string{"username": user, "password": testPassword}); err != nil || st != 201 {
				t.Fatalf("register: %d %v %v", st, b, err)
			}
			st, b, err := p.post("/v1/login", map[string]string{"username": user, "password": testPassword})
			if err != nil || st != 200 {
				t.Fatalf("login: %d %v %v", st, b, err)
			}
			var (
				mu    sync.Mutex
				acked = b["refresh_token"].(string)
				n     int
			)
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					cur := acked
					mu.Unlock()
					st, b, err := p.post("/v1/refresh", map[string]string{"refresh_token": cur})
					if err != nil || st != 200 {
						return // the kill
					}
					mu.Lock()
					acked = b["refresh_token"].(string)
					n++
					mu.Unlock()
				}
			}()
			time.Sleep(time.Duration(300+100*round) * time.Millisecond)
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			close(stop)
			<-done
			_ = p.cmd.Wait()
			mu.Lock()
			last, count := acked, n
			mu.Unlock()
			if count < 5 {
				t.Fatalf("only %d refreshes before the kill; the test proves little", count)
			}
			q := startBaton(t, env...)
			st, b, err = q.post("/v1/refresh", map[string]string{"refresh_token": last})
			if err != nil || st != 200 {
				t.Fatalf("after %d refreshes and a kill, the last acknowledged refresh token: %d %v %v\n%s", count, st, b, err, q.Logs())
			}
			if st, me, _ := q.get("/v1/me", b["access_token"].(string)); st != 200 || me["username"] != user {
				t.Fatalf("me after restart: %d %v", st, me)
			}
			if st, _, _ := q.post("/v1/login", map[string]string{"username": "crash-0", "password": testPassword}); st != 200 {
				t.Fatalf("earlier user lost: login %d", st)
			}
			t.Logf("round %d: %d acknowledged refreshes before SIGKILL; chain intact after restart", round, count)
			_ = q.cmd.Process.Signal(syscall.SIGTERM)
			_ = q.cmd.Wait()
		})
	}
}

// TestConfigErrors: a bad value stops start-up with a message naming the
// variable.
func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct{ env, want string }{
		{"BATON_ACCESS_TTL=soon", "BATON_ACCESS_TTL"},
		{"BATON_REFRESH_TTL=-5h", "BATON_REFRESH_TTL"},
		{"BATON_REUSE_GRACE=ten", "BATON_REUSE_GRACE"},
		{"BATON_COOKIE_SECURE=maybe", "BATON_COOKIE_SECURE"},
		{"BATON_LIMIT_IP_FAILURES=lots", "BATON_LIMIT_IP_FAILURES"},
		{"BATON_TRUSTED_PROXIES=10.0.0.0/99", "BATON_TRUSTED_PROXIES"},
		{"BATON_MASTER_KEY=short", "BATON_MASTER_KEY"},
		{"BATON_ISSUER=ftp://x", "BATON_ISSUER"},
		{"BATON_DATABASE_URL=mysql://x", "BATON_DATABASE_URL"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			var stderr bytes.Buffer
			env := map[string]string{}
			k, v, _ := strings.Cut(tt.env, "=")
			env[k] = v
			code := run(t.Context(), []string{"serve"}, func(k string) string { return env[k] }, io.Discard, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q: want non-zero naming %s", code, stderr.String(), tt.want)
			}
		})
	}
}

// TestLoneSettingsStart: a lone lifetime that contradicts a default starts
// (the default adapts, and the log says so); two set values that
// contradict each other stop start-up, naming both.
func TestLoneSettingsStart(t *testing.T) {
	for _, tt := range []struct{ env, note string }{
		{"BATON_REFRESH_TTL=1h", "BATON_REFRESH_IDLE_TTL defaults to 1h"},
		{"BATON_ACCESS_TTL=800h", "BATON_REFRESH_TTL defaults to 800h"},
		{"BATON_REFRESH_IDLE_TTL=1s", "BATON_REUSE_GRACE defaults to 1s"},
	} {
		t.Run(tt.env, func(t *testing.T) {
			p := startBaton(t, tt.env, "BATON_DATA_DIR="+t.TempDir())
			if !strings.Contains(p.Logs(), tt.note) {
				t.Fatalf("log does not say %q:\n%s", tt.note, p.Logs())
			}
		})
	}
	var stderr bytes.Buffer
	env := map[string]string{"BATON_REFRESH_TTL": "1h", "BATON_REFRESH_IDLE_TTL": "2h"}
	code := run(t.Context(), []string{"serve"}, func(k string) string { return env[k] }, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "BATON_REFRESH_TTL") || !strings.Contains(stderr.String(), "BATON_REFRESH_IDLE_TTL") {
		t.Fatalf("exit %d, stderr %q: want 2 naming both variables", code, stderr.String())
	}
}

func TestHelpAndVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run(t.Context(), []string{"--help"}, os.Getenv, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "baton serve") {
		t.Fatalf("help: %d %q", code, out.String())
	}
	out.Reset()
	if code := run(t.Context(), []string{"version"}, os.Getenv, &out, io.Discard); code != 0 || !strings.HasPrefix(out.String(), "baton ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run(t.Context(), []string{"frobnicate"}, os.Getenv, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
}
