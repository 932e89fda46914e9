package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

// gatedWatch is a queue watch on test.durable running gateScript.
const gatedWatch = `
watches:
  - name: w
    on: event:test.durable
    exec: ["%DIR%/gate.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`

// waitStoredOnceThenAcked polls until the agent's consumer has nothing
// pending and checks, on every poll, that an event is never let go before
// its outcome is stored; then that the outcome is stored exactly once.
func waitStoredOnceThenAcked(t *testing.T, c *cluster, agent, subject string, ev events.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	testutil.Eventually(t, wait, func() error {
		ci, err := testutil.AgentConsumer(ctx, c.js, agent)
		if err != nil {
			return err
		}
		n, err := testutil.CountStored(ctx, c.js, events.OutcomesStream, subject)
		if err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) && ci.NumAckPending == 0 && ci.NumPending == 0 {
				t.Fatalf("event acked while the outcomes stream is missing: %v", err)
			}
			return err
		}
		if ci.NumAckPending == 0 && ci.NumPending == 0 && n == 0 {
			t.Fatalf("event acked but its outcome is not stored")
		}
		if n != 1 || ci.NumAckPending != 0 || ci.NumPending != 0 {
			return fmt.Errorf("%d outcomes stored, consumer ack pending %d, pending %d; want 1, 0, 0", n, ci.NumAckPending, ci.NumPending)
		}
		return nil
	})
	got := testutil.StoredOutcomes(t, c.js, wait, subject)
	if len(got) != 1 {
		t.Fatalf("%d outcomes stored, want exactly 1: %+v", len(got), got)
	}
	o := got[0]
	if o.Outcome.EventID != ev.ID || o.Outcome.Status != events.StatusOK {
		t.Fatalf("stored outcome %+v, want ok for event %s", o.Outcome, ev.ID)
	}
	if ct := o.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("outcome Content-Type %q, want application/json", ct)
	}
	if id := o.Header.Get("Nats-Msg-Id"); !strings.Contains(id, ev.ID) || !strings.Contains(id, agent) {
		t.Errorf("outcome Nats-Msg-Id %q does not name the event and host", id)
	}
}

// The outcomes stream is deleted by hand while a run is in flight: the
// dispatcher recreates it, the outcome is stored once, and only then is
// the event acked.
func TestOutcome_StreamDeletedMidRun(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("gate.sh", gateScript)
	f.watchFile("w.yaml", gatedWatch)
	c.startAgent(agentOpts{name: "dur-1", watches: f.watches})
	ev := c.publish("test.durable", "/k", "first")
	waitFile(t, f.path("started"))

	if err := c.js.DeleteStream(context.Background(), events.OutcomesStream); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitStoredOnceThenAcked(t, c, "dur-1", events.OutcomeSubject("dur-1", "w"), ev)
	c.disp.waitLog("streams missing; recreating them")
}

// The NATS server (the dispatcher's embedded one) goes down mid-run and
// comes back on the same port and store: the outcome of the run that
// finished meanwhile is stored once and the event acked after.
func TestOutcome_ServerRestartMidRun(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	c := startDispatcher(t, data, "127.0.0.1:0")
	f := newFixture(t)
	f.script("gate.sh", gateScript)
	f.watchFile("w.yaml", gatedWatch)
	a := c.startAgent(agentOpts{name: "dur-2", watches: f.watches})
	ev := c.publish("test.durable", "/k", "first")
	waitFile(t, f.path("started"))

	if code := c.disp.stop(); code != 0 {
		t.Fatalf("dispatcher exited %d", code)
	}
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The run finishes while NATS is down.
	waitLines(t, f.path("runs.log"), 1)
	a.waitLog("run finished")
	back := startDispatcher(t, data, strings.TrimPrefix(c.url, "nats://"))
	waitStoredOnceThenAcked(t, back, "dur-2", events.OutcomeSubject("dur-2", "w"), ev)
}

// A queue-mode burst held behind a run gets no outcome per superseded
// event: the run that superseded them lists them, superseded_count adds up
// to the events absorbed, and every event is acked.
func TestOutcome_SupersededFoldIntoTheRun(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("gate.sh", gateScript)
	f.watchFile("q.yaml", `
watches:
  - name: q
    on: event:test.fold
    key: /app
    exec: ["%DIR%/gate.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	c.startAgent(agentOpts{name: "fold-1", watches: f.watches})
	first := c.publish("test.fold", "/app", "first")
	waitFile(t, f.path("started"))
	// 50 events: fewer than the stream keeps per key (events_per_key 64),
	// so none is removed from the stream while it is pending.
	var ids []string
	for i := range 50 {
		ids = append(ids, c.publish("test.fold", "/app", fmt.Sprintf("e%d", i)).ID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	// Superseded events are acked at once: only the running event and the
	// newest, waiting in its key's slot, stay pending.
	testutil.Eventually(t, wait, func() error {
		ci, err := testutil.AgentConsumer(ctx, c.js, "fold-1")
		if err != nil {
			return err
		}
		if ci.NumPending != 0 || ci.NumAckPending != 2 {
			return fmt.Errorf("consumer pending %d, ack pending %d; want 0 and 2", ci.NumPending, ci.NumAckPending)
		}
		return nil
	})
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	subject := events.OutcomeSubject("fold-1", "q")
	testutil.Eventually(t, wait, func() error {
		ci, err := testutil.AgentConsumer(ctx, c.js, "fold-1")
		if err != nil {
			return err
		}
		n, err := testutil.CountStored(ctx, c.js, events.OutcomesStream, subject)
		if err != nil {
			return err
		}
		if n != 2 || ci.NumAckPending != 0 {
			return fmt.Errorf("%d outcomes stored, ack pending %d; want 2 and 0", n, ci.NumAckPending)
		}
		return nil
	})
	got := testutil.StoredOutcomes(t, c.js, wait, subject)
	if len(got) != 2 {
		t.Fatalf("%d outcomes stored, want 2 (no outcome of its own per superseded event)", len(got))
	}
	if o := got[0].Outcome; o.EventID != first.ID || o.SupersededCount != 0 || len(o.Superseded) != 0 {
		t.Fatalf("first outcome %+v, want the first event with nothing superseded", o)
	}
	last := got[1].Outcome
	if last.EventID != ids[49] || last.Status != events.StatusOK {
		t.Fatalf("second outcome for %s (%s), want ok for the newest event %s", last.EventID, last.Status, ids[49])
	}
	if last.SupersededCount != 49 || !slices.Equal(last.Superseded, ids[:49]) {
		t.Fatalf("second outcome superseded_count %d, superseded %d ids; want the 49 absorbed events in order", last.SupersededCount, len(last.Superseded))
	}
	if runs := readLines(t, f.path("runs.log")); !slices.Equal(runs, []string{"first", "e49"}) {
		t.Fatalf("runs = %q, want first and e49", runs)
	}
}

// A run_on_load replay is a new run, not a retry: an agent restarted within
// the stream's dedup window stores the replay's outcome too.
func TestOutcome_RunOnLoadReplayIsStored(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("rec.sh", `cat >> "$DIR/runs.log"; echo >> "$DIR/runs.log"`)
	f.watchFile("w.yaml", `
watches:
  - name: w
    on: event:test.load
    exec: ["%DIR%/rec.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: true
`)
	state := t.TempDir()
	a := c.startAgent(agentOpts{name: "load-1", watches: f.watches, state: state})
	ev := c.publish("test.load", "/k", "v1")
	subject := events.OutcomeSubject("load-1", "w")
	stored := func(n uint64) {
		t.Helper()
		testutil.Eventually(t, wait, func() error {
			got, err := testutil.CountStored(context.Background(), c.js, events.OutcomesStream, subject)
			if err != nil {
				return err
			}
			if got != n {
				return fmt.Errorf("%d outcomes stored, want %d", got, n)
			}
			return nil
		})
	}
	stored(1)
	if code := a.stop(); code != 0 {
		t.Fatalf("agent exited %d", code)
	}
	c.startAgent(agentOpts{name: "load-1", watches: f.watches, state: state})
	waitLines(t, f.path("runs.log"), 2)
	stored(2)
	for _, o := range testutil.StoredOutcomes(t, c.js, wait, subject) {
		if o.Outcome.EventID != ev.ID || o.Outcome.Status != events.StatusOK {
			t.Fatalf("stored outcome %+v, want ok for %s", o.Outcome, ev.ID)
		}
	}
}

// The agent's durable consumer is deleted by hand, then the whole events
// stream: each time the agent sets its consumer up again and goes on, and
// after the stream is recreated (sequences start again at 1) an event of a
// key it ran before still runs.
func TestAgent_RecoversDeletedConsumerAndStream(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("rec.sh", countScript)
	f.watchFile("w.yaml", echoWatch)
	out := c.watchOutcomes()
	a := c.startAgent(agentOpts{name: "rec-1", watches: f.watches})
	ctx, cancel := context.WithTimeout(context.Background(), 4*wait)
	defer cancel()
	for i, data := range []string{"e1", "e2"} {
		c.publish("test.daemon", "/k", data)
		out.waitCount(t, "echo", events.StatusOK, i+1)
	}
	consumer := func() error {
		_, err := testutil.AgentConsumer(ctx, c.js, "rec-1")
		return err
	}

	ci, err := testutil.AgentConsumer(ctx, c.js, "rec-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.js.DeleteConsumer(ctx, events.EventsStream, ci.Name); err != nil {
		t.Fatal(err)
	}
	// Published while the consumer is gone (the agent waits a second
	// before setting it up again): the new consumer starts after the last
	// event the agent received, so it still runs.
	c.publish("test.daemon", "/k", "e3")
	if consumer() == nil {
		t.Log("the consumer was back before e3 was stored: the gap is not exercised this time")
	}
	a.waitLog("event consumer deleted on the server; setting it up again")
	testutil.Eventually(t, wait, consumer)
	out.waitCount(t, "echo", events.StatusOK, 3)

	if err := c.js.DeleteStream(ctx, events.EventsStream); err != nil {
		t.Fatal(err)
	}
	// Published into the recreated stream as soon as it is there, before
	// (most likely) the agent's consumer is: it starts at the new
	// stream's first event.
	var e4 events.Event
	testutil.Eventually(t, wait, func() error {
		if _, err := c.js.Stream(ctx, events.EventsStream); err != nil {
			return err
		}
		e4 = c.publish("test.daemon", "/k", "e4")
		return nil
	})
	if consumer() == nil {
		t.Log("the consumer was back before e4 was stored: the gap is not exercised this time")
	}
	a.waitLog("the events stream is new (recreated): run modes start afresh")
	testutil.Eventually(t, wait, consumer)
	out.waitCount(t, "echo", events.StatusOK, 4)
	if got := out.Snapshot(); got[len(got)-1].EventID != e4.ID {
		t.Fatalf("last outcome is of %s, want e4 %s", got[len(got)-1].EventID, e4.ID)
	}
}
