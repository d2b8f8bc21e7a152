package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func load(env map[string]string) (*Config, error) {
	return Load(func(k string) string { return env[k] })
}

func TestDefaults(t *testing.T) {
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Addr: "127.0.0.1:8080", DataDir: "./baton-data", Issuer: "http://127.0.0.1:8080", Audience: "http://127.0.0.1:8080",
		AccessTTL: 5 * time.Minute, RefreshTTL: 720 * time.Hour, RefreshIdleTTL: 168 * time.Hour,
		ReuseGrace: 10 * time.Second, FreshTTL: 15 * time.Minute, ImplicitRefreshWindow: 100 * time.Second,
		CookieSecure: true, Demo: true, MaxSessionsPerUser: 100, VerifyTTL: 72 * time.Hour, LimitEmailSends: Limit{5, time.Hour},
		ResetTTL: 30 * time.Minute, LimitIPEmailRequests: Limit{30, time.Hour},
		LimitAccountFailures: Limit{10, 15 * time.Minute}, LimitIPFailures: Limit{300, time.Hour}, LimitIPRegistrations: Limit{300, time.Hour},
		AuditRetention: 2160 * time.Hour, BrandName: "baton",
		WebAuthn: WebAuthn{RPID: "localhost", Origins: []string{"http://localhost:8080"}, RPName: "baton"},
	}
	if d := cmp.Diff(want, c); d != "" {
		t.Fatalf("defaults (-want +got):\n%s", d)
	}
}

func TestValues(t *testing.T) {
	c, err := load(map[string]string{
		"BATON_ADDR": "0.0.0.0:9000", "BATON_ISSUER": "https://auth.example.com/", "BATON_AUDIENCE": "api",
		"BATON_ACCESS_TTL": "90s", "BATON_REUSE_GRACE": "0", "BATON_FRESH_TTL": "0", "BATON_COOKIE_SECURE": "false",
		"BATON_LIMIT_IP_FAILURES": "off", "BATON_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1",
		"BATON_CORS_ORIGINS": "https://app.example.com,http://localhost:3000",
		"BATON_MASTER_KEY":   strings.Repeat("ab", 32), "BATON_IMPLICIT_REFRESH_WINDOW": "30s",
		"BATON_DATABASE_URL": "postgres://u@h/db", "BATON_DEMO": "false", "BATON_ROW_REFRESH_TOKENS": "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://auth.example.com" || c.Audience != "api" || c.AccessTTL != 90*time.Second || c.ReuseGrace != 0 ||
		c.FreshTTL != 0 || c.CookieSecure || !c.LimitIPFailures.Off() || len(c.MasterKey) != 32 || c.ImplicitRefreshWindow != 30*time.Second ||
		c.DatabaseURL == "" || c.Demo || !c.RowRefreshTokens {
		t.Fatalf("got %+v", c)
	}
	wantProxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32")}
	if d := cmp.Diff(wantProxies, c.TrustedProxies, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Fatalf("proxies: %s", d)
	}
	if d := cmp.Diff([]string{"https://app.example.com", "http://localhost:3000"}, c.CORSOrigins); d != "" {
		t.Fatalf("origins: %s", d)
	}
}

// TestErrors: every bad value stops start-up with the variable's name.
func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"AddrNoPort", map[string]string{"BATON_ADDR": "localhost"}, "BATON_ADDR"},
		{"AddrBadPort", map[string]string{"BATON_ADDR": "localhost:99999"}, "BATON_ADDR"},
		{"Duration", map[string]string{"BATON_ACCESS_TTL": "5 minutes"}, "BATON_ACCESS_TTL"},
		{"NegativeDuration", map[string]string{"BATON_REUSE_GRACE": "-1s"}, "BATON_REUSE_GRACE"},
		{"ZeroAccess", map[string]string{"BATON_ACCESS_TTL": "0"}, "BATON_ACCESS_TTL"},
		{"ZeroRefresh", map[string]string{"BATON_REFRESH_TTL": "0"}, "BATON_REFRESH_TTL"},
		{"ZeroIdle", map[string]string{"BATON_REFRESH_IDLE_TTL": "0"}, "BATON_REFRESH_IDLE_TTL"},
		{"SubSecondAccess", map[string]string{"BATON_ACCESS_TTL": "999ms"}, "BATON_ACCESS_TTL"},
		{"SubSecondRefresh", map[string]string{"BATON_REFRESH_TTL": "500ms"}, "BATON_REFRESH_TTL"},
		{"SubSecondIdle", map[string]string{"BATON_REFRESH_IDLE_TTL": "1ms"}, "BATON_REFRESH_IDLE_TTL"},
		{"BadRefresh", map[string]string{"BATON_REFRESH_TTL": "a month"}, "BATON_REFRESH_TTL"},
		{"BadWindow", map[string]string{"BATON_IMPLICIT_REFRESH_WINDOW": "-5s"}, "BATON_IMPLICIT_REFRESH_WINDOW"},
		{"Bool", map[string]string{"BATON_COOKIE_SECURE": "yes please"}, "BATON_COOKIE_SECURE"},
		{"Demo", map[string]string{"BATON_DEMO": "2"}, "BATON_DEMO"},
		{"Limit", map[string]string{"BATON_LIMIT_ACCOUNT_FAILURES": "10"}, "BATON_LIMIT_ACCOUNT_FAILURES"},
		{"LimitZero", map[string]string{"BATON_LIMIT_IP_REGISTRATIONS": "0/1h"}, "BATON_LIMIT_IP_REGISTRATIONS"},
		{"Proxy", map[string]string{"BATON_TRUSTED_PROXIES": "not-an-ip"}, "BATON_TRUSTED_PROXIES"},
		{"Origin", map[string]string{"BATON_CORS_ORIGINS": "app.example.com"}, "BATON_CORS_ORIGINS"},
		{"OriginWithPath", map[string]string{"BATON_CORS_ORIGINS": "https://a.example/x"}, "BATON_CORS_ORIGINS"},
		{"MasterKey", map[string]string{"BATON_MASTER_KEY": "abcd"}, "BATON_MASTER_KEY"},
		{"AuditRetention", map[string]string{"BATON_AUDIT_RETENTION": "0"}, "BATON_AUDIT_RETENTION"},
		{"Issuer", map[string]string{"BATON_ISSUER": "auth.example.com"}, "BATON_ISSUER"},
		{"IssuerQuery", map[string]string{"BATON_ISSUER": "https://a.example/?x=1"}, "BATON_ISSUER"},
		{"DatabaseURL", map[string]string{"BATON_DATABASE_URL": "mysql://x"}, "BATON_DATABASE_URL"},
		{"TLSHalf", map[string]string{"BATON_TLS_CERT": "cert.pem"}, "BATON_TLS"},
		{"ResourceHalf", map[string]string{"BATON_RESOURCE_CLIENT_ID": "rs"}, "BATON_RESOURCE_CLIENT"},
		{"ResourceShortSecret", map[string]string{"BATON_RESOURCE_CLIENT_ID": "rs", "BATON_RESOURCE_CLIENT_SECRET": "short"}, "BATON_RESOURCE_CLIENT_SECRET"},
		{"AdminAddr", map[string]string{"BATON_ADMIN_ADDR": "nope"}, "BATON_ADMIN_ADDR"},
		{"LinkWithoutToken", map[string]string{"BATON_LINK_VERIFY_EMAIL": "https://app.example/verify"}, "BATON_LINK_VERIFY_EMAIL"},
		{"LinkRelative", map[string]string{"BATON_LINK_RESET_PASSWORD": "/reset#{token}"}, "BATON_LINK_RESET_PASSWORD"},
		{"MaxSessionsZero", map[string]string{"BATON_MAX_SESSIONS_PER_USER": "0"}, "BATON_MAX_SESSIONS_PER_USER"},
		{"MaxSessionsWord", map[string]string{"BATON_MAX_SESSIONS_PER_USER": "many"}, "BATON_MAX_SESSIONS_PER_USER"},
		{"SMTPScheme", map[string]string{"BATON_SMTP_URL": "http://relay", "BATON_MAIL_FROM": "a@b.example"}, "BATON_SMTP_URL"},
		{"SMTPNoFrom", map[string]string{"BATON_SMTP_URL": "smtp://relay"}, "BATON_MAIL_FROM"},
		{"MailFrom", map[string]string{"BATON_MAIL_FROM": "Baton <a@b.example>"}, "BATON_MAIL_FROM"},
		{"MailFromCRLF", map[string]string{"BATON_MAIL_FROM": "a@b.example\r\nBcc: c@d.example"}, "BATON_MAIL_FROM"},
		{"BrandLineBreak", map[string]string{"BATON_BRAND_NAME": "Acme\nBcc: x"}, "BATON_BRAND_NAME"},
		{"RPIDAddress", map[string]string{"BATON_WEBAUTHN_RP_ID": "192.0.2.1"}, "BATON_WEBAUTHN_RP_ID"},
		{"RPIDURL", map[string]string{"BATON_WEBAUTHN_RP_ID": "https://example.com"}, "BATON_WEBAUTHN_RP_ID"},
		{"RPOrigin", map[string]string{"BATON_WEBAUTHN_ORIGINS": "example.com"}, "BATON_WEBAUTHN_ORIGINS"},
		{"RPOriginNotCovered", map[string]string{"BATON_ISSUER": "https://auth.example.com", "BATON_WEBAUTHN_ORIGINS": "https://evil.example"}, "BATON_WEBAUTHN_ORIGINS"},
		{"RPOriginSuffixOnly", map[string]string{"BATON_WEBAUTHN_RP_ID": "example.com", "BATON_WEBAUTHN_ORIGINS": "https://notexample.com"}, "BATON_WEBAUTHN_ORIGINS"},
		{"RPNameLineBreak", map[string]string{"BATON_WEBAUTHN_RP_NAME": "a\nb"}, "BATON_WEBAUTHN_RP_NAME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// TestEveryVariableIsRead: each documented variable changes the result, so
// none is silently ignored.
func TestEveryVariableIsRead(t *testing.T) {
	base, _ := load(nil)
	values := map[string]string{
		"BATON_ADDR": "127.0.0.1:9", "BATON_DATA_DIR": "/x", "BATON_DATABASE_URL": "postgres://h/db",
		"BATON_ISSUER": "https://i.example", "BATON_AUDIENCE": "aud", "BATON_ACCESS_TTL": "6m",
		"BATON_REFRESH_TTL": "700h", "BATON_REFRESH_IDLE_TTL": "100h", "BATON_REUSE_GRACE": "5s",
		"BATON_FRESH_TTL": "1m", "BATON_IMPLICIT_REFRESH_WINDOW": "1m", "BATON_COOKIE_SECURE": "false",
		"BATON_RESOURCE_CLIENT_ID": "rs", "BATON_RESOURCE_CLIENT_SECRET": "0123456789abcdef",
		"BATON_LIMIT_ACCOUNT_FAILURES": "5/1m", "BATON_LIMIT_IP_FAILURES": "5/1m", "BATON_LIMIT_IP_REGISTRATIONS": "5/1m",
		"BATON_TRUSTED_PROXIES": "10.0.0.1", "BATON_CORS_ORIGINS": "https://a.example",
		"BATON_MASTER_KEY": strings.Repeat("00", 32), "BATON_TLS_CERT": "c", "BATON_TLS_KEY": "k",
		"BATON_ADMIN_ADDR": "127.0.0.1:9100", "BATON_DEMO": "false", "BATON_DPOP_REQUIRE_NONCE": "true",
		"BATON_MAX_SESSIONS_PER_USER": "3",
		"BATON_VERIFY_TTL":            "1h", "BATON_LINK_VERIFY_EMAIL": "https://app.example/verify?t={token}",
		"BATON_LINK_RESET_PASSWORD": "https://app.example/reset#{token}", "BATON_LIMIT_EMAIL_SENDS": "2/1h",
		"BATON_RESET_TTL": "10m", "BATON_REQUIRE_VERIFIED_EMAIL": "true", "BATON_LIMIT_IP_EMAIL_REQUESTS": "3/1m",
		"BATON_AUDIT_RETENTION": "720h",
		"BATON_SMTP_URL":        "smtp://relay.example", "BATON_MAIL_FROM": "noreply@example.com", "BATON_BRAND_NAME": "Acme",
		"BATON_WEBAUTHN_RP_ID": "example.net", "BATON_WEBAUTHN_ORIGINS": "http://localhost:3000", "BATON_WEBAUTHN_RP_NAME": "Acme",
		"BATON_ROW_REFRESH_TOKENS": "true",
	}
	for _, name := range Vars {
		v, ok := values[name]
		if !ok {
			t.Fatalf("no test value for %s", name)
		}
		env := map[string]string{name: v}
		if name == "BATON_RESOURCE_CLIENT_ID" || name == "BATON_RESOURCE_CLIENT_SECRET" {
			env = map[string]string{"BATON_RESOURCE_CLIENT_ID": "rs", "BATON_RESOURCE_CLIENT_SECRET": "0123456789abcdef"}
		}
		if name == "BATON_SMTP_URL" {
			env["BATON_MAIL_FROM"] = "noreply@example.com"
		}
		if name == "BATON_TLS_CERT" || name == "BATON_TLS_KEY" {
			env = map[string]string{"BATON_TLS_CERT": "c", "BATON_TLS_KEY": "k"}
		}
		c, err := load(env)
		if err != nil {
			t.Fatalf("%s=%s: %v", name, v, err)
		}
		if cmp.Equal(base, c, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })) {
			t.Fatalf("%s=%s changed nothing", name, v)
		}
	}
}

// TestWebAuthn: the relying party's defaults follow the issuer; an IP
// address is never an RP id.
func TestWebAuthn(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want WebAuthn
	}{
		{"LoopbackDefault", nil, WebAuthn{RPID: "localhost", Origins: []string{"http://localhost:8080"}, RPName: "baton"}},
		{"LoopbackIPv6", map[string]string{"BATON_ISSUER": "http://[::1]:9000"},
			WebAuthn{RPID: "localhost", Origins: []string{"http://localhost:9000"}, RPName: "baton"}},
		{"LoopbackWithCORS", map[string]string{"BATON_CORS_ORIGINS": "http://localhost:3000,https://app.example.com"},
			WebAuthn{RPID: "localhost", Origins: []string{"http://localhost:8080", "http://localhost:3000"}, RPName: "baton"}},
		{"Domain", map[string]string{"BATON_ISSUER": "https://Auth.Example.com:8443/baton", "BATON_CORS_ORIGINS": "https://app.example.com"},
			WebAuthn{RPID: "auth.example.com", Origins: []string{"https://auth.example.com:8443"}, RPName: "baton"}},
		{"ParentDomain", map[string]string{"BATON_ISSUER": "https://auth.example.com", "BATON_WEBAUTHN_RP_ID": "Example.com",
			"BATON_CORS_ORIGINS": "https://app.example.com,https://other.example"},
			WebAuthn{RPID: "example.com", Origins: []string{"https://auth.example.com", "https://app.example.com"}, RPName: "baton"}},
		{"OtherIPOff", map[string]string{"BATON_ADDR": "0.0.0.0:8080", "BATON_ISSUER": "http://192.0.2.7:8080"},
			WebAuthn{RPName: "baton", Off: "BATON_ISSUER's host 192.0.2.7 is an IP address, which cannot be a WebAuthn RP id: passkeys are off until BATON_WEBAUTHN_RP_ID is set"}},
		{"OtherIPWithRPID", map[string]string{"BATON_ISSUER": "http://192.0.2.7:8080", "BATON_WEBAUTHN_RP_ID": "example.com",
			"BATON_WEBAUTHN_ORIGINS": "https://example.com, https://www.example.com"},
			WebAuthn{RPID: "example.com", Origins: []string{"https://example.com", "https://www.example.com"}, RPName: "baton"}},
		{"RPIDCoversNoDefault", map[string]string{"BATON_ISSUER": "https://auth.example.com", "BATON_WEBAUTHN_RP_ID": "other.example"},
			WebAuthn{RPID: "other.example", Origins: []string{"https://other.example"}, RPName: "baton"}},
		{"Name", map[string]string{"BATON_WEBAUTHN_RP_NAME": "Acme Login"},
			WebAuthn{RPID: "localhost", Origins: []string{"http://localhost:8080"}, RPName: "Acme Login"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, c.WebAuthn); d != "" {
				t.Errorf("WebAuthn (-want +got):\n%s", d)
			}
		})
	}
}
