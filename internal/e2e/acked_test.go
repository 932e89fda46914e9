package e2e_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// runsAre is a check for assertSettled: the runs log holds exactly want.
func runsAre(t *testing.T, path, want string) func() error {
	return func() error {
		if got := strings.Join(readLines(t, path), ","); got != want {
			return fmt.Errorf("runs %q, want %q", got, want)
		}
		return nil
	}
}

// TestAgent_AckedOnceDecided: events held behind a run (superseded in
// queue mode, discarded in discard mode) are decided while it runs, the
// running and the waiting events are not, and once everything is decided
// nothing is delivered and run again.
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
			state := t.TempDir()
			a := c.startAgent(agentOpts{name: "a1", watches: f.watches, state: state, extra: []string{"--metrics", "127.0.0.1:0"}})
			_, first := c.publishSeq("test.acked", "k", "first")
			waitFile(t, f.path("started"))
			// Held behind the first run: superseded (queue) or discarded.
			var last uint64
			for i := range 5 {
				_, last = c.publishSeq("test.acked", "k", fmt.Sprintf("e%d", i))
			}
			if mode == "discard" {
				out.waitCount(t, "w", events.StatusDiscarded, 5)
				// The running event holds the position; the five discarded
				// ones are decided above it.
				c.waitPosition(state, first-1, 5)
			} else {
				// Each newer event takes the slot of the one before: once
				// the agent has all six, the run and the slot hold the
				// position and the superseded ones are decided.
				waitSeen(t, a, 6)
				c.waitHeld(state, first, 4)
			}
			if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			want := "first"
			if mode == "queue" {
				want = "first,e4"
			}
			testutil.Eventually(t, wait, runsAre(t, f.path("runs.log"), want))
			out.waitCount(t, "w", events.StatusOK, strings.Count(want, ",")+1)
			c.assertSettled(state, last, runsAre(t, f.path("runs.log"), want))
			if got, want := out.decided("w"), 6; got != want {
				t.Fatalf("outcomes decided %d events, want %d (each once)", got, want)
			}
		})
	}
}

// TestAgent_LongRunNotRedelivered: a run held for many verifying reads of
// the events stream keeps its event undecided (the position stays below
// it) and is not delivered again; once it ends, its event is decided once.
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
	state := t.TempDir()
	c.startAgent(agentOpts{name: "a1", watches: f.watches, state: state})
	_, seq := c.publishSeq("test.long", "k", "first")
	waitFile(t, f.path("started"))
	// Held for settle (many verifying reads): the event must stay
	// undecided and not run again.
	started := time.Now()
	testutil.Eventually(t, settle+wait, func() error {
		if runs := readLines(t, f.path("runs.log")); len(runs) != 1 {
			t.Fatalf("runs %q while the run was in flight, want 1", runs)
		}
		cursor, done, err := position(state)
		if err != nil {
			return err
		}
		if cursor >= seq || done != 0 {
			t.Fatalf("position %d with %d decided above it while the run of %d is in flight; want it undecided", cursor, done, seq)
		}
		if time.Since(started) < settle {
			return fmt.Errorf("run in flight for %v, holding it for %v", time.Since(started).Round(time.Millisecond), settle)
		}
		return nil
	})
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out.waitCount(t, "w", events.StatusOK, 1)
	c.assertSettled(state, seq, runsAre(t, f.path("runs.log"), "first"))
	if n := out.count("w", ""); n != 1 {
		t.Fatalf("%d outcomes, want 1", n)
	}
}

// TestAgent_CleanStopHandsEventsBack: an agent stopped (SIGTERM) mid-run
// leaves that event undecided in its position and runs it again at its
// next start; what it decided before the stop does not run again.
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
	opts := agentOpts{name: "a1", watches: f.watches, state: t.TempDir()}
	a := c.startAgent(opts)
	c.publish("test.handback", "k", "before")
	out.waitCount(t, "w", events.StatusOK, 1)
	_, seq := c.publishSeq("test.handback", "k", "first")
	waitFile(t, f.path("started"))
	// Everything before the running event is decided, it is not.
	c.waitPosition(opts.state, seq-1, 0)
	if code := a.stop(); code != 0 {
		t.Fatalf("agent exit code %d after SIGTERM, want 0", code)
	}
	if n := out.count("w", ""); n != 1 {
		t.Fatalf("%d outcomes after the stop, want 1 (none for the run cut short)", n)
	}
	if cursor, done, err := position(opts.state); err != nil || cursor != seq-1 || done != 0 {
		t.Fatalf("position after the stop %d with %d decided above it (%v), want %d with none", cursor, done, err, seq-1)
	}
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.startAgent(opts)
	out.waitCount(t, "w", events.StatusOK, 2)
	c.assertSettled(opts.state, seq, runsAre(t, f.path("runs.log"), "before,first,first"))
	if n := out.count("w", ""); n != 2 {
		t.Fatalf("%d outcomes, want 2 (before, and the rerun of first)", n)
	}
}
