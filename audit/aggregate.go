package audit

import (
	"cmp"
	"github.com/batonauth/baton/ratelimit"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// Anonymous failures — a refresh with a token nobody holds, a login for a
// name nobody holds — need no credential at all, so anyone can cause them
// at request speed: one row each would let a flood grow the audit table
// without limit (48,000 rows in 8 s from junk refreshes). They carry no
// account and no session, so a row per event tells an investigation little
// that the first event, a count and the last time do not. The writer
// therefore folds them per client:
// within a window the first event of a kind from a client is written as it
// is, and the repetitions become one summary row at the end of the window.
// Everything that names an account or a session (a failed login against
// an existing user names the targeted account) is written one row each.
//
// A window holds at most Options.Sources folds (one per kind of event and
// client). Past that, anonymous failures of new kinds or clients are
// counted in one overflow row per event type and outcome (server
// constants, so a handful), so the memory held and the rows a window adds
// stay bounded however many addresses send.

const (
	defaultWindow  = time.Minute
	defaultSources = 1024
	// maxOverflow bounds the overflow rows of one window: one per type and
	// outcome of an anonymous failure. Those are the engine's constants,
	// so the bound is never reached by what the server records.
	maxOverflow = 64
)

// anonymousFailure reports whether e may be folded: it names no account
// and no session, and it failed.
func anonymousFailure(e *baton.AuditEvent) bool {
	return e.UserID == "" && e.SessionID == "" &&
		(e.Outcome == session.OutcomeFailed || e.Outcome == session.OutcomeUnknown)
}

type foldKey struct{ typ, outcome, detail, client string }

// fold is the summary row of one kind of event, in the making.
type fold struct {
	row baton.AuditEvent
	// n counts the events folded in: repetitions after the first event
	// (written as it was), or every event for an overflow row.
	n int
}

// aggregator folds anonymous failures. It is used by the writer's one
// goroutine only.
type aggregator struct {
	window  time.Duration
	sources int

	start    time.Time // of the current window; zero when nothing is held
	folds    map[foldKey]*fold
	overflow map[foldKey]*fold
	// drop takes an event past even the overflow bound (see maxOverflow).
	drop func(*baton.AuditEvent)
}

func newAggregator(window time.Duration, sources int, drop func(*baton.AuditEvent)) *aggregator {
	return &aggregator{window: window, sources: sources, drop: drop,
		folds: make(map[foldKey]*fold), overflow: make(map[foldKey]*fold)}
}

// add takes e in order of arrival. It appends to out the summaries of a
// window that e's time has closed, then e itself unless e was folded, and
// returns out.
func (a *aggregator) add(e *baton.AuditEvent, out []*baton.AuditEvent) []*baton.AuditEvent {
	out = a.expire(e.Time, out)
	if !anonymousFailure(e) {
		return append(out, e)
	}
	if a.start.IsZero() {
		a.start = e.Time
	}
	client := ratelimit.ClientKey(e.IP) // grouped as the rate limits are
	k := foldKey{e.Type, e.Outcome, e.Detail, client}
	if f, ok := a.folds[k]; ok {
		f.n++
		f.row.Time = e.Time
		f.row.UserAgent = e.UserAgent
		if f.row.IP != e.IP {
			// Several addresses of one IPv6 /64: the row names the /64.
			f.row.IP = client
		}
		return out
	}
	if len(a.folds) < a.sources {
		a.folds[k] = &fold{row: *e}
		return append(out, e)
	}
	k = foldKey{typ: e.Type, outcome: e.Outcome}
	f, ok := a.overflow[k]
	if !ok {
		if len(a.overflow) >= maxOverflow {
			a.drop(e)
			return out
		}
		f = &fold{row: baton.AuditEvent{Type: e.Type, Outcome: e.Outcome}}
		a.overflow[k] = f
	}
	f.n++
	f.row.Time = e.Time
	return out
}

// expire appends the summary rows and starts a new window when the current
// one has ended at now.
func (a *aggregator) expire(now time.Time, out []*baton.AuditEvent) []*baton.AuditEvent {
	if a.start.IsZero() || now.Sub(a.start) < a.window {
		return out
	}
	return a.flush(out)
}

// flush appends the summary rows of every fold that holds repetitions,
// oldest first, and empties the aggregator.
func (a *aggregator) flush(out []*baton.AuditEvent) []*baton.AuditEvent {
	from := len(out)
	for _, f := range a.folds {
		if f.n > 0 {
			row := f.row
			row.Detail = summary(row.Detail, "repeated "+strconv.Itoa(f.n)+" more times")
			out = append(out, &row)
		}
	}
	for _, f := range a.overflow {
		row := f.row
		row.Detail = "repeated " + strconv.Itoa(f.n) + " times from clients beyond the first " +
			strconv.Itoa(a.sources) + " of the window"
		out = append(out, &row)
	}
	slices.SortFunc(out[from:], func(x, y *baton.AuditEvent) int {
		return cmp.Or(x.Time.Compare(y.Time), strings.Compare(x.Type, y.Type), strings.Compare(x.Outcome, y.Outcome),
			strings.Compare(x.IP, y.IP), strings.Compare(x.Detail, y.Detail))
	})
	clear(a.folds)
	clear(a.overflow)
	a.start = time.Time{}
	return out
}

func summary(detail, count string) string {
	if detail == "" {
		return count
	}
	return detail + "; " + count
}
