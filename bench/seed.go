package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/token"
	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the seeding connection to the embedded store
)

// benchPassword is every seeded user's password.
const benchPassword = "bench load password 2026"

func parseURL(s string) (*url.URL, error) { return url.Parse(s) }

func userName(i int) string { return fmt.Sprintf("bench%06d", i) }

// seedHash is one real argon2id hash of benchPassword with the server's
// default parameters. Every seeded user shares it (and its salt): logins
// still pay the full hash, while seeding n users costs one hash instead of
// n (~20 ms each).
func seedHash(ctx context.Context) (string, error) {
	return password.NewHasher(password.DefaultParams, 1).Hash(ctx, benchPassword)
}

// seed inserts users bench000000… and, when sessions > 0, that many filler
// sessions (each with its own user and one unspent refresh token whose
// secret nobody knows) straight into the store, before the server starts.
//
// Each of vuTokens becomes the current refresh token of a session of its
// own (virtual user i gets session bench-sess-i of user i % users): the
// virtual users of refresh, me and mixed start with a session without a
// login, so set-up costs the server no argon2id hash and its memory
// figures are those of the load alone. When the schema keeps the token
// state in the session row (migration 15 on PostgreSQL, 11 on SQLite)
// each token is replaced, in place, by one that names its session, made
// under a rotation key the seeder stores (the server keeps the one it
// finds).
func seed(ctx context.Context, b *backend, users, sessions int, vuTokens []string) error {
	hash, err := seedHash(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if b.store == "postgres" {
		return seedPostgres(ctx, b.pgURL, hash, now, users, sessions, vuTokens)
	}
	return seedSQLite(ctx, filepath.Join(b.dataDir, "baton.db"), hash, now, users, sessions, vuTokens)
}

// vuSession returns the session id and user id of virtual user i.
func vuSession(i, users int) (sid, uid string) {
	return fmt.Sprintf("bench-sess-%06d", i), fmt.Sprintf("bench-user-%06d", i%max(users, 1))
}

func seedSQLite(ctx context.Context, path, hash string, now time.Time, users, sessions int, vuTokens []string) error {
	db, tx, err := beginSeedSQLite(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	defer tx.Rollback()
	us := now.UnixMicro()
	var named bool
	if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pragma_table_info('sessions') WHERE name = 'token_gen'`).Scan(&named); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	key, err := seedRotationKey(named, now, func(k *baton.Key) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO keys (id, use, algorithm, secret, created_at, activate_at) VALUES (?, ?, ?, ?, ?, ?)`,
			k.ID, k.Use, k.Algorithm, k.Secret, us, us)
		return err
	})
	if err != nil {
		return err
	}
	if users > 0 {
		if _, err := tx.ExecContext(ctx, `WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i+1 < ?)
			INSERT INTO users (id, username, canonical_username, password_hash, created_at)
			SELECT printf('bench-user-%06d', i), printf('bench%06d', i), printf('bench%06d', i), ?, ? FROM c`,
			users, hash, us); err != nil {
			return fmt.Errorf("seed users: %w", err)
		}
	}
	if sessions > 0 {
		stmts := []string{
			`WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i+1 < ?1)
			INSERT INTO users (id, username, canonical_username, password_hash, created_at)
			SELECT printf('fill-user-%07d', i), printf('fill%07d', i), printf('fill%07d', i), ?2, ?3 FROM c`,
			`WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i+1 < ?1)
			INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_expires_at, auth_time,
				transport, client_id, user_agent, ip, binding, revoked_at, revoke_reason)
			SELECT printf('fill-sess-%07d', i), printf('fill-user-%07d', i), ?3, ?3, ?3 + 2592000000000, ?3 + 604800000000, ?3,
				'body', '', 'bench-seed', '127.0.0.1', '', NULL, '' FROM c`,
			`WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i+1 < ?1)
			INSERT INTO refresh_tokens (hash, session_id, created_at)
			SELECT randomblob(32), printf('fill-sess-%07d', i), ?3 FROM c`,
		}
		if named {
			stmts[2] = `UPDATE sessions SET token_gen = 1, token_hash = randomblob(32) WHERE id LIKE 'fill-sess-%'`
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q, sessions, hash, us); err != nil {
				return fmt.Errorf("seed sessions: %w", err)
			}
		}
	}
	for i := range vuTokens {
		sid, uid := vuSession(i, users)
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_expires_at, auth_time,
				transport, client_id, user_agent, ip, binding, revoked_at, revoke_reason)
			VALUES (?1, ?2, ?3, ?3, ?3 + 2592000000000, ?3 + 604800000000, ?3, 'body', '', 'bench', '127.0.0.1', '', NULL, '')`,
			sid, uid, us); err != nil {
			return fmt.Errorf("seed virtual users' sessions: %w", err)
		}
		if named {
			if vuTokens[i], err = token.NewSessionRefreshToken(key, sid); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `UPDATE sessions SET token_gen = 1, token_hash = ? WHERE id = ?`, token.HashRefreshToken(vuTokens[i]), sid)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?)`,
				token.HashRefreshToken(vuTokens[i]), sid, us)
		}
		if err != nil {
			return fmt.Errorf("seed virtual users' sessions: %w", err)
		}
	}
	return commitSeedSQLite(ctx, db, tx)
}

// beginSeedSQLite opens the store file for seeding and begins the one
// transaction. Seeding is set-up, not the server: synchronous=OFF and a
// large cache make a million rows take seconds.
func beginSeedSQLite(ctx context.Context, path string) (*sql.DB, *sql.Tx, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-262144)")
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, tx, nil
}

// commitSeedSQLite commits and checkpoints, so the server (which the
// caller starts after closing db) opens the file with its own (FULL)
// settings and an empty WAL.
func commitSeedSQLite(ctx context.Context, db *sql.DB, tx *sql.Tx) error {
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func seedPostgres(ctx context.Context, connURL, hash string, now time.Time, users, sessions int, vuTokens []string) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if users > 0 {
		if _, err := conn.Exec(ctx, `INSERT INTO users (id, username, canonical_username, password_hash, created_at)
			SELECT format('bench-user-%s', lpad(i::text, 6, '0')), format('bench%s', lpad(i::text, 6, '0')),
				format('bench%s', lpad(i::text, 6, '0')), $2::text, $3::timestamptz
			FROM generate_series(0, $1::int - 1) i`, users, hash, now); err != nil {
			return fmt.Errorf("seed users: %w", err)
		}
	}
	// A build from before migration 14 (an A/B run with -bin) has no
	// idle_hour: seed what its schema has.
	var idleHourCol bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_name = 'sessions' AND column_name = 'idle_hour')`).Scan(&idleHourCol); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	// A build from before migration 15 keeps every token in a row of its
	// own; a later one names the session in the token, under a rotation
	// key the seeder makes (the server keeps the one it finds).
	var named bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_name = 'sessions' AND column_name = 'token_gen')`).Scan(&named); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	key, err := seedRotationKey(named, now, func(k *baton.Key) error {
		_, err := conn.Exec(ctx, `INSERT INTO keys (id, use, algorithm, secret, created_at, activate_at) VALUES ($1, $2, $3, $4, $5, $5)`,
			k.ID, k.Use, k.Algorithm, k.Secret, now)
		return err
	})
	if err != nil {
		return err
	}
	if sessions > 0 {
		if err := copyFillers(ctx, conn, hash, now, sessions, idleHourCol, named); err != nil {
			return fmt.Errorf("seed sessions: %w", err)
		}
	}
	for i := range vuTokens {
		sid, uid := vuSession(i, users)
		if _, err := conn.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, idle_expires_at, auth_time,
				transport, client_id, user_agent, ip, binding, revoked_at, revoke_reason)
			VALUES ($1, $2, $3::timestamptz, $3::timestamptz, $3::timestamptz + interval '30 days', $3::timestamptz + interval '7 days', $3::timestamptz,
				'body', '', 'bench', '127.0.0.1', '', NULL, '')`, sid, uid, now); err != nil {
			return fmt.Errorf("seed virtual users' sessions: %w", err)
		}
		if idleHourCol {
			if _, err := conn.Exec(ctx, `UPDATE sessions SET idle_hour = $2 WHERE id = $1`, sid, idleHour(now.Add(7*24*time.Hour))); err != nil {
				return fmt.Errorf("seed virtual users' sessions: %w", err)
			}
		}
		if named {
			if vuTokens[i], err = token.NewSessionRefreshToken(key, sid); err != nil {
				return err
			}
			_, err = conn.Exec(ctx, `UPDATE sessions SET token_gen = 1, token_hash = $2 WHERE id = $1`, sid, token.HashRefreshToken(vuTokens[i]))
		} else {
			_, err = conn.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)`,
				token.HashRefreshToken(vuTokens[i]), sid, now)
		}
		if err != nil {
			return fmt.Errorf("seed virtual users' sessions: %w", err)
		}
	}
	return nil
}

// copyFillers streams n filler users, sessions and refresh tokens into the
// database with COPY (the binary protocol, one statement per table), the
// way a bulk load or a restore fills it, then ANALYZEs so the planner
// knows the tables' sizes and checkpoints. Rows are generated as they are
// sent: ten million cost no memory.
func copyFillers(ctx context.Context, conn *pgx.Conn, hash string, now time.Time, n int, idleHourCol, named bool) error {
	tables := []struct {
		name string
		cols []string
		row  func(i int) []any
	}{
		{"users", []string{"id", "username", "canonical_username", "password_hash", "created_at"}, func(i int) []any {
			name := fmt.Sprintf("fill%07d", i)
			return []any{"fill-user-" + name[4:], name, name, hash, now}
		}},
		{"sessions", []string{"id", "user_id", "created_at", "last_used_at", "expires_at", "idle_expires_at", "auth_time",
			"transport", "client_id", "user_agent", "ip", "binding", "revoke_reason"}, func(i int) []any {
			return []any{fmt.Sprintf("fill-sess-%07d", i), fmt.Sprintf("fill-user-%07d", i), now, now,
				now.Add(30 * 24 * time.Hour), now.Add(7 * 24 * time.Hour), now, "body", "", "bench-seed", "127.0.0.1", "", ""}
		}},
		{"refresh_tokens", []string{"hash", "session_id", "created_at"}, func(i int) []any {
			h := sha256.Sum256(fmt.Appendf(nil, "fill-%d", i))
			return []any{h[:], fmt.Sprintf("fill-sess-%07d", i), now}
		}},
	}
	if idleHourCol {
		s := &tables[1]
		s.cols = append(s.cols, "idle_hour")
		row := s.row
		s.row = func(i int) []any { return append(row(i), idleHour(now.Add(7*24*time.Hour))) }
	}
	if named {
		// The token state lives in the session row; no token rows.
		s := &tables[1]
		s.cols = append(s.cols, "token_gen", "token_hash")
		row := s.row
		s.row = func(i int) []any {
			h := sha256.Sum256(fmt.Appendf(nil, "fill-%d", i))
			return append(row(i), int64(1), h[:])
		}
		tables = tables[:2]
	}
	for _, t := range tables {
		i := 0
		copied, err := conn.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			i++
			return t.row(i - 1), nil
		}))
		if err != nil {
			return fmt.Errorf("copy %s: %w", t.name, err)
		}
		if copied != int64(n) {
			return fmt.Errorf("copy %s: %d rows, want %d", t.name, copied, n)
		}
	}
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return err
	}
	// A checkpoint writes the load out now, not during the measured runs:
	// ten million sessions are ~6 GB of dirty pages, and their write-back
	// competes with every commit's WAL flush.
	_, err := conn.Exec(ctx, "CHECKPOINT")
	return err
}

// seedRotationKey makes the rotation key the seeded refresh tokens are
// made under and stores it with insert, when the schema has sessions that
// hold their token state (named); nil when it keeps every token in a row
// of its own.
func seedRotationKey(named bool, now time.Time, insert func(*baton.Key) error) ([]byte, error) {
	if !named {
		return nil, nil
	}
	k, err := token.NewSecretKey(baton.KeyUseRotation, now)
	if err != nil {
		return nil, err
	}
	if err := insert(k); err != nil {
		return nil, fmt.Errorf("seed rotation key: %w", err)
	}
	return k.Secret, nil
}

// idleHour is what the PostgreSQL store keeps beside an idle expiry for
// its prune index: the hour (UTC) it falls in (postgres migration 14).
func idleHour(idle time.Time) time.Time { return idle.UTC().Truncate(time.Hour) }
