package session

import (
	"context"
	"encoding/base32"
	"errors"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// PendingTOTP returns the user's pending TOTP enrolment again — the secret
// and the otpauth URI BeginTOTP gave — so that a page can show its QR code
// without the secret ever travelling in a URL. Needs what the enrolment
// itself needs: a fresh token, with mfa once a second factor is on (else
// EInsufficientUserAuth). Outcomes: the enrolment; ENotFound when none is
// pending (never begun, confirmed since, or TOTP turned off).
func (s *Service) PendingTOTP(ctx context.Context, c *token.Claims) (*TOTPEnrolment, error) {
	if err := s.requireFreshFactors(ctx, c); err != nil {
		return nil, err
	}
	u, err := s.Me(ctx, c)
	if err != nil {
		return nil, err
	}
	_, secret, err := s.pendingTOTP(ctx, u.ID)
	if err == errNothingPending {
		return nil, baton.Errorf(baton.ENotFound, errNoPendingEnrolment)
	} else if err != nil {
		return nil, err
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return nil, err
	}
	// The options BeginTOTP generated the key with, so the URI is the same.
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.cfg.TOTPIssuer, AccountName: u.Username,
		Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1, Secret: raw})
	if err != nil {
		return nil, err
	}
	return &TOTPEnrolment{Secret: key.Secret(), URI: key.URL()}, nil
}

// errNothingPending is pendingTOTP's outcome when no enrolment is pending;
// each caller answers it with its own code.
var errNothingPending = errors.New("session: no TOTP enrolment is pending")

// pendingTOTP returns the user's pending TOTP secret as stored (sealed:
// the value ConfirmTOTP's compare-and-set needs) and opened;
// errNothingPending when there is none.
func (s *Service) pendingTOTP(ctx context.Context, userID string) (sealed []byte, secret string, err error) {
	st, err := s.store.TOTP(ctx, userID)
	if baton.ErrorCode(err) == baton.ENotFound || err == nil && st.Pending == nil {
		return nil, "", errNothingPending
	} else if err != nil {
		return nil, "", err
	}
	secret, err = s.openTOTP(userID, st.Pending)
	if err != nil {
		return nil, "", err
	}
	return st.Pending, secret, nil
}
