package postgres

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
)

// AppendAudits stores several events in one round trip and one implicit
// transaction (a pipelined batch ends in a single Sync) and sets their Seq.
func (db *DB) AppendAudits(ctx context.Context, es []*baton.AuditEvent) error {
	if len(es) == 0 {
		return nil
	}
	seqs := make([]int64, len(es))
	err := db.write(ctx, func() error {
		b := &pgx.Batch{}
		for _, e := range es {
			b.Queue(`INSERT INTO audit_events
				(time, type, user_id, session_id, ip, user_agent, outcome, detail)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq`,
				ts(e.Time), e.Type, e.UserID, e.SessionID, clean(e.IP), clean(e.UserAgent), clean(e.Outcome), clean(e.Detail))
		}
		br := db.pool.SendBatch(ctx, b)
		for i := range es {
			if err := br.QueryRow().Scan(&seqs[i]); err != nil {
				br.Close()
				return err
			}
		}
		return br.Close()
	})
	if err != nil {
		return formatError("append audit events", err)
	}
	for i, e := range es {
		e.Seq = seqs[i]
	}
	return nil
}
