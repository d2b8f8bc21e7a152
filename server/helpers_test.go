package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/server"
)

const pw = "correct horse battery staple"

// syncBuffer is a bytes.Buffer safe for concurrent writers (the log).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is a server whose every log line (debug included) is kept.
type testServer struct {
	*batontest.Server
	Logs *syncBuffer
}

func newTestServer(t *testing.T, env map[string]string, clock *batontest.Clock, opt server.Options) *testServer {
	t.Helper()
	logs := &syncBuffer{}
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
