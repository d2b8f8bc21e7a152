package session

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/batonauth/baton"
)

// Registered OpenID clients (`baton clients …`): their validation, their
// secrets, and how the provider's endpoints check them. A client's secret
// is 256 bits from crypto/rand with a recognisable prefix, shown once and
// stored only as its SHA-256, like every other one-time secret here.

// ClientSpec is a registration or an update (CLI flags).
type ClientSpec struct {
	Name                                 string
	RedirectURIs, PostLogoutRedirectURIs []string
	BackchannelLogoutURI                 string
	Public, FirstParty, RequirePAR       bool
	// Scopes and GrantTypes: nil takes the defaults (scopes openid
	// profile email offline_access; grants authorization_code and
	// refresh_token). openid is added to any list.
	Scopes, GrantTypes []string
	// IDTokenAlg signs the client's ID tokens; "" is RS256.
	IDTokenAlg string
	// Lifetimes of the client's tokens and sessions; zero takes the
	// server's.
	AccessTTL, RefreshTTL, RefreshIdleTTL time.Duration
}

// Limits of a client registration.
const (
	maxClientName = 100 // characters
	// maxClientURI bounds every URI of a client, in bytes.
	maxClientURI = 2000
	// maxClientScopes and maxScopeLen bound the scopes a client may ask
	// for: the authorization request's own bounds, so that a client can
	// always ask for every scope it was registered with.
	maxClientScopes = maxScopes
	maxScopeLen     = maxScopeName
	// maxClientID bounds a presented client_id: longer ones are no
	// client's, and need no store work.
	maxClientID = 128
	// MaxClientAccessTTL bounds a client's access-token lifetime: a
	// revoked session's id stays in every instance's memory as long as its
	// access tokens live (MaxAccessTTL), which a long one would stretch for
	// every session of every client.
	MaxClientAccessTTL = 24 * time.Hour
	// maxClientLifetime bounds a client's session lifetimes (ten years).
	maxClientLifetime = 10 * 365 * 24 * time.Hour
	// minClientLifetime is the shortest lifetime other than zero, as
	// for the server's own (stores keep microseconds, and a lifetime that
	// rounded to zero would silently mean the server's).
	minClientLifetime = time.Second
)

// clientSecretPrefix lets a secret scanner tell a leaked client secret.
const clientSecretPrefix = "bcs_"

// defaultClientScopes and defaultGrantTypes are a client's when its spec
// names none.
var (
	defaultClientScopes = []string{baton.ScopeOpenID, baton.ScopeProfile, baton.ScopeEmail, baton.ScopeOfflineAccess}
	defaultGrantTypes   = []string{baton.GrantAuthorizationCode, baton.GrantRefreshToken}
)

func invalidClientSpec(format string, args ...any) error {
	return baton.Errorf(baton.EInvalidRequest, format, args...)
}

// checkClientSpec validates spec and returns the client it describes
// (without ID, secret and times): defaults applied, openid among the
// scopes, duplicate scopes and grant types dropped. EInvalidRequest with a
// message naming the rule broken.
func checkClientSpec(spec ClientSpec) (*baton.OAuthClient, error) {
	c := &baton.OAuthClient{FirstParty: spec.FirstParty, RequirePAR: spec.RequirePAR}
	var err error
	if c.Name, err = checkClientName(spec.Name); err != nil {
		return nil, err
	}
	if c.GrantTypes, err = checkGrantTypes(spec.GrantTypes, spec.Public); err != nil {
		return nil, err
	}
	ccOnly := len(c.GrantTypes) == 1 && c.GrantTypes[0] == baton.GrantClientCredentials
	if len(spec.RedirectURIs) == 0 && !ccOnly {
		return nil, invalidClientSpec("a client needs at least one redirect URI (only a client_credentials client has none)")
	}
	if c.RedirectURIs, err = checkRedirectURIs("redirect URI", spec.RedirectURIs); err != nil {
		return nil, err
	}
	if c.PostLogoutRedirectURIs, err = checkRedirectURIs("post-logout redirect URI", spec.PostLogoutRedirectURIs); err != nil {
		return nil, err
	}
	if spec.BackchannelLogoutURI != "" {
		if err := checkBackchannelURI(spec.BackchannelLogoutURI); err != nil {
			return nil, err
		}
		c.BackchannelLogoutURI = spec.BackchannelLogoutURI
	}
	if c.Scopes, err = checkScopes(spec.Scopes); err != nil {
		return nil, err
	}
	switch spec.IDTokenAlg {
	case "":
		c.IDTokenAlg = baton.AlgRS256
	case baton.AlgRS256, baton.AlgES256, baton.AlgEdDSA:
		c.IDTokenAlg = spec.IDTokenAlg
	default:
		return nil, invalidClientSpec("the ID-token algorithm %q is none of %s, %s, %s", spec.IDTokenAlg, baton.AlgRS256, baton.AlgES256, baton.AlgEdDSA)
	}
	if err := checkClientLifetimes(spec); err != nil {
		return nil, err
	}
	// Stores keep microseconds: what is returned is what is stored.
	c.AccessTTL = spec.AccessTTL.Truncate(time.Microsecond)
	c.RefreshTTL = spec.RefreshTTL.Truncate(time.Microsecond)
	c.RefreshIdleTTL = spec.RefreshIdleTTL.Truncate(time.Microsecond)
	return c, nil
}

func checkClientName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if n := utf8.RuneCountInString(name); n == 0 || n > maxClientName || !utf8.ValidString(name) {
		return "", invalidClientSpec("a client's name must be 1 to %d characters", maxClientName)
	}
	// The name is shown on the consent page and in terminals: nothing that
	// can hide or reorder what is around it (controls, bidi overrides).
	for _, r := range name {
		if !unicode.IsGraphic(r) {
			return "", invalidClientSpec("a client's name must not contain control or formatting characters (found %U)", r)
		}
	}
	return name, nil
}

func checkGrantTypes(grants []string, public bool) ([]string, error) {
	if grants == nil {
		grants = defaultGrantTypes
	}
	var out []string
	for _, g := range grants {
		switch g {
		case baton.GrantAuthorizationCode, baton.GrantRefreshToken:
		case baton.GrantClientCredentials:
			if public {
				return nil, invalidClientSpec("a public client cannot use the client_credentials grant (it has no secret)")
			}
		default:
			return nil, invalidClientSpec("unknown grant type %q (want %s, %s or %s)", cut(g, 64),
				baton.GrantAuthorizationCode, baton.GrantRefreshToken, baton.GrantClientCredentials)
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	switch {
	case len(out) == 0:
		return nil, invalidClientSpec("a client needs at least one grant type")
	case slices.Contains(out, baton.GrantRefreshToken) && !slices.Contains(out, baton.GrantAuthorizationCode):
		return nil, invalidClientSpec("the refresh_token grant needs the authorization_code grant (refresh tokens come from codes)")
	}
	return out, nil
}

// checkRedirectURIs checks a list of redirect URIs (what names them in
// messages): at most baton.MaxClientURIs, no duplicates, each valid.
func checkRedirectURIs(what string, uris []string) ([]string, error) {
	if len(uris) > baton.MaxClientURIs {
		return nil, invalidClientSpec("a client has at most %d %ss", baton.MaxClientURIs, what)
	}
	for i, u := range uris {
		if err := checkRedirectURI(u); err != nil {
			return nil, invalidClientSpec("%s %q: %s", what, cut(u, 100), err)
		}
		if slices.Contains(uris[:i], u) {
			return nil, invalidClientSpec("%s %q is listed twice", what, cut(u, 100))
		}
	}
	if len(uris) == 0 {
		return nil, nil
	}
	return slices.Clone(uris), nil
}

// checkRedirectURI: an absolute URI without fragment or user information
// that is https, http on a loopback host (a native app's listener, RFC
// 8252 §7.3), or a private-use scheme with a dot (a native app's own,
// RFC 8252 §7.1: com.example.app:/callback). Matching is by exact string,
// so the URI is taken as given; what fails here says why.
func checkRedirectURI(raw string) error {
	u, err := parseClientURI(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme == "https":
		if u.Host == "" {
			return fmt.Errorf("an https URI needs a host")
		}
	case u.Scheme == "http":
		if _, ok := loopbackForm(raw); !ok {
			return fmt.Errorf("http is allowed only on a loopback host (127.0.0.1, [::1] or localhost); use https")
		}
	case strings.Contains(u.Scheme, "."):
		// A private-use scheme in reverse domain name notation.
	default:
		return fmt.Errorf("want https, http on a loopback host, or a private-use scheme with a dot such as com.example.app")
	}
	return nil
}

// checkBackchannelURI: an absolute http(s) URI without fragment (Back-
// Channel Logout 1.0 §2.2). The server posts to it itself, so any host.
func checkBackchannelURI(raw string) error {
	u, err := parseClientURI(raw)
	if err == nil && (u.Scheme != "https" && u.Scheme != "http" || u.Host == "") {
		err = fmt.Errorf("want an absolute http or https URI")
	}
	if err != nil {
		return invalidClientSpec("back-channel logout URI %q: %s", cut(raw, 100), err)
	}
	return nil
}

// parseClientURI parses an absolute URI of printable ASCII (RFC 3986: a
// URI has no spaces, controls or raw Unicode) with no fragment and no
// user information.
func parseClientURI(raw string) (*url.URL, error) {
	if raw == "" || len(raw) > maxClientURI {
		return nil, fmt.Errorf("want 1 to %d characters", maxClientURI)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] > '~' {
			return nil, fmt.Errorf("characters other than printable ASCII must be percent-encoded")
		}
	}
	if strings.Contains(raw, "#") {
		return nil, fmt.Errorf("a fragment is not allowed")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("not a URI")
	case u.Scheme == "":
		return nil, fmt.Errorf("not absolute (no scheme)")
	case u.User != nil:
		return nil, fmt.Errorf("user information (user@host) is not allowed")
	}
	return u, nil
}

func checkScopes(scopes []string) ([]string, error) {
	if scopes == nil {
		scopes = defaultClientScopes
	}
	if len(scopes) > maxClientScopes {
		return nil, invalidClientSpec("a client has at most %d scopes", maxClientScopes)
	}
	out := []string{baton.ScopeOpenID}
	for _, sc := range scopes {
		if !validScopeToken(sc) {
			return nil, invalidClientSpec("scope %q is not a scope token (1 to %d printable ASCII characters, no space, \" or \\)", cut(sc, 100), maxScopeLen)
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// validScopeToken reports whether s is an RFC 6749 §3.3 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ), here at most maxScopeLen long.
func validScopeToken(s string) bool {
	if s == "" || len(s) > maxScopeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func checkClientLifetimes(spec ClientSpec) error {
	for _, l := range []struct {
		name string
		d    time.Duration
		max  time.Duration
	}{
		{"access-token lifetime", spec.AccessTTL, MaxClientAccessTTL},
		{"refresh lifetime", spec.RefreshTTL, maxClientLifetime},
		{"refresh idle lifetime", spec.RefreshIdleTTL, maxClientLifetime},
	} {
		switch {
		case l.d < 0:
			return invalidClientSpec("the %s must not be negative", l.name)
		case l.d > 0 && l.d < minClientLifetime:
			return invalidClientSpec("the %s must be 0 (the server's) or at least %s", l.name, minClientLifetime)
		case l.d > l.max:
			return invalidClientSpec("the %s must be at most %s", l.name, l.max)
		}
	}
	if spec.RefreshTTL > 0 && spec.RefreshIdleTTL > spec.RefreshTTL {
		return invalidClientSpec("the refresh idle lifetime (%s) must not exceed the refresh lifetime (%s)", spec.RefreshIdleTTL, spec.RefreshTTL)
	}
	return nil
}

// cut shortens what a message quotes from the input.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// RedirectURIAllowed reports whether uri is one of the client's redirect
// URIs: an exact string match, except that a loopback http URI (host
// 127.0.0.1, [::1] or localhost) may differ in port only — a native app
// listens on whatever port the system gives it (RFC 8252 §7.3, §8.3).
// Nothing else may differ, not even letter case.
func RedirectURIAllowed(c *baton.OAuthClient, uri string) bool {
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	form, ok := loopbackForm(uri)
	if !ok {
		return false
	}
	for _, r := range c.RedirectURIs {
		if f, ok := loopbackForm(r); ok && f == form {
			return true
		}
	}
	return false
}

// PostLogoutURIAllowed reports whether uri is one of the client's
// post-logout redirect URIs, by exact string match.
func PostLogoutURIAllowed(c *baton.OAuthClient, uri string) bool {
	return slices.Contains(c.PostLogoutRedirectURIs, uri)
}

// loopbackForm returns raw without its port when raw is an http URI on a
// loopback host — "http://" exactly, then 127.0.0.1, [::1] or localhost
// exactly, an optional port of 1 to 5 digits up to 65535, and the rest
// (path, query) taken as it is — and false for anything else. Two loopback
// redirect URIs that differ in port only have the same form; the
// comparison stays on the strings as given, so no parser's normalisation
// can make two different URIs look alike.
func loopbackForm(raw string) (string, bool) {
	rest, ok := strings.CutPrefix(raw, "http://")
	if !ok {
		return "", false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	var host, port string
	for _, h := range []string{"127.0.0.1", "[::1]", "localhost"} {
		if p, ok := strings.CutPrefix(authority, h); ok && (p == "" || p[0] == ':') {
			host, port = h, p
			break
		}
	}
	if host == "" {
		return "", false
	}
	if port != "" {
		digits := port[1:]
		if len(digits) == 0 || len(digits) > 5 || strings.Trim(digits, "0123456789") != "" {
			return "", false
		}
		if n, _ := strconv.Atoi(digits); n > 65535 {
			return "", false
		}
	}
	return "http://" + host + tail, true
}

// newClientSecret returns a fresh client secret: the prefix and 256 bits
// from crypto/rand, base64url.
func newClientSecret() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	return clientSecretPrefix + base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// noClientSecretHash is what a presented secret is compared with when
// there is no client or it has no secret, so every authentication does
// the same work. No secret hashes to it: it is not a SHA-256 output
// anyone knows an input of.
var noClientSecretHash = func() []byte {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return b[:]
}()

// Token-endpoint client authentication methods.
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthNone              = "none"
)

var errInvalidClient = baton.Errorf(baton.EInvalidClient, "client authentication failed")

// clientAuthOK decides a client authentication: c is the client (nil when
// there is none), hash the SHA-256 of the presented secret. It compares
// hash in constant time whatever the outcome.
func clientAuthOK(c *baton.OAuthClient, secret string, hash []byte, method string) bool {
	want := noClientSecretHash
	if c != nil && !c.Public() {
		want = c.SecretHash
	}
	match := subtle.ConstantTimeCompare(hash, want) == 1
	switch {
	case c == nil:
		return false
	case method == AuthNone:
		return c.Public() && secret == ""
	case method == AuthClientSecretBasic || method == AuthClientSecretPost:
		return !c.Public() && secret != "" && match
	}
	return false
}

// AddClient validates spec, stores a new client with a random client_id,
// and returns it with its secret (empty for a public client): the secret
// is shown once, only its SHA-256 is stored. A client's access-token
// lifetime longer than the server's raises the store's longest one first
// (MaxAccessTTL), so revocations outlive the client's tokens on every
// instance. EInvalidRequest.
func (s *Service) AddClient(ctx context.Context, spec ClientSpec) (*baton.OAuthClient, string, error) {
	c, err := checkClientSpec(spec)
	if err != nil {
		return nil, "", err
	}
	if err := s.coverAccessTTL(ctx, c.AccessTTL); err != nil {
		return nil, "", err
	}
	var secret string
	if !spec.Public {
		if secret, err = newClientSecret(); err != nil {
			return nil, "", err
		}
		c.SecretHash = hashSecret(secret)
	}
	c.ID = newID()
	c.CreatedAt = s.Now()
	c.UpdatedAt = c.CreatedAt
	if err := s.store.CreateClient(ctx, c); err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

// coverAccessTTL makes the store's longest access-token lifetime at least
// d (see raiseMaxAccessTTL): before a client's longer tokens exist, a
// revocation must be remembered for as long as they live.
func (s *Service) coverAccessTTL(ctx context.Context, d time.Duration) error {
	if d <= s.MaxAccessTTL() {
		return nil
	}
	v, err := s.store.RaiseSetting(ctx, settingMaxAccessTTL, d.Microseconds())
	if err != nil {
		return fmt.Errorf("record the client's access TTL: %w", err)
	}
	s.maxAccessTTL.Store(int64(time.Duration(v) * time.Microsecond))
	return nil
}

// clientSpecOf is the spec c was registered (or last updated) with.
func clientSpecOf(c *baton.OAuthClient) ClientSpec {
	return ClientSpec{Name: c.Name, RedirectURIs: slices.Clone(c.RedirectURIs), PostLogoutRedirectURIs: slices.Clone(c.PostLogoutRedirectURIs),
		BackchannelLogoutURI: c.BackchannelLogoutURI, Public: c.Public(), FirstParty: c.FirstParty, RequirePAR: c.RequirePAR,
		Scopes: slices.Clone(c.Scopes), GrantTypes: slices.Clone(c.GrantTypes), IDTokenAlg: c.IDTokenAlg,
		AccessTTL: c.AccessTTL, RefreshTTL: c.RefreshTTL, RefreshIdleTTL: c.RefreshIdleTTL}
}

// UpdateClient reads the client, lets apply change its spec, validates the
// result and stores it; the secret stays. A client does not turn public or
// confidential (delete it and add it again): its secret, or the lack of
// one, is what its deployments hold. Concurrent updates of one client:
// the last one stored wins whole. EInvalidRequest; ENotFound.
func (s *Service) UpdateClient(ctx context.Context, id string, apply func(*ClientSpec)) (*baton.OAuthClient, error) {
	old, err := s.Client(ctx, id)
	if err != nil {
		return nil, err
	}
	spec := clientSpecOf(old)
	apply(&spec)
	if spec.Public != old.Public() {
		return nil, invalidClientSpec("a client cannot change between public and confidential; delete it and add it again")
	}
	c, err := checkClientSpec(spec)
	if err != nil {
		return nil, err
	}
	if err := s.coverAccessTTL(ctx, c.AccessTTL); err != nil {
		return nil, err
	}
	c.ID, c.SecretHash, c.CreatedAt, c.UpdatedAt = old.ID, old.SecretHash, old.CreatedAt, s.Now()
	if err := s.store.UpdateClient(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// RotateClientSecret gives a confidential client a new secret, returned
// once; the old one stops working at once, on every instance (nothing
// caches clients). EInvalidRequest for a public client; ENotFound.
func (s *Service) RotateClientSecret(ctx context.Context, id string) (string, error) {
	c, err := s.Client(ctx, id)
	if err != nil {
		return "", err
	}
	if c.Public() {
		return "", invalidClientSpec("client %s is public: it has no secret to rotate", c.ID)
	}
	secret, err := newClientSecret()
	if err != nil {
		return "", err
	}
	if err := s.store.SetClientSecret(ctx, c.ID, hashSecret(secret), s.Now()); err != nil {
		return "", err
	}
	return secret, nil
}

// EventClientDeleted reports a client's deletion (Detail names it); its
// sessions were revoked with reason client_deleted.
const EventClientDeleted = "client_deleted"

// DeleteClient deletes the client with its consents, and revokes every
// session issued to it (all users) through the one revocation path, which
// audits it. ENotFound (nothing changes).
func (s *Service) DeleteClient(ctx context.Context, id string, cl Client) error {
	if id == "" || len(id) > maxClientID {
		return baton.Errorf(baton.ENotFound, "no client %q", cut(id, maxClientID))
	}
	_, err := s.revoke(ctx, revocation{ClientID: id, DeleteClient: true, Reason: baton.ReasonClientDeleted,
		Event: Event{Type: EventClientDeleted, Outcome: OutcomeOK, Client: cl, Detail: detailAdmin + ", client " + id}})
	return err
}

// Client returns the client. ENotFound (callers map it to their answer).
func (s *Service) Client(ctx context.Context, id string) (*baton.OAuthClient, error) {
	if id == "" || len(id) > maxClientID {
		return nil, baton.Errorf(baton.ENotFound, "no client %q", cut(id, maxClientID))
	}
	return s.store.Client(ctx, id)
}

// maxClientsPage bounds a page of Clients.
const maxClientsPage = 1000

// Clients lists clients ordered by ID, those after the id after, at most
// limit (1 to 1000; other values mean 1000).
func (s *Service) Clients(ctx context.Context, after string, limit int) ([]*baton.OAuthClient, error) {
	if limit <= 0 || limit > maxClientsPage {
		limit = maxClientsPage
	}
	return s.store.Clients(ctx, after, limit)
}

// AuthenticateClient checks a token-endpoint client authentication;
// method is AuthClientSecretBasic, AuthClientSecretPost or AuthNone. An
// unknown client, a wrong or missing secret, a public client sending a
// secret or a confidential one sending none, an unknown method: all are
// EInvalidClient (401 invalid_client), after the same work — one store
// read and one constant-time comparison of SHA-256 hashes — whether or not
// the client exists.
func (s *Service) AuthenticateClient(ctx context.Context, id, secret, method string) (*baton.OAuthClient, error) {
	hash := hashSecret(secret)
	var c *baton.OAuthClient
	if id != "" && len(id) <= maxClientID {
		var err error
		if c, err = s.store.Client(ctx, id); baton.ErrorCode(err) == baton.ENotFound {
			c = nil
		} else if err != nil {
			return nil, err
		}
	}
	if !clientAuthOK(c, secret, hash, method) {
		return nil, errInvalidClient
	}
	return c, nil
}
