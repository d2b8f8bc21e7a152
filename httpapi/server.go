// Package httpapi is baton's HTTP layer: the wire contract of
// docs/api.md on top of the session engine. Handlers return errors;
// errors are mapped to statuses and bodies in one place (errors.go).
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/dpop"
	"github.com/batonauth/baton/pages"
	"github.com/batonauth/baton/session"
)

// Options configures the HTTP layer.
type Options struct {
	// CookieSecure sets Secure on every cookie; false only for plain-http
	// development.
	CookieSecure bool
	// ImplicitRefreshWindow: with the cookies transport, an access cookie
	// with less than this left is replaced in the response. Default: a
	// third of the access-token lifetime.
	ImplicitRefreshWindow time.Duration
	// ResourceClientID and ResourceClientSecret authenticate resource
	// servers on /oauth/introspect and /v1/revocations; both empty disables
	// those endpoints (401 invalid_client).
	ResourceClientID     string
	ResourceClientSecret string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// CORSOrigins may call with credentials.
	CORSOrigins []string
	// Limits, when set, throttles failures and registrations.
	Limits Limiter
	// DPoP verifies DPoP proofs (RFC 9449); nil disables DPoP.
	DPoP *dpop.Verifier
	// Demo serves the demo page at / when set.
	Demo http.Handler
	// Pages, when set, serves baton's own pages under /account/ (the
	// links in its messages open them), with or without the demo.
	Pages http.Handler
	// ProviderPages, when set, renders the OpenID provider's pages and
	// turns the provider on: /oauth/authorize, /login, /consent,
	// /oauth/par, /oauth/userinfo, /oauth/logout, discovery and the
	// consents API.
	ProviderPages *pages.Provider
	// Metrics, when set, is served at /metrics.
	Metrics http.Handler
	// Observe, when set, is called after every request with its route
	// pattern, status and duration (for metrics).
	Observe func(route string, status int, d time.Duration)
	Logger  *slog.Logger
}

// Limiter throttles abuse. Each method reports nil to go ahead or a
// too_many_requests error carrying Retry-After. ip is the client's full
// address; the limiter decides how addresses are grouped.
type Limiter interface {
	// Attempt is asked before a password check or refresh. It holds one
	// failure of the budget while the attempt runs; done(false) gives it
	// back when the attempt did not fail (only failures count).
	Attempt(ctx context.Context, account, ip string) (done func(failed bool), err error)
	// AllowRegistration is asked before each registration and counts it.
	AllowRegistration(ctx context.Context, ip string) error
	// AllowEmailRequest is asked before each forgot-password and
	// verification request and counts it.
	AllowEmailRequest(ctx context.Context, ip string) error
	// AttemptSecondFactor is asked before a second-factor code of the
	// account is checked, whatever the client's IP; done as for Attempt.
	AttemptSecondFactor(ctx context.Context, account string) (done func(failed bool), err error)
	// AllowCeremony is asked before an unauthenticated sign-in ceremony
	// stores a challenge (passkey sign-in options) and counts it.
	AllowCeremony(ctx context.Context, ip string) error
}

// Server serves the contract. Create it with New; it is an http.Handler.
type Server struct {
	svc      *session.Service
	opt      Options
	log      *slog.Logger
	mux      *http.ServeMux
	handler  http.Handler
	basePath string // the issuer's path, for cookie paths and metadata
	issuer   *url.URL
}

// New returns the HTTP API for svc.
func New(svc *session.Service, opt Options) (*Server, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.ImplicitRefreshWindow <= 0 {
		opt.ImplicitRefreshWindow = svc.Config().AccessTTL / 3
	}
	iss, err := url.Parse(svc.Config().Issuer)
	if err != nil {
		return nil, err
	}
	s := &Server{svc: svc, opt: opt, log: opt.Logger, mux: http.NewServeMux(), issuer: iss,
		basePath: strings.TrimSuffix(iss.Path, "/")}
	s.routes()
	s.handler = s.middleware(s.mux)
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// requestTimeout bounds the work of one request (below the server's
// write timeout, so the answer still reaches the client).
const requestTimeout = 10 * time.Second

// handlerFunc is a handler that may fail; route adapts it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route registers path for the given methods; other methods get 405 with a
// JSON body and Allow.
func (s *Server) route(path string, methods map[string]handlerFunc) {
	allow := make([]string, 0, len(methods))
	for m := range methods {
		allow = append(allow, m)
	}
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		h, ok := methods[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = methods[http.MethodGet]
		}
		if !ok {
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, baton.Errorf(baton.EMethodNotAllowed, "method %s is not allowed here", r.Method))
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) routes() {
	p := func(path string) string { return s.basePath + path }
	s.route(p("/v1/register"), map[string]handlerFunc{http.MethodPost: s.register})
	s.route(p("/v1/login"), map[string]handlerFunc{http.MethodPost: s.login})
	s.route(p("/v1/refresh"), map[string]handlerFunc{http.MethodPost: s.refresh})
	s.route(p("/v1/logout"), map[string]handlerFunc{http.MethodPost: s.logout})
	s.route(p("/v1/me"), map[string]handlerFunc{http.MethodGet: s.me, http.MethodDelete: s.deleteMe})
	s.route(p("/v1/reauth"), map[string]handlerFunc{http.MethodPost: s.reauth})
	s.route(p("/v1/password"), map[string]handlerFunc{http.MethodPost: s.changePassword})
	s.route(p("/v1/login/mfa"), map[string]handlerFunc{http.MethodPost: s.loginMFA})
	s.route(p("/v1/mfa/totp"), map[string]handlerFunc{http.MethodPost: s.beginTOTP, http.MethodDelete: s.disableTOTP})
	s.route(p("/v1/mfa/totp/qr"), map[string]handlerFunc{http.MethodGet: s.totpQR})
	s.route(p("/v1/mfa/totp/confirm"), map[string]handlerFunc{http.MethodPost: s.confirmTOTP})
	s.route(p("/v1/mfa/recovery-codes"), map[string]handlerFunc{http.MethodPost: s.regenerateRecoveryCodes})
	s.route(p("/v1/passkeys"), map[string]handlerFunc{http.MethodGet: s.passkeysOn(s.passkeys)})
	s.route(p("/v1/passkeys/{id}"), map[string]handlerFunc{http.MethodDelete: s.passkeysOn(s.deletePasskey)})
	s.route(p("/v1/passkeys/register/options"), map[string]handlerFunc{http.MethodPost: s.passkeysOn(s.passkeyRegisterOptions)})
	s.route(p("/v1/passkeys/register"), map[string]handlerFunc{http.MethodPost: s.passkeysOn(s.passkeyRegister)})
	s.route(p("/v1/passkeys/login/options"), map[string]handlerFunc{http.MethodPost: s.passkeysOn(s.passkeyLoginOptions)})
	s.route(p("/v1/passkeys/login"), map[string]handlerFunc{http.MethodPost: s.passkeysOn(s.passkeyLogin)})
	s.route(p("/v1/password/forgot"), map[string]handlerFunc{http.MethodPost: s.forgotPassword})
	s.route(p("/v1/password/reset"), map[string]handlerFunc{http.MethodPost: s.resetPassword})
	s.route(p("/v1/email"), map[string]handlerFunc{http.MethodPost: s.changeEmail})
	s.route(p("/v1/email/verification"), map[string]handlerFunc{http.MethodPost: s.requestVerification})
	s.route(p("/v1/email/verify"), map[string]handlerFunc{http.MethodPost: s.verifyEmail})
	s.route(p("/v1/sessions"), map[string]handlerFunc{http.MethodGet: s.sessions})
	s.route(p("/v1/sessions/{id}"), map[string]handlerFunc{http.MethodDelete: s.revokeSession})
	s.route(p("/v1/revocations"), map[string]handlerFunc{http.MethodGet: s.revocations})
	s.route(p("/oauth/token"), map[string]handlerFunc{http.MethodPost: s.oauthToken})
	s.route(p("/oauth/revoke"), map[string]handlerFunc{http.MethodPost: s.oauthRevoke})
	s.route(p("/oauth/introspect"), map[string]handlerFunc{http.MethodPost: s.oauthIntrospect})
	s.route(p("/.well-known/jwks.json"), map[string]handlerFunc{http.MethodGet: s.jwks})
	s.route(p("/oauth/authorize"), map[string]handlerFunc{http.MethodGet: s.page(s.authorize), http.MethodPost: s.page(s.authorize)})
	s.route(p("/oauth/par"), map[string]handlerFunc{http.MethodPost: s.providerOn(s.par)})
	s.route(p("/oauth/userinfo"), map[string]handlerFunc{http.MethodGet: s.providerOn(s.userinfo), http.MethodPost: s.providerOn(s.userinfo)})
	s.route(p("/oauth/logout"), map[string]handlerFunc{http.MethodGet: s.page(s.rpLogout), http.MethodPost: s.page(s.rpLogout)})
	s.route(p("/login"), map[string]handlerFunc{http.MethodGet: s.page(s.signInPage), http.MethodPost: s.page(s.signInPage)})
	s.route(p("/consent"), map[string]handlerFunc{http.MethodGet: s.page(s.consentPage), http.MethodPost: s.page(s.consentPage)})
	s.route(p("/v1/consents"), map[string]handlerFunc{http.MethodGet: s.providerOn(s.consents)})
	s.route(p("/v1/consents/{client_id}"), map[string]handlerFunc{http.MethodDelete: s.providerOn(s.withdrawConsent)})
	s.route(p("/.well-known/openid-configuration"), map[string]handlerFunc{http.MethodGet: s.providerOn(s.openIDConfiguration)})
	s.route("/.well-known/oauth-authorization-server"+s.basePath, map[string]handlerFunc{http.MethodGet: s.metadata})
	if s.basePath != "" {
		s.route(p("/.well-known/oauth-authorization-server"), map[string]handlerFunc{http.MethodGet: s.metadata})
	}
	s.route(p("/healthz"), map[string]handlerFunc{http.MethodGet: s.healthz})
	s.route(p("/readyz"), map[string]handlerFunc{http.MethodGet: s.readyz})
	if s.basePath != "" {
		// Load balancers probe the server's root, whatever the issuer's
		// path; the rest of the root is not ours, but still answers JSON.
		s.route("/healthz", map[string]handlerFunc{http.MethodGet: s.healthz})
		s.route("/readyz", map[string]handlerFunc{http.MethodGet: s.readyz})
		s.mux.HandleFunc("/", s.notFound)
	}
	s.route(p("/openapi.json"), map[string]handlerFunc{http.MethodGet: s.openapi})
	if s.opt.Metrics != nil {
		s.mux.Handle(p("/metrics"), s.opt.Metrics)
	}
	if s.opt.Pages != nil {
		s.mux.Handle(p("/account/"), s.opt.Pages)
	}
	if s.opt.Demo != nil {
		s.mux.Handle(p("/"), s.opt.Demo)
	} else {
		s.mux.HandleFunc(p("/"), s.notFound)
	}
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, baton.Errorf(baton.ENotFound, "no such endpoint"))
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	clientIPKey
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// statusRecorder remembers the status for logs and metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// middleware wraps every request: request id, client address, security
// headers, CORS, panic recovery, logging and metrics.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 || !printableASCII(id) {
			id = newRequestID()
		}
		// Bound every store call and hash wait a request makes: a database
		// that stops answering gets the client a 503, not a hang.
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		ctx = context.WithValue(ctx, requestIDKey, id)
		ctx = context.WithValue(ctx, clientIPKey, s.clientIP(r))
		r = r.WithContext(ctx)
		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		s.cors(w, r)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(ctx, "panic", "panic", v, "path", r.URL.Path)
				if rec.status == 0 {
					s.writeError(rec, r, baton.Errorf(baton.EInternal, "internal error"))
				}
			}
			d := time.Since(start)
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			if s.opt.Observe != nil {
				// The mux recorded the route it chose on r; only a
				// handler wrapped by RequireAuth (no mux) needs a lookup.
				pattern := r.Pattern
				if pattern == "" {
					_, pattern = s.mux.Handler(r)
				}
				s.opt.Observe(pattern, rec.status, d)
			}
			s.log.DebugContext(ctx, "request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", d, "request_id", id)
		}()
		next.ServeHTTP(rec, r)
	})
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// cors answers credentialed cross-origin calls only from listed origins.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	w.Header().Add("Vary", "Origin")
	for _, o := range s.opt.CORSOrigins {
		if o == origin {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "Date, WWW-Authenticate, Retry-After, X-Request-Id, DPoP-Nonce")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-CSRF-Token, DPoP, X-Request-Id")
				h.Set("Access-Control-Max-Age", "600")
			}
			return
		}
	}
}

func (s *Server) client(r *http.Request) session.Client {
	ip, _ := r.Context().Value(clientIPKey).(string)
	return session.Client{IP: ip, UserAgent: r.UserAgent()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal_error","error_description":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func oauthEndpoint(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, "/oauth/token") || strings.HasSuffix(r.URL.Path, "/oauth/par")
}
