package session

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/mail"
)

// One-time links (docs/design.md, "The outbox"): a link's token is
// derived from its id with a server key — prefix + base64url(HMAC-SHA256(
// key, purpose, id)), 256 bits — so neither the links table (which keeps
// the token's SHA-256) nor the outbox row (which names the link by id)
// holds anything that works as a link. The prefix says the purpose, so a
// secret scanner can tell a leaked link.
var linkPrefixes = map[string]string{
	baton.LinkVerifyEmail:   "bve_",
	baton.LinkResetPassword: "brs_",
	baton.LinkChangeEmail:   "bce_",
}

// linkToken derives the token of the link purpose:id.
func (s *Service) linkToken(purpose, id string) string {
	m := hmac.New(sha256.New, s.DeriveKey("baton-links"))
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return linkPrefixes[purpose] + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// hashSecret is the stored form of a one-time secret of 256 random bits
// (a link's token, an mfa_token): a plain SHA-256, as for refresh tokens
// (token.HashRefreshToken) — there is nothing to brute-force.
func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

var errInvalidLink = baton.Errorf(baton.EInvalidLink, "the link is unknown, used or expired")

// checkLinkToken refuses at once what cannot be a token of the purposes
// given (wrong prefix or length), before any store work.
func checkLinkToken(token string, purposes ...string) error {
	for _, p := range purposes {
		if rest, ok := strings.CutPrefix(token, linkPrefixes[p]); ok && len(rest) == 43 {
			return nil
		}
	}
	return errInvalidLink
}

// LinkURL returns the URL of the link a mail payload names
// ("purpose:id"): the purpose's URL template with {token} replaced by the
// percent-encoded token. The mail dispatcher calls it when it sends.
func (s *Service) LinkURL(_ context.Context, ref string) (string, error) {
	purpose, id, ok := strings.Cut(ref, ":")
	tpl := s.cfg.LinkTemplates[purpose]
	if !ok || id == "" || tpl == "" {
		return "", errors.New("unknown link reference")
	}
	return strings.ReplaceAll(tpl, "{token}", url.QueryEscape(s.linkToken(purpose, id))), nil
}

// newLink stores a new one-time link of purpose for u's address email,
// with the message that carries it (template tpl) and any others that go
// with it, in one transaction, and wakes the mail dispatcher.
func (s *Service) newLink(ctx context.Context, u *baton.User, purpose, email, canonical, tpl string, ttl time.Duration, others ...*baton.OutboxMessage) error {
	return s.newLinkID(ctx, newID(), u, purpose, email, canonical, tpl, ttl, others...)
}

// newLinkID is newLink with the link's id chosen by the caller (EConflict
// when it exists).
func (s *Service) newLinkID(ctx context.Context, id string, u *baton.User, purpose, email, canonical, tpl string, ttl time.Duration, others ...*baton.OutboxMessage) error {
	now := s.Now()
	l := &baton.Link{ID: id, Purpose: purpose, UserID: u.ID, Email: email, CanonicalEmail: canonical,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	l.Hash = hashSecret(s.linkToken(purpose, l.ID))
	payload, err := mail.EncodePayload(mail.Payload{Template: tpl, LinkID: purpose + ":" + l.ID, UserID: u.ID,
		Data: mail.Data{Username: u.Username, NewEmail: email, ValidFor: ttl}})
	if err != nil {
		return err
	}
	m := &baton.OutboxMessage{ID: mail.NewMessageID(s.cfg.MailFrom), Kind: baton.OutboxMail, Recipient: email,
		Payload: payload, CreatedAt: now, NextAttemptAt: now}
	if err := s.store.CreateLink(ctx, l, append([]*baton.OutboxMessage{m}, others...)...); err != nil {
		return err
	}
	s.wakeMail(m)
	return nil
}
