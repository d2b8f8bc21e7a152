package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/postgres/pgtest"
)

// TestCLIUsersSetEmail: users set-email sets, verifies, changes and
// removes an address through the real binary, on SQLite and PostgreSQL;
// users show and list display it; refusals change nothing.
func TestCLIUsersSetEmail(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	eachStore(t, func(t *testing.T, _ []string, run cliRunner) { testSetEmail(t, run) })
}

// cliRunner runs the built binary with args on one store, feeding stdin.
type cliRunner func(t *testing.T, stdin string, args ...string) cliResult

// eachStore runs test on a fresh SQLite data directory and on a fresh,
// migrated PostgreSQL database: env configures a server on that store,
// run runs admin commands on it.
func eachStore(t *testing.T, test func(t *testing.T, env []string, run cliRunner)) {
	t.Run("SQLite", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		test(t, []string{"BATON_DATA_DIR=" + dir}, func(t *testing.T, stdin string, args ...string) cliResult {
			return runCLI(t, dir, stdin, args...)
		})
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		env := []string{"BATON_DATABASE_URL=" + pgtest.NewDatabase(t)}
		run := func(t *testing.T, stdin string, args ...string) cliResult {
			return runCLIEnv(t, env, stdin, args...)
		}
		run(t, "", "migrate").want(t, 0, "migrate")
		test(t, env, run)
	})
}

func testSetEmail(t *testing.T, run cliRunner) {
	cli := func(t *testing.T, code int, args ...string) cliResult {
		t.Helper()
		return run(t, "", args...).want(t, code, args...)
	}
	run(t, testPassword+"\n", "users", "add", "alice", "--password-stdin").want(t, 0, "users add alice")
	run(t, testPassword+"\n", "users", "add", "bob", "--password-stdin", "--email", "Bob@Example.org").want(t, 0, "users add bob")
	var alice struct{ ID string }
	if err := json.Unmarshal([]byte(cli(t, 0, "users", "show", "alice", "--json").stdout), &alice); err != nil || alice.ID == "" {
		t.Fatalf("users show --json: %v", err)
	}

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string // a part of stdout
		wantErr    string // a part of stderr
		wantShow   string // the email line of users show afterwards
		wantEmail  any    // "email" of users show --json afterwards (nil: null)
		wantVerify bool
	}{
		{name: "NoneYet", args: []string{"users", "show", "alice"},
			wantShow: "none", wantEmail: nil},
		{name: "Set", args: []string{"users", "set-email", "alice", " Alice@Example.com "},
			wantOut:  "set the email address of user alice (" + alice.ID + ") to Alice@Example.com (not verified)",
			wantShow: "Alice@Example.com (not verified)", wantEmail: "Alice@Example.com"},
		{name: "SameByIDVerified", args: []string{"users", "set-email", "--id", alice.ID, "alice@example.com", "--verified"},
			wantOut:  "to alice@example.com (verified)",
			wantShow: "alice@example.com (verified)", wantEmail: "alice@example.com", wantVerify: true},
		{name: "TakenInAnotherCase", args: []string{"users", "set-email", "alice", "BOB@example.ORG"}, wantCode: 1, wantErr: "taken",
			wantShow: "alice@example.com (verified)", wantEmail: "alice@example.com", wantVerify: true},
		{name: "Invalid", args: []string{"users", "set-email", "alice", "Alice <alice@example.net>"}, wantCode: 1, wantErr: "email address",
			wantShow: "alice@example.com (verified)", wantEmail: "alice@example.com", wantVerify: true},
		{name: "UnknownUser", args: []string{"users", "set-email", "nobody", "nobody@example.net"}, wantCode: 3,
			wantShow: "alice@example.com (verified)", wantEmail: "alice@example.com", wantVerify: true},
		{name: "NoAddress", args: []string{"users", "set-email", "alice"}, wantCode: 2, wantErr: "ADDRESS",
			wantShow: "alice@example.com (verified)", wantEmail: "alice@example.com", wantVerify: true},
		{name: "EmptyAddress", args: []string{"users", "set-email", "alice", ""}, wantCode: 2, wantErr: "--remove",
			wantShow: "alice@example.com (verified)", wantEmail: "alice@example.com", wantVerify: true},
		{name: "NameAndID", args: []string{"users", "set-email", "--id", alice.ID, "alice", "x@example.net"}, wantCode: 2,
			wantShow: "alice@example.com (verified)", wantEmail: "alice@example.com", wantVerify: true},
		{name: "RemoveVerified", args: []string{"users", "set-email", "alice", "--remove", "--verified"}, wantCode: 2,
			wantShow: "alice@example.com (verified)", wantEmail: "alice@example.com", wantVerify: true},
		{name: "RemoveWithAddress", args: []string{"users", "set-email", "alice", "x@example.net", "--remove"}, wantCode: 2,
			wantShow: "alice@example.com (verified)", wantEmail: "alice@example.com", wantVerify: true},
		{name: "Change", args: []string{"users", "set-email", "alice", "alice@example.net"},
			wantOut:  "to alice@example.net (not verified)",
			wantShow: "alice@example.net (not verified)", wantEmail: "alice@example.net"},
		{name: "Remove", args: []string{"users", "set-email", "alice", "--remove"},
			wantOut:  "removed the email address of user alice",
			wantShow: "none", wantEmail: nil},
		{name: "RemovedAddressIsFree", args: []string{"users", "set-email", "bob", "alice@EXAMPLE.net", "--verified", "--json"},
			wantOut:  `"email": "alice@EXAMPLE.net"`,
			wantShow: "none", wantEmail: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, tt.wantCode, tt.args...)
			if !strings.Contains(r.stdout, tt.wantOut) || !strings.Contains(r.stderr, tt.wantErr) {
				t.Fatalf("got stdout %q, stderr %q; want them to contain %q and %q", r.stdout, r.stderr, tt.wantOut, tt.wantErr)
			}
			show := cli(t, 0, "users", "show", "alice").stdout
			if !regexp.MustCompile(`(?m)^email:\s+` + regexp.QuoteMeta(tt.wantShow) + `$`).MatchString(show) {
				t.Fatalf("users show alice: want the line email: %s in\n%s", tt.wantShow, show)
			}
			var j map[string]any
			if err := json.Unmarshal([]byte(cli(t, 0, "users", "show", "alice", "--json").stdout), &j); err != nil {
				t.Fatal(err)
			}
			if email, ok := j["email"]; !ok || email != tt.wantEmail || j["email_verified"] != tt.wantVerify {
				t.Fatalf("users show --json: email %#v (present %v), email_verified %#v; want %#v, %v", email, ok, j["email_verified"], tt.wantEmail, tt.wantVerify)
			}
		})
	}

	// users list: EMAIL and VERIFIED columns, and the same fields in JSON.
	list := cli(t, 0, "users", "list").stdout
	lines := strings.Split(strings.TrimSpace(list), "\n")
	tail := func(line string) string { f := strings.Fields(line); return strings.Join(f[max(len(f)-2, 0):], " ") }
	if len(lines) != 3 || tail(lines[0]) != "EMAIL VERIFIED" || tail(lines[1]) != "- -" || tail(lines[2]) != "alice@EXAMPLE.net yes" ||
		strings.Index(lines[0], "EMAIL") != strings.Index(lines[2], "alice@") {
		t.Fatalf("users list:\n%s", list)
	}
	var users []map[string]any
	if err := json.Unmarshal([]byte(cli(t, 0, "users", "list", "--json").stdout), &users); err != nil || len(users) != 2 {
		t.Fatalf("users list --json: %v %v", err, users)
	}
	if users[0]["email"] != nil || users[1]["email"] != "alice@EXAMPLE.net" || users[1]["email_verified"] != true {
		t.Fatalf("users list --json: %v", users)
	}

	// Audited, without the address.
	audit := cli(t, 0, "audit", "tail", "-n", "100", "--json").stdout
	if n := strings.Count(audit, `"email_set"`); n != 5 {
		t.Fatalf("audit log has %d email_set events, want 5:\n%s", n, audit)
	}
	if strings.Contains(strings.ToLower(audit), "alice@example.") {
		t.Fatalf("the audit log holds an address:\n%s", audit)
	}
}

// meShows polls GET /v1/me until want(body) holds or the deadline
// passes, and returns how long that took.
func meShows(t *testing.T, p *proc, at string, within time.Duration, want func(map[string]any) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		st, b, err := p.get("/v1/me", at)
		if err != nil || st != 200 {
			t.Fatalf("GET /v1/me: %d %v %v", st, b, err)
		}
		if want(b) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("GET /v1/me still shows %v after %v", b, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
