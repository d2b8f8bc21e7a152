// Package server assembles a complete baton server from a configuration:
// the store (embedded SQLite or PostgreSQL), the session engine and the
// HTTP API, plus background housekeeping. cmd/baton runs it; a Go program
// can embed it and mount Handler in its own mux.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/httpapi"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/postgres"
	"github.com/batonauth/baton/ratelimit"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/sqlite"
)

// Options are the parts a caller may inject; all are optional.
type Options struct {
	Logger *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
	// PasswordParams overrides the argon2id parameters (tests use cheap
	// ones).
	PasswordParams *password.Params
	// Demo is the handler served at / when the configuration enables the
	// demo page.
	Demo http.Handler
}

// Server is an assembled baton server.
type Server struct {
	Config  *config.Config
	Store   baton.Store
	Service *session.Service
	API     *httpapi.Server
	log     *slog.Logger
	now     func() time.Time

	stopHousekeeping context.CancelFunc
	housekeepingDone chan struct{}
}

// OpenStore opens the configured store: PostgreSQL when DatabaseURL is set,
// else the embedded SQLite database in DataDir (created 0700 on first
// start). The schema is migrated either way.
func OpenStore(ctx context.Context, cfg *config.Config) (baton.Store, error) {
	if cfg.DatabaseURL != "" {
		db, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL store: %w", err)
		}
		return db, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	db, err := sqlite.Open(filepath.Join(cfg.DataDir, "baton.db"))
	if err != nil {
		return nil, fmt.Errorf("open embedded store in %s: %w", cfg.DataDir, err)
	}
	return db, nil
}

// New opens the store and builds the engine and the HTTP API. Close
// releases everything.
func New(ctx context.Context, cfg *config.Config, opt Options) (*Server, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	store, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s, err := NewWithStore(ctx, cfg, store, opt)
	if err != nil {
		store.Close()
		return nil, err
	}
	return s, nil
}

// NewWithStore builds a server on an open store, which Close then closes.
func NewWithStore(ctx context.Context, cfg *config.Config, store baton.Store, opt Options) (*Server, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	params := password.DefaultParams
	if opt.PasswordParams != nil {
		params = *opt.PasswordParams
	}
	svc, err := session.New(ctx, store, session.Config{
		Issuer:     cfg.Issuer,
		Audience:   cfg.Audience,
		AccessTTL:  cfg.AccessTTL,
		RefreshTTL: cfg.RefreshTTL,
		IdleTTL:    cfg.RefreshIdleTTL,
		ReuseGrace: cfg.ReuseGrace,
		FreshTTL:   cfg.FreshTTL,
		// Each argon2id hash holds ~19 MiB and a core: one per core keeps
		// a login flood from starving every other request.
		Hasher: password.NewHasher(params, runtime.NumCPU()),
		Now:    opt.Now,
		Logger: opt.Logger,
	})
	if err != nil {
		return nil, err
	}
	limits := &ratelimit.Limits{
		Account:       ratelimit.NewCounter(ratelimit.Rule(cfg.LimitAccountFailures), opt.Now),
		IP:            ratelimit.NewCounter(ratelimit.Rule(cfg.LimitIPFailures), opt.Now),
		Registrations: ratelimit.NewCounter(ratelimit.Rule(cfg.LimitIPRegistrations), opt.Now),
	}
	hopt := httpapi.Options{
		CookieSecure:          cfg.CookieSecure,
		ImplicitRefreshWindow: cfg.ImplicitRefreshWindow,
		ResourceClientID:      cfg.ResourceClientID,
		ResourceClientSecret:  cfg.ResourceClientSecret,
		TrustedProxies:        cfg.TrustedProxies,
		CORSOrigins:           cfg.CORSOrigins,
		Limits:                limits,
		Logger:                opt.Logger,
	}
	if cfg.Demo {
		hopt.Demo = opt.Demo
	}
	api, err := httpapi.New(svc, hopt)
	if err != nil {
		svc.Close()
		return nil, err
	}
	s := &Server{Config: cfg, Store: store, Service: svc, API: api, log: opt.Logger, now: opt.Now}
	svc.Start()
	s.startHousekeeping()
	return s, nil
}

// Handler is the HTTP API, to serve or to mount in another mux.
func (s *Server) Handler() http.Handler { return s.API }

// startHousekeeping prunes expired and revoked sessions, spent refresh
// tokens and stale revocation entries in bounded batches, so no request
// ever waits behind a large delete.
func (s *Server) startHousekeeping() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopHousekeeping = cancel
	s.housekeepingDone = make(chan struct{})
	go func() {
		defer close(s.housekeepingDone)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.Prune(ctx)
			}
		}
	}()
}

// Prune runs one housekeeping pass. Spent refresh tokens are only needed to
// detect reuse, and one older than the idle lifetime belongs to a session
// that would have idled out, so that is how long anything is kept.
func (s *Server) Prune(ctx context.Context) int {
	const batch = 1000
	total := 0
	for ctx.Err() == nil {
		now := s.now().UTC()
		n, err := s.Store.Prune(ctx, now, now.Add(-s.Config.RefreshIdleTTL), batch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("housekeeping failed", "err", err)
			}
			return total
		}
		total += n
		if n < batch {
			return total
		}
		// Let requests through between batches.
		time.Sleep(10 * time.Millisecond)
	}
	return total
}

// Close stops background work and closes the store.
func (s *Server) Close() error {
	if s.stopHousekeeping != nil {
		s.stopHousekeeping()
		<-s.housekeepingDone
	}
	s.Service.Close()
	return s.Store.Close()
}

// Serve serves the API on ln (and TLS when configured) until ctx ends, then
// shuts down gracefully: in-flight requests finish, new ones are refused.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.Config.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.Config.TLSCert, s.Config.TLSKey)
		if err != nil {
			return fmt.Errorf("BATON_TLS_CERT/BATON_TLS_KEY: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}
