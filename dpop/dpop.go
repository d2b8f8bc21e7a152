// Package dpop checks and makes DPoP proofs (RFC 9449, OAuth 2.0
// Demonstrating Proof of Possession): short-lived JWTs, signed with a key
// the client holds, that bind each request to that key. A token bound to
// the key's thumbprint (cnf.jkt) is useless to whoever steals it without
// the private key.
//
// A Verifier checks the proof a request carries in its DPoP header (RFC
// 9449 §4.3) in two steps. Check looks at the proof alone: the JWS and its
// embedded public key, the request it was made for (htm, htu), its age
// (iat), the access token it accompanies (ath) and an optional server
// nonce (§8); it returns the key's thumbprint, and comparing that with the
// session's or the access token's binding is the caller's job. Spend then
// records the proof as used (§11.1), in a cache bounded per client address
// and, given a shared store, for every instance. Anyone can make valid
// proofs with keys of their own, so callers spend a proof only once the
// request's own checks (credentials, rate limits) have passed. A Prover
// makes proofs, for Go clients and tests.
//
// Parsing goes through github.com/golang-jwt/jwt/v5 with the algorithms
// pinned, as in package token; the header and claims are read with the
// strict decoder internal/strictjson because encoding/json accepts duplicate
// and case-folded member names, which would let two readers of one proof
// disagree about what it says.
package dpop

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/batonauth/baton"
	"github.com/golang-jwt/jwt/v5"
)

// Defaults of Options, and fixed bounds.
const (
	// DefaultMaxAge is how old a proof may be. RFC 9449 §11.1 asks for a
	// short window; a minute covers slow networks and retries.
	DefaultMaxAge = 60 * time.Second
	// DefaultLeeway is the clock skew tolerated into the future, as for
	// access tokens (token.DefaultLeeway).
	DefaultLeeway = 5 * time.Second
	// DefaultNonceLifetime is how long a server nonce stays current; one
	// is accepted for up to twice as long (see Options.NonceLifetime).
	DefaultNonceLifetime = 5 * time.Minute
	// DefaultReplayCacheSize bounds the jti values remembered at once:
	// about 1,500 proofs a second sustained over the default window, in
	// about 9 MB when full (with the client address of each).
	DefaultReplayCacheSize = 100_000
	// DefaultReplayCachePerClient bounds the jti values remembered at once
	// for one client address (an IPv6 client's /64): a tenth of the
	// default cache, about 150 proofs a second sustained from one address,
	// so that one flooding client cannot deny the others.
	DefaultReplayCachePerClient = DefaultReplayCacheSize / 10
	// MaxProofBytes is the longest DPoP header value Verify looks at. A
	// proof with a P-256 key is about 600 bytes.
	MaxProofBytes = 8192
	// MaxJTIBytes bounds the jti claim: it is remembered, and a client
	// needs no more than a few dozen random bytes to make it unique.
	MaxJTIBytes = 256
)

// supportedAlgorithms are the algorithms Verify can check: asymmetric
// (RFC 9449 §4.3 check 5), with keys whose thumbprint Thumbprint computes.
// RSA is left out on purpose: its keys and signatures are large, and no
// client of baton needs it.
var supportedAlgorithms = []string{jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg()}

// Options configure a Verifier. The zero value is usable: ES256 and EdDSA,
// the default windows, no nonces.
type Options struct {
	// Algorithms are the proof algorithms accepted, a subset of "ES256"
	// (P-256) and "EdDSA" (Ed25519); empty means both. NewVerifier refuses
	// anything else, "none" and HS256 included.
	Algorithms []string
	// MaxAge is how far iat may lie in the past; zero or negative means
	// DefaultMaxAge.
	MaxAge time.Duration
	// Leeway is how far iat may lie in the future; zero or negative means
	// DefaultLeeway.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RequireNonce makes Verify demand a current server nonce (RFC 9449
	// §8) in every proof. It needs NonceKey.
	RequireNonce bool
	// NonceKey is the HMAC-SHA256 key nonces are made with, at least 32
	// bytes. Nonces are stateless, so every instance given the same key
	// (and a roughly synchronised clock) accepts the others' nonces.
	NonceKey []byte
	// NonceLifetime is how often the nonce changes; zero or negative means
	// DefaultNonceLifetime. Verify accepts the current nonce and the one
	// before it, so a nonce is good for between one and two lifetimes.
	NonceLifetime time.Duration
	// ReplayCacheSize bounds the number of jti values remembered; zero or
	// negative means DefaultReplayCacheSize.
	ReplayCacheSize int
	// ReplayCachePerClient bounds the jti values remembered for one client
	// address; zero or negative means a tenth of ReplayCacheSize
	// (DefaultReplayCachePerClient by default). Behind a proxy, give Spend the
	// address the proxy reports, or every client shares one bound.
	ReplayCachePerClient int
	// Store, when set, remembers the proofs of every instance sharing it
	// (baton.DPoPReplayStore, which the PostgreSQL store provides): Spend
	// refuses a proof another instance accepted. The verifier's own cache
	// and its bounds still come first.
	Store baton.DPoPReplayStore
}

// Verifier checks DPoP proofs. It is safe for concurrent use. Its replay
// cache lives in the process: see Spend for what that means when several
// instances share the load.
type Verifier struct {
	algs         []string
	maxAge       time.Duration
	leeway       time.Duration
	now          func() time.Time
	requireNonce bool
	nonces       *nonces // nil without a NonceKey
	replay       *replayCache
	window       time.Duration // how long a proof is remembered
	store        baton.DPoPReplayStore
	parserOpts   []jwt.ParserOption
}

// NewVerifier returns a Verifier configured by o. It fails only on a bad
// configuration: an unsupported algorithm, or a missing or short NonceKey.
func NewVerifier(o Options) (*Verifier, error) {
	algs := supportedAlgorithms
	if len(o.Algorithms) > 0 {
		for _, a := range o.Algorithms {
			if !slices.Contains(supportedAlgorithms, a) {
				return nil, fmt.Errorf("dpop: algorithm %q is not supported (want ES256 or EdDSA)", a)
			}
		}
		algs = slices.Clone(o.Algorithms)
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Leeway <= 0 {
		o.Leeway = DefaultLeeway
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NonceLifetime <= 0 {
		o.NonceLifetime = DefaultNonceLifetime
	}
	if o.ReplayCacheSize <= 0 {
		o.ReplayCacheSize = DefaultReplayCacheSize
	}
	if o.ReplayCachePerClient <= 0 {
		o.ReplayCachePerClient = max(o.ReplayCacheSize/10, 1)
	}
	v := &Verifier{
		algs:         algs,
		maxAge:       o.MaxAge,
		leeway:       o.Leeway,
		now:          o.Now,
		requireNonce: o.RequireNonce,
		// An entry must outlive every moment its proof could still be
		// accepted: see replayCache.
		replay: newReplayCache(o.ReplayCacheSize, o.ReplayCachePerClient, o.MaxAge+o.Leeway),
		window: o.MaxAge + o.Leeway,
		store:  o.Store,
		parserOpts: []jwt.ParserOption{
			jwt.WithValidMethods(algs),
			// One proof, one spelling: no padding, no stray bits.
			jwt.WithStrictDecoding(),
			// Every claim check needs the request; Verify does them.
			jwt.WithoutClaimsValidation(),
		},
	}
	switch {
	case len(o.NonceKey) > 0 && len(o.NonceKey) < minNonceKeyBytes:
		return nil, fmt.Errorf("dpop: NonceKey has %d bytes, want at least %d", len(o.NonceKey), minNonceKeyBytes)
	case len(o.NonceKey) > 0:
		v.nonces = newNonces(o.NonceKey, o.NonceLifetime, o.Leeway)
	case o.RequireNonce:
		return nil, errors.New("dpop: RequireNonce needs a NonceKey")
	}
	return v, nil
}

// Proof is what a verified proof says.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's public key,
	// base64url: what tokens bound to the key carry as cnf.jkt (RFC 9449
	// §6.1).
	JKT string
	// JTI is the proof's unique identifier.
	JTI string
	// IssuedAt is the proof's iat, in UTC.
	IssuedAt time.Time
}

// Safe messages of Verify's errors. Unlike an access token's, a proof is
// made by the very client that sent it, so saying which part of the
// request it disagrees with tells the sender nothing it did not know and
// helps an honest client find its bug (a wrong URL, a skewed clock). What
// is wrong with the JWS itself stays in the logged cause.
const (
	msgMissing    = "a DPoP proof is required"
	msgTooLarge   = "the DPoP proof is too large"
	msgNotOne     = "the DPoP header must hold exactly one proof"
	msgInvalid    = "the DPoP proof is invalid"
	msgMethod     = "the DPoP proof was made for another HTTP method"
	msgURL        = "the DPoP proof was made for another URL"
	msgTime       = "the DPoP proof is too old or issued in the future; check the client's clock"
	msgAth        = "the DPoP proof does not match the access token"
	msgReplay     = "the DPoP proof was already used; make a new one for each request"
	msgNonce      = "the DPoP proof must carry the nonce from the DPoP-Nonce header"
	msgStaleNonce = "the DPoP nonce is stale or unknown; use the one from the DPoP-Nonce header"
	msgBusy       = "too many DPoP proofs in flight; retry shortly with a new proof"
	msgFlood      = "too many DPoP proofs from this address; retry shortly with a new proof"
)

func invalid(msg string, cause error) error {
	return baton.WrapError(baton.EInvalidDPoPProof, msg, cause)
}

// Verify checks proof with Check and, when it is valid, records it as
// used with Spend on behalf of no particular client (one shared share of
// the cache, and no deadline for the Store). Servers should call Check,
// then check the request's credentials, then Spend with the client's
// address, so that requests which fail anyway take no room in the cache.
func (v *Verifier) Verify(proof, method, url, accessToken string) (*Proof, error) {
	p, err := v.Check(proof, method, url, accessToken)
	if err != nil {
		return nil, err
	}
	if err := v.Spend(context.Background(), p, ""); err != nil {
		return nil, err
	}
	return p, nil
}

// Check checks proof, the value of a request's DPoP header, against the
// request's method and url and, when the request presents one, its access
// token; when it returns a nil error the proof is valid, but not yet
// recorded as used: the caller must Spend it before acting on the request.
//
// url is the absolute URL the client addressed (scheme, host, port and
// path, as seen from outside any proxy); its query and fragment are
// ignored. htu is compared with it after syntax- and scheme-based
// normalisation (RFC 3986 §6.2.2, §6.2.3): scheme and host case, default
// ports, percent-encoding and dot segments. The caller must refuse a
// request with more than one DPoP header field (RFC 9449 §4.3 check 1)
// before calling Check, and must compare Proof.JKT with the binding of
// the token or session it serves (check 12).
//
// Two things might happen besides success, each a *baton.Error whose
// message is safe to show:
//
//   - baton.EUseDPoPNonce: the verifier requires nonces and the proof,
//     otherwise valid, carries none or one that is stale or forged. The
//     caller answers with a fresh Nonce in a DPoP-Nonce header (§8).
//   - baton.EInvalidDPoPProof: anything else. Empty or longer than
//     MaxProofBytes; not exactly one JWS in compact form; typ not
//     dpop+jwt; alg not among Options.Algorithms; jwk missing, of another
//     key type than alg, holding a private key, or not a valid key; a bad
//     signature; duplicate members or crit; jti missing or longer than
//     MaxJTIBytes; htm or htu missing or not the request's; iat missing or
//     outside [now-MaxAge, now+Leeway]; ath missing or wrong when
//     accessToken is not empty.
//
// Check is safe for concurrent use and keeps no state.
func (v *Verifier) Check(proof, method, url, accessToken string) (*Proof, error) {
	switch {
	case proof == "":
		return nil, invalid(msgMissing, nil)
	case len(proof) > MaxProofBytes:
		return nil, invalid(msgTooLarge, fmt.Errorf("%d bytes, limit %d", len(proof), MaxProofBytes))
	}
	// A JWS in compact form is base64url and two dots; anything else (a
	// comma, a space) means several proofs or none.
	if i := strings.IndexFunc(proof, notCompactJWS); i >= 0 {
		return nil, invalid(msgNotOne, fmt.Errorf("byte %d is %q", i, proof[i]))
	}
	if strings.Count(proof, ".") != 2 {
		return nil, invalid(msgNotOne, errors.New("not three segments"))
	}

	var h header
	var c claims
	_, err := jwt.NewParser(v.parserOpts...).ParseWithClaims(proof, &c, h.keyfunc)
	if err != nil {
		return nil, invalid(msgInvalid, err)
	}
	if err := c.complete(); err != nil {
		return nil, invalid(msgInvalid, err)
	}
	if c.htm != method {
		return nil, invalid(msgMethod, fmt.Errorf("htm %.16q, request %.16q", c.htm, method))
	}
	if err := sameURL(c.htu, url); err != nil {
		return nil, invalid(msgURL, err)
	}
	now := v.now()
	iat := time.Unix(c.iat, 0)
	if iat.Before(now.Add(-v.maxAge)) || iat.After(now.Add(v.leeway)) {
		return nil, invalid(msgTime, fmt.Errorf("iat %d, now %d", c.iat, now.Unix()))
	}
	if accessToken != "" {
		// RFC 9449 §4.2: ath is base64url(SHA-256(ASCII(access token))).
		sum := sha256.Sum256([]byte(accessToken))
		var want [43]byte
		base64.RawURLEncoding.Encode(want[:], sum[:])
		if c.ath == "" {
			return nil, invalid(msgAth, errors.New("no ath"))
		}
		if subtle.ConstantTimeCompare([]byte(c.ath), want[:]) != 1 {
			return nil, invalid(msgAth, errors.New("ath does not match"))
		}
	}
	if v.requireNonce {
		// Checked after everything else so that use_dpop_nonce, which
		// makes the client retry, only answers proofs that would pass
		// with the right nonce.
		switch {
		case c.nonce == "":
			return nil, baton.WrapError(baton.EUseDPoPNonce, msgNonce, errors.New("no nonce"))
		case !v.nonces.valid(c.nonce, now):
			return nil, baton.WrapError(baton.EUseDPoPNonce, msgStaleNonce, errors.New("nonce not current"))
		}
	}
	jkt := h.key.thumbprint()
	return &Proof{JKT: jkt, JTI: c.jti, IssuedAt: iat.UTC()}, nil
}

// Spend records p, a proof from Check, as used by client (the request's
// address; see Options.ReplayCachePerClient); when it returns nil the
// proof is the request's to use, once. Three things might happen besides
// success, each a *baton.Error whose message is safe to show:
//
//   - baton.EInvalidDPoPProof: the proof was already used (with the same
//     key and jti) within MaxAge+Leeway, here or, with a Store, at any
//     instance sharing it.
//   - baton.ETooManyRequests: client's share of the cache is full of
//     proofs still inside their window; the client may retry shortly.
//   - baton.EUnavailable: the whole cache is full, or the Store could not
//     be reached. Spend refuses rather than forget a jti it might see
//     again; the client may retry with a new proof.
//
// Without a Store the cache is per Verifier, so per process: a proof
// replayed to another instance within its window is not caught (RFC 9449
// §11.1). Where that matters, require nonces, which bound the window to
// the nonce's lifetime, or give the Verifier a shared Store.
//
// Spend is safe for concurrent use; of concurrent calls with the same
// proof, at most one succeeds.
func (v *Verifier) Spend(ctx context.Context, p *Proof, client string) error {
	now := v.now()
	id := replayKey(p.JKT, p.JTI)
	switch err := v.replay.add(id, clientKey(client), now); {
	case errors.Is(err, errReplayed):
		return invalid(msgReplay, err)
	case errors.Is(err, errClientFull):
		return baton.WrapError(baton.ETooManyRequests, msgFlood, err)
	case err != nil:
		return baton.WrapError(baton.EUnavailable, msgBusy, err)
	}
	if v.store == nil {
		return nil
	}
	// Recorded locally first: a replay to this instance costs no round
	// trip, and the per-client bound holds for the store's writes too.
	err := v.store.SpendDPoPProof(ctx, id[:], now, now.Add(v.window))
	switch baton.ErrorCode(err) {
	case "":
		return nil
	case baton.EConflict:
		return invalid(msgReplay, fmt.Errorf("jti already used at another instance: %w", err))
	}
	// Refused, not let through: an unknown answer might hide a replay.
	return baton.WrapError(baton.EUnavailable, msgBusy, err)
}

// notCompactJWS reports whether r cannot appear in a JWS in compact form.
func notCompactJWS(r rune) bool {
	switch {
	case 'A' <= r && r <= 'Z', 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '-', r == '_', r == '.':
		return false
	}
	return true
}

// Nonce returns the current server nonce, for a DPoP-Nonce response
// header (RFC 9449 §8), or "" when the verifier has no NonceKey. Every
// instance sharing the key returns the same value until the nonce
// lifetime ends.
func (v *Verifier) Nonce() string {
	if v.nonces == nil {
		return ""
	}
	return v.nonces.current(v.now())
}
