package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Checkpoints run off the writer's path. With SQLite's default automatic
// checkpoint, the connection whose COMMIT pushes the WAL past 1,000 pages
// copies the WAL back into the database file and fsyncs it inside that
// COMMIT: the writer goroutine, and every caller of the batches queued
// behind it, waits for a checkpoint several times a second under load (a
// CPU profile of 64 clients refreshing showed 8% of the server's CPU, all
// of it on the writer goroutine, in sqlite3WalCheckpoint under COMMIT). The
// writer connection therefore runs with wal_autocheckpoint=0, and a
// checkpointer goroutine with a connection of its own runs PASSIVE
// checkpoints, which never block the writer, after commits.
//
// Durability is unchanged: every commit still fsyncs the WAL
// (synchronous=FULL) before it is acknowledged, and a checkpoint only
// copies committed pages into the database file (with its own fsyncs).
// Should the checkpointer fall behind, the WAL grows; it never loses a
// commit, and the next checkpoint (or the last connection's close) folds it
// back.

// checkpointEvery is the least time between two checkpoints: commits
// between them share one, so a page rewritten by many rotations is copied
// once.
const checkpointEvery = 100 * time.Millisecond

type checkpointer struct {
	db     *sql.DB
	wake   chan struct{} // cap 1: a commit happened since the last pass
	stop   chan struct{}
	exited chan struct{}
}

func openCheckpointer(dsn string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	c := &checkpointer{db: db, wake: make(chan struct{}, 1), stop: make(chan struct{}), exited: make(chan struct{})}
	go c.loop()
	return c, nil
}

// committed tells the checkpointer that the WAL grew; it never blocks.
func (c *checkpointer) committed() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.exited)
	t := time.NewTimer(0)
	<-t.C
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		// PASSIVE copies what no reader still needs and returns at once
		// when the writer or another checkpointer holds a lock; an error
		// here (busy, I/O) only means the WAL stays longer, so it is
		// retried on the next commit rather than reported.
		_, _ = c.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
		t.Reset(checkpointEvery)
		select {
		case <-c.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (c *checkpointer) close() error {
	close(c.stop)
	<-c.exited
	return c.db.Close()
}
