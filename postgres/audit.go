package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// AppendAudit stores e and sets e.Seq.
func (db *DB) AppendAudit(ctx context.Context, e *baton.AuditEvent) error {
	var seq int64
	err := db.write(ctx, func() error {
		return db.pool.QueryRow(ctx, `INSERT INTO audit_events
			(time, type, user_id, session_id, ip, user_agent, outcome, detail)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq`,
			ts(e.Time), e.Type, e.UserID, e.SessionID, clean(e.IP), clean(e.UserAgent), clean(e.Outcome), clean(e.Detail),
		).Scan(&seq)
	})
	if err != nil {
		return formatError("append audit event", err)
	}
	e.Seq = seq
	return nil
}

// AuditEvents returns events oldest first: the first limit after the
// cursor, or with after == 0 the newest limit.
func (db *DB) AuditEvents(ctx context.Context, after int64, limit int) ([]*baton.AuditEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	query := `SELECT seq, time, type, user_id, session_id, ip, user_agent, outcome, detail
		FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`
	if after == 0 {
		query = `SELECT seq, time, type, user_id, session_id, ip, user_agent, outcome, detail
			FROM audit_events WHERE seq > $1 ORDER BY seq DESC LIMIT $2`
	}
	var es []*baton.AuditEvent
	err := db.read(ctx, func() error {
		rows, err := db.pool.Query(ctx, query, after, limit)
		if err != nil {
			return err
		}
		es, err = collect(rows, func(row pgx.CollectableRow) (*baton.AuditEvent, error) {
			var e baton.AuditEvent
			var at pgtype.Timestamptz
			err := row.Scan(&e.Seq, &at, &e.Type, &e.UserID, &e.SessionID, &e.IP, &e.UserAgent, &e.Outcome, &e.Detail)
			e.Time = fromTS(at)
			return &e, err
		})
		return err
	})
	if err != nil {
		return nil, formatError("list audit events", err)
	}
	if after == 0 {
		slices.Reverse(es)
	}
	return es, nil
}

// PruneAudit deletes at most limit events older than before, oldest first
// (audit_events_time_idx). The batch is picked first, as an array: with
// IN (subquery) the planner may hash-join against a scan of the whole
// table to delete a thousand rows.
func (db *DB) PruneAudit(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := db.pruneStage(ctx, `DELETE FROM audit_events WHERE seq = ANY(ARRAY(
		SELECT seq FROM audit_events WHERE time < $1 ORDER BY time LIMIT $2))`, before, limit)
	if err != nil {
		return 0, formatError("prune audit events", err)
	}
	return n, nil
}
