package httpapi_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/server"
	"github.com/batonauth/baton/session"
)

// TestImplicitRefreshOnlyForCookiesSessions: an access token replayed in a
// baton_access cookie is re-issued near its expiry only when its session
// was created with the cookies transport; a token lifted from a body or
// refresh_cookie session cannot be kept alive that way (no refresh token,
// no rotation, no reuse detection). Each reissue is an audit event.
func TestImplicitRefreshOnlyForCookiesSessions(t *testing.T) {
	tests := []struct {
		transport   string
		wantReissue bool
	}{
		{"body", false},
		{"refresh_cookie", false},
		{"cookies", true},
	}
	for _, tt := range tests {
		t.Run(tt.transport, func(t *testing.T) {
			clock := batontest.NewClock(time.Now())
			var logs batontest.LogBuffer
			srv := batontest.NewServerWith(t, nil, clock, server.Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			c := newClient(t, srv)
			c.register("alice")
			l := c.login("alice", "transport", tt.transport)
			access := l.str("access_token")
			if tt.transport == "cookies" {
				access = cookieNamed(l.Response, "baton_access")[0].Value
			}
			clock.Advance(290 * time.Second) // inside the last third of 5 min
			req, _ := http.NewRequest("GET", srv.URL+"/v1/me", nil)
			req.AddCookie(&http.Cookie{Name: "baton_access", Value: access})
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("GET /v1/me with the cookie: got %d, want 200", res.StatusCode)
			}
			got := len(cookieNamed(res, "baton_access")) == 1
			if got != tt.wantReissue {
				t.Errorf("access cookie re-issued: got %v, want %v", got, tt.wantReissue)
			}
			// The engine logs every audit event it reports.
			var events int
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, `"event":"`+session.EventImplicitRefresh+`"`) {
					events++
					if !strings.Contains(line, `"session_id":"`+l.str("session_id")+`"`) || !strings.Contains(line, `"ip":"127.0.0.1"`) {
						t.Errorf("implicit_refresh event without the session and client address: %s", line)
					}
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tt.wantReissue]; events != want {
				t.Errorf("implicit_refresh events: got %d, want %d", events, want)
			}
		})
	}
}
