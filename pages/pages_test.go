package pages_test

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/batonauth/baton/pages"
)

func newHandler(t *testing.T, opt pages.Options) http.Handler {
	t.Helper()
	h, err := pages.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestHandler(t *testing.T) {
	h := newHandler(t, pages.Options{Issuer: "https://id.example.com"})
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantType           string
	}{
		{"VerifyEmail", "GET", "/account/verify-email", 200, "text/html; charset=utf-8"},
		{"ResetPassword", "GET", "/account/reset-password", 200, "text/html; charset=utf-8"},
		{"Head", "HEAD", "/account/reset-password", 200, "text/html; charset=utf-8"},
		{"Script", "GET", "/account/assets/reset-password.js", 200, "text/javascript; charset=utf-8"},
		{"SharedScript", "GET", "/account/assets/account.js", 200, "text/javascript; charset=utf-8"},
		{"Style", "GET", "/account/assets/baton.css", 200, "text/css; charset=utf-8"},
		{"Icon", "GET", "/account/assets/favicon.svg", 200, "image/svg+xml"},
		{"Unknown", "GET", "/account/x", 404, "application/json"},
		{"Root", "GET", "/account/", 404, "application/json"},
		{"TrailingSlash", "GET", "/account/verify-email/", 404, "application/json"},
		{"UnknownAsset", "GET", "/account/assets/nope.js", 404, "application/json"},
		{"Template", "GET", "/account/assets/layout.html", 404, "application/json"},
		{"AssetsDir", "GET", "/account/assets/", 404, "application/json"},
		{"Dotdot", "GET", "/account/assets/..%2fpages.go", 404, "application/json"},
		{"Post", "POST", "/account/reset-password", 405, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(h, tt.method, tt.path)
			if rec.Code != tt.wantStatus || rec.Header().Get("Content-Type") != tt.wantType {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Header().Get("Content-Type"), tt.wantStatus, tt.wantType)
			}
			if rec.Code != 200 {
				var body struct{ Error, ErrorDescription string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
					t.Fatalf("error body %q is not a JSON error (%v)", rec.Body, err)
				}
				return
			}
			if tt.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD has a body of %d bytes", rec.Body.Len())
			}
			wantHeaders := map[string]string{
				"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
				"Referrer-Policy":         "no-referrer",
				"X-Content-Type-Options":  "nosniff",
				"Cache-Control":           "no-store",
			}
			for k, want := range wantHeaders {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
		})
	}
}

// element is a start tag of a page, as a browser's parser would see it.
type element struct {
	name  string
	attrs map[string]string
	text  string // character data directly inside (scripts, styles)
	form  string // the id of the form it is in, if any
}

// parse tokenizes an HTML page with the HTML rules of encoding/xml (void
// elements auto-closed, HTML entities), failing the test on a page it
// cannot read.
func parse(t *testing.T, page string) []element {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	var els []element
	open := -1 // the element whose text is being read
	form := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return els
		} else if err != nil {
			t.Fatalf("page does not parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := element{name: strings.ToLower(tok.Name.Local), attrs: map[string]string{}, form: form}
			for _, a := range tok.Attr {
				e.attrs[strings.ToLower(a.Name.Local)] = a.Value
			}
			if e.name == "form" {
				form = e.attrs["id"]
			}
			els = append(els, e)
			open = len(els) - 1
		case xml.CharData:
			if open >= 0 {
				els[open].text += string(tok)
			}
		case xml.EndElement:
			open = -1
			if strings.EqualFold(tok.Name.Local, "form") {
				form = ""
			}
		}
	}
}

// TestNoInlineCode: the CSP forbids inline scripts, styles and event
// handlers, so the pages must have none, and every script and stylesheet
// comes from the assets the handler serves.
func TestNoInlineCode(t *testing.T) {
	for _, issuer := range []string{"https://id.example.com", "https://example.com/auth/"} {
		h := newHandler(t, pages.Options{Issuer: issuer, Brand: `Acme <script>alert(1)</script>`, SignIn: "/"})
		base := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(issuer, "https://id.example.com"), "https://example.com"), "/")
		for _, path := range []string{"/account/verify-email", "/account/reset-password"} {
			t.Run(base+path, func(t *testing.T) {
				rec := get(h, "GET", base+path)
				if rec.Code != 200 {
					t.Fatalf("GET %s: %d", base+path, rec.Code)
				}
				var scripts, styles int
				for _, e := range parse(t, rec.Body.String()) {
					checkNoInlineCode(t, e)
					switch e.name {
					case "script":
						scripts++
						checkModule(t, h, e.attrs["src"])
					case "link":
						if e.attrs["rel"] == "stylesheet" {
							styles++
						}
						if r := get(h, "GET", e.attrs["href"]); r.Code != 200 || !strings.HasPrefix(e.attrs["href"], base+"/account/assets/") {
							t.Errorf("link %s: %d", e.attrs["href"], r.Code)
						}
					case "body":
						if e.attrs["data-base"] != base {
							t.Errorf("data-base %q, want %q", e.attrs["data-base"], base)
						}
					case "a":
						if strings.HasPrefix(e.attrs["href"], "http") {
							t.Errorf("link %v", e)
						}
					case "input":
						if e.attrs["type"] == "password" && e.attrs["autocomplete"] != "new-password" {
							t.Errorf("password input without autocomplete=new-password: %v", e)
						}
					case "h1":
						if e.text != `Acme <script>alert(1)</script>` {
							t.Errorf("brand %q, want it shown as text", e.text)
						}
					}
				}
				if scripts != 1 || styles != 1 {
					t.Errorf("%d scripts and %d stylesheets, want 1 and 1", scripts, styles)
				}
				if !strings.Contains(rec.Body.String(), `<a href="`+base+`/">Sign in</a>`) {
					t.Errorf("no sign-in link to %s/", base)
				}
			})
		}
	}
}

// TestLabels: every input has a label naming it.
func TestLabels(t *testing.T) {
	h := newHandler(t, pages.Options{Issuer: "http://127.0.0.1:8080"})
	els := parse(t, get(h, "GET", "/account/reset-password").Body.String())
	labelled := map[string]bool{}
	for _, e := range els {
		if e.name == "label" {
			labelled[e.attrs["for"]] = true
		}
	}
	var inputs int
	for _, e := range els {
		if e.name == "input" {
			inputs++
			if id := e.attrs["id"]; id == "" || !labelled[id] {
				t.Errorf("input %v has no label", e.attrs)
			}
		}
	}
	if inputs != 2 {
		t.Errorf("%d inputs, want the new password twice", inputs)
	}
}

// TestNoSignIn: without a sign-in page there is no link to one.
func TestNoSignIn(t *testing.T) {
	h := newHandler(t, pages.Options{Issuer: "http://127.0.0.1:8080"})
	if body := get(h, "GET", "/account/verify-email").Body.String(); strings.Contains(body, "sign-in") {
		t.Errorf("a sign-in link without a sign-in page:\n%s", body)
	}
}

// TestLook: the demo may serve the stylesheet, the icon and the client,
// and nothing else of the pages.
func TestLook(t *testing.T) {
	for _, name := range []string{"baton.css", "favicon.svg", "baton-client.js"} {
		if _, err := fs.ReadFile(pages.Look(), name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"reset-password.js", "account.js", "../templates/layout.html"} {
		if _, err := fs.ReadFile(pages.Look(), name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: got %v, want not found", name, err)
		}
	}
}
