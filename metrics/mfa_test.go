package metrics_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/batonauth/baton/metrics"
	"github.com/batonauth/baton/session"
)

// TestObserveSecondFactor: second_factor events are counted by method and
// outcome; a method or outcome nobody expects cannot add a series; a
// login that needs a second step is neither an ok nor a failed login.
func TestObserveSecondFactor(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	for _, e := range []session.Event{
		{Type: session.EventSecondFactor, Outcome: session.OutcomeOK, Detail: session.MethodTOTP},
		{Type: session.EventSecondFactor, Outcome: session.OutcomeFailed, Detail: session.MethodTOTP},
		{Type: session.EventSecondFactor, Outcome: session.OutcomeFailed, Detail: session.MethodTOTP},
		{Type: session.EventSecondFactor, Outcome: session.OutcomeOK, Detail: session.MethodRecoveryCode},
		{Type: session.EventSecondFactor, Outcome: session.OutcomeOK, Detail: "passkey"},
		{Type: session.EventSecondFactor, Outcome: session.OutcomeFailed, Detail: "sms\nor anything"},
		{Type: session.EventSecondFactor, Outcome: "weird", Detail: session.MethodRecoveryCode},
		{Type: session.EventLogin, Outcome: session.OutcomeMFARequired},
		{Type: session.EventLogin, Outcome: session.OutcomeOK, Detail: "mfa"},
	} {
		m.ObserveEvent(e)
	}
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "baton_mfa_attempts_total" && mf.GetName() != "baton_logins_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			got[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = s.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"baton_mfa_attempts_total{totp,ok}":              1,
		"baton_mfa_attempts_total{totp,failed}":          2,
		"baton_mfa_attempts_total{recovery_code,ok}":     1,
		"baton_mfa_attempts_total{recovery_code,failed}": 1,
		"baton_mfa_attempts_total{passkey,ok}":           1,
		"baton_mfa_attempts_total{passkey,failed}":       0,
		"baton_mfa_attempts_total{other,failed}":         1,
		"baton_logins_total{ok}":                         1,
		"baton_logins_total{failed}":                     0,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("counters (-want +got):\n%s", d)
	}
}
