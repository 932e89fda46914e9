package agent

import (
	"errors"

	"github.com/heraldhq/herald/events"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the agent's Prometheus series, on a registry of its own.
type metrics struct {
	reg          *prometheus.Registry
	received     prometheus.Counter
	runs         *prometheus.CounterVec
	collapsed    *prometheus.CounterVec
	discarded    *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	latency      *prometheus.HistogramVec
	reconnects   prometheus.Counter
	consumerLost prometheus.Counter
	watches      prometheus.Gauge
	reloadErrs   prometheus.Counter
	inFlight     *prometheus.GaugeVec
	redelivered  prometheus.Counter
	malformed    *prometheus.CounterVec
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
			Name: "herald_agent_events_received_total", Help: "Events delivered to the agent by JetStream.",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_agent_runs_total", Help: "Decided runs by watch and outcome status.",
		}, []string{"watch", "status"}),
		collapsed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_agent_collapsed_total", Help: "Events superseded by a newer event for the same key before they ran (queue mode).",
		}, []string{"watch"}),
		discarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_agent_discarded_total", Help: "Events dropped because a run was in flight (discard mode).",
		}, []string{"watch"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_agent_run_duration_seconds", Help: "Wall time of runs, all attempts.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"watch"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_agent_event_start_latency_seconds", Help: "From the event's time to the start of its run.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"watch"}),
		consumerLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_agent_consumer_lost_total", Help: "Times the agent's event consumer was deleted on the server and set up again.",
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
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_agent_runs_in_flight", Help: "Runs in flight by watch.",
		}, []string{"watch"}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_agent_redeliveries_total", Help: "Events JetStream delivered again (after a crash or an ack timeout).",
		}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_agent_malformed_events_total", Help: "Events dropped (terminated) before any watch saw them, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range []string{reasonNoMetadata, reasonNotCloudEvent, reasonBadSubject, reasonSubjectMismatch, reasonInvalid} {
		m.malformed.WithLabelValues(r)
	}
	m.reg.MustRegister(m.received, m.runs, m.collapsed, m.discarded, m.duration, m.latency,
		m.reconnects, m.consumerLost, m.watches, m.reloadErrs, m.inFlight, m.redelivered, m.malformed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
