package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// op is one kind of request.
type op int

const (
	opLogin op = iota
	opRefresh
	opMe
	opLoginTOTP
	opLoginPasskey2FA
	opPasskey
	opCodeExchange
	opClientRefresh
	opRefreshCookie
	opHello
	nOps
)

var opNames = [nOps]string{"login", "refresh", "me", "login-totp", "login-passkey-2fa", "passkey", "code-exchange", "client-refresh", "refresh-cookie", "hello"}

// newClient is the load generator's client: keep-alive connections, at
// least one idle connection per virtual user so none is ever re-dialled.
// It follows no redirect: every request is one measured round trip, and
// the provider's 303s point at the client's redirect URI, which is no
// server here.
func newClient(c int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * c,
		MaxIdleConnsPerHost: 2 * c,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// vu is a virtual user: one request at a time, with its own tokens.
type vu struct {
	id   int
	user string
	at   string // access token
	rt   string // refresh token: each virtual user keeps its own chain
	rng  *rand.Rand
	buf  bytes.Buffer
	// stage names the request of a multi-request op in flight, for the
	// error table ("" for single-request ops).
	stage string
	// pool, next and lastStep are the second-factor scenarios' users of
	// this virtual user, the round-robin position, and the TOTP step each
	// was last signed in at.
	pool     []int
	next     int
	lastStep []int64
	// flow is the browser's baton_flow cookie (provider scenarios).
	flow string
	// csrf is the baton_csrf cookie of a browser-style virtual user
	// (refresh-cookie), whose rt is its baton_refresh cookie.
	csrf string
	// renew, when set, starts a new chain after a broken one instead of a
	// password login (client-refresh: a code exchange).
	renew func(ctx context.Context, t *target) error
}

// sample is what one virtual user measured.
type sample struct {
	lat      [nOps][]time.Duration
	errs     map[string]int
	relogins int
}

func (s *sample) fail(key string) {
	if s.errs == nil {
		s.errs = map[string]int{}
	}
	s.errs[key]++
}

// target is the HTTP side of a run.
type target struct {
	client *http.Client
	url    string
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// do sends one request and reads the whole answer into v.buf. It returns
// the status, or an error for a transport failure.
func (t *target) do(ctx context.Context, v *vu, method, path, body, bearer string) (int, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.url+path, rd)
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := t.send(v, req)
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// send sends req and reads the whole answer into v.buf; the response's
// body is closed, its status and headers remain.
func (t *target) send(v *vu, req *http.Request) (*http.Response, error) {
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	v.buf.Reset()
	_, err = v.buf.ReadFrom(resp.Body)
	resp.Body.Close()
	return resp, err
}

// errKey names a failed request for the error table: op, status and the
// body's error code.
func errKey(o op, stage string, status int, err error, body []byte) string {
	name := opNames[o]
	if stage != "" {
		name += " (" + stage + ")"
	}
	if err != nil {
		msg := err.Error()
		if len(msg) > 80 {
			msg = msg[len(msg)-80:]
		}
		return name + " error: " + msg
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return fmt.Sprintf("%s %d %s", name, status, e.Error)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (t *target) login(ctx context.Context, v *vu) (int, error) {
	status, err := t.do(ctx, v, http.MethodPost, "/v1/login",
		`{"username":`+jsonString(v.user)+`,"password":`+jsonString(benchPassword)+`}`, "")
	if err == nil && status == http.StatusOK {
		var tr tokenResponse
		if err := json.Unmarshal(v.buf.Bytes(), &tr); err != nil || tr.RefreshToken == "" {
			return status, fmt.Errorf("login: bad token response")
		}
		v.at, v.rt = tr.AccessToken, tr.RefreshToken
	}
	return status, err
}

func (t *target) refresh(ctx context.Context, v *vu) (int, error) {
	status, err := t.do(ctx, v, http.MethodPost, "/v1/refresh", `{"refresh_token":`+jsonString(v.rt)+`}`, "")
	if err == nil && status == http.StatusOK {
		var tr tokenResponse
		if err := json.Unmarshal(v.buf.Bytes(), &tr); err != nil || tr.RefreshToken == "" {
			return status, fmt.Errorf("refresh: bad token response")
		}
		v.at, v.rt = tr.AccessToken, tr.RefreshToken
	}
	return status, err
}

// loginCookie signs v in as a browser does: the refresh token and the
// CSRF token come as cookies (transport refresh_cookie).
func (t *target) loginCookie(ctx context.Context, v *vu) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url+"/v1/login", strings.NewReader(
		`{"username":`+jsonString(v.user)+`,"password":`+jsonString(benchPassword)+`,"transport":"refresh_cookie"}`))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	return t.cookieAnswer(v, req)
}

// refreshCookie is a browser's refresh: the refresh token in its cookie,
// the CSRF token in the header and in its cookie (signed double submit).
func (t *target) refreshCookie(ctx context.Context, v *vu) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url+"/v1/refresh", nil)
	if err != nil {
		return 0, err
	}
	req.AddCookie(&http.Cookie{Name: "baton_refresh", Value: v.rt})
	req.AddCookie(&http.Cookie{Name: "baton_csrf", Value: v.csrf})
	req.Header.Set("X-CSRF-Token", v.csrf)
	return t.cookieAnswer(v, req)
}

// cookieAnswer sends req and keeps the cookies and access token of a 200.
func (t *target) cookieAnswer(v *vu, req *http.Request) (int, error) {
	resp, err := t.send(v, req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return statusOf(resp), err
	}
	var tr tokenResponse
	if err := json.Unmarshal(v.buf.Bytes(), &tr); err != nil || tr.AccessToken == "" {
		return resp.StatusCode, fmt.Errorf("bad token response")
	}
	v.at = tr.AccessToken
	for _, c := range resp.Cookies() {
		switch c.Name {
		case "baton_refresh":
			v.rt = c.Value
		case "baton_csrf":
			v.csrf = c.Value
		}
	}
	if v.rt == "" || v.csrf == "" {
		return resp.StatusCode, fmt.Errorf("no refresh or CSRF cookie")
	}
	return resp.StatusCode, nil
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

func (t *target) me(ctx context.Context, v *vu) (int, error) {
	return t.do(ctx, v, http.MethodGet, "/v1/me", "", v.at)
}

func (t *target) hello(ctx context.Context, v *vu) (int, error) {
	return t.do(ctx, v, http.MethodGet, "/", "", "")
}

// step is one request of a scenario for v.
type step func(ctx context.Context, t *target, v *vu) (op, int, error)

func fixed(o op) step {
	return func(ctx context.Context, t *target, v *vu) (op, int, error) {
		var status int
		var err error
		switch o {
		case opLogin:
			status, err = t.login(ctx, v)
		case opRefresh:
			status, err = t.refresh(ctx, v)
		case opMe:
			status, err = t.me(ctx, v)
		case opRefreshCookie:
			status, err = t.refreshCookie(ctx, v)
		case opHello:
			status, err = t.hello(ctx, v)
		}
		return o, status, err
	}
}

// mixedStep is 1 login : 100 refreshes : 2,000 protected calls, drawn at
// random per request. A login starts a new session for the virtual user.
func mixedStep(ctx context.Context, t *target, v *vu) (op, int, error) {
	switch n := v.rng.IntN(2101); {
	case n < 1:
		return fixed(opLogin)(ctx, t, v)
	case n < 101:
		return fixed(opRefresh)(ctx, t, v)
	default:
		return fixed(opMe)(ctx, t, v)
	}
}

// window is a measured interval: requests that start inside it count.
type window struct {
	start, end time.Time
}

// runVUs runs each virtual user's step in a loop from now until w.end and
// records the requests that started inside w.
func runVUs(ctx context.Context, t *target, vus []*vu, st step, w window) []*sample {
	samples := make([]*sample, len(vus))
	var wg sync.WaitGroup
	for i, v := range vus {
		s := &sample{}
		samples[i] = s
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				if !start.Before(w.end) {
					return
				}
				v.stage = ""
				o, status, err := st(ctx, t, v)
				lat := time.Since(start)
				if start.Before(w.start) {
					if (err != nil || status >= 300) && chained(o) {
						t.relogin(ctx, v, s)
					}
					continue
				}
				if err != nil || status < 200 || status >= 300 {
					s.fail(errKey(o, v.stage, status, err, v.buf.Bytes()))
					if chained(o) {
						// The chain is broken: start a new session (its
						// hash costs the measured window some CPU, which
						// the error table shows).
						t.relogin(ctx, v, s)
					}
					continue
				}
				s.lat[o] = append(s.lat[o], lat)
			}
		})
	}
	wg.Wait()
	return samples
}

// chained reports whether each op of o spends the token the previous
// one returned, so a failure breaks the virtual user's chain.
func chained(o op) bool { return o == opRefresh || o == opClientRefresh || o == opRefreshCookie }

func (t *target) relogin(ctx context.Context, v *vu, s *sample) {
	s.relogins++
	if v.renew != nil {
		_ = v.renew(ctx, t)
		return
	}
	if v.csrf != "" {
		_, _ = t.loginCookie(ctx, v)
		return
	}
	_, _ = t.login(ctx, v)
}

// setupVUs makes n virtual users. With needSession each gets a session
// of its own (not measured): from seeded refresh tokens, refreshed once for
// an access token, or else through a login each. Logins run a few at a
// time: each costs an argon2id hash.
func setupVUs(ctx context.Context, t *target, n, users int, tokens []string, needSession bool) ([]*vu, error) {
	if users <= 0 {
		users = n
	}
	vus := make([]*vu, n)
	for i := range vus {
		vus[i] = &vu{id: i, user: userName(i % users), rng: rand.New(rand.NewPCG(uint64(i), 42))}
		if tokens != nil {
			vus[i].rt = tokens[i]
		}
	}
	if !needSession {
		return vus, nil
	}
	return vus, inParallel(vus, 4, func(v *vu) error {
		what, f := "login", t.login
		if v.rt != "" {
			what, f = "refresh", t.refresh
		}
		status, err := f(ctx, v)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("set-up %s of %s: status %d: %s", what, v.user, status, v.buf.Bytes())
		}
		return err
	})
}

// inParallel runs f for every virtual user, n at a time (set-up: each may
// cost the server an argon2id hash), and returns one of the errors.
func inParallel(vus []*vu, n int, f func(*vu) error) error {
	errc := make(chan error, len(vus))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, v := range vus {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := f(v); err != nil {
				errc <- err
			}
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// stats are the merged figures of one op in one run.
type stats struct {
	n                  int
	rps                float64
	p50, p90, p99, max time.Duration
}

func merge(samples []*sample, d time.Duration) (per [nOps]stats, errs map[string]int, relogins int) {
	errs = map[string]int{}
	for o := range nOps {
		var all []time.Duration
		for _, s := range samples {
			all = append(all, s.lat[o]...)
		}
		per[o] = summarize(all, d)
	}
	for _, s := range samples {
		for k, v := range s.errs {
			errs[k] += v
		}
		relogins += s.relogins
	}
	return per, errs, relogins
}

func summarize(all []time.Duration, d time.Duration) stats {
	if len(all) == 0 {
		return stats{}
	}
	slices.Sort(all)
	q := func(p float64) time.Duration {
		i := int(p*float64(len(all))+0.5) - 1
		return all[min(max(i, 0), len(all)-1)]
	}
	return stats{n: len(all), rps: float64(len(all)) / d.Seconds(), p50: q(0.50), p90: q(0.90), p99: q(0.99), max: all[len(all)-1]}
}

// helloServer is a trivial net/http server in a process of its own: the
// ceiling of what this machine's HTTP stack does with this client.
type helloServer struct {
	cmd *exec.Cmd
	url string
}

func startHello(ctx context.Context) (*helloServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-hello-serve")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("hello server: %w", err)
	}
	return &helloServer{cmd: cmd, url: "http://" + strings.TrimSpace(line)}, nil
}

func (h *helloServer) stop() {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = h.cmd.Process.Kill()
		<-done
	}
}

// serveHello is the -hello-serve mode: print the address, serve "hello"
// until SIGTERM or a minute of idleness past the parent's life.
func serveHello() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("hello\n"))
		}),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	go func() {
		// Never outlive the tool: stdout closes when the parent dies.
		parent := os.Getppid()
		for range time.Tick(time.Second) {
			if os.Getppid() != parent {
				os.Exit(0)
			}
		}
	}()
	sig := make(chan os.Signal, 1)
	signalNotify(sig)
	go func() { <-sig; _ = hs.Close() }()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}
