// Package sqlite is baton's embedded store: one SQLite database file that
// implements baton.Store with the driver modernc.org/sqlite (pure Go, no cgo).
//
// Durability and speed pull in opposite directions on SQLite: an
// acknowledged write must survive power loss, which means WAL with
// synchronous=FULL and an fsync per commit, and an fsync per rotation caps a
// server at a few thousand refreshes a second. The store resolves this with
// group commit: every write is a closure handed to a single writer goroutine
// that owns the only write connection; it runs all queued writes in one
// transaction, each in its own savepoint so one failure does not spoil the
// others, commits once, and only then answers each caller. Reads use a
// separate pool of query-only connections that WAL lets run beside the
// writer.
//
// The schema is versioned SQL embedded in the binary (migrations/*.sql) and
// applied by Open; times are stored as unix microseconds, NULL for a zero
// time, and come back in UTC.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/batonauth/baton"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ baton.Store = (*DB)(nil)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeout is how long a connection waits for a lock held by another
// process (a CLI command next to the server) before giving up with
// EUnavailable.
const busyTimeout = 5 * time.Second

// DB is the SQLite store. It is safe for concurrent use; several processes
// may share one database file (SQLite's file locks serialise their writers).
type DB struct {
	w *writer
	// read is a pool of query-only connections: WAL gives each read a
	// consistent snapshot while the writer commits.
	read *sql.DB

	// stmts caches statements prepared on the read pool; the key is the SQL
	// text.
	stmts sync.Map
	// closed turns reads after Close into EUnavailable instead of
	// database/sql's internal "database is closed".
	closed atomic.Bool
}

// Open opens the database file at path, creating it (mode 0600) when it does
// not exist, and migrates its schema. The directory must exist.
func Open(path string) (*DB, error) {
	db, err := open(path)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	return db, nil
}

// open is Open without migrating.
func open(path string) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		// Every pooled connection would get its own in-memory database, a
		// URI would bypass the DSN this package depends on, and the driver
		// cuts the file name at the first '?'.
		return nil, fmt.Errorf("sqlite: open %q: need a file path without '?'", path)
	}
	// Create the file ourselves: SQLite would create it with the umask's
	// permissions, and the file holds password hashes and keys. SQLite gives
	// the -wal and -shm files the mode of the database file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	busy := strconv.FormatInt(busyTimeout.Milliseconds(), 10)
	// _txlock=immediate: a deferred transaction that reads and then writes
	// fails with SQLITE_BUSY instead of waiting when another process writes.
	// synchronous=FULL: in WAL mode NORMAL may lose the last commits on power
	// loss, and an acknowledged rotation must not be forgotten.
	//
	// wal_autocheckpoint(0): the writer never checkpoints inside a COMMIT;
	// a checkpointer with a connection of its own does (checkpoint.go).
	writeDSN := dsn(path,
		"_txlock=immediate",
		"_pragma=busy_timeout("+busy+")",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		"_pragma=foreign_keys(ON)",
		"_pragma=wal_autocheckpoint(0)",
	)
	checkpointDSN := dsn(path,
		"_pragma=busy_timeout("+busy+")",
		"_pragma=synchronous(FULL)",
	)
	readDSN := dsn(path,
		"_pragma=busy_timeout("+busy+")",
		"_pragma=foreign_keys(ON)",
		"_query_only=1",
	)

	w, err := openWriter(writeDSN, checkpointDSN)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	read, err := sql.Open("sqlite", readDSN)
	if err != nil {
		w.close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxIdleTime(0)
	read.SetConnMaxLifetime(0)

	return &DB{w: w, read: read}, nil
}

// dsn builds the driver's DSN for path: the file name, then parameters.
func dsn(path string, params ...string) string {
	return path + "?" + strings.Join(params, "&")
}

// Close waits for every write already submitted to be committed and
// answered, then closes the database. Calls after Close fail with
// EUnavailable.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	err := db.w.close()
	db.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
	if rerr := db.read.Close(); err == nil {
		err = rerr
	}
	return err
}

// Ping reports whether the database answers a read.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.queryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return formatError("ping", err)
	}
	return nil
}

// Migrate applies the embedded migrations the database does not have yet,
// each in its own transaction with its row in schema_migrations. It is
// idempotent and safe when several processes start together: the writer's
// BEGIN IMMEDIATE makes the check-then-apply atomic. A database migrated by
// a newer binary is refused rather than used with a schema this code does
// not know.
func (db *DB) Migrate(ctx context.Context) error {
	return db.migrate(ctx, math.MaxInt)
}

// migrate applies the migrations up to version upTo (tests build the
// databases older releases left behind with it).
func (db *DB) migrate(ctx context.Context, upTo int) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	for i, name := range names {
		version := i + 1
		if version > upTo {
			break
		}
		if want := fmt.Sprintf("migrations/%04d_", version); !strings.HasPrefix(name, want) {
			return fmt.Errorf("migrate: %s: want a name starting with %s", name, want)
		}
		script, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = db.write(ctx, "migrate", func(tx *tx) error {
			if _, err := tx.conn.ExecContext(tx.ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    INTEGER PRIMARY KEY,
				applied_at INTEGER NOT NULL
			) STRICT`); err != nil {
				return err
			}
			var newest int
			if err := tx.conn.QueryRowContext(tx.ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
				return err
			}
			if newest > len(names) {
				return fmt.Errorf("database schema version %d is newer than this binary's %d", newest, len(names))
			}
			if newest >= version {
				return nil
			}
			if _, err := tx.conn.ExecContext(tx.ctx, string(script)); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			_, err := tx.conn.ExecContext(tx.ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				version, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// stmt returns a statement prepared on the read pool. database/sql prepares
// it again on each pooled connection the first time it runs there.
func (db *DB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if db.closed.Load() {
		return nil, errClosed
	}
	if s, ok := db.stmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.read.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := db.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// row is what a statement that could not be prepared scans to, so callers
// keep the QueryRow shape.
type row interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (db *DB) queryRow(ctx context.Context, query string, args ...any) row {
	s, err := db.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(ctx, args...)
}

// Times are unix microseconds: PostgreSQL's precision, so both backends
// return exactly what they were given.

// timeArg is the bind value of t: NULL for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// scanTime scans an INTEGER microsecond column (or NULL) into *p, in UTC.
// It is a one-pointer struct so passing it to Scan does not allocate.
type scanTime struct{ p *time.Time }

func (s scanTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.p = time.Time{}
	case int64:
		*s.p = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("scan time: unexpected %T", v)
	}
	return nil
}

// textArg is the bind value of an optional text: NULL for "".
func textArg(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// scanText scans a TEXT column (or NULL, as "") into *p.
type scanText struct{ p *string }

func (s scanText) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.p = ""
	case string:
		*s.p = v
	default:
		return fmt.Errorf("scan text: unexpected %T", v)
	}
	return nil
}

// errClosed is what every call after Close returns.
var errClosed = baton.Errorf(baton.EUnavailable, "store closed")

// formatError turns an error from the driver into a *baton.Error at the
// store's boundary; errors that already are one pass through unchanged. op
// names the operation in the logged cause.
func formatError(op string, err error) error {
	if err == nil {
		return nil
	}
	var be *baton.Error
	if errors.As(err, &be) {
		return err
	}
	cause := fmt.Errorf("%s: %w", op, err)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return baton.WrapError(baton.ENotFound, "not found", cause)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return baton.WrapError(baton.EUnavailable, "request ended before the store answered", cause)
	case errors.Is(err, sql.ErrConnDone):
		return baton.WrapError(baton.EUnavailable, "store closed", cause)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch code := se.Code(); code & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return baton.WrapError(baton.EUnavailable, "store busy", cause)
		case sqlite3.SQLITE_CONSTRAINT:
			switch code {
			case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
				switch msg := se.Error(); {
				case strings.Contains(msg, "users.canonical_username"):
					return baton.WrapError(baton.EUsernameTaken, "username taken", cause)
				case strings.Contains(msg, "users.canonical_email"):
					return baton.WrapError(baton.EEmailTaken, "email address taken", cause)
				}
				return baton.WrapError(baton.EConflict, "already exists", cause)
			case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
				// Only inserts reference other rows (a session's user, a
				// token's session), so a violation means the parent is gone.
				return baton.WrapError(baton.ENotFound, "not found", cause)
			}
		}
	}
	return baton.WrapError(baton.EInternal, "internal error", cause)
}
