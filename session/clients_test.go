package session_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// TestRedirectURIAllowed: registered redirect URIs match exactly; a
// loopback http URI (127.0.0.1, [::1], localhost) may differ in port only
// (RFC 8252 §7.3), and nothing else may differ, for loopback URIs or any
// other.
func TestRedirectURIAllowed(t *testing.T) {
	c := &baton.OAuthClient{RedirectURIs: []string{
		"https://app.example.com/cb?tenant=1",
		"https://app.example.com:8443/cb",
		"http://127.0.0.1/callback",
		"http://[::1]:8080/callback",
		"http://localhost:3000/cb?x=1",
		"com.example.app:/oauth2redirect",
	}}
	tests := []struct {
		name string
		uri  string
		want bool
	}{
		{"Exact", "https://app.example.com/cb?tenant=1", true},
		{"ExactPort", "https://app.example.com:8443/cb", true},
		{"ExactPrivateUse", "com.example.app:/oauth2redirect", true},
		{"ExactLoopback", "http://127.0.0.1/callback", true},

		{"OtherPath", "https://app.example.com/cb2?tenant=1", false},
		{"TrailingSlash", "https://app.example.com/cb/?tenant=1", false},
		{"OtherQuery", "https://app.example.com/cb?tenant=2", false},
		{"ExtraQuery", "https://app.example.com/cb?tenant=1&a=b", false},
		{"NoQuery", "https://app.example.com/cb", false},
		{"Fragment", "https://app.example.com/cb?tenant=1#x", false},
		{"OtherScheme", "http://app.example.com/cb?tenant=1", false},
		{"OtherHost", "https://evil.example.com/cb?tenant=1", false},
		{"HostCase", "https://APP.example.com/cb?tenant=1", false},
		{"SchemeCase", "HTTPS://app.example.com/cb?tenant=1", false},
		{"NonLoopbackPortAdded", "https://app.example.com:443/cb?tenant=1", false},
		{"NonLoopbackOtherPort", "https://app.example.com:9443/cb", false},
		{"NonLoopbackPortDropped", "https://app.example.com/cb", false},
		{"UserInfo", "https://user@app.example.com/cb?tenant=1", false},
		{"PrivateUsePath", "com.example.app:/oauth2redirect/x", false},
		{"Empty", "", false},

		{"LoopbackV4PortAdded", "http://127.0.0.1:51234/callback", true},
		{"LoopbackV6OtherPort", "http://[::1]:1/callback", true},
		{"LoopbackV6PortDropped", "http://[::1]/callback", true},
		{"LocalhostOtherPort", "http://localhost:65535/cb?x=1", true},
		{"LoopbackPath", "http://127.0.0.1:51234/callback/x", false},
		{"LoopbackQuery", "http://127.0.0.1:51234/callback?a=b", false},
		{"LoopbackFragment", "http://127.0.0.1:51234/callback#a", false},
		{"LoopbackHTTPS", "https://127.0.0.1:51234/callback", false},
		{"LoopbackOtherLoopbackHost", "http://localhost:51234/callback", false},
		{"LoopbackOtherAddress", "http://127.0.0.2:51234/callback", false},
		{"LoopbackHostPrefix", "http://127.0.0.1.evil.com/callback", false},
		{"LoopbackUserInfo", "http://evil@127.0.0.1:51234/callback", false},
		{"LoopbackUserInfoAfter", "http://127.0.0.1:51234@evil.com/callback", false},
		{"LoopbackPortTooBig", "http://127.0.0.1:65536/callback", false},
		{"LoopbackPortSign", "http://127.0.0.1:+80/callback", false},
		{"LoopbackPortEmpty", "http://127.0.0.1:/callback", false},
		{"LoopbackPortLong", "http://127.0.0.1:000080/callback", false},
		{"LocalhostCase", "http://LOCALHOST:3000/cb?x=1", false},
		{"LoopbackSchemeCase", "HTTP://127.0.0.1:5000/callback", false},
		{"LocalhostQueryDiffers", "http://localhost:3001/cb?x=2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := session.RedirectURIAllowed(c, tt.uri); got != tt.want {
				t.Errorf("RedirectURIAllowed(%q) = %v, want %v", tt.uri, got, tt.want)
			}
		})
	}
}

// TestPostLogoutURIAllowed: post-logout redirect URIs match exactly, also
// on loopback hosts.
func TestPostLogoutURIAllowed(t *testing.T) {
	c := &baton.OAuthClient{
		RedirectURIs:           []string{"https://app.example.com/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example.com/bye", "http://127.0.0.1:8080/bye"},
	}
	for uri, want := range map[string]bool{
		"https://app.example.com/bye":  true,
		"http://127.0.0.1:8080/bye":    true,
		"http://127.0.0.1:8081/bye":    false,
		"https://app.example.com/bye/": false,
		"https://app.example.com/cb":   false, // a redirect URI is no post-logout one
		"":                             false,
	} {
		if got := session.PostLogoutURIAllowed(c, uri); got != want {
			t.Errorf("PostLogoutURIAllowed(%q) = %v, want %v", uri, got, want)
		}
	}
}

func addClient(t *testing.T, f *fixture, spec session.ClientSpec) (*baton.OAuthClient, string) {
	t.Helper()
	c, secret, err := f.svc.AddClient(ctx, spec)
	if err != nil {
		t.Fatalf("AddClient(%+v): %v", spec, err)
	}
	return c, secret
}

func webSpec(name string) session.ClientSpec {
	return session.ClientSpec{Name: name, RedirectURIs: []string{"https://app.example.com/cb"}}
}

// TestAddClient: a confidential client gets a fresh secret, stored only as
// its SHA-256; a public one none; what is stored is what was returned; a
// spec that breaks a rule stores nothing.
func TestAddClient(t *testing.T) {
	f := newFixture(t, nil)
	conf, secret := addClient(t, f, webSpec("Web app"))
	pub, pubSecret := addClient(t, f, session.ClientSpec{Name: "CLI", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}})
	if !strings.HasPrefix(secret, "bcs_") || len(secret) != 4+43 {
		t.Errorf("secret %q: want bcs_ and 256 bits in base64url", secret)
	}
	if sum := sha256.Sum256([]byte(secret)); !bytes.Equal(conf.SecretHash, sum[:]) {
		t.Error("the stored hash is not the secret's SHA-256")
	}
	if pubSecret != "" || !pub.Public() || conf.Public() {
		t.Errorf("public client: secret %q, Public %v; confidential Public %v", pubSecret, pub.Public(), conf.Public())
	}
	if conf.ID == pub.ID || conf.ID == "" || !conf.CreatedAt.Equal(t0) || !conf.UpdatedAt.Equal(t0) {
		t.Errorf("ids %q %q, created %v", conf.ID, pub.ID, conf.CreatedAt)
	}
	got, err := f.svc.Client(ctx, conf.ID)
	if err != nil || !reflect.DeepEqual(got, conf) {
		t.Fatalf("Client: %+v, %v\nwant %+v", got, err, conf)
	}
	if _, secret2 := addClient(t, f, webSpec("Web app")); secret2 == secret {
		t.Error("two clients got the same secret")
	}
	// Lifetimes finer than the stores' microseconds are returned as stored.
	fine := webSpec("Fine")
	fine.AccessTTL, fine.RefreshTTL, fine.RefreshIdleTTL = 90*time.Second+500, time.Hour+1, time.Minute+999
	fc, _ := addClient(t, f, fine)
	if got, err := f.svc.Client(ctx, fc.ID); err != nil || !reflect.DeepEqual(got, fc) || fc.AccessTTL != 90*time.Second {
		t.Errorf("stored %+v, %v\nreturned %+v", got, err, fc)
	}

	_, _, err = f.svc.AddClient(ctx, session.ClientSpec{Name: "Bad", RedirectURIs: []string{"http://app.example.com/cb"}})
	wantCode(t, err, baton.EInvalidRequest)
	cs, err := f.svc.Clients(ctx, "", 0)
	if err != nil || len(cs) != 4 {
		t.Fatalf("Clients after a refused registration: %d, %v; want the 4 good ones", len(cs), err)
	}
	for _, c := range cs {
		if c.Name == "Bad" {
			t.Error("a refused registration was stored")
		}
	}
	_, err = f.svc.Client(ctx, "no-such-client")
	wantCode(t, err, baton.ENotFound)
	_, err = f.svc.Client(ctx, strings.Repeat("x", 10000))
	wantCode(t, err, baton.ENotFound)
}

// TestClientsPaging: Clients pages by id.
func TestClientsPaging(t *testing.T) {
	f := newFixture(t, nil)
	var ids []string
	for i := range 5 {
		c, _ := addClient(t, f, webSpec(fmt.Sprint("app ", i)))
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	var got []string
	for after := ""; ; {
		page, err := f.svc.Clients(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("page of %d, limit 2", len(page))
		}
		for _, c := range page {
			got = append(got, c.ID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, ids) {
		t.Errorf("paged ids %v, want %v", got, ids)
	}
}

// TestAuthenticateClient: every outcome of a token-endpoint client
// authentication against stored clients.
func TestAuthenticateClient(t *testing.T) {
	f := newFixture(t, nil)
	conf, secret := addClient(t, f, webSpec("Web app"))
	pub, _ := addClient(t, f, session.ClientSpec{Name: "CLI", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}})
	tests := []struct {
		name           string
		id, secret, by string
		want           *baton.OAuthClient // nil: invalid_client
	}{
		{"Basic", conf.ID, secret, session.AuthClientSecretBasic, conf},
		{"Post", conf.ID, secret, session.AuthClientSecretPost, conf},
		{"WrongSecret", conf.ID, wrongLast(secret), session.AuthClientSecretBasic, nil},
		{"MissingSecret", conf.ID, "", session.AuthClientSecretPost, nil},
		{"ConfidentialNone", conf.ID, "", session.AuthNone, nil},
		{"OtherClientsSecret", pub.ID, secret, session.AuthClientSecretBasic, nil},
		{"UnknownMethod", conf.ID, secret, "tls_client_auth", nil},
		{"PublicNone", pub.ID, "", session.AuthNone, pub},
		{"PublicSendsSecret", pub.ID, "anything", session.AuthClientSecretPost, nil},
		{"PublicNoneWithSecret", pub.ID, "anything", session.AuthNone, nil},
		{"UnknownClient", "no-such-client", secret, session.AuthClientSecretBasic, nil},
		{"UnknownClientNone", "no-such-client", "", session.AuthNone, nil},
		{"EmptyID", "", "", session.AuthNone, nil},
		{"HugeID", strings.Repeat("x", 100000), secret, session.AuthClientSecretBasic, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.svc.AuthenticateClient(ctx, tt.id, tt.secret, tt.by)
			if tt.want == nil {
				wantCode(t, err, baton.EInvalidClient)
				if c != nil {
					t.Error("a failed authentication returned a client")
				}
				return
			}
			if err != nil || c == nil || c.ID != tt.want.ID {
				t.Fatalf("got %+v, %v; want client %s", c, err, tt.want.ID)
			}
		})
	}
}

// TestUpdateClient: an update changes what it names, keeps the secret and
// the creation time, refuses to turn a client public or confidential, and
// a refused update changes nothing.
func TestUpdateClient(t *testing.T) {
	f := newFixture(t, nil)
	c, secret := addClient(t, f, webSpec("Web app"))
	f.clock.Advance(time.Minute)
	u, err := f.svc.UpdateClient(ctx, c.ID, func(s *session.ClientSpec) {
		s.Name = "Renamed"
		s.RedirectURIs = []string{"https://new.example.com/cb", "https://new.example.com/cb2"}
		s.FirstParty = true
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Client(ctx, c.ID)
	if err != nil || !reflect.DeepEqual(got, u) {
		t.Fatalf("stored %+v, %v\nreturned %+v", got, err, u)
	}
	if got.Name != "Renamed" || len(got.RedirectURIs) != 2 || !got.FirstParty || !slices.Equal(got.Scopes, c.Scopes) ||
		!got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0.Add(time.Minute)) || !bytes.Equal(got.SecretHash, c.SecretHash) {
		t.Errorf("after update: %+v", got)
	}
	if _, err := f.svc.AuthenticateClient(ctx, c.ID, secret, session.AuthClientSecretBasic); err != nil {
		t.Errorf("the secret stopped working after an update: %v", err)
	}

	for name, apply := range map[string]func(*session.ClientSpec){
		"TurnPublic":  func(s *session.ClientSpec) { s.Public = true },
		"BadURI":      func(s *session.ClientSpec) { s.RedirectURIs = []string{"https://new.example.com/cb#frag"} },
		"NoURI":       func(s *session.ClientSpec) { s.RedirectURIs = nil },
		"RefreshOnly": func(s *session.ClientSpec) { s.GrantTypes = []string{baton.GrantRefreshToken} },
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.svc.UpdateClient(ctx, c.ID, apply)
			wantCode(t, err, baton.EInvalidRequest)
			if after, _ := f.svc.Client(ctx, c.ID); !reflect.DeepEqual(after, got) {
				t.Errorf("a refused update changed the client:\n%+v\nwas %+v", after, got)
			}
		})
	}
	_, err = f.svc.UpdateClient(ctx, "no-such-client", func(s *session.ClientSpec) { s.Name = "x" })
	wantCode(t, err, baton.ENotFound)
}

// TestRotateClientSecret: the new secret works and the old one fails at
// once; a public client has no secret to rotate.
func TestRotateClientSecret(t *testing.T) {
	f := newFixture(t, nil)
	c, old := addClient(t, f, webSpec("Web app"))
	f.clock.Advance(time.Minute)
	fresh, err := f.svc.RotateClientSecret(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == old || !strings.HasPrefix(fresh, "bcs_") {
		t.Fatalf("new secret %q (old %q)", fresh, old)
	}
	_, err = f.svc.AuthenticateClient(ctx, c.ID, old, session.AuthClientSecretBasic)
	wantCode(t, err, baton.EInvalidClient)
	if _, err := f.svc.AuthenticateClient(ctx, c.ID, fresh, session.AuthClientSecretBasic); err != nil {
		t.Errorf("the new secret: %v", err)
	}
	if got, _ := f.svc.Client(ctx, c.ID); got == nil || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("UpdatedAt after the rotation: %+v", got)
	}

	pub, _ := addClient(t, f, session.ClientSpec{Name: "CLI", Public: true, RedirectURIs: []string{"http://127.0.0.1/cb"}})
	_, err = f.svc.RotateClientSecret(ctx, pub.ID)
	wantCode(t, err, baton.EInvalidRequest)
	if got, _ := f.svc.Client(ctx, pub.ID); got == nil || !got.Public() {
		t.Error("a refused rotation gave the public client a secret")
	}
	_, err = f.svc.RotateClientSecret(ctx, "no-such-client")
	wantCode(t, err, baton.ENotFound)
}

// TestDeleteClient: deleting a client revokes every session issued to it,
// of every user — their access tokens fail at once — through the one
// revocation path (reason client_deleted, one audit event), and leaves
// other clients' sessions alone.
func TestDeleteClient(t *testing.T) {
	var mu sync.Mutex
	var events []session.Event
	f := newFixture(t, func(c *session.Config) {
		c.Observer = func(e session.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	})
	c, secret := addClient(t, f, webSpec("Web app"))
	other, _ := addClient(t, f, webSpec("Other app"))
	f.user(t, "alice")
	f.user(t, "bob")
	login := func(name, clientID string) *session.Grant {
		g, err := f.svc.Login(ctx, session.LoginRequest{Username: name, Password: pw, ClientID: clientID}, cl)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	doomed := []*session.Grant{login("alice", c.ID), login("bob", c.ID)}
	kept := []*session.Grant{login("alice", other.ID), login("bob", "")}

	if err := f.svc.DeleteClient(ctx, c.ID, cl); err != nil {
		t.Fatal(err)
	}
	for _, g := range doomed {
		_, err := f.svc.Authenticate(g.AccessToken)
		wantCode(t, err, baton.EInvalidToken)
		s, err := f.store.Session(ctx, g.Session.ID)
		if err != nil || s.RevokedAt.IsZero() || s.RevokeReason != baton.ReasonClientDeleted {
			t.Errorf("session of the deleted client: %+v, %v", s, err)
		}
	}
	for _, g := range kept {
		if _, err := f.svc.Authenticate(g.AccessToken); err != nil {
			t.Errorf("another client's session was revoked: %v", err)
		}
	}
	_, err := f.svc.Client(ctx, c.ID)
	wantCode(t, err, baton.ENotFound)
	_, err = f.svc.AuthenticateClient(ctx, c.ID, secret, session.AuthClientSecretBasic)
	wantCode(t, err, baton.EInvalidClient)

	mu.Lock()
	var deleted []session.Event
	for _, e := range events {
		if e.Type == session.EventClientDeleted {
			deleted = append(deleted, e)
		}
	}
	mu.Unlock()
	if len(deleted) != 1 || !strings.Contains(deleted[0].Detail, c.ID) || deleted[0].Client != cl {
		t.Errorf("client_deleted events: %+v", deleted)
	}

	err = f.svc.DeleteClient(ctx, c.ID, cl)
	wantCode(t, err, baton.ENotFound)
	err = f.svc.DeleteClient(ctx, strings.Repeat("x", 10000), cl)
	wantCode(t, err, baton.ENotFound)
}

// TestClientAccessTTLCoversRevocations: a client whose access tokens live
// longer than the server's raises the longest access-token lifetime on
// the store, so a revocation outlives the client's tokens.
func TestClientAccessTTLCoversRevocations(t *testing.T) {
	f := newFixture(t, nil) // 5m
	spec := webSpec("Long")
	spec.AccessTTL = 2 * time.Hour
	addClient(t, f, spec)
	if got := f.svc.MaxAccessTTL(); got != 2*time.Hour {
		t.Errorf("MaxAccessTTL after adding the client: %v, want 2h", got)
	}
	c, _ := addClient(t, f, webSpec("Short"))
	if _, err := f.svc.UpdateClient(ctx, c.ID, func(s *session.ClientSpec) { s.AccessTTL = 3 * time.Hour }); err != nil {
		t.Fatal(err)
	}
	if got := f.svc.MaxAccessTTL(); got != 3*time.Hour {
		t.Errorf("MaxAccessTTL after updating a client: %v, want 3h", got)
	}
	// Another instance on the store learns it at start.
	again := newFixtureOn(t, f.store, nil)
	if got := again.svc.MaxAccessTTL(); got != 3*time.Hour {
		t.Errorf("MaxAccessTTL of another instance: %v, want 3h", got)
	}
}

// wrongLast returns secret with its last character changed (to one it is
// not: a random secret ends in "A" one time in 64).
func wrongLast(secret string) string {
	if strings.HasSuffix(secret, "A") {
		return secret[:len(secret)-1] + "B"
	}
	return secret[:len(secret)-1] + "A"
}
