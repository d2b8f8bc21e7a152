package httpapi_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/mail/smtptest"
)

// quiet checks that a last pass of the outbox delivers nothing: what was
// held back or never existed sends no message.
func (r *mailRig) quiet(t *testing.T, want int) {
	t.Helper()
	r.drain()
	r.drain() // a forgot-password job first becomes mail, then it goes
	if n := len(r.relay.Messages()); n != want {
		t.Fatalf("relay holds %d messages, want %d", n, want)
	}
}

// TestPasswordReset: forgot-password by address sends a reset message over
// SMTP; a weak password leaves the link usable; the reset revokes every
// session at once, kills the other reset links, verifies the address,
// sends a notice; the new password logs in; the link works once.
func TestPasswordReset(t *testing.T) {
	r := newMailRig(t, batontest.Env{"BATON_ACCESS_TTL": "1h"})
	c := r.c
	c.do("POST", "/v1/register", map[string]string{"username": "alice", "password": pw, "email": "Alice@Example.com"}).want(t, 201, "")
	r.lastLink(t, 1) // the verification message
	old := c.login("alice")
	oldAT := bearer(old.str("access_token"))

	f := c.do("POST", "/v1/password/forgot", map[string]string{"email": "ALICE@example.com"}).want(t, 202, "")
	if len(f.raw) != 0 {
		t.Fatalf("forgot answer body: %q, want empty", f.raw)
	}
	text, first := r.lastLink(t, 2)
	msg := r.relay.Messages()[1]
	if len(msg.To) != 1 || msg.To[0] != "Alice@Example.com" {
		t.Fatalf("reset message to %v", msg.To)
	}
	p, err := smtptest.Parse(msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first, "brs_") || !strings.Contains(text, r.srv.URL+"/account/reset-password#token=") ||
		!strings.Contains(p.HTML, "/account/reset-password#token=") || p.Header.Get("Auto-Submitted") != "auto-generated" ||
		!strings.Contains(p.Header.Get("Subject"), "password") || p.Header.Get("Message-Id") == "" {
		t.Fatalf("reset message: token %q, header %v\n%s", first, p.Header, text)
	}
	// A second request: a second link; the reset with it kills the first.
	c.do("POST", "/v1/password/forgot", map[string]string{"username": "Alice"}).want(t, 202, "")
	_, tok := r.lastLink(t, 3)
	if tok == first {
		t.Fatal("the second link repeats the first")
	}

	const next = "a brand new passphrase"
	c.do("POST", "/v1/password/reset", map[string]string{"token": tok, "new_password": "alice"}).want(t, 400, "weak_password")
	c.do("POST", "/v1/password/reset", map[string]string{"token": tok}).want(t, 400, "invalid_request")
	c.do("POST", "/v1/password/reset", map[string]string{"token": tok, "new_password": next}).want(t, 204, "")

	// Every session ended at once, the access token included.
	c.do("GET", "/v1/me", nil, oldAT...).want(t, 401, "")
	c.do("POST", "/v1/refresh", map[string]string{"refresh_token": old.str("refresh_token")}).want(t, 401, "")
	// The link works once; the first link died with the reset.
	c.do("POST", "/v1/password/reset", map[string]string{"token": tok, "new_password": next + "!"}).want(t, 400, "invalid_link")
	c.do("POST", "/v1/password/reset", map[string]string{"token": first, "new_password": next + "!"}).want(t, 400, "invalid_link")
	c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": pw}).want(t, 401, "invalid_credentials")
	l := c.do("POST", "/v1/login", map[string]string{"username": "alice", "password": next}).want(t, 200, "")
	if me := c.do("GET", "/v1/me", nil, bearer(l.str("access_token"))...).want(t, 200, ""); me.body["email_verified"] != true {
		t.Fatalf("/v1/me after a reset: %s, want the address verified", me.raw)
	}
	// The notice.
	msgs := r.relay.Await(t, 4, r.drain)
	notice, err := smtptest.Parse(msgs[3].Data)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[3].To[0] != "Alice@Example.com" || !strings.Contains(notice.Header.Get("Subject"), "password was changed") ||
		strings.Contains(notice.Text, "token=") {
		t.Fatalf("notice to %v: %v\n%s", msgs[3].To, notice.Header, notice.Text)
	}
}

// TestForgotPasswordNobody: unknown accounts, accounts without an address,
// and malformed input. The unknown ones answer exactly as a known one does
// and send nothing.
func TestForgotPasswordNobody(t *testing.T) {
	r := newMailRig(t, nil)
	c := r.c
	c.register("bob") // no address
	for _, body := range []map[string]string{
		{"email": "nobody@example.com"}, {"username": "nobody"}, {"username": "bob"},
	} {
		if f := c.do("POST", "/v1/password/forgot", body).want(t, 202, ""); len(f.raw) != 0 {
			t.Fatalf("%v: body %q", body, f.raw)
		}
	}
	r.quiet(t, 0)
	for _, tc := range []struct {
		body any
		code string
	}{
		{map[string]string{}, "invalid_request"},
		{map[string]string{"email": "a@example.com", "username": "a"}, "invalid_request"},
		{map[string]string{"email": "not an address"}, "invalid_email"},
		{map[string]string{"email": "a@example.com\r\nBcc: victim@example.com"}, "invalid_email"},
		{map[string]any{"email": 7}, "invalid_request"},
		{map[string]string{"username": ""}, "invalid_username"},
	} {
		c.do("POST", "/v1/password/forgot", tc.body).want(t, 400, tc.code)
	}
	r.quiet(t, 0)
}

// TestResetLinks: tokens of every wrong kind are invalid_link and change
// nothing; an expired link is refused.
func TestResetLinks(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	relay := smtptest.Start(t, smtptest.Options{})
	srv := batontest.NewServer(t, batontest.Env{"BATON_SMTP_URL": "smtp+plain://" + relay.Addr(), "BATON_MAIL_FROM": "noreply@auth.example"}, clock)
	r := &mailRig{srv: srv, relay: relay, c: newClient(t, srv)}
	c := r.c
	c.do("POST", "/v1/register", map[string]string{"username": "carol@example.com", "password": pw}).want(t, 201, "")
	_, verify := r.lastLink(t, 1)
	c.do("POST", "/v1/password/forgot", map[string]string{"email": "carol@example.com"}).want(t, 202, "")
	_, reset := r.lastLink(t, 2)
	for _, bad := range []string{"", "brs_", "brs_" + strings.Repeat("A", 43), verify, "bve_" + reset[4:], reset + "A", strings.ToUpper(reset)} {
		c.do("POST", "/v1/password/reset", map[string]string{"token": bad, "new_password": "another good passphrase"}).want(t, 400, "invalid_link")
	}
	// The reset link does not verify, and the verification link still
	// works after all those refusals.
	c.do("POST", "/v1/email/verify", map[string]string{"token": reset}).want(t, 400, "invalid_link")
	c.do("POST", "/v1/email/verify", map[string]string{"token": verify}).want(t, 200, "")
	// Thirty minutes: the link is dead.
	clock.Advance(30 * time.Minute)
	c.do("POST", "/v1/password/reset", map[string]string{"token": reset, "new_password": "another good passphrase"}).want(t, 400, "invalid_link")
	c.login("carol@example.com") // the password is unchanged
}

// TestConcurrentResets: 16 resets with one link at once: exactly one 204.
func TestConcurrentResets(t *testing.T) {
	r := newMailRig(t, nil)
	c := r.c
	c.do("POST", "/v1/register", map[string]string{"username": "dave@example.com", "password": pw}).want(t, 201, "")
	c.do("POST", "/v1/password/forgot", map[string]string{"email": "dave@example.com"}).want(t, 202, "")
	_, tok := r.lastLink(t, 2)
	const n = 16
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest("POST", r.srv.URL+"/v1/password/reset",
				strings.NewReader(`{"token":"`+tok+`","new_password":"parallel passphrase `+string(rune('a'+i))+`"}`))
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
		})
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[204] != 1 || count[400] != n-1 {
		t.Fatalf("%d concurrent resets with one link: got statuses %v, want one 204 and %d 400", n, count, n-1)
	}
	// One notice, from the one reset that happened.
	r.relay.Await(t, 3, r.drain)
	r.quiet(t, 3)
}

// TestEmailRequestLimit: forgot-password and verification requests share
// a per-IP budget, counted whether or not the account exists.
func TestEmailRequestLimit(t *testing.T) {
	r := newMailRig(t, batontest.Env{"BATON_LIMIT_IP_EMAIL_REQUESTS": "3/1h"})
	c := r.c
	c.do("POST", "/v1/register", map[string]string{"username": "erin@example.com", "password": pw}).want(t, 201, "")
	at := bearer(c.login("erin@example.com").str("access_token"))
	c.do("POST", "/v1/password/forgot", map[string]string{"email": "nobody@example.com"}).want(t, 202, "")
	c.do("POST", "/v1/password/forgot", map[string]string{"email": "erin@example.com"}).want(t, 202, "")
	c.do("POST", "/v1/email/verification", nil, at...).want(t, 202, "")
	res := c.do("POST", "/v1/password/forgot", map[string]string{"email": "erin@example.com"}).want(t, 429, "too_many_requests")
	if res.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	c.do("POST", "/v1/email/verification", nil, at...).want(t, 429, "too_many_requests")
}

// TestEmailChange: a fresh token asks; the confirmation goes to the new
// address and a notice to the old; the address changes only when the link
// is used, and is then verified.
func TestEmailChange(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	relay := smtptest.Start(t, smtptest.Options{})
	srv := batontest.NewServer(t, batontest.Env{"BATON_SMTP_URL": "smtp+plain://" + relay.Addr(), "BATON_MAIL_FROM": "noreply@auth.example",
		"BATON_ACCESS_TTL": "1h"}, clock)
	r := &mailRig{srv: srv, relay: relay, c: newClient(t, srv)}
	c := r.c
	c.do("POST", "/v1/register", map[string]string{"username": "frank", "password": pw, "email": "frank@example.com"}).want(t, 201, "")
	c.do("POST", "/v1/register", map[string]string{"username": "grace", "password": pw, "email": "grace@example.com"}).want(t, 201, "")
	r.relay.Await(t, 2, r.drain)
	at := bearer(c.login("frank").str("access_token"))

	c.do("POST", "/v1/email", map[string]string{"email": "Grace@Example.com"}, at...).want(t, 409, "email_taken")
	c.do("POST", "/v1/email", map[string]string{"email": "frank@new\r\n.example"}, at...).want(t, 400, "invalid_email")
	c.do("POST", "/v1/email", map[string]string{}, at...).want(t, 400, "invalid_request")
	c.do("POST", "/v1/email", map[string]string{"email": "frank@new.example"}).want(t, 401, "unauthorized")
	r.quiet(t, 2)

	c.do("POST", "/v1/email", map[string]string{"email": "Frank@New.example"}, at...).want(t, 202, "")
	msgs := r.relay.Await(t, 4, r.drain)
	byTo := map[string][]byte{}
	for _, m := range msgs[2:] {
		byTo[m.To[0]] = m.Data
	}
	if byTo["Frank@New.example"] == nil || byTo["frank@example.com"] == nil {
		t.Fatalf("messages went to %v, want the new and the old address", []string{msgs[2].To[0], msgs[3].To[0]})
	}
	text, tok := smtptest.LinkToken(t, byTo["Frank@New.example"])
	if !strings.HasPrefix(tok, "bce_") || !strings.Contains(text, "Frank@New.example") {
		t.Fatalf("confirmation: token %q\n%s", tok, text)
	}
	notice, err := smtptest.Parse(byTo["frank@example.com"])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notice.Text, "Frank@New.example") || strings.Contains(notice.Text, "token=") {
		t.Fatalf("notice to the old address:\n%s", notice.Text)
	}
	// Nothing changed yet.
	if me := c.do("GET", "/v1/me", nil, at...).want(t, 200, ""); me.body["email"] != "frank@example.com" {
		t.Fatalf("/v1/me before the confirmation: %s", me.raw)
	}
	v := c.do("POST", "/v1/email/verify", map[string]string{"token": tok}).want(t, 200, "")
	if v.body["email"] != "Frank@New.example" || v.body["email_verified"] != true {
		t.Fatalf("confirmation answer: %s", v.raw)
	}
	if me := c.do("GET", "/v1/me", nil, at...).want(t, 200, ""); me.body["email"] != "Frank@New.example" || me.body["email_verified"] != true {
		t.Fatalf("/v1/me after the confirmation: %s", me.raw)
	}
	c.do("POST", "/v1/email/verify", map[string]string{"token": tok}).want(t, 400, "invalid_link")
	// The old address is free; a forgot-password to the new one works.
	c.do("POST", "/v1/register", map[string]string{"username": "heidi", "password": pw, "email": "frank@example.com"}).want(t, 201, "")

	// A stale token is not enough.
	clock.Advance(16 * time.Minute)
	c.do("POST", "/v1/email", map[string]string{"email": "frank@third.example"}, at...).want(t, 401, "insufficient_user_authentication")
}

// TestPasswordChangeNotice: a password change sends the notice too.
func TestPasswordChangeNotice(t *testing.T) {
	r := newMailRig(t, nil)
	c := r.c
	c.do("POST", "/v1/register", map[string]string{"username": "ivan@example.com", "password": pw}).want(t, 201, "")
	at := bearer(c.login("ivan@example.com").str("access_token"))
	c.do("POST", "/v1/password", map[string]string{"current_password": pw, "new_password": "ivan's new passphrase"}, at...).want(t, 200, "")
	msgs := r.relay.Await(t, 2, r.drain)
	p, err := smtptest.Parse(msgs[1].Data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Header.Get("Subject"), "password was changed") {
		t.Fatalf("second message: %v", p.Header)
	}
}

// TestRequireVerifiedEmail: with BATON_REQUIRE_VERIFIED_EMAIL, the right
// password of an unverified account gets 403 email_not_verified, a wrong
// one still 401; once verified, the login works.
func TestRequireVerifiedEmail(t *testing.T) {
	r := newMailRig(t, batontest.Env{"BATON_REQUIRE_VERIFIED_EMAIL": "true"})
	c := r.c
	c.do("POST", "/v1/register", map[string]string{"username": "judy@example.com", "password": pw}).want(t, 201, "")
	_, tok := r.lastLink(t, 1)
	c.do("POST", "/v1/login", map[string]string{"username": "judy@example.com", "password": pw}).want(t, 403, "email_not_verified")
	c.do("POST", "/v1/login", map[string]string{"username": "judy@example.com", "password": "wrong password here"}).want(t, 401, "invalid_credentials")
	c.do("POST", "/oauth/token", "grant_type=password&username=judy%40example.com&password="+strings.ReplaceAll(pw, " ", "+"),
		"Content-Type", "application/x-www-form-urlencoded").want(t, 403, "email_not_verified")
	c.do("POST", "/v1/email/verify", map[string]string{"token": tok}).want(t, 200, "")
	c.login("judy@example.com")
}
