package e2e_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// aggregate is what an all_reported handler gets on stdin.
type aggregate struct {
	EventID  string                   `json:"event_id"`
	Watch    string                   `json:"watch"`
	Complete bool                     `json:"complete"`
	Counts   map[string]int           `json:"counts"`
	Hosts    map[string]events.Status `json:"hosts"`
	Missing  []string                 `json:"missing"`
}

// decodeAll decodes the stream of JSON values in path.
func decodeAll[T any](t *testing.T, path string) []T {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var v T
		if err := dec.Decode(&v); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
}

// TestHandlers_AllReportedWithRealAgents runs the README's two central
// handlers in a real dispatcher over two real agents: page-on-failure once
// per failed outcome, rollout-summary once per event when both agents
// reported.
func TestHandlers_AllReportedWithRealAgents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hooks := f.path("hooks")
	if err := os.Mkdir(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(hooks, "handlers.yaml"), `
handlers:
  - name: page-on-failure
    match: {watch: deploy, host: "*", status: [failed, timeout]}
    exec: 'cat >> "$OUT/paged.json"; echo "$HERALD_HOST $HERALD_STATUS $HERALD_EXIT_CODE" >> "$OUT/paged.log"'
    env: {OUT: "`+f.dir+`"}
  - name: rollout-summary
    match: {watch: deploy}
    when: all_reported
    exec: 'cat >> "$OUT/summary.json"; echo "$HERALD_EVENT_ID ok=$HERALD_COUNT_OK failed=$HERALD_COUNT_FAILED complete=$HERALD_COMPLETE reported=$HERALD_REPORTED" >> "$OUT/summary.log"'
    env: {OUT: "`+f.dir+`"}
    wait: 10m
`)
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--hooks", hooks)
	f.script("deploy.sh", `data=$(cat)
if [ "$data" = bad ] && [ "$HERALD_HOST" = web-2 ]; then exit 3; fi`)
	f.watchFile("deploy.yaml", `
watches:
  - name: deploy
    on: event:ci.build
    exec: ["%DIR%/deploy.sh"]
    run_on_load: false
`)
	out := c.watchOutcomes()
	for _, h := range []string{"web-1", "web-2"} {
		c.startAgent(agentOpts{name: h, watches: f.watches})
	}
	summaryOf := func(id string) (aggregate, bool) {
		for _, a := range decodeAll[aggregate](t, f.path("summary.json")) {
			if a.EventID == id {
				return a, true
			}
		}
		return aggregate{}, false
	}
	// Until the dispatcher has seen both agents' announcements an
	// aggregate may complete with one host: publish until one has both.
	testutil.Eventually(t, wait, func() error {
		e := c.publish("ci.build", "app", "warmup")
		var a aggregate
		testutil.Eventually(t, wait, func() error {
			var ok bool
			if a, ok = summaryOf(e.ID); !ok {
				return fmt.Errorf("no summary for warm-up event %s", e.ID)
			}
			return nil
		})
		if len(a.Hosts) != 2 {
			return fmt.Errorf("warm-up summary has hosts %v, want both agents", a.Hosts)
		}
		return nil
	})
	warm := len(decodeAll[aggregate](t, f.path("summary.json")))

	good := c.publish("ci.build", "app", "good")
	bad := c.publish("ci.build", "app", "bad")
	testutil.Eventually(t, wait, func() error {
		if n := len(decodeAll[aggregate](t, f.path("summary.json"))); n < warm+2 {
			return fmt.Errorf("%d summaries, want %d", n, warm+2)
		}
		return nil
	})
	waitLines(t, f.path("paged.log"), 1)
	// Everything decided; the handlers' own outcomes are stored too.
	out.waitCount(t, "handler:rollout-summary", events.StatusOK, warm+2)
	out.waitCount(t, "handler:page-on-failure", events.StatusOK, 1)

	for _, tc := range []struct {
		e          events.Event
		ok, failed int
		web2       events.Status
	}{{good, 2, 0, events.StatusOK}, {bad, 1, 1, events.StatusFailed}} {
		a, found := summaryOf(tc.e.ID)
		if !found {
			t.Fatalf("no summary for %s", tc.e.Data)
		}
		if !a.Complete || a.Watch != "deploy" || a.Counts["ok"] != tc.ok || a.Counts["failed"] != tc.failed ||
			a.Hosts["web-1"] != events.StatusOK || a.Hosts["web-2"] != tc.web2 || len(a.Missing) != 0 {
			t.Errorf("summary for %s = %+v", tc.e.Data, a)
		}
	}
	if n := len(decodeAll[aggregate](t, f.path("summary.json"))); n != warm+2 {
		t.Errorf("%d summaries, want one per event (%d)", n, warm+2)
	}
	wantLine := fmt.Sprintf("%s ok=1 failed=1 complete=true reported=2", bad.ID)
	found := false
	for _, l := range readLines(t, f.path("summary.log")) {
		found = found || l == wantLine
	}
	if !found {
		t.Errorf("summary.log lacks %q: %q", wantLine, readLines(t, f.path("summary.log")))
	}
	paged := decodeAll[events.Outcome](t, f.path("paged.json"))
	if len(paged) != 1 || paged[0].EventID != bad.ID || paged[0].Host != "web-2" || paged[0].Status != events.StatusFailed {
		t.Errorf("paged %+v, want exactly web-2's failed outcome of the bad event", paged)
	}
	if got := readLines(t, f.path("paged.log")); len(got) != 1 || got[0] != "web-2 failed 3" {
		t.Errorf("page-on-failure env %q, want web-2 failed 3", got)
	}
}
