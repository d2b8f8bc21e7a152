package httpapi_test

import (
	"context"

	"strings"
	"testing"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/mail/smtptest"
)

// mailRig is a real server whose mail goes over real SMTP to a test relay.
type mailRig struct {
	srv   *batontest.Server
	relay *smtptest.Server
	c     *client
}

func newMailRig(t *testing.T, env batontest.Env) *mailRig {
	t.Helper()
	relay := smtptest.Start(t, smtptest.Options{})
	e := batontest.Env{"BATON_SMTP_URL": "smtp+plain://" + relay.Addr(), "BATON_MAIL_FROM": "noreply@auth.example"}
	for k, v := range env {
		e[k] = v
	}
	srv := batontest.NewServer(t, e, nil)
	return &mailRig{srv: srv, relay: relay, c: newClient(t, srv)}
}

// lastLink waits for the n-th message and returns its text part and the
// token of its link.
func (r *mailRig) lastLink(t *testing.T, n int) (text, token string) {
	t.Helper()
	msgs := r.relay.Await(t, n, r.drain)
	return smtptest.LinkToken(t, msgs[n-1].Data)
}

func (r *mailRig) drain() { _, _ = r.srv.Mail.Drain(context.Background()) }

// TestEmailVerification: registering with an address sends a verification
// message over SMTP; its link verifies the address once; a new link can be
// asked for while unverified; every bad token is invalid_link.
func TestEmailVerification(t *testing.T) {
	r := newMailRig(t, nil)
	c := r.c
	c.do("POST", "/v1/register", map[string]string{"username": "alice", "password": pw, "email": "Alice@Example.com"}).want(t, 201, "")
	text, tok := r.lastLink(t, 1)
	msgs := r.relay.Messages()
	if got := msgs[0].To; len(got) != 1 || got[0] != "Alice@Example.com" {
		t.Fatalf("sent to %v", got)
	}
	if !strings.HasPrefix(tok, "bve_") || !strings.Contains(text, r.srv.URL+"/account/verify-email#token=") {
		t.Fatalf("link: token %q in\n%s", tok, text)
	}
	at := bearer(c.login("alice").str("access_token"))
	if me := c.do("GET", "/v1/me", nil, at...).want(t, 200, ""); me.body["email_verified"] != false {
		t.Fatalf("verified before the link: %s", me.raw)
	}
	// A second link while unverified; both work until one is used.
	c.do("POST", "/v1/email/verification", nil, at...).want(t, 202, "")
	_, tok2 := r.lastLink(t, 2)
	if tok2 == tok {
		t.Fatal("the second link repeats the first")
	}
	// One character changed: always to another one (a token whose 11th
	// character was already "A" made this case pass the link before).
	changed := tok[:10] + map[bool]string{true: "B", false: "A"}[tok[10] == 'A'] + tok[11:]
	for _, bad := range []string{"", "bve_short", "brs_" + tok[4:], tok + "x", changed} {
		c.do("POST", "/v1/email/verify", map[string]string{"token": bad}).want(t, 400, "invalid_link")
	}
	v := c.do("POST", "/v1/email/verify", map[string]string{"token": tok}).want(t, 200, "")
	if v.body["email"] != "Alice@Example.com" || v.body["email_verified"] != true || v.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("verify answer: %s", v.raw)
	}
	c.do("POST", "/v1/email/verify", map[string]string{"token": tok}).want(t, 400, "invalid_link")
	if me := c.do("GET", "/v1/me", nil, at...).want(t, 200, ""); me.body["email_verified"] != true {
		t.Fatalf("/v1/me after verification: %s", me.raw)
	}
	c.do("POST", "/v1/email/verification", nil, at...).want(t, 409, "already_verified")

	// No address: nothing to verify.
	c.register("bob")
	c.do("POST", "/v1/email/verification", nil, bearer(c.login("bob").str("access_token"))...).want(t, 400, "no_email")
	c.do("POST", "/v1/email/verification", nil).want(t, 401, "unauthorized")
}

// TestVerificationRecipientLimit: more requests than BATON_LIMIT_EMAIL_SENDS
// allows still answer 202, but nothing more is sent to the address.
func TestVerificationRecipientLimit(t *testing.T) {
	r := newMailRig(t, batontest.Env{"BATON_LIMIT_EMAIL_SENDS": "2/1h"})
	c := r.c
	c.do("POST", "/v1/register", map[string]string{"username": "carol@example.com", "password": pw}).want(t, 201, "")
	at := bearer(c.login("carol@example.com").str("access_token"))
	for i := 0; i < 4; i++ {
		c.do("POST", "/v1/email/verification", nil, at...).want(t, 202, "")
	}
	r.relay.Await(t, 2, r.drain) // the registration's and one more; then the limit
	// Nothing more is queued: a last pass delivers nothing.
	if n, err := r.srv.Mail.Drain(context.Background()); err != nil || n != 0 {
		t.Fatalf("after the limit: %d more messages (%v)", n, err)
	}
	if n := len(r.relay.Messages()); n != 2 {
		t.Fatalf("messages sent to one address: got %d, want the limit, 2", n)
	}
}
