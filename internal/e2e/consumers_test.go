package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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

// TestConsumers_OneOffReadsLeaveNone: an agent's run_on_load, herald
// status and herald tail (the real binaries) delete the consumers they read
// through, and the agent holds none of its own: after them the server holds
// the same consumers as before, none on the events stream.
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
	if got := c.consumers(t); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("after run_on_load consumers are %q, want %q (the agent holds none)", got, before)
	}
	c.assertNoEventsConsumer()
	for i := range 3 {
		if _, err := c.herald(t, "", "status"); err != nil {
			t.Fatal(err)
		}
		if got := c.consumers(t); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Fatalf("after herald status #%d consumers are %q, want %q", i+1, got, before)
		}
	}
	tail := start(t, "herald", "tail", "--nats", c.url, "--type", "test.cons", "--count", "1")
	tail.waitLog("herald tail: listening for events")
	c.publish("test.cons", "/k", "tailed")
	select {
	case <-tail.done:
	case <-time.After(wait):
		t.Fatalf("herald tail --count 1 did not exit after an event within %v", wait)
	}
	if tail.err != nil || !strings.Contains(tail.out.String(), "tailed") {
		t.Fatalf("herald tail: %v, output %q; want the event printed", tail.err, tail.out.String())
	}
	out.waitCount(t, "w", events.StatusOK, 2)
	if got := c.consumers(t); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("after herald tail consumers are %q, want %q", got, before)
	}
	c.assertNoEventsConsumer()
}

// TestConsumers_StoppedDaemonsLeaveOnlyDurables: a dispatcher (ZooKeeper
// and KV sources, call hooks, handlers) and an agent on an external NATS,
// both stopped: the server keeps the dispatcher's durable consumers and
// nothing else (no follower's ordered consumer waiting 5 minutes to
// expire; the agent holds none).
func TestConsumers_StoppedDaemonsLeaveOnlyDurables(t *testing.T) {
	t.Parallel()
	z := testutil.RunZooKeeper(t)
	zc := z.Connect(t)
	if _, err := zc.Create("/cons", []byte("a"), 0, zkOpenACL); err != nil {
		t.Fatal(err)
	}
	ns := testutil.RunNATS(t)
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--nats", ns.ClientURL(), "--zk", z.Addr(), "--kv-watch", "cfg")
	f := newFixture(t)
	f.watchFile("w.yaml", `
watches:
  - name: z
    on: zk:/cons
    exec: ["/bin/true"]
  - name: k
    on: kv:cfg/app
    exec: ["/bin/true"]
`)
	out := c.watchOutcomes()
	a := c.startAgent(agentOpts{name: "cons-2", watches: f.watches})
	out.waitCount(t, "z", events.StatusOK, 1)
	if _, err := c.herald(t, "", "kv", "put", "cfg/app", "v1"); err != nil {
		t.Fatal(err)
	}
	out.waitCount(t, "k", events.StatusOK, 1)
	if code := a.stop(); code != 0 {
		t.Fatalf("agent exited %d", code)
	}
	if code := c.disp.stop(); code != 0 {
		t.Fatalf("dispatcher exited %d", code)
	}
	var left []string
	for _, n := range c.consumers(t) {
		switch {
		case n == events.OutcomesStream+"/herald-handlers",
			strings.HasSuffix(n, "/herald-call-hooks"):
		default:
			left = append(left, n)
		}
	}
	if len(left) != 0 {
		t.Fatalf("consumers left behind by the stopped daemons: %q", left)
	}
}

// TestConsumers_DispatcherFollowsAgentsOnce: a real dispatcher with
// ZooKeeper and KV sources, call hooks and handlers, and an agent whose
// watches make both sources watch: the dispatcher follows HERALD_AGENTS
// through its one fleet tracker (internal/fleet); no source, handler
// engine or call hooks engine opens a consumer of its own.
func TestConsumers_DispatcherFollowsAgentsOnce(t *testing.T) {
	t.Parallel()
	z := testutil.RunZooKeeper(t)
	zc := z.Connect(t)
	if _, err := zc.Create("/fleet", []byte("a"), 0, zkOpenACL); err != nil {
		t.Fatal(err)
	}
	ns := testutil.RunNATS(t)
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--nats", ns.ClientURL(), "--zk", z.Addr(), "--kv-watch", "cfg")
	followers := func() error {
		if got := testutil.Consumers(t, c.js, events.AgentsStream); len(got) != 1 {
			return fmt.Errorf("consumers on %s = %q, want 1 (the fleet tracker)", events.AgentsStream, got)
		}
		return nil
	}
	testutil.Eventually(t, wait, followers)

	f := newFixture(t)
	f.watchFile("w.yaml", `
watches:
  - name: z
    on: zk:/fleet
    exec: ["/bin/true"]
  - name: k
    on: kv:cfg/app
    exec: ["/bin/true"]
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "fleet-1", watches: f.watches})
	// The ZooKeeper source watches /fleet only once the tracker has read
	// the agent's announcement; the handlers see the outcome.
	out.waitCount(t, "z", events.StatusOK, 1)
	if _, err := c.herald(t, "", "kv", "put", "cfg/app", "v1"); err != nil {
		t.Fatal(err)
	}
	out.waitCount(t, "k", events.StatusOK, 1)
	testutil.Eventually(t, wait, followers)
}
