package e2e_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

// shortAckWait is the agents' ack_wait in the tests that wait past it.
const shortAckWait = 2 * time.Second

// consumerInfo is the durable consumer of the agent named name.
func (c *cluster) consumerInfo(name string) *jetstream.ConsumerInfo {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := c.js.Stream(ctx, events.EventsStream)
	if err != nil {
		c.t.Fatal(err)
	}
	l := s.ListConsumers(ctx)
	for ci := range l.Info() {
		if ci.Config.Durable != "" && ci.Config.Description == "herald agent "+name {
			return ci
		}
	}
	if err := l.Err(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Fatalf("no durable consumer of agent %s", name)
	return nil
}

// assertSettled checks the agent's consumer until ack_wait (and a margin)
// has passed since decided: every delivered event acknowledged, none
// pending, and exactly deliveries deliveries (no redelivery), at every look.
func (c *cluster) assertSettled(name string, decided time.Time, ackWait time.Duration, deliveries uint64) {
	c.t.Helper()
	until := decided.Add(ackWait + time.Second)
	testutil.Eventually(c.t, ackWait+wait, func() error {
		ci := c.consumerInfo(name)
		if ci.NumAckPending != 0 || ci.NumRedelivered != 0 || ci.AckFloor.Stream != ci.Delivered.Stream || ci.Delivered.Consumer != deliveries {
			c.t.Fatalf("consumer of %s at %v after the decision: %d ack pending, %d redelivered, ack floor %d, delivered %d (%d deliveries, want %d); want everything acked once",
				name, time.Since(decided).Round(time.Millisecond), ci.NumAckPending, ci.NumRedelivered, ci.AckFloor.Stream, ci.Delivered.Stream, ci.Delivered.Consumer, deliveries)
		}
		if time.Now().Before(until) {
			return fmt.Errorf("not yet past ack_wait (%v) since the decision", ackWait)
		}
		return nil
	})
}

func TestAgent_AckedOnceDecided(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"queue", "discard"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t)
			f := newFixture(t)
			f.script("gate.sh", gateScript)
			f.watchFile("w.yaml", `
watches:
  - name: w
    on: event:test.acked
    exec: ["%DIR%/gate.sh"]
    env: {DIR: "%DIR%"}
    run_mode: `+mode+`
    run_on_load: false
`)
			out := c.watchOutcomes()
			c.startAgent(agentOpts{name: "a1", watches: f.watches, extra: []string{"--ack-wait", shortAckWait.String()}})
			c.publish("test.acked", "k", "first")
			waitFile(t, f.path("started"))
			// Held behind the first run: superseded (queue) or discarded.
			for i := range 5 {
				c.publish("test.acked", "k", fmt.Sprintf("e%d", i))
			}
			if mode == "discard" {
				out.waitCount(t, "w", events.StatusDiscarded, 5)
			} else {
				// Each newer event takes the slot of the one before; the
				// consumer delivered all six once every earlier one is
				// decided and the last is held.
				testutil.Eventually(t, wait, func() error {
					if ci := c.consumerInfo("a1"); ci.Delivered.Stream < 6 || ci.NumAckPending != 2 {
						return fmt.Errorf("delivered %d, ack pending %d; want 6 delivered, 2 pending (the run and the slot)", ci.Delivered.Stream, ci.NumAckPending)
					}
					return nil
				})
			}
			if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			want := "first"
			if mode == "queue" {
				want = "first,e4"
			}
			testutil.Eventually(t, wait, func() error {
				if got := strings.Join(readLines(t, f.path("runs.log")), ","); got != want {
					return fmt.Errorf("runs %q, want %q", got, want)
				}
				return nil
			})
			out.waitCount(t, "w", events.StatusOK, strings.Count(want, ",")+1)
			c.assertSettled("a1", time.Now(), shortAckWait, 6)
			if got := strings.Join(readLines(t, f.path("runs.log")), ","); got != want {
				t.Fatalf("runs after ack_wait %q, want %q (nothing redelivered and run again)", got, want)
			}
		})
	}
}

func TestAgent_LongRunNotRedelivered(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("gate.sh", gateScript)
	f.watchFile("w.yaml", `
watches:
  - name: w
    on: event:test.long
    exec: ["%DIR%/gate.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "a1", watches: f.watches, extra: []string{"--ack-wait", shortAckWait.String()}})
	c.publish("test.long", "k", "first")
	waitFile(t, f.path("started"))
	started := time.Now()
	// The run is held for three ack_waits: JetStream must not redeliver it.
	testutil.Eventually(t, 3*shortAckWait+wait, func() error {
		ci := c.consumerInfo("a1")
		if ci.NumRedelivered != 0 || ci.Delivered.Consumer != 1 {
			t.Fatalf("%d deliveries (%d redelivered) while the run was in flight, want 1", ci.Delivered.Consumer, ci.NumRedelivered)
		}
		if ci.NumAckPending != 1 {
			t.Fatalf("ack pending %d while the run is in flight, want 1", ci.NumAckPending)
		}
		if time.Since(started) < 3*shortAckWait {
			return fmt.Errorf("run in flight for %v, holding it for %v", time.Since(started).Round(time.Millisecond), 3*shortAckWait)
		}
		return nil
	})
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out.waitCount(t, "w", events.StatusOK, 1)
	c.assertSettled("a1", time.Now(), shortAckWait, 1)
	if runs := readLines(t, f.path("runs.log")); len(runs) != 1 {
		t.Fatalf("runs = %q, want exactly one", runs)
	}
	if n := out.count("w", ""); n != 1 {
		t.Fatalf("%d outcomes, want 1", n)
	}
}

func TestAgent_CleanStopHandsEventsBack(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("gate.sh", gateScript)
	f.watchFile("w.yaml", `
watches:
  - name: w
    on: event:test.handback
    exec: ["%DIR%/gate.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	out := c.watchOutcomes()
	// ack_wait far beyond the test's deadlines: only a hand-back can bring
	// the event back in time.
	opts := agentOpts{name: "a1", watches: f.watches, state: t.TempDir(), extra: []string{"--ack-wait", "10m"}}
	a := c.startAgent(opts)
	c.publish("test.handback", "k", "first")
	waitFile(t, f.path("started"))
	if code := a.stop(); code != 0 {
		t.Fatalf("agent exit code %d after SIGTERM, want 0", code)
	}
	if n := out.count("w", ""); n != 0 {
		t.Fatalf("%d outcomes for a run cut short by the stop, want none", n)
	}
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.startAgent(opts)
	out.waitCount(t, "w", events.StatusOK, 1)
	if runs := strings.Join(readLines(t, f.path("runs.log")), ","); runs != "first,first" {
		t.Fatalf("runs = %q, want the cut-short run and its rerun", runs)
	}
	if ci := c.consumerInfo("a1"); ci.NumRedelivered != 0 || ci.NumAckPending != 0 || ci.AckFloor.Stream != ci.Delivered.Stream {
		t.Fatalf("after the rerun: %d redelivered, %d ack pending, ack floor %d, delivered %d; want all acked",
			ci.NumRedelivered, ci.NumAckPending, ci.AckFloor.Stream, ci.Delivered.Stream)
	}
}
