package sqlite

import (
	"context"
	"time"

	"github.com/batonauth/baton"
)

const auditColumns = `seq, time, type, user_id, session_id, ip, user_agent, outcome, detail`

// AppendAudit stores e and sets e.Seq once the event is committed.
func (db *DB) AppendAudit(ctx context.Context, e *baton.AuditEvent) error {
	var seq int64
	err := db.write(ctx, "append audit event", func(tx *tx) error {
		res, err := tx.execResult(`INSERT INTO audit_events
			(time, type, user_id, session_id, ip, user_agent, outcome, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			timeArg(e.Time), e.Type, e.UserID, e.SessionID, e.IP, e.UserAgent, e.Outcome, e.Detail)
		if err != nil {
			return err
		}
		seq, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return err
	}
	e.Seq = seq
	return nil
}

// AuditEvents returns events oldest first: the first limit after the
// cursor, or with after == 0 the newest limit.
func (db *DB) AuditEvents(ctx context.Context, after int64, limit int) ([]*baton.AuditEvent, error) {
	query := `SELECT ` + auditColumns + ` FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`
	args := []any{after, limit}
	if after <= 0 {
		query = `SELECT * FROM (SELECT ` + auditColumns + ` FROM audit_events ORDER BY seq DESC LIMIT ?)
			ORDER BY seq`
		args = []any{limit}
	}
	rows, err := db.query(ctx, query, args...)
	if err != nil {
		return nil, formatError("list audit events", err)
	}
	defer rows.Close()
	var events []*baton.AuditEvent
	for rows.Next() {
		e := new(baton.AuditEvent)
		if err := rows.Scan(&e.Seq, scanTime{&e.Time}, &e.Type, &e.UserID, &e.SessionID,
			&e.IP, &e.UserAgent, &e.Outcome, &e.Detail); err != nil {
			return nil, formatError("list audit events", err)
		}
		events = append(events, e)
	}
	return events, formatError("list audit events", rows.Err())
}

// PruneAudit deletes at most limit events older than before, oldest first
// (audit_events_time).
func (db *DB) PruneAudit(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int64
	err := db.write(ctx, "prune audit events", func(tx *tx) (err error) {
		n, err = tx.execN(`DELETE FROM audit_events WHERE seq IN (
			SELECT seq FROM audit_events WHERE time < ? ORDER BY time LIMIT ?)`, before.UnixMicro(), limit)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
