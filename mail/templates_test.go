package mail_test

import (
	"flag"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/mail"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestRenderTestGolden pins the test message byte for byte.
func TestRenderTestGolden(t *testing.T) {
	tpl, err := mail.NewTemplates("Acme <Auth>")
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Render(mail.Test, mail.Data{Email: "ops@example.com", Relay: "smtp.example.com:587"})
	if err != nil {
		t.Fatal(err)
	}
	for file, got := range map[string]string{"test.subject": m.Subject + "\n", "test.txt": m.Text, "test.html": m.HTML} {
		path := filepath.Join("testdata", file)
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(string(want), got); d != "" {
			t.Errorf("%s (-want +got):\n%s", file, d)
		}
	}
	if m.To != "ops@example.com" {
		t.Errorf("To %q", m.To)
	}
}

var hrefs = regexp.MustCompile(`href="([^"]*)"`)

// TestRenderEvery renders every message: a subject on one line, both
// parts, data escaped in HTML and links exact in both parts.
func TestRenderEvery(t *testing.T) {
	tpl, err := mail.NewTemplates("Acme")
	if err != nil {
		t.Fatal(err)
	}
	const link = "https://auth.example.com/account/verify-email#token=bt_vfy_a-b_c&x=1"
	d := mail.Data{
		Username: `<script>alert("u")</script>`, Email: "old@example.com", NewEmail: `new"<b>"@example.com`,
		Link: link, ValidFor: 72 * time.Hour, Relay: "relay:25", Change: `passkey <i>added</i>`,
	}
	tests := []struct {
		name     string
		wantLink bool
		want     string // in the text part
	}{
		{mail.VerifyEmail, true, "expires in 72 hours"},
		{mail.ResetPassword, true, "expires in 72 hours"},
		{mail.PasswordChanged, false, `Hello <script>alert("u")</script>,`},
		{mail.ConfirmEmail, true, `use new"<b>"@example.com from now on`},
		{mail.EmailChanged, false, `to new"<b>"@example.com`},
		{mail.SecurityChange, false, "account: passkey <i>added</i>."},
		{mail.Test, false, "sent through relay:25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tpl.Render(tt.name, d)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") || !strings.Contains(m.Subject, "Acme") {
				t.Errorf("subject %q", m.Subject)
			}
			if !strings.Contains(m.Text, tt.want) {
				t.Errorf("text part lacks %q:\n%s", tt.want, m.Text)
			}
			if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>") || strings.Contains(m.HTML, "<i>") {
				t.Errorf("html part holds unescaped data:\n%s", m.HTML)
			}
			gotLink := mail.LinkLine(m.Text)
			hs := hrefs.FindAllStringSubmatch(m.HTML, -1)
			if !tt.wantLink {
				if gotLink != "" || len(hs) != 0 {
					t.Errorf("a notice carries a link: %q %v", gotLink, hs)
				}
				return
			}
			if gotLink != link {
				t.Errorf("text link %q, want %q", gotLink, link)
			}
			if len(hs) == 0 {
				t.Fatal("no link in the html part")
			}
			for _, h := range hs {
				if got := html.UnescapeString(h[1]); got != link {
					t.Errorf("html link %q, want %q", got, link)
				}
			}
		})
	}
	if _, err := tpl.Render("nope", d); err == nil {
		t.Error("an unknown template rendered")
	}
}

// A link that is not http(s) never becomes a live href.
func TestRenderUnsafeLink(t *testing.T) {
	tpl, err := mail.NewTemplates("Acme")
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Render(mail.VerifyEmail, mail.Data{Link: "javascript:alert(1)", ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, `href="javascript:`) {
		t.Fatalf("html part has a javascript: href:\n%s", m.HTML)
	}
}

func TestNewTemplatesBrand(t *testing.T) {
	for _, brand := range []string{"", "a\r\nBcc: x@example.com"} {
		if _, err := mail.NewTemplates(brand); err == nil {
			t.Errorf("brand %q accepted", brand)
		}
	}
}

// TestRenderSecurityChange: the notice names the change and the brand in
// both parts, and says what to do if it was not the user.
func TestRenderSecurityChange(t *testing.T) {
	tpl, err := mail.NewTemplates("Acme")
	if err != nil {
		t.Fatal(err)
	}
	m, err := tpl.Render(mail.SecurityChange, mail.Data{Username: "kim", Email: "kim@example.com", Change: "passkey removed"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Security change on your Acme account: passkey removed" {
		t.Errorf("subject %q", m.Subject)
	}
	for part, body := range map[string]string{"text": strings.Join(strings.Fields(m.Text), " "), "html": m.HTML} {
		for _, want := range []string{"Hello kim,", "your Acme account", "passkey removed", "reset your password at once", "whoever runs Acme"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q:\n%s", part, want, body)
			}
		}
	}
}
