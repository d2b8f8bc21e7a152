package pages_test

import (
	"encoding/xml"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/batonauth/baton/pages"
)

// hostile is a value that would run as a script if a page did not escape
// it, with quotes to break out of an attribute.
const hostile = `"'><script>alert(1)</script>`

func newProvider(t *testing.T, opt pages.Options) *pages.Provider {
	t.Helper()
	p, err := pages.NewProvider(opt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// form is what a test expects of one form: its inputs by name (the value
// of each hidden one; "" for a visible one, whose attributes are in
// visible), and the values of its decision buttons.
type form struct {
	hidden    map[string]string
	visible   map[string]map[string]string // name → attributes it must have
	decisions []string
}

// providerPage is one rendering of a provider page and what it must show.
type providerPage struct {
	name   string
	render func(p *pages.Provider, w http.ResponseWriter)
	status int
	forms  map[string]form // by form id
	script bool            // loads signin.js
	texts  []string        // in the page's text
}

var (
	loginFields = map[string]map[string]string{
		"username": {"type": "text", "autocomplete": "username"},
		"password": {"type": "password", "autocomplete": "current-password"},
	}
	totpField     = map[string]map[string]string{"code": {"autocomplete": "one-time-code", "inputmode": "numeric"}}
	recoveryField = map[string]map[string]string{"code": {"autocomplete": "one-time-code", "inputmode": "text"}}
)

func providerPages() []providerPage {
	login := pages.LoginPage{Action: "/auth/login", Request: "req-" + hostile, CSRF: "csrf-" + hostile,
		ClientName: "Client " + hostile, Username: "ann" + hostile}
	withPasskeys := login
	withPasskeys.Passkeys, withPasskeys.Error = true, "Wrong username or password "+hostile
	second := func(methods ...string) pages.SecondFactorPage {
		return pages.SecondFactorPage{Action: "/auth/login", Request: "req-" + hostile, CSRF: "csrf-" + hostile,
			ClientName: "Client " + hostile, MFAToken: "mfa-" + hostile, Methods: methods}
	}
	step := map[string]string{"request": "req-" + hostile, "csrf": "csrf-" + hostile, "mfa_token": "mfa-" + hostile}
	passkeyStep := with(step, map[string]string{"method": "passkey", "flow_id": "", "credential": ""})
	loginHidden := map[string]string{"request": "req-" + hostile, "csrf": "csrf-" + hostile}
	return []providerPage{
		{
			name:   "Login",
			render: func(p *pages.Provider, w http.ResponseWriter) { p.Login(w, 0, login) },
			status: 200,
			forms: map[string]form{"signin-form": {hidden: loginHidden, visible: map[string]map[string]string{
				"username": with(loginFields["username"], map[string]string{"value": "ann" + hostile}),
				"password": loginFields["password"],
			}}},
			texts: []string{"Sign in to continue to Client " + hostile},
		},
		{
			name:   "LoginPasskeysError",
			render: func(p *pages.Provider, w http.ResponseWriter) { p.Login(w, http.StatusUnauthorized, withPasskeys) },
			status: 401,
			forms: map[string]form{
				"signin-form":  {hidden: loginHidden, visible: loginFields},
				"passkey-form": {hidden: with(loginHidden, map[string]string{"method": "passkey", "flow_id": "", "credential": ""})},
			},
			script: true,
			texts:  []string{"Wrong username or password " + hostile, "Sign in with a passkey"},
		},
		{
			name: "SecondFactorAll",
			render: func(p *pages.Provider, w http.ResponseWriter) {
				p.SecondFactor(w, 0, second("totp", "recovery_code", "passkey"))
			},
			status: 200,
			forms: map[string]form{
				"totp-form":     {hidden: step, visible: totpField},
				"recovery-form": {hidden: step, visible: recoveryField},
				"passkey-form":  {hidden: passkeyStep},
			},
			script: true,
			texts:  []string{"To continue to Client " + hostile, "Use a recovery code instead", "Use a passkey"},
		},
		{
			name: "SecondFactorCodesError",
			render: func(p *pages.Provider, w http.ResponseWriter) {
				d := second("totp", "recovery_code")
				d.Error = "Wrong code " + hostile
				p.SecondFactor(w, http.StatusUnauthorized, d)
			},
			status: 401,
			forms: map[string]form{
				"totp-form":     {hidden: step, visible: totpField},
				"recovery-form": {hidden: step, visible: recoveryField},
			},
			texts: []string{"Wrong code " + hostile},
		},
		{
			name:   "SecondFactorPasskeyOnly",
			render: func(p *pages.Provider, w http.ResponseWriter) { p.SecondFactor(w, 0, second("passkey")) },
			status: 200,
			forms:  map[string]form{"passkey-form": {hidden: passkeyStep}},
			script: true,
			texts:  []string{"Signing in with a passkey needs JavaScript"},
		},
		{
			name:   "SecondFactorRecoveryOnly",
			render: func(p *pages.Provider, w http.ResponseWriter) { p.SecondFactor(w, 0, second("recovery_code")) },
			status: 200,
			forms:  map[string]form{"recovery-form": {hidden: step, visible: recoveryField}},
		},
		{
			name:   "SecondFactorNoKnownMethod",
			render: func(p *pages.Provider, w http.ResponseWriter) { p.SecondFactor(w, 0, second("sms")) },
			status: 200,
			forms:  map[string]form{"recovery-form": {hidden: step, visible: recoveryField}},
		},
		{
			name: "Consent",
			render: func(p *pages.Provider, w http.ResponseWriter) {
				p.Consent(w, 0, pages.ConsentPage{Action: "/auth/consent", Request: "req-" + hostile, CSRF: "csrf-" + hostile,
					ClientName: "Client " + hostile, Username: "ann" + hostile,
					Scopes: []string{"openid", "profile", "email", "offline_access", "calendar" + hostile}})
			},
			status: 200,
			forms:  map[string]form{"consent-form": {hidden: loginHidden, decisions: []string{"allow", "deny"}}},
			texts: []string{"Client " + hostile + " asks for access", "ann" + hostile, "Know who you are", "Your username",
				"Your email address", "Stay signed in (keep access when you are away)", "calendar" + hostile},
		},
		{
			name: "LogoutConfirm",
			render: func(p *pages.Provider, w http.ResponseWriter) {
				p.LogoutConfirm(w, 0, pages.LogoutPage{Action: "/auth/oauth/logout", CSRF: "csrf-" + hostile, ClientName: "Client " + hostile,
					IDTokenHint: "eyJ." + hostile, ClientID: "cid-" + hostile, PostLogoutRedirectURI: "https://app.example/bye?" + hostile, State: "st-" + hostile})
			},
			status: 200,
			forms: map[string]form{"logout-form": {hidden: map[string]string{"csrf": "csrf-" + hostile, "id_token_hint": "eyJ." + hostile,
				"client_id": "cid-" + hostile, "post_logout_redirect_uri": "https://app.example/bye?" + hostile, "state": "st-" + hostile}}},
			texts: []string{"Client " + hostile + " asks to sign you out"},
		},
		{
			name: "SignedOut",
			render: func(p *pages.Provider, w http.ResponseWriter) {
				p.SignedOut(w, 0, pages.SignedOutPage{ClientName: "Client " + hostile})
			},
			status: 200,
			texts:  []string{"You are signed out of Acme " + hostile + " and Client " + hostile},
		},
		{
			name: "Error",
			render: func(p *pages.Provider, w http.ResponseWriter) {
				p.Error(w, http.StatusBadRequest, pages.ErrorPage{Title: "Unknown client " + hostile, Message: "No such client " + hostile, RequestID: "rid-" + hostile})
			},
			status: 400,
			texts:  []string{"Unknown client " + hostile, "No such client " + hostile, "rid-" + hostile},
		},
		{
			name: "ErrorDefaultTitle",
			render: func(p *pages.Provider, w http.ResponseWriter) {
				p.Error(w, http.StatusNotFound, pages.ErrorPage{Message: "Gone."})
			},
			status: 404,
			texts:  []string{"Something went wrong"},
		},
	}
}

// with returns a copy of m with more's entries added.
func with(m, more map[string]string) map[string]string {
	out := maps.Clone(m)
	maps.Copy(out, more)
	return out
}

// TestProviderPages renders each page with hostile values under an issuer
// with a path: the headers, no inline code, every script served with the
// account pages' assets, every input labelled, the forms' fields and
// hidden inputs exactly as the contract names them, posting to Action,
// and every value shown or carried as the text it was.
func TestProviderPages(t *testing.T) {
	opt := pages.Options{Issuer: "https://example.com/auth/", Brand: "Acme " + hostile}
	p := newProvider(t, opt)
	assets := newHandler(t, opt)
	for _, tt := range providerPages() {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.render(p, rec)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			checkHeaders(t, rec.Header(), "text/html; charset=utf-8", pages.ContentSecurityPolicy)
			body := rec.Body.String()
			if strings.Contains(body, "<script>alert") {
				t.Errorf("a hostile value is in the page unescaped:\n%s", body)
			}
			els := parse(t, body)
			var scripts []string
			labels := map[string]bool{}
			for _, e := range els {
				checkNoInlineCode(t, e)
				switch e.name {
				case "script":
					scripts = append(scripts, e.attrs["src"])
				case "link":
					if r := get(assets, "GET", e.attrs["href"]); r.Code != 200 {
						t.Errorf("link %s: %d", e.attrs["href"], r.Code)
					}
				case "label":
					labels[e.attrs["for"]] = true
				case "title":
					if !strings.HasSuffix(e.text, " · Acme "+hostile) {
						t.Errorf("title %q does not name the brand", e.text)
					}
				}
			}
			wantScripts := []string(nil)
			if tt.script {
				wantScripts = []string{"/auth/account/assets/signin.js"}
			}
			if !slices.Equal(scripts, wantScripts) {
				t.Errorf("scripts %q, want %q", scripts, wantScripts)
			}
			for _, src := range scripts {
				checkModule(t, assets, src)
			}
			checkForms(t, els, labels, tt.forms)
			text := textOf(t, body)
			for _, want := range tt.texts {
				if !strings.Contains(text, want) {
					t.Errorf("the page does not say %q:\n%s", want, text)
				}
			}
		})
	}
}

// checkHeaders checks the headers every page and asset has.
func checkHeaders(t *testing.T, h http.Header, ctype, csp string) {
	t.Helper()
	want := map[string]string{
		"Content-Type":               ctype,
		"Content-Security-Policy":    csp,
		"Referrer-Policy":            "no-referrer",
		"X-Content-Type-Options":     "nosniff",
		"Cache-Control":              "no-store",
		"Cross-Origin-Opener-Policy": "same-origin",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
}

// checkNoInlineCode fails for what the CSP forbids: event handler
// attributes, style attributes and elements, javascript: URLs and inline
// scripts.
func checkNoInlineCode(t *testing.T, e element) {
	t.Helper()
	for k, v := range e.attrs {
		if strings.HasPrefix(k, "on") || k == "style" || strings.HasPrefix(strings.TrimSpace(strings.ToLower(v)), "javascript:") {
			t.Errorf("<%s %s=%q>", e.name, k, v)
		}
	}
	switch {
	case e.name == "script" && (e.attrs["src"] == "" || strings.TrimSpace(e.text) != ""):
		t.Errorf("inline script %v", e)
	case e.name == "style":
		t.Errorf("inline style %q", e.text)
	}
}

var importFrom = regexp.MustCompile(`(?m)^import .* from '\./([^']+)';$`)

// checkModule checks that the handler serves the script at src, and the
// modules it imports beside it.
func checkModule(t *testing.T, h http.Handler, src string) {
	t.Helper()
	r := get(h, "GET", src)
	if r.Code != 200 || r.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("script %s: %d %s", src, r.Code, r.Header().Get("Content-Type"))
		return
	}
	dir := src[:strings.LastIndex(src, "/")+1]
	for _, m := range importFrom.FindAllStringSubmatch(r.Body.String(), -1) {
		checkModule(t, h, dir+m[1])
	}
}

// checkForms checks the page's forms against want: each posts to its page
// and has exactly the inputs named there, hidden ones with their values,
// visible ones labelled and with the attributes named.
func checkForms(t *testing.T, els []element, labels map[string]bool, want map[string]form) {
	t.Helper()
	got := map[string]form{}
	for _, e := range els {
		switch {
		case e.name == "form":
			if e.attrs["method"] != "post" || e.attrs["action"] == "" || !strings.HasPrefix(e.attrs["action"], "/auth/") {
				t.Errorf("form %v does not post to its page", e.attrs)
			}
			got[e.attrs["id"]] = form{hidden: map[string]string{}, visible: map[string]map[string]string{}}
		case e.name == "input" && e.form == "":
			t.Errorf("input %v outside a form", e.attrs)
		case e.name == "input":
			f := got[e.form]
			name := e.attrs["name"]
			if _, dup := f.hidden[name]; dup {
				t.Errorf("form %s: input %q twice", e.form, name)
			}
			if e.attrs["type"] == "hidden" {
				f.hidden[name] = e.attrs["value"]
				continue
			}
			if id := e.attrs["id"]; id == "" || !labels[id] {
				t.Errorf("form %s: input %v has no label", e.form, e.attrs)
			}
			f.visible[name] = e.attrs
		case e.name == "button" && e.form != "" && e.attrs["name"] == "decision":
			f := got[e.form]
			f.decisions = append(f.decisions, e.attrs["value"])
			got[e.form] = f
		}
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("no form %s", id)
			continue
		}
		if !maps.Equal(g.hidden, w.hidden) {
			t.Errorf("form %s: hidden inputs\n%q\nwant\n%q", id, g.hidden, w.hidden)
		}
		if !slices.Equal(slices.Sorted(maps.Keys(g.visible)), slices.Sorted(maps.Keys(w.visible))) {
			t.Errorf("form %s: inputs %q, want %q", id, slices.Sorted(maps.Keys(g.visible)), slices.Sorted(maps.Keys(w.visible)))
		}
		for name, attrs := range w.visible {
			for k, v := range attrs {
				if g.visible[name][k] != v {
					t.Errorf("form %s: input %s has %s=%q, want %q", id, name, k, g.visible[name][k], v)
				}
			}
		}
		if !slices.Equal(g.decisions, w.decisions) {
			t.Errorf("form %s: decisions %q, want %q", id, g.decisions, w.decisions)
		}
		delete(got, id)
	}
	for id := range got {
		t.Errorf("a form %s the test does not expect", id)
	}
}

// textOf is the page's text as a browser shows it (entities decoded),
// spaces collapsed.
func textOf(t *testing.T, page string) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	var b strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return strings.Join(strings.Fields(b.String()), " ")
		} else if err != nil {
			t.Fatalf("page does not parse: %v", err)
		}
		if c, ok := tok.(xml.CharData); ok {
			b.Write(c)
		}
	}
}

// TestProviderFormAction: the origin of a form's redirect URI joins the
// CSP's form-action (Chrome checks the redirects after a submission
// against it), and nothing that could widen the policy otherwise does.
func TestProviderFormAction(t *testing.T) {
	p := newProvider(t, pages.Options{Issuer: "https://id.example.com"})
	withSource := func(src string) string {
		return strings.Replace(pages.ContentSecurityPolicy, "form-action 'self'", "form-action 'self' "+src, 1)
	}
	tests := []struct {
		name, redirectURI, want string
	}{
		{"None", "", pages.ContentSecurityPolicy},
		{"HTTPS", "https://app.example.com/cb?x=1#f", withSource("https://app.example.com")},
		{"Port", "https://app.example.com:8443/cb", withSource("https://app.example.com:8443")},
		{"Case", "HTTPS://App.Example.COM/cb", withSource("https://app.example.com")},
		{"UserInfo", "https://user:pw@app.example.com/cb", withSource("https://app.example.com")},
		{"Loopback", "http://127.0.0.1:51234/callback", withSource("http://127.0.0.1:51234")},
		{"IPv6Loopback", "http://[::1]:51234/callback", withSource("http://[::1]:51234")},
		{"NativeScheme", "com.example.app:/oauth2redirect", withSource("com.example.app:")},
		{"JavaScript", "javascript:alert(1)", pages.ContentSecurityPolicy},
		{"Data", "data:text/html,hi", pages.ContentSecurityPolicy},
		{"Relative", "/cb", pages.ContentSecurityPolicy},
		{"NoHost", "https:///cb", pages.ContentSecurityPolicy},
		{"Directive", "https://app.example.com;script-src=*/cb", pages.ContentSecurityPolicy},
		{"Wildcard", "https://*.example.com/cb", pages.ContentSecurityPolicy},
		{"Comma", "https://a.example,https:/cb", pages.ContentSecurityPolicy},
		{"Quote", "https://a.example'/cb", pages.ContentSecurityPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			renders := map[string]func(w http.ResponseWriter){
				"Login": func(w http.ResponseWriter) {
					p.Login(w, 0, pages.LoginPage{Action: "/login", RedirectURI: tt.redirectURI})
				},
				"SecondFactor": func(w http.ResponseWriter) {
					p.SecondFactor(w, 0, pages.SecondFactorPage{Action: "/login", RedirectURI: tt.redirectURI})
				},
				"Consent": func(w http.ResponseWriter) {
					p.Consent(w, 0, pages.ConsentPage{Action: "/consent", RedirectURI: tt.redirectURI})
				},
				"Logout": func(w http.ResponseWriter) {
					p.LogoutConfirm(w, 0, pages.LogoutPage{Action: "/oauth/logout", PostLogoutRedirectURI: "https://other.example/", RedirectURI: tt.redirectURI})
				},
			}
			for page, render := range renders {
				rec := httptest.NewRecorder()
				render(rec)
				if got := rec.Header().Get("Content-Security-Policy"); got != tt.want {
					t.Errorf("%s: CSP\n%s\nwant\n%s", page, got, tt.want)
				}
			}
		})
	}
	// Pages without a form keep the policy as it is.
	rec := httptest.NewRecorder()
	p.SignedOut(rec, 0, pages.SignedOutPage{})
	if got := rec.Header().Get("Content-Security-Policy"); got != pages.ContentSecurityPolicy {
		t.Errorf("signed out: CSP %q", got)
	}
}
