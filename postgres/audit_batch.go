package postgres

import (
	"context"
	"slices"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5/pgtype"
)

// appendAuditsSQL inserts a batch of events given as one array per column:
// one statement however many events, so a batch costs one execution, not
// one per event. The rows are inserted in array order (WITH ORDINALITY,
// ORDER BY), so their seq values, taken from the identity as rows are
// inserted, rise in that order; RETURNING's order is not promised, so the
// caller sorts them.
const appendAuditsSQL = `INSERT INTO audit_events (time, type, user_id, session_id, ip, user_agent, outcome, detail)
	SELECT e.time, e.type, e.user_id, e.session_id, e.ip, e.user_agent, e.outcome, e.detail
	FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
		WITH ORDINALITY AS e(time, type, user_id, session_id, ip, user_agent, outcome, detail, n)
	ORDER BY e.n
	RETURNING seq`

// AppendAudits stores several events in one statement, and so one round
// trip and one transaction, and sets their Seq.
func (db *DB) AppendAudits(ctx context.Context, es []*baton.AuditEvent) error {
	if len(es) == 0 {
		return nil
	}
	n := len(es)
	times := make([]pgtype.Timestamptz, n)
	types, users, sessions, ips, agents, outcomes, details :=
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, e := range es {
		times[i] = ts(e.Time)
		types[i], users[i], sessions[i] = e.Type, e.UserID, e.SessionID
		ips[i], agents[i], outcomes[i], details[i] = clean(e.IP), clean(e.UserAgent), clean(e.Outcome), clean(e.Detail)
	}
	var seqs []int64
	err := db.write(ctx, func() error {
		seqs = seqs[:0]
		rows, err := db.pool.Query(ctx, appendAuditsSQL, times, types, users, sessions, ips, agents, outcomes, details)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s int64
			if err := rows.Scan(&s); err != nil {
				return err
			}
			seqs = append(seqs, s)
		}
		return rows.Err()
	})
	if err != nil {
		return formatError("append audit events", err)
	}
	if len(seqs) != n {
		return baton.Errorf(baton.EInternal, "append audit events: %d rows stored for %d events", len(seqs), n)
	}
	slices.Sort(seqs)
	for i, e := range es {
		e.Seq = seqs[i]
	}
	return nil
}
