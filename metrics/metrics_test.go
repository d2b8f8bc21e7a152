package metrics_test

import (
	"context"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/metrics"
	"github.com/batonauth/baton/session"
	"github.com/prometheus/client_golang/prometheus"
)

// watcherStore is a store with the RevocationWatcher capability.
type watcherStore struct{ baton.Store }

func (watcherStore) WatchRevocations(ctx context.Context, notify func(string)) error { return nil }

// rotatorStore is a store with the RefreshRotator capability.
type rotatorStore struct{ baton.Store }

func (rotatorStore) RotateRefresh(context.Context, baton.Rotation, baton.RotationGate) (*baton.RefreshRotated, error) {
	return &baton.RefreshRotated{Rotated: true}, nil
}

func TestInstrumentStoreKeepsCapabilities(t *testing.T) {
	db := batontest.OpenSQLite(t)
	s := metrics.InstrumentStore(db, prometheus.NewRegistry())
	if _, ok := s.(baton.SessionCounter); !ok {
		t.Fatal("the sqlite store lost CountLiveSessions")
	}
	if _, ok := s.(baton.RevocationWatcher); ok {
		t.Fatal("the sqlite store gained WatchRevocations")
	}
	w := metrics.InstrumentStore(watcherStore{db}, prometheus.NewRegistry())
	if _, ok := w.(baton.RevocationWatcher); !ok {
		t.Fatal("a watching store lost WatchRevocations")
	}
	if _, ok := w.(baton.SessionCounter); ok {
		t.Fatal("a store without CountLiveSessions gained it")
	}
	if _, ok := s.(baton.RefreshRotator); ok {
		t.Fatal("the sqlite store gained RotateRefresh")
	}
	reg := prometheus.NewRegistry()
	r := metrics.InstrumentStore(rotatorStore{db}, reg)
	rr, ok := r.(baton.RefreshRotator)
	if !ok {
		t.Fatal("a rotating store lost RotateRefresh")
	}
	if out, err := rr.RotateRefresh(context.Background(), baton.Rotation{}, baton.RotationGate{}); err != nil || !out.Rotated {
		t.Fatalf("RotateRefresh through the decorator: %+v, %v", out, err)
	}
}

func TestInstrumentStoreTimesAndCountsErrors(t *testing.T) {
	db := batontest.OpenSQLite(t)
	reg := prometheus.NewRegistry()
	s := metrics.InstrumentStore(db, reg)
	ctx := context.Background()
	if _, err := s.UserByID(ctx, "nobody"); baton.ErrorCode(err) != baton.ENotFound {
		t.Fatalf("UserByID: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range out {
		if mf.GetName() != "baton_store_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			series++
			name := m.GetLabel()[0].GetValue()
			n := m.GetHistogram().GetSampleCount()
			if (name == "UserByID" || name == "Ping") != (n == 1) {
				t.Errorf("%s observed %d times", name, n)
			}
		}
	}
	// Every method of baton.Store but Close is timed, and the timed
	// capability (RotateRefresh).
	if want := reflect.TypeOf((*baton.Store)(nil)).Elem().NumMethod() - 1 + 1; series != want {
		t.Fatalf("%d store-duration series, want one per method (%d)", series, want)
	}
	if v := counterValue(t, reg, "baton_store_errors_total", "UserByID"); v != 0 {
		t.Fatalf("a not-found outcome counted as an error: %v", v)
	}
	db.Close()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("ping of a closed store")
	}
	if v := counterValue(t, reg, "baton_store_errors_total", "Ping"); v != 1 {
		t.Fatalf("Ping errors %v, want 1", v)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, method string) float64 {
	t.Helper()
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == method {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{method=%q}", name, method)
	return 0
}

// nopStore answers every call at once, to measure the decorator alone.
type nopStore struct{ baton.Store }

func (nopStore) Ping(context.Context) error { return nil }
func (nopStore) Rotate(context.Context, baton.Rotation) error {
	return nil
}

func TestInstrumentStoreDoesNotAllocate(t *testing.T) {
	s := metrics.InstrumentStore(nopStore{}, prometheus.NewRegistry())
	ctx := context.Background()
	r := baton.Rotation{SessionID: "s"}
	if n := testing.AllocsPerRun(1000, func() { _ = s.Rotate(ctx, r); _ = s.Ping(ctx) }); n != 0 {
		t.Fatalf("%v allocations per instrumented call, want 0", n)
	}
}

func TestObserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "v1.2.3")
	m.ObserveRequest("/v1/refresh", 200, 3*time.Millisecond)
	m.ObserveRequest("/v1/refresh", 200, 4*time.Millisecond)
	m.ObserveRequest("", 404, time.Millisecond)
	for _, e := range []session.Event{
		{Type: session.EventRefresh, Outcome: session.OutcomeOK},
		{Type: session.EventRefresh, Outcome: session.OutcomeExpiredIdle},
		{Type: session.EventRefresh, Outcome: session.OutcomeFailed},
		{Type: session.EventGraceReplay, Outcome: session.OutcomeOK},
		{Type: session.EventReuseDetected, Outcome: session.OutcomeRevoked},
		{Type: session.EventLogin, Outcome: session.OutcomeOK},
		{Type: session.EventLogin, Outcome: session.OutcomeFailed},
		{Type: session.EventLogin, Outcome: session.OutcomeFailed},
	} {
		m.ObserveEvent(e)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		`baton_http_requests_total{route="/v1/refresh",status="200"} 2`,
		`baton_http_requests_total{route="other",status="404"} 1`,
		`baton_http_request_duration_seconds_count{route="/v1/refresh",status="200"} 2`,
		`baton_refresh_total{outcome="rotated"} 1`,
		`baton_refresh_total{outcome="expired_idle"} 1`,
		`baton_refresh_total{outcome="invalid"} 1`,
		`baton_refresh_total{outcome="grace_replay"} 1`,
		`baton_refresh_total{outcome="reuse_revoked"} 1`,
		`baton_refresh_total{outcome="expired_absolute"} 0`,
		`baton_logins_total{outcome="ok"} 1`,
		`baton_logins_total{outcome="failed"} 2`,
		`baton_build_info{goversion="go`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := metrics.New(prometheus.NewRegistry(), "dev")
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest("/v1/refresh", 200, time.Millisecond)
	}
}
