package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
)

// countScript appends "HOST DATA" to runs.log for each run.
const countScript = `data=$(cat); echo "$HERALD_HOST $data" >> "$DIR/runs.log"`

// runsOf counts, per "HOST DATA" line, how often it ran.
func runsOf(t *testing.T, path string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, l := range readLines(t, path) {
		n[l]++
	}
	return n
}

// postEvent POSTs body to the dispatcher's /v1/events and reports whether
// it was a duplicate.
func postEvent(t *testing.T, httpAddr, body string) bool {
	t.Helper()
	resp, err := http.Post("http://"+httpAddr+"/v1/events", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST /v1/events: %d %s", resp.StatusCode, b)
	}
	var r struct{ Duplicate bool }
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("POST /v1/events answered %s: %v", b, err)
	}
	return r.Duplicate
}

// TestOneRun_SameChangeTwiceFromTheCLI publishes one change twice with
// herald publish --version: each agent runs it once. A lower version
// published later is another change (versions are not compared; "older"
// is stream order) and runs.
func TestOneRun_SameChangeTwiceFromTheCLI(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("count.sh", countScript)
	f.watchFile("w.yaml", `
watches:
  - name: w
    on: event:test.once
    exec: ["%DIR%/count.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	out := c.watchOutcomes()
	hosts := []string{"web-1", "web-2"}
	for _, h := range hosts {
		c.startAgent(agentOpts{name: h, watches: f.watches})
	}
	publish := func(data, version string) {
		t.Helper()
		if _, err := c.herald(t, data, "publish", "--type", "test.once", "--key", "/app", "--version", version, "--source", "ci://test"); err != nil {
			t.Fatal(err)
		}
	}
	publish("v5", "5")
	publish("v5", "5")
	out.waitCount(t, "w", events.StatusOK, 2)
	// A marker behind the duplicate: once it ran, the duplicate would have too.
	publish("v4", "4")
	out.waitCount(t, "w", events.StatusOK, 4)
	runs := runsOf(t, f.path("runs.log"))
	for _, h := range hosts {
		if runs[h+" v5"] != 1 || runs[h+" v4"] != 1 {
			t.Errorf("%s ran v5 %d times and v4 %d times, want once each; runs: %v", h, runs[h+" v5"], runs[h+" v4"], runs)
		}
	}
	if n := out.count("w", ""); n != 4 {
		t.Errorf("%d outcomes, want 4 (two changes on two agents)", n)
	}
}

// TestOneRun_TwoDispatchers runs two dispatchers on one ZooKeeper and one
// NATS, both watching /k, and two agents: every change runs once on each
// agent. The same HTTP event (same source, key and version) posted to both
// dispatchers runs once too.
func TestOneRun_TwoDispatchers(t *testing.T) {
	t.Parallel()
	zc, a, b := twoZKDispatchers(t)

	f := newFixture(t)
	f.script("count.sh", countScript)
	f.watchFile("k.yaml", `
watches:
  - name: k
    on: zk:/k
    exec: ["%DIR%/count.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
  - name: h
    on: event:test.twice
    exec: ["%DIR%/count.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	out := a.watchOutcomes()
	hosts := []string{"web-1", "web-2"}
	a.startAgent(agentOpts{name: hosts[0], watches: f.watches})
	b.startAgent(agentOpts{name: hosts[1], watches: f.watches})

	const n = 5
	for i := range n {
		if _, err := zc.Set("/k", []byte("set"+strconv.Itoa(i)), -1); err != nil {
			t.Fatal(err)
		}
		// One change at a time, so that queue mode has nothing to collapse.
		out.waitCount(t, "k", events.StatusOK, 2*(i+1))
	}
	body := `{"type":"test.twice","key":"/k","data":"posted","version":"7","source":"ci://test"}`
	if postEvent(t, a.http, body) {
		t.Fatal("first POST reported a duplicate")
	}
	if !postEvent(t, b.http, body) {
		t.Error("the same event posted to the second dispatcher was not a duplicate")
	}
	out.waitCount(t, "h", events.StatusOK, 2)
	// A marker change behind everything: once it ran, any repeat had too.
	if _, err := zc.Set("/k", []byte("last"), -1); err != nil {
		t.Fatal(err)
	}
	out.waitCount(t, "k", events.StatusOK, 2*(n+1))
	runs := runsOf(t, f.path("runs.log"))
	for _, h := range hosts {
		for i := range n {
			if got := runs[fmt.Sprintf("%s set%d", h, i)]; got != 1 {
				t.Errorf("%s ran set%d %d times, want once; runs: %v", h, i, got, runs)
			}
		}
		if runs[h+" posted"] != 1 || runs[h+" last"] != 1 {
			t.Errorf("%s ran the posted event %d times and the last change %d times, want once each", h, runs[h+" posted"], runs[h+" last"])
		}
	}
	if got, want := out.count("k", "")+out.count("h", ""), 2*(n+2); got != want {
		t.Errorf("%d outcomes, want %d", got, want)
	}
}

// TestOneRun_LateOlderEventNeverRunsAfterNewer: an event delivered again
// after a newer event of its key (earlier in the stream, so older: a run
// cut short by a crash) is decided superseded by the newer one and not
// run after it.
func TestOneRun_LateOlderEventNeverRunsAfterNewer(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("gate.sh", gateScript)
	f.watchFile("w.yaml", `
watches:
  - name: w
    on: event:test.late
    exec: ["%DIR%/gate.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	opts := agentOpts{name: "a1", watches: f.watches, state: t.TempDir()}
	a := c.startAgent(opts)
	first := c.publish("test.late", "k", "first")
	waitFile(t, f.path("started"))
	a.kill()
	second, seq := c.publishSeq("test.late", "k", "second")
	if err := os.WriteFile(f.path("gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := c.watchOutcomes()
	c.startAgent(opts)
	out.waitCount(t, "w", events.StatusOK, 1)
	// Both events are undecided at the restart; the older one must be
	// decided with the newer, never run after it.
	c.assertSettled(opts.state, seq, runsAre(t, f.path("runs.log"), "first,second"))
	if n := out.count("w", events.StatusOK); n != 1 {
		t.Fatalf("%d ok outcomes after the restart, want 1 (only the newer event ran)", n)
	}
	if o := out.Snapshot()[0]; o.EventID != second.ID || !slices.Equal(o.Superseded, []string{first.ID}) || o.SupersededCount != 1 {
		t.Fatalf("outcome for %s superseding %q (%d), want %s superseding the older %s", o.EventID, o.Superseded, o.SupersededCount, second.ID, first.ID)
	}
}
