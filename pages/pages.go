// Package pages is baton's own HTML pages, served by baton whatever else
// is mounted. The account pages (Handler) are /account/verify-email and
// /account/reset-password, which the links in baton's messages open. The
// one-time token travels in the URL's fragment, so it never reaches a
// server log or a Referer; the page's script reads it, clears it from the
// address bar and posts it to the API. The OpenID provider's pages
// (Provider: sign-in, second factor, consent, logout) are rendered for
// each request by its handlers, and are forms that work without
// JavaScript, but for passkeys.
//
// Pages are html/template files on one layout, with their scripts and the
// stylesheet embedded beside them; nothing is inline, so the
// Content-Security-Policy allows scripts, styles and requests from the
// server's own origin only. The demo page shares the stylesheet, the icon
// and the compiled client (Look), so both look the same.
package pages

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

//go:embed templates assets
var files embed.FS

// ContentSecurityPolicy is sent with every page and asset: nothing but the
// server's own scripts, styles, images and API, no framing, no <base>, and
// forms post only to the server.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// lookFiles are the assets other pages may serve under the same names.
var lookFiles = []string{"baton.css", "favicon.svg", "baton-client.js"}

// Look returns the files baton's pages share with another page (the demo)
// to serve beside its own: the stylesheet baton.css and the icon
// favicon.svg, which give them one look, and baton-client.js, the compiled
// client (clients/js) whose WebAuthn helpers the passkey sign-in uses.
func Look() fs.FS {
	sub, err := fs.Sub(files, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return lookFS{sub}
}

// lookFS opens only lookFiles.
type lookFS struct{ fs.FS }

func (l lookFS) Open(name string) (fs.File, error) {
	for _, n := range lookFiles {
		if n == name {
			return l.FS.Open(name)
		}
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// Options configure the pages.
type Options struct {
	// Brand is the product name the pages show (BATON_BRAND_NAME);
	// default "baton".
	Brand string
	// Issuer is the server's issuer URL; the pages live under its path.
	Issuer string
	// SignIn is the path, below the issuer's, of a page where the user
	// can sign in (the demo's "/"); empty when there is none, and the
	// pages then only say that the user may sign in.
	SignIn string
}

// page is one of the account pages: its path below the base, its
// template and the values the layout fills in.
type page struct {
	Path, Template, Title, Script string
}

var accountPages = []page{
	{Path: "/account/verify-email", Template: "verify-email.html", Title: "Confirm your email address", Script: "verify-email.js"},
	{Path: "/account/reset-password", Template: "reset-password.html", Title: "Choose a new password", Script: "reset-password.js"},
}

// accountNoScript is what the account pages say with JavaScript off.
const accountNoScript = "This page needs JavaScript: it reads the link's code in your browser, so that the code never reaches a server log."

// assetsPath is where the pages' scripts, stylesheet and icon are served,
// below the base.
const assetsPath = "/account/assets/"

var types = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

// view is what the layout fills in: the page's title and script (none
// when Script is empty), where the pages live, and the page's own values
// (Page) for its "content" template.
type view struct {
	Title, Script string
	// NoScript is shown when JavaScript is off, on a page that needs it.
	NoScript string
	// SignIn is the path of a sign-in page to offer; empty offers none.
	SignIn              string
	Brand, Base, Assets string
	Page                any
}

// site is where the pages live and what they show for opt: the brand, the
// issuer's path (the base every path is below), and the layout.
type site struct {
	brand, base, assets string
	layout              *template.Template
}

func newSite(opt Options) (*site, error) {
	if opt.Brand == "" {
		opt.Brand = "baton"
	}
	iss, err := url.Parse(opt.Issuer)
	if err != nil {
		return nil, fmt.Errorf("pages: issuer: %w", err)
	}
	base := strings.TrimSuffix(iss.Path, "/")
	layout, err := template.ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	return &site{brand: opt.Brand, base: base, assets: base + assetsPath, layout: layout}, nil
}

// parse returns the layout with the named templates, the first of which
// defines the page's "content".
func (s *site) parse(names ...string) (*template.Template, error) {
	t, err := s.layout.Clone()
	for _, n := range names {
		if err == nil {
			t, err = t.ParseFS(files, "templates/"+n)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pages: %s: %w", names[0], err)
	}
	return t, nil
}

// render executes t for v, filled in with where the pages live.
func (s *site) render(t *template.Template, v view) ([]byte, error) {
	v.Brand, v.Base, v.Assets = s.brand, s.base, s.assets
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Handler serves the pages. Mount it at the issuer's path + "/account/";
// it answers every other path under it 404 with a JSON error body, like
// the API.
type Handler struct {
	rendered map[string][]byte // full path → page
	assets   fs.FS
	prefix   string // base + assetsPath
}

// New renders the pages for opt.
func New(opt Options) (*Handler, error) {
	s, err := newSite(opt)
	if err != nil {
		return nil, err
	}
	assets, err := fs.Sub(files, "assets")
	if err != nil {
		return nil, err
	}
	h := &Handler{rendered: map[string][]byte{}, assets: assets, prefix: s.assets}
	for _, p := range accountPages {
		t, err := s.parse(p.Template)
		if err != nil {
			return nil, err
		}
		v := view{Title: p.Title, Script: p.Script, NoScript: accountNoScript}
		if opt.SignIn != "" {
			v.SignIn = s.base + opt.SignIn
		}
		b, err := s.render(t, v)
		if err != nil {
			return nil, fmt.Errorf("pages: %s: %w", p.Template, err)
		}
		h.rendered[s.base+p.Path] = b
	}
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ctype := h.rendered[r.URL.Path], "text/html; charset=utf-8"
	if body == nil {
		name, ok := strings.CutPrefix(r.URL.Path, h.prefix)
		ctype = types[path.Ext(name)]
		if ok && ctype != "" && fs.ValidPath(name) && !strings.Contains(name, "/") {
			body, _ = fs.ReadFile(h.assets, name)
		}
		if body == nil {
			NotFound(w, r)
			return
		}
	}
	// The pages are opened with a one-time token; nothing of them should
	// stay in a cache.
	File{ContentType: ctype, CSP: ContentSecurityPolicy, CacheControl: "no-store", Body: body}.ServeHTTP(w, r)
}

// File answers with an embedded page or asset, for the pages and the demo:
// GET and HEAD only (another method gets 405 with Allow), with a CSP, no
// Referer for what the page loads or links to, no MIME sniffing and no
// sharing of its window with another origin's.
type File struct {
	ContentType, CSP, CacheControl string
	Body                           []byte
}

func (f File) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method "+r.Method+" is not allowed here")
		return
	}
	f.setHeaders(w.Header())
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(f.Body)
}

// setHeaders sets the headers of f's answer.
func (f File) setHeaders(h http.Header) {
	h.Set("Content-Type", f.ContentType)
	h.Set("Content-Security-Policy", f.CSP)
	h.Set("Cache-Control", f.CacheControl)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// NotFound answers 404 with a JSON error body, as the API does for an
// unknown endpoint.
func NotFound(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
