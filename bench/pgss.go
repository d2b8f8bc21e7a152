package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
)

// stmtStat is one statement's pg_stat_statements totals over a measured
// window, for the server's own database.
type stmtStat struct {
	query                          string
	calls, rows                    int64
	planMS, execMS                 float64
	blksHit, blksRead, blksDirtied int64
	walRecords, walBytes           int64
}

// pgssReset clears pg_stat_statements for the server's database and
// reports whether the view is there: the extension needs
// shared_preload_libraries, which a shared server may not have, so
// without it the report leaves the statements out.
func (b *backend) pgssReset(ctx context.Context) bool {
	conn, err := pgx.Connect(ctx, b.pgURL)
	if err != nil {
		return false
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return false
	}
	_, err = conn.Exec(ctx, `SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)`)
	return err == nil
}

// pgssRead returns the statements run in the server's database since
// pgssReset, most expensive first.
func (b *backend) pgssRead(ctx context.Context) ([]stmtStat, error) {
	conn, err := pgx.Connect(ctx, b.pgURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT query, calls, rows, total_plan_time, total_exec_time,
			shared_blks_hit, shared_blks_read, shared_blks_dirtied, wal_records, wal_bytes
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = current_database() AND query NOT LIKE '%pg_stat_statements%'
		ORDER BY total_exec_time + total_plan_time DESC`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (stmtStat, error) {
		var s stmtStat
		var walBytes float64 // numeric
		err := row.Scan(&s.query, &s.calls, &s.rows, &s.planMS, &s.execMS,
			&s.blksHit, &s.blksRead, &s.blksDirtied, &s.walRecords, &walBytes)
		s.walBytes = int64(walBytes)
		return s, err
	})
}

// printStatements writes the statements' totals per request of the
// scenario (n requests in the window): what PostgreSQL did for each.
func printStatements(w io.Writer, ss []stmtStat, n float64) {
	if len(ss) == 0 || n == 0 {
		return
	}
	var tot stmtStat
	for _, s := range ss {
		tot.calls += s.calls
		tot.rows += s.rows
		tot.planMS += s.planMS
		tot.execMS += s.execMS
		tot.blksHit += s.blksHit
		tot.blksRead += s.blksRead
		tot.blksDirtied += s.blksDirtied
		tot.walRecords += s.walRecords
		tot.walBytes += s.walBytes
	}
	tot.query = "all statements"
	fmt.Fprintf(w, "pg_stat_statements per request (last run, %s requests):\n", commas(int64(n)))
	fmt.Fprintf(w, "  %7s %7s %9s %9s %7s %7s %7s %8s  %s\n", "calls", "rows", "plan", "exec", "hit", "dirtied", "wal rec", "wal B", "statement")
	const top = 6
	for i, s := range append([]stmtStat{tot}, ss...) {
		if i > top {
			break
		}
		fmt.Fprintf(w, "  %7.3f %7.3f %9s %9s %7.1f %7.2f %7.2f %8.0f  %s\n",
			float64(s.calls)/n, float64(s.rows)/n,
			fmtDur(msPer(s.planMS, n)), fmtDur(msPer(s.execMS, n)),
			float64(s.blksHit)/n, float64(s.blksDirtied)/n, float64(s.walRecords)/n, float64(s.walBytes)/n, shortQuery(s.query))
	}
}

// shortQuery is a statement on one line, cut to fit a terminal.
func shortQuery(q string) string {
	q = strings.Join(strings.FieldsFunc(q, unicode.IsSpace), " ")
	if len(q) > 70 {
		q = q[:67] + "..."
	}
	return q
}

// msPer is a total in milliseconds divided over n requests.
func msPer(ms, n float64) time.Duration {
	return time.Duration(ms / n * float64(time.Millisecond))
}
