package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// TestCheckpointer checks that the writer leaves checkpoints to the
// checkpointer (wal_autocheckpoint=0 on the writer connection) and that the
// checkpointer keeps the WAL from growing: after each pass the next commit
// restarts the WAL from its beginning, so rounds of the same writes reuse
// the same file space instead of appending to it.
func TestCheckpointer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "baton.db")
	db := mustOpenPath(t, path)
	err := db.write(ctx, "pragmas", func(tx *tx) error {
		var n int
		if err := tx.conn.QueryRowContext(tx.ctx, `PRAGMA wal_autocheckpoint`).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("writer wal_autocheckpoint: got %d, want 0", n)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("write: got %v, want nil", err)
	}
	var sync int
	if err := db.w.ckpt.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		t.Errorf("checkpointer synchronous: got %d, %v, want 2 (FULL), nil", sync, err)
	}

	walSize := func() int64 {
		t.Helper()
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatalf("stat WAL: %v", err)
		}
		return fi.Size()
	}
	round := func(r int) {
		t.Helper()
		for i := range 20 {
			id := fmt.Sprintf("u-%d-%d", r, i)
			if err := db.CreateUser(ctx, &baton.User{ID: id, Username: id, CanonicalUsername: id, PasswordHash: "h", CreatedAt: t0}); err != nil {
				t.Fatalf("CreateUser: got %v, want nil", err)
			}
		}
		// Let the checkpointer run after the round's last commit.
		time.Sleep(3 * checkpointEvery)
	}
	round(0)
	first := walSize()
	if first == 0 {
		t.Fatalf("WAL size after 20 commits: got 0, want > 0")
	}
	for r := 1; r <= 5; r++ {
		round(r)
	}
	// Without checkpoints the WAL would hold six rounds of frames.
	if got := walSize(); got > 3*first {
		t.Errorf("WAL size after 6 rounds: got %d bytes, want at most %d (3× the first round's %d): checkpoints are not running", got, 3*first, first)
	}
}
