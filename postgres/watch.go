package postgres

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Watchers check an idle connection this often, so that a connection that
// died silently (a network partition that sent no reset) is noticed and the
// caller can start over, instead of waiting forever for notifications.
const (
	watchPingEvery   = 30 * time.Second
	watchPingTimeout = 5 * time.Second
)

// WatchRevocations calls notify with the session id of every revocation
// committed by any instance (this one included) from the moment it
// listens, until ctx ends (it then returns nil) or its connection fails (it
// returns EUnavailable; the caller starts it again and catches up through
// Revocations). notify runs on the watcher's goroutine; a slow notify
// delays the ones after it.
//
// It holds a connection of its own, outside the pool, for as long as it
// runs, so that it neither takes a pooled connection from request traffic
// nor waits for one. Close ends it.
func (db *DB) WatchRevocations(ctx context.Context, notify func(sessionID string)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-db.done:
			cancel()
		case <-ctx.Done():
		}
	}()

	cfg := db.pool.Config().ConnConfig
	if cfg.RuntimeParams["application_name"] == "baton" {
		cfg.RuntimeParams["application_name"] = "baton-watcher"
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return db.watchError(ctx, err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+revocationChannel); err != nil {
		return db.watchError(ctx, err)
	}
	for {
		waitCtx, cancelWait := context.WithTimeout(ctx, db.watchPingEvery)
		n, err := conn.WaitForNotification(waitCtx)
		cancelWait()
		if n != nil && n.Channel == revocationChannel {
			notify(n.Payload)
		}
		if err == nil {
			continue
		}
		if ctx.Err() == nil && pgconn.Timeout(err) && !conn.IsClosed() {
			// Quiet for a while: make sure the connection still answers.
			// Notifications that arrive meanwhile are buffered by pgx and
			// returned by the next WaitForNotification.
			pingCtx, cancelPing := context.WithTimeout(ctx, watchPingTimeout)
			err = conn.Ping(pingCtx)
			cancelPing()
			if err == nil {
				continue
			}
		}
		return db.watchError(ctx, err)
	}
}

// watchError is nil when the watcher ended because its context did, and
// the translated error otherwise.
func (db *DB) watchError(ctx context.Context, err error) error {
	select {
	case <-db.done:
		return baton.WrapError(baton.EUnavailable, "the database is closed", err)
	default:
	}
	if ctx.Err() != nil {
		return nil
	}
	return formatError("watch revocations", err)
}
