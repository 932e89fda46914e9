package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/fleet"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/rs/zerolog"
)

// TestTracker_AnnouncementsOnlyInTheirOwnName: an announcement counts
// only on herald.agent.NAME of its own name (which NATS permissions give
// agent NAME alone) and, with an agent check, only for a name that passes
// it now (an active agent identity: a revoked one stops counting).
func TestTracker_AnnouncementsOnlyInTheirOwnName(t *testing.T) {
	_, js := testutil.ConnectStreams(t, testutil.RunNATS(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now().UTC()
	forged, err := json.Marshal(events.Announcement{Name: "evil", Heartbeat: now, Interval: 60,
		Watches: []events.WatchSummary{{Name: "a", On: "zk:/secret/db-password"}}})
	if err != nil {
		t.Fatal(err)
	}
	// On web-1's subject, in the name of evil.
	if _, err := js.Publish(ctx, events.AgentSubject("web-1"), forged); err != nil {
		t.Fatal(err)
	}
	testutil.Announce(t, js, events.Announcement{Name: "web-2", Heartbeat: now, Interval: 60,
		Watches: []events.WatchSummary{{Name: "a", On: "zk:/app/config"}}})
	testutil.Announce(t, js, events.Announcement{Name: "intruder", Heartbeat: now, Interval: 60,
		Watches: []events.WatchSummary{{Name: "a", On: "zk:/intruder"}}})

	var revoked atomic.Bool
	tr := fleet.New(js, zerolog.Nop())
	tr.SetAgentCheck(func() func(string) bool {
		gone := revoked.Load()
		return func(name string) bool { return name == "web-2" && !gone || name == "web-3" }
	})
	go func() { _ = tr.Run(ctx) }()
	want := func(list string) {
		t.Helper()
		testutil.Eventually(t, 20*time.Second, func() error {
			if got := strings.Join(tr.Selectors("zk"), ","); got != list {
				return fmt.Errorf("zk selectors = %q, want %q", got, list)
			}
			return nil
		})
	}
	want("zk:/app/config")
	testutil.Announce(t, js, events.Announcement{Name: "web-3", Heartbeat: now, Interval: 60,
		Watches: []events.WatchSummary{{Name: "a", On: "zk:/git/head"}}})
	want("zk:/app/config,zk:/git/head")
	if live := tr.LiveAgents(); len(live) != 2 || live[0].Name != "web-2" || live[1].Name != "web-3" {
		t.Errorf("live agents = %+v, want web-2 and web-3", live)
	}
	// web-2 revoked: its selectors stop counting without a new announcement.
	revoked.Store(true)
	want("zk:/git/head")
}
