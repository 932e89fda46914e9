package dispatcher

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics live in a registry of their own, so that several dispatchers can
// run in one process (tests) without clashing.
type metrics struct {
	reg        *prometheus.Registry
	published  *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	errors     *prometheus.CounterVec
	reconnects prometheus.Counter
}

func newMetrics(connected func() bool) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_dispatcher_events_published_total",
			Help: "Events stored in the events stream, by source (duplicates are counted apart).",
		}, []string{"source"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_dispatcher_events_duplicate_total",
			Help: "Events the stream's dedup window dropped as repeats, by source.",
		}, []string{"source"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_dispatcher_publish_errors_total",
			Help: "Events that could not be published, by source.",
		}, []string{"source"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_nats_reconnects_total",
			Help: "Reconnections of the dispatcher's NATS connection.",
		}),
	}
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "herald_nats_connected",
		Help: "1 when the dispatcher's NATS connection is up.",
	}, func() float64 {
		if connected() {
			return 1
		}
		return 0
	})
	m.reg.MustRegister(m.published, m.duplicates, m.errors, m.reconnects, up,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// addSource makes the per-source series appear (at zero) before the first
// event.
func (m *metrics) addSource(name string) {
	m.published.WithLabelValues(name)
	m.duplicates.WithLabelValues(name)
	m.errors.WithLabelValues(name)
}

// setHooksDisabled registers herald_dispatcher_hooks_disabled: 1 while the
// kill switch (--hooks-disabled) is on, every call allowed without its
// hooks. The reason stays out of the series (free text).
func (m *metrics) setHooksDisabled(on bool) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "herald_dispatcher_hooks_disabled",
		Help: "1 while call hooks are disabled dispatcher-wide (--hooks-disabled, the kill switch): every call is allowed and audited.",
	})
	if on {
		g.Set(1)
	}
	m.reg.MustRegister(g)
}
