package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// TakeRate spends one event of key's GCRA budget if it fits and reports
// whether it did, with the key's theoretical arrival time (TAT) afterwards
// (baton.RateStore). One statement: the upsert checks and moves the TAT
// under the row lock, so concurrent instances never both spend the last
// event, and a refused event writes nothing.
//
// When the event does not fit, the TAT comes from the statement's
// snapshot, which a concurrent commit may have moved past since; the wait
// computed from it can only come out short (the client retries and is told
// again). A row too new for the snapshot gives now + window.
func (db *DB) TakeRate(ctx context.Context, key string, now time.Time, interval, window time.Duration) (bool, time.Time, error) {
	var ok bool
	var tat time.Time
	err := db.write(ctx, func() error {
		return db.pool.QueryRow(ctx, `WITH taken AS (
				INSERT INTO rate_limits AS r (key, tat) VALUES ($1, $2::timestamptz + $3::bigint * interval '1 microsecond')
				ON CONFLICT (key) DO UPDATE SET tat = GREATEST(r.tat, $2) + $3::bigint * interval '1 microsecond'
				WHERE GREATEST(r.tat, $2) + $3::bigint * interval '1 microsecond' <= $2::timestamptz + $4::bigint * interval '1 microsecond'
				RETURNING tat
			)
			SELECT true, tat FROM taken
			UNION ALL
			SELECT false, tat FROM rate_limits WHERE key = $1 AND NOT EXISTS (SELECT 1 FROM taken)`,
			key, ts(now), interval.Microseconds(), window.Microseconds()).Scan(&ok, &tat)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, now.Add(window), nil
	}
	if err != nil {
		return false, time.Time{}, formatError("take rate", err)
	}
	return ok, tat.UTC(), nil
}

// ReturnRate gives back one event spent by TakeRate (baton.RateStore):
// moving the TAT back one interval undoes exactly that event, whatever
// was spent meanwhile.
func (db *DB) ReturnRate(ctx context.Context, key string, interval time.Duration) error {
	_, err := db.update(ctx, `UPDATE rate_limits SET tat = tat - $2::bigint * interval '1 microsecond' WHERE key = $1`,
		key, interval.Microseconds())
	return formatError("return rate", err)
}
