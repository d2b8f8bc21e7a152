package httpapi_test

import (
	"bytes"
	"image/png"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/batonauth/baton/batontest"
)

// qrOf is the PNG the server should draw for uri: the QR code of exactly
// that URI, at the documented size.
func qrOf(t *testing.T, uri string) []byte {
	t.Helper()
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		t.Fatal(err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTOTPQR: GET /v1/mfa/totp/qr draws the pending enrolment's otpauth
// URI — the latest one — as a PNG that is never cached; nothing pending is
// 404; it needs what the enrolment needs (a fresh token of the user, with
// mfa once TOTP is on).
func TestTOTPQR(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := batontest.NewServer(t, batontest.Env{"BATON_ACCESS_TTL": "1h"}, clock)
	c := newClient(t, srv)
	c.register("erin")
	c.register("frank")
	at := bearer(c.login("erin").str("access_token"))
	other := bearer(c.login("frank").str("access_token"))

	c.do("GET", "/v1/mfa/totp/qr", nil).want(t, 401, "unauthorized")
	c.do("GET", "/v1/mfa/totp/qr", nil, at...).want(t, 404, "not_found")
	c.do("POST", "/v1/mfa/totp", nil, at...).want(t, 200, "")
	uri := c.do("POST", "/v1/mfa/totp", nil, at...).want(t, 200, "").str("otpauth_uri")

	r := c.do("GET", "/v1/mfa/totp/qr", nil, at...).want(t, 200, "")
	if ct, cc := r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"); ct != "image/png" || cc != "no-store" {
		t.Fatalf("Content-Type %q, Cache-Control %q; want image/png, no-store", ct, cc)
	}
	img, err := png.Decode(bytes.NewReader(r.raw))
	if err != nil || img.Bounds().Dx() != 256 || img.Bounds().Dy() != 256 {
		t.Fatalf("not a 256×256 PNG: %v", err)
	}
	if !bytes.Equal(r.raw, qrOf(t, uri)) {
		t.Fatal("the image is not the QR code of the latest enrolment's otpauth URI")
	}
	// Another user's token sees only their own (nothing).
	c.do("GET", "/v1/mfa/totp/qr", nil, other...).want(t, 404, "not_found")
	c.do("POST", "/v1/mfa/totp/qr", nil, at...).want(t, 405, "")

	// A stale token: like the enrolment, it needs a fresh one.
	clock.Advance(16 * time.Minute)
	c.do("GET", "/v1/mfa/totp/qr", nil, at...).want(t, 401, "insufficient_user_authentication")

	// Confirmed: nothing is pending any more.
	fresh := bearer(c.login("erin").str("access_token"))
	uri = c.do("POST", "/v1/mfa/totp", nil, fresh...).want(t, 200, "").str("otpauth_uri")
	if got := c.do("GET", "/v1/mfa/totp/qr", nil, fresh...).want(t, 200, "").raw; !bytes.Equal(got, qrOf(t, uri)) {
		t.Fatal("the image is not the QR code of the new enrolment")
	}
	key, _ := otp.NewKeyFromURL(uri)
	code, err := totp.GenerateCode(key.Secret(), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.do("POST", "/v1/mfa/totp/confirm", map[string]string{"code": code}, fresh...).want(t, 200, "")
	// TOTP is on: like a new enrolment, the image is for a token that used
	// the factor; and with TOTP on and nothing pending, there is none.
	c.do("GET", "/v1/mfa/totp/qr", nil, fresh...).want(t, 401, "insufficient_user_authentication")
	m := c.do("POST", "/v1/login", map[string]string{"username": "erin", "password": pw}).want(t, 403, "mfa_required")
	clock.Advance(30 * time.Second)
	if code, err = totp.GenerateCode(key.Secret(), clock.Now()); err != nil {
		t.Fatal(err)
	}
	mfa := bearer(c.do("POST", "/v1/login/mfa", map[string]string{"mfa_token": m.str("mfa_token"), "totp": code}).want(t, 200, "").str("access_token"))
	c.do("GET", "/v1/mfa/totp/qr", nil, mfa...).want(t, 404, "not_found")
}
