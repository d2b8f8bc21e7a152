package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// oauthToken is the RFC 6749 token endpoint for public first-party
// clients: the password grant (§4.3) and the refresh-token grant (§6).
// Tokens always travel in the body here, whatever the session's transport.
func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(r)
	if err != nil {
		return err
	}
	if s.opt.ProviderPages != nil {
		c, err := s.registeredClient(r, p)
		if err != nil {
			return err
		}
		if c != nil {
			return s.clientToken(w, r, c, p)
		}
	}
	// The grant type and its fields first, then the proof, which is spent
	// only past the failure limits (password) or once the refresh token
	// turned out to be of a session bound to its key (refresh_token).
	switch gt := p["grant_type"]; {
	case gt == "":
		return baton.Errorf(baton.EInvalidRequest, "grant_type is required")
	case gt == "password" && (p["username"] == "" || p["password"] == ""):
		return baton.Errorf(baton.EInvalidRequest, "username and password are required")
	case gt == "refresh_token" && p["refresh_token"] == "":
		return baton.Errorf(baton.EInvalidRequest, "refresh_token is required")
	case gt != "password" && gt != "refresh_token":
		return baton.Errorf(baton.EUnsupportedGrantType, "grant_type must be password or refresh_token")
	}
	proof, err := s.checkProof(r, "")
	if err != nil {
		return err
	}
	cl := s.client(r)
	var g *session.Grant
	if p["grant_type"] == "password" {
		err = s.limited(r.Context(), accountKey(p["username"]), cl.IP, func() (err error) {
			if err := s.spend(r, proof); err != nil {
				return err
			}
			g, err = s.svc.Login(r.Context(), session.LoginRequest{
				Username: p["username"], Password: p["password"], ClientID: p["client_id"], Binding: jkt(proof),
			}, cl)
			return err
		})
	} else {
		err = s.limited(r.Context(), "", cl.IP, func() (err error) {
			g, err = s.svc.Refresh(r.Context(), session.RefreshRequest{RefreshToken: p["refresh_token"], ClientID: p["client_id"],
				ProofJKT: jkt(proof), Precondition: s.keyProof(r, proof, false)}, cl)
			return err
		})
	}
	if err != nil {
		return err
	}
	s.writeGrant(w, g, baton.TransportBody, http.StatusOK)
	return nil
}

// oauthRevoke is RFC 7009: either kind of token revokes its whole session,
// and the answer is 200 whether or not the token was known (§2.2).
//
// A token of a live session bound to a DPoP key is not invalid: it revokes
// only with a proof of that key (made for this endpoint, without ath), as
// it would refresh. Without one the answer is 400 invalid_dpop_proof and
// the session lives on. Answering 200 would tell the honest client that a
// session it meant to end is over while it is not; the 400 tells a thief
// no more than /v1/refresh already does (that the token is live and
// bound), and gives them nothing they can use without the key.
func (s *Server) oauthRevoke(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(r)
	if err != nil {
		return err
	}
	tok := p["token"]
	if tok == "" {
		return baton.Errorf(baton.EInvalidRequest, "token is required")
	}
	proof, err := s.checkProof(r, "")
	if err != nil {
		return err
	}
	if err := s.svc.RevokeToken(r.Context(), tok, s.keyProof(r, proof, true), s.client(r)); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

// resourceClient checks the resource server's HTTP Basic credential; both
// parts are form-url-decoded first (RFC 6749 §2.3.1) and compared in
// constant time.
func (s *Server) resourceClient(r *http.Request) error {
	fail := baton.Errorf(baton.EInvalidClient, "resource-server credentials are required")
	if s.opt.ResourceClientID == "" || s.opt.ResourceClientSecret == "" {
		return fail
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		return fail
	}
	id, err1 := url.QueryUnescape(id)
	secret, err2 := url.QueryUnescape(secret)
	if err1 != nil || err2 != nil {
		return fail
	}
	okID := subtle.ConstantTimeCompare([]byte(id), []byte(s.opt.ResourceClientID))
	okSecret := subtle.ConstantTimeCompare([]byte(secret), []byte(s.opt.ResourceClientSecret))
	if okID&okSecret != 1 {
		return fail
	}
	return nil
}

// oauthIntrospect is RFC 7662. An unknown, expired or revoked token is
// {"active": false} and nothing else (§2.2).
func (s *Server) oauthIntrospect(w http.ResponseWriter, r *http.Request) error {
	if err := s.resourceClient(r); err != nil {
		return err
	}
	p, err := readParams(r)
	if err != nil {
		return err
	}
	if p["token"] == "" {
		return baton.Errorf(baton.EInvalidRequest, "token is required")
	}
	info, err := s.svc.Introspect(r.Context(), p["token"])
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	if info == nil {
		writeJSON(w, http.StatusOK, map[string]bool{"active": false})
		return nil
	}
	writeJSON(w, http.StatusOK, introspection{
		Active: true, Subject: info.UserID, SessionID: info.SessionID, Exp: info.ExpiresAt.Unix(), Iat: info.IssuedAt.Unix(),
		TokenType: info.TokenType, TokenUse: info.TokenUse, ClientID: info.ClientID, Issuer: s.svc.Config().Issuer,
		Audience: s.svc.Config().Audience, Username: info.Username, AMR: info.AMR, Scope: info.Scope,
	})
	return nil
}

type introspection struct {
	Active    bool   `json:"active"`
	Subject   string `json:"sub"`
	SessionID string `json:"sid"`
	Exp       int64  `json:"exp"`
	Iat       int64  `json:"iat"`
	TokenType string `json:"token_type"`
	TokenUse  string `json:"token_use"`
	ClientID  string `json:"client_id"`
	Issuer    string `json:"iss"`
	Audience  string `json:"aud"`
	Username  string `json:"username,omitempty"`
	// AMR is an extra member (RFC 7662 §2.2 allows them): the token's amr
	// claim, or a refresh token's session's methods.
	AMR []string `json:"amr,omitempty"`
	// Scope is a registered client's access token's (RFC 7662 §2.2).
	Scope string `json:"scope,omitempty"`
}

// MaxRevocationsPage bounds one page of the revocation feed.
const MaxRevocationsPage = 1000

type revocationEntry struct {
	SessionID string    `json:"sid"`
	RevokedAt time.Time `json:"revoked_at"`
	Until     time.Time `json:"until"`
}

// revocations is the feed resource servers poll to drop revoked sessions
// whose JWTs they verify locally.
func (s *Server) revocations(w http.ResponseWriter, r *http.Request) error {
	if err := s.resourceClient(r); err != nil {
		return err
	}
	var since int64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return baton.Errorf(baton.EInvalidRequest, "since must be a cursor returned by this endpoint")
		}
		since = n
	}
	limit := MaxRevocationsPage
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return baton.Errorf(baton.EInvalidRequest, "limit must be a positive number")
		}
		limit = min(n, MaxRevocationsPage)
	}
	revs, err := s.svc.Revocations(r.Context(), since, limit)
	if err != nil {
		return err
	}
	out := make([]revocationEntry, 0, len(revs))
	cursor := since
	for _, rv := range revs {
		out = append(out, revocationEntry{SessionID: rv.SessionID, RevokedAt: rv.RevokedAt, Until: rv.Until})
		cursor = rv.Seq
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"cursor": strconv.FormatInt(cursor, 10), "revoked": out, "has_more": len(revs) == limit,
	})
	return nil
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) error {
	// Short enough that a key rotated in is seen well before it signs, long
	// enough to spare the server a request per verification.
	cache := "public, max-age=300"
	// The ID-token keys are made on first need; this is the first need, so
	// that they are published before anything signs with them. When they
	// cannot be made (the store is down), the keys already loaded are
	// still right for every token signed so far, but not worth caching.
	if _, err := s.svc.IDSigner(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "the ID-token keys could not be made", "err", err)
		cache = "no-store"
	}
	w.Header().Set("Cache-Control", cache)
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, err := w.Write(s.svc.Keyring().JWKS())
	return err
}

// metadata is RFC 8414 authorization-server metadata.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, s.metadataDocument())
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Ping(ctx); err != nil {
		return baton.WrapError(baton.EUnavailable, "the store is unreachable", err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
