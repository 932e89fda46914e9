package fleet

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// The tracker is a prometheus.Collector over the announcements it holds,
// so that the dispatcher's /metrics says which agents are live and which
// stopped sending heartbeats without saying goodbye.
var (
	descAgents = prometheus.NewDesc("herald_fleet_agents",
		"Agents whose latest announcement this dispatcher holds, by state: live, stale (heartbeat stopped without a stop announcement) or stopped (announced it was stopping).",
		[]string{"state"}, nil)
	descAgentStale = prometheus.NewDesc("herald_fleet_agent_stale",
		"1 when the agent's last heartbeat is older than the liveness rule allows and it did not announce that it was stopping; 0 when live or stopped.",
		[]string{"agent"}, nil)
)

// States of herald_fleet_agents.
const (
	stateLive    = "live"
	stateStale   = "stale"
	stateStopped = "stopped"
)

var _ prometheus.Collector = (*Tracker)(nil)

// Describe implements prometheus.Collector.
func (t *Tracker) Describe(ch chan<- *prometheus.Desc) {
	ch <- descAgents
	ch <- descAgentStale
}

// Collect implements prometheus.Collector: every state's count (0
// included) and one series per agent that passes the agent check.
func (t *Tracker) Collect(ch chan<- prometheus.Metric) {
	t.mu.Lock()
	now := t.now()
	ok := t.check()
	states := map[string]string{}
	for name, a := range t.agents {
		if !ok(name) {
			continue
		}
		switch {
		case a.Stopping:
			states[name] = stateStopped
		case a.Live(now):
			states[name] = stateLive
		default:
			states[name] = stateStale
		}
	}
	t.mu.Unlock()
	counts := map[string]int{stateLive: 0, stateStale: 0, stateStopped: 0}
	names := make([]string, 0, len(states))
	for name, st := range states {
		counts[st]++
		names = append(names, name)
	}
	sort.Strings(names)
	for _, st := range []string{stateLive, stateStale, stateStopped} {
		ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(counts[st]), st)
	}
	for _, name := range names {
		v := 0.0
		if states[name] == stateStale {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descAgentStale, prometheus.GaugeValue, v, name)
	}
}
