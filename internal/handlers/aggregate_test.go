package handlers_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/handlers"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/watch"
)

// aggHandler appends the aggregate JSON (one line) and the variables to
// dir/json and dir/env.
func aggHandler(dir string, h handlers.Handler) handlers.Handler {
	h.When = handlers.WhenAllReported
	h.Exec = watch.Command{Shell: `{ cat; echo; } >> "$DIR/json"; ` +
		`echo "$HERALD_HANDLER|$HERALD_EVENT_ID|$HERALD_WATCH|$HERALD_COMPLETE|$HERALD_REPORTED|$HERALD_COUNT_OK|$HERALD_COUNT_FAILED|$HERALD_COUNT_SUPERSEDED" >> "$DIR/env"`}
	h.Env = map[string]string{"DIR": dir}
	return h
}

// aggregates reads dir/json.
func aggregates(t *testing.T, dir string) []handlers.Aggregate {
	t.Helper()
	var out []handlers.Aggregate
	for _, l := range lines(t, filepath.Join(dir, "json")) {
		var a handlers.Aggregate
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("aggregate %q: %v", l, err)
		}
		out = append(out, a)
	}
	return out
}

// TestEngine_Run_AllReported proves that an all_reported handler runs once,
// when the last live agent holding the watch reports, with the counts by
// status; that stale, stopping and unrelated agents are not waited for; and
// that a late or repeated outcome does not run it again.
func TestEngine_Run_AllReported(t *testing.T) {
	js := newBus(t)
	dir := t.TempDir()
	announce(t, js, events.Announcement{Name: "web-1"}, "git-pull", "other")
	announce(t, js, events.Announcement{Name: "web-2"}, "git-pull")
	announce(t, js, events.Announcement{Name: "web-3"}, "git-pull")
	announce(t, js, events.Announcement{Name: "db-1"}, "other")
	announce(t, js, events.Announcement{Name: "stale", Heartbeat: time.Now().Add(-time.Hour), Interval: 10}, "git-pull")
	announce(t, js, events.Announcement{Name: "bye", Stopping: true}, "git-pull")
	d := startEngine(t, js, "disp-1", aggHandler(dir, handlers.Handler{Name: "rollout", Match: handlers.Match{Watch: "git-*"}}))
	d.waitAgents(t, "db-1", "web-1", "web-2", "web-3")

	publish(t, js, events.Outcome{EventID: "e1", Watch: "git-pull", Host: "web-1", Status: events.StatusOK})
	publish(t, js, events.Outcome{EventID: "e1", Watch: "git-pull", Host: "web-2", Status: events.StatusFailed, ExitCode: exitCode(1)})
	drained(t, js)
	// A superseded report after a run status does not replace it.
	publish(t, js, events.Outcome{EventID: "e1", Watch: "git-pull", Host: "web-2", Status: events.StatusSuperseded})
	// Another watch on a host that holds git-pull too: not this aggregate.
	publish(t, js, events.Outcome{EventID: "e1", Watch: "other", Host: "web-3", Status: events.StatusOK})
	drained(t, js)
	if a := aggregates(t, dir); len(a) != 0 {
		t.Fatalf("ran before web-3 reported: %+v", a)
	}
	publish(t, js, events.Outcome{EventID: "e1", Watch: "git-pull", Host: "web-3", Status: events.StatusOK})
	waitLines(t, filepath.Join(dir, "env"), "rollout|e1|git-pull|true|3|2|1|0")
	// Late and repeated reports after it ran.
	publish(t, js, events.Outcome{EventID: "e1", Watch: "git-pull", Host: "web-3", Status: events.StatusOK})
	publish(t, js, events.Outcome{EventID: "e1", Watch: "git-pull", Host: "stale", Status: events.StatusOK})
	drained(t, js)

	got := aggregates(t, dir)
	if len(got) != 1 {
		t.Fatalf("ran %d times, want once: %+v", len(got), got)
	}
	a := got[0]
	wantHosts := map[string]events.Status{"web-1": events.StatusOK, "web-2": events.StatusFailed, "web-3": events.StatusOK}
	if a.EventID != "e1" || a.Watch != "git-pull" || !a.Complete || len(a.Missing) != 0 || !maps.Equal(a.Hosts, wantHosts) ||
		a.Counts[events.StatusOK] != 2 || a.Counts[events.StatusFailed] != 1 || a.Counts[events.StatusTimeout] != 0 || a.Key != "/git/head" {
		t.Fatalf("aggregate = %+v", a)
	}
	testutil.Eventually(t, wait, func() error {
		if o := handlerOutcomes(t, js, "disp-1", "rollout"); len(o) != 1 || o[0].Status != events.StatusOK || o[0].EventID != "e1" {
			return errorf("rollout outcomes = %+v, want one ok for e1", o)
		}
		return nil
	})

	t.Run("an agent that stops is no longer waited for", func(t *testing.T) {
		publish(t, js, events.Outcome{EventID: "e2", Watch: "git-pull", Host: "web-1", Status: events.StatusOK})
		publish(t, js, events.Outcome{EventID: "e2", Watch: "git-pull", Host: "web-2", Status: events.StatusOK})
		drained(t, js)
		if n := len(aggregates(t, dir)); n != 1 {
			t.Fatalf("e2 ran before web-3 reported or stopped (%d runs)", n)
		}
		announce(t, js, events.Announcement{Name: "web-3", Stopping: true}, "git-pull")
		waitLines(t, filepath.Join(dir, "env"), "rollout|e1|git-pull|true|3|2|1|0", "rollout|e2|git-pull|true|2|2|0|0")
	})
}

// TestEngine_Run_AllReportedWait proves that when the wait passes before
// every agent reported, the handler runs once with complete false and the
// missing agents; and that match.status makes it run only when some host
// has one of the statuses.
func TestEngine_Run_AllReportedWait(t *testing.T) {
	js := newBus(t)
	dir, dirF := t.TempDir(), t.TempDir()
	announce(t, js, events.Announcement{Name: "a"}, "deploy")
	announce(t, js, events.Announcement{Name: "b"}, "deploy")
	d := startEngine(t, js, "disp-1",
		aggHandler(dir, handlers.Handler{Name: "summary", Match: handlers.Match{Watch: "deploy"}, Wait: watch.Duration{D: time.Second}}),
		aggHandler(dirF, handlers.Handler{Name: "if-failed", Match: handlers.Match{Watch: "deploy", Status: []string{"failed"}}}),
	)
	d.waitAgents(t, "a", "b")
	start := time.Now()
	publish(t, js, events.Outcome{EventID: "e1", Watch: "deploy", Host: "a", Status: events.StatusOK})
	waitLines(t, filepath.Join(dir, "env"), "summary|e1|deploy|false|1|1|0|0")
	if el := time.Since(start); el < time.Second {
		t.Fatalf("ran after %v, before the 1s wait", el)
	}
	got := aggregates(t, dir)
	if len(got) != 1 || got[0].Complete || !slices.Equal(got[0].Missing, []string{"b"}) {
		t.Fatalf("aggregate = %+v, want incomplete with b missing", got)
	}

	// if-failed: e1 ends with no failure (b reports ok), e2 with one.
	publish(t, js, events.Outcome{EventID: "e1", Watch: "deploy", Host: "b", Status: events.StatusOK})
	publish(t, js, events.Outcome{EventID: "e2", Watch: "deploy", Host: "a", Status: events.StatusOK})
	publish(t, js, events.Outcome{EventID: "e2", Watch: "deploy", Host: "b", Status: events.StatusFailed})
	waitLines(t, filepath.Join(dirF, "env"), "if-failed|e2|deploy|true|2|1|1|0")
	drained(t, js)
	if l := lines(t, filepath.Join(dirF, "env")); len(l) != 1 {
		t.Fatalf("if-failed ran %q, want only for e2", l)
	}
	if _, err := os.Stat(filepath.Join(dirF, "json")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(lines(t, filepath.Join(dirF, "json")), ""), `"b":"failed"`) {
		t.Fatalf("if-failed aggregate lacks b's failure")
	}
}

// An event superseded on a host has no outcome of its own: the run that
// absorbed it reports it, as superseded, for all_reported.
func TestEngine_Run_AllReportedCountsAbsorbedEvents(t *testing.T) {
	js := newBus(t)
	dir := t.TempDir()
	announce(t, js, events.Announcement{Name: "web-1"}, "git-pull")
	announce(t, js, events.Announcement{Name: "web-2"}, "git-pull")
	d := startEngine(t, js, "disp-1", aggHandler(dir, handlers.Handler{Name: "rollout", Match: handlers.Match{Watch: "git-*"}}))
	d.waitAgents(t, "web-1", "web-2")

	publish(t, js, events.Outcome{EventID: "e1", Watch: "git-pull", Host: "web-1", Status: events.StatusOK})
	publish(t, js, events.Outcome{EventID: "e2", Watch: "git-pull", Host: "web-2", Status: events.StatusOK,
		Superseded: []string{"e1"}, SupersededCount: 1})
	waitLines(t, filepath.Join(dir, "env"), "rollout|e1|git-pull|true|2|1|0|1")
}
