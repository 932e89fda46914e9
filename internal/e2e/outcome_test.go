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

// waitStoredOnceThenDecided polls until the agent whose state dir is state
// has decided every event up to seq and checks, on every poll, that an
// event is never decided before its outcome is stored; then that the
// outcome is stored exactly once.
func waitStoredOnceThenDecided(t *testing.T, c *cluster, state, agent, subject string, ev events.Event, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	testutil.Eventually(t, wait, func() error {
		// The position first: what it says decided was stored before.
		cursor, done, err := position(state)
		if err != nil {
			return err
		}
		decided := cursor >= seq || done > 0
		n, err := testutil.CountStored(ctx, c.js, events.OutcomesStream, subject)
		if err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) && decided {
				t.Fatalf("event decided while the outcomes stream is missing: %v", err)
			}
			return err
		}
		if decided && n == 0 {
			t.Fatalf("event decided (position %d, %d above it) but its outcome is not stored", cursor, done)
		}
		if n != 1 || cursor < seq {
			return fmt.Errorf("%d outcomes stored, position %d (%d decided above it); want 1 and at least %d", n, cursor, done, seq)
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
// the event decided.
func TestOutcome_StreamDeletedMidRun(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("gate.sh", gateScript)
	f.watchFile("w.yaml", gatedWatch)
	state := t.TempDir()
	c.startAgent(agentOpts{name: "dur-1", watches: f.watches, state: state})
	ev, seq := c.publishSeq("test.durable", "/k", "first")
	waitFile(t, f.path("started"))

	if err := c.js.DeleteStream(context.Background(), events.OutcomesStream); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitStoredOnceThenDecided(t, c, state, "dur-1", events.OutcomeSubject("dur-1", "w"), ev, seq)
	c.disp.waitLog("streams missing; recreating them")
}

// The NATS server (the dispatcher's embedded one) goes down mid-run and
// comes back on the same port and store: the outcome of the run that
// finished meanwhile is stored once and the event decided after.
func TestOutcome_ServerRestartMidRun(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	c := startDispatcher(t, data, "127.0.0.1:0")
	f := newFixture(t)
	f.script("gate.sh", gateScript)
	f.watchFile("w.yaml", gatedWatch)
	state := t.TempDir()
	a := c.startAgent(agentOpts{name: "dur-2", watches: f.watches, state: state})
	ev, seq := c.publishSeq("test.durable", "/k", "first")
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
	waitStoredOnceThenDecided(t, back, state, "dur-2", events.OutcomeSubject("dur-2", "w"), ev, seq)
}

// A queue-mode burst held behind a run gets no outcome per superseded
// event: the run that superseded them lists them, superseded_count adds up
// to the events absorbed, and every event is decided.
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
	state := t.TempDir()
	a := c.startAgent(agentOpts{name: "fold-1", watches: f.watches, state: state, extra: []string{"--metrics", "127.0.0.1:0"}})
	first, firstSeq := c.publishSeq("test.fold", "/app", "first")
	waitFile(t, f.path("started"))
	// 50 events: fewer than the stream keeps per key (events_per_key 64),
	// so none is removed from the stream while it is pending.
	var ids []string
	var lastSeq uint64
	for i := range 50 {
		e, seq := c.publishSeq("test.fold", "/app", fmt.Sprintf("e%d", i))
		ids, lastSeq = append(ids, e.ID), seq
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	// The agent has the whole burst; the running event holds its position
	// and the newest waits in its key's slot.
	waitSeen(t, a, 51)
	c.waitHeld(state, firstSeq, 49)
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	subject := events.OutcomeSubject("fold-1", "q")
	testutil.Eventually(t, wait, func() error {
		n, err := testutil.CountStored(ctx, c.js, events.OutcomesStream, subject)
		if err != nil {
			return err
		}
		cursor, done, err := position(state)
		if err != nil {
			return err
		}
		if n != 2 || cursor < lastSeq {
			return fmt.Errorf("%d outcomes stored, position %d (%d decided above it); want 2 and at least %d", n, cursor, done, lastSeq)
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

// The agent holds no consumer on the events stream (nothing of it to
// lose); the whole stream is deleted by hand: the agent notices the
// recreated stream (sequences start again at 1), reads it from its start
// and an event of a key it ran before still runs.
func TestAgent_RecoversDeletedStream(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("rec.sh", countScript)
	f.watchFile("w.yaml", echoWatch)
	out := c.watchOutcomes()
	state := t.TempDir()
	a := c.startAgent(agentOpts{name: "rec-1", watches: f.watches, state: state})
	ctx, cancel := context.WithTimeout(context.Background(), 4*wait)
	defer cancel()
	var seq uint64
	for i, data := range []string{"e1", "e2"} {
		_, seq = c.publishSeq("test.daemon", "/k", data)
		out.waitCount(t, "echo", events.StatusOK, i+1)
	}
	c.waitDecided(state, seq)
	c.assertNoEventsConsumer()

	if err := c.js.DeleteStream(ctx, events.EventsStream); err != nil {
		t.Fatal(err)
	}
	// Published into the recreated stream as soon as it is there: its
	// sequence is below the agent's position in the old stream.
	var e3 events.Event
	testutil.Eventually(t, wait, func() error {
		if _, err := c.js.Stream(ctx, events.EventsStream); err != nil {
			return err
		}
		e3, seq = c.publishSeq("test.daemon", "/k", "e3")
		return nil
	})
	a.waitLog("feed: the events stream was created anew; reading it from its start")
	out.waitCount(t, "echo", events.StatusOK, 3)
	if got := out.Snapshot(); got[len(got)-1].EventID != e3.ID {
		t.Fatalf("last outcome is of %s, want e3 %s", got[len(got)-1].EventID, e3.ID)
	}
	// Exactly e3's sequence: the position in the new stream (the old one
	// was 2, and the file may still hold it until the reset is written).
	c.waitPosition(state, seq, 0)
	c.assertSettled(state, seq, runsAre(t, f.path("runs.log"), "rec-1 e1,rec-1 e2,rec-1 e3"))
	c.assertNoEventsConsumer()
}
