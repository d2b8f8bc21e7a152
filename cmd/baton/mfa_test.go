package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	bsession "github.com/batonauth/baton/session"
)

// TestCLIUsersResetMFA: users reset-mfa removes a user's second factors
// and revokes their sessions beside a running server, on SQLite and
// PostgreSQL; users show lists the factors; afterwards the password alone
// logs in and the old sessions' tokens fail on the server.
func TestCLIUsersResetMFA(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	eachStore(t, func(t *testing.T, env []string, run cliRunner) { testResetMFA(t, startBaton(t, env...), run) })
}

func testResetMFA(t *testing.T, p *proc, run cliRunner) {
	cli := func(t *testing.T, code int, args ...string) cliResult {
		t.Helper()
		return run(t, "", args...).want(t, code, args...)
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		run(t, testPassword+"\n", "users", "add", name, "--password-stdin").want(t, 0, "users add "+name)
	}
	must := func(r reply, status int, what string) reply {
		t.Helper()
		if r.err != nil || r.status != status {
			t.Fatalf("%s: %d %s %v, want %d", what, r.status, r.raw, r.err, status)
		}
		return r
	}
	str := func(r reply, k string) string { s, _ := r.body[k].(string); return s }
	// alice: TOTP on, one session from before and one from a two-step login.
	before := must(p.login("alice"), 200, "login alice")
	secret := str(must(p.call("POST", "/v1/mfa/totp", str(before, "access_token"), nil), 200, "begin totp"), "secret")
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	must(p.call("POST", "/v1/mfa/totp/confirm", str(before, "access_token"), map[string]string{"code": code(time.Now())}), 200, "confirm totp")
	first := must(p.login("alice"), 403, "login alice with totp")
	if first.body["error"] != "mfa_required" {
		t.Fatalf("login alice: %s", first.raw)
	}
	// The step after now's: the confirmation used now's.
	second := must(p.call("POST", "/v1/login/mfa", "", map[string]string{"mfa_token": str(first, "mfa_token"), "totp": code(time.Now().Add(30 * time.Second))}), 200, "second step")
	// bob: an enrolment started, not confirmed; carol: nothing.
	bobAT := str(must(p.login("bob"), 200, "login bob"), "access_token")
	must(p.call("POST", "/v1/mfa/totp", bobAT, nil), 200, "begin totp bob")
	var bob struct{ ID string }
	if err := json.Unmarshal([]byte(cli(t, 0, "users", "show", "bob", "--json").stdout), &bob); err != nil || bob.ID == "" {
		t.Fatalf("users show bob --json: %v", err)
	}
	must(p.login("carol"), 200, "login carol")

	type mfa struct {
		TOTP              bool `json:"totp"`
		TOTPPending       bool `json:"totp_pending"`
		Passkeys          int  `json:"passkeys"`
		RecoveryCodesLeft int  `json:"recovery_codes_left"`
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // a part of stdout
		user     string // users show USER afterwards shows:
		wantTOTP string // its totp line
		wantMFA  mfa    // its --json "mfa"
	}{
		{name: "ShowOn", args: []string{"users", "show", "alice"}, wantOut: "passkeys:        0",
			user: "alice", wantTOTP: "on", wantMFA: mfa{TOTP: true, RecoveryCodesLeft: 10}},
		{name: "ShowPending", args: []string{"users", "show", "bob"}, wantOut: "recovery codes:  0 left",
			user: "bob", wantTOTP: "off (pending enrolment)", wantMFA: mfa{TOTPPending: true}},
		{name: "ShowNone", args: []string{"users", "show", "carol"}, wantOut: "live sessions:   1",
			user: "carol", wantTOTP: "off"},
		{name: "UnknownUser", args: []string{"users", "reset-mfa", "nobody"}, wantCode: 3,
			user: "alice", wantTOTP: "on", wantMFA: mfa{TOTP: true, RecoveryCodesLeft: 10}},
		{name: "NoUser", args: []string{"users", "reset-mfa"}, wantCode: 2,
			user: "alice", wantTOTP: "on", wantMFA: mfa{TOTP: true, RecoveryCodesLeft: 10}},
		{name: "IDIsNoUsername", args: []string{"users", "reset-mfa", bob.ID}, wantCode: 3,
			user: "bob", wantTOTP: "off (pending enrolment)", wantMFA: mfa{TOTPPending: true}},
		{name: "Reset", args: []string{"users", "reset-mfa", "ALICE"},
			wantOut: "removed TOTP, 10 recovery code(s), 0 passkey(s); revoked 2 session(s)",
			user:    "alice", wantTOTP: "off"},
		{name: "Again", args: []string{"users", "reset-mfa", "alice"},
			wantOut: "had no second factor: nothing to remove; revoked 0 session(s)",
			user:    "alice", wantTOTP: "off"},
		{name: "PendingByIDJSON", args: []string{"users", "reset-mfa", "--id", bob.ID, "--json"},
			wantOut: `"totp_pending": true`,
			user:    "bob", wantTOTP: "off"},
		{name: "NoFactor", args: []string{"users", "reset-mfa", "carol"},
			wantOut: "nothing to remove; revoked 1 session(s)",
			user:    "carol", wantTOTP: "off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, tt.wantCode, tt.args...)
			if !strings.Contains(r.stdout, tt.wantOut) {
				t.Fatalf("stdout %q, want it to contain %q", r.stdout, tt.wantOut)
			}
			show := cli(t, 0, "users", "show", tt.user).stdout
			if !regexp.MustCompile(`(?m)^totp:\s+` + regexp.QuoteMeta(tt.wantTOTP) + `$`).MatchString(show) {
				t.Fatalf("users show %s: want the line totp: %s in\n%s", tt.user, tt.wantTOTP, show)
			}
			var j struct{ MFA *mfa }
			if err := json.Unmarshal([]byte(cli(t, 0, "users", "show", tt.user, "--json").stdout), &j); err != nil || j.MFA == nil || *j.MFA != tt.wantMFA {
				t.Fatalf("users show %s --json: mfa %+v (%v), want %+v", tt.user, j.MFA, err, tt.wantMFA)
			}
		})
	}

	// Both of alice's sessions from before are gone on the server: their
	// access tokens fail within the revocation sync, their refresh tokens
	// at once.
	for _, g := range []reply{before, second} {
		deadline := time.Now().Add(3 * time.Second)
		for p.me(str(g, "access_token")).status != 401 {
			if time.Now().After(deadline) {
				t.Fatal("an access token of a session reset-mfa revoked still works after 3s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		must(p.refresh(str(g, "refresh_token")), 401, "refresh of a session reset-mfa revoked")
	}
	// The password alone gives tokens: no mfa_required.
	after := must(p.login("alice"), 200, "login after reset-mfa")
	meShows(t, p, str(after, "access_token"), bsession.ProfileTTL+2*time.Second, func(b map[string]any) bool {
		m, _ := b["mfa"].(map[string]any)
		return m["totp"] == false && m["recovery_codes_left"] == float64(0)
	})
	audit := cli(t, 0, "audit", "tail", "-n", "200", "--json").stdout
	if n := strings.Count(audit, `"type":"mfa_reset"`); n != 4 || strings.Count(audit, `"detail":"admin, nothing to remove"`) != 2 {
		t.Fatalf("audit log has %d mfa_reset events, want 4 (2 with nothing to remove):\n%s", n, audit)
	}
}
