package token

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/internal/strictjson"
	"github.com/golang-jwt/jwt/v5"
)

// strictBase64 refuses non-canonical encodings (set trailing bits), which
// would give one token several spellings.
var strictBase64 = base64.RawURLEncoding.Strict()

// Verify checks an access token at now and returns its claims.
//
// Two things might happen besides success: a *baton.Error with code
// baton.ETokenExpired when the token is genuine and valid in every respect
// except that now is past exp plus the leeway (the client's cue to refresh);
// or code baton.EInvalidToken for everything else: too large, malformed,
// another algorithm than EdDSA, typ other than at+jwt, a missing or unknown
// kid, a bad signature, duplicate members, a crit header, wrong iss or aud,
// nbf or iat in the future, or a missing exp, iat, sub, sid or jti. Only the
// message of the error is safe to show; the cause says which check failed.
//
// A token that is both expired and wrong in another way is invalid, not
// expired: "expired" tells the client its token was once good. With
// ETokenExpired, and only then, Verify also returns the claims: the token is
// genuine, and a refresh may present the client's last, expired, access
// token to prove it belongs to the session (API.md, Refresh). Any other use
// must treat every error as a rejection.
func (k *Keyring) Verify(raw string, now time.Time) (*Claims, error) {
	if len(raw) > k.opts.MaxTokenBytes {
		return nil, invalid(msgTooLarge, fmt.Errorf("%d bytes, limit %d", len(raw), k.opts.MaxTokenBytes))
	}
	if strings.HasPrefix(raw, RefreshPrefix) {
		return nil, invalid(msgRefresh, nil)
	}
	if k.opts.Issuer == "" || k.opts.Audience == "" {
		return nil, invalid(msgInvalid, errors.New("keyring has no issuer or audience configured"))
	}
	snap := k.snap.Load()
	wc := wireClaims{wantIss: k.opts.Issuer, wantAud: k.opts.Audience}
	// golang-jwt reads the clock through the parser, so each call gets a
	// parser of its own, a few small allocations against a 40 µs
	// signature check.
	opts := append(k.parserOpts[:len(k.parserOpts):len(k.parserOpts)],
		jwt.WithTimeFunc(func() time.Time { return now }))
	_, err := jwt.NewParser(opts...).ParseWithClaims(raw, &wc, snap.key)
	if err != nil {
		if expiredOnly(err) {
			return wc.claims(k.opts.Audience), baton.WrapError(baton.ETokenExpired, msgExpired, err)
		}
		return nil, invalid(msgInvalid, err)
	}
	return wc.claims(k.opts.Audience), nil
}

// key is the jwt.Keyfunc: it sees the decoded header (golang-jwt has already
// required alg EdDSA) and picks the key by kid.
func (s *snapshot) key(t *jwt.Token) (any, error) {
	typ, _ := t.Header["typ"].(string)
	// RFC 9068 §4: typ is "at+jwt"; media types are case-insensitive and
	// the "application/" prefix may be spelt out (RFC 7515 §4.1.9).
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, fmt.Errorf("typ %.32q is not at+jwt", typ)
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New("no kid")
	}
	pub, ok := s.verify[kid]
	if !ok {
		return nil, fmt.Errorf("unknown kid %.64q", kid)
	}
	if err := checkHeader(t.Raw); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	return pub, nil
}

// checkHeader catches what decoding the header into a map hides: a
// duplicate parameter (the map keeps the last one, another reader may take
// the first), and crit, whose extensions we cannot honour, so RFC 7515
// §4.1.11 says reject.
func checkHeader(raw string) error {
	seg, _, _ := strings.Cut(raw, ".")
	// Both buffers stay on the stack; baton's headers take under 100 bytes.
	var buf [256]byte
	var src [342]byte // base64 of len(buf) bytes
	if len(seg) > len(src) || strictBase64.DecodedLen(len(seg)) > len(buf) {
		return errors.New("header too large")
	}
	n, err := strictBase64.Decode(buf[:], src[:copy(src[:], seg)])
	if err != nil {
		return err
	}
	s := strictjson.New(buf[:n])
	if err := s.Open(); err != nil {
		return err
	}
	// A local array: storing names anywhere else would make buf escape.
	var seen [strictjson.MaxNames][]byte
	for i := 0; ; i++ {
		name, ok, err := s.Member(i)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if string(name) == "crit" {
			return errors.New("crit is not supported")
		}
		if err := strictjson.CheckName(seen[:i], name); err != nil {
			// string(name) is a copy: passing name would make buf escape.
			return fmt.Errorf("parameter %.32q: %w", string(name), err)
		}
		seen[i] = name
		if err := s.Skip(1); err != nil {
			return err
		}
	}
	return s.End()
}

// expiredOnly reports whether err is golang-jwt's claims-validation failure
// with exp as the only failed check. Anything it does not recognise counts
// as not expired, so a change in golang-jwt's error shape errs towards
// invalid_token.
func expiredOnly(err error) bool {
	if !errors.Is(err, jwt.ErrTokenInvalidClaims) || !errors.Is(err, jwt.ErrTokenExpired) {
		return false
	}
	// golang-jwt wraps as "%w: %w" of ErrTokenInvalidClaims and a list
	// with one error per failed check.
	top, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return false
	}
	for _, e := range top.Unwrap() {
		if e == jwt.ErrTokenInvalidClaims {
			continue
		}
		list, ok := e.(interface{ Unwrap() []error })
		if !ok {
			return false
		}
		for _, failed := range list.Unwrap() {
			if failed != jwt.ErrTokenExpired {
				return false
			}
		}
	}
	return true
}
