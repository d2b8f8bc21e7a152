package config

import (
	"fmt"
	"strings"
	"time"
)

// MinLifetime is the shortest access-token or session lifetime accepted:
// tests and demos run sessions of a few seconds.
const MinLifetime = time.Second

// setting is one duration variable: its value, and whether the operator
// set it (only a set value may stop start-up; a default gives way).
type setting struct {
	name string
	d    time.Duration
	set  bool
}

// lifetimes are the durations that constrain one another:
//
//	reuse grace ≤ idle lifetime ≤ absolute lifetime
//	implicit-refresh window < access lifetime ≤ absolute lifetime
//
// A spent refresh token must outlive its grace (housekeeping drops spent
// tokens older than the idle lifetime); a session cannot idle longer than
// it lives; an access token never outlives its session (the engine caps
// it anyway, so a longer one would only mislead); and a window as long as
// the token would reissue it on every request.
type lifetimes struct {
	access, refresh, idle, grace, window setting
}

// fit checks the values the operator set against each other, then lets
// each default adapt to them. It returns notes saying which defaults moved,
// for the start-up log.
func (l *lifetimes) fit() (notes []string, err error) {
	if err := l.conflicts(); err != nil {
		return nil, err
	}
	adapt := func(s *setting, to time.Duration, why string) {
		if to != s.d {
			notes = append(notes, fmt.Sprintf("%s defaults to %s (the default %s %s)", s.name, short(to), short(s.d), why))
			s.d = to
		}
	}
	a, r, i, g, w := &l.access, &l.refresh, &l.idle, &l.grace, &l.window
	// Each default moves only when it would contradict a set value, so a
	// configuration that started before starts with the same values.
	if !a.set && w.set && w.d >= a.d {
		// Keep the default ratio: the window is a third of the lifetime.
		adapt(a, 3*w.d, "would not exceed "+w.name)
	}
	if !r.set {
		for _, s := range []*setting{a, i, g} {
			if (s.set || s == a) && s.d > r.d {
				adapt(r, s.d, "would be shorter than "+s.name)
			}
		}
	}
	if !a.set && a.d > r.d {
		adapt(a, r.d, "would exceed "+r.name)
	}
	if !i.set {
		switch {
		case i.d > r.d:
			adapt(i, r.d, "would exceed "+r.name)
		case g.set && g.d > i.d:
			adapt(i, g.d, "would be shorter than "+g.name)
		}
	}
	if !g.set && g.d > i.d {
		adapt(g, i.d, "would exceed "+i.name)
	}
	if !w.set {
		// Not a note: the default is defined as a third of the lifetime.
		w.d = a.d / 3
	}
	return notes, nil
}

// conflicts reports a contradiction between two values the operator set,
// directly or through a default that cannot fit between them.
func (l *lifetimes) conflicts() error {
	a, r, i, g, w := l.access, l.refresh, l.idle, l.grace, l.window
	both := func(x, y setting) bool { return x.set && y.set }
	switch {
	case both(a, r) && a.d > r.d:
		return exceeds(a, r, "")
	case both(i, r) && i.d > r.d:
		return exceeds(i, r, "")
	case both(g, i) && g.d > i.d:
		return exceeds(g, i, "")
	case both(g, r) && !i.set && g.d > r.d:
		return exceeds(g, r, fmt.Sprintf(": %s lies between them", i.name))
	case both(w, a) && w.d >= a.d:
		return fmt.Errorf("%s (%s) must be shorter than %s (%s)", w.name, short(w.d), a.name, short(a.d))
	case both(w, r) && !a.set && w.d >= r.d:
		return fmt.Errorf("%s (%s) must be shorter than %s (%s): %s lies between them", w.name, short(w.d), r.name, short(r.d), a.name)
	}
	return nil
}

func exceeds(x, y setting, why string) error {
	return fmt.Errorf("%s (%s) must not exceed %s (%s)%s", x.name, short(x.d), y.name, short(y.d), why)
}

// short writes d as an operator would have: 48h rather than 48h0m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
