package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/batonauth/baton"
)

// The second step of a login: a first step whose password was right, for a
// user with a second factor, ends in an mfa_token (a challenge in the
// store) instead of a session; CompleteLogin finishes it with a factor.
const (
	// MFATTL is how long an mfa_token works.
	MFATTL = 5 * time.Minute
	// MaxMFAFailures wrong codes kill an mfa_token (the challenge's
	// Failures counts every attempt, the right one included).
	MaxMFAFailures = 5
	mfaTokenPrefix = "bmf_"
)

// Second-factor methods, as the mfa_required answer lists them and as
// EventSecondFactor names the one checked (Detail; metrics count by it).
const (
	MethodTOTP         = "totp"
	MethodRecoveryCode = "recovery_code"
)

// MFARequired is the outcome of a first step that needs a second one: the
// error carries the mfa_token the client must present with a factor.
type MFARequired struct {
	Token     string
	Methods   []string
	ExpiresIn time.Duration
}

func (e *MFARequired) Error() string { return "a second factor is required" }

// Unwrap gives the contract's code to the one place that maps errors.
func (e *MFARequired) Unwrap() error {
	return baton.Errorf(baton.EMFARequired, "the password is right; finish the sign-in with a second factor")
}

// mfaPurposes of a challenge.
const (
	mfaLogin  = "login"
	mfaReauth = "reauth"
)

// mfaState is what the first step hands the second, in the challenge.
type mfaState struct {
	Purpose   string `json:"purpose"`
	Gen       int64  `json:"gen"` // the credential generation the password was verified at
	Transport string `json:"transport,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Binding   string `json:"binding,omitempty"`
	SessionID string `json:"session_id,omitempty"` // reauth
}

// secondStep returns an *MFARequired when u has a second factor: the
// password step succeeded, and the session (or reauth) waits for the
// factor. nil when u has none.
func (s *Service) secondStep(ctx context.Context, u *baton.User, st mfaState) error {
	methods, err := s.methods(ctx, u.ID)
	if err != nil || len(methods) == 0 {
		return err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return err
	}
	tok := mfaTokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	st.Gen = u.CredentialGen
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	now := s.Now()
	if err := s.store.CreateChallenge(ctx, &baton.Challenge{ID: newID(), Hash: hashSecret(tok), Kind: baton.ChallengeMFA,
		UserID: u.ID, Data: data, CreatedAt: now, ExpiresAt: now.Add(MFATTL)}); err != nil {
		return err
	}
	return &MFARequired{Token: tok, Methods: methods, ExpiresIn: MFATTL}
}

// methods lists the second factors the user can finish a login with:
// TOTP with its recovery codes, passkeys (with recovery codes when the
// user made some).
func (s *Service) methods(ctx context.Context, userID string) ([]string, error) {
	totp, err := s.totpOn(ctx, userID)
	if err != nil {
		return nil, err
	}
	passkeys, err := s.passkeyCount(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []string
	if totp {
		out = append(out, MethodTOTP, MethodRecoveryCode)
	}
	if passkeys > 0 {
		if !totp {
			left, err := s.store.RecoveryCodesLeft(ctx, userID)
			if err != nil {
				return nil, err
			}
			if left > 0 {
				out = append(out, MethodRecoveryCode)
			}
		}
		out = append(out, MethodPasskey)
	}
	return out, nil
}

// MFARequest is the second step: the mfa_token and one factor.
type MFARequest struct {
	Token        string
	TOTP         *string
	RecoveryCode *string
	// Passkey is an AuthenticationResponseJSON answering options from
	// BeginPasskeyLogin with this mfa_token.
	Passkey []byte
}

var errDeadMFAToken = baton.Errorf(baton.EInvalidGrant, "the mfa_token is unknown, used, expired or dead after too many wrong codes")

// MFAAccount returns the canonical username the mfa_token's first step was
// for ("" when the token is not live), so that wrong codes count toward the
// same per-account limits as wrong passwords.
func (s *Service) MFAAccount(ctx context.Context, tok string) string {
	ch, err := s.liveMFA(ctx, tok)
	if err != nil {
		return ""
	}
	u, err := s.store.UserByID(ctx, ch.UserID)
	if err != nil {
		return ""
	}
	return u.CanonicalUsername
}

// liveMFA returns the live challenge of an mfa_token, or errDeadMFAToken.
func (s *Service) liveMFA(ctx context.Context, tok string) (*baton.Challenge, error) {
	if !strings.HasPrefix(tok, mfaTokenPrefix) || len(tok) != len(mfaTokenPrefix)+43 {
		return nil, errDeadMFAToken
	}
	ch, err := s.store.Challenge(ctx, hashSecret(tok), baton.ChallengeMFA)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, errDeadMFAToken
	} else if err != nil {
		return nil, err
	}
	if !ch.SpentAt.IsZero() || !s.Now().Before(ch.ExpiresAt) || ch.Failures >= MaxMFAFailures {
		// Failures counts attempts (see CompleteLogin): five used up.
		return nil, errDeadMFAToken
	}
	return ch, nil
}

// CompleteLogin finishes a login (or a reauth) whose first step answered
// mfa_required. Outcomes: the grant of the first step's kind (a new
// session for a login, a fresh token of the session for a reauth), its
// tokens fresh with amr otp (hwk for a passkey) and mfa; EInvalidGrant
// (the mfa_token is unknown, used, expired or dead); EInvalidCredentials
// (a wrong or replayed code, or a passkey that does not verify: the
// token's failures grow); EInvalidCode (a malformed code);
// EInvalidRequest (not exactly one factor, a malformed passkey answer).
func (s *Service) CompleteLogin(ctx context.Context, req MFARequest, cl Client) (*Grant, error) {
	n := 0
	for _, given := range []bool{req.TOTP != nil, req.RecoveryCode != nil, req.Passkey != nil} {
		if given {
			n++
		}
	}
	if n != 1 {
		return nil, baton.Errorf(baton.EInvalidRequest, "give exactly one of totp, recovery_code and passkey")
	}
	var err error
	var code string
	var assertion *protocol.ParsedCredentialAssertionData
	switch {
	case req.TOTP != nil:
		code, err = normalizeTOTP(*req.TOTP)
	case req.RecoveryCode != nil:
		code, err = normalizeRecoveryCode(*req.RecoveryCode)
	default:
		assertion, err = parsePasskeyFactor(req.Passkey)
	}
	if err != nil {
		return nil, err
	}
	ch, err := s.liveMFA(ctx, req.Token)
	if err != nil {
		return nil, err
	}
	var st mfaState
	if err := json.Unmarshal(ch.Data, &st); err != nil {
		return nil, err
	}
	// Every attempt is counted on the token before its factor is checked,
	// by an atomic increment: however many race, at most MaxMFAFailures
	// factors are ever checked against one token.
	n, err = s.store.FailChallenge(ctx, ch.Hash, baton.ChallengeMFA, s.Now())
	if baton.ErrorCode(err) == baton.ENotFound || err == nil && n > MaxMFAFailures {
		return nil, errDeadMFAToken
	} else if err != nil {
		return nil, err
	}
	var ok bool
	var detail string
	amr := baton.AMR(baton.AMRPassword, baton.AMROTP, baton.AMRMFA)
	if assertion != nil {
		ok, detail, err = s.checkPasskeyFactor(ctx, ch, assertion, cl)
		amr = baton.AMR(baton.AMRPassword, baton.AMRPasskey, baton.AMRMFA)
	} else {
		ok, detail, err = s.checkFactor(ctx, ch.UserID, req.TOTP != nil, code)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		s.emit(ctx, Event{Type: EventSecondFactor, Outcome: OutcomeFailed, UserID: ch.UserID, SessionID: st.SessionID, Client: cl, Detail: detail})
		return nil, errInvalidCredentials
	}
	// The compare-and-set on the token: of two second steps racing with
	// the same token and valid factors, one gets a session. This attempt
	// is among the counted ones, hence the limit plus one.
	if _, err := s.store.SpendChallenge(ctx, ch.Hash, baton.ChallengeMFA, s.Now(), MaxMFAFailures+1); baton.ErrorCode(err) == baton.ENotFound {
		return nil, errDeadMFAToken
	} else if err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventSecondFactor, Outcome: OutcomeOK, UserID: ch.UserID, SessionID: st.SessionID, Client: cl, Detail: detail})
	switch st.Purpose {
	case mfaReauth:
		return s.finishReauth(ctx, ch.UserID, st, amr, cl)
	case mfaLogin:
		u, err := s.store.UserByID(ctx, ch.UserID)
		if baton.ErrorCode(err) == baton.ENotFound {
			return nil, errInvalidCredentials
		} else if err != nil {
			return nil, err
		}
		if !u.LockedAt.IsZero() {
			return nil, errInvalidCredentials
		}
		// The session is created for the credentials the first step
		// verified: a password change or lock in between wins.
		u.CredentialGen = st.Gen
		g, err := s.createSession(ctx, u, amr, st.Transport, st.ClientID, st.Binding, cl)
		if baton.ErrorCode(err) == baton.EConflict {
			return nil, errInvalidCredentials
		} else if err != nil {
			return nil, err
		}
		s.emit(ctx, Event{Type: EventLogin, Outcome: OutcomeOK, UserID: u.ID, SessionID: g.Session.ID, Client: cl, Detail: "mfa"})
		return g, nil
	}
	return nil, errors.New("session: unknown mfa purpose " + st.Purpose)
}

// checkFactor checks a normalised TOTP code or recovery code of the user,
// spending it when right (a TOTP step by compare-and-set, a recovery code
// by compare-and-set). It returns whether it was right and, for the audit
// log, what was used.
func (s *Service) checkFactor(ctx context.Context, userID string, isTOTP bool, code string) (bool, string, error) {
	if !isTOTP {
		left, err := s.store.UseRecoveryCode(ctx, userID, s.hashRecoveryCode(userID, code), s.Now())
		if baton.ErrorCode(err) == baton.ENotFound {
			return false, MethodRecoveryCode, nil
		} else if err != nil {
			return false, "", err
		}
		s.profiles.drop(userID)
		s.emit(ctx, Event{Type: EventRecoveryCodeUsed, Outcome: OutcomeOK, UserID: userID, Detail: fmt.Sprintf("%d recovery codes left", left)})
		return true, MethodRecoveryCode, nil
	}
	st, err := s.store.TOTP(ctx, userID)
	if baton.ErrorCode(err) == baton.ENotFound || err == nil && st.Secret == nil {
		return false, MethodTOTP, nil
	} else if err != nil {
		return false, "", err
	}
	secret, err := s.openTOTP(userID, st.Secret)
	if err != nil {
		return false, "", err
	}
	step, ok := matchTOTP(secret, code, s.Now(), st.LastStep)
	if !ok {
		return false, MethodTOTP, nil
	}
	// Each step once: a replay racing this use loses here.
	if err := s.store.UseTOTPStep(ctx, userID, step); baton.ErrorCode(err) == baton.EConflict {
		return false, MethodTOTP, nil
	} else if err != nil {
		return false, "", err
	}
	return true, MethodTOTP, nil
}

// finishReauth is the second step of a reauth: the session's auth time
// moves to now and a fresh token with mfa is minted for it.
func (s *Service) finishReauth(ctx context.Context, userID string, st mfaState, amr []string, cl Client) (*Grant, error) {
	sess, err := s.store.Session(ctx, st.SessionID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return nil, baton.Errorf(baton.EInvalidToken, "the session no longer exists")
	} else if err != nil {
		return nil, err
	}
	now := s.Now()
	if !sess.Live(now) || sess.UserID != userID {
		return nil, baton.Errorf(baton.EInvalidToken, "the session was revoked or expired")
	}
	if err := s.store.SetAuthTime(ctx, sess.ID, now); err != nil {
		return nil, err
	}
	sess.AuthTime = now
	// This token, fresh from both factors, says so; the session keeps the
	// methods it was created with for the tokens refreshes mint.
	sess.AMR = baton.AMR(append(append([]string(nil), sess.AMR...), amr...)...)
	s.emit(ctx, Event{Type: EventReauth, Outcome: OutcomeOK, UserID: userID, SessionID: sess.ID, Client: cl, Detail: "mfa"})
	return s.grant(sess, now, true, st.ClientID, "")
}

// LooksLikeTOTP reports whether code has the shape of a TOTP code (six
// digits, spaces and dashes aside) rather than a recovery code: baton's
// sign-in page has one field for both.
func LooksLikeTOTP(code string) bool {
	_, err := normalizeTOTP(code)
	return err == nil
}

// MFAMethods returns the second factors a live mfa_token can finish with
// (nil when it is not live), for a page shown again after a wrong code.
func (s *Service) MFAMethods(ctx context.Context, tok string) []string {
	ch, err := s.liveMFA(ctx, tok)
	if err != nil {
		return nil
	}
	m, err := s.methods(ctx, ch.UserID)
	if err != nil {
		return nil
	}
	return m
}
