package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
)

func (c *client) cookie(path, name string) string {
	u, _ := url.Parse(c.srv.URL + path)
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func (c *client) csrf() []string { return []string{"X-CSRF-Token", c.cookie("/", "baton_csrf")} }

func TestRefreshCookieTransport(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	c.register("alice")
	l := c.login("alice", "transport", "refresh_cookie")
	if l.str("access_token") == "" || l.str("refresh_token") != "" {
		t.Fatalf("body: want the access token only: %s", l.raw)
	}
	refresh := cookieNamed(l.Response, "baton_refresh")
	var paths []string
	for _, ck := range refresh {
		paths = append(paths, ck.Path)
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge <= 0 {
			t.Fatalf("refresh cookie attributes: %+v", ck)
		}
	}
	if strings.Join(paths, ",") != "/v1/refresh,/v1/logout" {
		t.Fatalf("refresh cookie paths: got %v", paths)
	}
	if cs := cookieNamed(l.Response, "baton_csrf"); len(cs) != 1 || cs[0].HttpOnly {
		t.Fatalf("csrf cookie must be readable: %+v", cs)
	}
	if cookieNamed(l.Response, "baton_access") != nil {
		t.Fatalf("refresh_cookie transport must not set an access cookie")
	}
	// The refresh token is not sent anywhere else.
	if c.cookie("/v1/me", "baton_refresh") != "" {
		t.Fatalf("refresh cookie reaches /v1/me")
	}

	t.Run("CSRF", func(t *testing.T) {
		c.do("POST", "/v1/refresh", nil).want(t, 403, "csrf_failed")
		c.do("POST", "/v1/refresh", nil, "X-CSRF-Token", "forged").want(t, 403, "csrf_failed")
		c.do("POST", "/v1/refresh", nil, append(c.csrf(), "Origin", "https://evil.example")...).want(t, 403, "csrf_failed")
	})
	r := c.do("POST", "/v1/refresh", nil, c.csrf()...).want(t, 200, "")
	if r.str("access_token") == "" || r.str("refresh_token") != "" || len(cookieNamed(r.Response, "baton_refresh")) != 2 {
		t.Fatalf("refresh with cookie: %s", r.raw)
	}
	c.do("GET", "/v1/me", nil, bearer(r.str("access_token"))...).want(t, 200, "")
	// A bearer-authenticated unsafe request needs no CSRF token.
	c.do("POST", "/v1/reauth", map[string]string{"password": pw}, bearer(r.str("access_token"))...).want(t, 200, "")
	// Logout through the cookie clears it.
	c.do("POST", "/v1/logout", nil).want(t, 403, "csrf_failed")
	lo := c.do("POST", "/v1/logout", nil, c.csrf()...).want(t, 204, "")
	for _, ck := range lo.Cookies() {
		if ck.MaxAge >= 0 {
			t.Fatalf("logout must expire cookie %s: %+v", ck.Name, ck)
		}
	}
	c.do("GET", "/v1/me", nil, bearer(r.str("access_token"))...).want(t, 401, "invalid_token")
}

func TestCookiesTransport(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := batontest.NewServer(t, nil, clock)
	c := newClient(t, srv)
	c.register("alice")
	l := c.login("alice", "transport", "cookies")
	if l.str("access_token") != "" || l.str("refresh_token") != "" || l.str("session_id") == "" {
		t.Fatalf("body must carry neither token: %s", l.raw)
	}
	acc := cookieNamed(l.Response, "baton_access")
	if len(acc) != 1 || !acc[0].HttpOnly || acc[0].Path != "/" || acc[0].MaxAge != 300 {
		t.Fatalf("access cookie: %+v", acc)
	}
	me := c.do("GET", "/v1/me", nil).want(t, 200, "")
	if me.str("username") != "alice" || cookieNamed(me.Response, "baton_access") != nil {
		t.Fatalf("me: %s (no implicit refresh expected yet)", me.raw)
	}
	t.Run("UnsafeNeedsCSRF", func(t *testing.T) {
		c.do("DELETE", "/v1/sessions/x", nil).want(t, 403, "csrf_failed")
		c.do("POST", "/v1/reauth", map[string]string{"password": pw}).want(t, 403, "csrf_failed")
		c.do("POST", "/v1/reauth", map[string]string{"password": pw}, c.csrf()...).want(t, 200, "")
	})
	t.Run("ImplicitRefresh", func(t *testing.T) {
		// The reauth above re-issued the access cookie at the clock's now.
		// Just outside the window (a third of 5 min): nothing happens.
		clock.Advance(200*time.Second - time.Second)
		if r := c.do("GET", "/v1/me", nil).want(t, 200, ""); cookieNamed(r.Response, "baton_access") != nil {
			t.Fatalf("re-issued outside the window")
		}
		clock.Advance(2 * time.Second)
		r := c.do("GET", "/v1/me", nil).want(t, 200, "")
		nc := cookieNamed(r.Response, "baton_access")
		if len(nc) != 1 || nc[0].Value == "" {
			t.Fatalf("no implicit refresh inside the window")
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("a response carrying a token needs Cache-Control: no-store, got %q", r.Header.Get("Cache-Control"))
		}
		if cl := decodeClaims(t, nc[0].Value); cl["fresh"] != false {
			t.Fatalf("implicitly refreshed token is fresh: %v", cl)
		}
	})
	t.Run("RefreshKeepsTransport", func(t *testing.T) {
		r := c.do("POST", "/v1/refresh", nil, c.csrf()...).want(t, 200, "")
		if r.str("access_token") != "" || len(cookieNamed(r.Response, "baton_access")) != 1 {
			t.Fatalf("refresh of a cookies session: %s", r.raw)
		}
	})
	c.do("POST", "/v1/logout", map[string]string{"scope": "global"}, c.csrf()...).want(t, 204, "")
	c.do("GET", "/v1/me", nil).want(t, 401, "unauthorized")
}

// TestCookieAttributes checks (and logs, for the record) what each
// transport sets with the production default BATON_COOKIE_SECURE=true.
func TestCookieAttributes(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_COOKIE_SECURE": "true"}, nil)
	c := newClient(t, srv)
	c.register("alice")
	for _, tr := range []string{"body", "refresh_cookie", "cookies"} {
		l := c.login("alice", "transport", tr)
		set := l.Header.Values("Set-Cookie")
		for _, h := range set {
			t.Logf("%s: Set-Cookie: %s", tr, strings.Replace(h, strings.SplitN(strings.SplitN(h, "=", 2)[1], ";", 2)[0], "…", 1))
			if !strings.Contains(h, "; Secure") || !strings.Contains(h, "SameSite=") {
				t.Fatalf("cookie without Secure or SameSite: %s", h)
			}
			if strings.HasPrefix(h, "baton_refresh=") && (!strings.Contains(h, "HttpOnly") || !strings.Contains(h, "SameSite=Strict")) {
				t.Fatalf("refresh cookie must be HttpOnly and SameSite=Strict: %s", h)
			}
			if strings.HasPrefix(h, "baton_csrf=") && strings.Contains(h, "HttpOnly") {
				t.Fatalf("csrf cookie must be readable: %s", h)
			}
		}
		want := map[string]int{"body": 0, "refresh_cookie": 3, "cookies": 4}[tr]
		if len(set) != want {
			t.Fatalf("%s: got %d cookies, want %d", tr, len(set), want)
		}
	}
}

// TestRefreshCookieCSRFSession covers the CSRF token's two forms on a
// cookie refresh: the current one names its session, which must be the
// refresh token's (an attacker's own valid token, planted in the victim's
// browser, is refused and spends nothing); the form before 1.1, the HMAC
// alone, which older cookies carry, still passes.
func TestRefreshCookieCSRFSession(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	victim, attacker := newClient(t, srv), newClient(t, srv)
	victim.register("alice")
	attacker.register("mallory")
	victim.login("alice", "transport", "refresh_cookie")
	attacker.login("mallory", "transport", "refresh_cookie")
	own, planted := victim.cookie("/", "baton_csrf"), attacker.cookie("/", "baton_csrf")
	if !strings.Contains(own, ".") || own == planted {
		t.Fatalf("csrf tokens: victim %q, attacker %q", own, planted)
	}
	setCSRF := func(v string) {
		u, _ := url.Parse(srv.URL + "/")
		victim.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "baton_csrf", Value: v, Path: "/"}})
	}
	setCSRF(planted)
	victim.do("POST", "/v1/refresh", nil, victim.csrf()...).want(t, 403, "csrf_failed")
	// Nothing was spent: the victim's own token refreshes (it would be
	// reuse, and end the session, had the refused request rotated).
	setCSRF(own)
	victim.do("POST", "/v1/refresh", nil, victim.csrf()...).want(t, 200, "")
	// The older form: the HMAC without the session id.
	cur := victim.cookie("/", "baton_csrf")
	setCSRF(cur[strings.LastIndexByte(cur, '.')+1:])
	victim.do("POST", "/v1/refresh", nil, victim.csrf()...).want(t, 200, "")
	// A token of the right form for the wrong session with the older
	// form's rules does not pass either.
	setCSRF(planted[strings.LastIndexByte(planted, '.')+1:])
	victim.do("POST", "/v1/refresh", nil, victim.csrf()...).want(t, 403, "csrf_failed")
}
