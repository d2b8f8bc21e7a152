// Package metrics exposes baton's Prometheus metrics: HTTP requests per
// route and status, refresh and login outcomes, second-step attempts,
// security events, active
// sessions, the revoked-session set, revocation-feed lag, store latency,
// the audit queue and build information.
//
// Everything is registered on a *prometheus.Registry the caller injects;
// the package has no globals. Nothing here adds store work to a request:
// gauges that need the store query it when scraped, with a timeout, and
// cache the answer.
package metrics

import (
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/batonauth/baton/session"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Refresh outcomes, the values of baton_refresh_total{outcome}.
const (
	RefreshRotated         = "rotated"
	RefreshGraceReplay     = "grace_replay"
	RefreshReuseRevoked    = "reuse_revoked"
	RefreshExpiredIdle     = "expired_idle"
	RefreshExpiredAbsolute = "expired_absolute"
	RefreshRevoked         = "revoked"
	RefreshUnknown         = "unknown"
	RefreshInvalid         = "invalid" // e.g. an access token of another session
)

// Metrics holds baton's collectors. Its methods are safe for concurrent
// use.
type Metrics struct {
	reg      *prometheus.Registry
	duration *prometheus.HistogramVec
	requests *prometheus.CounterVec
	refresh  *prometheus.CounterVec
	logins   *prometheus.CounterVec
	mfa      *prometheus.CounterVec
	events   *prometheus.CounterVec
	mail     *prometheus.CounterVec

	refreshByOutcome map[string]prometheus.Counter
	loginOK          prometheus.Counter
	loginFailed      prometheus.Counter
}

// mfaMethods are the label values of baton_mfa_attempts_total{method};
// anything else a second_factor event names is counted as "other", so
// the label set stays bounded.
var mfaMethods = []string{session.MethodTOTP, session.MethodRecoveryCode, session.MethodPasskey}

// statusText holds the label value of every status code, so observing a
// request does not format a number.
var statusText = func() (t [600]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

// New registers baton's collectors, the Go runtime and process collectors
// and baton_build_info on reg.
func New(reg *prometheus.Registry, version string) *Metrics {
	m := &Metrics{
		reg: reg,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "baton_http_request_duration_seconds",
			Help:    "Latency of HTTP requests by route pattern and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "status"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_http_requests_total",
			Help: "HTTP requests by route pattern and status.",
		}, []string{"route", "status"}),
		refresh: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_refresh_total",
			Help: "Refresh attempts by outcome (rotated, grace_replay, reuse_revoked, expired_idle, expired_absolute, revoked, unknown, invalid).",
		}, []string{"outcome"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_logins_total",
			Help: "Logins by outcome (ok, failed); a right password that needs a second step counts once, when that step finishes.",
		}, []string{"outcome"}),
		mfa: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_mfa_attempts_total",
			Help: "Second steps of logins and reauths (POST /v1/login/mfa) by method (totp, recovery_code, passkey) and outcome (ok, failed).",
		}, []string{"method", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_auth_events_total",
			Help: "Security events by type and outcome.",
		}, []string{"type", "outcome"}),
		mail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_mail_deliveries_total",
			Help: "Mail delivery attempts by outcome (sent, retry, gave_up).",
		}, []string{"outcome"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "baton_build_info",
		Help: "Build information; the value is always 1.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(m.duration, m.requests, m.refresh, m.logins, m.mfa, m.events, m.mail, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.refreshByOutcome = make(map[string]prometheus.Counter)
	for _, o := range []string{RefreshRotated, RefreshGraceReplay, RefreshReuseRevoked, RefreshExpiredIdle,
		RefreshExpiredAbsolute, RefreshRevoked, RefreshUnknown, RefreshInvalid} {
		m.refreshByOutcome[o] = m.refresh.WithLabelValues(o)
	}
	m.loginOK = m.logins.WithLabelValues("ok")
	m.loginFailed = m.logins.WithLabelValues("failed")
	// Every series from the start, so a rate of failures is 0, not absent.
	for _, method := range mfaMethods {
		m.mfa.WithLabelValues(method, session.OutcomeOK)
		m.mfa.WithLabelValues(method, session.OutcomeFailed)
	}
	return m
}

// ObserveMail counts one delivery attempt of the outbox's mail by its
// outcome (mail.Sent, mail.Retry, mail.Given).
func (m *Metrics) ObserveMail(outcome string) { m.mail.WithLabelValues(outcome).Inc() }

// Registry is the registry the metrics live on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRequest records one HTTP request; it fits httpapi.Options.Observe.
// An empty route (no pattern matched) is reported as "other".
func (m *Metrics) ObserveRequest(route string, status int, d time.Duration) {
	if route == "" {
		route = "other"
	}
	st := "other"
	if status >= 0 && status < len(statusText) {
		st = statusText[status]
	}
	m.duration.WithLabelValues(route, st).Observe(d.Seconds())
	m.requests.WithLabelValues(route, st).Inc()
}

// ObserveEvent records a session event; it fits session.Config.Observer.
func (m *Metrics) ObserveEvent(e session.Event) {
	m.events.WithLabelValues(e.Type, e.Outcome).Inc()
	switch e.Type {
	case session.EventLogin:
		switch e.Outcome {
		case session.OutcomeOK:
			m.loginOK.Inc()
		case session.OutcomeMFARequired:
			// Not an outcome yet: the second step's login event is.
		default:
			m.loginFailed.Inc()
		}
	case session.EventSecondFactor:
		// The detail names the method, and for a refused passkey why
		// ("passkey: …").
		method := "other"
		if name, _, _ := strings.Cut(e.Detail, ":"); slices.Contains(mfaMethods, name) {
			method = name
		}
		outcome := session.OutcomeFailed
		if e.Outcome == session.OutcomeOK {
			outcome = session.OutcomeOK
		}
		m.mfa.WithLabelValues(method, outcome).Inc()
	case session.EventRefresh:
		o := e.Outcome
		switch o {
		case session.OutcomeOK:
			o = RefreshRotated
		case session.OutcomeFailed:
			o = RefreshInvalid
		}
		if c, ok := m.refreshByOutcome[o]; ok {
			c.Inc()
		} else {
			m.refresh.WithLabelValues(o).Inc()
		}
	case session.EventGraceReplay:
		m.refreshByOutcome[RefreshGraceReplay].Inc()
	case session.EventReuseDetected:
		m.refreshByOutcome[RefreshReuseRevoked].Inc()
	}
}
