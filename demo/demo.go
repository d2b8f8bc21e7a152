// Package demo is the demo page that `baton serve` shows at / (unless
// BATON_DEMO=false): register, log in with any transport, watch the access
// token count down and refresh itself, call a protected endpoint, manage
// sessions, reauthenticate, change the password, set up two-step sign-in
// (an authenticator app and recovery codes), add passkeys and sign in with
// one (no username), and log out. Passkeys need the page at
// http://localhost:<port>, not 127.0.0.1: WebAuthn takes no IP address as
// the relying party. It runs on the
// TypeScript client (clients/js), whose compiled ES module baton's pages
// embed (pages.Look, baton-client.js) so `go build` needs no npm; `make
// demo` rebuilds it, and the client's tests check the committed copy
// matches a fresh build. The stylesheet baton.css and the icon are baton's
// pages' too (pages.Look), so the demo and those pages look the same.
package demo

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/batonauth/baton/pages"
)

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy is sent with every asset: scripts and styles only
// from the page's own origin (no inline code), API calls only to it, no
// framing. Images may also be blob: URLs: the TOTP QR code is fetched with
// the access token and shown from memory.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Handler serves the page wherever it is mounted: a path ending in "/" is
// the page, and the assets are found by their base name.
func Handler() http.Handler {
	files, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "index.html"
		if !strings.HasSuffix(r.URL.Path, "/") {
			name = path.Base(r.URL.Path)
		}
		ctype, ok := types[path.Ext(name)]
		if !ok || strings.HasPrefix(name, ".") {
			pages.NotFound(w, r)
			return
		}
		data, err := fs.ReadFile(files, name)
		if err != nil {
			data, err = fs.ReadFile(pages.Look(), name)
		}
		if err != nil {
			pages.NotFound(w, r)
			return
		}
		pages.File{ContentType: ctype, CSP: ContentSecurityPolicy, CacheControl: "no-cache", Body: data}.ServeHTTP(w, r)
	})
}
