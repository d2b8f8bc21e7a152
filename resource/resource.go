// Package resource is middleware for APIs that accept baton's access tokens
// (resource servers). It verifies tokens locally against the server's JWKS,
// which it fetches, caches and refetches when a token names a key it does
// not know (rate limited, so junk tokens cannot make it hammer the server);
// it optionally follows the server's revocation feed (/v1/revocations) so a
// revoked session's tokens are refused within a second; and it answers
// failures with the contract's 401s (API.md, Protected endpoints):
//
//	v, err := resource.New(ctx, resource.Options{Issuer: "https://auth.example.com"})
//	mux.Handle("/api/", v.Require(api))
//	mux.Handle("/api/danger", v.Require(v.RequireFresh(5*time.Minute)(danger)))
//
// Handlers find the verified claims (user, session) with ClaimsFrom.
package resource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/dpop"
	"github.com/batonauth/baton/httpauth"
	"github.com/batonauth/baton/token"
)

// Defaults of Options.
const (
	DefaultPollInterval    = 500 * time.Millisecond
	DefaultJWKSRefresh     = 5 * time.Minute
	DefaultRefetchInterval = 5 * time.Second
)

// Options configure a Verifier.
type Options struct {
	// Issuer is the baton server's issuer (BATON_ISSUER): the only iss
	// accepted, and the base of the default URLs below. Required.
	Issuer string
	// Audience is the aud tokens must carry; the issuer by default, as on
	// the server (BATON_AUDIENCE).
	Audience string
	// JWKSURL defaults to Issuer + "/.well-known/jwks.json".
	JWKSURL string
	// RevocationsURL defaults to Issuer + "/v1/revocations".
	RevocationsURL string
	// ClientID and ClientSecret are the resource-server credentials
	// (BATON_RESOURCE_CLIENT_ID / _SECRET). When set, the Verifier follows
	// the revocation feed and refuses tokens of revoked sessions.
	ClientID, ClientSecret string
	// PollInterval is how often the revocation feed is read.
	PollInterval time.Duration
	// JWKSRefresh is how often the JWKS is fetched even without an unknown
	// kid (a retired key disappears).
	JWKSRefresh time.Duration
	// RefetchInterval is the least time between two fetches of the JWKS
	// caused by unknown kids.
	RefetchInterval time.Duration
	// Leeway is the clock skew tolerated on exp, nbf and iat; at most 5 s by
	// the contract (the default).
	Leeway time.Duration
	// Realm is the WWW-Authenticate realm; "baton" by default.
	Realm string
	// HTTPClient fetches the JWKS and the feed; a client with a 10 s
	// timeout by default.
	HTTPClient *http.Client
	// Now is the clock; time.Now by default.
	Now    func() time.Time
	Logger *slog.Logger
	// DPoP verifies the proofs that DPoP-bound tokens (cnf.jkt, RFC 9449)
	// must come with; a verifier with default options when nil.
	DPoP *dpop.Verifier
	// PublicURL is this API's base URL as clients address it (scheme and
	// host, as in front of any proxy), for the proofs' htu; by default the
	// request's Host with http, or https under TLS.
	PublicURL string
	// ClientAddr returns the address of the client that sent r: the share
	// of the DPoP replay cache its proofs draw on (dpop.Options
	// .ReplayCachePerClient). By default the peer's address; behind a
	// proxy, return the address the proxy reports, or every client shares
	// one share.
	ClientAddr func(r *http.Request) string
}

// Verifier verifies access tokens. It is safe for concurrent use; make one
// with New and Close it when done.
type Verifier struct {
	opt  Options
	keys *token.Keyring
	// kids is the set of key ids in the last JWKS fetched
	// (map[string]struct{}), read on the failure path only.
	kids atomic.Pointer[map[string]struct{}]

	fetchMu   sync.Mutex // serialises JWKS fetches
	lastFetch atomic.Int64

	revMu   sync.RWMutex
	revoked map[string]time.Time // sid → until
	// cursor is the feed position; only poll touches it, from New and
	// then from run's goroutine.
	cursor string

	cancel context.CancelFunc
	done   chan struct{}
}

// New fetches the JWKS (failing when it cannot) and, with resource
// credentials, starts following the revocation feed; the first read of the
// feed also happens before New returns, so no revoked session slips
// through a cold start.
func New(ctx context.Context, opt Options) (*Verifier, error) {
	if opt.Issuer == "" {
		return nil, errors.New("resource: Options.Issuer is required")
	}
	base := strings.TrimSuffix(opt.Issuer, "/")
	if opt.Audience == "" {
		opt.Audience = opt.Issuer
	}
	if opt.JWKSURL == "" {
		opt.JWKSURL = base + "/.well-known/jwks.json"
	}
	if opt.RevocationsURL == "" {
		opt.RevocationsURL = base + "/v1/revocations"
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = DefaultPollInterval
	}
	if opt.JWKSRefresh <= 0 {
		opt.JWKSRefresh = DefaultJWKSRefresh
	}
	if opt.RefetchInterval <= 0 {
		opt.RefetchInterval = DefaultRefetchInterval
	}
	if opt.Realm == "" {
		opt.Realm = "baton"
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.ClientAddr == nil {
		opt.ClientAddr = peerAddr
	}
	if opt.DPoP == nil {
		d, err := dpop.NewVerifier(dpop.Options{Now: opt.Now})
		if err != nil {
			return nil, err
		}
		opt.DPoP = d
	}
	v := &Verifier{
		opt:     opt,
		keys:    token.NewKeyring(token.Options{Issuer: opt.Issuer, Audience: opt.Audience, Leeway: opt.Leeway}),
		revoked: map[string]time.Time{},
		done:    make(chan struct{}),
	}
	if err := v.fetchJWKS(ctx); err != nil {
		return nil, err
	}
	if v.following() {
		if err := v.poll(ctx); err != nil {
			return nil, fmt.Errorf("resource: revocation feed: %w", err)
		}
	}
	bg, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	go v.run(bg)
	return v, nil
}

// Close stops the background work.
func (v *Verifier) Close() {
	v.cancel()
	<-v.done
}

func (v *Verifier) following() bool { return v.opt.ClientID != "" || v.opt.ClientSecret != "" }

// Verify checks a raw access token. Outcomes: the claims; a *baton.Error
// with code baton.ETokenExpired (the client should refresh); or code
// baton.EInvalidToken (bad in any other way, including a revoked session).
// An unknown kid makes it fetch the JWKS again (at most once per
// RefetchInterval) before giving up.
func (v *Verifier) Verify(ctx context.Context, raw string) (*token.Claims, error) {
	now := v.opt.Now()
	c, err := v.keys.Verify(raw, now)
	if err != nil && baton.ErrorCode(err) == baton.EInvalidToken && v.unknownKid(raw) && v.refetch(ctx) {
		c, err = v.keys.Verify(raw, now)
	}
	if err != nil {
		return nil, err
	}
	if v.isRevoked(c.SessionID, now) {
		return nil, errRevoked
	}
	return c, nil
}

var errRevoked = baton.Errorf(baton.EInvalidToken, "the session was revoked")

func (v *Verifier) isRevoked(sid string, now time.Time) bool {
	v.revMu.RLock()
	until, ok := v.revoked[sid]
	v.revMu.RUnlock()
	return ok && now.Before(until)
}

// unknownKid reports whether raw's header names a kid the last JWKS did not
// have. Only the failure path calls it.
func (v *Verifier) unknownKid(raw string) bool {
	seg, _, ok := strings.Cut(raw, ".")
	if !ok || len(seg) > 512 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return false
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if json.Unmarshal(b, &h) != nil || h.Kid == "" {
		return false
	}
	kids := v.kids.Load()
	if kids == nil {
		return true
	}
	_, known := (*kids)[h.Kid]
	return !known
}

// refetch fetches the JWKS unless that happened within RefetchInterval;
// it reports whether the keys may have changed.
func (v *Verifier) refetch(ctx context.Context) bool {
	last := v.lastFetch.Load()
	if time.Since(time.Unix(0, last)) < v.opt.RefetchInterval {
		return false
	}
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	if v.lastFetch.Load() != last { // another request fetched meanwhile
		return true
	}
	if err := v.fetchLocked(ctx); err != nil {
		v.opt.Logger.WarnContext(ctx, "resource: JWKS refetch failed", "err", err)
		return false
	}
	return true
}

func (v *Verifier) fetchJWKS(ctx context.Context) error {
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	return v.fetchLocked(ctx)
}

func (v *Verifier) fetchLocked(ctx context.Context) error {
	// Whatever happens, rate-limit the next attempt from now.
	v.lastFetch.Store(time.Now().UnixNano())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.opt.JWKSURL, nil)
	if err != nil {
		return fmt.Errorf("resource: JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.opt.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("resource: fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("resource: fetch JWKS: %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("resource: read JWKS: %w", err)
	}
	if err := v.keys.SetPublicKeys(body); err != nil {
		return fmt.Errorf("resource: %w", err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	_ = json.Unmarshal(v.keys.JWKS(), &set)
	kids := make(map[string]struct{}, len(set.Keys))
	for _, k := range set.Keys {
		kids[k.Kid] = struct{}{}
	}
	v.kids.Store(&kids)
	return nil
}

// run refreshes the JWKS now and then and follows the revocation feed.
func (v *Verifier) run(ctx context.Context) {
	defer close(v.done)
	jwks := time.NewTicker(v.opt.JWKSRefresh)
	defer jwks.Stop()
	var poll <-chan time.Time
	if v.following() {
		t := time.NewTicker(v.opt.PollInterval)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-jwks.C:
			if err := v.fetchJWKS(ctx); err != nil && ctx.Err() == nil {
				v.opt.Logger.WarnContext(ctx, "resource: JWKS refresh failed", "err", err)
			}
		case <-poll:
			if err := v.poll(ctx); err != nil && ctx.Err() == nil {
				v.opt.Logger.WarnContext(ctx, "resource: revocation feed failed", "err", err)
			}
		}
	}
}

// poll reads the revocation feed from the last cursor until it has no
// more, adds the entries and drops those whose until has passed.
func (v *Verifier) poll(ctx context.Context) error {
	for range 100 { // bounded: 100 pages per poll
		u := v.opt.RevocationsURL
		if v.cursor != "" {
			u += "?since=" + url.QueryEscape(v.cursor)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		// RFC 6749 §2.3.1: both parts form-url-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(v.opt.ClientID), url.QueryEscape(v.opt.ClientSecret))
		resp, err := v.opt.HTTPClient.Do(req)
		if err != nil {
			return err
		}
		var page struct {
			Cursor  string `json:"cursor"`
			HasMore bool   `json:"has_more"`
			Revoked []struct {
				SID   string    `json:"sid"`
				Until time.Time `json:"until"`
			} `json:"revoked"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", v.opt.RevocationsURL, resp.Status)
		}
		if err != nil {
			return fmt.Errorf("decode feed: %w", err)
		}
		now := v.opt.Now()
		v.revMu.Lock()
		for _, e := range page.Revoked {
			if e.Until.After(v.revoked[e.SID]) {
				v.revoked[e.SID] = e.Until
			}
		}
		for sid, until := range v.revoked {
			if !now.Before(until) {
				delete(v.revoked, sid)
			}
		}
		v.revMu.Unlock()
		if page.Cursor != "" {
			v.cursor = page.Cursor
		}
		if !page.HasMore || len(page.Revoked) == 0 {
			return nil
		}
	}
	return nil
}

// RevokedCount is the number of revoked sessions being tracked.
func (v *Verifier) RevokedCount() int {
	v.revMu.RLock()
	defer v.revMu.RUnlock()
	return len(v.revoked)
}

// ---------------------------------------------------------------- HTTP

type ctxKey struct{}

// ClaimsFrom returns the claims that Require put into the request context:
// Subject is the user id, SessionID the session.
func ClaimsFrom(ctx context.Context) (*token.Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*token.Claims)
	return c, ok
}

// Require is middleware: the request needs a valid access token in
// "Authorization: Bearer"; failures get the contract's 401 answers.
func (v *Verifier) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, isDPoP, err := httpauth.Authorization(r.Header.Get("Authorization"))
		if err != nil {
			v.writeError(w, err)
			return
		}
		if raw == "" {
			v.writeError(w, baton.Errorf(baton.EUnauthorized, "an access token is required"))
			return
		}
		c, err := v.Verify(r.Context(), raw)
		if err != nil {
			v.writeError(w, err)
			return
		}
		b := httpauth.Binding{Request: r, URL: v.publicURL(r), Client: v.opt.ClientAddr(r), Verifier: v.opt.DPoP}
		if err := httpauth.CheckBinding(r.Context(), httpauth.Presented{Token: raw, DPoP: isDPoP}, c.JKT, b); err != nil {
			v.writeError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
	})
}

// RequireFresh returns middleware, to be used inside Require, that lets a
// request through only when its token is fresh: minted from a password
// verification (fresh: true) no more than maxAge ago (auth_time); maxAge 0
// accepts any fresh token. Otherwise the answer is RFC 9470's step-up
// challenge with max_age, which the client cures with POST /v1/reauth.
func (v *Verifier) RequireFresh(maxAge time.Duration) func(http.Handler) http.Handler {
	challenge := httpauth.Challenge(v.opt.Realm, baton.EInsufficientUserAuth, "", maxAge)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := ClaimsFrom(r.Context())
			if !ok {
				v.writeError(w, baton.Errorf(baton.EUnauthorized, "an access token is required"))
				return
			}
			if !httpauth.Fresh(c, maxAge, v.opt.Now()) {
				w.Header().Set("WWW-Authenticate", challenge)
				writeJSON(w, http.StatusUnauthorized, baton.EInsufficientUserAuth, "a fresh authentication is required")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Fresh reports whether c is fresh at now (httpauth.Fresh): minted from a
// verification of the user no more than maxAge ago; maxAge zero or
// negative accepts any fresh token. A token without auth_time is never
// fresh.
func Fresh(c *token.Claims, maxAge time.Duration, now time.Time) bool {
	return httpauth.Fresh(c, maxAge, now)
}

// peerAddr is the address of the request's peer, without its port.
func peerAddr(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return r.RemoteAddr
}

func (v *Verifier) publicURL(r *http.Request) string {
	if v.opt.PublicURL != "" {
		return strings.TrimSuffix(v.opt.PublicURL, "/") + r.URL.Path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

// writeError answers a failure with the contract's 401s: a DPoP
// challenge for a failed binding (httpauth.ChallengeError), a Bearer one
// otherwise, where every code that is not about the token's absence or
// expiry is invalid_token. A full DPoP replay cache is no fault of the
// token: 429 (the client's share) or 503, to be retried.
func (v *Verifier) writeError(w http.ResponseWriter, err error) {
	code, msg := baton.ErrorCode(err), baton.ErrorMessage(err)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	switch {
	case code == baton.ETooManyRequests || code == baton.EUnavailable:
		status := http.StatusServiceUnavailable
		if code == baton.ETooManyRequests {
			status = http.StatusTooManyRequests
		}
		h.Set("Retry-After", "1")
		writeJSON(w, status, code, msg)
		return
	case httpauth.IsChallenge(err):
		switch code {
		case baton.EInvalidDPoPProof, baton.EUseDPoPNonce, baton.EInvalidToken:
		default:
			code = baton.EInvalidToken
		}
		if code == baton.EUseDPoPNonce {
			h.Set("DPoP-Nonce", v.opt.DPoP.Nonce())
		}
		h.Set("WWW-Authenticate", httpauth.DPoPChallenge(v.opt.Realm, code, msg))
	default:
		switch code {
		case baton.EUnauthorized, baton.ETokenExpired:
		default:
			code = baton.EInvalidToken
		}
		h.Set("WWW-Authenticate", httpauth.Challenge(v.opt.Realm, code, msg, 0))
	}
	writeJSON(w, http.StatusUnauthorized, code, msg)
}

func writeJSON(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
