// Package postgres is the PostgreSQL backend of baton: a baton.Store (and a
// baton.RevocationWatcher) that several server instances share.
//
// It keeps the hot path short: a refresh is one statement and so one round
// trip (see RotateRefresh), and so is a rotation after a read (Rotate). Everything that has to happen together is
// one transaction, driver errors become *baton.Error values at the boundary
// (error.go), and the schema is versioned SQL embedded in the binary
// (migrate.go) that instances starting together apply exactly once.
package postgres

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	_ baton.Store             = (*DB)(nil)
	_ baton.RevocationWatcher = (*DB)(nil)
	_ baton.RefreshRotator    = (*DB)(nil)
)

// Advisory lock keys ("baton" + a tag, as ASCII) shared by every process
// using the database. They only have to be distinct from each other and
// unlikely to collide with other applications' keys.
const (
	lockMigrate     int64 = 0x6261746f6e6d6967 // "batonmig": session lock held by Migrate
	lockRevocations int64 = 0x6261746f6e726576 // "batonrev": xact lock held by revoking transactions
	lockKeys        int64 = 0x6261746f6e6b6579 // "batonkey": xact lock held by EnsureKey
)

// revocationChannel is the LISTEN/NOTIFY channel the revocations trigger
// (migrations/0001_init.sql) notifies with the revoked session's id.
const revocationChannel = "baton_revocations"

// DB is a baton.Store on a PostgreSQL connection pool. It is safe for
// concurrent use, also by several processes sharing one database.
type DB struct {
	pool *pgxpool.Pool

	closeOnce sync.Once
	// done is closed by Close, which ends running watchers.
	done chan struct{}
	// watchPingEvery is watchPingEvery, shortened by tests.
	watchPingEvery time.Duration

	// rq holds RotateSession calls for the groupers (rotations.go);
	// rotators counts the groupers running.
	rq       rotationQueue
	rotators sync.WaitGroup
}

// defaultMaxConns is the pool size unless the URL sets pool_max_conns.
// pgxpool's default, max(4, cores), is sized for CPU-bound work; a rotation
// spends most of its time waiting for the server's WAL flush, so more
// connections than cores let commits share a flush (group commit). Measured
// on 2 cores against a local server (BENCHMARKS.md), 64 clients refreshed
// at 2,160/s through 8 connections, 2,443/s through 16 and 2,556/s through
// 32 with a worse p99: the floor is 16, and 4 per core beyond that keeps
// a few instances within the server's default max_connections of 100.
func defaultMaxConns() int32 {
	return int32(max(16, 4*runtime.NumCPU()))
}

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string; pool_max_conns and the other pgxpool parameters are
// honoured) and applies pending migrations. The connection is made within
// ctx; an unreachable server is EUnavailable.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, baton.WrapError(baton.EInternal, "invalid database URL", err)
	}
	for _, o := range opts {
		o(cfg)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns()
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "baton"
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// pgxpool otherwise allows a background connect two minutes; a
		// server that takes longer than this is unavailable.
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, formatError("open database", err)
	}
	db := &DB{pool: pool, done: make(chan struct{}), watchPingEvery: watchPingEvery}
	if err := db.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	db.startRotations(rotationGroupers(cfg.MaxConns))
	return db, nil
}

// An Option adjusts the pool's configuration before Open connects.
type Option func(*pgxpool.Config)

// WithQueryTracer has every query of the pool reported to t (tests count
// round trips with it; operators may attach tracing).
func WithQueryTracer(t pgx.QueryTracer) Option {
	return func(c *pgxpool.Config) { c.ConnConfig.Tracer = t }
}

// Close closes the pool and ends running WatchRevocations calls.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.done)
		db.stopRotations()
		db.pool.Close()
	})
	return nil
}

// Ping reports whether the database answers. Like the other reads it tries
// a second connection when the first turns out to be dead, so that a
// database restart does not fail the readiness probe once per pooled
// connection.
func (db *DB) Ping(ctx context.Context) error {
	return formatError("ping", db.read(ctx, func() error { return db.pool.Ping(ctx) }))
}

// read runs fn, a read-only operation, once more on another connection when
// the first attempt failed because its connection was broken (a pooled
// connection whose server backend went away fails its next use). Writes are
// never retried this way: their commit may have happened.
func (db *DB) read(ctx context.Context, fn func() error) error {
	err := fn()
	var connectErr *pgconn.ConnectError
	if err != nil && ctx.Err() == nil && connBroken(err) && !errors.As(err, &connectErr) {
		err = fn()
	}
	return err
}

// write runs fn, a statement or transaction, again (up to three attempts in
// all) when it failed in a way that guarantees nothing was applied: the
// server rolled it back for a deadlock or a serialization failure, or the
// connection failed before any of it was sent.
func (db *DB) write(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = fn()
		if !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// update runs a single-statement write and returns the rows it affected.
func (db *DB) update(ctx context.Context, sql string, args ...any) (int64, error) {
	var n int64
	err := db.write(ctx, func() error {
		tag, err := db.pool.Exec(ctx, sql, args...)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// inTx runs fn in a READ COMMITTED transaction, retried as write does.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return db.write(ctx, func() error { return pgx.BeginFunc(ctx, db.pool, fn) })
}

// ts converts a domain time (zero for "never") to a timestamptz parameter.
func ts(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromTS converts a scanned timestamptz back: NULL is the zero time, others
// are in UTC.
func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// nullText converts an optional domain string ("" for "none") to a text
// parameter: NULL for "".
func nullText(s string) pgtype.Text {
	return pgtype.Text{String: s, Valid: s != ""}
}

// clean makes free-form text that comes from clients (user agents, audit
// details) storable: PostgreSQL text rejects NUL bytes and invalid UTF-8,
// and a hostile User-Agent header must not turn a login into an error.
// Other backends store such strings unchanged; here they are repaired.
func clean(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// isNoRows reports whether err says a query returned no row.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// collect scans every row with fn. Unlike pgx.CollectRows it returns a nil
// slice when there are none, like the other backends.
func collect[T any](rows pgx.Rows, fn func(pgx.CollectableRow) (T, error)) ([]T, error) {
	out, err := pgx.AppendRows([]T(nil), rows, fn)
	if err != nil {
		return nil, err
	}
	return out, nil
}
