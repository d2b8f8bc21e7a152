package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// The OpenID provider's cases: registered clients, consents, the
// revocation of a single-sign-on session with the sessions it issued,
// back-channel logout tokens enqueued by every revocation, and the code
// flow's one-time secrets (authorization codes, pushed requests).

// newClient returns a confidential client with every field set, each
// distinct so swapped columns show.
func newClient(id string) *baton.OAuthClient {
	return &baton.OAuthClient{
		ID:                     id,
		Name:                   "Client " + id,
		SecretHash:             hash("secret-" + id),
		RedirectURIs:           []string{"https://" + id + ".example/cb", "http://127.0.0.1:8080/cb"},
		PostLogoutRedirectURIs: []string{"https://" + id + ".example/bye"},
		BackchannelLogoutURI:   "https://" + id + ".example/backchannel",
		FirstParty:             true,
		RequirePAR:             true,
		Scopes:                 []string{baton.ScopeOpenID, baton.ScopeProfile, baton.ScopeEmail},
		GrantTypes:             []string{baton.GrantAuthorizationCode, baton.GrantRefreshToken},
		IDTokenAlg:             baton.AlgES256,
		AccessTTL:              5*time.Minute + time.Microsecond,
		RefreshTTL:             30 * day,
		RefreshIdleTTL:         7*day + time.Second,
		CreatedAt:              t0,
		UpdatedAt:              t0.Add(time.Second),
	}
}

// newPublicClient returns a public client with only the required fields
// set.
func newPublicClient(id string) *baton.OAuthClient {
	return &baton.OAuthClient{
		ID:           id,
		Name:         "Public " + id,
		RedirectURIs: []string{"http://127.0.0.1/cb"},
		Scopes:       []string{baton.ScopeOpenID},
		GrantTypes:   []string{baton.GrantAuthorizationCode},
		IDTokenAlg:   baton.AlgRS256,
		CreatedAt:    t0,
		UpdatedAt:    t0,
	}
}

func mustCreateClient(t *testing.T, s baton.Store, c *baton.OAuthClient) {
	t.Helper()
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatalf("CreateClient(%q): got %v, want nil", c.ID, err)
	}
}

func mustClient(t *testing.T, s baton.Store, id string) *baton.OAuthClient {
	t.Helper()
	c, err := s.Client(ctx, id)
	if err != nil {
		t.Fatalf("Client(%q): got %v, want nil", id, err)
	}
	wantUTC(t, c)
	return c
}

func mustGrant(t *testing.T, s baton.Store, userID, clientID string, at time.Time, scopes ...string) {
	t.Helper()
	if err := s.GrantConsent(ctx, &baton.Consent{UserID: userID, ClientID: clientID, Scopes: scopes, GrantedAt: at}); err != nil {
		t.Fatalf("GrantConsent(%q, %q): got %v, want nil", userID, clientID, err)
	}
}

// clientSession returns a session of user for client.
func clientSession(userID, id, clientID string) *baton.Session {
	sess := newSession(userID, id, t0)
	sess.ClientID = clientID
	return sess
}

func testClientRoundTrip(t *testing.T, s baton.Store) {
	for _, c := range []*baton.OAuthClient{newClient("conf"), newPublicClient("pub")} {
		mustCreateClient(t, s, c)
		got := mustClient(t, s, c.ID)
		if d := diff(c, got); d != "" {
			t.Errorf("Client(%q) mismatch (-want +got):\n%s", c.ID, d)
		}
		if got.Public() != (c.SecretHash == nil) {
			t.Errorf("Client(%q).Public(): got %v, want %v", c.ID, got.Public(), c.SecretHash == nil)
		}
	}
	dup := newPublicClient("conf")
	wantCode(t, s.CreateClient(ctx, dup), baton.EConflict)
	if d := diff(newClient("conf"), mustClient(t, s, "conf")); d != "" {
		t.Errorf("client after a conflicting CreateClient (-want +got):\n%s", d)
	}
	_, err := s.Client(ctx, "nobody")
	wantCode(t, err, baton.ENotFound)
}

func testClientsPaging(t *testing.T, s baton.Store) {
	// Created out of order; listed by id in byte order ("B" before "a").
	for _, id := range []string{"c", "a", "B", "b", "d"} {
		mustCreateClient(t, s, newPublicClient(id))
	}
	for _, tt := range []struct {
		after string
		limit int
		want  []string
	}{
		{"", 2, []string{"B", "a"}},
		{"a", 2, []string{"b", "c"}},
		{"c", 2, []string{"d"}},
		{"d", 2, nil},
		{"", 10, []string{"B", "a", "b", "c", "d"}},
		{"", 0, nil},
	} {
		got, err := s.Clients(ctx, tt.after, tt.limit)
		if err != nil {
			t.Fatalf("Clients(%q, %d): got %v, want nil", tt.after, tt.limit, err)
		}
		var gotIDs []string
		for _, c := range got {
			wantUTC(t, c)
			gotIDs = append(gotIDs, c.ID)
			if d := diff(newPublicClient(c.ID), c); d != "" {
				t.Errorf("Clients: client %q mismatch (-want +got):\n%s", c.ID, d)
			}
		}
		if d := diff(tt.want, gotIDs); d != "" {
			t.Errorf("Clients(%q, %d) ids mismatch (-want +got):\n%s", tt.after, tt.limit, d)
		}
	}
}

func testClientUpdate(t *testing.T, s baton.Store) {
	orig := newClient("c1")
	mustCreateClient(t, s, orig)
	other := newClient("c2")
	mustCreateClient(t, s, other)

	// Every field changes but ID, SecretHash and CreatedAt, which the
	// update leaves as stored whatever it is given.
	up := newPublicClient("c1")
	up.Name = "Renamed"
	up.SecretHash = hash("not stored")
	up.PostLogoutRedirectURIs = []string{"https://new.example/bye"}
	up.BackchannelLogoutURI = "https://new.example/bc"
	up.AccessTTL, up.RefreshTTL, up.RefreshIdleTTL = time.Minute, time.Hour, 2*time.Hour
	up.CreatedAt = t0.Add(day)
	up.UpdatedAt = t0.Add(2 * day)
	if err := s.UpdateClient(ctx, up); err != nil {
		t.Fatalf("UpdateClient: got %v, want nil", err)
	}
	want := *up
	want.SecretHash, want.CreatedAt = orig.SecretHash, orig.CreatedAt
	if d := diff(&want, mustClient(t, s, "c1")); d != "" {
		t.Errorf("client after UpdateClient mismatch (-want +got):\n%s", d)
	}
	// And back: lists and flags that were empty are set again.
	back := newClient("c1")
	back.UpdatedAt = t0.Add(3 * day)
	if err := s.UpdateClient(ctx, back); err != nil {
		t.Fatalf("UpdateClient: got %v, want nil", err)
	}
	if d := diff(back, mustClient(t, s, "c1")); d != "" {
		t.Errorf("client after the second UpdateClient mismatch (-want +got):\n%s", d)
	}
	if d := diff(other, mustClient(t, s, "c2")); d != "" {
		t.Errorf("another client changed (-want +got):\n%s", d)
	}
	wantCode(t, s.UpdateClient(ctx, newClient("nobody")), baton.ENotFound)
	_, err := s.Client(ctx, "nobody")
	wantCode(t, err, baton.ENotFound)
}

func testClientSecret(t *testing.T, s baton.Store) {
	c := newClient("c1")
	mustCreateClient(t, s, c)
	at := t0.Add(time.Hour)
	if err := s.SetClientSecret(ctx, "c1", hash("new secret"), at); err != nil {
		t.Fatalf("SetClientSecret: got %v, want nil", err)
	}
	want := *c
	want.SecretHash, want.UpdatedAt = hash("new secret"), at
	if d := diff(&want, mustClient(t, s, "c1")); d != "" {
		t.Errorf("client after SetClientSecret mismatch (-want +got):\n%s", d)
	}
	// nil makes it public.
	if err := s.SetClientSecret(ctx, "c1", nil, at.Add(time.Hour)); err != nil {
		t.Fatalf("SetClientSecret(nil): got %v, want nil", err)
	}
	got := mustClient(t, s, "c1")
	if !got.Public() || !got.UpdatedAt.Equal(at.Add(time.Hour)) {
		t.Errorf("after SetClientSecret(nil): got public %v, UpdatedAt %v, want true, %v", got.Public(), got.UpdatedAt, at.Add(time.Hour))
	}
	wantCode(t, s.SetClientSecret(ctx, "nobody", hash("x"), at), baton.ENotFound)
}

// testClientDelete: deleting a client revokes its unrevoked sessions of
// every user, and its consents go; other clients' sessions and consents
// stay.
func testClientDelete(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	mustCreateUser(t, s, "u2")
	mustCreateClient(t, s, newClient("c1"))
	mustCreateClient(t, s, newClient("c2"))
	for _, sess := range []*baton.Session{
		clientSession("u1", "a", "c1"), clientSession("u1", "b", "c1"), clientSession("u2", "c", "c1"),
		clientSession("u1", "gone", "c1"), clientSession("u1", "other", "c2"), clientSession("u2", "v1", ""),
	} {
		mustCreateSession(t, s, sess, hash(sess.ID))
	}
	earlier := revoke(t0.Add(time.Minute), baton.ReasonLogout)
	mustRevoke(t, s, "gone", earlier)
	mustGrant(t, s, "u1", "c1", t0, baton.ScopeOpenID)
	mustGrant(t, s, "u2", "c1", t0, baton.ScopeOpenID)
	mustGrant(t, s, "u1", "c2", t0, baton.ScopeOpenID)

	r := revoke(t0.Add(time.Hour), baton.ReasonClientDeleted)
	got, err := s.DeleteClient(ctx, "c1", r)
	if err != nil {
		t.Fatalf("DeleteClient: got %v, want nil", err)
	}
	slices.Sort(got)
	if d := diff([]string{"a", "b", "c"}, got); d != "" {
		t.Errorf("DeleteClient ids mismatch (-want +got):\n%s", d)
	}
	wantRevoked(t, s, r, []string{"a", "b", "c"}, []string{"other", "v1"})
	wantRevoked(t, s, earlier, []string{"gone"}, nil)
	// The client's own id, the sid of its client_credentials tokens.
	if d := diffRevocations([]baton.Revocation{{SessionID: "c1", RevokedAt: r.Now, Until: r.Until}}, revocationsFor(t, s, "c1")); d != "" {
		t.Errorf("revocations of the client's id mismatch (-want +got):\n%s", d)
	}
	_, err = s.Client(ctx, "c1")
	wantCode(t, err, baton.ENotFound)
	for _, u := range []string{"u1", "u2"} {
		_, err = s.Consent(ctx, u, "c1")
		wantCode(t, err, baton.ENotFound)
	}
	if _, err := s.Consent(ctx, "u1", "c2"); err != nil {
		t.Errorf("another client's consent: got %v, want nil", err)
	}
	mustClient(t, s, "c2")

	// Gone: a second deletion changes nothing.
	_, err = s.DeleteClient(ctx, "c1", revoke(t0.Add(2*time.Hour), baton.ReasonClientDeleted))
	wantCode(t, err, baton.ENotFound)
	wantRevoked(t, s, r, []string{"a", "b", "c"}, []string{"other", "v1"})
	// The id is free again.
	mustCreateClient(t, s, newPublicClient("c1"))
}

func testConsentGrant(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	mustCreateClient(t, s, newClient("c1"))
	wantCode(t, s.GrantConsent(ctx, &baton.Consent{UserID: "nobody", ClientID: "c1", Scopes: []string{"openid"}, GrantedAt: t0}), baton.ENotFound)
	wantCode(t, s.GrantConsent(ctx, &baton.Consent{UserID: "u1", ClientID: "nobody", Scopes: []string{"openid"}, GrantedAt: t0}), baton.ENotFound)
	_, err := s.Consent(ctx, "u1", "c1")
	wantCode(t, err, baton.ENotFound)

	// Stored sorted, whatever the order given.
	mustGrant(t, s, "u1", "c1", t0, baton.ScopeProfile, baton.ScopeOpenID)
	want := &baton.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{baton.ScopeOpenID, baton.ScopeProfile}, GrantedAt: t0}
	got, err := s.Consent(ctx, "u1", "c1")
	if err != nil {
		t.Fatalf("Consent: got %v, want nil", err)
	}
	wantUTC(t, got)
	if d := diff(want, got); d != "" {
		t.Errorf("Consent mismatch (-want +got):\n%s", d)
	}

	// A second grant adds its scopes and moves GrantedAt.
	mustGrant(t, s, "u1", "c1", t0.Add(time.Hour), baton.ScopeOpenID, baton.ScopeEmail, baton.ScopeOfflineAccess)
	want = &baton.Consent{UserID: "u1", ClientID: "c1", GrantedAt: t0.Add(time.Hour),
		Scopes: []string{baton.ScopeEmail, baton.ScopeOfflineAccess, baton.ScopeOpenID, baton.ScopeProfile}}
	got, err = s.Consent(ctx, "u1", "c1")
	if err != nil {
		t.Fatalf("Consent: got %v, want nil", err)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("Consent after a second grant mismatch (-want +got):\n%s", d)
	}

	// Consents are not pruned, however old.
	if _, err := s.Prune(ctx, t0.Add(365*day), t0.Add(365*day), 1000); err != nil {
		t.Fatalf("Prune: got %v, want nil", err)
	}
	if got, err := s.Consent(ctx, "u1", "c1"); err != nil || diff(want, got) != "" {
		t.Errorf("Consent after Prune: got %+v, %v, want %+v", got, err, want)
	}
	mustClient(t, s, "c1")

	// They go with their user.
	if _, err := s.DeleteUser(ctx, "u1", revoke(t0.Add(2*time.Hour), baton.ReasonAccountDeleted)); err != nil {
		t.Fatalf("DeleteUser: got %v, want nil", err)
	}
	_, err = s.Consent(ctx, "u1", "c1")
	wantCode(t, err, baton.ENotFound)
}

// testConsentGrantConcurrent: concurrent grants for one user and client,
// the first included, each add their scopes; none is lost.
func testConsentGrantConcurrent(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	mustCreateClient(t, s, newClient("c1"))
	const n = 16
	want := []string{baton.ScopeOpenID}
	for i := range n {
		want = append(want, name("scope", i))
	}
	slices.Sort(want)
	errs := concurrently(n, func(i int) error {
		return s.GrantConsent(ctx, &baton.Consent{UserID: "u1", ClientID: "c1",
			Scopes: []string{name("scope", i), baton.ScopeOpenID}, GrantedAt: t0.Add(time.Duration(i) * time.Second)})
	})
	if got := codes(errs); got[""] != n {
		t.Fatalf("%d concurrent grants: got %v, want all nil", n, got)
	}
	got, err := s.Consent(ctx, "u1", "c1")
	if err != nil {
		t.Fatalf("Consent: got %v, want nil", err)
	}
	if d := diff(want, got.Scopes); d != "" {
		t.Errorf("scopes after %d concurrent grants (-want +got):\n%s", n, d)
	}
}

func testConsentsList(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	mustCreateUser(t, s, "u2")
	for _, id := range []string{"a", "b", "c", "d"} {
		mustCreateClient(t, s, newPublicClient(id))
	}
	// Granted in the order c, a, d; b to another user only.
	mustGrant(t, s, "u1", "c", t0, baton.ScopeOpenID)
	mustGrant(t, s, "u1", "a", t0.Add(time.Minute), baton.ScopeOpenID, baton.ScopeEmail)
	mustGrant(t, s, "u1", "d", t0.Add(2*time.Minute), baton.ScopeOpenID)
	mustGrant(t, s, "u2", "b", t0.Add(3*time.Minute), baton.ScopeOpenID)
	// A later grant of c moves it to the front.
	mustGrant(t, s, "u1", "c", t0.Add(4*time.Minute), baton.ScopeProfile)

	for _, tt := range []struct {
		user  string
		limit int
		want  []string
	}{
		{"u1", 10, []string{"c", "d", "a"}},
		{"u1", 2, []string{"c", "d"}},
		{"u1", 0, nil},
		{"u2", 10, []string{"b"}},
		{"nobody", 10, nil},
	} {
		got, err := s.Consents(ctx, tt.user, tt.limit)
		if err != nil {
			t.Fatalf("Consents(%q, %d): got %v, want nil", tt.user, tt.limit, err)
		}
		var gotIDs []string
		for _, c := range got {
			wantUTC(t, c)
			if c.UserID != tt.user {
				t.Errorf("Consents(%q): got a consent of %q", tt.user, c.UserID)
			}
			gotIDs = append(gotIDs, c.ClientID)
		}
		if d := diff(tt.want, gotIDs); d != "" {
			t.Errorf("Consents(%q, %d) mismatch (-want +got):\n%s", tt.user, tt.limit, d)
		}
	}
	got, err := s.Consents(ctx, "u1", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []*baton.Consent{{UserID: "u1", ClientID: "c", Scopes: []string{baton.ScopeOpenID, baton.ScopeProfile}, GrantedAt: t0.Add(4 * time.Minute)}}
	if d := diff(want, got); d != "" {
		t.Errorf("Consents(u1, 1) mismatch (-want +got):\n%s", d)
	}
}

// testConsentDelete: withdrawing a consent revokes the user's sessions of
// that client, and no other session.
func testConsentDelete(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	mustCreateUser(t, s, "u2")
	mustCreateClient(t, s, newClient("c1"))
	mustCreateClient(t, s, newClient("c2"))
	for _, sess := range []*baton.Session{
		clientSession("u1", "a", "c1"), clientSession("u1", "b", "c1"), clientSession("u1", "other", "c2"),
		clientSession("u2", "c", "c1"), clientSession("u1", "v1", ""),
	} {
		mustCreateSession(t, s, sess, hash(sess.ID))
	}
	mustGrant(t, s, "u1", "c1", t0, baton.ScopeOpenID)
	mustGrant(t, s, "u1", "c2", t0, baton.ScopeOpenID)
	mustGrant(t, s, "u2", "c1", t0, baton.ScopeOpenID)

	_, err := s.DeleteConsent(ctx, "u2", "c2", revoke(t0.Add(time.Minute), baton.ReasonConsentWithdrawn))
	wantCode(t, err, baton.ENotFound)
	r := revoke(t0.Add(time.Hour), baton.ReasonConsentWithdrawn)
	got, err := s.DeleteConsent(ctx, "u1", "c1", r)
	if err != nil {
		t.Fatalf("DeleteConsent: got %v, want nil", err)
	}
	slices.Sort(got)
	if d := diff([]string{"a", "b"}, got); d != "" {
		t.Errorf("DeleteConsent ids mismatch (-want +got):\n%s", d)
	}
	wantRevoked(t, s, r, []string{"a", "b"}, []string{"other", "c", "v1"})
	_, err = s.Consent(ctx, "u1", "c1")
	wantCode(t, err, baton.ENotFound)
	for _, k := range [][2]string{{"u1", "c2"}, {"u2", "c1"}} {
		if _, err := s.Consent(ctx, k[0], k[1]); err != nil {
			t.Errorf("Consent(%q, %q): got %v, want nil", k[0], k[1], err)
		}
	}
	// Withdrawn already: ENotFound, and nothing changes.
	_, err = s.DeleteConsent(ctx, "u1", "c1", revoke(t0.Add(2*time.Hour), baton.ReasonConsentWithdrawn))
	wantCode(t, err, baton.ENotFound)
	wantRevoked(t, s, r, []string{"a", "b"}, []string{"other", "c", "v1"})
}

// testRevokeSessionTree: the single-sign-on session and the sessions it
// issued are revoked together; others are not.
func testRevokeSessionTree(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	sso := func(id string) *baton.Session {
		sess := newSession("u1", id, t0)
		sess.Transport, sess.ClientID, sess.Scope, sess.Parent = baton.TransportSSO, "", "", ""
		return sess
	}
	child := func(id, parent string) *baton.Session {
		sess := newSession("u1", id, t0)
		sess.Parent = parent
		return sess
	}
	for _, sess := range []*baton.Session{
		sso("sso"), child("a", "sso"), child("b", "sso"), child("gone", "sso"),
		sso("sso2"), child("c", "sso2"), child("plain", ""),
	} {
		mustCreateSession(t, s, sess, hash(sess.ID))
	}
	earlier := revoke(t0.Add(time.Minute), baton.ReasonLogout)
	mustRevoke(t, s, "gone", earlier)

	_, err := s.RevokeSessionTree(ctx, "nobody", revoke(t0.Add(time.Minute), baton.ReasonRPLogout))
	wantCode(t, err, baton.ENotFound)

	r := revoke(t0.Add(time.Hour), baton.ReasonRPLogout)
	got, err := s.RevokeSessionTree(ctx, "sso", r)
	if err != nil {
		t.Fatalf("RevokeSessionTree: got %v, want nil", err)
	}
	slices.Sort(got)
	if d := diff([]string{"a", "b", "sso"}, got); d != "" {
		t.Errorf("RevokeSessionTree ids mismatch (-want +got):\n%s", d)
	}
	wantRevoked(t, s, r, []string{"sso", "a", "b"}, []string{"sso2", "c", "plain"})
	wantRevoked(t, s, earlier, []string{"gone"}, nil)

	// Again: nothing left to revoke, and no error.
	got, err = s.RevokeSessionTree(ctx, "sso", revoke(t0.Add(2*time.Hour), baton.ReasonRPLogout))
	if err != nil || len(got) != 0 {
		t.Errorf("RevokeSessionTree again: got %v, %v, want none, nil", got, err)
	}
	wantRevoked(t, s, r, []string{"sso", "a", "b"}, nil)

	// A parent revoked already: its live children still go, and its id is
	// not among those returned.
	mustRevoke(t, s, "sso2", earlier)
	r2 := revoke(t0.Add(3*time.Hour), baton.ReasonRPLogout)
	got, err = s.RevokeSessionTree(ctx, "sso2", r2)
	if err != nil {
		t.Fatalf("RevokeSessionTree: got %v, want nil", err)
	}
	if d := diff([]string{"c"}, got); d != "" {
		t.Errorf("RevokeSessionTree of a revoked parent mismatch (-want +got):\n%s", d)
	}
	wantRevoked(t, s, r2, []string{"c"}, []string{"plain"})

	// A session without children is a tree of one.
	got, err = s.RevokeSessionTree(ctx, "plain", r2)
	if err != nil {
		t.Fatalf("RevokeSessionTree: got %v, want nil", err)
	}
	if d := diff([]string{"plain"}, got); d != "" {
		t.Errorf("RevokeSessionTree of a childless session mismatch (-want +got):\n%s", d)
	}
}

// testSessionScopeParent: a code-flow session's scope and parent come back
// from every read of sessions.
func testSessionScopeParent(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	sess := newSession("u1", "s1", t0)
	sess.Scope, sess.Parent = "openid profile offline_access", "sso-1"
	mustCreateSession(t, s, sess, hash("t1"))
	plain := newSession("u1", "s2", t0)
	plain.Scope, plain.Parent = "", ""
	mustCreateSession(t, s, plain, hash("t2"))

	for _, want := range []*baton.Session{sess, plain} {
		if d := diff(want, mustSession(t, s, want.ID)); d != "" {
			t.Errorf("Session(%q) mismatch (-want +got):\n%s", want.ID, d)
		}
	}
	if _, got := mustToken(t, s, hash("t1")); diff(sess, got) != "" {
		t.Errorf("RefreshToken's session mismatch (-want +got):\n%s", diff(sess, got))
	}
	r := rotation("s1", "t1", "t3", t0.Add(time.Hour))
	if err := s.Rotate(ctx, r); err != nil {
		t.Fatalf("Rotate: got %v, want nil", err)
	}
	want := rotated(sess, r)
	list, err := s.Sessions(ctx, "u1", t0.Add(time.Hour), baton.SessionPage{Limit: 10})
	if err != nil {
		t.Fatalf("Sessions: got %v, want nil", err)
	}
	if d := diff([]*baton.Session{want, plain}, list); d != "" {
		t.Errorf("Sessions mismatch (-want +got):\n%s", d)
	}
}

// testChildUsesParent: creating a session with a parent is a use of the
// parent (LastUsedAt moves forward, never back), so the session cap keeps
// a single-sign-on session its clients keep using.
func testChildUsesParent(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	sso := newSession("u1", "sso", t0)
	mustCreateSession(t, s, sso, hash("sso"))
	other := newSession("u1", "other", t0.Add(time.Minute))
	mustCreateSession(t, s, other, hash("other"))
	child := newSession("u1", "child", t0.Add(time.Hour))
	child.Parent = "sso"
	mustCreateSession(t, s, child, hash("child"))
	if got := mustSession(t, s, "sso").LastUsedAt; !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("parent's LastUsedAt %v, want the child's creation %v", got, t0.Add(time.Hour))
	}
	// An older child moves nothing back.
	old := newSession("u1", "old-child", t0.Add(2*time.Minute))
	old.Parent = "sso"
	mustCreateSession(t, s, old, hash("old-child"))
	if got := mustSession(t, s, "sso").LastUsedAt; !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("parent's LastUsedAt went back to %v", got)
	}
	// The cap ends "other", the least recently used, not the parent.
	ids, err := s.RevokeExcessSessions(ctx, "u1", 3, baton.Revoke{Now: t0.Add(2 * time.Hour), Until: t0.Add(3 * time.Hour), Reason: baton.ReasonSessionLimit})
	if err != nil {
		t.Fatalf("RevokeExcessSessions: %v", err)
	}
	if len(ids) != 1 || ids[0] != "other" {
		t.Errorf("the cap revoked %v, want [other]", ids)
	}
}

// backchannelCase is one revoking method, run on the sessions
// backchannelSessions made.
type backchannelCase struct {
	name   string
	reason string
	// revoke revokes what it should with r; revoked are the sessions of
	// the client with a back-channel URI that it revokes.
	revoke  func(t *testing.T, s baton.Store, p string, r baton.Revoke)
	revoked []string
}

// backchannelSessions creates, under prefix p (so the cases share a
// store): user p-u with single-sign-on session p-sso; registered client
// p-bc with a back-channel logout URI and p-plain without; and the user's
// sessions p-a and p-b of p-bc, p-c of p-plain, p-d of an unregistered
// client id, and p-e of p-bc revoked before, each issued by p-sso. It
// claims the logout token of p-e and returns the URI.
func backchannelSessions(t *testing.T, s baton.Store, p string) string {
	t.Helper()
	mustCreateUser(t, s, p+"-u")
	bc := newClient(p + "-bc")
	plain := newClient(p + "-plain")
	plain.BackchannelLogoutURI = ""
	mustCreateClient(t, s, bc)
	mustCreateClient(t, s, plain)
	mustGrant(t, s, p+"-u", bc.ID, t0, baton.ScopeOpenID)
	sso := newSession(p+"-u", p+"-sso", t0)
	sso.Transport, sso.ClientID, sso.Parent = baton.TransportSSO, "", ""
	mustCreateSession(t, s, sso, hash(sso.ID))
	for _, c := range []struct{ id, client string }{
		{"a", bc.ID}, {"b", bc.ID}, {"c", plain.ID}, {"d", p + "-unregistered"}, {"e", bc.ID},
	} {
		sess := clientSession(p+"-u", p+"-"+c.id, c.client)
		sess.Parent = sso.ID
		mustCreateSession(t, s, sess, hash(sess.ID))
	}
	before := revoke(t0.Add(time.Minute), baton.ReasonLogout)
	mustRevoke(t, s, p+"-e", before)
	wantBackchannel(t, s, before.Now, bc.BackchannelLogoutURI, p+"-u", bc.ID, []string{p + "-e"})
	return bc.BackchannelLogoutURI
}

// wantBackchannel claims every due back-channel logout message at now and
// checks that they are exactly the logout tokens of sessions (of user and
// client, sent to uri), created and due at now, each with an id of its
// own.
func wantBackchannel(t *testing.T, s baton.Store, now time.Time, uri, user, client string, sessions []string) {
	t.Helper()
	ms := mustClaim(t, s, baton.OutboxBackchannelLogout, now, 365*day, 100)
	var got []string
	seen := make(map[string]bool)
	for _, m := range ms {
		var bl baton.BackchannelLogout
		if err := json.Unmarshal(m.Payload, &bl); err != nil {
			t.Errorf("message %q: payload %q: %v", m.ID, m.Payload, err)
			continue
		}
		got = append(got, bl.SessionID)
		if bl.UserID != user || bl.ClientID != client || m.Recipient != uri {
			t.Errorf("message of %q: got sub %q, client_id %q, recipient %q, want %q, %q, %q",
				bl.SessionID, bl.UserID, bl.ClientID, m.Recipient, user, client, uri)
		}
		if !m.CreatedAt.Equal(now) || !m.NextAttemptAt.Equal(now) || m.Attempts != 0 {
			t.Errorf("message of %q: got created %v, due %v, attempts %d, want %v, %v, 0",
				bl.SessionID, m.CreatedAt, m.NextAttemptAt, m.Attempts, now, now)
		}
		if m.ID == "" || seen[m.ID] {
			t.Errorf("message of %q: got id %q, want a new one", bl.SessionID, m.ID)
		}
		seen[m.ID] = true
	}
	slices.Sort(got)
	if d := diff(sessions, got); d != "" {
		t.Errorf("back-channel logout messages by session (-want +got):\n%s", d)
	}
}

// testBackchannelLogout: every revoking method enqueues, with the
// revocation, one logout token for each session it revokes whose client
// has a back-channel logout URI, and none for other sessions or for
// sessions revoked before.
func testBackchannelLogout(t *testing.T, s baton.Store) {
	cases := []backchannelCase{
		{"RevokeSession", baton.ReasonLogout, func(t *testing.T, s baton.Store, p string, r baton.Revoke) {
			for _, id := range []string{"a", "b", "c", "d", "e"} {
				if _, err := s.RevokeSession(ctx, p+"-"+id, r); err != nil {
					t.Fatalf("RevokeSession(%q): got %v, want nil", id, err)
				}
			}
		}, []string{"a", "b"}},
		{"RevokeUserSessions", baton.ReasonPasswordChange, func(t *testing.T, s baton.Store, p string, r baton.Revoke) {
			if _, err := s.RevokeUserSessions(ctx, p+"-u", p+"-b", r); err != nil {
				t.Fatalf("RevokeUserSessions: got %v, want nil", err)
			}
		}, []string{"a"}},
		{"RevokeExcessSessions", baton.ReasonSessionLimit, func(t *testing.T, s baton.Store, p string, r baton.Revoke) {
			if _, err := s.RevokeExcessSessions(ctx, p+"-u", 0, r); err != nil {
				t.Fatalf("RevokeExcessSessions: got %v, want nil", err)
			}
		}, []string{"a", "b"}},
		{"DeleteUser", baton.ReasonAccountDeleted, func(t *testing.T, s baton.Store, p string, r baton.Revoke) {
			if _, err := s.DeleteUser(ctx, p+"-u", r); err != nil {
				t.Fatalf("DeleteUser: got %v, want nil", err)
			}
		}, []string{"a", "b"}},
		{"RevokeSessionTree", baton.ReasonRPLogout, func(t *testing.T, s baton.Store, p string, r baton.Revoke) {
			if _, err := s.RevokeSessionTree(ctx, p+"-sso", r); err != nil {
				t.Fatalf("RevokeSessionTree: got %v, want nil", err)
			}
		}, []string{"a", "b"}},
		{"DeleteConsent", baton.ReasonConsentWithdrawn, func(t *testing.T, s baton.Store, p string, r baton.Revoke) {
			if _, err := s.DeleteConsent(ctx, p+"-u", p+"-bc", r); err != nil {
				t.Fatalf("DeleteConsent: got %v, want nil", err)
			}
		}, []string{"a", "b"}},
		{"DeleteClient", baton.ReasonClientDeleted, func(t *testing.T, s baton.Store, p string, r baton.Revoke) {
			if _, err := s.DeleteClient(ctx, p+"-bc", r); err != nil {
				t.Fatalf("DeleteClient: got %v, want nil", err)
			}
		}, []string{"a", "b"}},
	}
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			p := name("bc", i)
			uri := backchannelSessions(t, s, p)
			// Each case later than the one before, so the claim sees only
			// its own messages (earlier ones are leased).
			r := revoke(t0.Add(time.Duration(i+1)*time.Hour), tt.reason)
			tt.revoke(t, s, p, r)
			var want []string
			for _, id := range tt.revoked {
				want = append(want, p+"-"+id)
			}
			wantBackchannel(t, s, r.Now, uri, p+"-u", p+"-bc", want)
		})
	}
}

// testCodeFlowChallenges: authorization codes and pushed authorization
// requests are challenges of their own kinds, spent once.
func testCodeFlowChallenges(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	code := newChallenge("code", "u1")
	code.Kind, code.ExpiresAt = baton.ChallengeCode, t0.Add(time.Minute)
	par := newChallenge("par", "")
	par.Kind = baton.ChallengePAR
	for _, c := range []*baton.Challenge{code, par} {
		if err := s.CreateChallenge(ctx, c); err != nil {
			t.Fatalf("CreateChallenge(%q): got %v, want nil", c.Kind, err)
		}
		got, err := s.Challenge(ctx, c.Hash, c.Kind)
		if err != nil {
			t.Fatalf("Challenge(%q): got %v, want nil", c.Kind, err)
		}
		wantUTC(t, got)
		if d := diff(c, got); d != "" {
			t.Errorf("Challenge(%q) mismatch (-want +got):\n%s", c.Kind, d)
		}
	}
	// A code is not a pushed request, nor an mfa_token.
	for _, kind := range []string{baton.ChallengePAR, baton.ChallengeMFA} {
		_, err := s.Challenge(ctx, code.Hash, kind)
		wantCode(t, err, baton.ENotFound)
		_, err = s.SpendChallenge(ctx, code.Hash, kind, t0, 1)
		wantCode(t, err, baton.ENotFound)
	}
	_, err := s.SpendChallenge(ctx, par.Hash, baton.ChallengeCode, t0, 1)
	wantCode(t, err, baton.ENotFound)

	// Redeemed once: of 16 concurrent redemptions of one code exactly one
	// wins (RFC 6749 §4.1.2).
	const n = 16
	won := make([]*baton.Challenge, n)
	errs := concurrently(n, func(i int) (err error) {
		won[i], err = s.SpendChallenge(ctx, code.Hash, baton.ChallengeCode, t0.Add(time.Second), 1)
		return err
	})
	if got := codes(errs); got[""] != 1 || got[baton.ENotFound] != n-1 {
		t.Fatalf("%d concurrent redemptions of a code: got %v, want 1 success", n, got)
	}
	for _, c := range won {
		if c != nil && (c.UserID != "u1" || !c.SpentAt.Equal(t0.Add(time.Second))) {
			t.Errorf("redeemed code: got user %q, spent %v, want u1, %v", c.UserID, c.SpentAt, t0.Add(time.Second))
		}
	}
	// The pushed request is spent once too, and not after its expiry.
	if _, err := s.SpendChallenge(ctx, par.Hash, baton.ChallengePAR, par.ExpiresAt, 1); baton.ErrorCode(err) != baton.ENotFound {
		t.Errorf("SpendChallenge of an expired pushed request: got %v, want not_found", err)
	}
	if _, err := s.SpendChallenge(ctx, par.Hash, baton.ChallengePAR, t0, 1); err != nil {
		t.Errorf("SpendChallenge of a pushed request: got %v, want nil", err)
	}
	_, err = s.SpendChallenge(ctx, par.Hash, baton.ChallengePAR, t0, 1)
	wantCode(t, err, baton.ENotFound)
}

// testChildOfRevokedParent: no session is made under a revoked parent (a
// code redeemed after its sign-in was logged out): EConflict, nothing
// stored, and the parent stays as it was.
func testChildOfRevokedParent(t *testing.T, s baton.Store) {
	mustCreateUser(t, s, "u1")
	mustCreateSession(t, s, newSession("u1", "sso", t0), hash("sso"))
	r := revoke(t0.Add(time.Minute), baton.ReasonRPLogout)
	if _, err := s.RevokeSessionTree(ctx, "sso", r); err != nil {
		t.Fatalf("RevokeSessionTree: %v", err)
	}
	child := newSession("u1", "child", t0.Add(time.Hour))
	child.Parent = "sso"
	wantCode(t, s.CreateSession(ctx, child, hash("child")), baton.EConflict)
	_, err := s.Session(ctx, "child")
	wantCode(t, err, baton.ENotFound)
	_, _, err = s.RefreshToken(ctx, hash("child"))
	wantCode(t, err, baton.ENotFound)
	wantRevoked(t, s, r, []string{"sso"}, nil)
	if got := mustSession(t, s, "sso").LastUsedAt; !got.Equal(t0.Add(time.Second)) {
		t.Errorf("the revoked parent's LastUsedAt moved to %v", got)
	}
}
