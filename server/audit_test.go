package server_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/server"
)

// TestNoSecretsInLogsOrAudit runs a full scenario — register, login,
// refresh, grace replay, reuse, reauth, password change, revocation,
// logout, deletion — capturing every log line the server writes (debug
// included) and every audit event, then looks for every token, password
// and password hash it saw: none may appear.
func TestNoSecretsInLogsOrAudit(t *testing.T) {
	ts := newTestServer(t, map[string]string{
		"BATON_RESOURCE_CLIENT_ID": "rs", "BATON_RESOURCE_CLIENT_SECRET": "rs-secret-value-0123456789",
	}, nil, server.Options{})
	u := ts.URL
	const user, pw2 = "Secret.Keeper@example.com", "an entirely new passphrase"
	var secrets []string
	keep := func(r reply, keys ...string) {
		for _, k := range keys {
			if v := r.str(k); v != "" {
				secrets = append(secrets, v)
			}
		}
	}
	if r := call(t, "POST", u+"/v1/register", "", map[string]string{"username": user, "password": pw}); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	// A failed login with a password the log must not show either.
	call(t, "POST", u+"/v1/login", "", map[string]string{"username": user, "password": "wrong password guess"})
	login := call(t, "POST", u+"/v1/login", "", map[string]string{"username": user, "password": pw})
	keep(login, "access_token", "refresh_token")
	ref := call(t, "POST", u+"/v1/refresh", "", map[string]string{"refresh_token": login.str("refresh_token")})
	keep(ref, "access_token", "refresh_token")
	// Grace replay, then reuse once the successor is spent.
	replay := call(t, "POST", u+"/v1/refresh", "", map[string]string{"refresh_token": login.str("refresh_token")})
	keep(replay, "access_token", "refresh_token")
	ref2 := call(t, "POST", u+"/v1/refresh", "", map[string]string{"refresh_token": ref.str("refresh_token")})
	keep(ref2, "access_token", "refresh_token")
	reuse := call(t, "POST", u+"/v1/refresh", "", map[string]string{"refresh_token": login.str("refresh_token")})
	if reuse.status != 401 {
		t.Fatalf("reuse: %d %s", reuse.status, reuse.raw)
	}
	// Introspection and OAuth revocation of a new session.
	l2 := call(t, "POST", u+"/oauth/token", "", "grant_type=password&username="+url.QueryEscape(user)+"&password="+url.QueryEscape(pw))
	keep(l2, "access_token", "refresh_token")
	call(t, "POST", u+"/oauth/introspect", "", "token="+l2.str("access_token"), "Authorization", basic("rs", "rs-secret-value-0123456789"))
	call(t, "POST", u+"/oauth/revoke", "", "token="+l2.str("refresh_token"))
	call(t, "GET", u+"/v1/me", l2.str("access_token"), nil)
	// Reauth (wrong, then right) and password change.
	l3 := call(t, "POST", u+"/v1/login", "", map[string]string{"username": user, "password": pw})
	keep(l3, "access_token", "refresh_token")
	call(t, "POST", u+"/v1/reauth", l3.str("access_token"), map[string]string{"password": "not my password"})
	ra := call(t, "POST", u+"/v1/reauth", l3.str("access_token"), map[string]string{"password": pw})
	keep(ra, "access_token")
	pc := call(t, "POST", u+"/v1/password", ra.str("access_token"), map[string]string{"current_password": pw, "new_password": pw2})
	if pc.status != 200 {
		t.Fatalf("password change: %d %s", pc.status, pc.raw)
	}
	keep(pc, "access_token", "refresh_token")
	usr, err := ts.Store.UserByName(context.Background(), strings.ToLower(user))
	if err != nil {
		t.Fatal(err)
	}
	hash := usr.PasswordHash
	// A bad token on a protected endpoint, and logout.
	call(t, "GET", u+"/v1/me", "eyJhbGciOiJFZERTQSJ9.e30.AAAA", nil)
	l4 := call(t, "POST", u+"/v1/login", "", map[string]string{"username": user, "password": pw2})
	keep(l4, "access_token", "refresh_token")
	if r := call(t, "POST", u+"/v1/logout", l4.str("access_token"), nil); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	// Delete the account.
	if r := call(t, "DELETE", u+"/v1/me", pc.str("access_token"), nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if len(secrets) < 12 {
		t.Fatalf("collected only %d tokens", len(secrets))
	}
	// Flush the audit log.
	ts.Close()
	logs := ts.Logs.String()
	events := auditEventsOf(t, ts)
	if len(events) < 12 {
		t.Fatalf("only %d audit events:\n%s", len(events), events)
	}
	for _, want := range []string{"register", "login", "refresh", "grace_replay", "reuse_detected", "revoke",
		"reauth", "password_change", "logout", "account_deleted"} {
		if !strings.Contains(events, `"Type":"`+want+`"`) {
			t.Errorf("no %s event in the audit log", want)
		}
	}
	all := append(secrets, pw, pw2, "wrong password guess", "not my password", hash, "rs-secret-value-0123456789")
	for _, s := range all {
		// Tokens are long; a distinctive slice of each is enough and
		// also catches truncated copies.
		needles := []string{s}
		if len(s) > 40 {
			needles = append(needles, s[len(s)-24:])
		}
		for _, n := range needles {
			if strings.Contains(logs, n) {
				t.Errorf("the log contains a secret (%.12s…)", n)
			}
			if strings.Contains(events, n) {
				t.Errorf("the audit log contains a secret (%.12s…)", n)
			}
		}
	}
	if !strings.Contains(logs, `"msg":"auth event"`) {
		t.Fatalf("the scenario logged no auth events:\n%s", logs)
	}
}

// auditEventsOf reads the audit log of a closed test server's store.
func auditEventsOf(t *testing.T, ts *testServer) string {
	t.Helper()
	var b strings.Builder
	for _, e := range allAuditEvents(t, ts) {
		raw, _ := json.Marshal(e)
		b.Write(raw)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestAuditEventsCarryClient(t *testing.T) {
	ts := newTestServer(t, nil, batontest.NewClock(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)), server.Options{})
	call(t, "POST", ts.URL+"/v1/register", "", map[string]string{"username": "carol", "password": pw}, "User-Agent", "audit-agent/1.0")
	call(t, "POST", ts.URL+"/v1/login", "", map[string]string{"username": "carol", "password": "nope nope nope"}, "User-Agent", "audit-agent/1.0")
	ts.Close()
	es := allAuditEvents(t, ts)
	var failed *baton.AuditEvent
	for _, e := range es {
		if e.Type == "login" && e.Outcome == "failed" {
			failed = e
		}
	}
	if failed == nil {
		t.Fatalf("no failed login event in %v", es)
	}
	if failed.IP != "127.0.0.1" || failed.UserAgent != "audit-agent/1.0" || !failed.Time.Equal(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)) {
		t.Fatalf("failed login event: %+v", failed)
	}
}
