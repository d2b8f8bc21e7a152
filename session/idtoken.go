package session

import (
	"context"
	"errors"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// The OpenID provider's signatures: ID tokens and back-channel logout
// tokens, signed with the algorithm each client chose.

// idKeyAlgs are the algorithms whose keys IDSigner makes on first need;
// the Ed25519 key of EdDSA is made at start.
var idKeyAlgs = [...]string{baton.AlgRS256, baton.AlgES256}

// newKey makes a signing key for alg.
func newKey(alg string, now, activateAt time.Time) (*baton.Key, error) {
	switch alg {
	case baton.AlgEdDSA:
		return token.NewSigningKey(now, activateAt)
	case baton.AlgRS256:
		return token.NewRSAKey(now, activateAt)
	case baton.AlgES256:
		return token.NewECKey(now, activateAt)
	}
	return nil, baton.Errorf(baton.EInvalidRequest, "no signing key for the algorithm %q: EdDSA, RS256 or ES256", alg)
}

// IDSigner returns the signer of ID tokens and logout tokens once it can
// sign with every algorithm a client may choose. The RSA and P-256 keys
// are made lazily, on this first need, because an RSA-2048 key takes
// 50–300 ms to generate and most servers (and tests) never sign an ID
// token: when the signer lacks one, the keys are re-read from the store
// (another instance may have made them), and the missing ones are stored
// (EnsureKey, atomic across processes, so racing instances end up with one
// key of each use) and loaded. Loading publishes them in the JWKS, which
// is why the JWKS endpoint calls this before answering: a key is published
// before anything signs with it. After that it costs one atomic load.
//
// Like every key, the new ones are sealed with the master key; like the
// first Ed25519 key, they sign at once. Rotation is AddKey (`baton keys
// rotate --alg`).
func (s *Service) IDSigner(ctx context.Context) (*token.IDSigner, error) {
	if s.canSignIDTokens() {
		return s.ids, nil
	}
	s.idKeysMu.Lock()
	defer s.idKeysMu.Unlock()
	if s.canSignIDTokens() { // made while this call waited
		return s.ids, nil
	}
	if err := s.ReloadKeys(ctx); err != nil {
		return nil, err
	}
	made := false
	for _, alg := range idKeyAlgs {
		if s.ids.CanSign(alg) {
			continue
		}
		// A key made by a call whose store write failed is kept for the
		// next: the JWKS endpoint calls this unauthenticated, and must not
		// generate an RSA key per request while the store refuses them.
		k := s.unstoredIDKeys[alg]
		if k == nil {
			now := s.Now()
			var err error
			if k, err = newKey(alg, now, now); err != nil {
				return nil, err
			}
			s.unstoredIDKeys[alg] = k
		}
		if err := s.ensureKey(ctx, k); err != nil {
			return nil, err
		}
		delete(s.unstoredIDKeys, alg)
		made = true
	}
	if made {
		if err := s.ReloadKeys(ctx); err != nil {
			return nil, err
		}
	}
	if !s.canSignIDTokens() {
		return nil, errors.New("session: the ID-token keys were stored but do not sign")
	}
	return s.ids, nil
}

// canSignIDTokens reports whether the lazily made keys are loaded; the
// Ed25519 key is made at start.
func (s *Service) canSignIDTokens() bool {
	for _, alg := range idKeyAlgs {
		if !s.ids.CanSign(alg) {
			return false
		}
	}
	return true
}

// SignIDToken signs an ID token (typ JWT) with alg, the client's choice
// (baton.AlgRS256, AlgES256 or AlgEdDSA; empty means RS256, the default),
// making the ID-token keys first if need be (IDSigner). claims must
// marshal to a JSON object; they are signed as given.
func (s *Service) SignIDToken(ctx context.Context, alg string, claims any) (string, error) {
	return s.signWithIDSigner(ctx, alg, claims, token.TypIDToken)
}

// SignLogoutToken signs a back-channel logout token (typ logout+jwt) with
// alg, as SignIDToken does.
func (s *Service) SignLogoutToken(ctx context.Context, alg string, claims any) (string, error) {
	return s.signWithIDSigner(ctx, alg, claims, token.TypLogoutToken)
}

func (s *Service) signWithIDSigner(ctx context.Context, alg string, claims any, typ string) (string, error) {
	if alg == "" {
		alg = baton.AlgRS256
	}
	ids, err := s.IDSigner(ctx)
	if err != nil {
		return "", err
	}
	return ids.Sign(alg, claims, typ)
}

// VerifyIDToken checks the signature of an ID token baton signed, for
// id_token_hint, and returns its claims and algorithm
// (token.IDSigner.Verify): exp, iss and aud are the caller's to check. It
// makes no key: without ID-token keys no ID token can be genuine.
func (s *Service) VerifyIDToken(raw string) (map[string]any, string, error) {
	return s.ids.Verify(raw)
}
