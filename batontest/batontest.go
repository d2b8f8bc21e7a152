// Package batontest starts real baton servers for tests: a SQLite store in
// a temporary directory, the session engine with a controllable clock and
// cheap password hashing, and the HTTP API on a loopback httptest server.
package batontest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/server"
	"github.com/batonauth/baton/sqlite"
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// CheapPasswords are argon2id parameters that keep tests fast; never use
// them in production.
var CheapPasswords = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Server is a running test server.
type Server struct {
	*server.Server
	HTTP  *httptest.Server
	URL   string
	Clock *Clock
	once  sync.Once
}

// Close stops the HTTP server and the baton server (flushing its audit
// log); it may be called more than once, and runs at the test's cleanup.
func (s *Server) Close() {
	s.once.Do(func() {
		s.HTTP.Close()
		s.Server.Close()
	})
}

// Env is a test configuration environment: BATON_* variable → value.
type Env map[string]string

// NewServer starts a baton server on a fresh SQLite store. env overrides
// configuration variables; the issuer defaults to the test server's URL.
// With a nil clock the real time is used.
func NewServer(tb testing.TB, env Env, clock *Clock) *Server {
	tb.Helper()
	return NewServerWith(tb, env, clock, server.Options{Logger: slog.New(slog.DiscardHandler)})
}

// NewServerWith is NewServer with server options (a logger to inspect,
// a metrics registry…). Password hashing is the cheap kind unless
// opt.PasswordParams says otherwise.
func NewServerWith(tb testing.TB, env Env, clock *Clock, opt server.Options) *Server {
	tb.Helper()
	hs := httptest.NewUnstartedServer(nil)
	url := "http://" + hs.Listener.Addr().String()
	vars := map[string]string{
		"BATON_DATA_DIR":      filepath.Join(tb.TempDir(), "data"),
		"BATON_ISSUER":        url,
		"BATON_COOKIE_SECURE": "false",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	if clock != nil {
		opt.Now = clock.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.PasswordParams == nil {
		params := CheapPasswords
		opt.PasswordParams = &params
	}
	srv, err := server.New(context.Background(), cfg, opt)
	if err != nil {
		tb.Fatalf("new server: %v", err)
	}
	hs.Config.Handler = srv.Handler()
	hs.Config.ErrorLog = slog.NewLogLogger(opt.Logger.Handler(), slog.LevelWarn)
	hs.Start()
	s := &Server{Server: srv, HTTP: hs, URL: url, Clock: clock}
	tb.Cleanup(s.Close)
	return s
}

// OpenSQLite opens a fresh SQLite store in a temporary directory.
func OpenSQLite(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "baton.db"))
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// LogBuffer collects a server's log output; safe for its concurrent
// writers.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
