package session

import (
	"context"
	"crypto/subtle"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

var errUnknownRefresh = baton.Errorf(baton.ENotFound, "refresh token not found")

// newRefreshToken returns the first refresh token of sess, which it marks
// as holding its token state (docs/design.md, "One row per session"),
// unless RowRefreshTokens keeps the older form.
func (s *Service) newRefreshToken(sess *baton.Session) (string, error) {
	if s.cfg.RowRefreshTokens {
		return token.NewRefreshToken()
	}
	sess.TokenGen = 1
	return token.NewSessionRefreshToken(s.secrets.Load().rotation, sess.ID)
}

// refreshToken finds a presented refresh token of either form with its
// session: the stored row of a token of the first form, or for one that
// names its session the row the session's token state stands for
// (sessionToken). ENotFound for a token baton does not know or did not
// issue; raw must satisfy token.IsRefreshToken.
func (s *Service) refreshToken(ctx context.Context, raw string) (*baton.RefreshToken, *baton.Session, error) {
	hash := token.HashRefreshToken(raw)
	if !token.NamesSession(raw) {
		return s.store.RefreshToken(ctx, hash)
	}
	sr, ok := token.ParseSessionRefresh(s.secrets.Load().rotation, raw)
	if !ok {
		return nil, nil, errUnknownRefresh
	}
	row, _, sess, err := s.readSessionToken(ctx, sr, hash)
	return row, sess, err
}

// readSessionToken reads the session a genuine token of the second form
// names and what its token state says of the token (sessionToken).
// ENotFound when either is unknown.
func (s *Service) readSessionToken(ctx context.Context, sr token.SessionRefresh, hash []byte) (row, succ *baton.RefreshToken, sess *baton.Session, err error) {
	sess, err = s.store.Session(ctx, sr.SessionID)
	if err != nil {
		return nil, nil, nil, err
	}
	row, succ, ok := sessionToken(sr, hash, sess)
	if !ok {
		return nil, nil, nil, errUnknownRefresh
	}
	return row, succ, sess, nil
}

// sessionToken is what the session's token state says of a presented
// token of the second form (its tag genuine) with hash: the token as a
// stored row would have it, and its successor; false when the session does
// not know it.
//
//   - The current generation with the current hash: unspent, no successor.
//   - The previous generation with the previous hash: spent at RotatedAt,
//     and its successor is the current token, unspent — the grace branch
//     may answer it again.
//   - Any older generation, or the previous one with another secret: spent,
//     with a spent successor — reuse. Their hashes are not kept, but the
//     tag proves baton issued that generation of this session, so whoever
//     presents it held one of its tokens (a forged tag is unknown, and the
//     session id alone, which access tokens carry, cannot end a session).
//   - Anything else (a later generation, the current one with another
//     secret, a session of the first form): unknown.
func sessionToken(sr token.SessionRefresh, hash []byte, sess *baton.Session) (row, succ *baton.RefreshToken, ok bool) {
	if sess.TokenGen == 0 || sr.Gen > sess.TokenGen {
		return nil, nil, false
	}
	issued := sess.RotatedAt
	if issued.IsZero() {
		issued = sess.CreatedAt
	}
	row = &baton.RefreshToken{Hash: hash, SessionID: sess.ID}
	switch {
	case sr.Gen == sess.TokenGen:
		if subtle.ConstantTimeCompare(hash, sess.TokenHash) != 1 {
			return nil, nil, false
		}
		row.CreatedAt = issued
		return row, nil, true
	case sr.Gen == sess.TokenGen-1 && subtle.ConstantTimeCompare(hash, sess.PrevHash) == 1:
		row.SpentAt = sess.RotatedAt
		return row, &baton.RefreshToken{Hash: sess.TokenHash, SessionID: sess.ID, CreatedAt: issued}, true
	}
	// Spent no later than the last rotation; when exactly is not kept,
	// and neither branch needs it: the successor is spent.
	row.SpentAt = sess.RotatedAt
	return row, &baton.RefreshToken{SessionID: sess.ID, SpentAt: sess.RotatedAt}, true
}
