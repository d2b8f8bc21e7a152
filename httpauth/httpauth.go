// Package httpauth holds the rules by which an HTTP request presents a
// baton access token, and by which a failure is answered, for both places
// that check such requests: baton's own endpoints (package httpapi) and the
// middleware of resource servers (package resource). Each rule lives here
// once, so the two cannot drift apart:
//
//   - the Authorization header: the Bearer (RFC 6750 §2.1) and DPoP (RFC
//     9449 §7.1) schemes and nothing else;
//   - the DPoP binding of a token (cnf.jkt): which scheme it needs, the one
//     proof that must come with it, made with the bound key, and the order
//     of the checks, which spends room in the replay cache only for proofs
//     that would otherwise be accepted;
//   - freshness (RFC 9470): a token is fresh when it says so and its
//     auth_time is recent enough; a token without auth_time never is;
//   - the WWW-Authenticate challenges that answer each failure.
package httpauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/dpop"
	"github.com/batonauth/baton/token"
)

// DPoPAlgs are the proof algorithms advertised in DPoP challenges and the
// server's metadata: those dpop.Verifier accepts by default.
const DPoPAlgs = "ES256 EdDSA"

// Authorization splits an Authorization header value into its token and
// whether the scheme is DPoP. An empty header is "", false, nil; a
// malformed one, or another scheme, is EInvalidToken.
func Authorization(h string) (tok string, isDPoP bool, err error) {
	if h == "" {
		return "", false, nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	isDPoP = strings.EqualFold(scheme, "DPoP")
	if !ok || !(isDPoP || strings.EqualFold(scheme, "Bearer")) || tok == "" {
		return "", false, errMalformed
	}
	return tok, isDPoP, nil
}

var errMalformed = baton.Errorf(baton.EInvalidToken, `the Authorization header must be "Bearer <token>" or "DPoP <token>"`)

// DPoPHeader returns the request's DPoP proof: "", nil when it has none,
// EInvalidDPoPProof when it has more than one header field (RFC 9449 §4.3
// check 1).
func DPoPHeader(r *http.Request) (string, error) {
	vals := r.Header.Values("DPoP")
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		return vals[0], nil
	}
	return "", baton.Errorf(baton.EInvalidDPoPProof, "send exactly one DPoP proof")
}

// Presented is an access token as a request presented it.
type Presented struct {
	Token string
	// DPoP: with the DPoP scheme rather than Bearer.
	DPoP bool
	// Cookie: in an HttpOnly cookie, which has no scheme (baton's own
	// endpoints only). A bound token may come that way with a proof.
	Cookie bool
}

// Binding is what CheckBinding needs besides the token: the request, the
// URL its client addressed (for htu), the client's address (its share of
// the replay cache) and the verifier, nil when DPoP is disabled.
type Binding struct {
	Request  *http.Request
	URL      string
	Client   string
	Verifier *dpop.Verifier
}

// ChallengeError marks a failed binding check, which RFC 9449 §7.1 answers
// with 401 and a DPoP challenge (DPoPChallenge) rather than a Bearer one.
type ChallengeError struct{ Err error }

func (e *ChallengeError) Error() string { return e.Err.Error() }
func (e *ChallengeError) Unwrap() error { return e.Err }

// IsChallenge reports whether err is answered with a DPoP challenge.
func IsChallenge(err error) bool {
	var ce *ChallengeError
	return errors.As(err, &ce)
}

// CheckBinding enforces sender-constrained tokens (RFC 9449 §7) on a token
// already verified, whose cnf.jkt is jkt: a bound token is accepted only
// with the DPoP scheme (or from a cookie) and one proof of the bound key,
// made for this request and this token; the DPoP scheme needs a bound
// token. The proof is spent (dpop.Verifier.Spend) last, once everything
// else holds, so requests that fail anyway take no room in the cache.
//
// Failures of the token or the proof are *ChallengeError. The replay cache
// being full is not the token's fault: ETooManyRequests (the client's
// share) and EUnavailable come back unwrapped, to be answered as such.
func CheckBinding(ctx context.Context, p Presented, jkt string, b Binding) error {
	if jkt == "" {
		if p.DPoP {
			return &ChallengeError{baton.Errorf(baton.EInvalidToken, "the token is not bound to a DPoP key: use the Bearer scheme")}
		}
		return nil
	}
	if !p.DPoP && !p.Cookie {
		return &ChallengeError{baton.Errorf(baton.EInvalidToken, "the token is bound to a DPoP key: use the DPoP scheme with a proof")}
	}
	proof, err := CheckProof(b, p.Token)
	if err != nil {
		return &ChallengeError{err}
	}
	if proof == nil {
		return &ChallengeError{baton.Errorf(baton.EInvalidDPoPProof, "a DPoP proof is required")}
	}
	if !SameKey(proof.JKT, jkt) {
		return &ChallengeError{baton.Errorf(baton.EInvalidToken, "the DPoP proof was made with another key than the token is bound to")}
	}
	if err := b.Verifier.Spend(ctx, proof, b.Client); err != nil {
		if c := baton.ErrorCode(err); c == baton.ETooManyRequests || c == baton.EUnavailable {
			return err
		}
		return &ChallengeError{err}
	}
	return nil
}

// CheckProof checks, without spending it, the request's DPoP proof, if it
// carries one: nil, nil without a DPoP header. accessToken is the token the
// proof must be bound to (ath), empty on the token endpoints.
func CheckProof(b Binding, accessToken string) (*dpop.Proof, error) {
	proof, err := DPoPHeader(b.Request)
	if err != nil || proof == "" {
		return nil, err
	}
	if b.Verifier == nil {
		return nil, baton.Errorf(baton.EInvalidDPoPProof, "DPoP is not enabled on this server")
	}
	return b.Verifier.Check(proof, b.Request.Method, b.URL, accessToken)
}

// SameKey compares a proof's thumbprint with a binding in constant time.
func SameKey(proofJKT, binding string) bool {
	return subtle.ConstantTimeCompare([]byte(proofJKT), []byte(binding)) == 1
}

// Fresh reports whether c is fresh at now: token.Claims.FreshAt, the one
// freshness rule.
func Fresh(c *token.Claims, maxAge time.Duration, now time.Time) bool {
	return c.FreshAt(now, maxAge)
}

// Challenge returns the WWW-Authenticate value (RFC 6750 §3, RFC 9470 §3)
// that answers a failure with code and safe message msg, or "" when code
// is not about the access token. maxAge is the freshness window the
// insufficient_user_authentication challenge names.
func Challenge(realm, code, msg string, maxAge time.Duration) string {
	switch code {
	case baton.EUnauthorized:
		return fmt.Sprintf(`Bearer realm=%q`, realm)
	case baton.ETokenExpired:
		return fmt.Sprintf(`Bearer realm=%q, error="invalid_token", error_description="the access token expired"`, realm)
	case baton.EInvalidToken:
		return fmt.Sprintf(`Bearer realm=%q, error="invalid_token", error_description=%q`, realm, msg)
	case baton.EInsufficientUserAuth:
		return fmt.Sprintf(`Bearer realm=%q, error="insufficient_user_authentication", error_description="a fresh authentication is required", max_age=%d`,
			realm, int64(maxAge/time.Second))
	}
	return ""
}

// DPoPChallenge returns the WWW-Authenticate value (RFC 9449 §7.1) that
// answers a ChallengeError with code and safe message msg.
func DPoPChallenge(realm, code, msg string) string {
	return fmt.Sprintf(`DPoP realm=%q, algs=%q, error=%q, error_description=%q`, realm, DPoPAlgs, code, msg)
}
