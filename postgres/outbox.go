package postgres

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

const outboxColumns = `id, kind, recipient, payload, created_at, next_attempt_at,
	attempts, last_error, lease_until, sent_at, gave_up_at`

func scanOutbox(row pgx.Row) (*baton.OutboxMessage, error) {
	var m baton.OutboxMessage
	var created, next, lease, sent, gaveUp pgtype.Timestamptz
	if err := row.Scan(&m.ID, &m.Kind, &m.Recipient, &m.Payload, &created, &next,
		&m.Attempts, &m.LastError, &lease, &sent, &gaveUp); err != nil {
		return nil, err
	}
	m.CreatedAt, m.NextAttemptAt, m.LeaseUntil = fromTS(created), fromTS(next), fromTS(lease)
	m.SentAt, m.GaveUpAt = fromTS(sent), fromTS(gaveUp)
	return &m, nil
}

var errOutboxNotFound = baton.Errorf(baton.ENotFound, "outbox message not found")

// Enqueue stores m. EConflict when a message with m.ID exists.
func (db *DB) Enqueue(ctx context.Context, m *baton.OutboxMessage) error {
	err := db.write(ctx, func() error { return insertOutbox(ctx, db.pool, m) })
	return formatError("enqueue", err)
}

// execer is what runs a statement: the pool (a statement of its own) or a
// transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insertOutbox inserts m through q: Enqueue, and the operations that write
// a message in the same transaction as what it carries (CreateLink).
// insertOutboxes stores the messages that go with another write, skipping
// nil ones.
func insertOutboxes(ctx context.Context, q execer, ms []*baton.OutboxMessage) error {
	for _, m := range ms {
		if m == nil {
			continue
		}
		if err := insertOutbox(ctx, q, m); err != nil {
			return err
		}
	}
	return nil
}

func insertOutbox(ctx context.Context, q execer, m *baton.OutboxMessage) error {
	_, err := q.Exec(ctx, `INSERT INTO outbox (`+outboxColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		m.ID, m.Kind, m.Recipient, nonNil(m.Payload), ts(m.CreatedAt), ts(baton.OutboxDue(m)),
		m.Attempts, clean(baton.CutOutboxError(m.LastError)), ts(m.LeaseUntil), ts(m.SentAt), ts(m.GaveUpAt))
	return err
}

// claimOutboxSQL leases the oldest due messages in one statement. FOR
// UPDATE SKIP LOCKED makes concurrent claimers, on every instance, pass over
// the rows another one is leasing instead of waiting for it (and, under
// READ COMMITTED, a row leased meanwhile fails the recheck of the lease
// condition); the lease then keeps them out of later claims. The subquery
// walks outbox_queued_idx in order and stops at the limit
// (TestOutboxClaimPlan, which shows the plan). RETURNING has no order, hence the outer query.
const claimOutboxSQL = `WITH claimed AS (
		UPDATE outbox SET lease_until = $1
		FROM (
			SELECT id FROM outbox
			WHERE kind = $2 AND sent_at IS NULL AND gave_up_at IS NULL
			AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
			ORDER BY created_at, id LIMIT $4
			FOR UPDATE SKIP LOCKED
		) c
		WHERE outbox.id = c.id
		RETURNING outbox.*
	)
	SELECT ` + outboxColumns + ` FROM claimed ORDER BY created_at, id`

// ClaimOutbox leases up to limit due messages of kind, oldest first.
func (db *DB) ClaimOutbox(ctx context.Context, kind string, now time.Time, lease time.Duration, limit int) ([]*baton.OutboxMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	var ms []*baton.OutboxMessage
	err := db.write(ctx, func() error {
		rows, err := db.pool.Query(ctx, claimOutboxSQL, ts(now.Add(lease)), kind, ts(now), limit)
		if err != nil {
			return err
		}
		ms, err = collect(rows, func(row pgx.CollectableRow) (*baton.OutboxMessage, error) { return scanOutbox(row) })
		return err
	})
	if err != nil {
		return nil, formatError("claim outbox", err)
	}
	return ms, nil
}

// OutboxDelivered marks the message sent at at and ends its lease.
// ENotFound.
func (db *DB) OutboxDelivered(ctx context.Context, id string, at time.Time) error {
	n, err := db.update(ctx, `UPDATE outbox SET sent_at = $2, lease_until = NULL WHERE id = $1`, id, ts(at))
	if err != nil {
		return formatError("outbox delivered", err)
	}
	if n == 0 {
		return errOutboxNotFound
	}
	return nil
}

// OutboxFailed records a failed attempt: due again at next, or given up at
// now when next is zero. ENotFound.
func (db *DB) OutboxFailed(ctx context.Context, id string, now, next time.Time, reason string) error {
	gaveUp := pgtype.Timestamptz{}
	if next.IsZero() {
		gaveUp = ts(now)
	}
	n, err := db.update(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = $2, lease_until = NULL,
			next_attempt_at = coalesce($3, next_attempt_at), gave_up_at = $4
		WHERE id = $1`,
		id, clean(baton.CutOutboxError(reason)), ts(next), gaveUp)
	if err != nil {
		return formatError("outbox failed", err)
	}
	if n == 0 {
		return errOutboxNotFound
	}
	return nil
}

// OutboxBacklog counts the queued messages of kind and finds the oldest,
// both from outbox_queued_idx.
func (db *DB) OutboxBacklog(ctx context.Context, kind string) (int64, time.Time, error) {
	var n int64
	var oldest pgtype.Timestamptz
	err := db.read(ctx, func() error {
		return db.pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM outbox
			WHERE kind = $1 AND sent_at IS NULL AND gave_up_at IS NULL`, kind).Scan(&n, &oldest)
	})
	if err != nil {
		return 0, time.Time{}, formatError("outbox backlog", err)
	}
	return n, fromTS(oldest), nil
}
