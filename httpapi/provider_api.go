package httpapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/httpauth"
	"github.com/batonauth/baton/session"
)

// The OpenID provider's API side: client authentication and the grants of
// registered clients at /oauth/token, PAR, UserInfo, discovery and the
// user's consents.

// registeredClient authenticates the registered client of a token or PAR
// request (RFC 6749 §2.3.1: client_secret_basic, client_secret_post, or
// none for a public client naming its client_id). nil, nil: the request
// is not from a registered client (v1's first-party behaviour applies).
func (s *Server) registeredClient(r *http.Request, p params) (*baton.OAuthClient, error) {
	if id, secret, ok := r.BasicAuth(); ok {
		id, err1 := url.QueryUnescape(id)
		secret, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil || p["client_secret"] != "" || p["client_id"] != "" && p["client_id"] != id {
			return nil, baton.Errorf(baton.EInvalidClient, "the client authentication is malformed")
		}
		return s.svc.AuthenticateClient(r.Context(), id, secret, "client_secret_basic")
	}
	if p["client_secret"] != "" {
		return s.svc.AuthenticateClient(r.Context(), p["client_id"], p["client_secret"], "client_secret_post")
	}
	id := p["client_id"]
	if id == "" {
		return nil, nil
	}
	if _, err := s.svc.Client(r.Context(), id); baton.ErrorCode(err) == baton.ENotFound {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return s.svc.AuthenticateClient(r.Context(), id, "", "none")
}

// clientTokenResponse is the token response to a registered client (RFC
// 6749 §5.1, OpenID Connect Core §3.1.3.3).
type clientTokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// clientToken serves the grants of a registered client.
func (s *Server) clientToken(w http.ResponseWriter, r *http.Request, c *baton.OAuthClient, p params) error {
	cl := s.client(r)
	var g *session.ClientGrant
	var err error
	switch p["grant_type"] {
	case baton.GrantAuthorizationCode:
		if p["code"] == "" || p["code_verifier"] == "" {
			return baton.Errorf(baton.EInvalidRequest, "code and code_verifier are required")
		}
		err = s.limited(r.Context(), "", cl.IP, func() (err error) {
			g, err = s.svc.ExchangeCode(r.Context(), c, p["code"], p["redirect_uri"], p["code_verifier"], cl)
			return err
		})
	case baton.GrantRefreshToken:
		if p["refresh_token"] == "" {
			return baton.Errorf(baton.EInvalidRequest, "refresh_token is required")
		}
		err = s.limited(r.Context(), "", cl.IP, func() (err error) {
			g, err = s.svc.RefreshClient(r.Context(), c, p["refresh_token"], p["scope"], cl)
			return err
		})
	case baton.GrantClientCredentials:
		g, err = s.svc.ClientCredentials(r.Context(), c, p["scope"], cl)
	case "password":
		// RFC 9700 §2.4: the password grant is not for third parties.
		return baton.Errorf(baton.EUnauthorizedClient, "registered clients may not use the password grant")
	case "":
		return baton.Errorf(baton.EInvalidRequest, "grant_type is required")
	default:
		return baton.Errorf(baton.EUnsupportedGrantType, "grant_type must be authorization_code, refresh_token or client_credentials")
	}
	if err != nil {
		return err
	}
	resp := clientTokenResponse{AccessToken: g.AccessToken, TokenType: "Bearer", ExpiresIn: g.ExpiresIn(),
		RefreshToken: g.RefreshToken, IDToken: g.IDToken, Scope: g.Scope}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// par is the pushed authorization request endpoint (RFC 9126).
func (s *Server) par(w http.ResponseWriter, r *http.Request) error {
	p, err := readParams(r)
	if err != nil {
		return err
	}
	c, err := s.registeredClient(r, p)
	if err != nil {
		return err
	}
	if c == nil {
		return baton.Errorf(baton.EInvalidClient, "only registered clients may push authorization requests")
	}
	if c.Public() && s.opt.Limits != nil {
		// A public client authenticates with its client_id alone: anyone
		// can push for it, and each push is stored, so it is counted per
		// client IP like an anonymous authorization request.
		if err := s.opt.Limits.AllowCeremony(r.Context(), s.client(r).IP); err != nil {
			return err
		}
	}
	v := url.Values{}
	for k, x := range p {
		if k != "client_secret" {
			v.Set(k, x)
		}
	}
	ap, err := session.ParseAuthorize(v)
	if err != nil {
		return err
	}
	uri, ttl, err := s.svc.PushAuthorization(r.Context(), c, ap)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]any{"request_uri": uri, "expires_in": int(ttl.Seconds())})
	return nil
}

// userinfo is the UserInfo endpoint (OpenID Connect Core §5.3).
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticate(w, r)
	if err != nil {
		return err
	}
	claims, err := s.svc.UserInfo(r.Context(), c)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, claims)
	return nil
}

// consents is GET /v1/consents.
func (s *Server) consents(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	list, err := s.svc.Consents(r.Context(), c)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"consents": list})
	return nil
}

// withdrawConsent is DELETE /v1/consents/{client_id}.
func (s *Server) withdrawConsent(w http.ResponseWriter, r *http.Request) error {
	c, err := s.authenticateAccount(w, r)
	if err != nil {
		return err
	}
	if err := s.svc.WithdrawConsent(r.Context(), c, r.PathValue("client_id"), s.client(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// providerMetadata returns the members the OpenID provider adds to the RFC
// 8414 document; Discovery 1.0 serves the same.
func (s *Server) providerMetadata(base string) map[string]any {
	return map[string]any{
		"authorization_endpoint":                         base + "/oauth/authorize",
		"pushed_authorization_request_endpoint":          base + "/oauth/par",
		"userinfo_endpoint":                              base + "/oauth/userinfo",
		"end_session_endpoint":                           base + "/oauth/logout",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials", "password"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{baton.AlgRS256, baton.AlgES256, baton.AlgEdDSA},
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"scopes_supported":                               []string{baton.ScopeOpenID, baton.ScopeProfile, baton.ScopeEmail, baton.ScopeOfflineAccess},
		"claims_supported":                               []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid", "at_hash", "email", "email_verified", "preferred_username"},
		"code_challenge_methods_supported":               []string{"S256"},
		"prompt_values_supported":                        []string{"none", "login", "consent", "select_account"},
		"authorization_response_iss_parameter_supported": true,
		"require_pushed_authorization_requests":          false,
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"claims_parameter_supported":                     false,
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
		"frontchannel_logout_supported":                  false,
	}
}

// openIDConfiguration is Discovery 1.0's document.
func (s *Server) openIDConfiguration(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, s.metadataDocument())
	return nil
}

// metadataDocument is the RFC 8414 document, with the provider's members
// when the provider is on.
func (s *Server) metadataDocument() map[string]any {
	iss := s.svc.Config().Issuer
	base := strings.TrimSuffix(iss, "/")
	m := map[string]any{
		"issuer":                                        iss,
		"token_endpoint":                                base + "/oauth/token",
		"revocation_endpoint":                           base + "/oauth/revoke",
		"introspection_endpoint":                        base + "/oauth/introspect",
		"jwks_uri":                                      base + "/.well-known/jwks.json",
		"grant_types_supported":                         []string{"password", "refresh_token"},
		"response_types_supported":                      []string{},
		"token_endpoint_auth_methods_supported":         []string{"none"},
		"revocation_endpoint_auth_methods_supported":    []string{"none"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"dpop_signing_alg_values_supported":             strings.Fields(httpauth.DPoPAlgs),
		"service_documentation":                         "https://github.com/batonauth/baton",
	}
	if s.opt.ProviderPages != nil {
		for k, v := range s.providerMetadata(base) {
			m[k] = v
		}
	}
	return m
}
