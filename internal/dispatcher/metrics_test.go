package dispatcher_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestDispatcher_FleetAndKillSwitchMetrics: /metrics says whether the kill
// switch is on and which agents are live or stale, the series the
// shipped alerts (deploy/prometheus/alerts.yaml) fire on.
func TestDispatcher_FleetAndKillSwitchMetrics(t *testing.T) {
	cfg := testConfig(t)
	cfg.HooksDisabled = "incident 42"
	d := startDispatcher(t, cfg)
	_, scrape := get(t, d, "/metrics")
	for series, want := range map[string]string{
		`herald_dispatcher_hooks_disabled`:     "1",
		`herald_fleet_agents{state="live"}`:    "0",
		`herald_fleet_agents{state="stale"}`:   "0",
		`herald_fleet_agents{state="stopped"}`: "0",
	} {
		if v, err := metricValue(scrape, series); err != nil || v != want {
			t.Errorf("%s = %q, %v; want %s at start", series, v, err, want)
		}
	}

	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	testutil.Announce(t, js, events.Announcement{Name: "web-1", Heartbeat: now, Interval: 60})
	testutil.Announce(t, js, events.Announcement{Name: "web-2", Heartbeat: now.Add(-time.Hour), Interval: 10})
	testutil.Eventually(t, 20*time.Second, func() error {
		_, scrape := get(t, d, "/metrics")
		for series, want := range map[string]string{
			`herald_fleet_agents{state="live"}`:       "1",
			`herald_fleet_agents{state="stale"}`:      "1",
			`herald_fleet_agent_stale{agent="web-1"}`: "0",
			`herald_fleet_agent_stale{agent="web-2"}`: "1",
		} {
			if v, err := metricValue(scrape, series); err != nil || v != want {
				return fmt.Errorf("%s = %q, %v; want %s", series, v, err, want)
			}
		}
		return nil
	})

	// Without --hooks-disabled the series is there, at 0.
	_, scrape = get(t, startDispatcher(t, testConfig(t)), "/metrics")
	if v, err := metricValue(scrape, `herald_dispatcher_hooks_disabled`); err != nil || v != "0" {
		t.Errorf("herald_dispatcher_hooks_disabled = %q, %v; want 0 with call hooks on", v, err)
	}
}
