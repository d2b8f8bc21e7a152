package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/server"
)

// TestCLIClients: baton clients add, list, show, update, rotate-secret and
// delete through the real binary, on SQLite and PostgreSQL. The secret is
// printed once, stored only as its SHA-256 and never shown again; refused
// changes change nothing; every change is in the audit log, no secret is.
func TestCLIClients(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	eachStore(t, testClients)
}

// storedClient reads a client straight from the store env configures.
func storedClient(t *testing.T, env []string, id string) *baton.OAuthClient {
	t.Helper()
	vars := map[string]string{"BATON_ISSUER": "http://baton.test"}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c, err := store.Client(ctx, id)
	if err != nil {
		t.Fatalf("stored client %s: %v", id, err)
	}
	return c
}

func testClients(t *testing.T, env []string, run cliRunner) {
	cli := func(t *testing.T, code int, args ...string) cliResult {
		t.Helper()
		return run(t, "", args...).want(t, code, args...)
	}
	var added struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	r := cli(t, 0, "clients", "add", "Web app", "--redirect-uri", "https://app.example.com/cb",
		"--redirect-uri", "http://127.0.0.1/cb", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &added); err != nil || added.ClientID == "" || !strings.HasPrefix(added.ClientSecret, "bcs_") {
		t.Fatalf("clients add --json: %v %q", err, r.stdout)
	}
	id, secret := added.ClientID, added.ClientSecret
	if sum := sha256.Sum256([]byte(secret)); string(storedClient(t, env, id).SecretHash) != string(sum[:]) {
		t.Fatal("the store does not hold the secret's SHA-256")
	}

	pub := cli(t, 0, "clients", "add", "Native app", "--public", "--redirect-uri", "com.example.app:/cb",
		"--scopes", "profile,api:read", "--grant-types", "authorization_code", "--id-token-alg", "EdDSA",
		"--access-ttl", "2m", "--refresh-ttl", "24h", "--refresh-idle-ttl", "1h", "--first-party", "--require-par",
		"--post-logout-redirect-uri", "com.example.app:/bye", "--backchannel-logout-uri", "https://app.example.com/bc")
	m := regexp.MustCompile(`(?m)^client_id:\s+(\S+)$`).FindStringSubmatch(pub.stdout)
	if m == nil || !strings.Contains(pub.stdout, "added public client Native app") || strings.Contains(pub.stdout, "client_secret") {
		t.Fatalf("clients add --public:\n%s", pub.stdout)
	}
	pubID := m[1]

	showJSON := func(t *testing.T, id string) map[string]any {
		t.Helper()
		var c map[string]any
		if err := json.Unmarshal([]byte(cli(t, 0, "clients", "show", id, "--json").stdout), &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("Show", func(t *testing.T) {
		c := showJSON(t, pubID)
		want := map[string]any{"client_id": pubID, "client_name": "Native app", "public": true, "first_party": true,
			"require_pushed_authorization_requests": true, "id_token_signed_response_alg": "EdDSA",
			"access_ttl": "2m0s", "refresh_ttl": "24h0m0s", "refresh_idle_ttl": "1h0m0s",
			"backchannel_logout_uri": "https://app.example.com/bc"}
		for k, v := range want {
			if c[k] != v {
				t.Errorf("%s: got %v, want %v", k, c[k], v)
			}
		}
		for k, v := range map[string]string{"scopes": "openid profile api:read", "grant_types": "authorization_code",
			"redirect_uris": "com.example.app:/cb", "post_logout_redirect_uris": "com.example.app:/bye",
			"token_endpoint_auth_methods": "none"} {
			if got := strings.Join(toStrings(c[k]), " "); got != v {
				t.Errorf("%s: got %q, want %q", k, got, v)
			}
		}
		conf := showJSON(t, id)
		if conf["public"] != false || conf["access_ttl"] != nil || strings.Join(toStrings(conf["grant_types"]), " ") != "authorization_code refresh_token" {
			t.Errorf("confidential client with defaults: %v", conf)
		}
		text := cli(t, 0, "clients", "show", id).stdout
		for _, out := range []string{text, cli(t, 0, "clients", "show", id, "--json").stdout, cli(t, 0, "clients", "list", "--json").stdout} {
			if strings.Contains(out, secret) || strings.Contains(strings.ToLower(out), "secret_hash") || strings.Contains(out, "client_secret\"") {
				t.Fatalf("the secret shows:\n%s", out)
			}
		}
		if !strings.Contains(text, "confidential (client_secret_basic, client_secret_post)") || !strings.Contains(text, "http://127.0.0.1/cb") {
			t.Errorf("clients show:\n%s", text)
		}
		cli(t, 3, "clients", "show", "no-such-client")
		cli(t, 2, "clients", "show")
	})
	t.Run("List", func(t *testing.T) {
		lines := strings.Split(strings.TrimSpace(cli(t, 0, "clients", "list").stdout), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "CLIENT ID") {
			t.Fatalf("clients list:\n%s", strings.Join(lines, "\n"))
		}
		var all []map[string]any
		if err := json.Unmarshal([]byte(cli(t, 0, "clients", "list", "--json", "--limit", "1").stdout), &all); err != nil || len(all) != 1 {
			t.Fatalf("clients list --limit 1: %v %v", err, all)
		}
		var rest []map[string]any
		if err := json.Unmarshal([]byte(cli(t, 0, "clients", "list", "--json", "--after", all[0]["client_id"].(string)).stdout), &rest); err != nil || len(rest) != 1 {
			t.Fatalf("clients list --after: %v %v", err, rest)
		}
		cli(t, 2, "clients", "list", "--limit", "0")
	})
	t.Run("AddRefused", func(t *testing.T) {
		for _, tt := range []struct {
			args    []string
			code    int
			wantErr string
		}{
			{[]string{"clients", "add", "No URI"}, 1, "redirect URI"},
			{[]string{"clients", "add", "Plain http", "--redirect-uri", "http://app.example.com/cb"}, 1, "loopback"},
			{[]string{"clients", "add", "Public cc", "--public", "--redirect-uri", "https://a.example/cb", "--grant-types", "client_credentials"}, 1, "public client"},
			{[]string{"clients", "add", "Alg", "--redirect-uri", "https://a.example/cb", "--id-token-alg", "HS256"}, 1, "algorithm"},
			{[]string{"clients", "add", "Idle", "--redirect-uri", "https://a.example/cb", "--refresh-ttl", "1h", "--refresh-idle-ttl", "2h"}, 1, "idle"},
			{[]string{"clients", "add", "--redirect-uri", "https://a.example/cb"}, 2, "NAME"},
			{[]string{"clients", "add", "a", "b", "--redirect-uri", "https://a.example/cb"}, 2, "NAME"},
			{[]string{"clients", "add", "TTL", "--redirect-uri", "https://a.example/cb", "--access-ttl", "forever"}, 2, "access-ttl"},
		} {
			r := run(t, "", tt.args...).want(t, tt.code, tt.args...)
			if !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("%v: stderr %q lacks %q", tt.args, r.stderr, tt.wantErr)
			}
		}
		var all []any
		if err := json.Unmarshal([]byte(cli(t, 0, "clients", "list", "--json").stdout), &all); err != nil || len(all) != 2 {
			t.Fatalf("a refused add stored a client: %v %d", err, len(all))
		}
	})
	t.Run("Update", func(t *testing.T) {
		r := cli(t, 0, "clients", "update", id, "--redirect-uri", "https://new.example.com/cb", "--name", "Renamed",
			"--post-logout-redirect-uri", "https://new.example.com/bye", "--json")
		var c map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &c); err != nil || c["client_name"] != "Renamed" ||
			strings.Join(toStrings(c["redirect_uris"]), " ") != "https://new.example.com/cb" {
			t.Fatalf("clients update --json: %v %s", err, r.stdout)
		}
		before := cli(t, 0, "clients", "show", id, "--json").stdout
		cli(t, 1, "clients", "update", id, "--public")                                       // no turning public
		cli(t, 1, "clients", "update", id, "--redirect-uri", "https://new.example.com/cb#x") // a fragment
		cli(t, 1, "clients", "update", id, "--redirect-uri", "")                             // no redirect URI left
		cli(t, 1, "clients", "update", id, "--grant-types", "refresh_token")                 // refresh needs code
		cli(t, 2, "clients", "update", id)                                                   // nothing to change
		cli(t, 3, "clients", "update", "no-such-client", "--name", "x")                      // unknown
		if after := cli(t, 0, "clients", "show", id, "--json").stdout; after != before {
			t.Fatalf("a refused update changed the client:\n%s\nwas\n%s", after, before)
		}
		r = cli(t, 0, "clients", "update", id, "--post-logout-redirect-uri", "", "--first-party")
		if !strings.Contains(r.stdout, "updated client "+id) || !regexp.MustCompile(`post-logout URIs:\s+-`).MatchString(r.stdout) {
			t.Errorf("clients update emptying a list:\n%s", r.stdout)
		}
		if sum := sha256.Sum256([]byte(secret)); string(storedClient(t, env, id).SecretHash) != string(sum[:]) {
			t.Error("an update changed the secret")
		}
	})
	t.Run("RotateSecret", func(t *testing.T) {
		var rotated struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		r := cli(t, 0, "clients", "rotate-secret", id, "--json")
		if err := json.Unmarshal([]byte(r.stdout), &rotated); err != nil || rotated.ClientID != id ||
			!strings.HasPrefix(rotated.ClientSecret, "bcs_") || rotated.ClientSecret == secret {
			t.Fatalf("clients rotate-secret --json: %v %q", err, r.stdout)
		}
		if sum := sha256.Sum256([]byte(rotated.ClientSecret)); string(storedClient(t, env, id).SecretHash) != string(sum[:]) {
			t.Error("the store does not hold the new secret's SHA-256")
		}
		if r := cli(t, 0, "clients", "rotate-secret", id); !strings.Contains(r.stdout, "client_secret:") {
			t.Errorf("clients rotate-secret:\n%s", r.stdout)
		}
		if r := cli(t, 1, "clients", "rotate-secret", pubID); !strings.Contains(r.stderr, "public") {
			t.Errorf("rotate-secret of a public client: %q", r.stderr)
		}
		if !storedClient(t, env, pubID).Public() {
			t.Error("a refused rotation gave the public client a secret")
		}
		cli(t, 3, "clients", "rotate-secret", "no-such-client")
	})
	t.Run("Delete", func(t *testing.T) {
		if r := cli(t, 0, "clients", "delete", pubID, "--json"); !strings.Contains(r.stdout, `"deleted": true`) {
			t.Errorf("clients delete --json: %s", r.stdout)
		}
		cli(t, 3, "clients", "show", pubID)
		cli(t, 3, "clients", "delete", pubID)
		cli(t, 2, "clients", "delete")
	})
	t.Run("Audit", func(t *testing.T) {
		out := cli(t, 0, "audit", "tail", "-n", "100", "--json").stdout
		for _, want := range []string{`"client_add"`, `"client_update"`, `"client_secret_rotate"`, `"client_deleted"`, "admin, client " + id} {
			if !strings.Contains(out, want) {
				t.Errorf("the audit log lacks %s:\n%s", want, out)
			}
		}
		if strings.Contains(out, "bcs_") {
			t.Error("a client secret reached the audit log")
		}
	})
}

// toStrings is a decoded JSON array of strings.
func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
