package main

import (
	"context"
	"fmt"
	"io"
	"time"
)

// coldResult is the time from exec to the first /readyz 200, on a data
// directory (or database) that already holds the schema, the keys and
// o.sessions sessions.
type coldResult struct {
	o     options
	times []time.Duration
}

func runColdStart(ctx context.Context, o options) (*coldResult, error) {
	bin := o.bin
	if bin == "" {
		var err error
		if bin, err = buildBinary(ctx, "./cmd/baton"); err != nil {
			return nil, err
		}
	}
	b, err := newBackend(ctx, o)
	if err != nil {
		return nil, err
	}
	defer b.close()
	if err := b.migrate(ctx, bin); err != nil {
		return nil, err
	}
	if err := seed(ctx, b, 1, o.sessions, nil); err != nil {
		return nil, err
	}
	// The first start creates the keys: not a cold start on an existing
	// data directory, so it is not counted.
	srv, err := startServer(ctx, b, bin, false)
	if err != nil {
		return nil, err
	}
	srv.stop()
	res := &coldResult{o: o}
	for range max(o.runs, 5) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		srv, err := startServer(ctx, b, bin, false)
		if err != nil {
			return nil, err
		}
		res.times = append(res.times, srv.readyAt.Sub(srv.startedAt))
		srv.stop()
	}
	return res, nil
}

func (c *coldResult) print(w io.Writer) {
	fmt.Fprintf(w, "scenario coldstart, %s store, %d starts: exec → /readyz 200 median %s (min %s, max %s); target < 200ms\n",
		c.o.store, len(c.times), fmtDur(median(c.times)), fmtDur(minOf(c.times)), fmtDur(maxOf(c.times)))
}

func minOf(xs []time.Duration) time.Duration {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []time.Duration) time.Duration {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
