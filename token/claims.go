package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/internal/strictjson"
	"github.com/golang-jwt/jwt/v5"
)

// wireClaims is an access token's claim set as decoded from the wire. It
// implements jwt.Claims, so golang-jwt's validator checks exp, nbf, iat, iss
// and aud against it, and jwt.ClaimsValidator for the rest of our rules.
type wireClaims struct {
	// out is what Verify returns. The string claims are decoded straight
	// into it (iss, sub, jti, sid, client_id, scope, cnf.jkt), and claims
	// fills in the rest, so one allocation holds the decoder and its result.
	out Claims
	// aud is the audience when sent as a string; auds when sent as an array.
	aud  string
	auds []string
	// NumericDates in seconds, valid when their bit is in seen.
	exp, iat, nbf, authTime int64
	fresh                   bool
	// amrN is how many methods amr held. The first ones are in amrBuf,
	// which out.AMR shares once claims runs, so the usual token costs no
	// allocation for them; with more, out.AMR holds them all. Decoding
	// never points the struct into itself, which would move every
	// wireClaims to the heap.
	amrN   uint8
	seen   uint16
	amrBuf [4]string

	// wantIss and wantAud, set before decoding, let the decoder reuse the
	// configured strings instead of allocating copies of them.
	wantIss, wantAud string
	// Storage for what the jwt.Claims getters return, so they do not
	// allocate.
	expDate, iatDate, nbfDate jwt.NumericDate
	audOne                    [1]string
}

// Bits of wireClaims.seen, one per claim we read.
const (
	seenIss uint16 = 1 << iota
	seenSub
	seenAud
	seenExp
	seenNbf
	seenIat
	seenAuthTime
	seenJti
	seenSid
	seenClientID
	seenScope
	seenFresh
	seenCnf
	seenAMR
)

// claimNames are the claims UnmarshalJSON reads.
var claimNames = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "auth_time", "jti", "sid", "client_id", "scope", "fresh", "cnf", "amr"}

var _ jwt.ClaimsValidator = (*wireClaims)(nil)

// UnmarshalJSON decodes the claim set strictly: golang-jwt hands it the
// decoded payload segment (after encoding/json has checked it is JSON).
// Members we do not know are skipped, but every name may appear only once,
// and the claims we read must have exactly their type: null is never
// accepted for them, so "absent" has one spelling.
func (c *wireClaims) UnmarshalJSON(data []byte) error {
	s := strictjson.New(data)
	if err := s.Open(); err != nil {
		return err
	}
	var others [strictjson.MaxNames][]byte // names of claims we do not read
	nOthers := 0
	for n := 0; ; n++ {
		name, ok, err := s.Member(n)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		var bit uint16
		switch string(name) {
		case "iss":
			bit = seenIss
			c.out.Issuer, err = s.StringValueLike(c.wantIss)
		case "sub":
			bit = seenSub
			c.out.Subject, err = s.StringValue()
		case "aud":
			bit = seenAud
			err = c.readAudience(&s)
		case "exp":
			bit = seenExp
			c.exp, err = s.NumericDate()
		case "nbf":
			bit = seenNbf
			c.nbf, err = s.NumericDate()
		case "iat":
			bit = seenIat
			c.iat, err = s.NumericDate()
		case "auth_time":
			bit = seenAuthTime
			c.authTime, err = s.NumericDate()
		case "jti":
			bit = seenJti
			c.out.ID, err = s.StringValue()
		case "sid":
			bit = seenSid
			c.out.SessionID, err = s.StringValue()
		case "client_id":
			bit = seenClientID
			c.out.ClientID, err = s.StringValue()
		case "scope":
			bit = seenScope
			c.out.Scope, err = s.StringValue()
		case "fresh":
			bit = seenFresh
			c.fresh, err = s.Boolean()
		case "cnf":
			bit = seenCnf
			err = c.readConfirmation(&s)
		case "amr":
			bit = seenAMR
			err = c.readMethods(&s)
		default:
			// Unknown claims are allowed (RFC 9068 §2.2.3), but not
			// "SUB" beside "sub": encoding/json would read either into sub.
			if err = strictjson.CheckOther(others[:nOthers], name, claimNames[:]); err == nil {
				others[nOthers] = name
				nOthers++
				err = s.Skip(1)
			}
		}
		if err != nil {
			return fmt.Errorf("claim %.32q: %w", name, err)
		}
		if c.seen&bit != 0 {
			return fmt.Errorf("claim %.32q: %w", name, strictjson.ErrDuplicate)
		}
		c.seen |= bit
	}
	return s.End()
}

// readAudience reads aud: a string or an array of strings (RFC 7519 §4.1.3).
func (c *wireClaims) readAudience(s *strictjson.Scanner) error {
	if !s.AtArray() {
		var err error
		c.aud, err = s.StringValueLike(c.wantAud)
		return err
	}
	if err := s.OpenArray(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		ok, err := s.Element(n)
		if err != nil || !ok {
			return err
		}
		if n == strictjson.MaxNames {
			return strictjson.ErrMembers
		}
		a, err := s.StringValue()
		if err != nil {
			return err
		}
		c.auds = append(c.auds, a)
	}
}

// readMethods reads amr (RFC 8176 §1): a non-empty array of strings, as
// long as aud's may be. An empty array would be a second spelling of
// "absent", so it is refused like null. baton's own names come back as the
// constants, without a copy.
func (c *wireClaims) readMethods(s *strictjson.Scanner) error {
	if err := s.OpenArray(); err != nil {
		return err
	}
	c.amrN, c.out.AMR = 0, nil
	for n := 0; ; n++ {
		ok, err := s.Element(n)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if n == strictjson.MaxNames {
			return strictjson.ErrMembers
		}
		b, err := s.Str()
		if err != nil {
			return err
		}
		var m string
		switch string(b) {
		case baton.AMRPassword:
			m = baton.AMRPassword
		case baton.AMROTP:
			m = baton.AMROTP
		case baton.AMRPasskey:
			m = baton.AMRPasskey
		case baton.AMRMFA:
			m = baton.AMRMFA
		default:
			m = string(b)
		}
		switch {
		case n < len(c.amrBuf):
			c.amrBuf[n] = m
		case n == len(c.amrBuf):
			c.out.AMR = make([]string, n, 2*n)
			copy(c.out.AMR, c.amrBuf[:])
			fallthrough
		default:
			c.out.AMR = append(c.out.AMR, m)
		}
		c.amrN = uint8(n + 1) // at most MaxNames
	}
	if c.amrN == 0 {
		return errors.New("empty array")
	}
	return nil
}

// methods returns amr's methods; nil when the claim was absent.
func (c *wireClaims) methods() []string {
	switch {
	case c.out.AMR != nil:
		return c.out.AMR
	case c.amrN > 0:
		return c.amrBuf[:c.amrN:c.amrN]
	}
	return nil
}

// readConfirmation reads cnf (RFC 7800), which must be exactly {"jkt": …}:
// a token bound by a method we cannot check must not pass as a bearer token.
func (c *wireClaims) readConfirmation(s *strictjson.Scanner) error {
	if err := s.Open(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		name, ok, err := s.Member(n)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if string(name) != "jkt" || n > 0 {
			return errors.New("unsupported confirmation method")
		}
		if c.out.JKT, err = s.StringValue(); err != nil {
			return err
		}
	}
	if c.out.JKT == "" {
		return errors.New("empty confirmation")
	}
	return nil
}

func (c *wireClaims) has(bit uint16) bool { return c.seen&bit != 0 }

func (c *wireClaims) date(bit uint16, sec int64, d *jwt.NumericDate) *jwt.NumericDate {
	if !c.has(bit) {
		return nil
	}
	d.Time = time.Unix(sec, 0)
	return d
}

// GetExpirationTime implements jwt.Claims.
func (c *wireClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return c.date(seenExp, c.exp, &c.expDate), nil
}

// GetIssuedAt implements jwt.Claims.
func (c *wireClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	return c.date(seenIat, c.iat, &c.iatDate), nil
}

// GetNotBefore implements jwt.Claims.
func (c *wireClaims) GetNotBefore() (*jwt.NumericDate, error) {
	return c.date(seenNbf, c.nbf, &c.nbfDate), nil
}

// GetIssuer implements jwt.Claims.
func (c *wireClaims) GetIssuer() (string, error) { return c.out.Issuer, nil }

// GetSubject implements jwt.Claims.
func (c *wireClaims) GetSubject() (string, error) { return c.out.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *wireClaims) GetAudience() (jwt.ClaimStrings, error) {
	if c.auds != nil {
		return c.auds, nil
	}
	if c.has(seenAud) {
		c.audOne[0] = c.aud
		return c.audOne[:], nil
	}
	return nil, nil
}

// errClaimMissing wraps golang-jwt's sentinel so our required claims read
// like its own.
func errClaimMissing(name string) error {
	return fmt.Errorf("%w: %s", jwt.ErrTokenRequiredClaimMissing, name)
}

// Validate implements jwt.ClaimsValidator: the claims RFC 9068 and baton
// require beyond what golang-jwt's options check. golang-jwt calls it only
// after the signature verified.
func (c *wireClaims) Validate() error {
	switch {
	case !c.has(seenIat):
		return errClaimMissing("iat")
	case c.out.Subject == "":
		return errClaimMissing("sub")
	case c.out.SessionID == "":
		return errClaimMissing("sid")
	case c.out.ID == "":
		return errClaimMissing("jti")
	}
	return nil
}

// claims completes and returns the exported form, which lives in c;
// audience is the one Verify matched.
func (c *wireClaims) claims(audience string) *Claims {
	out := &c.out
	out.Audience = audience
	out.IssuedAt = time.Unix(c.iat, 0).UTC()
	out.ExpiresAt = time.Unix(c.exp, 0).UTC()
	out.Fresh = c.fresh
	out.AMR = c.methods()
	if c.has(seenNbf) {
		out.NotBefore = time.Unix(c.nbf, 0).UTC()
	}
	if c.has(seenAuthTime) {
		out.AuthTime = time.Unix(c.authTime, 0).UTC()
	}
	return out
}

// FreshAt reports whether c is fresh at now (RFC 9470): minted straight
// from a verification of the user (fresh: true) no more than maxAge before
// now (auth_time); maxAge zero or negative accepts any fresh token. A
// token without auth_time is never fresh: nothing says when its user was
// verified. The engine, baton's endpoints and resource servers all apply
// this one rule.
func (c *Claims) FreshAt(now time.Time, maxAge time.Duration) bool {
	if !c.Fresh || c.AuthTime.IsZero() {
		return false
	}
	return maxAge <= 0 || now.Sub(c.AuthTime) <= maxAge
}
