package session

import (
	"context"

	"github.com/batonauth/baton/mail"
)

// The changes a security notice names, in plain words.
const (
	changeTOTPOn         = "authenticator app (TOTP) turned on"
	changeTOTPOff        = "authenticator app (TOTP) turned off"
	changeRecoveryCodes  = "new recovery codes made (the old ones no longer work)"
	changePasskeyAdded   = "passkey added"
	changePasskeyRemoved = "passkey removed"
	changeMFAReset       = "every second factor removed by an administrator (every session signed out)"
)

// securityNotice tells the user, at their address if they have one, that a
// second factor changed. It runs after the change is stored: the change
// stands whatever happens here, so a failure is logged, not returned — the
// user's request succeeded. Like the password notice it is not held back
// by the per-recipient limit.
func (s *Service) securityNotice(ctx context.Context, userID, change string) {
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		s.cfg.Logger.Warn("security notice not queued", "user_id", userID, "change", change, "err", err)
		return
	}
	m, err := s.notice(u.Email, mail.SecurityChange, mail.Data{Username: u.Username, Change: change}, u.ID)
	if err == nil && m != nil {
		err = s.store.Enqueue(ctx, m)
	}
	if err != nil {
		s.cfg.Logger.Warn("security notice not queued", "user_id", userID, "change", change, "err", err)
		return
	}
	s.wakeMail(m)
}
