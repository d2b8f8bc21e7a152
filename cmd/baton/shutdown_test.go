package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown sends SIGTERM in the middle of a concurrent load of
// refreshes, /v1/me calls and logins: every request that got a response got
// a complete, valid one (no 5xx, no body cut short), requests in flight at
// the signal finish, the process exits 0, and after a restart on the same
// data directory every acknowledged rotation is intact (the last
// acknowledged refresh token of each chain works, with no grace window to
// hide a lost answer).
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := filepath.Join(t.TempDir(), "data")
	env := []string{"BATON_DATA_DIR=" + dir, "BATON_REUSE_GRACE=0", "BATON_LIMIT_IP_FAILURES=off"}
	p := startBaton(t, env...)
	const workers = 6
	if st, b, err := p.post("/v1/register", map[string]string{"username": "sigterm", "password": testPassword}); err != nil || st != 201 {
		t.Fatalf("register: %d %v %v", st, b, err)
	}
	type chain struct {
		rt, at string
		acked  int
	}
	chains := make([]*chain, workers)
	for i := range chains {
		st, b, err := p.post("/v1/login", map[string]string{"username": "sigterm", "password": testPassword})
		if err != nil || st != 200 {
			t.Fatalf("login: %d %v %v", st, b, err)
		}
		chains[i] = &chain{rt: b["refresh_token"].(string), at: b["access_token"].(string)}
	}

	var (
		mu       sync.Mutex
		problems []string
		answered int
	)
	problem := func(format string, args ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// send does one request; ok=false when no response came (refused or
	// closed before it was accepted), which is allowed once the server
	// stops. A response must be complete JSON with a 2xx status.
	send := func(c *http.Client, method, path, bearer, body string) (map[string]any, bool) {
		req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := c.Do(req)
		if err != nil {
			return nil, false
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		if err != nil {
			problem("%s %s: %d, body cut short: %v", method, path, res.StatusCode, err)
			return nil, false
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			problem("%s %s: %d, invalid body %q", method, path, res.StatusCode, raw)
			return nil, false
		}
		mu.Lock()
		answered++
		mu.Unlock()
		if res.StatusCode != 200 {
			problem("%s %s: %d %s", method, path, res.StatusCode, raw)
			return nil, false
		}
		return m, true
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, ch := range chains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
			defer c.CloseIdleConnections()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if n%2 == 0 {
					m, ok := send(c, "POST", "/v1/refresh", "", `{"refresh_token":"`+ch.rt+`"}`)
					if !ok {
						return
					}
					ch.rt, ch.at = m["refresh_token"].(string), m["access_token"].(string)
					ch.acked++
				} else if _, ok := send(c, "GET", "/v1/me", ch.at, ""); !ok {
					return
				}
				_ = i
			}
		}()
	}
	time.Sleep(400 * time.Millisecond)

	// Requests in flight at the signal: their headers and half their
	// bodies are sent before SIGTERM, the rest after. Graceful shutdown
	// must read them to the end and answer them completely.
	const inflightN = 4
	body := `{"username":"sigterm","password":"` + testPassword + `"}`
	conns := make([]net.Conn, inflightN)
	for i := range conns {
		c, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/login HTTP/1.1\r\nHost: baton.test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			len(body), body[:len(body)/2])
		conns[i] = c
	}
	time.Sleep(150 * time.Millisecond) // the server reads the headers: the connections are active
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	for i, c := range conns {
		if _, err := io.WriteString(c, body[len(body)/2:]); err != nil {
			t.Errorf("in-flight request %d: the rest of the body: %v", i, err)
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("in-flight request %d got no answer: %v", i, err)
			continue
		}
		raw, err := io.ReadAll(res.Body)
		res.Body.Close()
		var m map[string]any
		if err != nil || res.StatusCode != 200 || json.Unmarshal(raw, &m) != nil || m["refresh_token"] == nil {
			t.Errorf("in-flight request %d: %d %q %v", i, res.StatusCode, raw, err)
		}
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("baton exited with %v after SIGTERM\n%s", err, p.Logs())
		}
	case <-time.After(25 * time.Second):
		t.Fatal("baton did not exit within 25s of SIGTERM")
	}
	close(stop)
	wg.Wait()
	for _, pr := range problems {
		t.Error(pr)
	}
	if !strings.Contains(p.Logs(), "baton stopped") {
		t.Errorf("no clean stop in the log:\n%s", p.Logs())
	}
	total := 0
	for _, ch := range chains {
		total += ch.acked
	}
	if total < 20 {
		t.Fatalf("only %d acknowledged rotations before SIGTERM; the test proves little", total)
	}
	t.Logf("%d answered requests, %d acknowledged rotations; restarting", answered, total)

	q := startBaton(t, env...)
	for i, ch := range chains {
		st, b, err := q.post("/v1/refresh", map[string]string{"refresh_token": ch.rt})
		if err != nil || st != 200 {
			t.Errorf("chain %d: the last acknowledged refresh token (after %d rotations): %d %v %v", i, ch.acked, st, b, err)
		}
	}
	_ = q.cmd.Process.Signal(syscall.SIGTERM)
	_ = q.cmd.Wait()
}
