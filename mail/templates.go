package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
)

// The messages baton sends. Each is a pair of templates in templates/:
// NAME.txt (text/template: the subject and the plain-text body) and
// NAME.html (html/template: the HTML body), both inside one layout.
const (
	VerifyEmail     = "verify-email"     // Link, ValidFor
	ResetPassword   = "reset-password"   // Link, ValidFor
	PasswordChanged = "password-changed" // Username
	ConfirmEmail    = "confirm-email"    // Link, ValidFor, NewEmail (to the new address)
	EmailChanged    = "email-changed"    // Username, NewEmail (to the old address)
	SecurityChange  = "security-change"  // Username, Change (a second factor added or removed)
	Test            = "test"             // Relay
)

var names = []string{VerifyEmail, ResetPassword, PasswordChanged, ConfirmEmail, EmailChanged, SecurityChange, Test}

//go:embed templates
var templateFS embed.FS

// Data is what a template may show. Brand is set by Render.
type Data struct {
	Brand    string
	Username string
	Email    string // the address the message goes to
	NewEmail string
	// Link is a one-time link, shown exactly as given (html/template
	// escapes it for the attribute; a client decodes it back).
	Link     string
	ValidFor time.Duration
	Relay    string // the test message: the relay it went through
	// Change names a security change in plain words ("passkey added"),
	// never a secret.
	Change string
}

// Templates render baton's messages.
type Templates struct {
	brand string
	text  map[string]*texttemplate.Template
	html  map[string]*htmltemplate.Template
}

// NewTemplates parses every template (an error here is a bug in the
// binary, found by the tests) for brand, the product name the messages
// show (BATON_BRAND_NAME).
func NewTemplates(brand string) (*Templates, error) {
	if brand == "" || strings.ContainsAny(brand, "\r\n") {
		return nil, errors.New("brand name is empty or contains a line break")
	}
	t := &Templates{brand: brand, text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	funcs := map[string]any{"duration": humanDuration}
	for _, name := range names {
		tt, err := texttemplate.New("layout.txt").Funcs(funcs).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.txt", "templates/"+name+".txt")
		if err != nil {
			return nil, err
		}
		ht, err := htmltemplate.New("layout.html").Funcs(funcs).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		t.text[name], t.html[name] = tt, ht
	}
	return t, nil
}

// Render renders the message name (VerifyEmail, …) with d; the caller
// sets To, MessageID and Date of the result.
func (t *Templates) Render(name string, d Data) (*Message, error) {
	tt, ok := t.text[name]
	if !ok {
		return nil, fmt.Errorf("no message template %q", name)
	}
	d.Brand = t.brand
	var subject, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subject, "subject", d); err != nil {
		return nil, fmt.Errorf("render %s subject: %w", name, err)
	}
	if err := tt.Execute(&text, d); err != nil {
		return nil, fmt.Errorf("render %s text: %w", name, err)
	}
	if err := t.html[name].Execute(&html, d); err != nil {
		return nil, fmt.Errorf("render %s html: %w", name, err)
	}
	// A subject is one line whatever the data holds.
	subj := strings.Join(strings.Fields(subject.String()), " ")
	return &Message{To: d.Email, Subject: subj, Text: text.String(), HTML: html.String()}, nil
}

// humanDuration says how long a link lives: "30 minutes", "72 hours".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int64(d/time.Minute), "minute")
	}
	return plural(int64(d/time.Second), "second")
}
