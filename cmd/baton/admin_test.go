package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/batonauth/baton/postgres/pgtest"
	bsession "github.com/batonauth/baton/session"
)

// cliResult is what one run of the built binary gave.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the built baton binary with args on dataDir, feeding stdin.
func runCLI(t *testing.T, dataDir, stdin string, args ...string) cliResult {
	t.Helper()
	return runCLIEnv(t, []string{"BATON_DATA_DIR=" + dataDir, "BATON_ISSUER=http://baton.test"}, stdin, args...)
}

// runCLIEnv runs the built baton binary with args and env added to the
// test's environment, feeding stdin.
func runCLIEnv(t *testing.T, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return cliResult{out.String(), errb.String(), code}
}

func (r cliResult) want(t *testing.T, code int, args ...string) cliResult {
	t.Helper()
	if r.code != code {
		t.Fatalf("baton %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	return r
}

func cli(t *testing.T, dir, stdin string, code int, args ...string) cliResult {
	t.Helper()
	return runCLI(t, dir, stdin, args...).want(t, code, args...)
}

func TestCLIUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := filepath.Join(t.TempDir(), "data")
	add := cli(t, dir, testPassword+"\n", 0, "users", "add", "Alice@Example.com", "--password-stdin", "--json")
	var alice struct {
		ID, Username string
		Locked       bool
	}
	if err := json.Unmarshal([]byte(add.stdout), &alice); err != nil || alice.ID == "" || alice.Username != "Alice@Example.com" {
		t.Fatalf("users add --json: %v %q", err, add.stdout)
	}
	cli(t, dir, testPassword+"\n", 0, "users", "add", "bob", "--password-stdin")

	t.Run("Usage", func(t *testing.T) {
		cli(t, dir, testPassword+"\n", 2, "users", "add", "carol")                   // no --password-stdin
		cli(t, dir, "", 2, "users", "add", "carol", "--password-stdin")              // empty stdin
		cli(t, dir, "", 2, "users", "frobnicate")                                    // unknown command
		cli(t, dir, "", 2, "users")                                                  // no command
		cli(t, dir, "", 2, "users", "show")                                          // missing argument
		cli(t, dir, "", 2, "users", "list", "--bogus")                               // bad flag
		cli(t, dir, "", 2, "sessions", "list")                                       // --user missing
		cli(t, dir, testPassword+"\n", 2, "users", "add", "x", "--password", "oops") // no such flag
		if r := cli(t, dir, "", 0, "users", "add", "-h"); !strings.Contains(r.stdout, "--password-stdin") && !strings.Contains(r.stdout, "-password-stdin") {
			t.Fatalf("users add -h: %q", r.stdout)
		}
		for _, g := range []string{"users", "sessions", "audit", "keys"} {
			if r := cli(t, dir, "", 0, g, "--help"); !strings.Contains(r.stdout, "Exit codes") {
				t.Fatalf("%s --help: %q", g, r.stdout)
			}
		}
	})
	t.Run("Failures", func(t *testing.T) {
		cli(t, dir, testPassword+"\n", 1, "users", "add", "ALICE@example.com", "--password-stdin") // taken
		cli(t, dir, "short\n", 1, "users", "add", "dave", "--password-stdin")                      // weak
		// Alice's username is her address.
		cli(t, dir, testPassword+"\n", 1, "users", "add", "erin", "--password-stdin", "--email", "alice@EXAMPLE.com")
		if r := cli(t, dir, testPassword+"\n", 1, "users", "add", "erin", "--password-stdin", "--email", "Erin <erin@example.org>"); !strings.Contains(r.stderr, "email address") {
			t.Fatalf("users add with a malformed address: stderr %q", r.stderr)
		}
		cli(t, dir, "", 3, "users", "show", "nobody")
		cli(t, dir, "", 3, "users", "lock", "nobody")
		cli(t, dir, "", 3, "sessions", "revoke", "00000000-0000-4000-8000-000000000000")
		cli(t, dir, "", 3, "keys", "retire", "no-such-key")
	})
	t.Run("ListAndShow", func(t *testing.T) {
		r := cli(t, dir, "", 0, "users", "list")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
			t.Fatalf("users list:\n%s", r.stdout)
		}
		// Aligned: the USERNAME column starts at the same offset on every line.
		col := strings.Index(lines[0], "USERNAME")
		if strings.Index(lines[1], "Alice@Example.com") != col || strings.Index(lines[2], "bob") != col {
			t.Fatalf("users list is not aligned:\n%s", r.stdout)
		}
		var list []map[string]any
		if err := json.Unmarshal([]byte(cli(t, dir, "", 0, "users", "list", "--json").stdout), &list); err != nil || len(list) != 2 {
			t.Fatalf("users list --json: %v %v", err, list)
		}
		for _, u := range list {
			for k := range u {
				if strings.Contains(strings.ToLower(k), "password") || strings.Contains(strings.ToLower(k), "hash") {
					t.Fatalf("users list --json shows %s", k)
				}
			}
		}
		byID := cli(t, dir, "", 0, "users", "show", "--id", alice.ID)
		byName := cli(t, dir, "", 0, "users", "show", "alice@EXAMPLE.com")
		cli(t, dir, "", 3, "users", "show", alice.ID)                 // a positional argument is a username
		cli(t, dir, "", 2, "users", "show", "bob", "--id", alice.ID)  // both
		cli(t, dir, "", 3, "sessions", "list", "--user", alice.ID)    // --user is a username too
		cli(t, dir, "", 0, "sessions", "list", "--user-id", alice.ID) // ids need --user-id
		cli(t, dir, "", 2, "sessions", "list", "--user", "bob", "--user-id", alice.ID)
		if byID.stdout != byName.stdout || !strings.Contains(byID.stdout, alice.ID) {
			t.Fatalf("show by id and by name differ:\n%s\n%s", byID.stdout, byName.stdout)
		}
		if strings.Contains(byID.stdout, "argon2") {
			t.Fatal("users show prints the password hash")
		}
	})
	t.Run("UsernameEqualToAnotherID", func(t *testing.T) {
		// mallory registers alice's id as a username: locking that
		// username locks mallory, never alice.
		cli(t, dir, testPassword+"\n", 0, "users", "add", alice.ID, "--password-stdin")
		r := cli(t, dir, "", 0, "users", "lock", alice.ID, "--json")
		var locked struct{ ID, Username string }
		if err := json.Unmarshal([]byte(r.stdout), &locked); err != nil || locked.ID == alice.ID || locked.Username != alice.ID {
			t.Fatalf("users lock %s locked %+v, want the user named so, not alice", alice.ID, locked)
		}
		if r := cli(t, dir, "", 0, "users", "show", "--id", alice.ID, "--json"); !strings.Contains(r.stdout, `"locked": false`) {
			t.Fatalf("alice was locked: %s", r.stdout)
		}
		cli(t, dir, "", 0, "users", "delete", "--id", locked.ID)
	})
	t.Run("LockUnlockSetPasswordDelete", func(t *testing.T) {
		r := cli(t, dir, "", 0, "users", "lock", "bob", "--json")
		if !strings.Contains(r.stdout, `"locked": true`) {
			t.Fatalf("lock: %s", r.stdout)
		}
		if r := cli(t, dir, "", 0, "users", "unlock", "bob", "--json"); !strings.Contains(r.stdout, `"locked": false`) {
			t.Fatalf("unlock: %s", r.stdout)
		}
		cli(t, dir, "bob\n", 1, "users", "set-password", "bob", "--password-stdin") // equal to the username
		cli(t, dir, "another fine passphrase\n", 0, "users", "set-password", "bob", "--password-stdin")
		cli(t, dir, "", 0, "users", "delete", "bob")
		cli(t, dir, "", 3, "users", "delete", "bob")
		cli(t, dir, testPassword+"\n", 0, "users", "add", "bob", "--password-stdin") // the name is free again
	})
	t.Run("Audit", func(t *testing.T) {
		r := cli(t, dir, "", 0, "audit", "tail", "-n", "100", "--json")
		var types []string
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var e struct{ Type, Detail, UserAgent string }
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("audit line %q: %v", line, err)
			}
			types = append(types, e.Type)
		}
		got := strings.Join(types, ",")
		for _, want := range []string{"register", "lock", "unlock", "password_change", "account_deleted"} {
			if !strings.Contains(got, want) {
				t.Errorf("audit log %s lacks %s", got, want)
			}
		}
		if r := cli(t, dir, "", 0, "audit", "tail", "-n", "2"); len(strings.Split(strings.TrimSpace(r.stdout), "\n")) != 3 {
			t.Fatalf("audit tail -n 2:\n%s", r.stdout)
		}
		if strings.Contains(r.stdout, testPassword) {
			t.Fatal("the audit log shows a password")
		}
	})
}

func TestCLIKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := filepath.Join(t.TempDir(), "data")
	type key struct{ ID, Use, State string }
	list := func() []key {
		var ks []key
		if err := json.Unmarshal([]byte(cli(t, dir, "", 0, "keys", "list", "--json").stdout), &ks); err != nil {
			t.Fatal(err)
		}
		return ks
	}
	ks := list()
	var first string
	for _, k := range ks {
		if k.Use == "sig" {
			first = k.ID
		}
	}
	if first == "" || len(ks) != 3 {
		t.Fatalf("keys of a new store: %+v", ks)
	}
	// The only signing key cannot be retired.
	cli(t, dir, "", 1, "keys", "retire", first)
	var pending key
	if err := json.Unmarshal([]byte(cli(t, dir, "", 0, "keys", "rotate", "--json").stdout), &pending); err != nil || pending.State != "pending" {
		t.Fatalf("rotate: %v %+v", err, pending)
	}
	// Retiring the active key while the other is only pending is refused.
	cli(t, dir, "", 1, "keys", "retire", first)
	cli(t, dir, "", 2, "keys", "rotate", "--prepublish", "-1m")
	var now key
	if err := json.Unmarshal([]byte(cli(t, dir, "", 0, "keys", "rotate", "--prepublish", "0s", "--json").stdout), &now); err != nil || now.State != "signing" {
		t.Fatalf("rotate --prepublish 0: %v %+v", err, now)
	}
	r := cli(t, dir, "", 0, "keys", "retire", first)
	if !strings.Contains(r.stdout, "leaves the JWKS after") {
		t.Fatalf("retire: %q", r.stdout)
	}
	cli(t, dir, "", 1, "keys", "retire", first) // already retired
	tbl := cli(t, dir, "", 0, "keys", "list").stdout
	for _, want := range []string{first + "  sig", "retired", "pending", "signing"} {
		if !strings.Contains(tbl, want) {
			t.Fatalf("keys list lacks %q:\n%s", want, tbl)
		}
	}

	// The ID-token keys: a server makes them on first need; the CLI adds
	// one on request. Alone of its use, the new key signs at once.
	var ec key
	if err := json.Unmarshal([]byte(cli(t, dir, "", 0, "keys", "rotate", "--alg", "ES256", "--json").stdout), &ec); err != nil ||
		ec.Use != "sig_es256" || ec.State != "signing" {
		t.Fatalf("rotate --alg ES256: %v %+v", err, ec)
	}
	cli(t, dir, "", 1, "keys", "retire", ec.ID) // the only ES256 key
	cli(t, dir, "", 2, "keys", "rotate", "--alg", "HS256")
	if r := cli(t, dir, "", 0, "keys", "rotate", "--alg", "RS256"); !strings.Contains(r.stdout, "new RS256 signing key") {
		t.Fatalf("rotate --alg RS256: %q", r.stdout)
	}
	tbl = cli(t, dir, "", 0, "keys", "list").stdout
	for _, want := range []string{ec.ID + "  sig_es256  ES256  signing", "sig_rs256  RS256  signing"} {
		if !strings.Contains(tbl, want) {
			t.Fatalf("keys list lacks %q:\n%s", want, tbl)
		}
	}

	audit := cli(t, dir, "", 0, "audit", "tail").stdout
	if strings.Count(audit, "key_rotate") != 4 || strings.Count(audit, "key_retire") != 1 {
		t.Fatalf("key operations in the audit log:\n%s", audit)
	}
}

// TestCLIWithRunningServer runs admin commands on the data directory of a
// running server: the server sees their revocations within about a second.
func TestCLIWithRunningServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := filepath.Join(t.TempDir(), "data")
	p := startBaton(t, "BATON_DATA_DIR="+dir)
	cli(t, dir, testPassword+"\n", 0, "users", "add", "erin", "--password-stdin")
	curPW := testPassword
	login := func() map[string]any {
		t.Helper()
		st, b, err := p.post("/v1/login", map[string]string{"username": "erin", "password": curPW})
		if err != nil || st != 200 {
			t.Fatalf("login: %d %v %v", st, b, err)
		}
		return b
	}
	// rejectedWithin polls /v1/me until the access token is refused.
	rejectedWithin := func(at string) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < 3*time.Second {
			if st, _, _ := p.get("/v1/me", at); st == 401 {
				return time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("the access token still works 3s after the CLI revoked its session")
		return 0
	}

	t.Run("SessionsRevoke", func(t *testing.T) {
		b := login()
		at, sid := b["access_token"].(string), b["session_id"].(string)
		if st, _, _ := p.get("/v1/me", at); st != 200 {
			t.Fatalf("me: %d", st)
		}
		if r := cli(t, dir, "", 0, "sessions", "list", "--user", "erin"); !strings.Contains(r.stdout, sid) {
			t.Fatalf("sessions list lacks %s:\n%s", sid, r.stdout)
		}
		cli(t, dir, "", 0, "sessions", "revoke", sid)
		if d := rejectedWithin(at); d > 1500*time.Millisecond {
			t.Fatalf("the server took %v to reject a session revoked by the CLI", d)
		} else {
			t.Logf("rejected %v after `baton sessions revoke` returned", d)
		}
		if st, _, _ := p.post("/v1/refresh", map[string]string{"refresh_token": b["refresh_token"].(string)}); st != 401 {
			t.Fatalf("refresh of a revoked session: %d", st)
		}
		if r := cli(t, dir, "", 0, "sessions", "revoke", sid); !strings.Contains(r.stdout, "already") {
			t.Fatalf("second revoke: %q", r.stdout)
		}
	})
	t.Run("LockedUserCannotLoginOrRefresh", func(t *testing.T) {
		b := login()
		cli(t, dir, "", 0, "users", "lock", "erin")
		if st, _, _ := p.post("/v1/login", map[string]string{"username": "erin", "password": testPassword}); st != 401 {
			t.Fatalf("login of a locked user: %d", st)
		}
		if st, _, _ := p.post("/v1/refresh", map[string]string{"refresh_token": b["refresh_token"].(string)}); st != 401 {
			t.Fatalf("refresh of a locked user: %d", st)
		}
		if d := rejectedWithin(b["access_token"].(string)); d > 1500*time.Millisecond {
			t.Fatalf("a locked user's access token worked for %v", d)
		}
		cli(t, dir, "", 0, "users", "unlock", "erin")
		login()
	})
	t.Run("RevokeAll", func(t *testing.T) {
		a, b := login(), login()
		r := cli(t, dir, "", 0, "sessions", "revoke-all", "--user", "erin", "--json")
		var out struct{ Revoked []string }
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Revoked) < 2 {
			t.Fatalf("revoke-all: %v %s", err, r.stdout)
		}
		rejectedWithin(a["access_token"].(string))
		rejectedWithin(b["access_token"].(string))
	})
	t.Run("SetPassword", func(t *testing.T) {
		cli(t, dir, "a replacement passphrase\n", 0, "users", "set-password", "erin", "--password-stdin")
		if st, _, _ := p.post("/v1/login", map[string]string{"username": "erin", "password": testPassword}); st != 401 {
			t.Fatalf("old password: %d", st)
		}
		curPW = "a replacement passphrase"
		login()
	})
	t.Run("SetEmailReachesMe", func(t *testing.T) {
		// The server caches the profile GET /v1/me shows; the CLI, another
		// process, cannot drop it, so the entry must expire.
		at := login()["access_token"].(string)
		meShows(t, p, at, 0, func(b map[string]any) bool { return b["email"] == nil && b["email_verified"] == false })
		cli(t, dir, "", 0, "users", "set-email", "erin", "Erin@Example.com", "--verified")
		d := meShows(t, p, at, bsession.ProfileTTL+2*time.Second, func(b map[string]any) bool {
			return b["email"] == "Erin@Example.com" && b["email_verified"] == true
		})
		t.Logf("GET /v1/me showed the new address %v after `baton users set-email` returned", d)
		// The address is no credential: the session lives on.
		meShows(t, p, at, 0, func(map[string]any) bool { return true })
	})
	t.Run("AuditHasServerAndCLIEvents", func(t *testing.T) {
		// The server writes its audit log asynchronously; give it a moment.
		deadline := time.Now().Add(3 * time.Second)
		for {
			out := cli(t, dir, "", 0, "audit", "tail", "-n", "200").stdout
			if strings.Contains(out, "login") && strings.Contains(out, "lock") && strings.Contains(out, "revoke") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("audit log:\n%s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("AuditFollow", func(t *testing.T) {
		bin, _ := buildBinary()
		cmd := exec.Command(bin, "audit", "tail", "--follow", "-n", "0", "--json", "--interval", "100ms")
		cmd.Env = append(os.Environ(), "BATON_DATA_DIR="+dir)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill() }()
		lines := make(chan string, 10)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		time.Sleep(300 * time.Millisecond)
		login()
		select {
		case l := <-lines:
			if !strings.Contains(l, `"type":"login"`) {
				t.Fatalf("followed line %q, want the login", l)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("audit tail --follow printed nothing for a new login")
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("audit tail --follow after SIGINT: %v", err)
		}
	})
	t.Run("Migrate", func(t *testing.T) {
		cli(t, dir, "", 0, "migrate")
	})
}

func TestCLIHelpAndVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	h := cli(t, dir, "", 0, "--help").stdout
	for _, want := range []string{"users add", "users set-password", "sessions revoke-all", "audit tail", "keys rotate",
		"keys retire", "migrate", "version", "Exit codes", "--password-stdin"} {
		if !strings.Contains(h, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	v := cli(t, dir, "", 0, "version").stdout
	if !regexp.MustCompile(`^baton \S+ go1\.\d+`).MatchString(v) {
		t.Fatalf("version: %q", v)
	}
	cli(t, dir, "", 2)
	for _, c := range []string{"serve", "migrate", "version"} {
		if r := cli(t, dir, "", 0, c, "-h"); !strings.HasPrefix(r.stdout, "Usage: baton "+c) {
			t.Errorf("%s -h: %q", c, r.stdout)
		}
	}
	for g, cmds := range adminGroups {
		for _, c := range cmds {
			r := cli(t, dir, "", 0, g, c.name, "-h")
			if !strings.HasPrefix(r.stdout, "Usage: baton "+g+" "+c.name) || !strings.Contains(r.stdout, "-json") ||
				!strings.Contains(r.stdout, "Exit codes") {
				t.Errorf("%s %s -h: %q", g, c.name, r.stdout)
			}
		}
	}
}

// TestAdminAddr: with BATON_ADMIN_ADDR, /metrics is served on that
// listener only.
func TestAdminAddr(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	p := startBaton(t, "BATON_DATA_DIR="+filepath.Join(t.TempDir(), "data"), "BATON_ADMIN_ADDR=127.0.0.1:0")
	var admin string
	for _, line := range strings.Split(p.Logs(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "baton admin listening" {
			admin, _ = m["admin_addr"].(string)
		}
	}
	if admin == "" {
		t.Fatalf("no admin listener in the log:\n%s", p.Logs())
	}
	if st, _, _ := p.get("/metrics", ""); st != 404 {
		t.Fatalf("/metrics on the public listener: %d", st)
	}
	res, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(raw, []byte("baton_build_info{")) {
		t.Fatalf("/metrics on the admin listener: %d\n%s", res.StatusCode, raw)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// TestCLIPostgres: the admin commands work on a PostgreSQL store too.
func TestCLIPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	url := pgtest.NewDatabase(t)
	pg := func(stdin string, code int, args ...string) string {
		t.Helper()
		return runCLIEnv(t, []string{"BATON_DATABASE_URL=" + url}, stdin, args...).want(t, code, args...).stdout
	}
	pg("", 0, "migrate")
	pg(testPassword+"\n", 0, "users", "add", "pgu", "--password-stdin")
	if out := pg("", 0, "users", "list"); !strings.Contains(out, "pgu") {
		t.Fatalf("users list: %s", out)
	}
	pg("", 0, "users", "lock", "pgu")
	pg("", 3, "users", "show", "nobody")
	pg("", 0, "keys", "rotate")
	if out := pg("", 0, "audit", "tail"); !strings.Contains(out, "lock") || !strings.Contains(out, "key_rotate") {
		t.Fatalf("audit tail: %s", out)
	}
}

// TestCLIMasterKey: keys the CLI adds are sealed with BATON_MASTER_KEY like
// the server's, so a server with the same master key signs with them.
func TestCLIMasterKey(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := filepath.Join(t.TempDir(), "data")
	mk := "BATON_MASTER_KEY=" + strings.Repeat("ab", 32)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	run := func(code int, env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(append(os.Environ(), "BATON_DATA_DIR="+dir), env...)
		out, err := cmd.CombinedOutput()
		got := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			got = ee.ExitCode()
		}
		if got != code {
			t.Fatalf("baton %v: exit %d, want %d: %s", args, got, code, out)
		}
		return string(out)
	}
	var k struct{ ID string }
	if err := json.Unmarshal([]byte(run(0, []string{mk}, "keys", "rotate", "--prepublish", "0s", "--json")), &k); err != nil {
		t.Fatal(err)
	}
	// Without the master key the sealed keys cannot be opened.
	run(1, nil, "keys", "list")
	p := startBaton(t, "BATON_DATA_DIR="+dir, mk)
	if st, _, _ := p.post("/v1/register", map[string]string{"username": "mk", "password": testPassword}); st != 201 {
		t.Fatalf("register: %d", st)
	}
	st, b, _ := p.post("/v1/login", map[string]string{"username": "mk", "password": testPassword})
	if st != 200 {
		t.Fatalf("login: %d %v", st, b)
	}
	hdr, _, _ := strings.Cut(b["access_token"].(string), ".")
	if raw, _ := base64.RawURLEncoding.DecodeString(hdr); !strings.Contains(string(raw), k.ID) {
		t.Fatalf("token header %s, want kid %s (the key the CLI rotated in)", raw, k.ID)
	}
}

// TestCLIKeysReseal: an admin command started with a master key seals the
// keys a store kept in plaintext; `keys reseal` moves them to a new master
// key, audited, and a wrong old key changes nothing.
func TestCLIKeysReseal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := filepath.Join(t.TempDir(), "data")
	a, b, c := strings.Repeat("aa", 32), strings.Repeat("bb", 32), strings.Repeat("cc", 32)
	run := func(code int, stdin string, env []string, args ...string) string {
		t.Helper()
		r := runCLIEnv(t, append([]string{"BATON_DATA_DIR=" + dir, "BATON_ISSUER=http://baton.test"}, env...), stdin, args...)
		return r.want(t, code, args...).stdout + r.stderr
	}
	mk := func(k string) []string { return []string{"BATON_MASTER_KEY=" + k} }
	run(0, testPassword+"\n", nil, "users", "add", "alice", "--password-stdin")
	run(0, "", nil, "keys", "list") // plaintext keys open without a master key
	run(0, "", mk(a), "keys", "list")
	run(1, "", nil, "keys", "list") // sealed under A by the start above

	run(2, "", mk(b), "keys", "reseal")                                                           // no old key
	run(2, a+"\n", append(mk(b), "BATON_MASTER_KEY_OLD="+a), "keys", "reseal", "--old-key-stdin") // two old keys
	run(2, "", append(mk(b), "BATON_MASTER_KEY_OLD=short"), "keys", "reseal")                     // malformed
	run(2, "", []string{"BATON_MASTER_KEY_OLD=" + a}, "keys", "reseal")                           // no new key
	if out := run(1, "", append(mk(b), "BATON_MASTER_KEY_OLD="+c), "keys", "reseal"); !strings.Contains(out, "nothing changed") {
		t.Fatalf("reseal with a wrong old key: %s", out)
	}
	run(0, "", mk(a), "keys", "list") // still under A

	if out := run(0, a+"\n", mk(b), "keys", "reseal", "--old-key-stdin"); !strings.Contains(out, "re-sealed 3 key(s)") {
		t.Fatalf("reseal: %s", out)
	}
	run(1, "", mk(a), "keys", "list")
	run(0, "", mk(b), "keys", "list")
	if out := run(0, "", append(mk(b), "BATON_MASTER_KEY_OLD="+a), "keys", "reseal", "--json"); !strings.Contains(out, `"resealed": 0`) {
		t.Fatalf("second reseal: %s", out)
	}
	audit := run(0, "", mk(b), "audit", "tail", "-n", "100")
	if strings.Count(audit, "key_reseal") != 3 || !strings.Contains(audit, "resealed=3") || !strings.Contains(audit, "nothing changed") {
		t.Fatalf("reseals in the audit log:\n%s", audit)
	}
	p := startBaton(t, "BATON_DATA_DIR="+dir, "BATON_MASTER_KEY="+b)
	if st, _, _ := p.post("/v1/login", map[string]string{"username": "alice", "password": testPassword}); st != 200 {
		t.Fatalf("login after the reseal: %d", st)
	}
}

// TestCLIUsersAddEmail: users add stores the address --email gives, so a
// second user cannot have it in any letter case.
func TestCLIUsersAddEmail(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := filepath.Join(t.TempDir(), "data")
	cli(t, dir, testPassword+"\n", 0, "users", "add", "carol", "--password-stdin", "--email", "Carol@Example.org")
	if r := cli(t, dir, testPassword+"\n", 1, "users", "add", "dave", "--password-stdin", "--email", "CAROL@example.org"); !strings.Contains(r.stderr, "email") {
		t.Fatalf("users add with a taken address: stderr %q", r.stderr)
	}
	cli(t, dir, testPassword+"\n", 0, "users", "add", "dave", "--password-stdin", "--email", "dave@example.org")
}
