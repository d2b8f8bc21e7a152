package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"github.com/batonauth/baton/config"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/server"
)

const pw = "correct horse battery staple"

// testServer is a server whose every log line (debug included) is kept.
type testServer struct {
	*batontest.Server
	Logs *batontest.LogBuffer
}

func newTestServer(t *testing.T, env map[string]string, clock *batontest.Clock, opt server.Options) *testServer {
	t.Helper()
	logs := &batontest.LogBuffer{}
	opt.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &testServer{Server: batontest.NewServerWith(t, env, clock, opt), Logs: logs}
}

type reply struct {
	status int
	hdr    http.Header
	raw    []byte
	body   map[string]any
}

func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

// rawMember returns the JSON of the member k.
func (r reply) rawMember(k string) []byte {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(r.raw, &m)
	return m[k]
}

// strs returns the strings of the array member k.
func (r reply) strs(k string) []string {
	var out []string
	a, _ := r.body[k].([]any)
	for _, v := range a {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// call sends a request: a JSON body for a map/struct, a form for
// url.Values-like strings starting with "form:", nothing for nil.
func call(t *testing.T, method, url, bearer string, body any, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/x-www-form-urlencoded"
	default:
		raw, _ := json.Marshal(b)
		rd, ctype = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, hdr: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// serveReal runs a server through Serve on a loopback listener, as
// `baton serve` does (timeouts, TLS), with env on top of a temporary data
// directory and an issuer scheme://addr; it stops at the test's end.
func serveReal(t *testing.T, scheme string, env map[string]string) (addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	vars := map[string]string{"BATON_DATA_DIR": filepath.Join(t.TempDir(), "data"), "BATON_ISSUER": scheme + "://" + addr}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
	})
	return addr
}
