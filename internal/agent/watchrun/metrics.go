package watchrun

import (
	"github.com/heraldhq/herald/events"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the runtimes' Prometheus series, by watch; the agent
// registers them (Collectors) beside its own.
type Metrics struct {
	runs      *prometheus.CounterVec
	collapsed *prometheus.CounterVec
	discarded *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	latency   *prometheus.HistogramVec
	inFlight  *prometheus.GaugeVec
	waiting   *prometheus.GaugeVec
	turns     *prometheus.GaugeVec
	halted    *prometheus.CounterVec
	toDone    *prometheus.HistogramVec
}

// NewMetrics makes the series, unregistered.
func NewMetrics() *Metrics {
	return &Metrics{
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
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_agent_runs_in_flight", Help: "Runs in flight by watch (a rollout's once they hold a turn).",
		}, []string{"watch"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_agent_rollout_waiting", Help: "Runs waiting for their rollout turn, by watch.",
		}, []string{"watch"}),
		turns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_agent_rollout_running", Help: "Runs holding a rollout turn, by watch.",
		}, []string{"watch"}),
		halted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_agent_rollout_halted_total", Help: "Events not run because their rollout was halted, by watch.",
		}, []string{"watch"}),
		toDone: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "herald_agent_rollout_event_to_done_seconds", Help: "From the event's time to the end of this host's run in its rollout; the fleet's maximum is the time to the last host.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"watch"}),
	}
}

// runStatuses are the outcome statuses of a run that started or was
// decided by its watch: their herald_agent_runs_total series exist (at 0)
// from the watch's load on, so that a rate or a failure ratio counts the
// first run too.
var runStatuses = []events.Status{events.StatusOK, events.StatusFailed, events.StatusTimeout, events.StatusError, events.StatusDiscarded, events.StatusHalted}

// addWatch makes watch's series appear at zero before its first event: a
// series that appears with its first increment loses that increment to
// rate() and increase(), and a dashboard or alert over a fresh agent
// would see no series at all.
func (m *Metrics) addWatch(watch string) {
	if m == nil {
		return
	}
	for _, st := range runStatuses {
		m.runs.WithLabelValues(watch, string(st))
	}
	m.collapsed.WithLabelValues(watch)
	m.discarded.WithLabelValues(watch)
	m.duration.WithLabelValues(watch)
	m.latency.WithLabelValues(watch)
	m.inFlight.WithLabelValues(watch)
	m.waiting.WithLabelValues(watch)
	m.turns.WithLabelValues(watch)
	m.halted.WithLabelValues(watch)
	m.toDone.WithLabelValues(watch)
}

// Collectors are the series, for the agent's registry.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.runs, m.collapsed, m.discarded, m.duration, m.latency, m.inFlight, m.waiting, m.turns, m.halted, m.toDone}
}
