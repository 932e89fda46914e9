package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/callhooks"
	"github.com/heraldhq/herald/internal/feed"
	"github.com/heraldhq/herald/internal/testutil"
)

// What an agent exposes of the events it holds, now that it holds no
// consumer on the server: its position in its state dir, its metrics.

// feedStateFile is the agent's position in its --state dir.
const feedStateFile = "events.json"

// settle is how long assertSettled watches an agent after its decisions:
// many verifying reads of the events stream (verifyEvery), any of which
// would deliver again an event the agent had not recorded as decided.
const settle = 10 * verifyEvery

// position reads the position of the agent whose state dir is state: every
// event at or below cursor is decided, and doneAbove events above it.
func position(state string) (cursor uint64, doneAbove int, err error) {
	return feed.ReadPosition(filepath.Join(state, feedStateFile))
}

// waitDecided waits until the agent whose state dir is state has decided
// every event up to the stream sequence seq.
func (c *cluster) waitDecided(state string, seq uint64) {
	c.t.Helper()
	testutil.Eventually(c.t, wait, func() error {
		cursor, done, err := position(state)
		if err != nil {
			return err
		}
		if cursor < seq {
			return fmt.Errorf("position %d (%d decided above it), want every event up to %d decided", cursor, done, seq)
		}
		return nil
	})
}

// waitPosition waits until the agent's position is exactly cursor with
// doneAbove events decided above it: an event it holds undecided (running,
// or waiting in a run mode's slot) keeps the cursor below it.
func (c *cluster) waitPosition(state string, cursor uint64, doneAbove int) {
	c.t.Helper()
	testutil.Eventually(c.t, wait, func() error {
		cur, done, err := position(state)
		if err != nil {
			return err
		}
		if cur != cursor || done != doneAbove {
			return fmt.Errorf("position %d with %d decided above it, want %d with %d", cur, done, cursor, doneAbove)
		}
		return nil
	})
}

// waitHeld waits until the agent's position is just below held, the event
// a run holds, with at most maxDone events decided above it: the events
// superseded while it runs are decided at once, or with the newest of the
// burst when a catch-up read found several.
func (c *cluster) waitHeld(state string, held uint64, maxDone int) {
	c.t.Helper()
	testutil.Eventually(c.t, wait, func() error {
		cursor, done, err := position(state)
		if err != nil {
			return err
		}
		if cursor != held-1 || done > maxDone {
			return fmt.Errorf("position %d with %d decided above it; want %d (a run holds %d) with at most the %d superseded decided: more means an event still held (in a run-mode slot) counts as decided, and a crash now would lose it", cursor, done, held-1, held, maxDone)
		}
		return nil
	})
}

// assertSettled waits until the agent whose state dir is state has decided
// every event up to seq, then watches it for settle: at every look the
// position stays there and check (what ran so far) holds, so that nothing
// decided is delivered and run again.
func (c *cluster) assertSettled(state string, seq uint64, check func() error) {
	c.t.Helper()
	c.waitDecided(state, seq)
	until := time.Now().Add(settle)
	testutil.Eventually(c.t, settle+wait, func() error {
		cursor, done, err := position(state)
		if err != nil {
			c.t.Fatal(err)
		}
		if cursor < seq {
			c.t.Fatalf("position went back to %d (%d decided above it) after every event up to %d was decided", cursor, done, seq)
		}
		if err := check(); err != nil {
			c.t.Fatalf("%v since every event up to %d was decided", err, seq)
		}
		if time.Now().Before(until) {
			return fmt.Errorf("watching the settled agent for %v", settle)
		}
		return nil
	})
}

// assertNoEventsConsumer checks that the events stream has no consumer but
// the dispatcher's call hooks engine: agents read it with direct gets,
// one-off reads delete theirs (for a dispatcher with no source that
// follows the stream).
func (c *cluster) assertNoEventsConsumer() {
	c.t.Helper()
	if got := testutil.Consumers(c.t, c.js, events.EventsStream); !slices.Equal(got, []string{callhooks.DefaultDurable}) {
		c.t.Fatalf("consumers on %s: %q, want only the dispatcher's %s", events.EventsStream, got, callhooks.DefaultDurable)
	}
}

var metricsAddrRe = regexp.MustCompile(`"metrics_addr":"([^"]+)"`)

// eventsSeen is how many events the feed of agent a (started with
// --metrics) has handed it: each one received live, and each one a
// catch-up read found, the older ones of a subject decided with the newest
// included. It counts each stored event once.
func eventsSeen(t *testing.T, a *proc) (int, error) {
	t.Helper()
	m := metricsAddrRe.FindStringSubmatch(a.out.String())
	if m == nil {
		t.Fatalf("agent did not log its metrics address")
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	v, err := counters(resp.Body)
	if err != nil {
		return 0, err
	}
	return v["herald_agent_events_received_total"] - v["herald_agent_redeliveries_total"] + v["herald_agent_events_caught_up_total"], nil
}

// counters reads the unlabelled series of a Prometheus text page.
func counters(r io.Reader) (map[string]int, error) {
	out := map[string]int{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		out[name] = int(f)
	}
	return out, sc.Err()
}

// waitSeen waits until the feed of agent a has handed it n events.
func waitSeen(t *testing.T, a *proc, n int) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		got, err := eventsSeen(t, a)
		if err != nil {
			return err
		}
		if got < n {
			return fmt.Errorf("the agent has been handed %d events, want %d", got, n)
		}
		return nil
	})
}
