package sqlite

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/batonauth/baton"
)

const outboxColumns = `id, kind, recipient, payload, created_at, next_attempt_at,
	attempts, last_error, lease_until, sent_at, gave_up_at`

func scanOutbox(r row) (*baton.OutboxMessage, error) {
	m := new(baton.OutboxMessage)
	err := r.Scan(&m.ID, &m.Kind, &m.Recipient, &m.Payload, scanTime{&m.CreatedAt}, scanTime{&m.NextAttemptAt},
		&m.Attempts, &m.LastError, scanTime{&m.LeaseUntil}, scanTime{&m.SentAt}, scanTime{&m.GaveUpAt})
	if err != nil {
		return nil, err
	}
	return m, nil
}

var errOutboxNotFound = baton.Errorf(baton.ENotFound, "outbox message not found")

// Enqueue stores m. EConflict when a message with m.ID exists.
func (db *DB) Enqueue(ctx context.Context, m *baton.OutboxMessage) error {
	return db.write(ctx, "enqueue", func(tx *tx) error { return insertOutbox(tx, m) })
}

// insertOutbox inserts m in tx: Enqueue, and the operations that write a
// message in the same transaction as what it carries (CreateLink).
// insertOutboxes stores the messages that go with another write, skipping
// nil ones.
func insertOutboxes(tx *tx, ms []*baton.OutboxMessage) error {
	for _, m := range ms {
		if m == nil {
			continue
		}
		if err := insertOutbox(tx, m); err != nil {
			return err
		}
	}
	return nil
}

func insertOutbox(tx *tx, m *baton.OutboxMessage) error {
	return tx.exec(`INSERT INTO outbox (`+outboxColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.Kind, m.Recipient, nonNilBytes(m.Payload), timeArg(m.CreatedAt), timeArg(baton.OutboxDue(m)),
		m.Attempts, baton.CutOutboxError(m.LastError), timeArg(m.LeaseUntil), timeArg(m.SentAt), timeArg(m.GaveUpAt))
}

// nonNilBytes binds a nil payload as an empty BLOB: the column is NOT NULL.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// ClaimOutbox leases up to limit due messages of kind, oldest first. The
// select and the update are one statement in one op of the single writer,
// inside a BEGIN IMMEDIATE transaction, so claimers in this process and in
// others sharing the file take turns and never get the same message while
// its lease holds.
func (db *DB) ClaimOutbox(ctx context.Context, kind string, now time.Time, lease time.Duration, limit int) ([]*baton.OutboxMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	// Each instance polls the queue every second or so, and it is empty
	// nearly always: look on the read pool first, so an idle poll never
	// queues behind the writer (and its rotations).
	var due bool
	if err := db.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox
			WHERE kind = ?1 AND sent_at IS NULL AND gave_up_at IS NULL
			AND next_attempt_at <= ?2 AND (lease_until IS NULL OR lease_until <= ?2))`,
		kind, now.UnixMicro()).Scan(&due); err != nil {
		return nil, formatError("claim outbox", err)
	}
	if !due {
		return nil, nil
	}
	var ms []*baton.OutboxMessage
	err := db.write(ctx, "claim outbox", func(tx *tx) error {
		ms = nil
		rows, err := tx.query(`UPDATE outbox SET lease_until = ?1 WHERE id IN (
				SELECT id FROM outbox
				WHERE kind = ?2 AND sent_at IS NULL AND gave_up_at IS NULL
				AND next_attempt_at <= ?3 AND (lease_until IS NULL OR lease_until <= ?3)
				ORDER BY created_at, id LIMIT ?4)
			RETURNING `+outboxColumns,
			now.Add(lease).UnixMicro(), kind, now.UnixMicro(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanOutbox(rows)
			if err != nil {
				return err
			}
			ms = append(ms, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	// RETURNING comes in no promised order.
	slices.SortFunc(ms, compareOutbox)
	return ms, nil
}

// compareOutbox orders messages oldest first, as the claim picks them.
func compareOutbox(a, b *baton.OutboxMessage) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// OutboxDelivered marks the message sent at at and ends its lease.
// ENotFound.
func (db *DB) OutboxDelivered(ctx context.Context, id string, at time.Time) error {
	return db.write(ctx, "outbox delivered", func(tx *tx) error {
		n, err := tx.execN(`UPDATE outbox SET sent_at = ?, lease_until = NULL WHERE id = ?`, timeArg(at), id)
		if err == nil && n == 0 {
			return errOutboxNotFound
		}
		return err
	})
}

// OutboxFailed records a failed attempt: due again at next, or given up at
// now when next is zero. ENotFound.
func (db *DB) OutboxFailed(ctx context.Context, id string, now, next time.Time, reason string) error {
	return db.write(ctx, "outbox failed", func(tx *tx) error {
		n, err := tx.execN(`UPDATE outbox SET attempts = attempts + 1, last_error = ?, lease_until = NULL,
				next_attempt_at = coalesce(?, next_attempt_at), gave_up_at = ?
			WHERE id = ?`,
			baton.CutOutboxError(reason), timeArg(next), giveUpArg(now, next), id)
		if err == nil && n == 0 {
			return errOutboxNotFound
		}
		return err
	})
}

// giveUpArg is the gave_up_at of a failed attempt at now: now when there is
// no next attempt, else NULL.
func giveUpArg(now, next time.Time) any {
	if next.IsZero() {
		return timeArg(now)
	}
	return nil
}

// OutboxBacklog counts the queued messages of kind and finds the oldest,
// both from the index of queued rows.
func (db *DB) OutboxBacklog(ctx context.Context, kind string) (int64, time.Time, error) {
	var n int64
	var oldest time.Time
	err := db.queryRow(ctx, `SELECT count(*), min(created_at) FROM outbox
		WHERE kind = ? AND sent_at IS NULL AND gave_up_at IS NULL`, kind).Scan(&n, scanTime{&oldest})
	if err != nil {
		return 0, time.Time{}, formatError("outbox backlog", err)
	}
	return n, oldest, nil
}
