package callhooks

import (
	"time"

	"github.com/heraldhq/herald/events/call"
	"github.com/prometheus/client_golang/prometheus"
)

// Verdict labels of herald_call_pre_total.
const (
	verdictAllowed       = "allowed"
	verdictDenied        = "denied"
	verdictConfirm       = "confirm"        // allowed by every hook but the questions the caller must answer
	verdictRefused       = "refused"        // no hook ran: bad call, unknown method, no identity, audit not stored
	verdictHooksDisabled = "hooks_disabled" // the dispatcher-wide switch
)

// unknownMethod is the method label of calls to a method outside the
// dispatcher's list, so that typos cannot grow the series without bound.
const unknownMethod = "_unknown"

// metrics are the engine's series; the engine is a prometheus.Collector
// over them, which the dispatcher registers as it does for its sources.
type metrics struct {
	calls   *prometheus.CounterVec
	preTime *prometheus.HistogramVec
	skips   *prometheus.CounterVec
	results *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_call_pre_total",
			Help: "Pre requests answered, by method and verdict (allowed, denied, confirm, refused, hooks_disabled).",
		}, []string{"method", "verdict"}),
		preTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_call_pre_hook_duration_seconds",
			Help:    "Run time of pre hooks, by hook (one observation per run; per agent for run: agents).",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"hook"}),
		skips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_call_hooks_skipped_total",
			Help: "Calls whose hooks were skipped (call.hooks_skipped audit events), by who skipped: caller or hooks_disabled.",
		}, []string{"by"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_call_result_hooks_total",
			Help: "Post and err hook runs, by phase (post, err) and outcome status.",
		}, []string{"phase", "status"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.calls, m.preTime, m.skips, m.results}
}

// verdict counts one answered pre request.
func (m *metrics) verdict(method string, known []string, v call.Verdict) {
	if call.CheckKnownMethod(method, known) != nil {
		method = unknownMethod
	}
	label := verdictDenied
	switch {
	case v.Error != "":
		label = verdictRefused
	case v.HooksDisabled != "":
		label = verdictHooksDisabled
	case v.Allow:
		label = verdictAllowed
	case v.Pending():
		label = verdictConfirm
	}
	m.calls.WithLabelValues(method, label).Inc()
}

var _ prometheus.Collector = (*Engine)(nil)

// Describe implements prometheus.Collector.
func (e *Engine) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range e.m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (e *Engine) Collect(ch chan<- prometheus.Metric) {
	for _, c := range e.m.collectors() {
		c.Collect(ch)
	}
}

func seconds(ms float64) float64 { return (time.Duration(ms * float64(time.Millisecond))).Seconds() }
