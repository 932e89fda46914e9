package watchrun_test

import (
	"testing"

	"github.com/heraldhq/herald/internal/agent/watchrun"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/prometheus/client_golang/prometheus"
)

// TestMetrics_SeriesAtZeroFromTheWatchLoad: a watch's series exist, at
// zero, as soon as its runtime is made, before any event: a dashboard or
// an alert over a fresh agent finds them, and rate() counts the first run.
func TestMetrics_SeriesAtZeroFromTheWatchLoad(t *testing.T) {
	f, err := watch.Parse("w.yaml", []byte("watches:\n  - name: w\n    on: event:t\n    exec: [\"/bin/true\"]\n    run_on_load: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Metrics.Collectors()...)
	if _, err := watchrun.New(&e.Env, f.Watches[0]); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, mf := range fams {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["watch"] != "w" {
				t.Errorf("%s has a series of watch %q", mf.GetName(), labels["watch"])
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
			if v != 0 {
				t.Errorf("%s%v = %v before any event, want 0", mf.GetName(), labels, v)
			}
			got[mf.GetName()+"/"+labels["status"]]++
		}
	}
	for _, want := range []string{
		"herald_agent_runs_total/ok", "herald_agent_runs_total/failed", "herald_agent_runs_total/timeout",
		"herald_agent_runs_total/error", "herald_agent_runs_total/discarded",
		"herald_agent_collapsed_total/", "herald_agent_discarded_total/", "herald_agent_run_duration_seconds/",
		"herald_agent_event_start_latency_seconds/", "herald_agent_runs_in_flight/",
	} {
		if got[want] != 1 {
			t.Errorf("series %s: %d, want 1 at load (got %v)", want, got[want], got)
		}
	}
}
