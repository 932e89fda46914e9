package fleet_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// TestTracker_Metrics: the tracker's series say how many agents are live,
// stale and stopped, and which agent's heartbeat stopped (stale: no
// heartbeat within the liveness rule and no stop announcement), so that
// an alert can name it; a stopped agent is not stale, and a stale agent
// that announces again is live.
func TestTracker_Metrics(t *testing.T) {
	_, js := testutil.ConnectStreams(t, testutil.RunNATS(t))
	now := time.Now().UTC()
	testutil.Announce(t, js, events.Announcement{Name: "web-1", Heartbeat: now, Interval: 60})
	testutil.Announce(t, js, events.Announcement{Name: "gone", Heartbeat: now.Add(-time.Hour), Interval: 10})
	testutil.Announce(t, js, events.Announcement{Name: "down", Heartbeat: now, Interval: 60, Stopping: true})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(testutil.RunTracker(t, js))
	want := func(live, stale, stopped, gone string) string {
		return `
# HELP herald_fleet_agent_stale 1 when the agent's last heartbeat is older than the liveness rule allows and it did not announce that it was stopping; 0 when live or stopped.
# TYPE herald_fleet_agent_stale gauge
herald_fleet_agent_stale{agent="down"} 0
herald_fleet_agent_stale{agent="gone"} ` + gone + `
herald_fleet_agent_stale{agent="web-1"} 0
# HELP herald_fleet_agents Agents whose latest announcement this dispatcher holds, by state: live, stale (heartbeat stopped without a stop announcement) or stopped (announced it was stopping).
# TYPE herald_fleet_agents gauge
herald_fleet_agents{state="live"} ` + live + `
herald_fleet_agents{state="stale"} ` + stale + `
herald_fleet_agents{state="stopped"} ` + stopped + `
`
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		return compare(reg, want("1", "1", "1", "1"))
	})
	testutil.Announce(t, js, events.Announcement{Name: "gone", Heartbeat: time.Now().UTC(), Interval: 10})
	testutil.Eventually(t, 20*time.Second, func() error {
		return compare(reg, want("2", "0", "1", "0"))
	})
}

// compare gathers reg in the text exposition format and compares it with
// want.
func compare(reg *prometheus.Registry, want string) error {
	fams, err := reg.Gather()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, mf := range fams {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			return err
		}
	}
	if got := strings.TrimSpace(b.String()); got != strings.TrimSpace(want) {
		return fmt.Errorf("metrics:\n%s\nwant:\n%s", got, strings.TrimSpace(want))
	}
	return nil
}
