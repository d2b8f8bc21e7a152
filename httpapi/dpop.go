package httpapi

import (
	"net/http"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/dpop"
	"github.com/batonauth/baton/httpauth"
)

// binding is what httpauth needs to check this request's DPoP proof.
func (s *Server) binding(r *http.Request) httpauth.Binding {
	return httpauth.Binding{Request: r, URL: s.externalURL(r), Client: s.client(r).IP, Verifier: s.opt.DPoP}
}

// checkProof checks the request's DPoP proof (RFC 9449), if it carries
// one, without spending it: nil, nil without a DPoP header. accessToken is
// the token the proof must be bound to (ath), empty on the token
// endpoints. The caller spends the proof once the request's other checks
// have passed (see spend, keyProof).
func (s *Server) checkProof(r *http.Request, accessToken string) (*dpop.Proof, error) {
	return httpauth.CheckProof(s.binding(r), accessToken)
}

// spend records proof as used by the request's client; a nil proof is
// nothing to spend.
func (s *Server) spend(r *http.Request, proof *dpop.Proof) error {
	if proof == nil {
		return nil
	}
	return s.opt.DPoP.Spend(r.Context(), proof, s.client(r).IP)
}

// errKeyRequired answers a request that would end a session bound to a
// DPoP key without a proof of that key.
var errKeyRequired = baton.Errorf(baton.EInvalidDPoPProof, "the session is bound to a DPoP key: send a proof made with it")

// keyProof returns the precondition under which a request acts on a
// session, given the request's checked proof (nil without one): a session
// bound to a key (RFC 9449 §5) needs a proof of that key, which is spent
// there, after the engine found the token's session and before anything
// changes. Unbound sessions need no proof, and a revoked session has
// nothing left to protect. With demand false a missing or foreign proof
// passes, for the engine to refuse with its own answer (refresh's
// invalid_grant). The engine may ask more than once (a second rotation
// pass); the proof is spent once.
//
// Without a proof and with demand false there is nothing to check: nil, so
// the engine may rotate a refresh token in the same round trip as it reads
// it (baton.RefreshRotator checks the binding itself).
func (s *Server) keyProof(r *http.Request, proof *dpop.Proof, demand bool) func(*baton.Session) error {
	if proof == nil && !demand {
		return nil
	}
	spent := false
	return func(sess *baton.Session) error {
		if sess.Binding == "" || !sess.RevokedAt.IsZero() || spent {
			return nil
		}
		if proof == nil || !httpauth.SameKey(proof.JKT, sess.Binding) {
			if demand {
				return errKeyRequired
			}
			return nil
		}
		if err := s.spend(r, proof); err != nil {
			return err
		}
		spent = true
		return nil
	}
}

// both runs the preconditions in turn; nil ones are skipped, and two nil
// ones are none (nil).
func both(a, b func(*baton.Session) error) func(*baton.Session) error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return func(sess *baton.Session) error {
		for _, f := range []func(*baton.Session) error{a, b} {
			if f == nil {
				continue
			}
			if err := f(sess); err != nil {
				return err
			}
		}
		return nil
	}
}

// externalURL is the URL the client addressed: the issuer's scheme and
// host (what clients see in front of any proxy) and the request's path.
func (s *Server) externalURL(r *http.Request) string {
	return s.issuer.Scheme + "://" + s.issuer.Host + r.URL.Path
}
