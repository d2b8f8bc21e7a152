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
	"github.com/batonauth/baton/admin"
	"github.com/batonauth/baton/audit"
	"github.com/batonauth/baton/backchannel"
	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/dpop"
	"github.com/batonauth/baton/httpapi"
	"github.com/batonauth/baton/mail"
	"github.com/batonauth/baton/metrics"
	"github.com/batonauth/baton/pages"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/postgres"
	"github.com/batonauth/baton/ratelimit"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/sqlite"
	"github.com/prometheus/client_golang/prometheus"
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
	// Registry receives the server's metrics; nil makes a new one.
	Registry *prometheus.Registry
	// Version is reported in baton_build_info (default "(devel)").
	Version string
	// AuditBuffer is the audit queue length (default 8192).
	AuditBuffer int
	// KeyReloadInterval overrides how often keys are re-read (tests).
	KeyReloadInterval time.Duration
	// DPoPReplayCacheSize overrides the DPoP replay cache's bound (tests);
	// each client address may fill a tenth of it.
	DPoPReplayCacheSize int
}

// Server is an assembled baton server.
type Server struct {
	Config  *config.Config
	Store   baton.Store // instrumented: every call is timed
	Service *session.Service
	API     *httpapi.Server
	// Admin runs the admin operations (the CLI uses them too).
	Admin   *admin.Admin
	Metrics *metrics.Metrics
	// Audit appends the audit log asynchronously; Close flushes it.
	Audit *audit.Writer
	// Mail delivers the outbox's messages in the background.
	Mail *mail.Dispatcher
	log  *slog.Logger
	now  func() time.Time

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
	// Every line logged with a request's context carries its request id.
	log := slog.New(httpapi.LogHandler(opt.Logger.Handler()))
	if cfg.SMTP == nil {
		log.Warn("BATON_SMTP_URL is not set: mail is not sent; each message's recipient, subject and link are written to this log")
	}
	if cfg.WebAuthn.Off != "" {
		log.Warn(cfg.WebAuthn.Off)
	}
	reg := opt.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if opt.Version == "" {
		opt.Version = "(devel)"
	}
	m := metrics.New(reg, opt.Version)
	raw := store
	store = metrics.InstrumentStore(store, reg)
	// The raw store: the decorator would hide its batch capability.
	aw := audit.NewWriter(raw, audit.Options{Buffer: opt.AuditBuffer, Now: opt.Now, Logger: log})
	observe := func(e session.Event) {
		m.ObserveEvent(e)
		aw.Observe(e)
	}
	// Messages to one address are limited (the limit protects the
	// recipient; over it nothing is sent and the caller is not told).
	sends := ratelimit.NewCounter(ratelimit.Rule(cfg.LimitEmailSends), opt.Now)
	if shared, ok := raw.(baton.RateStore); ok {
		sends.Share(shared, "mail")
	}
	var dispatcher *mail.Dispatcher // built after the engine, which names its links
	svc, err := NewService(ctx, cfg, store, ServiceOptions{Logger: log, Now: opt.Now, PasswordParams: opt.PasswordParams,
		Observer: observe, KeyReloadInterval: opt.KeyReloadInterval,
		WakeMail: func() {
			if dispatcher != nil {
				dispatcher.Wake()
			}
		},
		AllowSend: func(ctx context.Context, canonicalEmail string) bool {
			_, err := sends.Take(ctx, canonicalEmail)
			return err == nil
		}})
	if err != nil {
		_ = aw.Close(context.Background())
		return nil, err
	}
	m.WatchState(metrics.StateOptions{Store: raw, Engine: svc, Audit: aw})
	limits := &ratelimit.Limits{
		Account:       ratelimit.NewCounter(ratelimit.Rule(cfg.LimitAccountFailures), opt.Now),
		IP:            ratelimit.NewCounter(ratelimit.Rule(cfg.LimitIPFailures), opt.Now),
		Registrations: ratelimit.NewCounter(ratelimit.Rule(cfg.LimitIPRegistrations), opt.Now),
		EmailRequests: ratelimit.NewCounter(ratelimit.Rule(cfg.LimitIPEmailRequests), opt.Now),
		// Wrong second-factor codes per account, from any IP: the
		// account budget, without the IP in its key.
		SecondFactor: ratelimit.NewCounter(ratelimit.Rule(cfg.LimitAccountFailures), opt.Now),
		// Passkey sign-in options per client IP: four times the IP's
		// failure budget, so honest sign-ins never meet it and a flood
		// cannot fill the challenge table.
		Ceremonies: ratelimit.NewCounter(ratelimit.Rule(config.Limit{Count: 4 * cfg.LimitIPFailures.Count, Window: cfg.LimitIPFailures.Window}), opt.Now),
	}
	// On PostgreSQL the limits hold across every instance. (raw: the
	// instrumented store keeps only the capabilities it knows.)
	if shared, ok := raw.(baton.RateStore); ok {
		limits.Share(shared)
	}
	// DPoP nonces derive from a shared key, so any instance accepts a
	// nonce another one issued; on PostgreSQL every instance refuses a
	// proof another one accepted.
	dopt := dpop.Options{Now: opt.Now, RequireNonce: cfg.DPoPRequireNonce, NonceKey: svc.DeriveKey("dpop-nonce"),
		ReplayCacheSize: opt.DPoPReplayCacheSize}
	if shared, ok := raw.(baton.DPoPReplayStore); ok {
		dopt.Store = shared
	}
	proofs, err := dpop.NewVerifier(dopt)
	if err != nil {
		svc.Close()
		_ = aw.Close(context.Background())
		return nil, err
	}
	hopt := httpapi.Options{
		DPoP:                  proofs,
		CookieSecure:          cfg.CookieSecure,
		ImplicitRefreshWindow: cfg.ImplicitRefreshWindow,
		ResourceClientID:      cfg.ResourceClientID,
		ResourceClientSecret:  cfg.ResourceClientSecret,
		TrustedProxies:        cfg.TrustedProxies,
		CORSOrigins:           cfg.CORSOrigins,
		Limits:                limits,
		Logger:                log,
		Observe:               m.ObserveRequest,
	}
	// With a separate admin listener, /metrics is served there only.
	if cfg.AdminAddr == "" {
		hopt.Metrics = m.Handler()
	}
	if cfg.Demo {
		hopt.Demo = opt.Demo
	}
	if hopt.ProviderPages, err = pages.NewProvider(pages.Options{Brand: cfg.BrandName, Issuer: cfg.Issuer}); err != nil {
		svc.Close()
		_ = aw.Close(context.Background())
		return nil, err
	}
	if hopt.Pages, err = newPages(cfg, hopt.Demo != nil); err != nil {
		svc.Close()
		_ = aw.Close(context.Background())
		return nil, err
	}
	api, err := httpapi.New(svc, hopt)
	if err != nil {
		svc.Close()
		_ = aw.Close(context.Background())
		return nil, err
	}
	s := &Server{Config: cfg, Store: store, Service: svc, API: api, Metrics: m, Audit: aw, log: log, now: opt.Now,
		Admin: admin.New(svc, store, admin.Options{Observer: observe, Logger: log, Client: session.Client{UserAgent: "baton-server"}})}
	if s.Mail, err = newDispatcher(cfg, raw, svc, m, log, opt.Now); err != nil {
		svc.Close()
		_ = aw.Close(context.Background())
		return nil, err
	}
	dispatcher = s.Mail
	svc.Start()
	s.startHousekeeping()
	return s, nil
}

// newDispatcher builds the outbox's mail dispatcher: over SMTP when
// BATON_SMTP_URL is set, into the log otherwise.
func newDispatcher(cfg *config.Config, store baton.Store, svc *session.Service, m *metrics.Metrics, log *slog.Logger, now func() time.Time) (*mail.Dispatcher, error) {
	tpl, err := mail.NewTemplates(cfg.BrandName)
	if err != nil {
		return nil, err
	}
	var sender mail.Sender = &mail.LogSender{Log: log}
	if cfg.SMTP != nil {
		if sender, err = mail.NewSMTP(cfg.SMTP, cfg.MailFrom, mail.SMTPOptions{Brand: cfg.BrandName}); err != nil {
			return nil, err
		}
	}
	return mail.NewDispatcher(mail.DispatcherOptions{Store: store, Sender: sender, Templates: tpl, Link: svc.LinkURL, Now: now, Logger: log,
		Jobs: map[string]func(context.Context, *baton.OutboxMessage) error{
			baton.OutboxForgot:            svc.ProcessForgot,
			baton.OutboxBackchannelLogout: (&backchannel.Sender{Token: svc.LogoutToken}).Deliver,
		},
		Observe: func(d mail.Delivery) {
			m.ObserveMail(d.Outcome)
			svc.ObserveDelivery(context.Background(), d)
		}}), nil
}

// newPages builds baton's own pages; their sign-in link goes to the demo
// when it is served.
func newPages(cfg *config.Config, demo bool) (*pages.Handler, error) {
	po := pages.Options{Brand: cfg.BrandName, Issuer: cfg.Issuer}
	if demo {
		po.SignIn = "/"
	}
	return pages.New(po)
}

// ServiceOptions configure NewService.
type ServiceOptions struct {
	Logger         *slog.Logger
	Now            func() time.Time
	PasswordParams *password.Params
	// Observer is told of every security event.
	Observer          func(session.Event)
	KeyReloadInterval time.Duration
	// WakeMail and AllowSend: see session.Config.
	WakeMail  func()
	AllowSend func(ctx context.Context, canonicalEmail string) bool
}

// NewService builds the session engine for cfg on store, as the server
// and the admin commands both need it.
func NewService(ctx context.Context, cfg *config.Config, store baton.Store, o ServiceOptions) (*session.Service, error) {
	params := password.DefaultParams
	if o.PasswordParams != nil {
		params = *o.PasswordParams
	}
	return session.New(ctx, store, session.Config{
		Issuer:     cfg.Issuer,
		Audience:   cfg.Audience,
		AccessTTL:  cfg.AccessTTL,
		RefreshTTL: cfg.RefreshTTL,
		IdleTTL:    cfg.RefreshIdleTTL,
		ReuseGrace: cfg.ReuseGrace,
		FreshTTL:   cfg.FreshTTL,
		// For a rolling upgrade from before tokens named their session.
		RowRefreshTokens: cfg.RowRefreshTokens,
		// MaxSessionsPerUser bounds what GET /v1/sessions can return.
		MaxSessionsPerUser: cfg.MaxSessionsPerUser,
		WebAuthn:           session.WebAuthnConfig{RPID: cfg.WebAuthn.RPID, RPName: cfg.WebAuthn.RPName, Origins: cfg.WebAuthn.Origins},
		// Each argon2id hash holds ~19 MiB and a core: one per core keeps
		// a login flood from starving every other request.
		Hasher:            password.NewHasher(params, runtime.NumCPU()),
		MasterKey:         cfg.MasterKey,
		Now:               o.Now,
		Logger:            o.Logger,
		Observer:          o.Observer,
		KeyReloadInterval: o.KeyReloadInterval,
		VerifyTTL:         cfg.VerifyTTL,
		ResetTTL:          cfg.ResetTTL,
		// RequireVerifiedEmail: see BATON_REQUIRE_VERIFIED_EMAIL.
		RequireVerifiedEmail: cfg.RequireVerifiedEmail,
		LinkTemplates:        linkTemplates(cfg),
		MailFrom:             cfg.MailFrom,
		WakeMail:             o.WakeMail,
		AllowSend:            o.AllowSend,
	})
}

// linkTemplates are the links' URL templates the operator set; the engine
// fills in baton's own pages for the others.
func linkTemplates(cfg *config.Config) map[string]string {
	t := map[string]string{}
	if cfg.LinkVerifyEmail != "" {
		t[baton.LinkVerifyEmail] = cfg.LinkVerifyEmail
		t[baton.LinkChangeEmail] = cfg.LinkVerifyEmail
	}
	if cfg.LinkResetPassword != "" {
		t[baton.LinkResetPassword] = cfg.LinkResetPassword
	}
	return t
}

// Handler is the HTTP API, to serve or to mount in another mux.
func (s *Server) Handler() http.Handler { return s.API }

// startHousekeeping prunes expired and revoked sessions, spent refresh
// tokens, stale revocation entries and old audit events in bounded
// batches, so no request ever waits behind a large delete.
func (s *Server) startHousekeeping() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopHousekeeping = cancel
	s.housekeepingDone = make(chan struct{})
	mailDone := make(chan struct{})
	go func() {
		defer close(mailDone)
		s.Mail.Run(ctx)
	}()
	go func() {
		defer close(s.housekeepingDone)
		defer func() { <-mailDone }()
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
// that would have idled out, so that is how long anything is kept — the
// longest idle lifetime of any kind of session, so also of a registered
// client that has a longer one than the server's — but at least
// minSpentRetention, so that very short idle lifetimes (seconds, in tests
// and demos) do not forget a spent token before a thief could replay it,
// which would answer invalid_grant without revoking. Signing
// keys retired longer ago than admin.RetiredKeyKeep are deleted, which
// takes them out of the JWKS (every token they signed has expired). Audit
// events are kept for BATON_AUDIT_RETENTION.
func (s *Server) Prune(ctx context.Context) int {
	const minSpentRetention = time.Hour
	total := 0
	if gone, err := s.Admin.PurgeRetiredKeys(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("retired-key housekeeping failed", "err", err)
	} else {
		total += len(gone)
	}
	if idle, err := s.longestIdleTTL(ctx); err != nil {
		// Not knowing a client's idle lifetime, keep everything this pass
		// rather than forget spent tokens a live session still needs.
		if ctx.Err() == nil {
			s.log.Warn("housekeeping failed", "err", err)
		}
	} else {
		total += s.drain(ctx, "housekeeping failed", func(limit int) (int, error) {
			now := s.now().UTC()
			return s.Store.Prune(ctx, now, now.Add(-max(idle, minSpentRetention)), limit)
		})
	}
	total += s.drain(ctx, "audit retention failed", func(limit int) (int, error) {
		return s.Store.PruneAudit(ctx, s.now().UTC().Add(-s.Config.AuditRetention), limit)
	})
	return total
}

// longestIdleTTL is the longest idle lifetime a session can have: the
// server's, or a registered client's own when longer.
func (s *Server) longestIdleTTL(ctx context.Context) (time.Duration, error) {
	const page = 100
	idle, after := s.Config.RefreshIdleTTL, ""
	for {
		cs, err := s.Store.Clients(ctx, after, page)
		if err != nil {
			return 0, err
		}
		for _, c := range cs {
			idle = max(idle, c.RefreshIdleTTL)
		}
		if len(cs) < page {
			return idle, nil
		}
		after = cs[len(cs)-1].ID
	}
}

// drain calls prune with batches of pruneBatch rows until a call deletes
// fewer (nothing left), ctx ends or a call fails (logged as failed; the
// next pass tries again), and returns how many rows it deleted.
func (s *Server) drain(ctx context.Context, failed string, prune func(limit int) (int, error)) int {
	const pruneBatch = 1000
	total := 0
	for ctx.Err() == nil {
		n, err := prune(pruneBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn(failed, "err", err)
			}
			return total
		}
		total += n
		if n < pruneBatch {
			return total
		}
		// Let requests through between batches.
		time.Sleep(10 * time.Millisecond)
	}
	return total
}

// Close stops background work, flushes the audit log (waiting at most 10s)
// and closes the store.
func (s *Server) Close() error {
	if s.stopHousekeeping != nil {
		s.stopHousekeeping()
		<-s.housekeepingDone
	}
	s.Service.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Audit.Close(ctx); err != nil {
		s.log.Warn("audit log not fully flushed", "queued", s.Audit.Queued(), "err", err)
	}
	return s.Store.Close()
}

// MetricsHandler serves /metrics (on the admin listener when one is
// configured).
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.Metrics.Handler())
	return mux
}

// Serve serves the API on ln (and TLS when configured) until ctx ends, then
// shuts down gracefully: in-flight requests finish, new ones are refused.
// With BATON_ADMIN_ADDR set, pass its listener to ServeAdmin as well.
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
	return serveUntil(ctx, hs, ln, 20*time.Second)
}

// serveUntil serves on ln until ctx ends, then shuts down gracefully,
// giving in-flight requests up to grace to finish.
func serveUntil(ctx context.Context, hs *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// ServeAdmin serves /metrics on ln (the BATON_ADMIN_ADDR listener, plain
// HTTP) until ctx ends.
func (s *Server) ServeAdmin(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.MetricsHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return serveUntil(ctx, hs, ln, 5*time.Second)
}
