package postgres

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// lockRevocationFeed makes the calling transaction the only one that may
// append to the revocation feed until it ends.
//
// Why: resource servers read the feed with a cursor ("entries with Seq >
// C"). Sequence values are handed out when a row is inserted, not when it
// commits, so without this lock transaction A could take seq 6, B seq 7,
// B commit first, and a reader seeing 7 would move its cursor past 6,
// which then commits and is never read: a revoked session whose tokens the
// resource server keeps accepting. Holding a transaction-level advisory
// lock from before the first nextval until commit serialises the
// appenders, so seq order is commit order (PostgreSQL makes a commit
// visible before it releases the transaction's locks). Revocations are
// rare, so the serialisation costs nothing that matters.
//
// It must be the first lock a revoking transaction takes: taking it after
// locking session rows could deadlock with another revoker that holds it
// and waits for those rows.
func lockRevocationFeed(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockRevocations)
	return err
}

// revokeSessions revokes the unrevoked sessions matching where, appends a
// revocation entry for each, and enqueues the back-channel logout tokens of
// those whose client is registered with a back-channel logout URI (a
// session of an unregistered client id, as v1's first-party clients send,
// gets none), all in the caller's transaction, which must hold
// lockRevocationFeed. Every revoking operation comes through here, so none
// can forget the tokens: they commit with the revocation. In where, $1 is
// r.Now; extra arguments are $4 on. The revocations trigger notifies
// listeners on commit. It returns the revoked ids in id order, which is
// also their feed order.
func revokeSessions(ctx context.Context, tx pgx.Tx, where string, r baton.Revoke, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, `WITH revoked AS (
		UPDATE sessions SET revoked_at = $1, revoke_reason = $2
		WHERE revoked_at IS NULL AND `+where+`
		RETURNING id, user_id, client_id
	), entries AS (
		INSERT INTO revocations (session_id, revoked_at, until)
		SELECT id, $1, $3 FROM revoked ORDER BY id COLLATE "C"
		RETURNING seq, session_id
	)
	SELECT e.session_id, r.user_id, r.client_id, coalesce(c.backchannel_logout_uri, '')
	FROM entries e JOIN revoked r ON r.id = e.session_id
		LEFT JOIN clients c ON c.id = r.client_id COLLATE "C"
	ORDER BY e.seq`,
		append([]any{ts(r.Now), r.Reason, ts(r.Until)}, args...)...)
	if err != nil {
		return nil, err
	}
	var (
		ids                       []string
		logouts                   []*baton.OutboxMessage
		id, userID, clientID, uri string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &userID, &clientID, &uri}, func() error {
		ids = append(ids, id)
		if uri != "" {
			logouts = append(logouts, baton.NewBackchannelLogout(uri, id, userID, clientID, r.Now))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := insertOutboxes(ctx, tx, logouts); err != nil {
		return nil, err
	}
	return ids, nil
}

// RevokeSession revokes the session and appends its revocation entry in one
// transaction. false when it was already revoked; ENotFound.
func (db *DB) RevokeSession(ctx context.Context, id string, r baton.Revoke) (bool, error) {
	var revoked bool
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockRevocationFeed(ctx, tx); err != nil {
			return err
		}
		ids, err := revokeSessions(ctx, tx, `id = $4`, r, id)
		if err != nil {
			return err
		}
		if revoked = len(ids) > 0; revoked {
			return nil
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1)`, id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return baton.Errorf(baton.ENotFound, "session not found")
		}
		return nil
	})
	return revoked, formatError("revoke session", err)
}

// RevokeUserSessions revokes every unrevoked session of the user but
// except, with their revocation entries, in one transaction.
func (db *DB) RevokeUserSessions(ctx context.Context, userID, except string, r baton.Revoke) ([]string, error) {
	var ids []string
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockRevocationFeed(ctx, tx); err != nil {
			return err
		}
		var err error
		ids, err = revokeSessions(ctx, tx, `user_id = $4 AND id <> $5`, r, userID, except)
		return err
	})
	if err != nil {
		return nil, formatError("revoke user sessions", err)
	}
	return ids, nil
}

// RevokeExcessSessions revokes the user's live sessions beyond the keep
// most recently used, with their revocation entries, in one transaction.
func (db *DB) RevokeExcessSessions(ctx context.Context, userID string, keep int, r baton.Revoke) ([]string, error) {
	// Every login asks, and nearly always the user is under the cap: a
	// plain read first, so such a login takes neither the revocation-feed
	// lock nor a write transaction.
	var over bool
	err := db.read(ctx, func() error {
		return db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sessions
			WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2
			OFFSET $3)`, userID, ts(r.Now), keep).Scan(&over)
	})
	if err != nil {
		return nil, formatError("revoke excess sessions", err)
	}
	if !over {
		return nil, nil
	}
	var ids []string
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockRevocationFeed(ctx, tx); err != nil {
			return err
		}
		var err error
		ids, err = revokeSessions(ctx, tx, `id IN (SELECT id FROM sessions
			WHERE user_id = $4 AND revoked_at IS NULL AND expires_at > $1 AND idle_expires_at > $1
			ORDER BY last_used_at DESC, id COLLATE "C" DESC OFFSET $5)`, r, userID, keep)
		return err
	})
	if err != nil {
		return nil, formatError("revoke excess sessions", err)
	}
	return ids, nil
}

// Revocations returns entries after the cursor whose Until is after now, in
// Seq order. Seq order is commit order (lockRevocationFeed), so a reader
// that has seen an entry has seen every entry before it.
func (db *DB) Revocations(ctx context.Context, after int64, now time.Time, limit int) ([]baton.Revocation, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []baton.Revocation
	err := db.read(ctx, func() error {
		rows, err := db.pool.Query(ctx, `SELECT seq, session_id, revoked_at, until FROM revocations
			WHERE seq > $1 AND until > $2 ORDER BY seq LIMIT $3`, after, ts(now), limit)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(row pgx.CollectableRow) (baton.Revocation, error) {
			var rv baton.Revocation
			var at, until pgtype.Timestamptz
			err := row.Scan(&rv.Seq, &rv.SessionID, &at, &until)
			rv.RevokedAt, rv.Until = fromTS(at), fromTS(until)
			return rv, err
		})
		return err
	})
	return out, formatError("list revocations", err)
}
