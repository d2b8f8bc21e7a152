package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/internal/webauthntest"
	"github.com/batonauth/baton/mail/smtptest"
	"github.com/batonauth/baton/session"
)

// newNoticeRig is newMailRig on a test clock (TOTP codes are computed
// from it) with the user addr registered and its verification message
// delivered.
func newNoticeRig(t *testing.T, clock *batontest.Clock, addr string) *mailRig {
	t.Helper()
	relay := smtptest.Start(t, smtptest.Options{})
	srv := batontest.NewServer(t, batontest.Env{"BATON_SMTP_URL": "smtp+plain://" + relay.Addr(),
		"BATON_MAIL_FROM": "noreply@auth.example"}, clock)
	r := &mailRig{srv: srv, relay: relay, c: newClient(t, srv)}
	r.c.do("POST", "/v1/register", map[string]string{"username": addr, "password": pw}).want(t, 201, "")
	r.relay.Await(t, 1, r.drain)
	return r
}

// notice waits for the n-th message and checks it is a security notice to
// to whose subject names change and whose parts hold none of secrets.
func (r *mailRig) notice(t *testing.T, n int, to, change string, secrets ...string) {
	t.Helper()
	m := r.relay.Await(t, n, r.drain)[n-1]
	if len(m.To) != 1 || m.To[0] != to {
		t.Fatalf("message %d sent to %v, want %s", n, m.To, to)
	}
	p, err := smtptest.Parse(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	subj := p.Header.Get("Subject")
	if !strings.HasPrefix(subj, "Security change on your ") || !strings.HasSuffix(subj, change) {
		t.Fatalf("message %d: subject %q, want one naming %q", n, subj, change)
	}
	if p.Text == "" || p.HTML == "" || !strings.Contains(p.Text, "reset your") {
		t.Fatalf("message %d parts:\n%s\n%s", n, p.Text, p.HTML)
	}
	for _, s := range secrets {
		for _, part := range []string{p.Text, p.HTML, string(m.Data)} {
			if strings.Contains(strings.ToLower(part), strings.ToLower(s)) {
				t.Fatalf("message %d holds the secret %q:\n%s", n, s, part)
			}
		}
	}
}

// TestTOTPNotices: turning TOTP on, making new recovery codes and turning
// it off each send a notice over SMTP, holding neither the secret nor a
// recovery code.
func TestTOTPNotices(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	const addr = "kim@example.com"
	r := newNoticeRig(t, clock, addr)
	c := r.c

	secret, codes := enrolTOTP(t, c, clock, addr)
	secrets := append([]string{secret}, codes...)
	r.notice(t, 2, addr, "authenticator app (TOTP) turned on", secrets...)

	// A token with mfa, by the second step.
	clock.Advance(30 * time.Second)
	m := c.do("POST", "/v1/login", map[string]string{"username": addr, "password": pw}).want(t, 403, "mfa_required")
	code, _ := totp.GenerateCode(secret, clock.Now())
	at := bearer(c.do("POST", "/v1/login/mfa", map[string]string{"mfa_token": m.str("mfa_token"), "totp": code}).want(t, 200, "").str("access_token"))

	g := c.do("POST", "/v1/mfa/recovery-codes", nil, at...).want(t, 200, "")
	raw, _ := g.body["recovery_codes"].([]any)
	if len(raw) != 10 {
		t.Fatalf("recovery codes: %s", g.raw)
	}
	for _, v := range raw {
		secrets = append(secrets, v.(string))
	}
	r.notice(t, 3, addr, "new recovery codes made (the old ones no longer work)", secrets...)

	c.do("DELETE", "/v1/mfa/totp", nil, at...).want(t, 204, "")
	r.notice(t, 4, addr, "authenticator app (TOTP) turned off", secrets...)

	// A refused change sends nothing.
	c.do("DELETE", "/v1/mfa/totp", nil, at...).want(t, 404, "not_found")
	r.relay.Await(t, 4, r.drain)
}

// TestPasskeyNotices: adding and removing a passkey, and an
// administrator's reset, each send a notice; a user without an address
// gets none, and the change still succeeds.
func TestPasskeyNotices(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	const addr = "lee@example.com"
	r := newNoticeRig(t, clock, addr)
	c := r.c

	a := newAuthenticator(r.srv, webauthntest.Options{Alg: webauthntest.AlgES256, UV: true})
	p := c.enrolPasskey(bearer(c.login(addr).str("access_token")), a, "Laptop")
	r.notice(t, 2, addr, "passkey added")

	pat := bearer(c.passkeyLogin(a, nil).want(t, 200, "").str("access_token"))
	c.do("DELETE", "/v1/passkeys/"+p.str("id"), nil, pat...).want(t, 204, "")
	r.notice(t, 3, addr, "passkey removed")

	// An administrator's reset of the second factors: one notice, and
	// none for a reset with nothing to remove.
	c.enrolPasskey(bearer(c.login(addr).str("access_token")), a, "")
	r.relay.Await(t, 4, r.drain)
	u, err := r.srv.Store.UserByName(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := r.srv.Service.ResetMFA(context.Background(), u.ID, session.Client{}); err != nil {
			t.Fatal(err)
		}
	}
	r.notice(t, 5, addr, "every second factor removed by an administrator (every session signed out)")

	c.register("moe")
	c.enrolPasskey(bearer(c.login("moe").str("access_token")), newAuthenticator(r.srv, webauthntest.Options{}), "")
	r.relay.Await(t, 5, r.drain)
}
