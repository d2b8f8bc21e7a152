package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/batonauth/baton"
)

const sessionColumns = `id, user_id, created_at, last_used_at, expires_at, idle_expires_at, auth_time,
	transport, client_id, user_agent, ip, binding, revoked_at, revoke_reason, credential_gen, amr, scope, parent,
	token_gen, token_hash, prev_hash, rotated_at`

// sessionDest returns the scan destinations of sessionColumns in s.
func sessionDest(s *baton.Session) []any {
	return []any{&s.ID, &s.UserID, scanTime{&s.CreatedAt}, scanTime{&s.LastUsedAt},
		scanTime{&s.ExpiresAt}, scanTime{&s.IdleExpiresAt}, scanTime{&s.AuthTime},
		&s.Transport, &s.ClientID, &s.UserAgent, &s.IP, &s.Binding,
		scanTime{&s.RevokedAt}, &s.RevokeReason, &s.CredentialGen, scanAMR{&s.AMR}, &s.Scope, &s.Parent,
		&s.TokenGen, &s.TokenHash, &s.PrevHash, scanTime{&s.RotatedAt}}
}

// scanAMR reads the amr column (baton.FormatAMR's form), refusing what
// baton.ParseAMR refuses.
type scanAMR struct{ p *[]string }

func (s scanAMR) Scan(v any) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("scan amr: unexpected %T", v)
	}
	amr, err := baton.ParseAMR(str)
	if err != nil {
		return err
	}
	*s.p = amr
	return nil
}

var (
	errSessionNotFound = baton.Errorf(baton.ENotFound, "session not found")
	errTokenNotFound   = baton.Errorf(baton.ENotFound, "refresh token not found")
	errTokenSpent      = baton.Errorf(baton.EConflict, "refresh token already spent")
	errSessionRevoked  = baton.Errorf(baton.EConflict, "session revoked, or its user locked or at another credential generation")
	errUserMovedOn     = baton.Errorf(baton.EConflict, "the user is locked or changed credentials")
)

// CreateSession inserts s and its first refresh token, created at
// s.CreatedAt (in the session row when s.TokenGen is set, else a row of its
// own), only while the user is unlocked and at s.CredentialGen and
// s.Parent is not revoked: the INSERT … SELECT is the compare-and-set (the
// single writer orders it with RevokeSessionTree). ENotFound when the user
// does not exist; EConflict when it is locked or moved on, or the parent
// was revoked.
func (db *DB) CreateSession(ctx context.Context, s *baton.Session, tokenHash []byte) error {
	amr, err := baton.FormatAMR(s.AMR)
	if err != nil {
		return formatError("create session", err)
	}
	return db.write(ctx, "create session", func(tx *tx) error {
		n, err := tx.execN(`INSERT INTO sessions (`+sessionColumns+`)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL
			WHERE EXISTS (SELECT 1 FROM users WHERE id = ? AND locked_at IS NULL AND credential_gen = ?)
			AND NOT EXISTS (SELECT 1 FROM sessions WHERE id = ? AND revoked_at IS NOT NULL)`,
			s.ID, s.UserID, timeArg(s.CreatedAt), timeArg(s.LastUsedAt),
			timeArg(s.ExpiresAt), timeArg(s.IdleExpiresAt), timeArg(s.AuthTime),
			s.Transport, s.ClientID, s.UserAgent, s.IP, s.Binding,
			timeArg(s.RevokedAt), s.RevokeReason, s.CredentialGen, amr, s.Scope, s.Parent,
			s.TokenGen, sessionTokenHash(s, tokenHash), s.UserID, s.CredentialGen, s.Parent)
		if err != nil {
			return err
		}
		if n == 0 {
			var one int
			if err := tx.queryRow(`SELECT 1 FROM users WHERE id = ?`, s.UserID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return errUserNotFound
			} else if err != nil {
				return err
			}
			return errUserMovedOn
		}
		if s.TokenGen == 0 {
			if err := tx.exec(`INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?)`,
				tokenHash, s.ID, timeArg(s.CreatedAt)); err != nil {
				return err
			}
		}
		if s.Parent == "" {
			return nil
		}
		return tx.exec(`UPDATE sessions SET last_used_at = ? WHERE id = ? AND last_used_at < ?`,
			timeArg(s.CreatedAt), s.Parent, timeArg(s.CreatedAt))
	})
}

// Session returns the session, live or not, or ENotFound.
func (db *DB) Session(ctx context.Context, id string) (*baton.Session, error) {
	s := new(baton.Session)
	err := db.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id).Scan(sessionDest(s)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errSessionNotFound
	}
	if err != nil {
		return nil, formatError("session", err)
	}
	return s, nil
}

// RefreshToken returns the token with the hash and its session, read in one
// statement so both come from the same snapshot. ENotFound.
func (db *DB) RefreshToken(ctx context.Context, hash []byte) (*baton.RefreshToken, *baton.Session, error) {
	t := new(baton.RefreshToken)
	s := new(baton.Session)
	dest := append([]any{&t.Hash, &t.SessionID, scanTime{&t.CreatedAt}, scanTime{&t.SpentAt}}, sessionDest(s)...)
	err := db.queryRow(ctx, `SELECT t.hash, t.session_id, t.created_at, t.spent_at, s.*
		FROM refresh_tokens t JOIN (SELECT `+sessionColumns+` FROM sessions) s ON s.id = t.session_id
		WHERE t.hash = ?`, hash).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, errTokenNotFound
	}
	if err != nil {
		return nil, nil, formatError("refresh token", err)
	}
	return t, s, nil
}

// Rotate spends r.OldHash and stores r.NewHash as the session's current
// token (RFC 9700 §4.14.2: refresh token rotation). The spend is the
// compare-and-set "spent_at IS NULL"; the single writer already serialises
// rotations of this process, and the CAS is what keeps them correct against
// other processes sharing the file. Every step runs in the op's savepoint,
// so an EConflict leaves nothing changed, the old token included.
func (db *DB) Rotate(ctx context.Context, r baton.Rotation) error {
	return db.write(ctx, "rotate refresh token", func(tx *tx) error {
		now := timeArg(r.Now)
		// The session id is part of the CAS: a token is only ever rotated
		// within its own session, whatever the caller passes.
		n, err := tx.execN(`UPDATE refresh_tokens SET spent_at = ?
			WHERE hash = ? AND session_id = ? AND spent_at IS NULL`, now, r.OldHash, r.SessionID)
		if err != nil {
			return err
		}
		if n == 0 {
			var sessionID string
			err := tx.queryRow(`SELECT session_id FROM refresh_tokens WHERE hash = ?`, r.OldHash).Scan(&sessionID)
			switch {
			case errors.Is(err, sql.ErrNoRows), err == nil && sessionID != r.SessionID:
				return errTokenNotFound
			case err != nil:
				return err
			}
			return errTokenSpent
		}
		n, err = tx.execN(`UPDATE sessions SET last_used_at = ?, idle_expires_at = ?, user_agent = ?, ip = ?
			WHERE id = ? AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM users u
				WHERE u.id = sessions.user_id AND u.locked_at IS NULL AND u.credential_gen = sessions.credential_gen)`,
			now, timeArg(r.IdleExpiresAt), r.UserAgent, r.IP, r.SessionID)
		if err != nil {
			return err
		}
		if n == 0 {
			// The token exists, so its session does (foreign key): revoked,
			// or its user locked or moved on. Returning the error rolls the
			// savepoint back, the spend included.
			return errSessionRevoked
		}
		return tx.exec(`INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?)`,
			r.NewHash, r.SessionID, now)
	})
}

// sessionTokenHash is the token_hash column of a new session: its first
// token's hash when the session holds its token state, else NULL.
func sessionTokenHash(s *baton.Session, tokenHash []byte) []byte {
	if s.TokenGen == 0 {
		return nil
	}
	return tokenHash
}

// RotateSession is baton.SessionStore's: a rotation of a token that names
// its session. The session is read and updated inside one write
// transaction, so the gate is decided on the row the update changes; the
// update is still the compare-and-set on the generation and the hash (the
// single writer serialises this process's writes, the CAS keeps them
// correct against other processes sharing the file).
func (db *DB) RotateSession(ctx context.Context, r baton.Rotation, g baton.RotationGate) (*baton.Session, bool, error) {
	var (
		sess    *baton.Session
		rotated bool
	)
	err := db.write(ctx, "rotate session", func(tx *tx) error {
		s := new(baton.Session)
		var userOK bool
		err := tx.queryRow(`SELECT `+sessionColumns+`, EXISTS (SELECT 1 FROM users u
				WHERE u.id = sessions.user_id AND u.locked_at IS NULL AND u.credential_gen = sessions.credential_gen)
			FROM sessions WHERE id = ?`, r.SessionID).Scan(append(sessionDest(s), &userOK)...)
		if errors.Is(err, sql.ErrNoRows) {
			return errSessionNotFound
		} else if err != nil {
			return err
		}
		sess, rotated = s, false
		if !userOK || !gateHolds(s, r, g) {
			return nil
		}
		now := timeArg(r.Now)
		n, err := tx.execN(`UPDATE sessions SET token_gen = ?, prev_hash = token_hash, token_hash = ?, rotated_at = ?,
				last_used_at = ?, idle_expires_at = min(?, expires_at), user_agent = ?, ip = ?
			WHERE id = ? AND token_gen = ? AND token_hash = ? AND revoked_at IS NULL`,
			r.Gen+1, r.NewHash, now, now, timeArg(r.IdleExpiresAt), r.UserAgent, r.IP,
			r.SessionID, r.Gen, r.OldHash)
		rotated = n == 1
		return err
	})
	if err != nil {
		return nil, false, formatError("rotate session", err)
	}
	return sess, rotated, nil
}

// gateHolds tells whether the session s, read in the rotating transaction,
// may rotate r under g (baton.RotationGate; the user was checked with it).
func gateHolds(s *baton.Session, r baton.Rotation, g baton.RotationGate) bool {
	issued := s.Scope != ""
	return s.TokenGen == r.Gen && bytes.Equal(s.TokenHash, r.OldHash) &&
		s.RevokedAt.IsZero() && r.Now.Before(s.ExpiresAt) && r.Now.Before(s.IdleExpiresAt) &&
		s.Transport != baton.TransportSSO &&
		(g.SessionID == "" || g.SessionID == s.ID) &&
		(s.Binding == "" || s.Binding == g.Binding) &&
		issued == (g.ClientID != "") && (!issued || s.ClientID == g.ClientID)
}

// Sessions lists a page of the user's live sessions at now, most recently
// used first.
func (db *DB) Sessions(ctx context.Context, userID string, now time.Time, page baton.SessionPage) ([]*baton.Session, error) {
	if page.Limit <= 0 {
		return nil, nil
	}
	n := now.UnixMicro()
	rows, err := db.query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?
			AND (? = '' OR last_used_at < ? OR (last_used_at = ? AND id < ?))
		ORDER BY last_used_at DESC, id DESC LIMIT ?`, userID, n, n,
		page.AfterID, timeArg(page.AfterUsed), timeArg(page.AfterUsed), page.AfterID, page.Limit)
	if err != nil {
		return nil, formatError("list sessions", err)
	}
	defer rows.Close()
	var sessions []*baton.Session
	for rows.Next() {
		s := new(baton.Session)
		if err := rows.Scan(sessionDest(s)...); err != nil {
			return nil, formatError("list sessions", err)
		}
		sessions = append(sessions, s)
	}
	return sessions, formatError("list sessions", rows.Err())
}

// RevokeSession revokes the session and appends its revocation entry.
// false when it was already revoked; ENotFound.
func (db *DB) RevokeSession(ctx context.Context, id string, r baton.Revoke) (bool, error) {
	var revoked bool
	err := db.write(ctx, "revoke session", func(tx *tx) error {
		ids, err := revokeWhere(tx, `id = ?`, r, id)
		if err != nil {
			return err
		}
		if revoked = len(ids) > 0; revoked {
			return nil
		}
		var one int
		err = tx.queryRow(`SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errSessionNotFound
		}
		return err
	})
	if err != nil {
		return false, err
	}
	return revoked, nil
}

// RevokeUserSessions revokes the user's unrevoked sessions but except.
func (db *DB) RevokeUserSessions(ctx context.Context, userID, except string, r baton.Revoke) ([]string, error) {
	var ids []string
	err := db.write(ctx, "revoke user sessions", func(tx *tx) error {
		var err error
		ids, err = revokeSessions(tx, userID, except, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// RevokeExcessSessions revokes the user's live sessions beyond the keep
// most recently used.
func (db *DB) RevokeExcessSessions(ctx context.Context, userID string, keep int, r baton.Revoke) ([]string, error) {
	// Every login asks, and nearly always the user is under the cap: count
	// on the read pool first, so such a login does not queue behind the
	// writer a second time.
	var over bool
	n := r.Now.UnixMicro()
	if err := db.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions
			WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?
			LIMIT 1 OFFSET ?)`, userID, n, n, keep).Scan(&over); err != nil {
		return nil, formatError("revoke excess sessions", err)
	}
	if !over {
		return nil, nil
	}
	var ids []string
	err := db.write(ctx, "revoke excess sessions", func(tx *tx) error {
		n := r.Now.UnixMicro()
		var err error
		ids, err = revokeWhere(tx, `id IN (SELECT id FROM sessions
			WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?
			ORDER BY last_used_at DESC, id DESC LIMIT -1 OFFSET ?)`, r, userID, n, n, keep)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// revokeSessions revokes every unrevoked session of the user but except and
// appends their revocation entries, in id order.
func revokeSessions(tx *tx, userID, except string, r baton.Revoke) ([]string, error) {
	return revokeWhere(tx, `user_id = ? AND id <> ?`, r, userID, except)
}

// revokeWhere revokes the unrevoked sessions matching where (whose
// placeholders args fill), appends their revocation entries, in id order,
// and enqueues the back-channel logout tokens of those whose client has a
// back-channel logout URI. Every revoking operation comes through here, so
// none can forget the tokens (invariant: the message commits with the
// revocation that causes it).
func revokeWhere(tx *tx, where string, r baton.Revoke, args ...any) ([]string, error) {
	rows, err := tx.query(`UPDATE sessions SET revoked_at = ?, revoke_reason = ?
		WHERE revoked_at IS NULL AND `+where+` RETURNING id, user_id, client_id`,
		append([]any{timeArg(r.Now), r.Reason}, args...)...)
	if err != nil {
		return nil, err
	}
	var revoked []revokedSession
	for rows.Next() {
		var s revokedSession
		if err := rows.Scan(&s.id, &s.userID, &s.clientID); err != nil {
			rows.Close()
			return nil, err
		}
		revoked = append(revoked, s)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(revoked, func(a, b revokedSession) int { return strings.Compare(a.id, b.id) })
	ids := make([]string, 0, len(revoked))
	for _, s := range revoked {
		if err := appendRevocation(tx, s.id, r); err != nil {
			return nil, err
		}
		ids = append(ids, s.id)
	}
	if err := enqueueBackchannelLogouts(tx, revoked, r.Now); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, nil
}

// revokedSession is what revokeWhere needs of a session it revoked.
type revokedSession struct{ id, userID, clientID string }

// enqueueBackchannelLogouts stores a logout token message for each revoked
// session whose client is registered with a back-channel logout URI. A
// session of an unregistered client id (v1's first-party clients send any)
// gets none. Each client is looked up once.
func enqueueBackchannelLogouts(tx *tx, revoked []revokedSession, now time.Time) error {
	uris := make(map[string]string)
	for _, s := range revoked {
		uri, seen := uris[s.clientID]
		if !seen {
			err := tx.queryRow(`SELECT backchannel_logout_uri FROM clients WHERE id = ?`, s.clientID).Scan(&uri)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			uris[s.clientID] = uri
		}
		if uri == "" {
			continue
		}
		if err := insertOutbox(tx, baton.NewBackchannelLogout(uri, s.id, s.userID, s.clientID, now)); err != nil {
			return err
		}
	}
	return nil
}

func appendRevocation(tx *tx, sessionID string, r baton.Revoke) error {
	return tx.exec(`INSERT INTO revocations (session_id, revoked_at, until) VALUES (?, ?, ?)`,
		sessionID, timeArg(r.Now), timeArg(r.Until))
}

// Revocations returns the entries after the cursor whose Until is after now.
func (db *DB) Revocations(ctx context.Context, after int64, now time.Time, limit int) ([]baton.Revocation, error) {
	rows, err := db.query(ctx, `SELECT seq, session_id, revoked_at, until FROM revocations
		WHERE seq > ? AND until > ? ORDER BY seq LIMIT ?`, after, now.UnixMicro(), limit)
	if err != nil {
		return nil, formatError("list revocations", err)
	}
	defer rows.Close()
	var revs []baton.Revocation
	for rows.Next() {
		var r baton.Revocation
		if err := rows.Scan(&r.Seq, &r.SessionID, scanTime{&r.RevokedAt}, scanTime{&r.Until}); err != nil {
			return nil, formatError("list revocations", err)
		}
		revs = append(revs, r)
	}
	return revs, formatError("list revocations", rows.Err())
}

// Prune deletes at most limit rows in all per call, so one call holds the
// writer (and every rotation queued behind it) for a bounded time. The
// budget is spent in an order that keeps the result honest: a total below
// limit means every stage finished. Tokens of dead sessions go before the
// sessions, and only sessions without tokens left are deleted, so the
// cascade never deletes rows beyond the budget or uncounted.
func (db *DB) Prune(ctx context.Context, now, olderThan time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var total int
	err := db.write(ctx, "prune", func(tx *tx) error {
		total = 0
		old := olderThan.UnixMicro()
		stages := []struct {
			query string
			args  []any
		}{
			{`DELETE FROM revocations WHERE seq IN (
				SELECT seq FROM revocations WHERE until < ? LIMIT ?)`,
				[]any{now.UnixMicro()}},
			{`DELETE FROM refresh_tokens WHERE hash IN (
				SELECT hash FROM refresh_tokens WHERE spent_at < ? LIMIT ?)`,
				[]any{old}},
			// Emptied sessions go first, so the token stage never rescans
			// sessions whose tokens an earlier call already removed.
			{`DELETE FROM sessions WHERE id IN (
				SELECT s.id FROM sessions s
				WHERE (s.revoked_at < ?1 OR min(s.expires_at, s.idle_expires_at) < ?1)
				AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id)
				LIMIT ?2)`,
				[]any{old}},
			{`DELETE FROM refresh_tokens WHERE hash IN (
				SELECT t.hash FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id
				WHERE s.revoked_at < ?1 OR min(s.expires_at, s.idle_expires_at) < ?1 LIMIT ?2)`,
				[]any{old}},
			// Messages sent or given up (outbox_done_at); queued ones stay.
			{`DELETE FROM outbox WHERE id IN (
				SELECT id FROM outbox WHERE coalesce(sent_at, gave_up_at) < ? LIMIT ?)`,
				[]any{old}},
			// Links spent or expired before (links_spent_at,
			// links_expires_at); live ones stay.
			{`DELETE FROM links WHERE id IN (
				SELECT id FROM links WHERE spent_at < ?1 OR expires_at < ?1 LIMIT ?2)`,
				[]any{old}},
			// Challenges likewise (challenges_spent_at,
			// challenges_expires_at).
			{`DELETE FROM challenges WHERE id IN (
				SELECT id FROM challenges WHERE spent_at < ?1 OR expires_at < ?1 LIMIT ?2)`,
				[]any{old}},
		}
		for _, st := range stages {
			left := limit - total
			if left == 0 {
				break
			}
			n, err := tx.execN(st.query, append(st.args, left)...)
			if err != nil {
				return err
			}
			total += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}
