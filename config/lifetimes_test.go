package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// durations are the lifetimes a configuration ends with.
type durations struct {
	Access, Refresh, Idle, Grace, Window time.Duration
}

func durationsOf(c *Config) durations {
	return durations{c.AccessTTL, c.RefreshTTL, c.RefreshIdleTTL, c.ReuseGrace, c.ImplicitRefreshWindow}
}

// TestDefaultsGiveWay: a lone setting (or several consistent ones) always
// starts; each default that would contradict a set value adapts to it, and
// every other default stays as documented.
func TestDefaultsGiveWay(t *testing.T) {
	const h = time.Hour
	def := durations{5 * time.Minute, 720 * h, 168 * h, 10 * time.Second, 100 * time.Second}
	with := func(f func(d *durations)) durations {
		d := def
		f(&d)
		return d
	}
	tests := []struct {
		name string
		env  map[string]string
		want durations
	}{
		{"Defaults", nil, def},
		// Each of these refused to start before defaults gave way.
		{"RefreshShorterThanDefaultIdle", map[string]string{"BATON_REFRESH_TTL": "1h"},
			with(func(d *durations) { d.Refresh, d.Idle = h, h })},
		{"AccessLongerThanDefaultRefresh", map[string]string{"BATON_ACCESS_TTL": "800h"},
			with(func(d *durations) { d.Access, d.Refresh, d.Window = 800*h, 800*h, 800*h/3 })},
		{"AccessEqualToDefaultRefresh", map[string]string{"BATON_ACCESS_TTL": "720h"},
			with(func(d *durations) { d.Access, d.Window = 720*h, 240*h })},
		{"IdleLongerThanDefaultRefresh", map[string]string{"BATON_REFRESH_IDLE_TTL": "1000h"},
			with(func(d *durations) { d.Refresh, d.Idle = 1000*h, 1000*h })},
		{"RefreshTwoSeconds", map[string]string{"BATON_REFRESH_TTL": "2s"},
			durations{2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second / 3}},
		{"RefreshOneSecond", map[string]string{"BATON_REFRESH_TTL": "1s"},
			durations{time.Second, time.Second, time.Second, time.Second, time.Second / 3}},
		{"IdleOneSecond", map[string]string{"BATON_REFRESH_IDLE_TTL": "1s"},
			with(func(d *durations) { d.Idle, d.Grace = time.Second, time.Second })},
		{"IdleShorterThanDefaultGrace", map[string]string{"BATON_REFRESH_IDLE_TTL": "5s"},
			with(func(d *durations) { d.Idle, d.Grace = 5*time.Second, 5*time.Second })},
		{"RefreshShorterThanDefaultGrace", map[string]string{"BATON_REFRESH_TTL": "5s"},
			durations{5 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second / 3}},
		{"GraceLongerThanDefaultIdle", map[string]string{"BATON_REUSE_GRACE": "200h"},
			with(func(d *durations) { d.Idle, d.Grace = 200*h, 200*h })},
		{"GraceLongerThanDefaultRefresh", map[string]string{"BATON_REUSE_GRACE": "1000h"},
			with(func(d *durations) { d.Refresh, d.Idle, d.Grace = 1000*h, 1000*h, 1000*h })},
		{"WindowLongerThanDefaultAccess", map[string]string{"BATON_IMPLICIT_REFRESH_WINDOW": "10m"},
			with(func(d *durations) { d.Access, d.Window = 30*time.Minute, 10*time.Minute })},
		{"WindowAndShortRefresh", map[string]string{"BATON_IMPLICIT_REFRESH_WINDOW": "10m", "BATON_REFRESH_TTL": "20m"},
			durations{20 * time.Minute, 20 * time.Minute, 20 * time.Minute, 10 * time.Second, 10 * time.Minute}},
		{"GraceWithShortRefresh", map[string]string{"BATON_REUSE_GRACE": "30s", "BATON_REFRESH_TTL": "1m"},
			durations{time.Minute, time.Minute, time.Minute, 30 * time.Second, 20 * time.Second}},
		// Set values that were already consistent keep their meaning.
		{"AllOneSecond", map[string]string{"BATON_ACCESS_TTL": "1s", "BATON_REFRESH_TTL": "1s", "BATON_REFRESH_IDLE_TTL": "1s", "BATON_REUSE_GRACE": "1s"},
			durations{time.Second, time.Second, time.Second, time.Second, time.Second / 3}},
		{"ShortSession", map[string]string{"BATON_REFRESH_TTL": "2s", "BATON_REFRESH_IDLE_TTL": "1s", "BATON_ACCESS_TTL": "1s"},
			durations{time.Second, 2 * time.Second, time.Second, time.Second, time.Second / 3}},
		{"GraceZero", map[string]string{"BATON_REUSE_GRACE": "0", "BATON_REFRESH_IDLE_TTL": "1s"},
			with(func(d *durations) { d.Idle, d.Grace = time.Second, 0 })},
		{"WindowSetShorter", map[string]string{"BATON_IMPLICIT_REFRESH_WINDOW": "2m"},
			with(func(d *durations) { d.Window = 2 * time.Minute })},
		{"AccessLongerThanIdle", map[string]string{"BATON_ACCESS_TTL": "2h", "BATON_REFRESH_IDLE_TTL": "1h"},
			with(func(d *durations) { d.Access, d.Idle, d.Window = 2*h, h, 40*time.Minute })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(tt.env)
			if err != nil {
				t.Fatalf("refused to start: %v", err)
			}
			if d := cmp.Diff(tt.want, durationsOf(c)); d != "" {
				t.Fatalf("lifetimes (-want +got):\n%s", d)
			}
			// Whatever adapted, the result holds together.
			if c.RefreshIdleTTL > c.RefreshTTL || c.AccessTTL > c.RefreshTTL || c.ReuseGrace > c.RefreshIdleTTL ||
				c.ImplicitRefreshWindow >= c.AccessTTL {
				t.Fatalf("inconsistent result %+v", durationsOf(c))
			}
		})
	}
}

// TestAdaptationIsLogged: each default that moved is named in Notes, and
// nothing is noted when nothing moved.
func TestAdaptationIsLogged(t *testing.T) {
	c, err := load(map[string]string{"BATON_REFRESH_TTL": "1h"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"BATON_REFRESH_IDLE_TTL defaults to 1h (the default 168h would exceed BATON_REFRESH_TTL)"}
	if d := cmp.Diff(want, c.Notes); d != "" {
		t.Fatalf("notes (-want +got):\n%s", d)
	}
	c, err = load(nil)
	if err != nil || len(c.Notes) != 0 {
		t.Fatalf("defaults: got notes %q, err %v; want none", c.Notes, err)
	}
}

// TestSetValuesThatContradict: only two values the operator set can stop
// start-up, and the message names both.
func TestSetValuesThatContradict(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"AccessLongerThanRefresh", map[string]string{"BATON_ACCESS_TTL": "2h", "BATON_REFRESH_TTL": "1h"},
			[]string{"BATON_ACCESS_TTL", "BATON_REFRESH_TTL"}},
		{"IdleLongerThanRefresh", map[string]string{"BATON_REFRESH_IDLE_TTL": "2s", "BATON_REFRESH_TTL": "1s"},
			[]string{"BATON_REFRESH_IDLE_TTL", "BATON_REFRESH_TTL"}},
		{"GraceLongerThanIdle", map[string]string{"BATON_REUSE_GRACE": "10s", "BATON_REFRESH_IDLE_TTL": "5s"},
			[]string{"BATON_REUSE_GRACE", "BATON_REFRESH_IDLE_TTL"}},
		{"GraceLongerThanRefresh", map[string]string{"BATON_REUSE_GRACE": "10s", "BATON_REFRESH_TTL": "5s"},
			[]string{"BATON_REUSE_GRACE", "BATON_REFRESH_TTL"}},
		{"WindowNotShorterThanAccess", map[string]string{"BATON_IMPLICIT_REFRESH_WINDOW": "1m", "BATON_ACCESS_TTL": "1m"},
			[]string{"BATON_IMPLICIT_REFRESH_WINDOW", "BATON_ACCESS_TTL"}},
		{"WindowNotShorterThanRefresh", map[string]string{"BATON_IMPLICIT_REFRESH_WINDOW": "10m", "BATON_REFRESH_TTL": "10m"},
			[]string{"BATON_IMPLICIT_REFRESH_WINDOW", "BATON_REFRESH_TTL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(tt.env)
			if err == nil {
				t.Fatalf("started; want an error naming %v", tt.want)
			}
			for _, name := range tt.want {
				if !strings.Contains(err.Error(), name) {
					t.Fatalf("got %q, want it to name %v", err, tt.want)
				}
			}
		})
	}
}

// TestMessagesReadLikeSettings: durations in messages are written as an
// operator writes them.
func TestMessagesReadLikeSettings(t *testing.T) {
	_, err := load(map[string]string{"BATON_REFRESH_IDLE_TTL": "48h", "BATON_REFRESH_TTL": "24h"})
	if want := "BATON_REFRESH_IDLE_TTL (48h) must not exceed BATON_REFRESH_TTL (24h)"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	for d, want := range map[time.Duration]string{
		48 * time.Hour: "48h", 90 * time.Minute: "1h30m", time.Minute: "1m", 90 * time.Second: "1m30s",
		time.Second: "1s", time.Second / 3: "333.333333ms", time.Hour + time.Second: "1h0m1s",
	} {
		if got := short(d); got != want {
			t.Errorf("short(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestMinimumLifetime: every lifetime accepts 1s and refuses less, naming
// the variable.
func TestMinimumLifetime(t *testing.T) {
	for _, name := range []string{"BATON_ACCESS_TTL", "BATON_REFRESH_TTL", "BATON_REFRESH_IDLE_TTL"} {
		t.Run(name, func(t *testing.T) {
			if _, err := load(map[string]string{name: "1s"}); err != nil {
				t.Fatalf("%s=1s: %v", name, err)
			}
			_, err := load(map[string]string{name: "999ms"})
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "minimum 1s") {
				t.Fatalf("%s=999ms: got %v, want an error naming %s and the 1s minimum", name, err, name)
			}
		})
	}
}
