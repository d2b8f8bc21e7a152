package pages

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Provider renders the OpenID provider's pages: sign-in, the second
// factor, consent, the logout confirmation, signed-out and errors. The
// handlers (package httpapi) decide what to show; a Provider only turns
// their values into HTML, escaped by html/template, on the same layout,
// stylesheet and CSP as the account pages.
//
// Every form posts to its own page (Action) and works with JavaScript off;
// only passkeys need a script (signin.js, served with the account pages'
// assets, so the account Handler must be mounted too).
type Provider struct {
	site  *site
	pages map[string]*template.Template // by template file
}

// The provider's page templates; passkey.html is the passkey form the
// sign-in and second-factor pages share.
const (
	loginTemplate        = "login.html"
	secondFactorTemplate = "second-factor.html"
	consentTemplate      = "consent.html"
	logoutTemplate       = "logout.html"
	signedOutTemplate    = "signed-out.html"
	errorTemplate        = "error.html"
	passkeyTemplate      = "passkey.html"
)

// passkeyScript runs the passkey ceremony of the sign-in and second-factor
// pages.
const passkeyScript = "signin.js"

// NewProvider parses the provider's pages for opt (Brand and Issuer;
// SignIn is not used).
func NewProvider(opt Options) (*Provider, error) {
	s, err := newSite(opt)
	if err != nil {
		return nil, err
	}
	p := &Provider{site: s, pages: map[string]*template.Template{}}
	for _, name := range []string{loginTemplate, secondFactorTemplate, consentTemplate, logoutTemplate, signedOutTemplate, errorTemplate} {
		if p.pages[name], err = s.parse(name, passkeyTemplate); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// LoginPage is the sign-in form: username and password, and a passkey.
type LoginPage struct {
	Action     string // the form's action path (e.g. "/login" under the issuer's base); forms post to their own page
	Request    string // hidden input "request": the pending authorization request id
	CSRF       string // hidden input "csrf"
	ClientName string // "Sign in to continue to {ClientName}"
	Username   string // prefilled (login_hint, or the name typed before a wrong password)
	Error      string // shown above the form when not empty (role=alert)
	Passkeys   bool   // show "Sign in with a passkey" (needs JavaScript)
	// RedirectURI is where the answer to the form may send the browser
	// off baton: the authorization request's redirect URI. Its origin
	// joins the CSP's form-action, because Chrome applies form-action to
	// every redirect after a submission too, and would stop the browser
	// on its way back to the client. Empty when every answer stays on
	// baton.
	RedirectURI string
}

// SecondFactorPage is the second step of a sign-in: a code, or a passkey.
type SecondFactorPage struct {
	Action, Request, CSRF, ClientName string
	MFAToken                          string   // hidden input "mfa_token"
	Methods                           []string // "totp", "recovery_code", "passkey" (the contract's method names)
	Error                             string
	RedirectURI                       string // as LoginPage's
}

// ConsentPage asks the user to let a client have the scopes it asks for.
type ConsentPage struct {
	Action, Request, CSRF string
	ClientName            string
	Scopes                []string // shown with a human description each; unknown scopes shown by name
	// Username is the signed-in account, so the user sees whose access
	// they grant; empty shows none.
	Username    string
	RedirectURI string // as LoginPage's: both answers go back to the client
}

// LogoutPage asks the user to confirm an RP-initiated logout.
type LogoutPage struct {
	Action, CSRF, ClientName string
	// Hidden fields carried through the confirmation:
	IDTokenHint, ClientID, PostLogoutRedirectURI, State string
	// RedirectURI is as LoginPage's: the post-logout redirect URI once
	// the handler has found it registered (PostLogoutRedirectURI is
	// carried as sent), else empty.
	RedirectURI string
}

// SignedOutPage says the logout is done, when there is no client to go
// back to.
type SignedOutPage struct{ ClientName string }

// ErrorPage is an error that cannot go back to the client (an unknown
// client or redirect URI, a dead request).
type ErrorPage struct{ Title, Message, RequestID string }

// scopeWords are the descriptions the consent page shows for the scopes
// baton knows.
var scopeWords = map[string]string{
	"openid":         "Know who you are",
	"profile":        "Your username",
	"email":          "Your email address",
	"offline_access": "Stay signed in (keep access when you are away)",
}

// scopeLine is one scope on the consent page: a description, or, for a
// scope baton does not know, its name.
type scopeLine struct{ Name, Description string }

// passkeyForm is the second form of the sign-in and second-factor pages:
// signin.js fills in flow_id and credential and submits it.
type passkeyForm struct {
	Action, Request, CSRF, MFAToken, Label string
}

// Login writes the sign-in page.
func (p *Provider) Login(w http.ResponseWriter, status int, d LoginPage) {
	data := struct {
		LoginPage
		Passkey *passkeyForm
	}{LoginPage: d}
	v := view{Title: "Sign in"}
	if d.Passkeys {
		v.Script = passkeyScript
		data.Passkey = &passkeyForm{Action: d.Action, Request: d.Request, CSRF: d.CSRF, Label: "Sign in with a passkey"}
	}
	v.Page = data
	p.write(w, status, loginTemplate, v, d.RedirectURI)
}

// SecondFactor writes the second step of a sign-in: a form for a TOTP
// code, one for a recovery code (folded away when another method is
// offered), and a passkey, as Methods allow. With no known method it
// offers a code form all the same, so the page is never empty.
func (p *Provider) SecondFactor(w http.ResponseWriter, status int, d SecondFactorPage) {
	has := func(m string) bool { return slices.Contains(d.Methods, m) }
	data := struct {
		SecondFactorPage
		TOTP, RecoveryCode, FoldRecovery bool
		Passkey                          *passkeyForm
	}{SecondFactorPage: d, TOTP: has("totp"), RecoveryCode: has("recovery_code")}
	v := view{Title: "Two-step sign-in"}
	if has("passkey") {
		v.Script = passkeyScript
		data.Passkey = &passkeyForm{Action: d.Action, Request: d.Request, CSRF: d.CSRF, MFAToken: d.MFAToken, Label: "Use a passkey"}
		if !data.TOTP && !data.RecoveryCode {
			v.NoScript = "Signing in with a passkey needs JavaScript. Turn it on, or sign in on another browser."
		}
	}
	if !data.TOTP && data.Passkey == nil {
		data.RecoveryCode = true
	}
	data.FoldRecovery = data.RecoveryCode && (data.TOTP || data.Passkey != nil)
	v.Page = data
	p.write(w, status, secondFactorTemplate, v, d.RedirectURI)
}

// Consent writes the consent page.
func (p *Provider) Consent(w http.ResponseWriter, status int, d ConsentPage) {
	lines := make([]scopeLine, 0, len(d.Scopes))
	for _, s := range d.Scopes {
		lines = append(lines, scopeLine{Name: s, Description: scopeWords[s]})
	}
	v := view{Title: "Allow access?", Page: struct {
		ConsentPage
		Lines []scopeLine
	}{d, lines}}
	p.write(w, status, consentTemplate, v, d.RedirectURI)
}

// LogoutConfirm writes the question whether to sign out.
func (p *Provider) LogoutConfirm(w http.ResponseWriter, status int, d LogoutPage) {
	p.write(w, status, logoutTemplate, view{Title: "Sign out?", Page: d}, d.RedirectURI)
}

// SignedOut writes the page that says the user is signed out.
func (p *Provider) SignedOut(w http.ResponseWriter, status int, d SignedOutPage) {
	p.write(w, status, signedOutTemplate, view{Title: "Signed out", Page: d}, "")
}

// Error writes an error page; an empty Title is "Something went wrong".
func (p *Provider) Error(w http.ResponseWriter, status int, d ErrorPage) {
	if d.Title == "" {
		d.Title = "Something went wrong"
	}
	p.write(w, status, errorTemplate, view{Title: d.Title, Page: d}, "")
}

// write renders a page and answers with it: status (0 is 200), the
// headers File sets, and a CSP whose form-action also allows the origin of
// redirectURI.
func (p *Provider) write(w http.ResponseWriter, status int, name string, v view, redirectURI string) {
	body, err := p.site.render(p.pages[name], v)
	if err != nil {
		// Only a broken template or page type gets here, and the tests
		// render every page.
		writeError(w, http.StatusInternalServerError, "internal_error", "the page could not be rendered")
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	File{ContentType: "text/html; charset=utf-8", CSP: formCSP(redirectURI), CacheControl: "no-store"}.setHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// formCSP is ContentSecurityPolicy with the origin of redirectURI added
// to form-action: Chrome checks each redirect that follows a form's
// submission against the form page's form-action, so a sign-in whose
// answer redirects to the client would stop at "form-action 'self'".
func formCSP(redirectURI string) string {
	src := formSource(redirectURI)
	if src == "" {
		return ContentSecurityPolicy
	}
	return strings.Replace(ContentSecurityPolicy, "form-action 'self'", "form-action 'self' "+src, 1)
}

// formSource returns the CSP source expression of the origin of a
// redirect URI: scheme://host[:port] for http and https, "scheme:" for a
// native app's private-use scheme (RFC 8252 §7.1, a reverse domain name,
// so never javascript: or data:). It returns "" for anything else, and
// for a host with a character that could end the source or the directive
// in the header.
func formSource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "http" || scheme == "https":
		host := strings.ToLower(u.Host)
		if host == "" || strings.IndexFunc(host, func(r rune) bool {
			return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || strings.ContainsRune(".-:[]", r))
		}) >= 0 {
			return ""
		}
		return scheme + "://" + host
	case strings.Contains(scheme, "."):
		// url.Parse admits only letters, digits, "+", "-" and "." in a
		// scheme.
		return scheme + ":"
	}
	return ""
}
