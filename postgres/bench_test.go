package postgres

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/batonauth/baton"
)

// BenchmarkRotate measures one rotation after another on one session: the
// latency of the single-statement round trip plus its commit (WAL flush).
func BenchmarkRotate(b *testing.B) {
	db, _ := newDB(b)
	ctx := context.Background()
	mustUser(b, db, "u")
	mustSession(b, db, "u", "s", hashN("s", 0))
	hashes := make([][]byte, b.N+1)
	for i := range hashes {
		hashes[i] = hashN("s", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.Rotate(ctx, rotation("s", hashes[i], hashes[i+1], t0)); err != nil {
			b.Fatalf("Rotate #%d: %v", i, err)
		}
	}
}

// BenchmarkRotateParallel rotates from many goroutines (as many as the pool
// has connections), each its own session's chain, as concurrent refreshes
// of different users do: commits share WAL flushes, so throughput grows
// past one commit per flush.
func BenchmarkRotateParallel(b *testing.B) {
	parallelChains(b, func(ctx context.Context, db *DB, sid string, old, nw []byte) error {
		return db.Rotate(ctx, rotation(sid, old, nw, t0))
	})
}

// parallelChains runs step from as many goroutines as the pool has
// connections, each rotating its own session's chain from old to nw.
func parallelChains(b *testing.B, step func(ctx context.Context, db *DB, sid string, old, nw []byte) error) {
	db, _ := newDB(b)
	ctx := context.Background()
	mustUser(b, db, "u")
	var next atomic.Int64
	b.SetParallelism(max(1, int(db.pool.Config().MaxConns)/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		sid := fmt.Sprintf("s%d", next.Add(1))
		if err := db.CreateSession(ctx, newSession("u", sid), hashN(sid, 0)); err != nil {
			b.Error(err)
			return
		}
		old := hashN(sid, 0)
		for i := 1; pb.Next(); i++ {
			nw := hashN(sid, i)
			if err := step(ctx, db, sid, old, nw); err != nil {
				b.Errorf("%s #%d: %v", sid, i, err)
				return
			}
			old = nw
		}
	})
}

// BenchmarkRefreshParallel compares a refresh's store work both ways, from
// as many goroutines as the pool has connections, each its own session's
// chain: "two-step" reads the token with its session and then rotates it
// (two round trips, two transactions, as the engine does when a
// precondition must see the session first), "one-statement" is
// RotateRefresh. Run with -count to interleave the two.
func BenchmarkRefreshParallel(b *testing.B) {
	steps := []struct {
		name string
		step func(ctx context.Context, db *DB, sid string, old, nw []byte) error
	}{
		{"two-step", func(ctx context.Context, db *DB, sid string, old, nw []byte) error {
			if _, _, err := db.RefreshToken(ctx, old); err != nil {
				return err
			}
			return db.Rotate(ctx, rotation(sid, old, nw, t0))
		}},
		{"one-statement", func(ctx context.Context, db *DB, sid string, old, nw []byte) error {
			r := rotation(sid, old, nw, t0)
			out, err := db.RotateRefresh(ctx, r, baton.RotationGate{SessionID: sid})
			if err == nil && !out.Rotated {
				err = fmt.Errorf("not rotated")
			}
			return err
		}},
	}
	for _, st := range steps {
		b.Run(st.name, func(b *testing.B) { parallelChains(b, st.step) })
	}
}
