package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// consumers lists every consumer of every stream, as "STREAM/NAME".
func (c *cluster) consumers(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var out []string
	names := c.js.StreamNames(ctx)
	for s := range names.Name() {
		for _, n := range testutil.Consumers(t, c.js, s) {
			out = append(out, s+"/"+n)
		}
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestConsumers_OneOffReadsLeaveNone: herald status (the real binary) and
// an agent's run_on_load delete the consumers they read through: after
// them the server holds the same consumers as before, plus the agent's
// own durable one.
func TestConsumers_OneOffReadsLeaveNone(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	c.publish("test.cons", "/k", "boot")
	f.watchFile("w.yaml", `
watches:
  - name: w
    on: event:test.cons
    exec: ["/bin/true"]
`)
	before := c.consumers(t)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "cons-1", watches: f.watches})
	out.waitCount(t, "w", events.StatusOK, 1) // the run_on_load run
	afterLoad := c.consumers(t)
	var added []string
	for _, n := range afterLoad {
		if !slices.Contains(before, n) {
			added = append(added, n)
		}
	}
	if len(added) != 1 || !strings.HasPrefix(added[0], events.EventsStream+"/herald-agent-cons-1-") {
		t.Fatalf("after run_on_load the agent added consumers %q, want only its durable one", added)
	}
	for i := range 3 {
		if _, err := c.herald(t, "", "status"); err != nil {
			t.Fatal(err)
		}
		if got := c.consumers(t); fmt.Sprint(got) != fmt.Sprint(afterLoad) {
			t.Fatalf("after herald status #%d consumers are %q, want %q", i+1, got, afterLoad)
		}
	}
}
