// Package client is a Go client for baton: an http.RoundTripper that holds
// a session's tokens, attaches the access token to requests, refreshes it
// before it expires and again when a request is answered 401 token_expired
// (then retries the request once), with one refresh shared by all
// concurrent requests. The refresh token is persisted through a TokenStore
// the caller supplies. It interoperates with golang.org/x/oauth2: TokenSource
// returns an oauth2.TokenSource, and SetToken adopts an *oauth2.Token
// obtained elsewhere (e.g. oauth2.Config.PasswordCredentialsToken against
// baton's /oauth/token).
//
//	t := client.New(client.Options{BaseURL: "https://auth.example.com", Store: store})
//	if err := t.Login(ctx, "alice", "correct horse battery staple"); err != nil { … }
//	hc := &http.Client{Transport: t}
//	resp, err := hc.Get("https://api.example.com/things")
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// TokenStore persists the refresh token.
//
// Load returns the stored refresh token, or "" with a nil error when there
// is none. Save stores a new refresh token, replacing the old one; "" means
// delete. A Transport calls them one at a time, never concurrently, and
// saves a rotated token before it uses it: if Save fails the refresh fails
// (the server still accepts the old token's successor within its grace
// window, so retrying is safe).
type TokenStore interface {
	Load(ctx context.Context) (string, error)
	Save(ctx context.Context, refreshToken string) error
}

// MemoryStore is a TokenStore in memory. The zero value is ready.
type MemoryStore struct {
	mu  sync.Mutex
	tok string
}

// Load returns the stored token.
func (m *MemoryStore) Load(context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tok, nil
}

// Save replaces the stored token.
func (m *MemoryStore) Save(_ context.Context, tok string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tok = tok
	return nil
}

// Options configure a Transport.
type Options struct {
	// BaseURL is the baton server, e.g. "https://auth.example.com".
	BaseURL string
	// Store persists the refresh token; a MemoryStore by default.
	Store TokenStore
	// Base carries the requests; http.DefaultTransport by default.
	Base http.RoundTripper
	// RefreshMargin is how long before expiry the token is refreshed;
	// min(30 s, a third of its lifetime) by default. Negative: only on
	// expiry or a 401.
	RefreshMargin time.Duration
	// Hosts lists other hosts ("api.example.com:8443") whose requests get
	// the access token; the server's own host always does. Requests to
	// other hosts pass through untouched.
	Hosts []string
	// ClientID, when set, is sent on login and refresh (the token's
	// client_id claim).
	ClientID string
}

// Error is an error answer of the server.
type Error struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("baton: %d %s: %s", e.Status, e.Code, e.Description)
}

// ErrNoSession is returned when there is no refresh token to continue with.
var ErrNoSession = errors.New("baton: no session (log in first)")

// Transport is an http.RoundTripper with a baton session. It is safe for
// concurrent use.
type Transport struct {
	opt   Options
	base  string
	hosts map[string]bool

	mu       sync.Mutex
	access   string
	expiry   time.Time // with a monotonic reading: immune to clock changes
	lifetime time.Duration
	refresh  string // the current refresh token, "" until loaded
	inflight *call
	// refreshes counts successful rotations (see Refreshes).
	refreshes int
}

type call struct {
	done chan struct{}
	err  error
}

// New returns a Transport for opt.
func New(opt Options) *Transport {
	if opt.Store == nil {
		opt.Store = &MemoryStore{}
	}
	if opt.Base == nil {
		opt.Base = http.DefaultTransport
	}
	t := &Transport{opt: opt, base: strings.TrimSuffix(opt.BaseURL, "/"), hosts: map[string]bool{}}
	if req, err := http.NewRequest(http.MethodGet, t.base, nil); err == nil {
		t.hosts[req.URL.Host] = true
	}
	for _, h := range opt.Hosts {
		t.hosts[h] = true
	}
	return t
}

// Client returns an *http.Client using t.
func (t *Transport) Client() *http.Client { return &http.Client{Transport: t} }

// tokenResponse is the contract's token response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

// Login logs in with the body transport and stores the refresh token.
func (t *Transport) Login(ctx context.Context, username, password string) error {
	body := map[string]string{"username": username, "password": password, "transport": "body"}
	if t.opt.ClientID != "" {
		body["client_id"] = t.opt.ClientID
	}
	start := time.Now()
	tr, err := t.post(ctx, "/v1/login", body)
	if err != nil {
		return err
	}
	return t.adopt(ctx, tr, start)
}

// Logout ends the session on the server (scope "local" when empty) and
// forgets the tokens.
func (t *Transport) Logout(ctx context.Context, scope string) error {
	if scope == "" {
		scope = "local"
	}
	t.mu.Lock()
	rt := t.refresh
	t.mu.Unlock()
	if rt == "" {
		var err error
		if rt, err = t.opt.Store.Load(ctx); err != nil {
			return fmt.Errorf("baton: load refresh token: %w", err)
		}
	}
	var err error
	if rt != "" {
		_, err = t.post(ctx, "/v1/logout", map[string]string{"scope": scope, "refresh_token": rt})
	}
	if scope != "others" {
		t.mu.Lock()
		t.access, t.refresh, t.expiry = "", "", time.Time{}
		t.mu.Unlock()
		if serr := t.opt.Store.Save(ctx, ""); err == nil {
			err = serr
		}
	}
	return err
}

// SetToken adopts a token obtained elsewhere, e.g. from
// oauth2.Config.PasswordCredentialsToken against baton's /oauth/token.
func (t *Transport) SetToken(ctx context.Context, tok *oauth2.Token) error {
	if tok.RefreshToken != "" {
		if err := t.opt.Store.Save(ctx, tok.RefreshToken); err != nil {
			return fmt.Errorf("baton: save refresh token: %w", err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.access = tok.AccessToken
	if tok.RefreshToken != "" {
		t.refresh = tok.RefreshToken
	}
	t.expiry = tok.Expiry
	t.lifetime = time.Until(tok.Expiry)
	if !tok.Expiry.IsZero() {
		// Re-anchor on the monotonic clock.
		t.expiry = time.Now().Add(time.Until(tok.Expiry))
	}
	return nil
}

// Token returns a valid access token, refreshing first when it is within
// the refresh margin of its expiry.
func (t *Transport) Token(ctx context.Context) (*oauth2.Token, error) {
	t.mu.Lock()
	ok := t.access != "" && !t.due()
	t.mu.Unlock()
	if !ok {
		if err := t.Refresh(ctx, ""); err != nil {
			return nil, err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return &oauth2.Token{AccessToken: t.access, TokenType: "Bearer", RefreshToken: t.refresh, Expiry: t.expiry}, nil
}

// TokenSource returns t as an oauth2.TokenSource, e.g. for oauth2.NewClient.
// It is safe for concurrent use, as oauth2 requires.
func (t *Transport) TokenSource(ctx context.Context) oauth2.TokenSource {
	return tokenSource{t: t, ctx: ctx}
}

type tokenSource struct {
	t   *Transport
	ctx context.Context
}

func (s tokenSource) Token() (*oauth2.Token, error) { return s.t.Token(s.ctx) }

// Refreshes is the number of rotations this Transport made.
func (t *Transport) Refreshes() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refreshes
}

// due reports whether the token needs refreshing now; t.mu held.
func (t *Transport) due() bool {
	if t.expiry.IsZero() {
		return false
	}
	margin := t.opt.RefreshMargin
	if margin == 0 {
		margin = min(30*time.Second, t.lifetime/3)
	}
	if margin < 0 {
		margin = 0
	}
	return time.Until(t.expiry) <= margin
}

// Refresh rotates the session's tokens. Concurrent calls share one refresh.
// With stale set to the access token a failed request used, it returns at
// once when the token has changed since (someone else refreshed).
func (t *Transport) Refresh(ctx context.Context, stale string) error {
	t.mu.Lock()
	if stale != "" && t.access != stale {
		t.mu.Unlock()
		return nil
	}
	if c := t.inflight; c != nil {
		t.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := &call{done: make(chan struct{})}
	t.inflight = c
	rt := t.refresh
	t.mu.Unlock()

	// The refresh runs detached from the first caller's cancellation: the
	// others wait for it, and a rotation cut off half-way would leave the
	// store behind the server.
	c.err = t.rotate(context.WithoutCancel(ctx), rt)
	t.mu.Lock()
	t.inflight = nil
	t.mu.Unlock()
	close(c.done)
	return c.err
}

func (t *Transport) rotate(ctx context.Context, rt string) error {
	if rt == "" {
		var err error
		if rt, err = t.opt.Store.Load(ctx); err != nil {
			return fmt.Errorf("baton: load refresh token: %w", err)
		}
		if rt == "" {
			return ErrNoSession
		}
	}
	body := map[string]string{"refresh_token": rt}
	if t.opt.ClientID != "" {
		body["client_id"] = t.opt.ClientID
	}
	start := time.Now()
	tr, err := t.post(ctx, "/v1/refresh", body)
	if err != nil {
		return err
	}
	if err := t.adopt(ctx, tr, start); err != nil {
		return err
	}
	t.mu.Lock()
	t.refreshes++
	t.mu.Unlock()
	return nil
}

// adopt saves the refresh token, then takes the response's tokens; the
// expiry is measured from when the request left.
func (t *Transport) adopt(ctx context.Context, tr *tokenResponse, start time.Time) error {
	if tr.AccessToken == "" {
		return errors.New("baton: token response without access token")
	}
	if tr.RefreshToken != "" {
		if err := t.opt.Store.Save(ctx, tr.RefreshToken); err != nil {
			return fmt.Errorf("baton: save refresh token: %w", err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.access = tr.AccessToken
	if tr.RefreshToken != "" {
		t.refresh = tr.RefreshToken
	}
	t.lifetime = time.Duration(tr.ExpiresIn) * time.Second
	t.expiry = start.Add(t.lifetime)
	return nil
}

func (t *Transport) post(ctx context.Context, path string, body any) (*tokenResponse, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.opt.Base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode}
		_ = json.Unmarshal(data, e)
		return nil, e
	}
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	var tr tokenResponse
	if err := json.Unmarshal(data, &tr); err != nil {
		return nil, fmt.Errorf("baton: %s: %w", path, err)
	}
	return &tr, nil
}

// RoundTrip sends req with the access token (to the server's host and
// Options.Hosts only), refreshing first when the token is due, and on a 401
// token_expired refreshes and retries once (when the body can be replayed:
// no body, or req.GetBody set, as http.NewRequest does for in-memory
// bodies). It does not modify req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.hosts[req.URL.Host] || req.Header.Get("Authorization") != "" {
		return t.opt.Base.RoundTrip(req)
	}
	tok, err := t.Token(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.send(req, tok.AccessToken, false)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !tokenExpired(resp) {
		return resp, err
	}
	if req.Body != nil && req.GetBody == nil {
		return resp, nil // cannot replay
	}
	if err := t.Refresh(req.Context(), tok.AccessToken); err != nil {
		return resp, nil
	}
	resp.Body.Close()
	t.mu.Lock()
	access := t.access
	t.mu.Unlock()
	return t.send(req, access, true)
}

func (t *Transport) send(req *http.Request, access string, replay bool) (*http.Response, error) {
	r := req.Clone(req.Context())
	if replay && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	r.Header.Set("Authorization", "Bearer "+access)
	return t.opt.Base.RoundTrip(r)
}

// tokenExpired reports whether a 401 says token_expired: by the
// WWW-Authenticate description or the body's error code (the body is
// restored for the caller).
func tokenExpired(resp *http.Response) bool {
	if strings.Contains(resp.Header.Get("WWW-Authenticate"), "the access token expired") {
		return true
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if err != nil {
		return false
	}
	var e struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(data, &e) == nil && e.Error == "token_expired"
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
