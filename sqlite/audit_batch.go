package sqlite

import (
	"context"

	"github.com/batonauth/baton"
)

// AppendAudits stores several events as one write: one op of one group
// commit, in one savepoint, and sets their Seq once committed. The audit
// writer (package audit) uses it when the store has it; without it, each
// event would be a write op of its own, and every refresh would add one
// more op, savepoint and channel round trip to the writer's batches.
// Either all events are stored or none.
func (db *DB) AppendAudits(ctx context.Context, es []*baton.AuditEvent) error {
	if len(es) == 0 {
		return nil
	}
	seqs := make([]int64, len(es))
	err := db.write(ctx, "append audit events", func(tx *tx) error {
		for i, e := range es {
			res, err := tx.execResult(`INSERT INTO audit_events
				(time, type, user_id, session_id, ip, user_agent, outcome, detail)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				timeArg(e.Time), e.Type, e.UserID, e.SessionID, e.IP, e.UserAgent, e.Outcome, e.Detail)
			if err != nil {
				return err
			}
			if seqs[i], err = res.LastInsertId(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, e := range es {
		e.Seq = seqs[i]
	}
	return nil
}
