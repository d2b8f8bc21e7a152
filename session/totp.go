package session

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/seal"
	"github.com/batonauth/baton/token"
)

// Second-factor events (never holding a secret or a code).
const (
	EventTOTPEnrolment     = "totp_enrolment"
	EventTOTPEnabled       = "totp_enabled"
	EventTOTPDisabled      = "totp_disabled"
	EventRecoveryCodes     = "recovery_codes_regenerated"
	EventRecoveryCodeUsed  = "recovery_code_used"
	EventSecondFactor      = "second_factor"
	totpPeriod             = 30
	totpDigits             = otp.DigitsSix
	recoveryCodeCount      = 10
	recoveryCodeLen        = 10 // characters, 5 bits each: 50 bits
	recoveryCodeAlphabet   = "abcdefghjkmnpqrstuvwxyz23456789"
	maxCodeInput           = 64
	totpSecretSize         = 20 // bytes: RFC 4226's recommended 160 bits
	totpSealLabel          = "baton-totp\x00"
	recoveryCodeHashLabel  = "baton-recovery-codes"
	errNoPendingEnrolment  = "no TOTP enrolment is pending: start one with POST /v1/mfa/totp"
	errTOTPOffDescription  = "TOTP is not on for this account"
	errCodeFormatMessage   = "a code is 6 digits (spaces and dashes are ignored)"
	errWrongCodeMessage    = "the code is wrong or was used already"
	errRecoveryFormatError = "a recovery code is 10 letters and digits (spaces and dashes are ignored)"
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}

// TOTPEnrolment is a pending TOTP secret, shown once to be put in an
// authenticator app.
type TOTPEnrolment struct {
	Secret string // base32, as authenticator apps take it
	URI    string // otpauth://totp/…
}

// BeginTOTP starts (or restarts) a TOTP enrolment for the token's user: a
// new pending secret, which replaces a pending one and leaves a confirmed
// one in force until ConfirmTOTP. Needs a fresh token.
func (s *Service) BeginTOTP(ctx context.Context, c *token.Claims, cl Client) (*TOTPEnrolment, error) {
	if err := s.requireFreshFactors(ctx, c); err != nil {
		return nil, err
	}
	u, err := s.Me(ctx, c)
	if err != nil {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.cfg.TOTPIssuer, AccountName: u.Username,
		Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1, SecretSize: totpSecretSize, Rand: rand.Reader})
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealTOTP(u.ID, key.Secret())
	if err != nil {
		return nil, err
	}
	if err := s.store.SetPendingTOTP(ctx, u.ID, sealed, s.Now()); err != nil {
		return nil, err
	}
	s.emit(ctx, Event{Type: EventTOTPEnrolment, Outcome: OutcomeOK, UserID: u.ID, SessionID: c.SessionID, Client: cl})
	return &TOTPEnrolment{Secret: key.Secret(), URI: key.URL()}, nil
}

// ConfirmTOTP turns TOTP on with the first code of the pending secret and
// returns ten new recovery codes (shown once; only keyed hashes are kept).
// Needs a fresh token. Outcomes: the codes; EInvalidCode (wrong, reused or
// malformed code, or no pending enrolment).
func (s *Service) ConfirmTOTP(ctx context.Context, c *token.Claims, code string, cl Client) ([]string, error) {
	if err := s.requireFreshFactors(ctx, c); err != nil {
		return nil, err
	}
	digits, err := normalizeTOTP(code)
	if err != nil {
		return nil, err
	}
	u, err := s.Me(ctx, c)
	if err != nil {
		return nil, err
	}
	pending, secret, err := s.pendingTOTP(ctx, u.ID)
	if err == errNothingPending {
		return nil, baton.Errorf(baton.EInvalidCode, errNoPendingEnrolment)
	} else if err != nil {
		return nil, err
	}
	step, ok := matchTOTP(secret, digits, s.Now(), 0)
	if !ok {
		s.emit(ctx, Event{Type: EventTOTPEnabled, Outcome: OutcomeFailed, UserID: u.ID, SessionID: c.SessionID, Client: cl, Detail: "wrong code"})
		return nil, baton.Errorf(baton.EInvalidCode, errWrongCodeMessage)
	}
	codes, hashes := s.newRecoveryCodes(u.ID)
	// A compare-and-set on the pending secret: an enrolment restarted
	// meanwhile (another tab) is not confirmed by this one's code.
	if err := s.store.ConfirmTOTP(ctx, u.ID, pending, step, hashes, s.Now()); baton.ErrorCode(err) == baton.EConflict {
		return nil, baton.Errorf(baton.EInvalidCode, errNoPendingEnrolment)
	} else if err != nil {
		return nil, err
	}
	s.profiles.drop(u.ID)
	s.emit(ctx, Event{Type: EventTOTPEnabled, Outcome: OutcomeOK, UserID: u.ID, SessionID: c.SessionID, Client: cl})
	s.securityNotice(ctx, u.ID, changeTOTPOn)
	return codes, nil
}

// DisableTOTP turns TOTP off and deletes the recovery codes. It needs a
// fresh token that used a second factor (amr has mfa): a stolen password
// alone must not remove the factor that guards it.
func (s *Service) DisableTOTP(ctx context.Context, c *token.Claims, cl Client) error {
	if err := s.requireFreshMFA(c); err != nil {
		return err
	}
	err := s.store.DisableTOTP(ctx, c.Subject)
	if baton.ErrorCode(err) == baton.ENotFound {
		return baton.Errorf(baton.ENotFound, errTOTPOffDescription)
	} else if err != nil {
		return err
	}
	s.profiles.drop(c.Subject)
	s.emit(ctx, Event{Type: EventTOTPDisabled, Outcome: OutcomeOK, UserID: c.Subject, SessionID: c.SessionID, Client: cl})
	s.securityNotice(ctx, c.Subject, changeTOTPOff)
	return nil
}

// RegenerateRecoveryCodes replaces the user's recovery codes by ten new
// ones. Needs a fresh token with mfa; ENotFound when no second factor is
// on.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, c *token.Claims, cl Client) ([]string, error) {
	on, err := s.hasSecondFactor(ctx, c.Subject)
	if err != nil {
		return nil, err
	}
	if !on {
		if err := s.RequireFresh(c); err != nil {
			return nil, err
		}
		return nil, baton.Errorf(baton.ENotFound, "recovery codes go with a second factor, and none is on")
	}
	if err := s.requireFreshMFA(c); err != nil {
		return nil, err
	}
	codes, hashes := s.newRecoveryCodes(c.Subject)
	if err := s.store.ReplaceRecoveryCodes(ctx, c.Subject, hashes, s.Now()); err != nil {
		return nil, err
	}
	s.profiles.drop(c.Subject)
	s.emit(ctx, Event{Type: EventRecoveryCodes, Outcome: OutcomeOK, UserID: c.Subject, SessionID: c.SessionID, Client: cl})
	s.securityNotice(ctx, c.Subject, changeRecoveryCodes)
	return codes, nil
}

// requireFreshMFA is RequireFresh for actions that remove a second factor.
func (s *Service) requireFreshMFA(c *token.Claims) error {
	if err := s.RequireFresh(c); err != nil {
		return err
	}
	for _, m := range c.AMR {
		if m == baton.AMRMFA {
			return nil
		}
	}
	return baton.Errorf(baton.EInsufficientUserAuth, "this action needs a recent sign-in with a second factor: call /v1/reauth")
}

// requireFreshFactors is RequireFresh, and for a user who has a second
// factor on, requireFreshMFA: replacing a factor or minting recovery codes
// is as strong as removing one, and must not be open to a fresh token from
// before the factor existed.
func (s *Service) requireFreshFactors(ctx context.Context, c *token.Claims) error {
	if err := s.RequireFresh(c); err != nil {
		return err
	}
	on, err := s.hasSecondFactor(ctx, c.Subject)
	if err != nil || !on {
		return err
	}
	return s.requireFreshMFA(c)
}

// hasSecondFactor reports whether the user has a second factor: TOTP on
// or a passkey.
func (s *Service) hasSecondFactor(ctx context.Context, userID string) (bool, error) {
	on, err := s.totpOn(ctx, userID)
	if err != nil || on {
		return on, err
	}
	n, err := s.passkeyCount(ctx, userID)
	return n > 0, err
}

// totpOn reports whether TOTP is on for the user.
func (s *Service) totpOn(ctx context.Context, userID string) (bool, error) {
	st, err := s.store.TOTP(ctx, userID)
	if baton.ErrorCode(err) == baton.ENotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return st.Secret != nil, nil
}

func (s *Service) sealTOTP(userID, secret string) ([]byte, error) {
	return seal.SealBytes(s.cfg.MasterKey, []byte(secret), []byte(totpSealLabel+userID))
}

func (s *Service) openTOTP(userID string, sealed []byte) (string, error) {
	b, err := seal.OpenBytes(s.cfg.MasterKey, sealed, []byte(totpSealLabel+userID))
	return string(b), err
}

// normalizeTOTP drops the spaces and dashes people type or paste with a
// code, and refuses anything but six digits (EInvalidCode).
func normalizeTOTP(code string) (string, error) {
	if len(code) > maxCodeInput {
		return "", baton.Errorf(baton.EInvalidCode, errCodeFormatMessage)
	}
	out := make([]byte, 0, 6)
	for i := 0; i < len(code); i++ {
		switch c := code[i]; {
		case c == ' ' || c == '-':
		case c >= '0' && c <= '9':
			out = append(out, c)
		default:
			return "", baton.Errorf(baton.EInvalidCode, errCodeFormatMessage)
		}
	}
	if len(out) != 6 {
		return "", baton.Errorf(baton.EInvalidCode, errCodeFormatMessage)
	}
	return string(out), nil
}

// matchTOTP finds the time step, of now's and the one either side, whose
// code is digits, and returns it when it is after lastStep. Every step is
// computed and compared in constant time, so the timing says nothing about
// which one matched.
func matchTOTP(secret, digits string, now time.Time, lastStep int64) (int64, bool) {
	step := now.Unix() / totpPeriod
	var found int64
	for d := int64(-1); d <= 1; d++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix((step+d)*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(digits)) == 1 && step+d > lastStep {
			found = step + d
		}
	}
	return found, found != 0
}

// newRecoveryCodes returns ten codes as shown (xxxxx-xxxxx) and their keyed
// hashes as stored.
func (s *Service) newRecoveryCodes(userID string) (codes []string, hashes [][]byte) {
	for range recoveryCodeCount {
		var b strings.Builder
		for i := range recoveryCodeLen {
			if i == recoveryCodeLen/2 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryCodeAlphabet[randomIndex(len(recoveryCodeAlphabet))])
		}
		code := b.String()
		codes = append(codes, code)
		hashes = append(hashes, s.hashRecoveryCode(userID, strings.ReplaceAll(code, "-", "")))
	}
	return codes, hashes
}

// randomIndex returns a uniform random number in [0, n) for n ≤ 256, from
// crypto/rand, rejecting the bytes that would bias it.
func randomIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic("crypto/rand failed: " + err.Error()) // cannot happen on Linux
		}
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// normalizeRecoveryCode lower-cases a typed code and drops spaces and
// dashes; anything else outside the alphabet is EInvalidCode.
func normalizeRecoveryCode(code string) (string, error) {
	if len(code) > maxCodeInput {
		return "", baton.Errorf(baton.EInvalidCode, errRecoveryFormatError)
	}
	out := make([]byte, 0, recoveryCodeLen)
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch {
		case c == ' ' || c == '-':
		case strings.IndexByte(recoveryCodeAlphabet, c) >= 0:
			out = append(out, c)
		default:
			return "", baton.Errorf(baton.EInvalidCode, errRecoveryFormatError)
		}
	}
	if len(out) != recoveryCodeLen {
		return "", baton.Errorf(baton.EInvalidCode, errRecoveryFormatError)
	}
	return string(out), nil
}

// hashRecoveryCode is HMAC-SHA256 with a server key over the user and the
// code: a copy of the database alone cannot test guesses of 50-bit codes.
func (s *Service) hashRecoveryCode(userID, normalized string) []byte {
	m := hmac.New(sha256.New, s.DeriveKey(recoveryCodeHashLabel))
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write([]byte(normalized))
	return m.Sum(nil)
}
