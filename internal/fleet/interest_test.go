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

func TestTracker_FollowsAgents(t *testing.T) {
	_, js := testutil.ConnectStreams(t, testutil.RunNATS(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now().UTC()
	// Stored before the tracker starts: read at start.
	testutil.Announce(t, js, events.Announcement{Name: "web-1", Heartbeat: now, Interval: 60, Watches: []events.WatchSummary{
		{Name: "a", On: "zk:/git/head"}, {Name: "b", On: "event:x"}, {Name: "c", On: "kv:cfg/app.>"},
	}})
	// Stale: its last heartbeat is far older than 3 intervals.
	testutil.Announce(t, js, events.Announcement{Name: "old", Heartbeat: now.Add(-time.Hour), Interval: 10, Watches: []events.WatchSummary{
		{Name: "a", On: "zk:/stale"},
	}})
	tr := fleet.New(js, zerolog.Nop())
	go func() { _ = tr.Run(ctx) }()
	select {
	case <-tr.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("tracker not ready")
	}
	want := func(kind, list string) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, func() error {
			if got := strings.Join(tr.Selectors(kind), ","); got != list {
				return fmt.Errorf("%s selectors = %q, want %q", kind, got, list)
			}
			return nil
		})
	}
	want("zk", "zk:/git/head")
	want("kv", "kv:cfg/app.>")

	changed := tr.Changed()
	testutil.Announce(t, js, events.Announcement{Name: "web-2", Heartbeat: now, Interval: 60, Watches: []events.WatchSummary{
		{Name: "a", On: "zk:/git/head"}, {Name: "d", On: "zk:/deploy/**"},
	}})
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("Changed not closed after a new agent")
	}
	want("zk", "zk:/deploy/**,zk:/git/head")

	testutil.Announce(t, js, events.Announcement{Name: "web-2", Heartbeat: now, Interval: 60, Stopping: true})
	want("zk", "zk:/git/head")
}

func TestStatic(t *testing.T) {
	tr := fleet.Static("zk:/a", "kv:b/c", "zk:/a")
	if got := strings.Join(tr.Selectors("zk"), ","); got != "zk:/a" {
		t.Fatalf("zk = %q", got)
	}
	select {
	case <-tr.Ready():
	default:
		t.Fatal("static tracker not ready")
	}
}
