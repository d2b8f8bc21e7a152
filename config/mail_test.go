package config

import (
	"testing"

	"github.com/batonauth/baton/mail"
	"github.com/google/go-cmp/cmp"
)

func TestMail(t *testing.T) {
	c, err := load(map[string]string{
		"BATON_SMTP_URL": "smtps://user:p%40ss@smtp.example.com", "BATON_MAIL_FROM": "noreply@example.com",
		"BATON_BRAND_NAME": "Acme Login",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &mail.Relay{Security: mail.ImplicitTLS, Host: "smtp.example.com", Port: 465, Username: "user", Password: "p@ss"}
	if d := cmp.Diff(want, c.SMTP); d != "" || c.MailFrom != "noreply@example.com" || c.BrandName != "Acme Login" {
		t.Fatalf("got %+v from %q brand %q (-want +got):\n%s", c.SMTP, c.MailFrom, c.BrandName, d)
	}
	// Without a relay, mail goes to the log: nothing else is required.
	c, err = load(nil)
	if err != nil || c.SMTP != nil {
		t.Fatalf("got %v %v, want no relay", c.SMTP, err)
	}
}
