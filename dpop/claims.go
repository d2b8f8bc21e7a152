package dpop

import (
	"errors"
	"fmt"

	"github.com/batonauth/baton/internal/strictjson"
	"github.com/golang-jwt/jwt/v5"
)

// claims is a proof's claim set as read by the strict decoder. It
// implements jwt.Claims only to pass through golang-jwt, which is told not
// to validate claims: every check needs the request, so Verify makes them.
type claims struct {
	jti, htm, htu, ath, nonce string
	iat                       int64
	seen                      uint8
}

// Bits of claims.seen.
const (
	seenJti uint8 = 1 << iota
	seenHtm
	seenHtu
	seenIat
	seenAth
	seenNonce
)

// claimNames are the claims UnmarshalJSON reads.
var claimNames = [...]string{"jti", "htm", "htu", "iat", "ath", "nonce"}

// UnmarshalJSON decodes the claim set strictly: golang-jwt hands it the
// decoded payload segment (after encoding/json has checked it is JSON).
// Other claims are skipped (RFC 9449 §4.2 allows them), but every name may
// appear only once, and the claims we read must have exactly their type:
// null is never accepted for them, so "absent" has one spelling.
func (c *claims) UnmarshalJSON(data []byte) error {
	s := strictjson.New(data)
	o, err := s.Object(claimNames[:])
	if err != nil {
		return err
	}
	for {
		name, ok, err := o.Next()
		if err != nil {
			return fmt.Errorf("claim %.32q: %w", name, err)
		}
		if !ok {
			break
		}
		var bit uint8
		switch string(name) {
		case "jti":
			bit = seenJti
			c.jti, err = s.StringValue()
		case "htm":
			bit = seenHtm
			c.htm, err = s.StringValue()
		case "htu":
			bit = seenHtu
			c.htu, err = s.StringValue()
		case "iat":
			bit = seenIat
			c.iat, err = s.NumericDate()
		case "ath":
			bit = seenAth
			c.ath, err = s.StringValue()
		case "nonce":
			bit = seenNonce
			c.nonce, err = s.StringValue()
		default:
			err = s.Skip(1)
		}
		if err != nil {
			return fmt.Errorf("claim %.32q: %w", name, err)
		}
		c.seen |= bit
	}
	return s.End()
}

// complete checks that the claims RFC 9449 §4.2 requires are there and
// that jti is small enough to remember.
func (c *claims) complete() error {
	switch {
	case c.jti == "":
		return errors.New("no jti")
	case len(c.jti) > MaxJTIBytes:
		return fmt.Errorf("jti has %d bytes, limit %d", len(c.jti), MaxJTIBytes)
	case c.htm == "":
		return errors.New("no htm")
	case c.htu == "":
		return errors.New("no htu")
	case c.seen&seenIat == 0:
		return errors.New("no iat")
	}
	return nil
}

// The jwt.Claims getters report nothing: golang-jwt validates no claim of
// a proof.

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *claims) GetIssuer() (string, error)                   { return "", nil }
func (c *claims) GetSubject() (string, error)                  { return "", nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

var _ jwt.Claims = (*claims)(nil)
