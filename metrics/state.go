package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/batonauth/baton"
	"github.com/prometheus/client_golang/prometheus"
)

// Engine is what the state collector reads from the session engine.
type Engine interface {
	RevokedCount() int
	RevocationCursor() int64
	Now() time.Time
}

// AuditQueue is what the collector reads from the audit writer.
type AuditQueue interface {
	Written() uint64
	Dropped() uint64
	Failed() uint64
	Queued() int
}

// StateOptions configure WatchState.
type StateOptions struct {
	// Store is queried for the active-session count (when it is a
	// SessionCounter) and the revocation-feed lag.
	Store baton.Store
	// Engine gives the revoked-set size and the revocation cursor.
	Engine Engine
	// Audit, when set, exposes the audit queue.
	Audit AuditQueue
	// Timeout bounds a store query made for a scrape (default 2s).
	Timeout time.Duration
	// CacheFor is how long a store-derived value is reused (default 10s);
	// scrapes never put more than one query per CacheFor on the store.
	CacheFor time.Duration
}

// WatchState registers gauges read at scrape time: baton_active_sessions,
// baton_revoked_sessions, baton_revocation_feed_lag_seconds and the audit
// queue counters.
func (m *Metrics) WatchState(o StateOptions) {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.CacheFor <= 0 {
		o.CacheFor = 10 * time.Second
	}
	m.reg.MustRegister(&stateCollector{o: o})
}

var (
	descActive = prometheus.NewDesc("baton_active_sessions",
		"Live sessions (not revoked, not expired) in the store; refreshed at most every 10s.", nil, nil)
	descRevoked = prometheus.NewDesc("baton_revoked_sessions",
		"Revoked sessions held in this instance's in-memory set (their access tokens may still be alive).", nil, nil)
	descLag = prometheus.NewDesc("baton_revocation_feed_lag_seconds",
		"Age of the oldest revocation-feed entry this instance has not applied yet from the store (0 when caught up).", nil, nil)
	descAuditWritten = prometheus.NewDesc("baton_audit_events_written_total", "Audit events appended to the store.", nil, nil)
	descAuditDropped = prometheus.NewDesc("baton_audit_events_dropped_total", "Audit events dropped because the queue was full.", nil, nil)
	descAuditFailed  = prometheus.NewDesc("baton_audit_events_failed_total", "Audit events lost to a failed append.", nil, nil)
	descAuditQueued  = prometheus.NewDesc("baton_audit_queue_length", "Audit events waiting to be appended.", nil, nil)
	descUp           = prometheus.NewDesc("baton_store_scrape_ok", "1 when the store answered the last scrape's queries.", nil, nil)
	descMailQueued   = prometheus.NewDesc("baton_mail_queued", "Messages in the outbox neither sent nor given up.", nil, nil)
	descMailOldest   = prometheus.NewDesc("baton_mail_oldest_queued_seconds", "Age of the oldest message in the outbox (0 when empty).", nil, nil)
)

type stateCollector struct {
	o StateOptions

	mu      sync.Mutex
	at      time.Time
	active  float64
	counted bool
	lag     float64
	ok      bool
	queued  float64
	oldest  float64
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descActive
	ch <- descRevoked
	ch <- descLag
	ch <- descUp
	ch <- descMailQueued
	ch <- descMailOldest
	if c.o.Audit != nil {
		ch <- descAuditWritten
		ch <- descAuditDropped
		ch <- descAuditFailed
		ch <- descAuditQueued
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.o.Engine != nil {
		ch <- prometheus.MustNewConstMetric(descRevoked, prometheus.GaugeValue, float64(c.o.Engine.RevokedCount()))
	}
	if c.o.Audit != nil {
		a := c.o.Audit
		ch <- prometheus.MustNewConstMetric(descAuditWritten, prometheus.CounterValue, float64(a.Written()))
		ch <- prometheus.MustNewConstMetric(descAuditDropped, prometheus.CounterValue, float64(a.Dropped()))
		ch <- prometheus.MustNewConstMetric(descAuditFailed, prometheus.CounterValue, float64(a.Failed()))
		ch <- prometheus.MustNewConstMetric(descAuditQueued, prometheus.GaugeValue, float64(a.Queued()))
	}
	if c.o.Store == nil || c.o.Engine == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || time.Since(c.at) >= c.o.CacheFor {
		c.refresh()
		c.at = time.Now()
	}
	if c.counted {
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, c.active)
	}
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, c.lag)
	ch <- prometheus.MustNewConstMetric(descMailQueued, prometheus.GaugeValue, c.queued)
	ch <- prometheus.MustNewConstMetric(descMailOldest, prometheus.GaugeValue, c.oldest)
	up := 0.0
	if c.ok {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
}

// refresh runs the store queries, each bounded by the timeout.
func (c *stateCollector) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	now := c.o.Engine.Now()
	c.ok = true
	if sc, ok := c.o.Store.(baton.SessionCounter); ok {
		n, err := sc.CountLiveSessions(ctx, now)
		if err != nil {
			c.ok = false
		} else {
			c.active, c.counted = float64(n), true
		}
	}
	if n, oldest, err := c.o.Store.OutboxBacklog(ctx, baton.OutboxMail); err != nil {
		c.ok = false
	} else {
		c.queued, c.oldest = float64(n), 0
		if n > 0 {
			c.oldest = max(0, now.Sub(oldest).Seconds())
		}
	}
	revs, err := c.o.Store.Revocations(ctx, c.o.Engine.RevocationCursor(), now, 1)
	switch {
	case err != nil:
		c.ok = false
	case len(revs) == 0:
		c.lag = 0
	default:
		c.lag = max(0, now.Sub(revs[0].RevokedAt).Seconds())
	}
}
