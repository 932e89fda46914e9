package agent_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// TestTypes_FeedFollowsTypes: the agent holds no consumer on the events
// stream and subscribes only to the live subjects of the types its
// watches receive: an exact zk watch no zk.children, a kv watch with
// types: [kv.put] no kv.deleted.
func TestTypes_FeedFollowsTypes(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.startAgent("filters", map[string]string{"w.yaml": `
watches:
  - on: zk:/git/head
    exec: ["/bin/true"]
  - on: kv:cfg/app
    types: [kv.put]
    exec: ["/bin/true"]
`})
	if names := testutil.Consumers(t, r.js, events.EventsStream); len(names) != 0 {
		t.Fatalf("consumers %v, want none", names)
	}
	want := []string{
		events.LiveSubject(events.EventSubject("kv.put", "cfg/app")),
		events.LiveSubject(events.EventSubject("zk.changed", "/git/head")),
		events.LiveSubject(events.EventSubject("zk.created", "/git/head")),
		events.LiveSubject(events.EventSubject("zk.deleted", "/git/head")),
	}
	slices.Sort(want)
	var got []string
	testutil.Eventually(t, 10*time.Second, func() error {
		got = got[:0]
		for _, s := range testutil.ClientSubscriptions(t, r.srv, "herald-agent filters") {
			if strings.HasPrefix(s, events.LivePrefix+".") {
				got = append(got, s)
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			return fmt.Errorf("live subscriptions %v, want %v", got, want)
		}
		return nil
	})
}
