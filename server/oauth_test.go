package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
)

const (
	rsID     = "resource server:1" // ':' and ' ' must be form-encoded in Basic
	rsSecret = "s3cret/with+odd&chars=ok"
)

func rsEnv() batontest.Env {
	return batontest.Env{"BATON_RESOURCE_CLIENT_ID": rsID, "BATON_RESOURCE_CLIENT_SECRET": rsSecret}
}

func loginAs(t *testing.T, url, user string) reply {
	t.Helper()
	if r := call(t, "POST", url+"/v1/register", "", map[string]string{"username": user, "password": pw}); r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	r := call(t, "POST", url+"/v1/login", "", map[string]string{"username": user, "password": pw})
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	return r
}

func TestOAuthRevoke(t *testing.T) {
	srv := batontest.NewServer(t, rsEnv(), nil)
	for _, kind := range []string{"access_token", "refresh_token"} {
		t.Run("Revoke"+kind, func(t *testing.T) {
			l := loginAs(t, srv.URL, "rev-"+kind)
			r := call(t, "POST", srv.URL+"/oauth/revoke", "", "token="+url.QueryEscape(l.str(kind))+"&token_type_hint="+kind)
			if r.status != 200 {
				t.Fatalf("revoke: %d %s", r.status, r.raw)
			}
			// The whole session is revoked: both kinds of token stop working.
			if r := call(t, "GET", srv.URL+"/v1/me", l.str("access_token"), nil); r.status != 401 || r.str("error") != "invalid_token" {
				t.Fatalf("me after revoke: %d %s", r.status, r.raw)
			}
			if r := call(t, "POST", srv.URL+"/v1/refresh", "", map[string]string{"refresh_token": l.str("refresh_token")}); r.status != 401 || r.str("error") != "invalid_grant" {
				t.Fatalf("refresh after revoke: %d %s", r.status, r.raw)
			}
			// Revoking again is still 200 (RFC 7009 §2.2).
			if r := call(t, "POST", srv.URL+"/oauth/revoke", "", "token="+url.QueryEscape(l.str(kind))); r.status != 200 {
				t.Fatalf("second revoke: %d", r.status)
			}
		})
	}
	t.Run("UnknownToken", func(t *testing.T) {
		for _, tok := range []string{"brt_unknownunknownunknownunknownunknownunknown", "eyJhbGciOiJFZERTQSJ9.e30.AAAA", "garbage"} {
			if r := call(t, "POST", srv.URL+"/oauth/revoke", "", "token="+url.QueryEscape(tok)); r.status != 200 {
				t.Fatalf("revoke %q: %d %s", tok, r.status, r.raw)
			}
		}
	})
	t.Run("JSONBody", func(t *testing.T) {
		l := loginAs(t, srv.URL, "rev-json")
		if r := call(t, "POST", srv.URL+"/oauth/revoke", "", map[string]string{"token": l.str("refresh_token")}); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		if r := call(t, "GET", srv.URL+"/v1/me", l.str("access_token"), nil); r.status != 401 {
			t.Fatalf("me after revoke: %d", r.status)
		}
	})
	t.Run("NoToken", func(t *testing.T) {
		r := call(t, "POST", srv.URL+"/oauth/revoke", "", "token_type_hint=access_token")
		if r.status != 400 || r.str("error") != "invalid_request" {
			t.Fatalf("revoke without token: %d %s", r.status, r.raw)
		}
	})
}

func TestOAuthIntrospect(t *testing.T) {
	clock := batontest.NewClock(time.Now().UTC().Truncate(time.Second))
	srv := batontest.NewServer(t, rsEnv(), clock)
	auth := basic(rsID, rsSecret)
	introspect := func(t *testing.T, tok string, hdr ...string) reply {
		t.Helper()
		return call(t, "POST", srv.URL+"/oauth/introspect", "", "token="+url.QueryEscape(tok), hdr...)
	}
	inactive := func(t *testing.T, r reply) {
		t.Helper()
		if r.status != 200 || len(r.body) != 1 || r.body["active"] != false {
			t.Fatalf("want exactly {\"active\":false}, got %d %s", r.status, r.raw)
		}
	}
	l := loginAs(t, srv.URL, "intro")
	t.Run("ActiveAccess", func(t *testing.T) {
		r := introspect(t, l.str("access_token"), "Authorization", auth)
		if r.status != 200 || r.body["active"] != true {
			t.Fatalf("introspect: %d %s", r.status, r.raw)
		}
		for _, k := range []string{"sub", "sid", "exp", "iat", "token_type", "client_id"} {
			if _, ok := r.body[k]; !ok {
				t.Errorf("active answer lacks %s: %s", k, r.raw)
			}
		}
		if r.str("sid") != l.str("session_id") || r.str("token_type") != "Bearer" {
			t.Fatalf("introspect: %s", r.raw)
		}
		if amr, _ := json.Marshal(r.body["amr"]); string(amr) != `["pwd"]` {
			t.Errorf("amr %s, want [\"pwd\"]: %s", amr, r.raw)
		}
		if r.hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", r.hdr.Get("Cache-Control"))
		}
	})
	t.Run("ActiveRefresh", func(t *testing.T) {
		r := introspect(t, l.str("refresh_token"), "Authorization", auth)
		if r.body["active"] != true || r.str("sid") != l.str("session_id") {
			t.Fatalf("introspect refresh token: %s", r.raw)
		}
		if amr, _ := json.Marshal(r.body["amr"]); string(amr) != `["pwd"]` {
			t.Errorf("amr %s, want the session's [\"pwd\"]: %s", amr, r.raw)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		inactive(t, introspect(t, "brt_nothingnothingnothingnothingnothingnothing", "Authorization", auth))
		inactive(t, introspect(t, "not.a.jwt", "Authorization", auth))
	})
	t.Run("Spent", func(t *testing.T) {
		l := loginAs(t, srv.URL, "intro-spent")
		if r := call(t, "POST", srv.URL+"/v1/refresh", "", map[string]string{"refresh_token": l.str("refresh_token")}); r.status != 200 {
			t.Fatalf("refresh: %d", r.status)
		}
		inactive(t, introspect(t, l.str("refresh_token"), "Authorization", auth))
	})
	t.Run("Revoked", func(t *testing.T) {
		l := loginAs(t, srv.URL, "intro-revoked")
		call(t, "POST", srv.URL+"/v1/logout", l.str("access_token"), nil)
		inactive(t, introspect(t, l.str("access_token"), "Authorization", auth))
		inactive(t, introspect(t, l.str("refresh_token"), "Authorization", auth))
	})
	t.Run("Expired", func(t *testing.T) {
		l := loginAs(t, srv.URL, "intro-expired")
		clock.Advance(5*time.Minute + 10*time.Second)
		inactive(t, introspect(t, l.str("access_token"), "Authorization", auth))
	})
	t.Run("ClientAuth", func(t *testing.T) {
		plain := "Basic " + base64.StdEncoding.EncodeToString([]byte(rsID+":"+rsSecret))
		for name, hdr := range map[string][]string{
			"None":        nil,
			"WrongSecret": {"Authorization", basic(rsID, rsSecret+"x")},
			"WrongID":     {"Authorization", basic("other", rsSecret)},
			"Bearer":      {"Authorization", "Bearer " + l.str("access_token")},
			// The id has a ':' so without form-encoding it splits wrongly.
			"NotFormEncoded": {"Authorization", plain},
		} {
			t.Run(name, func(t *testing.T) {
				r := introspect(t, l.str("access_token"), hdr...)
				if r.status != 401 || r.str("error") != "invalid_client" || !strings.HasPrefix(r.hdr.Get("WWW-Authenticate"), "Basic") {
					t.Fatalf("got %d %s WWW-Authenticate %q, want 401 invalid_client with Basic",
						r.status, r.raw, r.hdr.Get("WWW-Authenticate"))
				}
			})
		}
	})
	t.Run("NoToken", func(t *testing.T) {
		r := call(t, "POST", srv.URL+"/oauth/introspect", "", "token_type_hint=access_token", "Authorization", auth)
		if r.status != 400 || r.str("error") != "invalid_request" {
			t.Fatalf("no token: %d %s", r.status, r.raw)
		}
	})
}

func TestRevocationFeed(t *testing.T) {
	clock := batontest.NewClock(time.Now().UTC().Truncate(time.Second))
	srv := batontest.NewServer(t, rsEnv(), clock)
	auth := basic(rsID, rsSecret)
	feed := func(t *testing.T, query string) reply {
		t.Helper()
		r := call(t, "GET", srv.URL+"/v1/revocations"+query, "", nil, "Authorization", auth)
		if r.status != 200 {
			t.Fatalf("feed %s: %d %s", query, r.status, r.raw)
		}
		return r
	}
	sids := func(r reply) []string {
		var out []string
		for _, e := range r.body["revoked"].([]any) {
			out = append(out, e.(map[string]any)["sid"].(string))
		}
		return out
	}
	if r := feed(t, ""); len(sids(r)) != 0 || r.str("cursor") == "" {
		t.Fatalf("empty feed: %s", r.raw)
	}
	var revoked []string
	for i := range 5 {
		l := loginAs(t, srv.URL, "feed-"+strconv.Itoa(i))
		call(t, "POST", srv.URL+"/v1/logout", l.str("access_token"), nil)
		revoked = append(revoked, l.str("session_id"))
	}
	t.Run("All", func(t *testing.T) {
		r := feed(t, "")
		if got := sids(r); !slices.Equal(got, revoked) {
			t.Fatalf("feed %v, want %v", got, revoked)
		}
		e := r.body["revoked"].([]any)[0].(map[string]any)
		ra, _ := time.Parse(time.RFC3339, e["revoked_at"].(string))
		until, _ := time.Parse(time.RFC3339, e["until"].(string))
		if d := until.Sub(ra); d < 5*time.Minute || d > 5*time.Minute+time.Minute {
			t.Fatalf("until - revoked_at = %v, want the access TTL plus leeway", d)
		}
	})
	t.Run("Paging", func(t *testing.T) {
		var got []string
		cursor := ""
		for range 10 {
			q := "?limit=2"
			if cursor != "" {
				q += "&since=" + cursor
			}
			r := feed(t, q)
			page := sids(r)
			got = append(got, page...)
			cursor = r.str("cursor")
			if len(page) < 2 {
				break
			}
		}
		if !slices.Equal(got, revoked) {
			t.Fatalf("paged feed %v, want %v", got, revoked)
		}
		if r := feed(t, "?since="+cursor); len(sids(r)) != 0 || r.str("cursor") != cursor {
			t.Fatalf("feed after the last cursor: %s", r.raw)
		}
	})
	t.Run("UntilPasses", func(t *testing.T) {
		clock.Advance(5*time.Minute + 6*time.Second)
		if r := feed(t, ""); len(sids(r)) != 0 {
			t.Fatalf("entries whose until passed are still served: %s", r.raw)
		}
	})
	t.Run("BadCursor", func(t *testing.T) {
		for _, q := range []string{"?since=abc", "?since=-1", "?limit=0"} {
			r := call(t, "GET", srv.URL+"/v1/revocations"+q, "", nil, "Authorization", auth)
			if r.status != 400 || r.str("error") != "invalid_request" {
				t.Fatalf("%s: %d %s", q, r.status, r.raw)
			}
		}
	})
	t.Run("Auth", func(t *testing.T) {
		for _, hdr := range [][]string{nil, {"Authorization", basic(rsID, "wrong")}} {
			r := call(t, "GET", srv.URL+"/v1/revocations", "", nil, hdr...)
			if r.status != 401 || r.str("error") != "invalid_client" || !strings.HasPrefix(r.hdr.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("feed without credentials: %d %s", r.status, r.raw)
			}
		}
	})
}
