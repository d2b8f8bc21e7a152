package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Sign mints an access token for c with the keyring's signing key: header
// {"alg":"EdDSA","kid":…,"typ":"at+jwt"}. Empty Issuer and Audience take the
// keyring's Options; a zero NotBefore takes IssuedAt. It refuses claims
// Verify would reject (missing sub, sid, jti, iat or exp, exp not after iat,
// or a token over MaxTokenBytes), so a bug upstream cannot mint tokens that
// fail later.
//
// The token is built directly rather than through golang-jwt: the header is
// precomputed per key and the claims are appended to one buffer, which
// leaves one Ed25519 signature as nearly the whole cost. Verify parses the
// result with golang-jwt, and the tests check that every claim round-trips.
func (k *Keyring) Sign(c *Claims) (string, error) {
	sg := k.snap.Load().signer
	if sg == nil {
		return "", ErrNoSigningKey
	}
	if err := checkClaims(c); err != nil {
		return "", err
	}
	// The claims are built on the stack: a full token (amr, cnf, a scope
	// naming every scope baton knows) takes about 420 bytes with a short
	// issuer, and a longer one must not cost an allocation either.
	var buf [768]byte
	payload := k.appendClaims(buf[:0], c)

	enc := base64.RawURLEncoding
	n := len(sg.header) + 1 + enc.EncodedLen(len(payload)) + 1 + enc.EncodedLen(ed25519.SignatureSize)
	if n > k.opts.MaxTokenBytes {
		return "", fmt.Errorf("token: sign: the token would be %d bytes, over MaxTokenBytes (%d)", n, k.opts.MaxTokenBytes)
	}
	tok := make([]byte, 0, n)
	tok = append(tok, sg.header...)
	tok = append(tok, '.')
	tok = enc.AppendEncode(tok, payload)
	sig := ed25519.Sign(sg.priv, tok)
	tok = append(tok, '.')
	tok = enc.AppendEncode(tok, sig)
	return string(tok), nil
}

func checkClaims(c *Claims) error {
	var missing string
	switch {
	case c.Subject == "":
		missing = "Subject"
	case c.SessionID == "":
		missing = "SessionID"
	case c.ID == "":
		missing = "ID"
	case c.IssuedAt.IsZero():
		missing = "IssuedAt"
	case c.ExpiresAt.IsZero():
		missing = "ExpiresAt"
	}
	if missing != "" {
		return fmt.Errorf("token: sign: %s is required", missing)
	}
	if c.ExpiresAt.Unix() <= c.IssuedAt.Unix() {
		return errors.New("token: sign: ExpiresAt must be after IssuedAt")
	}
	return nil
}

// appendClaims appends c's JSON, members in a fixed order.
func (k *Keyring) appendClaims(b []byte, c *Claims) []byte {
	iss, aud, nbf := c.Issuer, c.Audience, c.NotBefore
	if iss == "" {
		iss = k.opts.Issuer
	}
	if aud == "" {
		aud = k.opts.Audience
	}
	if nbf.IsZero() {
		nbf = c.IssuedAt
	}
	b = append(b, `{"iss":`...)
	b = appendString(b, iss)
	b = append(b, `,"sub":`...)
	b = appendString(b, c.Subject)
	b = append(b, `,"aud":`...)
	b = appendString(b, aud)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.ExpiresAt.Unix(), 10)
	b = append(b, `,"nbf":`...)
	b = strconv.AppendInt(b, nbf.Unix(), 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt.Unix(), 10)
	if !c.AuthTime.IsZero() {
		b = append(b, `,"auth_time":`...)
		b = strconv.AppendInt(b, c.AuthTime.Unix(), 10)
	}
	if len(c.AMR) > 0 {
		b = append(b, `,"amr":[`...)
		for i, m := range c.AMR {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, m)
		}
		b = append(b, ']')
	}
	b = append(b, `,"jti":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"sid":`...)
	b = appendString(b, c.SessionID)
	if c.ClientID != "" {
		b = append(b, `,"client_id":`...)
		b = appendString(b, c.ClientID)
	}
	if c.Scope != "" {
		b = append(b, `,"scope":`...)
		b = appendString(b, c.Scope)
	}
	b = append(b, `,"fresh":`...)
	b = strconv.AppendBool(b, c.Fresh)
	if c.JKT != "" {
		b = append(b, `,"cnf":{"jkt":`...)
		b = appendString(b, c.JKT)
		b = append(b, '}')
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does: client_id comes from the request, and the verifier
// refuses invalid UTF-8.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
