package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/batonauth/baton/batontest"
)

// wantEmail checks a user object's email (nil: JSON null) and that
// email_verified is present and false.
func wantEmail(t *testing.T, r *resp, want any) {
	t.Helper()
	got, ok := r.body["email"]
	if !ok || got != want {
		t.Fatalf("email: got %#v (present: %v), want %#v: %s", got, ok, want, r.raw)
	}
	if v, ok := r.body["email_verified"].(bool); !ok || v {
		t.Fatalf("email_verified: got %#v, want false: %s", r.body["email_verified"], r.raw)
	}
}

func TestRegisterEmail(t *testing.T) {
	srv := batontest.NewServer(t, nil, nil)
	c := newClient(t, srv)
	reg := func(body map[string]any) *resp {
		t.Helper()
		if _, ok := body["password"]; !ok {
			body["password"] = pw
		}
		return c.do("POST", "/v1/register", body)
	}

	t.Run("Email", func(t *testing.T) {
		wantEmail(t, reg(map[string]any{"username": "alice", "email": " Alice@Example.com "}).want(t, 201, ""), "Alice@Example.com")
	})
	t.Run("UsernameIsAnAddress", func(t *testing.T) {
		wantEmail(t, reg(map[string]any{"username": "Bob@Example.org"}).want(t, 201, ""), "Bob@Example.org")
	})
	t.Run("NullIsAbsent", func(t *testing.T) {
		wantEmail(t, reg(map[string]any{"username": "hank@example.com", "email": nil}).want(t, 201, ""), "hank@example.com")
		wantEmail(t, reg(map[string]any{"username": "gina", "email": nil}).want(t, 201, ""), nil)
	})
	t.Run("UsernameNotAnAddress", func(t *testing.T) {
		wantEmail(t, reg(map[string]any{"username": "ivan@localhost"}).want(t, 201, ""), nil)
	})
	t.Run("ExplicitEmailOverridesUsername", func(t *testing.T) {
		wantEmail(t, reg(map[string]any{"username": "carol@example.com", "email": "c@example.net"}).want(t, 201, ""), "c@example.net")
		// So carol@example.com is nobody's address yet.
		wantEmail(t, reg(map[string]any{"username": "dave", "email": "carol@example.com"}).want(t, 201, ""), "carol@example.com")
	})

	t.Run("Taken", func(t *testing.T) {
		tests := []struct {
			name     string
			body     map[string]any
			wantCode string
		}{
			{"CaseVariant", map[string]any{"username": "eve", "email": "ALICE@example.COM"}, "email_taken"},
			{"UsernameAddressTaken", map[string]any{"username": "C@EXAMPLE.NET"}, "email_taken"},
			{"AddressOfUsername", map[string]any{"username": "eve", "email": "bob@EXAMPLE.org"}, "email_taken"},
			{"BothTaken", map[string]any{"username": "BOB@example.org"}, "username_taken"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				reg(tt.body).want(t, 409, tt.wantCode)
			})
		}
		// Nothing was stored: the usernames are free.
		wantEmail(t, c.register("eve"), nil)
		wantEmail(t, reg(map[string]any{"username": "c@example.net", "email": "c2@example.net"}).want(t, 201, ""), "c2@example.net")
	})

	t.Run("Invalid", func(t *testing.T) {
		tests := []struct{ name, email string }{
			{"CRLF", "frank@example.com\r\nBcc: victim@example.com"},
			{"LF", "frank@example.com\nBcc: victim@example.com"},
			{"TrailingCRLF", "frank@example.com\r\n"},
			{"NUL", "frank\x00@example.com"},
			{"Tab", "frank\t@example.com"},
			{"BidiOverride", "frank\u202e@example.com"},
			{"DisplayName", "Frank <frank@example.com>"},
			{"QuotedDisplayName", `"Frank" <frank@example.com>`},
			{"AngleBrackets", "<frank@example.com>"},
			{"Comment", "frank@example.com (Frank)"},
			{"QuotedLocal", `"frank"@example.com`},
			{"TwoAddresses", "frank@example.com, victim@example.com"},
			{"NoAt", "frank.example.com"},
			{"NoDot", "frank@localhost"},
			{"TrailingDot", "frank@example.com."},
			{"DoubleDot", "frank@example..com"},
			{"IPAddress", "frank@192.0.2.1"},
			{"DomainLiteral", "frank@[192.0.2.1]"},
			{"Empty", ""},
			{"TooLong", strings.Repeat("f", 64) + "@" + strings.Repeat("d", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 62)},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				user := fmt.Sprintf("rejected-%02d", i)
				reg(map[string]any{"username": user, "email": tt.email}).want(t, 400, "invalid_email")
				// Nothing was stored: the username is free.
				wantEmail(t, c.register(user), nil)
			})
		}
		// A username that is not an address is not an error: it just
		// gives no email (see UsernameNotAnAddress). The wrong JSON type
		// is a malformed request, not a malformed address.
		reg(map[string]any{"username": "frank", "email": 5}).want(t, 400, "invalid_request")
		reg(map[string]any{"username": "frank", "email": []string{"frank@example.com"}}).want(t, 400, "invalid_request")
	})

	t.Run("Me", func(t *testing.T) {
		for _, tt := range []struct {
			user string
			want any
		}{
			{"alice", "Alice@Example.com"},
			{"bob@example.org", "Bob@Example.org"},
			{"gina", nil},
		} {
			at := c.login(tt.user).str("access_token")
			for range 2 { // the second answer comes from the profile cache
				r := c.do("GET", "/v1/me", nil, bearer(at)...).want(t, 200, "")
				wantEmail(t, r, tt.want)
				if r.str("session_id") == "" {
					t.Fatalf("/v1/me without session_id: %s", r.raw)
				}
			}
		}
	})
}
