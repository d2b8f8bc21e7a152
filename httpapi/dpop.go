package httpapi

import (
	"errors"
	"net/http"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/dpop"
)

// dpopAlgs are the proof algorithms advertised in challenges and metadata.
const dpopAlgs = "ES256 EdDSA"

// dpopProof verifies the request's DPoP proof (RFC 9449), if it carries
// one: nil, nil without a DPoP header. accessToken is the token the proof
// must be bound to (ath), empty on the token endpoints.
func (s *Server) dpopProof(r *http.Request, accessToken string) (*dpop.Proof, error) {
	vals := r.Header.Values("DPoP")
	if len(vals) == 0 {
		return nil, nil
	}
	if s.opt.DPoP == nil {
		return nil, baton.Errorf(baton.EInvalidDPoPProof, "DPoP is not enabled on this server")
	}
	if len(vals) > 1 {
		return nil, baton.Errorf(baton.EInvalidDPoPProof, "send exactly one DPoP proof")
	}
	return s.opt.DPoP.Verify(vals[0], r.Method, s.externalURL(r), accessToken)
}

// externalURL is the URL the client addressed: the issuer's scheme and
// host (what clients see in front of any proxy) and the request's path.
func (s *Server) externalURL(r *http.Request) string {
	return s.issuer.Scheme + "://" + s.issuer.Host + r.URL.Path
}

// resourceDPoPError marks a DPoP failure on a protected resource, which
// RFC 9449 §7.1 answers with 401 and a DPoP challenge rather than 400.
type resourceDPoPError struct{ err error }

func (e *resourceDPoPError) Error() string { return e.err.Error() }
func (e *resourceDPoPError) Unwrap() error { return e.err }

func isResourceDPoPError(err error) bool {
	var rd *resourceDPoPError
	return errors.As(err, &rd)
}
