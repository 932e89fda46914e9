package agent

import (
	"errors"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/agent/watchrun"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the agent's Prometheus series, on a registry of its own.
type metrics struct {
	reg          *prometheus.Registry
	received     prometheus.Counter
	reconnects   prometheus.Counter
	consumerLost prometheus.Counter
	watches      prometheus.Gauge
	reloadErrs   prometheus.Counter
	redelivered  prometheus.Counter
	caughtUp     prometheus.Counter
	malformed    *prometheus.CounterVec
	run          *watchrun.Metrics // the watches' runs, by watch
}

// Reasons of herald_agent_malformed_events_total: a fixed set, one per way
// an event can be dropped before any watch sees it.
const (
	reasonNoMetadata      = "no_metadata"      // JetStream metadata unreadable
	reasonNotCloudEvent   = "not_cloudevent"   // neither binary nor structured mode
	reasonBadSubject      = "bad_subject"      // the NATS subject is not an event subject
	reasonSubjectMismatch = "subject_mismatch" // ce-type or ce-subject disagree with the subject
	reasonInvalid         = "invalid"          // a missing or malformed attribute
)

// malformedReason maps an events.FromMsg error to its reason.
func malformedReason(err error) string {
	switch {
	case errors.Is(err, events.ErrNotCloudEvent):
		return reasonNotCloudEvent
	case errors.Is(err, events.ErrBadSubject):
		return reasonBadSubject
	case errors.Is(err, events.ErrSubjectMismatch):
		return reasonSubjectMismatch
	}
	return reasonInvalid
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_agent_events_received_total", Help: "Events delivered to the agent (live, or read back by its feed).",
		}),
		consumerLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_agent_consumer_lost_total", Help: "Kept for dashboards; always 0: agents hold no consumer on the server.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_nats_reconnects_total", Help: "NATS reconnections.",
		}),
		watches: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "herald_agent_watches", Help: "Watches loaded.",
		}),
		reloadErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_agent_reload_errors_total", Help: "Watch files that failed to load; their previous version stays active.",
		}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_agent_redeliveries_total", Help: "Events the agent's feed read back rather than received live (after a restart, a reconnect or a loss).",
		}),
		caughtUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_agent_events_caught_up_total", Help: "Events a catch-up read found, counting the older ones of a subject it decided with the newest.",
		}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_agent_malformed_events_total", Help: "Events dropped (terminated) before any watch saw them, by reason.",
		}, []string{"reason"}),
		run: watchrun.NewMetrics(),
	}
	for _, r := range []string{reasonNoMetadata, reasonNotCloudEvent, reasonBadSubject, reasonSubjectMismatch, reasonInvalid} {
		m.malformed.WithLabelValues(r)
	}
	m.reg.MustRegister(m.received, m.reconnects, m.consumerLost, m.watches, m.reloadErrs, m.redelivered, m.caughtUp, m.malformed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(m.run.Collectors()...)
	return m
}
