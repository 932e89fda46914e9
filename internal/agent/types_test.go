package agent_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// TestTypes_ConsumerFiltersFollowTypes: the agent's durable consumer asks
// the server only for the types its watches receive: an exact zk watch
// no zk.children, a kv watch with types: [kv.put] no kv.deleted.
func TestTypes_ConsumerFiltersFollowTypes(t *testing.T) {
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
	names := testutil.Consumers(t, r.js, events.EventsStream)
	if len(names) != 1 {
		t.Fatalf("consumers %v, want the agent's one", names)
	}
	c, err := r.js.Consumer(context.Background(), events.EventsStream, names[0])
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(c.CachedInfo().Config.FilterSubjects))
	want := []string{
		events.EventSubject("kv.put", "cfg/app"),
		events.EventSubject("zk.changed", "/git/head"),
		events.EventSubject("zk.created", "/git/head"),
		events.EventSubject("zk.deleted", "/git/head"),
	}
	slices.Sort(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("filters %v, want %v", got, want)
	}
}
