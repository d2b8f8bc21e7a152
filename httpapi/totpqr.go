package httpapi

import (
	"bytes"
	"image/png"
	"net/http"
	"strconv"

	"github.com/pquerna/otp"
)

// qrSize is the side of the QR code image in pixels: an otpauth URI is a
// QR code of about 45 modules, so each is 5 or 6 pixels.
const qrSize = 256

// totpQR is GET /v1/mfa/totp/qr: the QR code (PNG) of the pending
// enrolment's otpauth URI, drawn here so that a page under a strict CSP
// can show it without sending the secret to anyone, in a URL least of all.
func (s *Server) totpQR(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	e, err := s.svc.PendingTOTP(r.Context(), c)
	if err != nil {
		return err
	}
	key, err := otp.NewKeyFromURL(e.URI)
	if err != nil {
		return err
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf.Bytes())
	return err
}
