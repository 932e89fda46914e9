package fleet_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/fleet"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/rs/zerolog"
)

func TestTracker_LiveAgents(t *testing.T) {
	_, js := testutil.ConnectStreams(t, testutil.RunNATS(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now().UTC()
	w := []events.WatchSummary{{Name: "git-pull", On: "event:git.push"}}
	testutil.Announce(t, js, events.Announcement{Name: "web-2", Heartbeat: now, Interval: 60, Watches: w})
	testutil.Announce(t, js, events.Announcement{Name: "web-1", Heartbeat: now, Interval: 60, Watches: w})
	testutil.Announce(t, js, events.Announcement{Name: "stale", Heartbeat: now.Add(-time.Hour), Interval: 10, Watches: w})
	testutil.Announce(t, js, events.Announcement{Name: "stopping", Heartbeat: now, Interval: 60, Stopping: true, Watches: w})

	tr := fleet.New(js, zerolog.Nop())
	go func() { _ = tr.Run(ctx) }()
	names := func() string {
		var n []string
		for _, a := range tr.LiveAgents() {
			n = append(n, a.Name)
		}
		return strings.Join(n, ",")
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := names(); got != "web-1,web-2" {
			return fmt.Errorf("live agents = %q, want web-1,web-2 (sorted, no stale or stopping agent)", got)
		}
		return nil
	})
	if got := tr.LiveAgents()[0].Watches; len(got) != 1 || got[0].Name != "git-pull" {
		t.Fatalf("watches of web-1 = %+v", got)
	}
	testutil.Announce(t, js, events.Announcement{Name: "web-2", Heartbeat: now, Interval: 60, Stopping: true})
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := names(); got != "web-1" {
			return fmt.Errorf("live agents = %q after web-2 stopped, want web-1", got)
		}
		return nil
	})
}
