package postgres

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

const sessionColumns = `s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.idle_expires_at,
	s.auth_time, s.transport, s.client_id, s.user_agent, s.ip, s.binding, s.revoked_at, s.revoke_reason, s.credential_gen, s.amr,
	s.scope, s.parent, s.token_gen, s.token_hash, s.prev_hash, s.rotated_at`

// sessionScan holds the scan destinations of sessionColumns, so that a row
// with more columns (RefreshToken) can append its own.
type sessionScan struct {
	s                                              baton.Session
	created, used, exp, idle, auth, revok, rotated pgtype.Timestamptz
	amr                                            string
}

func (x *sessionScan) dest() []any {
	return []any{&x.s.ID, &x.s.UserID, &x.created, &x.used, &x.exp, &x.idle, &x.auth,
		&x.s.Transport, &x.s.ClientID, &x.s.UserAgent, &x.s.IP, &x.s.Binding, &x.revok, &x.s.RevokeReason, &x.s.CredentialGen, &x.amr,
		&x.s.Scope, &x.s.Parent, &x.s.TokenGen, &x.s.TokenHash, &x.s.PrevHash, &x.rotated}
}

// session returns the scanned session; it fails when the stored amr is
// not in baton.FormatAMR's form.
func (x *sessionScan) session() (*baton.Session, error) {
	s := x.s
	s.CreatedAt, s.LastUsedAt, s.ExpiresAt = fromTS(x.created), fromTS(x.used), fromTS(x.exp)
	s.IdleExpiresAt, s.AuthTime, s.RevokedAt = fromTS(x.idle), fromTS(x.auth), fromTS(x.revok)
	s.RotatedAt = fromTS(x.rotated)
	var err error
	if s.AMR, err = baton.ParseAMR(x.amr); err != nil {
		return nil, err
	}
	return &s, nil
}

func scanSession(row pgx.Row) (*baton.Session, error) {
	var x sessionScan
	if err := row.Scan(x.dest()...); err != nil {
		return nil, err
	}
	return x.session()
}

// CreateSession inserts s and its first refresh token in one statement (the
// token in the session row when s.TokenGen is set, else a row of its own),
// only while the user is unlocked and at s.CredentialGen and s.Parent is
// not revoked. The user's row is read FOR SHARE: a concurrent lock or
// password change either commits first (and this statement, re-checking
// the row, inserts nothing) or waits for this one, and then its revocation
// of the user's sessions sees the new one. The parent's row is locked the
// same way (FOR NO KEY UPDATE: the statement also moves its LastUsedAt),
// and RevokeSessionTree locks it before revoking the tree, so a tree
// revocation either comes first (no child is made) or sees the child.
// ENotFound when the user does not exist; EConflict when it is locked or
// moved on, the parent was revoked, or the session id or the token hash
// exists.
func (db *DB) CreateSession(ctx context.Context, s *baton.Session, tokenHash []byte) error {
	amr, err := baton.FormatAMR(s.AMR)
	if err != nil {
		return formatError("create session", err)
	}
	var inserted int64
	err = db.write(ctx, func() error {
		return db.pool.QueryRow(ctx, `WITH par AS (
			SELECT revoked_at FROM sessions WHERE $19 <> '' AND id = $19 FOR NO KEY UPDATE
		), u AS (
			SELECT id FROM users WHERE id = $2 AND locked_at IS NULL AND credential_gen = $16
				AND NOT EXISTS (SELECT 1 FROM par WHERE revoked_at IS NOT NULL) FOR SHARE
		), s AS (
			INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_expires_at, idle_hour,
				auth_time, transport, client_id, user_agent, ip, binding, revoked_at, revoke_reason, credential_gen, amr,
				scope, parent, token_gen, token_hash)
			SELECT $1, u.id, $3, $4, $5, $6, date_trunc('hour', $6::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', $7, $8, $9, $10, $11, $12, $13, $14, $16, $17, $18, $19,
				$20::bigint, CASE WHEN $20::bigint > 0 THEN $15::bytea END FROM u
			RETURNING id, created_at
		), t AS (
			INSERT INTO refresh_tokens (hash, session_id, created_at) SELECT $15, id, created_at FROM s WHERE $20::bigint = 0
			RETURNING 1
		), p AS (
			UPDATE sessions SET last_used_at = $3
			WHERE $19 <> '' AND id = $19 AND last_used_at < $3 AND EXISTS (SELECT 1 FROM s)
		)
		SELECT (SELECT count(*) FROM s)`,
			s.ID, s.UserID, ts(s.CreatedAt), ts(s.LastUsedAt), ts(s.ExpiresAt), ts(s.IdleExpiresAt),
			ts(s.AuthTime), s.Transport, s.ClientID, clean(s.UserAgent), clean(s.IP), s.Binding,
			ts(s.RevokedAt), s.RevokeReason, tokenHash, s.CredentialGen, amr, s.Scope, s.Parent, s.TokenGen).Scan(&inserted)
	})
	if err != nil {
		return formatError("create session", err)
	}
	if inserted == 1 {
		return nil
	}
	if _, err := db.UserByID(ctx, s.UserID); err != nil {
		return err
	}
	return baton.Errorf(baton.EConflict, "the user is locked or changed credentials")
}

// Session returns the session, live or not, or ENotFound.
func (db *DB) Session(ctx context.Context, id string) (*baton.Session, error) {
	var s *baton.Session
	err := db.read(ctx, func() (err error) {
		s, err = scanSession(db.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE s.id = $1`, id))
		return err
	})
	if isNoRows(err) {
		return nil, baton.Errorf(baton.ENotFound, "session not found")
	}
	return s, formatError("session", err)
}

// RefreshToken returns the token with the hash and its session, or
// ENotFound.
func (db *DB) RefreshToken(ctx context.Context, hash []byte) (*baton.RefreshToken, *baton.Session, error) {
	var (
		t       baton.RefreshToken
		s       *baton.Session
		created pgtype.Timestamptz
		spent   pgtype.Timestamptz
	)
	err := db.read(ctx, func() error {
		var x sessionScan
		dest := append(x.dest(), &t.Hash, &t.SessionID, &created, &spent)
		err := db.pool.QueryRow(ctx, `SELECT `+sessionColumns+`, t.hash, t.session_id, t.created_at, t.spent_at
			FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
			WHERE t.hash = $1`, hash).Scan(dest...)
		if err == nil {
			s, err = x.session()
		}
		return err
	})
	if isNoRows(err) {
		return nil, nil, baton.Errorf(baton.ENotFound, "refresh token not found")
	}
	if err != nil {
		return nil, nil, formatError("refresh token", err)
	}
	t.CreatedAt, t.SpentAt = fromTS(created), fromTS(spent)
	return &t, s, nil
}

// rotateTailSQL is the end of both rotation statements, after a CTE spent
// that returns the session_id of the token it spent: touched slides the
// session ($3 now, $4 its idle expiry, never past the absolute one, $5 and
// $6 the client), inserted stores the successor ($2). idle_hour is the
// idle expiry's hour (UTC), the coarse copy that sessions_prune_idx covers:
// it changes at most once an hour, so this update of the session is HOT
// (migration 14) and writes no index entry.
const rotateTailSQL = `), touched AS (
	UPDATE sessions s SET last_used_at = $3, idle_expires_at = LEAST($4, s.expires_at),
		idle_hour = date_trunc('hour', LEAST($4, s.expires_at) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
		user_agent = $5, ip = $6
	FROM spent, users u
	WHERE s.id = spent.session_id AND s.revoked_at IS NULL
		AND u.id = s.user_id AND u.locked_at IS NULL AND u.credential_gen = s.credential_gen
	RETURNING s.id
), inserted AS (
	INSERT INTO refresh_tokens (hash, session_id, created_at)
	SELECT $2, id, $3 FROM touched
	RETURNING 1
)
`

// rotateSQL is the whole rotation in one statement, so a refresh costs one
// round trip (RFC 9700 §4.14.2: the refresh token is invalidated as it is
// rotated). Its data-modifying CTEs run on one snapshot, and each feeds the
// next, which orders them:
//
//  1. spent: the compare-and-set. Of concurrent rotations of one token the
//     first takes the row lock; under READ COMMITTED the others wait,
//     re-check "spent_at IS NULL" on the committed row, and update nothing.
//  2. touched: slides the session, only if it is not revoked and its user
//     is unlocked and still at the session's credential generation. The
//     row lock makes this wait for, and then re-check after, a revocation
//     that is committing at the same time.
//  3. inserted: the new token, only if the session was touched.
//
// The result is the number of rows spent and inserted: (1, 1) is success;
// (1, 0) means the session is revoked or its user locked or moved on (the
// old token is then left spent,
// which the interface allows); (0, 0) needs a second query to tell a spent
// token from an unknown one. The session id ($7) is part of the CAS: a
// token is only ever rotated within its own session, whatever the caller
// passes.
const rotateSQL = `WITH spent AS (
	UPDATE refresh_tokens SET spent_at = $3
	WHERE hash = $1 AND session_id = $7 AND spent_at IS NULL
	RETURNING session_id
` + rotateTailSQL + `SELECT (SELECT count(*) FROM spent), (SELECT count(*) FROM inserted)`

// Rotate spends r.OldHash and stores r.NewHash as the session's current
// token in one statement. nil, or EConflict (the old token was spent, or its
// session revoked), or ENotFound (no such token, or it belongs to another
// session than r.SessionID). Of concurrent rotations of one token exactly
// one succeeds; the others get EConflict.
func (db *DB) Rotate(ctx context.Context, r baton.Rotation) error {
	var spent, inserted int64
	// A single statement in its own transaction: retried only when nothing
	// of it was applied (a deadlock with Prune, a connection that failed
	// before sending it).
	err := db.write(ctx, func() error {
		return db.pool.QueryRow(ctx, rotateSQL, r.OldHash, r.NewHash, ts(r.Now), ts(r.IdleExpiresAt),
			clean(r.UserAgent), clean(r.IP), r.SessionID).Scan(&spent, &inserted)
	})
	switch {
	case err != nil:
		return formatError("rotate refresh token", err)
	case spent == 1 && inserted == 1:
		return nil
	case spent == 1:
		return baton.Errorf(baton.EConflict, "session is revoked")
	}
	// Failure path: the token was not there unspent. Tell which.
	var isSpent bool
	var sessionID string
	err = db.read(ctx, func() error {
		return db.pool.QueryRow(ctx, `SELECT spent_at IS NOT NULL, session_id FROM refresh_tokens WHERE hash = $1`,
			r.OldHash).Scan(&isSpent, &sessionID)
	})
	switch {
	case isNoRows(err):
		return baton.Errorf(baton.ENotFound, "refresh token not found")
	case err != nil:
		return formatError("rotate refresh token", err)
	case sessionID != r.SessionID:
		return baton.Errorf(baton.ENotFound, "refresh token not found in session")
	case isSpent:
		return baton.Errorf(baton.EConflict, "refresh token already spent")
	}
	// Unspent now but not when the statement ran: a token with this hash was
	// inserted meanwhile. Nothing was changed; the caller may retry.
	return baton.Errorf(baton.EConflict, "refresh token changed concurrently")
}

// rotateRefreshSQL is RotateRefresh: the read of the presented token with
// its session, the engine's checks that need only those rows (the gate),
// and rotateSQL's compare-and-set, in one statement and so one round trip.
// cur reads the token, its session and the gate's verdict, ok; spent
// spends the token only when ok (and re-checks "spent_at IS NULL" on the
// locked row, so of concurrent rotations one wins); touched and inserted
// are rotateSQL's. The final row is cur as read before the statement
// changed anything, the number of rows inserted (1: rotated), and the
// successor ($2) as it was, for the grace branch. No row: no such token.
// As in rotateSQL, a revocation that commits between the snapshot and
// touched's row lock leaves the token spent and nothing inserted.
//
// The gate is compared with plain equality, not in constant time: the
// session id comes from a signed access token, the binding is a public
// key's thumbprint and the client id is public.
const rotateRefreshSQL = `WITH cur AS (
	SELECT ` + sessionColumns + `, t.hash, t.session_id, t.created_at AS token_created, t.spent_at,
		t.spent_at IS NULL AND s.revoked_at IS NULL AND s.expires_at > $3 AND s.idle_expires_at > $3
			AND s.transport <> '` + baton.TransportSSO + `'
			AND ($7::text = '' OR s.id = $7::text)
			AND (s.binding = '' OR s.binding = $8::text)
			AND CASE WHEN $9::text = '' THEN s.scope = '' ELSE s.scope <> '' AND s.client_id = $9::text END
			AND EXISTS (SELECT 1 FROM users u
				WHERE u.id = s.user_id AND u.locked_at IS NULL AND u.credential_gen = s.credential_gen) AS ok
	FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
	WHERE t.hash = $1
), spent AS (
	UPDATE refresh_tokens t SET spent_at = $3
	FROM cur WHERE t.hash = $1 AND cur.ok AND t.spent_at IS NULL
	RETURNING t.session_id
` + rotateTailSQL + `SELECT cur.*, (SELECT count(*) FROM inserted), succ.hash IS NOT NULL, succ.created_at, succ.spent_at
FROM cur LEFT JOIN refresh_tokens succ ON succ.hash = $2`

// RotateRefresh is baton.RefreshRotator: a refresh in one round trip (see
// rotateRefreshSQL).
func (db *DB) RotateRefresh(ctx context.Context, r baton.Rotation, g baton.RotationGate) (*baton.RefreshRotated, error) {
	var (
		out                                    baton.RefreshRotated
		t                                      baton.RefreshToken
		created, spent, succCreated, succSpent pgtype.Timestamptz
		ok, hasSucc                            bool
		inserted                               int64
		sess                                   *baton.Session
	)
	// One statement in its own transaction: retried only when nothing of
	// it was applied, as Rotate.
	err := db.write(ctx, func() error {
		var x sessionScan
		dest := append(x.dest(), &t.Hash, &t.SessionID, &created, &spent, &ok, &inserted, &hasSucc, &succCreated, &succSpent)
		err := db.pool.QueryRow(ctx, rotateRefreshSQL, r.OldHash, r.NewHash, ts(r.Now), ts(r.IdleExpiresAt),
			clean(r.UserAgent), clean(r.IP), g.SessionID, g.Binding, g.ClientID).Scan(dest...)
		if err == nil {
			sess, err = x.session()
		}
		return err
	})
	if isNoRows(err) {
		return nil, baton.Errorf(baton.ENotFound, "refresh token not found")
	}
	if err != nil {
		return nil, formatError("rotate refresh token", err)
	}
	t.CreatedAt, t.SpentAt = fromTS(created), fromTS(spent)
	out.Token, out.Session, out.Rotated = &t, sess, inserted == 1
	if hasSucc {
		out.Successor = &baton.RefreshToken{Hash: r.NewHash, SessionID: t.SessionID,
			CreatedAt: fromTS(succCreated), SpentAt: fromTS(succSpent)}
	}
	return &out, nil
}

// rotateSessionsSQL is RotateSession for a set of sessions, each at most
// once: the gate of rotateRefreshSQL on the session row alone, and the
// compare-and-set on its generation, in one statement for the whole set
// (rotations.go sends a group as one such statement). The arrays $1-$11
// hold one rotation per index; i numbers them (n, from 1). cur reads each
// session and its verdict on the snapshot; the update re-checks the
// generation, the hash and the revocation on the row it locks (under READ
// COMMITTED a concurrent rotation or revocation commits first and this
// one, re-reading the row, updates nothing), so of concurrent rotations of
// one generation one wins. The update writes only columns no index
// covers, and idle_hour changes at most once an hour: it is HOT, one new
// row version on the same page and nothing else. A row per session found:
// n, the session as it was, the verdict, and whether it was rotated.
//
// One statement for the set, not one per rotation: PostgreSQL's executor
// set-up of this statement (opening its relations and indexes, building
// its expressions) cost more than running it for one row, and a group
// pays it once (BENCHMARKS.md). The arrays reach unnest through a
// materialized CTE, a fence the planner does not look through: seeing
// their length, it estimated each custom plan for the group's size, found
// the generic plan (sized for no group in particular) dearer, and planned
// the statement anew every time, which took twice as long as running it.
// Not seeing it, every plan costs the same, and from the sixth execution
// on a connection the generic plan is kept.
const rotateSessionsSQL = `WITH a AS MATERIALIZED (
	SELECT $1::text[] a1, $2::bytea[] a2, $3::bytea[] a3, $4::timestamptz[] a4, $5::timestamptz[] a5,
		$6::text[] a6, $7::int8[] a7, $8::text[] a8, $9::text[] a9, $10::text[] a10, $11::text[] a11
), i AS (
	SELECT i.* FROM a, unnest(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) WITH ORDINALITY
		AS i(id, old_hash, new_hash, now, idle, user_agent, gen, gate_session, binding, client_id, ip, n)
), cur AS (
	SELECT i.n, ` + sessionColumns + `,
		s.token_gen = i.gen AND s.token_hash IS NOT NULL AND s.token_hash = i.old_hash
			AND s.revoked_at IS NULL AND s.expires_at > i.now AND s.idle_expires_at > i.now
			AND s.transport <> '` + baton.TransportSSO + `'
			AND (i.gate_session = '' OR s.id = i.gate_session)
			AND (s.binding = '' OR s.binding = i.binding)
			AND CASE WHEN i.client_id = '' THEN s.scope = '' ELSE s.scope <> '' AND s.client_id = i.client_id END
			AND EXISTS (SELECT 1 FROM users u
				WHERE u.id = s.user_id AND u.locked_at IS NULL AND u.credential_gen = s.credential_gen) AS ok
	FROM i JOIN sessions s ON s.id = i.id
), rotated AS (
	UPDATE sessions s SET token_gen = i.gen + 1, prev_hash = i.old_hash, token_hash = i.new_hash,
		rotated_at = i.now, last_used_at = i.now, idle_expires_at = LEAST(i.idle, s.expires_at),
		idle_hour = date_trunc('hour', LEAST(i.idle, s.expires_at) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
		user_agent = i.user_agent, ip = i.ip
	FROM cur JOIN i ON i.n = cur.n
	WHERE s.id = cur.id AND cur.ok AND s.token_gen = i.gen AND s.token_hash = i.old_hash AND s.revoked_at IS NULL
	RETURNING s.id
)
SELECT cur.*, r.id IS NOT NULL FROM cur LEFT JOIN rotated r ON r.id = cur.id`

// Sessions lists a page of the user's live sessions at now, most recently
// used first.
func (db *DB) Sessions(ctx context.Context, userID string, now time.Time, page baton.SessionPage) ([]*baton.Session, error) {
	if page.Limit <= 0 {
		return nil, nil
	}
	var ss []*baton.Session
	err := db.read(ctx, func() error {
		rows, err := db.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions s
			WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.idle_expires_at > $2
				AND ($3 = '' OR (s.last_used_at, s.id COLLATE "C") < ($4, $3 COLLATE "C"))
			ORDER BY s.last_used_at DESC, s.id COLLATE "C" DESC LIMIT $5`,
			userID, ts(now), page.AfterID, ts(page.AfterUsed), page.Limit)
		if err != nil {
			return err
		}
		ss, err = collect(rows, func(row pgx.CollectableRow) (*baton.Session, error) { return scanSession(row) })
		return err
	})
	return ss, formatError("list sessions", err)
}

// Prune deletes at most limit rows in all per call, so that one call holds
// few locks and writes little WAL. The budget is spent in an order that
// keeps the result honest: a total below limit means every stage finished.
// The tokens of dead sessions go before the sessions, and only sessions
// without tokens left are deleted, so the cascade never deletes rows beyond
// the budget or uncounted. Each stage is its own statement: a prune
// interrupted between them has deleted nothing that matters.
func (db *DB) Prune(ctx context.Context, now, olderThan time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	// LEAST ignores NULLs: the session died at the earliest of its absolute
	// expiry, idle expiry and revocation. sessions_prune_idx has the hour
	// of the idle expiry in its place (migration 14), which is never later:
	// the first condition finds the candidates by the index, the second
	// keeps those that died before $1.
	const deadBefore = `LEAST(s.expires_at, s.idle_hour, s.revoked_at) < $1
			AND LEAST(s.expires_at, s.idle_expires_at, s.revoked_at) < $1`
	stages := []struct {
		op, sql string
		before  time.Time
	}{
		{"prune revocations", `DELETE FROM revocations WHERE seq IN (
			SELECT seq FROM revocations WHERE until < $1 LIMIT $2)`, now},
		{"prune rate limits", `DELETE FROM rate_limits WHERE key IN (
			SELECT key FROM rate_limits WHERE tat < $1 LIMIT $2)`, now},
		{"prune dpop proofs", `DELETE FROM dpop_jtis WHERE id IN (
			SELECT id FROM dpop_jtis WHERE expires_at < $1 LIMIT $2)`, now},
		{"prune spent tokens", `DELETE FROM refresh_tokens WHERE hash IN (
			SELECT hash FROM refresh_tokens WHERE spent_at < $1 LIMIT $2)`, olderThan},
		// Emptied sessions go first, so the token stage never rescans
		// sessions whose tokens an earlier call already removed.
		{"prune sessions", `DELETE FROM sessions WHERE id IN (
			SELECT s.id FROM sessions s
			WHERE ` + deadBefore + `
			AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id)
			LIMIT $2)`, olderThan},
		{"prune tokens of dead sessions", `DELETE FROM refresh_tokens WHERE hash IN (
			SELECT t.hash FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id
			WHERE ` + deadBefore + ` LIMIT $2)`, olderThan},
		// Messages sent or given up (outbox_done_idx); queued ones stay.
		{"prune outbox", `DELETE FROM outbox WHERE id IN (
			SELECT id FROM outbox WHERE coalesce(sent_at, gave_up_at) < $1 LIMIT $2)`, olderThan},
		// Links spent or expired before (links_spent_at_idx,
		// links_expires_at_idx); live ones stay.
		{"prune links", `DELETE FROM links WHERE id IN (
			SELECT id FROM links WHERE spent_at < $1 OR expires_at < $1 LIMIT $2)`, olderThan},
		// Challenges likewise (challenges_spent_at_idx,
		// challenges_expires_at_idx).
		{"prune challenges", `DELETE FROM challenges WHERE id IN (
			SELECT id FROM challenges WHERE spent_at < $1 OR expires_at < $1 LIMIT $2)`, olderThan},
	}
	total := 0
	for _, st := range stages {
		left := limit - total
		if left == 0 {
			break
		}
		n, err := db.pruneStage(ctx, st.sql, st.before, left)
		if err != nil {
			return total, formatError(st.op, err)
		}
		total += n
	}
	return total, nil
}

// pruneStage runs one stage. A deadlock with a rotation in a session being
// pruned rolls the statement back; write runs it again.
func (db *DB) pruneStage(ctx context.Context, sql string, before time.Time, limit int) (int, error) {
	var tag pgconn.CommandTag
	err := db.write(ctx, func() (err error) {
		tag, err = db.pool.Exec(ctx, sql, ts(before), limit)
		return err
	})
	return int(tag.RowsAffected()), err
}
