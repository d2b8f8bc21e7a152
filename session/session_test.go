package session_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/session"
)

var (
	ctx = context.Background()
	t0  = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cl  = session.Client{IP: "192.0.2.1", UserAgent: "test"}
)

const pw = "correct horse battery staple"

type fixture struct {
	svc   *session.Service
	clock *batontest.Clock
	store baton.Store
}

func newFixture(t *testing.T, mod func(*session.Config)) *fixture {
	t.Helper()
	store := batontest.OpenSQLite(t)
	return newFixtureOn(t, store, mod)
}

func newFixtureOn(t *testing.T, store baton.Store, mod func(*session.Config)) *fixture {
	t.Helper()
	clock := batontest.NewClock(t0)
	cfg := session.Config{
		Issuer:     "https://auth.example.com",
		AccessTTL:  5 * time.Minute,
		RefreshTTL: 30 * 24 * time.Hour,
		IdleTTL:    7 * 24 * time.Hour,
		ReuseGrace: 10 * time.Second,
		FreshTTL:   15 * time.Minute,
		Hasher:     password.NewHasher(batontest.CheapPasswords, 4),
		Now:        clock.Now,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := session.New(ctx, store, cfg)
	if err != nil {
		t.Fatalf("session.New: %v", err)
	}
	t.Cleanup(svc.Close)
	return &fixture{svc: svc, clock: clock, store: store}
}

func (f *fixture) user(t *testing.T, name string) *baton.User {
	t.Helper()
	u, err := f.svc.Register(ctx, session.RegisterRequest{Username: name, Password: pw}, cl)
	if err != nil {
		t.Fatalf("Register(%q): %v", name, err)
	}
	return u
}

func (f *fixture) login(t *testing.T, name string) *session.Grant {
	t.Helper()
	g, err := f.svc.Login(ctx, session.LoginRequest{Username: name, Password: pw}, cl)
	if err != nil {
		t.Fatalf("Login(%q): %v", name, err)
	}
	return g
}

func (f *fixture) refresh(rt string) (*session.Grant, error) {
	return f.svc.Refresh(ctx, session.RefreshRequest{RefreshToken: rt}, cl)
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := baton.ErrorCode(err); got != code {
		t.Fatalf("error code: got %q (%v), want %q", got, err, code)
	}
}

func TestRegister(t *testing.T) {
	f := newFixture(t, nil)
	f.user(t, "Alice@Example.com")
	addr := func(s string) *string { return &s }
	tests := []struct {
		name      string
		username  string
		password  string
		email     *string
		wantCode  string
		wantEmail string // the stored address, "" for none
	}{
		{"OK", "bob", pw, nil, "", ""},
		{"OKUnicode", "  Zoë  ", pw, nil, "", ""},
		{"UsernameTakenOtherCase", "ALICE@example.COM", pw, nil, baton.EUsernameTaken, ""},
		{"UsernameTakenNFD", "Zoe\u0308", pw, nil, baton.EUsernameTaken, ""},
		{"EmptyUsername", "   ", pw, nil, baton.EInvalidUsername, ""},
		{"ControlCharacter", "eve\x00", pw, nil, baton.EInvalidUsername, ""},
		{"TooLong", string(make([]byte, 255)), pw, nil, baton.EInvalidUsername, ""},
		{"ShortPassword", "carol", "short", nil, baton.EWeakPassword, ""},
		{"CommonPassword", "carol", "password123", nil, baton.EWeakPassword, ""},
		{"PasswordIsUsername", "carol-the-user", "Carol-The-User", nil, baton.EWeakPassword, ""},
		{"PasswordTooLong", "carol", string(make([]byte, 1025)), nil, baton.EWeakPassword, ""},

		{"Email", "dave", pw, addr(" Dave@Example.org "), "", "Dave@Example.org"},
		{"UsernameIsEmail", " Erin@Example.net ", pw, nil, "", "Erin@Example.net"},
		{"UsernameNotAnAddress", "frank@localhost", pw, nil, "", ""},
		{"EmailOverridesUsername", "gina@example.com", pw, addr("g@example.org"), "", "g@example.org"},
		// Alice's address is her username; Dave's was given.
		{"EmailTakenOtherCase", "hank", pw, addr("ALICE@EXAMPLE.COM"), baton.EEmailTaken, ""},
		{"UsernameEmailTaken", "dave@example.ORG", pw, nil, baton.EEmailTaken, ""},
		{"InvalidEmail", "ivan", pw, addr("ivan@localhost"), baton.EInvalidEmail, ""},
		{"EmptyEmail", "ivan", pw, addr(""), baton.EInvalidEmail, ""},
		{"HeaderInjection", "ivan", pw, addr("ivan@example.com\r\nBcc: x@example.com"), baton.EInvalidEmail, ""},
		// An invalid explicit address is refused even when the username is one.
		{"InvalidEmailValidUsername", "ivan@example.com", pw, addr("Ivan <ivan@example.com>"), baton.EInvalidEmail, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := f.svc.Register(ctx, session.RegisterRequest{Username: tt.username, Password: tt.password, Email: tt.email}, cl)
			wantCode(t, err, tt.wantCode)
			if err != nil {
				return
			}
			if u.ID == "" {
				t.Fatalf("got empty user id")
			}
			stored, err := f.store.UserByID(ctx, u.ID)
			if err != nil {
				t.Fatalf("UserByID: %v", err)
			}
			for _, got := range []*baton.User{u, stored} {
				if got.Email != tt.wantEmail || got.CanonicalEmail != strings.ToLower(tt.wantEmail) || got.EmailVerified {
					t.Errorf("email: got %q, %q, verified %v, want %q, %q, false",
						got.Email, got.CanonicalEmail, got.EmailVerified, tt.wantEmail, strings.ToLower(tt.wantEmail))
				}
			}
		})
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t, nil)
	u := f.user(t, "alice")
	t.Run("OK", func(t *testing.T) {
		g := f.login(t, "ALICE")
		c, err := f.svc.Authenticate(g.AccessToken)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if c.Subject != u.ID || c.SessionID != g.Session.ID || !c.Fresh || !c.AuthTime.Equal(t0) {
			t.Fatalf("claims: got %+v", c)
		}
		if got, want := g.ExpiresIn(), int64(300); got != want {
			t.Fatalf("expires_in: got %d, want %d", got, want)
		}
		if got, want := g.RefreshExpiresIn(), int64(30*24*3600); got != want {
			t.Fatalf("refresh_token_expires_in: got %d, want %d", got, want)
		}
	})
	for _, tt := range []struct{ name, user, pass string }{
		{"WrongPassword", "alice", "wrong password!"},
		{"UnknownUser", "nobody", pw},
		{"InvalidUsername", "", pw},
		{"HugePassword", "alice", string(make([]byte, 5000))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Login(ctx, session.LoginRequest{Username: tt.user, Password: tt.pass}, cl)
			wantCode(t, err, baton.EInvalidCredentials)
		})
	}
	t.Run("Locked", func(t *testing.T) {
		g := f.login(t, "alice")
		if err := f.svc.LockUser(ctx, u.ID, cl); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw}, cl)
		wantCode(t, err, baton.EInvalidCredentials)
		_, err = f.refresh(g.RefreshToken)
		wantCode(t, err, baton.EInvalidGrant)
		if err := f.svc.UnlockUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		f.login(t, "alice")
	})
	t.Run("BadTransport", func(t *testing.T) {
		_, err := f.svc.Login(ctx, session.LoginRequest{Username: "alice", Password: pw, Transport: "carrier-pigeon"}, cl)
		wantCode(t, err, baton.EInvalidRequest)
	})
}

func TestLoginRehashesOldParameters(t *testing.T) {
	store := batontest.OpenSQLite(t)
	old := newFixtureOn(t, store, nil)
	u := old.user(t, "alice")
	stronger := batontest.CheapPasswords
	stronger.Time = 2
	f := newFixtureOn(t, store, func(c *session.Config) { c.Hasher = password.NewHasher(stronger, 1) })
	f.login(t, "alice")
	got, err := store.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash == u.PasswordHash {
		t.Fatalf("password hash was not upgraded")
	}
	f.login(t, "alice")
}

func TestRefreshRotation(t *testing.T) {
	f := newFixture(t, nil)
	f.user(t, "alice")
	g := f.login(t, "alice")

	f.clock.Advance(time.Minute)
	g2, err := f.refresh(g.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if g2.RefreshToken == g.RefreshToken || g2.Session.ID != g.Session.ID {
		t.Fatalf("rotation: got token %q session %q", g2.RefreshToken, g2.Session.ID)
	}
	if g2.Claims.Fresh {
		t.Fatalf("a refreshed token must not be fresh")
	}
	if got, want := g2.RefreshExpiresIn(), g.RefreshExpiresIn()-60; got != want {
		t.Fatalf("refresh_token_expires_in: got %d, want %d (absolute expiry must not move)", got, want)
	}
	if !g2.Claims.AuthTime.Equal(t0) {
		t.Fatalf("auth_time: got %v, want the login time %v", g2.Claims.AuthTime, t0)
	}
	if _, err := f.svc.Authenticate(g2.AccessToken); err != nil {
		t.Fatalf("new access token: %v", err)
	}
	// The old access token is still valid until it expires: rotation is
	// not revocation.
	if _, err := f.svc.Authenticate(g.AccessToken); err != nil {
		t.Fatalf("old access token: %v", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.refresh(g2.RefreshToken); err != nil {
		t.Fatalf("second refresh: %v", err)
	}
}

func TestRefreshExpiry(t *testing.T) {
	tests := []struct {
		name string
		// steps between refreshes; the last refresh's outcome is checked
		steps    []time.Duration
		wantCode string
	}{
		{"IdleSlides", []time.Duration{6 * 24 * time.Hour, 6 * 24 * time.Hour, 6 * 24 * time.Hour}, ""},
		{"IdleExpired", []time.Duration{7*24*time.Hour + time.Second}, baton.EInvalidGrant},
		{"IdleExpiresExactly", []time.Duration{7 * 24 * time.Hour}, baton.EInvalidGrant},
		{"AbsoluteNeverMoves", []time.Duration{6 * 24 * time.Hour, 6 * 24 * time.Hour, 6 * 24 * time.Hour, 6 * 24 * time.Hour, 6 * 24 * time.Hour}, baton.EInvalidGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.user(t, "alice")
			rt := f.login(t, "alice").RefreshToken
			var err error
			for i, d := range tt.steps {
				f.clock.Advance(d)
				var g *session.Grant
				g, err = f.refresh(rt)
				if err != nil && i < len(tt.steps)-1 {
					t.Fatalf("step %d: %v", i, err)
				}
				if err == nil {
					rt = g.RefreshToken
					if g.AccessExpiresAt.After(g.Session.ExpiresAt) {
						t.Fatalf("access token outlives its session")
					}
				}
			}
			wantCode(t, err, tt.wantCode)
		})
	}
}

func TestRefreshReuse(t *testing.T) {
	t.Run("GraceReplayGetsSameSuccessor", func(t *testing.T) {
		f := newFixture(t, nil)
		f.user(t, "alice")
		g := f.login(t, "alice")
		g2, err := f.refresh(g.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(10 * time.Second)
		g3, err := f.refresh(g.RefreshToken)
		if err != nil {
			t.Fatalf("replay within grace: %v", err)
		}
		if g3.RefreshToken != g2.RefreshToken {
			t.Fatalf("replay got another successor")
		}
		if _, err := f.refresh(g2.RefreshToken); err != nil {
			t.Fatalf("successor after replay: %v", err)
		}
	})
	t.Run("ReplayAfterSuccessorSpentRevokes", func(t *testing.T) {
		f := newFixture(t, nil)
		f.user(t, "alice")
		g := f.login(t, "alice")
		g2, _ := f.refresh(g.RefreshToken)
		g3, err := f.refresh(g2.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.refresh(g.RefreshToken)
		wantCode(t, err, baton.EInvalidGrant)
		_, err = f.refresh(g3.RefreshToken)
		wantCode(t, err, baton.EInvalidGrant)
		_, err = f.svc.Authenticate(g3.AccessToken)
		wantCode(t, err, baton.EInvalidToken)
	})
	for _, tt := range []struct {
		name  string
		grace time.Duration
		wait  time.Duration
	}{
		{"OutsideGrace", 10 * time.Second, 11 * time.Second},
		{"GraceDisabled", 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *session.Config) { c.ReuseGrace = tt.grace })
			f.user(t, "alice")
			g := f.login(t, "alice")
			g2, err := f.refresh(g.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(tt.wait)
			_, err = f.refresh(g.RefreshToken)
			wantCode(t, err, baton.EInvalidGrant)
			// The whole family is dead, the newest token included, for
			// good: presenting it again does not revive the session.
			for i := 0; i < 2; i++ {
				_, err = f.refresh(g2.RefreshToken)
				wantCode(t, err, baton.EInvalidGrant)
			}
			for _, at := range []string{g.AccessToken, g2.AccessToken} {
				_, err = f.svc.Authenticate(at)
				wantCode(t, err, baton.EInvalidToken)
			}
			sess, err := f.store.Session(ctx, g.Session.ID)
			if err != nil || sess.RevokeReason != baton.ReasonReuse {
				t.Fatalf("session: got %+v, %v; want revoked for reuse", sess, err)
			}
		})
	}
}

func TestRefreshAccessTokenBinding(t *testing.T) {
	f := newFixture(t, nil)
	f.user(t, "alice")
	a := f.login(t, "alice")
	b := f.login(t, "alice")
	f.clock.Advance(time.Hour) // both access tokens expired
	_, err := f.svc.Refresh(ctx, session.RefreshRequest{RefreshToken: a.RefreshToken, AccessToken: b.AccessToken}, cl)
	wantCode(t, err, baton.EInvalidGrant)
	_, err = f.svc.Refresh(ctx, session.RefreshRequest{RefreshToken: a.RefreshToken, AccessToken: "not.a.jwt"}, cl)
	wantCode(t, err, baton.EInvalidGrant)
	if _, err := f.svc.Refresh(ctx, session.RefreshRequest{RefreshToken: a.RefreshToken, AccessToken: a.AccessToken}, cl); err != nil {
		t.Fatalf("refresh with the session's expired access token: %v", err)
	}
}

func TestRefreshInvalid(t *testing.T) {
	f := newFixture(t, nil)
	f.user(t, "alice")
	g := f.login(t, "alice")
	for _, rt := range []string{"", "brt_", "brt_" + "A", g.AccessToken, "brt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		_, err := f.refresh(rt)
		wantCode(t, err, baton.EInvalidGrant)
	}
}

// TestConcurrentRefresh presents one refresh token from many goroutines at
// once, like racing tabs: with a grace window all get the same successor;
// without one at most one succeeds and the session ends up revoked.
func TestConcurrentRefresh(t *testing.T) {
	const n = 24
	for _, tt := range []struct {
		name  string
		grace time.Duration
	}{{"WithGrace", 10 * time.Second}, {"GraceZero", 0}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *session.Config) { c.ReuseGrace = tt.grace })
			f.user(t, "alice")
			g := f.login(t, "alice")
			var wg sync.WaitGroup
			results := make([]string, n)
			errs := make([]error, n)
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					g2, err := f.refresh(g.RefreshToken)
					errs[i] = err
					if err == nil {
						results[i] = g2.RefreshToken
					}
				}()
			}
			close(start)
			wg.Wait()
			ok := 0
			succ := map[string]bool{}
			for i := range results {
				if errs[i] == nil {
					ok++
					succ[results[i]] = true
				} else if c := baton.ErrorCode(errs[i]); c != baton.EInvalidGrant {
					t.Fatalf("unexpected error: %v", errs[i])
				}
			}
			if tt.grace > 0 {
				if ok != n || len(succ) != 1 {
					t.Fatalf("got %d successes with %d distinct successors, want %d and 1", ok, len(succ), n)
				}
				return
			}
			if ok > 1 {
				t.Fatalf("got %d successes, want at most 1", ok)
			}
			sess, err := f.store.Session(ctx, g.Session.ID)
			if err != nil || sess.RevokedAt.IsZero() {
				t.Fatalf("session not revoked after a raced reuse: %+v %v", sess, err)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	tests := []struct {
		scope       string
		wantRevoked []bool // caller, other
	}{
		{"", []bool{true, false}},
		{session.ScopeLocal, []bool{true, false}},
		{session.ScopeGlobal, []bool{true, true}},
		{session.ScopeOthers, []bool{false, true}},
	}
	for _, tt := range tests {
		t.Run("Scope="+tt.scope, func(t *testing.T) {
			f := newFixture(t, nil)
			f.user(t, "alice")
			f.user(t, "bob")
			me, other, bob := f.login(t, "alice"), f.login(t, "alice"), f.login(t, "bob")
			c, err := f.svc.Authenticate(me.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.svc.Logout(ctx, session.LogoutRequest{Claims: c, Scope: tt.scope}, cl); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			for i, g := range []*session.Grant{me, other} {
				_, err := f.svc.Authenticate(g.AccessToken)
				if revoked := err != nil; revoked != tt.wantRevoked[i] {
					t.Fatalf("session %d revoked: got %v, want %v", i, revoked, tt.wantRevoked[i])
				}
				_, err = f.refresh(g.RefreshToken)
				if revoked := err != nil; revoked != tt.wantRevoked[i] {
					t.Fatalf("session %d refresh refused: got %v, want %v", i, revoked, tt.wantRevoked[i])
				}
			}
			if _, err := f.svc.Authenticate(bob.AccessToken); err != nil {
				t.Fatalf("another user's session was touched: %v", err)
			}
			// Logging out again with a token of the revoked session is fine.
			if tt.wantRevoked[0] {
				if err := f.svc.Logout(ctx, session.LogoutRequest{Claims: c, Scope: tt.scope}, cl); err != nil {
					t.Fatalf("second Logout: %v", err)
				}
				if err := f.svc.Logout(ctx, session.LogoutRequest{RefreshToken: me.RefreshToken}, cl); err != nil {
					t.Fatalf("Logout with the revoked session's refresh token: %v", err)
				}
			}
		})
	}
	t.Run("ByRefreshToken", func(t *testing.T) {
		f := newFixture(t, nil)
		f.user(t, "alice")
		g := f.login(t, "alice")
		if err := f.svc.Logout(ctx, session.LogoutRequest{RefreshToken: g.RefreshToken}, cl); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Authenticate(g.AccessToken)
		wantCode(t, err, baton.EInvalidToken)
	})
	t.Run("BadScope", func(t *testing.T) {
		f := newFixture(t, nil)
		f.user(t, "alice")
		g := f.login(t, "alice")
		err := f.svc.Logout(ctx, session.LogoutRequest{RefreshToken: g.RefreshToken, Scope: "everything"}, cl)
		wantCode(t, err, baton.EInvalidRequest)
	})
	t.Run("UnknownRefreshToken", func(t *testing.T) {
		f := newFixture(t, nil)
		err := f.svc.Logout(ctx, session.LogoutRequest{RefreshToken: "brt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, cl)
		wantCode(t, err, baton.EInvalidToken)
	})
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t, nil)
	f.user(t, "alice")
	g := f.login(t, "alice")
	t.Run("RefreshTokenAsAccessToken", func(t *testing.T) {
		_, err := f.svc.Authenticate(g.RefreshToken)
		wantCode(t, err, baton.EInvalidToken)
	})
	t.Run("WithinLeeway", func(t *testing.T) {
		f.clock.Advance(5*time.Minute + 4*time.Second)
		if _, err := f.svc.Authenticate(g.AccessToken); err != nil {
			t.Fatalf("got %v, want valid within 5 s of leeway", err)
		}
	})
	t.Run("Expired", func(t *testing.T) {
		f.clock.Advance(2 * time.Second)
		_, err := f.svc.Authenticate(g.AccessToken)
		wantCode(t, err, baton.ETokenExpired)
	})
}

// TestRevocationAcrossInstances: a session revoked through one instance is
// refused by another on the same store after its catch-up sync.
func TestRevocationAcrossInstances(t *testing.T) {
	store := batontest.OpenSQLite(t)
	a := newFixtureOn(t, store, nil)
	b := newFixtureOn(t, store, nil)
	a.user(t, "alice")
	g := a.login(t, "alice")
	if _, err := b.svc.Authenticate(g.AccessToken); err != nil {
		t.Fatalf("instance b does not accept instance a's token: %v", err)
	}
	c, _ := a.svc.Authenticate(g.AccessToken)
	if err := a.svc.Logout(ctx, session.LogoutRequest{Claims: c}, cl); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.SyncRevocations(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := b.svc.Authenticate(g.AccessToken)
	wantCode(t, err, baton.EInvalidToken)
	// A restarted instance loads the revocation at start.
	c2 := newFixtureOn(t, store, nil)
	_, err = c2.svc.Authenticate(g.AccessToken)
	wantCode(t, err, baton.EInvalidToken)
}

func TestFreshness(t *testing.T) {
	f := newFixture(t, nil)
	f.user(t, "alice")
	g := f.login(t, "alice")
	c, _ := f.svc.Authenticate(g.AccessToken)
	if err := f.svc.RequireFresh(c); err != nil {
		t.Fatalf("login token not fresh: %v", err)
	}
	f.clock.Advance(15*time.Minute + time.Second)
	wantCode(t, f.svc.RequireFresh(c), baton.EInsufficientUserAuth)
	g2, err := f.refresh(g.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.svc.RequireFresh(g2.Claims), baton.EInsufficientUserAuth)
	_, err = f.svc.Reauth(ctx, g2.Claims, "wrong password!", cl)
	wantCode(t, err, baton.EInvalidCredentials)
	r, err := f.svc.Reauth(ctx, g2.Claims, pw, cl)
	if err != nil {
		t.Fatal(err)
	}
	if r.RefreshToken != "" || r.Session.ID != g.Session.ID {
		t.Fatalf("reauth: got refresh %q session %q", r.RefreshToken, r.Session.ID)
	}
	if err := f.svc.RequireFresh(r.Claims); err != nil {
		t.Fatalf("reauth token not fresh: %v", err)
	}
	g3, err := f.refresh(g2.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if !g3.Claims.AuthTime.Equal(f.clock.Now().Truncate(time.Second)) {
		t.Fatalf("auth_time after reauth: got %v, want %v", g3.Claims.AuthTime, f.clock.Now())
	}
}

func TestProfile(t *testing.T) {
	f := newFixture(t, nil)
	u := f.user(t, "Alice")
	g := f.login(t, "alice")
	for i := 0; i < 2; i++ { // a miss, then a hit
		p, err := f.svc.Profile(ctx, g.Claims)
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != u.ID || p.Username != "Alice" || !p.CreatedAt.Equal(u.CreatedAt) || p.PasswordHash != "" {
			t.Fatalf("profile: got %+v", p)
		}
	}
	if err := f.svc.DeleteAccount(ctx, g.Claims, cl); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Profile(ctx, g.Claims); baton.ErrorCode(err) != baton.EInvalidToken {
		t.Fatalf("profile of a deleted user: got %v, want invalid_token", err)
	}
}
