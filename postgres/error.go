package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The constraints whose violation means "username taken" or "email taken"
// rather than a generic conflict.
const (
	constraintUsername = "users_canonical_username_key"
	constraintEmail    = "users_canonical_email_key"
)

// Messages safe to show; the cause is only logged.
const (
	msgUnavailable = "the database is unavailable"
	msgInternal    = "internal database error"
)

// formatError translates a driver error into a *baton.Error, naming the
// operation in the (logged) cause. It is the only place where pgx errors
// become domain codes:
//
//   - unique_violation: EConflict (EUsernameTaken on the username
//     constraint, EEmailTaken on the email one);
//   - text PostgreSQL cannot store (NUL, invalid UTF-8): EInvalidRequest;
//   - anything that says the server or the connection went away, timed out,
//     is shutting down, is overloaded, or made us wait on a lock, and
//     serialization failures and deadlocks not retried internally:
//     EUnavailable, which callers may retry;
//   - pgx.ErrNoRows: ENotFound (most callers handle it themselves first);
//   - everything else (SQL bugs, scan errors): EInternal.
//
// *baton.Error values pass through unchanged.
func formatError(op string, err error) error {
	if err == nil {
		return nil
	}
	var be *baton.Error
	if errors.As(err, &be) {
		return err
	}
	cause := fmt.Errorf("postgres: %s: %w", op, err)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505" && pgErr.ConstraintName == constraintUsername:
			return baton.WrapError(baton.EUsernameTaken, "username is taken", cause)
		case pgErr.Code == "23505" && pgErr.ConstraintName == constraintEmail:
			return baton.WrapError(baton.EEmailTaken, "email address is taken", cause)
		case pgErr.Code == "23505":
			return baton.WrapError(baton.EConflict, "already exists", cause)
		case pgErr.Code == "23503":
			// A foreign_key_violation on insert: the referenced row (the
			// user of a TOTP enrolment or a challenge) is gone.
			return baton.WrapError(baton.ENotFound, "not found", cause)
		case unavailableState(pgErr.Code):
			return baton.WrapError(baton.EUnavailable, msgUnavailable, cause)
		case pgErr.Code == "22021", pgErr.Code == "22P05":
			// A string with a NUL byte or invalid UTF-8, which text columns
			// reject (SQLite would store it): the input is at fault.
			return baton.WrapError(baton.EInvalidRequest, "text is not valid UTF-8", cause)
		}
		return baton.WrapError(baton.EInternal, msgInternal, cause)
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return baton.WrapError(baton.ENotFound, "not found", cause)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return baton.WrapError(baton.EUnavailable, "the database did not answer in time", cause)
	case connBroken(err), pgconn.Timeout(err):
		return baton.WrapError(baton.EUnavailable, msgUnavailable, cause)
	case errors.Is(err, pgx.ErrTxCommitRollback):
		// The transaction was rolled back: nothing happened, try again.
		return baton.WrapError(baton.EUnavailable, msgUnavailable, cause)
	case pgconn.SafeToRetry(err):
		// Failed before anything was sent: the store is unchanged.
		return baton.WrapError(baton.EUnavailable, msgUnavailable, cause)
	case strings.HasSuffix(err.Error(), "closed pool"):
		// puddle.ErrClosedPool, which this package does not import.
		return baton.WrapError(baton.EUnavailable, "the database is closed", cause)
	}
	return baton.WrapError(baton.EInternal, msgInternal, cause)
}

// unavailableState reports whether a SQLSTATE means "try again later"
// rather than "this request is wrong".
func unavailableState(code string) bool {
	switch code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"55P03", // lock_not_available
		"57014", // query_canceled (statement_timeout, cancel request)
		"57P01", // admin_shutdown (also pg_terminate_backend)
		"57P02", // crash_shutdown
		"57P03", // cannot_connect_now (starting up, recovering)
		"57P04", // database_dropped
		"25006", // read_only_sql_transaction: connected to a standby after failover
		"58000", // system_error
		"58030": // io_error
		return true
	}
	switch code[:2] {
	case "08", // connection exception
		"53": // insufficient resources: too many connections, disk full, out of memory
		return true
	}
	return false
}

// connBroken reports whether err means the connection (not the statement)
// failed: the server closed it, the network failed, or connecting failed.
func connBroken(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed)
}

// retryable reports whether a statement or transaction failed in a way
// that applied none of it and may succeed when run again at once: the
// server rolled it back for a deadlock or a serialization failure, or the
// driver failed before sending anything (so also before any COMMIT).
func retryable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	return pgconn.SafeToRetry(err) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
