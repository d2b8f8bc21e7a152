// Package config reads baton's configuration from BATON_* environment
// variables, validates every value, and names the variable in each error so
// a bad value stops start-up with a message an operator can act on.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/batonauth/baton/mail"
)

// Limit is COUNT events per Window per key; a zero Count means off.
type Limit struct {
	Count  int
	Window time.Duration
}

// Off reports whether the limit is disabled.
func (l Limit) Off() bool { return l.Count == 0 }

func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", l.Count, l.Window)
}

// Config is the server configuration.
type Config struct {
	Addr        string
	DataDir     string
	DatabaseURL string
	Issuer      string
	Audience    string

	AccessTTL             time.Duration
	RefreshTTL            time.Duration
	RefreshIdleTTL        time.Duration
	ReuseGrace            time.Duration
	FreshTTL              time.Duration
	ImplicitRefreshWindow time.Duration
	// RowRefreshTokens keeps new sessions' refresh tokens in the form an
	// older baton understands (BATON_ROW_REFRESH_TOKENS), for a rolling
	// upgrade.
	RowRefreshTokens bool

	CookieSecure         bool
	ResourceClientID     string
	ResourceClientSecret string

	LimitAccountFailures Limit
	LimitIPFailures      Limit
	LimitIPRegistrations Limit

	TrustedProxies []netip.Prefix
	CORSOrigins    []string
	MasterKey      []byte // 32 bytes, or nil

	TLSCert, TLSKey string
	// AdminAddr, when set, is a second listener that serves /metrics; the
	// public listener then stops serving it (request rates and store
	// timings are for operators, not for the internet).
	AdminAddr string
	Demo      bool
	// DPoPRequireNonce makes DPoP proofs carry a server nonce (RFC 9449
	// §8), which bounds how long a captured proof can be replayed.
	DPoPRequireNonce bool
	// MaxSessionsPerUser bounds each user's live sessions; a login beyond
	// it revokes the least recently used.
	MaxSessionsPerUser int

	// Notes say which defaults gave way to values the operator set (for
	// the start-up log).
	Notes []string
	// AuditRetention is how long audit events are kept.
	AuditRetention time.Duration

	// SMTP is the mail relay; nil means messages go to the log.
	SMTP *mail.Relay
	// MailFrom is the address messages come from (set with SMTP).
	MailFrom string
	// BrandName is the product name the messages show.
	BrandName string
	// VerifyTTL is how long a verification link works.
	VerifyTTL time.Duration
	// LinkVerifyEmail and LinkResetPassword are the links' URL templates
	// ({token} is replaced); empty means baton's own pages.
	LinkVerifyEmail, LinkResetPassword string
	// LimitEmailSends bounds the verification and reset messages sent to
	// one address.
	LimitEmailSends Limit
	// ResetTTL is how long a password-reset link works.
	ResetTTL time.Duration
	// RequireVerifiedEmail refuses logins until the address is verified.
	RequireVerifiedEmail bool
	// LimitIPEmailRequests bounds the forgot-password and verification
	// requests of one client IP.
	LimitIPEmailRequests Limit
	// WebAuthn is the relying party of passkeys.
	WebAuthn WebAuthn
}

// Vars lists every variable Load reads, for documentation and tests.
var Vars = []string{
	"BATON_ADDR", "BATON_DATA_DIR", "BATON_DATABASE_URL", "BATON_ISSUER", "BATON_AUDIENCE",
	"BATON_ACCESS_TTL", "BATON_REFRESH_TTL", "BATON_REFRESH_IDLE_TTL", "BATON_REUSE_GRACE",
	"BATON_FRESH_TTL", "BATON_IMPLICIT_REFRESH_WINDOW", "BATON_COOKIE_SECURE",
	"BATON_RESOURCE_CLIENT_ID", "BATON_RESOURCE_CLIENT_SECRET", "BATON_LIMIT_ACCOUNT_FAILURES",
	"BATON_LIMIT_IP_FAILURES", "BATON_LIMIT_IP_REGISTRATIONS", "BATON_TRUSTED_PROXIES",
	"BATON_CORS_ORIGINS", "BATON_MASTER_KEY", "BATON_TLS_CERT", "BATON_TLS_KEY",
	"BATON_ADMIN_ADDR", "BATON_DEMO", "BATON_DPOP_REQUIRE_NONCE", "BATON_MAX_SESSIONS_PER_USER",
	"BATON_AUDIT_RETENTION",
	"BATON_SMTP_URL", "BATON_MAIL_FROM", "BATON_BRAND_NAME",
	"BATON_VERIFY_TTL", "BATON_LINK_VERIFY_EMAIL", "BATON_LINK_RESET_PASSWORD", "BATON_LIMIT_EMAIL_SENDS",
	"BATON_RESET_TTL", "BATON_REQUIRE_VERIFIED_EMAIL", "BATON_LIMIT_IP_EMAIL_REQUESTS",
	"BATON_WEBAUTHN_RP_ID", "BATON_WEBAUTHN_ORIGINS", "BATON_WEBAUTHN_RP_NAME",
	"BATON_ROW_REFRESH_TOKENS",
}

// Load reads the configuration through getenv (os.Getenv in production).
func Load(getenv func(string) string) (*Config, error) {
	p := parser{getenv: getenv}
	c := &Config{
		Addr:                 p.addr("BATON_ADDR", "127.0.0.1:8080"),
		DataDir:              p.str("BATON_DATA_DIR", "./baton-data"),
		DatabaseURL:          p.databaseURL("BATON_DATABASE_URL"),
		FreshTTL:             p.duration("BATON_FRESH_TTL", 15*time.Minute, 0),
		CookieSecure:         p.boolean("BATON_COOKIE_SECURE", true),
		RowRefreshTokens:     p.boolean("BATON_ROW_REFRESH_TOKENS", false),
		ResourceClientID:     p.str("BATON_RESOURCE_CLIENT_ID", ""),
		ResourceClientSecret: p.str("BATON_RESOURCE_CLIENT_SECRET", ""),
		LimitAccountFailures: p.limit("BATON_LIMIT_ACCOUNT_FAILURES", "10/15m"),
		LimitIPFailures:      p.limit("BATON_LIMIT_IP_FAILURES", "300/1h"),
		LimitIPRegistrations: p.limit("BATON_LIMIT_IP_REGISTRATIONS", "300/1h"),
		TrustedProxies:       p.prefixes("BATON_TRUSTED_PROXIES"),
		CORSOrigins:          p.origins("BATON_CORS_ORIGINS"),
		MasterKey:            p.masterKey("BATON_MASTER_KEY"),
		TLSCert:              p.str("BATON_TLS_CERT", ""),
		TLSKey:               p.str("BATON_TLS_KEY", ""),
		AdminAddr:            p.addr("BATON_ADMIN_ADDR", ""),
		Demo:                 p.boolean("BATON_DEMO", true),
		DPoPRequireNonce:     p.boolean("BATON_DPOP_REQUIRE_NONCE", false),
		MaxSessionsPerUser:   p.count("BATON_MAX_SESSIONS_PER_USER", 100, 1, 100_000),
		AuditRetention:       p.duration("BATON_AUDIT_RETENTION", 2160*time.Hour, time.Second),
		VerifyTTL:            p.duration("BATON_VERIFY_TTL", 72*time.Hour, time.Second),
		LinkVerifyEmail:      p.linkTemplate("BATON_LINK_VERIFY_EMAIL"),
		LinkResetPassword:    p.linkTemplate("BATON_LINK_RESET_PASSWORD"),
		LimitEmailSends:      p.limit("BATON_LIMIT_EMAIL_SENDS", "5/1h"),
		ResetTTL:             p.duration("BATON_RESET_TTL", 30*time.Minute, time.Second),
		RequireVerifiedEmail: p.boolean("BATON_REQUIRE_VERIFIED_EMAIL", false),
		LimitIPEmailRequests: p.limit("BATON_LIMIT_IP_EMAIL_REQUESTS", "30/1h"),
	}
	l := lifetimes{
		access:  p.setting("BATON_ACCESS_TTL", 5*time.Minute, MinLifetime),
		refresh: p.setting("BATON_REFRESH_TTL", 720*time.Hour, MinLifetime),
		idle:    p.setting("BATON_REFRESH_IDLE_TTL", 168*time.Hour, MinLifetime),
		grace:   p.setting("BATON_REUSE_GRACE", 10*time.Second, 0),
		// Its default, a third of the access lifetime, is set by fit.
		window: p.setting("BATON_IMPLICIT_REFRESH_WINDOW", 0, 0),
	}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	c.Issuer = p.issuer("BATON_ISSUER", scheme+"://"+c.Addr)
	c.Audience = p.str("BATON_AUDIENCE", c.Issuer)
	c.SMTP, c.MailFrom, c.BrandName = p.mailSettings()
	var webNotes []string
	c.WebAuthn = p.webAuthn(c.Issuer, c.CORSOrigins, &webNotes)
	if p.err != nil {
		return nil, p.err
	}
	notes, err := l.fit()
	if err != nil {
		return nil, err
	}
	c.Notes = append(notes, webNotes...)
	c.AccessTTL, c.RefreshTTL, c.RefreshIdleTTL = l.access.d, l.refresh.d, l.idle.d
	c.ReuseGrace, c.ImplicitRefreshWindow = l.grace.d, l.window.d
	switch {
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return nil, fmt.Errorf("BATON_TLS_CERT and BATON_TLS_KEY must be set together")
	case (c.ResourceClientID == "") != (c.ResourceClientSecret == ""):
		return nil, fmt.Errorf("BATON_RESOURCE_CLIENT_ID and BATON_RESOURCE_CLIENT_SECRET must be set together")
	case c.ResourceClientSecret != "" && len(c.ResourceClientSecret) < 16:
		return nil, fmt.Errorf("BATON_RESOURCE_CLIENT_SECRET must be at least 16 characters")
	}
	return c, nil
}

// parser collects the first error so Load reads on without checks at each
// step.
type parser struct {
	getenv func(string) string
	err    error
}

func (p *parser) fail(name, format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
}

// linkTemplate reads a link's URL template: an absolute http(s) URL with
// {token} in it, or empty for baton's own page.
func (p *parser) linkTemplate(name string) string {
	v := p.str(name, "")
	if v == "" {
		return ""
	}
	u, err := url.Parse(strings.ReplaceAll(v, "{token}", "t"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !strings.Contains(v, "{token}") {
		p.fail(name, "want an absolute http(s) URL containing {token}, got %q", v)
		return ""
	}
	return v
}

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *parser) addr(name, def string) string {
	v := p.str(name, def)
	if v == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		p.fail(name, "%q is not host:port", v)
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.fail(name, "%q has no valid port", v)
	}
	_ = host
	return v
}

func (p *parser) duration(name string, def, min time.Duration) time.Duration {
	return p.setting(name, def, min).d
}

// setting reads a duration of at least min, remembering whether it was set.
func (p *parser) setting(name string, def, min time.Duration) setting {
	v := p.str(name, "")
	if v == "" {
		return setting{name: name, d: def}
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, "%q is not a duration such as 90s, 5m or 720h", v)
		return setting{name: name, d: def}
	}
	if d < min || d < 0 {
		p.fail(name, "%s is too short (minimum %s)", d, min)
	}
	return setting{name: name, d: d, set: true}
}

// count reads a whole number from min to max.
func (p *parser) count(name string, def, min, max int) int {
	v := p.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		p.fail(name, "want a whole number from %d to %d, got %q", min, max, v)
		return def
	}
	return n
}

func (p *parser) boolean(name string, def bool) bool {
	v := p.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "%q is not true or false", v)
		return def
	}
	return b
}

// limit parses COUNT/WINDOW or off.
func (p *parser) limit(name, def string) Limit {
	v := p.str(name, def)
	if strings.EqualFold(v, "off") {
		return Limit{}
	}
	cs, ws, ok := strings.Cut(v, "/")
	n, err1 := strconv.Atoi(cs)
	w, err2 := time.ParseDuration(ws)
	if !ok || err1 != nil || err2 != nil || n < 1 || w < time.Second {
		p.fail(name, "%q is not COUNT/WINDOW (such as 10/15m) or off", v)
		return Limit{}
	}
	return Limit{Count: n, Window: w}
}

func (p *parser) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range splitList(p.str(name, "")) {
		pr, err := netip.ParsePrefix(f)
		if err != nil {
			a, err2 := netip.ParseAddr(f)
			if err2 != nil {
				p.fail(name, "%q is not a CIDR or address", f)
				continue
			}
			pr = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, pr.Masked())
	}
	return out
}

func (p *parser) origins(name string) []string {
	var out []string
	for _, f := range splitList(p.str(name, "")) {
		u, err := url.Parse(f)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			p.fail(name, "%q is not an origin such as https://app.example.com", f)
			continue
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out
}

func (p *parser) masterKey(name string) []byte {
	v := p.str(name, "")
	if v == "" {
		return nil
	}
	if b, err := hex.DecodeString(v); err == nil && len(b) == 32 {
		return b
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && len(b) == 32 {
			return b
		}
	}
	p.fail(name, "must be 32 bytes, hex- or base64-encoded (e.g. openssl rand -hex 32)")
	return nil
}

func (p *parser) databaseURL(name string) string {
	v := p.str(name, "")
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		p.fail(name, "must be a postgres:// URL")
		return ""
	}
	return v
}

func (p *parser) issuer(name, def string) string {
	v := p.str(name, def)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		p.fail(name, "%q is not an http(s) URL without query or fragment", v)
		return v
	}
	return strings.TrimSuffix(v, "/")
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
