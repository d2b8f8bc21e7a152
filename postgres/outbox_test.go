package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton/storetest"
)

// TestOutboxClaimPlan checks, on a table shaped like a busy one — many
// delivered messages waiting for Prune, many queued of another kind, a few
// queued of the kind claimed — that the claim, the backlog and Prune's
// stage read the outbox's indexes, not the whole table. The claim's plan
// (EXPLAIN, abridged) walks the queued index in order and stops at the limit:
//
//	Sort  (Sort Key: claimed.created_at, claimed.id)
//	  CTE claimed
//	    ->  Update on outbox
//	          ->  Nested Loop
//	                ->  Subquery Scan on c
//	                      ->  Limit
//	                            ->  LockRows
//	                                  ->  Index Scan using outbox_queued_idx on outbox outbox_1
//	                                        Index Cond: (kind = 'mail'::text)
//	                                        Filter: (… (next_attempt_at <= …) AND ((lease_until IS NULL) OR (lease_until <= …)))
//	                ->  Index Scan using outbox_pkey on outbox
//	                      Index Cond: (id = c.id)
//	  ->  CTE Scan on claimed
func TestOutboxClaimPlan(t *testing.T) {
	ctx := context.Background()
	db, _ := newDB(t)
	// kind, id prefix, sent: rows i = 1..n created i seconds after t0.
	fill := []struct {
		kind, prefix string
		sent         bool
		n            int
	}{
		{"mail", "sent-", true, 20000},
		{"other", "other-", false, 20000},
		{"mail", "mail-", false, 50},
	}
	for _, f := range fill {
		_, err := db.pool.Exec(ctx, `INSERT INTO outbox (id, kind, recipient, payload, created_at, next_attempt_at, sent_at)
			SELECT $1 || i, $2, 'r@example.com', '\x00', $3::timestamptz + i * interval '1 second',
				$3::timestamptz + i * interval '1 second',
				CASE WHEN $4 THEN $3::timestamptz + i * interval '1 second' END
			FROM generate_series(1, $5::int) i`, f.prefix, f.kind, ts(t0), f.sent, f.n)
		if err != nil {
			t.Fatalf("fill %s: %v", f.prefix, err)
		}
	}
	if _, err := db.pool.Exec(ctx, `ANALYZE outbox`); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	tests := []struct {
		name, sql, index string
		args             []any
	}{
		{"Claim", claimOutboxSQL, "outbox_queued_idx", []any{ts(now.Add(time.Minute)), "mail", ts(now), 10}},
		{"Backlog", `SELECT count(*), min(created_at) FROM outbox
			WHERE kind = $1 AND sent_at IS NULL AND gave_up_at IS NULL`, "outbox_queued_idx", []any{"mail"}},
		{"Prune", `DELETE FROM outbox WHERE id IN (
			SELECT id FROM outbox WHERE coalesce(sent_at, gave_up_at) < $1 LIMIT $2)`, "outbox_done_idx",
			[]any{ts(t0.Add(100 * time.Second)), 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := db.pool.Query(ctx, `EXPLAIN `+tt.sql, tt.args...)
			if err != nil {
				t.Fatalf("EXPLAIN: %v", err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, line)
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("EXPLAIN: %v", err)
			}
			text := strings.Join(plan, "\n")
			t.Logf("plan:\n%s", text)
			// "Index Scan using idx", "Bitmap Index Scan on idx".
			if !strings.Contains(text, " "+tt.index+" ") {
				t.Errorf("plan does not use %s:\n%s", tt.index, text)
			}
			if strings.Contains(text, "Seq Scan on outbox") {
				t.Errorf("plan reads the whole table:\n%s", text)
			}
		})
	}
	// The plans are of statements that work: the claim takes the 10 oldest
	// queued mail messages.
	ms, err := db.ClaimOutbox(ctx, "mail", now, time.Minute, 10)
	if err != nil || len(ms) != 10 || ms[0].ID != "mail-1" || ms[9].ID != "mail-10" {
		t.Errorf("ClaimOutbox: got %d messages (%v), want mail-1 … mail-10", len(ms), err)
	}
}

// TestOutboxClaimTwoInstances: two stores, each with its own pool, on one
// database stand for two instances sharing the queue.
func TestOutboxClaimTwoInstances(t *testing.T) {
	db, url := newDB(t)
	storetest.ClaimOutboxConcurrently(t, db, mustOpen(t, url))
}
