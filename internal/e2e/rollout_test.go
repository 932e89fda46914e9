package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/eventreport"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

// rolloutFleet is 20 agent processes (h00..h19) on one dispatcher, all
// holding the watches of one file.
type rolloutFleet struct {
	c      *cluster
	f      *fixture
	agents map[string]*proc
	states map[string]string
	names  []string
}

// counterScript runs for $RUN_FOR seconds, counting in $DIR/$W.cur how
// many hosts run at once (flock-protected) and recording each count in
// $W.peaks and each run in $W.ran; it exits 1 on the hosts in $FAIL. On
// host $HOLD_ON it first waits until $W.release exists.
const counterScript = `if [ "$HERALD_HOST" = "$HOLD_ON" ]; then touch "$DIR/$W.holding"; while [ ! -e "$DIR/$W.release" ]; do sleep 0.05; done; fi
exec 9>>"$DIR/$W.lock"
flock 9; n=$(cat "$DIR/$W.cur" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$DIR/$W.cur"; echo $n >> "$DIR/$W.peaks"; flock -u 9
echo "$HERALD_HOST" > "$DIR/$W.started.$HERALD_HOST"
sleep "${RUN_FOR:-0.3}"
flock 9; n=$(cat "$DIR/$W.cur"); echo $((n-1)) > "$DIR/$W.cur"; echo "$HERALD_HOST $HERALD_EVENT_ID" >> "$DIR/$W.ran"; flock -u 9
case " $FAIL " in *" $HERALD_HOST "*) echo "failing on purpose on $HERALD_HOST" >&2; exit 1;; esac
exit 0`

func newRolloutFleet(t *testing.T, n int) *rolloutFleet {
	t.Helper()
	c := newCluster(t)
	f := newFixture(t)
	f.script("count.sh", counterScript)
	f.watchFile("rollouts.yaml", `
watches:
  - name: limit
    on: event:roll.limit
    exec: ["%DIR%/count.sh"]
    env: {DIR: "%DIR%", W: limit}
    run_on_load: false
    rollout: {max_hosts: 3}
  - name: canary
    on: event:roll.canary
    exec: ["%DIR%/count.sh"]
    env: {DIR: "%DIR%", W: canary, FAIL: h00, RUN_FOR: "0.1"}
    run_on_load: false
    rollout: {max_hosts: 5, canary: 1}
  - name: halt
    on: event:roll.halt
    exec: ["%DIR%/count.sh"]
    env: {DIR: "%DIR%", W: halt, FAIL: "h00 h01 h02 h03", RUN_FOR: "0.2"}
    run_on_load: false
    rollout: {max_hosts: 3, halt_after_failures: 2}
  - name: lease
    on: event:roll.lease
    exec: ["%DIR%/count.sh"]
    env: {DIR: "%DIR%", W: lease, RUN_FOR: "0.05", HOLD_ON: h00}
    run_on_load: false
    rollout: {max_hosts: 1, lease: 3s}
  - name: manual
    on: event:roll.manual
    exec: ["%DIR%/count.sh"]
    env: {DIR: "%DIR%", W: manual, RUN_FOR: "0.05", HOLD_ON: h00}
    run_on_load: false
    rollout: {max_hosts: 1}
  - name: super
    on: event:roll.super
    exec: ["%DIR%/count.sh"]
    env: {DIR: "%DIR%", W: super, RUN_FOR: "1"}
    run_on_load: false
    rollout: {max_hosts: 2}
`)
	rf := &rolloutFleet{c: c, f: f, agents: map[string]*proc{}, states: map[string]string{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		name := fmt.Sprintf("h%02d", i)
		rf.names = append(rf.names, name)
		state := t.TempDir()
		rf.states[name] = state
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := rf.startAgent(name, state)
			mu.Lock()
			rf.agents[name] = p
			mu.Unlock()
		}()
	}
	wg.Wait()
	rf.waitLive(n)
	return rf
}

func (rf *rolloutFleet) startAgent(name, state string) *proc {
	args := []string{"--nats", rf.c.url, "--name", name, "--watches", rf.f.watches, "--state", state,
		"--log-format", "json", "--log-level", "debug", "--verify-every", verifyEvery.String(), "--heartbeat", "1s"}
	return startEnv(rf.c.t, "agent", nil, args...)
}

// waitLive waits until n agents announce the watches: a rollout is
// planned over the live hosts holding its watch.
func (rf *rolloutFleet) waitLive(n int) {
	t := rf.c.t
	testutil.Eventually(t, wait, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		live := 0
		err := bus.LastMsgs(ctx, rf.c.js, events.AgentsStream, nil, func(m *jetstream.RawStreamMsg) error {
			var a events.Announcement
			if json.Unmarshal(m.Data, &a) == nil && a.Live(time.Now()) && len(a.Watches) == 6 {
				live++
			}
			return nil
		})
		if err != nil || live < n {
			return fmt.Errorf("%d of %d agents announce the rollout watches (%v)", live, n, err)
		}
		return nil
	})
}

func (rf *rolloutFleet) lines(name string) []string {
	b, err := os.ReadFile(rf.f.path(name))
	if err != nil {
		return nil
	}
	return strings.Fields(strings.TrimSpace(string(b)))
}

func (rf *rolloutFleet) peak(w string) int {
	p := 0
	for _, l := range rf.lines(w + ".peaks") {
		n, _ := strconv.Atoi(l)
		p = max(p, n)
	}
	return p
}

// TestRollout_TwitcherExampleAtFleetSize is issue 11's proof with 20 real
// agents and one shared action that counts the hosts running at once.
func TestRollout_TwitcherExampleAtFleetSize(t *testing.T) {
	t.Parallel()
	rf := newRolloutFleet(t, 20)
	c := rf.c
	out := c.watchOutcomes()

	t.Run("max_hosts", func(t *testing.T) {
		// CI's view: herald publish --wait exits 0 once all 20 ran ok.
		got, err := c.herald(t, "", "publish", "--type", "roll.limit", "--key", "/git/head", "--data", "abc123", "--wait", "--json")
		var sum eventreport.Summary
		if jerr := json.Unmarshal([]byte(got), &sum); exitCode(err) != 0 || jerr != nil || sum.Counts["ok"] != 20 || !sum.Done ||
			len(sum.Rollouts) != 1 || sum.Rollouts[0].MaxHosts != 3 || sum.Rollouts[0].Planned != 20 {
			t.Fatalf("herald publish --wait: exit %d (%v): %s", exitCode(err), err, got)
		}
		e := events.Event{ID: sum.EventID}
		out.waitCount(t, "limit", events.StatusOK, 20)
		if p := rf.peak("limit"); p > 3 || p < 1 {
			t.Errorf("%d hosts ran at once, want at most max_hosts 3", p)
		}
		got, err = c.herald(t, "", "rollout", "status", e.ID)
		if err != nil || !strings.Contains(got, "20 ok") || !strings.Contains(got, "max_hosts 3") {
			t.Errorf("herald rollout status: %v\n%s", err, got)
		}
	})

	t.Run("failed canary", func(t *testing.T) {
		got, err := c.herald(t, "", "publish", "--type", "roll.canary", "--key", "/git/head", "--data", "def456", "--wait")
		if exitCode(err) != 1 || !strings.Contains(got, "1 failed") || !strings.Contains(got, "19 halted") || !strings.Contains(got, "failing on purpose on h00") {
			t.Errorf("herald publish --wait with a failing canary: exit %d, want 1 with the canary's stderr:\n%s", exitCode(err), got)
		}
		e := events.Event{ID: strings.Fields(got)[0]}
		out.waitCount(t, "canary", events.StatusHalted, 19)
		if n := out.count("canary", events.StatusFailed); n != 1 {
			t.Errorf("%d failed canary outcomes, want 1", n)
		}
		if ran := rf.lines("canary.ran"); len(ran) != 2 || ran[0] != "h00" {
			t.Errorf("runs: %q, want only the canary h00", ran)
		}
		for _, o := range out.Snapshot() {
			if o.Watch == "canary" && o.Status == events.StatusHalted && !strings.Contains(o.Error, "canary h00: failed") {
				t.Errorf("halted outcome of %s says %q", o.Host, o.Error)
			}
		}
		got, err = c.herald(t, "", "rollout", "status", e.ID, "--json")
		if err != nil || !strings.Contains(got, `"halted": 19`) {
			t.Errorf("herald rollout status --json: %v\n%s", err, got)
		}
	})

	t.Run("halt_after_failures", func(t *testing.T) {
		c.publish("roll.halt", "/git/head", "0bad")
		testutil.Eventually(t, wait, func() error {
			if n := out.count("halt", ""); n < 20 {
				return fmt.Errorf("%d of 20 outcomes", n)
			}
			return nil
		})
		failed, halted := out.count("halt", events.StatusFailed), out.count("halt", events.StatusHalted)
		if failed > 2+(3-1) || failed < 2 || halted < 20-(2+(3-1)) || out.count("halt", events.StatusOK)+failed+halted != 20 {
			t.Errorf("failed %d, halted %d of 20: want at most 2 + (3 - 1) failed runs and the rest halted", failed, halted)
		}
	})

	t.Run("a dead holder does not stall the rollout", func(t *testing.T) {
		// h00 goes first (order name) and is killed while it holds the
		// only turn: its action waits for lease.release.
		release := rf.f.path("lease.release")
		t.Cleanup(func() { _ = os.WriteFile(release, nil, 0o644) })
		e := c.publish("roll.lease", "/git/head", "cafe")
		waitFile(t, rf.f.path("lease.holding"))
		rf.agents["h00"].kill()
		killed := time.Now()
		testutil.Eventually(t, wait, func() error {
			if n := out.count("lease", events.StatusOK); n < 19 {
				return fmt.Errorf("%d of the 19 live hosts ran after h00 was killed holding the only turn", n)
			}
			return nil
		})
		t.Logf("19 hosts ran %v after the holder was killed (lease 3s)", time.Since(killed).Round(time.Millisecond))
		// h00 back: its journal ends what the killed agent left, and it
		// runs the event it had not decided.
		if err := os.WriteFile(release, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		rf.agents["h00"] = rf.startAgent("h00", rf.states["h00"])
		testutil.Eventually(t, wait, func() error {
			for _, o := range out.Snapshot() {
				if o.Watch == "lease" && o.Host == "h00" && o.EventID == e.ID && o.Status == events.StatusOK {
					return nil
				}
			}
			return fmt.Errorf("h00 has not run the event after its restart")
		})
	})

	t.Run("halted and resumed by hand", func(t *testing.T) {
		// h00 holds the only turn: --wait gives up, exit 4, the rest missing.
		got, err := c.herald(t, "", "publish", "--type", "roll.manual", "--key", "/deploy/app", "--data", "v7", "--wait", "--wait-timeout", "3s", "--json")
		var sum eventreport.Summary
		if jerr := json.Unmarshal([]byte(got), &sum); exitCode(err) != 4 || jerr != nil || len(sum.Missing) != 20 {
			t.Fatalf("herald publish --wait while h00 holds the turn: exit %d (%v), want 4 with 20 missing: %s", exitCode(err), err, got)
		}
		e := events.Event{ID: sum.EventID}
		waitFile(t, rf.f.path("manual.holding"))
		testutil.Eventually(t, wait, func() error {
			got, err := c.herald(t, "", "rollout", "status", "--key", "/deploy/app")
			if err != nil || !strings.Contains(got, "1 running, 19 waiting") {
				return fmt.Errorf("herald rollout status --key: %v\n%s", err, got)
			}
			return nil
		})
		testutil.Eventually(t, wait, func() error {
			var rep eventreport.Summary
			if err := getJSON("http://"+c.http+"/v1/events/"+e.ID+"/rollout?seq="+strconv.FormatUint(sum.Seq, 10), &rep); err != nil {
				return err
			}
			if rep.Counts["running"] != 1 || rep.Counts["waiting"] != 19 || len(rep.Rollouts) != 1 {
				return fmt.Errorf("GET /v1/events/%s/rollout: counts %v, rollouts %+v", e.ID, rep.Counts, rep.Rollouts)
			}
			return nil
		})
		got, err = c.herald(t, "", "status")
		if err != nil || !strings.Contains(got, "waiting") || !strings.Contains(got, e.ID) {
			t.Errorf("herald status does not show the hosts waiting for their turn: %v\n%s", err, got)
		}
		if got, err := c.herald(t, "", "rollout", "halt", e.ID, "--reason", "500s on web"); err != nil || !strings.Contains(got, "rollout halted for manual") {
			t.Fatalf("herald rollout halt: %v\n%s", err, got)
		}
		out.waitCount(t, "manual", events.StatusHalted, 19)
		audit := testutil.StoredEvents(t, c.js, wait, events.EventPrefix+".rollout.>")
		if len(audit) != 1 || audit[0].Type != "rollout.halted" || audit[0].Key != "/deploy/app" || !strings.Contains(string(audit[0].Data), `"reason":"500s on web"`) {
			t.Errorf("audit events: %+v", audit)
		}
		if err := os.WriteFile(rf.f.path("manual.release"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		out.waitCount(t, "manual", events.StatusOK, 1)
		if got, err := c.herald(t, "", "rollout", "resume", e.ID, "--reason", "fixed"); err != nil || !strings.Contains(got, "rollout resumed") {
			t.Fatalf("herald rollout resume: %v\n%s", err, got)
		}
		// The halted hosts run it now, each with an outcome of its own.
		out.waitCount(t, "manual", events.StatusOK, 20)
		if ran := rf.lines("manual.ran"); len(ran) != 40 {
			t.Errorf("%d runs recorded, want 20", len(ran)/2)
		}
		if p := rf.peak("manual"); p > 1 {
			t.Errorf("%d hosts ran at once after the resume, want at most max_hosts 1", p)
		}
	})

	t.Run("a newer event supersedes the hosts still waiting", func(t *testing.T) {
		e1 := c.publish("roll.super", "/git/head", "v1")
		testutil.Eventually(t, wait, func() error {
			if n := len(rf.lines("super.ran")); n < 1 {
				return fmt.Errorf("no host has run v1 yet")
			}
			return nil
		})
		e2 := c.publish("roll.super", "/git/head", "v2")
		testutil.Eventually(t, wait, func() error {
			n := 0
			for _, o := range out.Snapshot() {
				if o.Watch == "super" && o.EventID == e2.ID && o.Status == events.StatusOK {
					n++
				}
			}
			if n < 20 {
				return fmt.Errorf("%d of 20 hosts ran v2", n)
			}
			return nil
		})
		ranV1 := 0
		for _, o := range out.Snapshot() {
			if o.Watch != "super" {
				continue
			}
			switch {
			case o.EventID == e1.ID:
				ranV1++
			case o.EventID == e2.ID && !slices.Contains(o.Superseded, e1.ID) && !ranOutcome(out, o.Host, e1.ID):
				t.Errorf("%s ran v2 without running v1 or listing it as superseded", o.Host)
			}
		}
		// v1's rollout had reached at most a few hosts (2 at once, 1 s
		// each) when v2 arrived; every other host ran only v2.
		if ranV1 >= 20 || ranV1 < 1 {
			t.Errorf("%d hosts ran v1, want the first few only", ranV1)
		}
	})
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}

func ranOutcome(out *outcomes, host, eventID string) bool {
	for _, o := range out.Snapshot() {
		if o.Host == host && o.EventID == eventID {
			return true
		}
	}
	return false
}
