package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
)

// herald runs the real CLI binary against the cluster.
func (c *cluster) herald(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testutil.Binaries(t), "herald"), args...)
	cmd.Env = append(os.Environ(), "HERALD_NATS="+c.url, "GORACE=atexit_sleep_ms=0")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("herald %v: %w: %s", args, err, errb.String())
	}
	return out.String(), nil
}

// TestFleet_CLIAndHTTPPublishReachEveryAgent starts two agents, publishes
// once with the herald binary (data on stdin) and once over the
// dispatcher's HTTP API, and checks that both agents ran both events and
// that herald status lists them with their last outcomes.
func TestFleet_CLIAndHTTPPublishReachEveryAgent(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("rec.sh", `data=$(cat); echo "$HERALD_HOST $HERALD_EVENT_ID $data" >> "$DIR/runs.log"`)
	f.watchFile("f.yaml", `
watches:
  - name: deploy
    on: event:ci.build
    key: "app/*"
    exec: ["%DIR%/rec.sh"]
    env: {DIR: "%DIR%"}
    run_on_load: false
`)
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "web-1", watches: f.watches})
	c.startAgent(agentOpts{name: "web-2", watches: f.watches})

	id, err := c.herald(t, "build 41 $(reboot)", "publish", "--type", "ci.build", "--key", "app/web")
	if err != nil {
		t.Fatal(err)
	}
	id = strings.TrimSpace(id)
	body := `{"type":"ci.build","key":"app/web","data":"build 42"}`
	resp, err := http.Post("http://"+c.http+"/v1/events", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST /v1/events: %d %s", resp.StatusCode, b)
	}
	var posted struct{ ID string }
	if err := json.Unmarshal(b, &posted); err != nil || posted.ID == "" {
		t.Fatalf("POST /v1/events answered %s", b)
	}
	out.waitCount(t, "deploy", events.StatusOK, 4)
	runs := strings.Join(readLines(t, f.path("runs.log")), "\n")
	for _, host := range []string{"web-1", "web-2"} {
		for _, want := range []string{id + " build 41 $(reboot)", posted.ID + " build 42"} {
			if !strings.Contains(runs, host+" "+want) {
				t.Errorf("%s did not run %q; runs:\n%s", host, want, runs)
			}
		}
	}
	status, err := c.herald(t, "", "status", "--json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"web-1"`, `"web-2"`, `"deploy"`, posted.ID} {
		if !strings.Contains(status, want) {
			t.Errorf("herald status --json lacks %s:\n%s", want, status)
		}
	}
}

// TestAgent_ShutdownKillsRunsAndExitsZero stops an agent while its action
// ignores SIGTERM: the agent sends SIGTERM, then SIGKILL after kill_grace,
// leaves nothing behind and exits 0; the event is redelivered later.
func TestAgent_ShutdownKillsRunsAndExitsZero(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.script("stubborn.sh", `echo $$ >> "$DIR/pids"
if [ -f "$DIR/restarted" ]; then exit 0; fi
trap '' TERM
while :; do sleep 0.05; done`)
	f.watchFile("s.yaml", `
watches:
  - name: s
    on: event:test.shutdown
    exec: ["%DIR%/stubborn.sh"]
    env: {DIR: "%DIR%"}
    kill_grace: 300ms
    run_on_load: false
`)
	state := t.TempDir()
	out := c.watchOutcomes()
	a := c.startAgent(agentOpts{name: "a1", watches: f.watches, state: state})
	c.publish("test.shutdown", "k", "x")
	pids := waitLines(t, f.path("pids"), 1)
	began := time.Now()
	if code := a.stop(); code != 0 {
		t.Fatalf("agent exit code %d, want 0", code)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("shutdown took %v with a 300ms kill_grace", took)
	}
	pid, _ := strconv.Atoi(pids[0])
	if alive(pid) {
		t.Fatalf("action %d survived the agent's shutdown", pid)
	}
	if n := out.count("s", ""); n != 0 {
		t.Fatalf("%d outcomes for a run cut short by shutdown, want none (it is redelivered)", n)
	}
	if err := os.WriteFile(f.path("restarted"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.startAgent(agentOpts{name: "a1", watches: f.watches, state: state})
	out.waitCount(t, "s", events.StatusOK, 1)
}

// TestAgent_Metrics checks the agent's Prometheus endpoint counts runs by
// watch and status, and the start-latency histogram.
func TestAgent_Metrics(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	f.watchFile("m.yaml", `
watches:
  - name: ok
    on: event:test.metrics
    exec: ["true"]
    run_on_load: false
  - name: bad
    on: event:test.metrics
    exec: ["false"]
    run_on_load: false
`)
	out := c.watchOutcomes()
	a := c.startAgent(agentOpts{name: "a1", watches: f.watches, extra: []string{"--metrics", "127.0.0.1:0"}})
	m := regexp.MustCompile(`"metrics_addr":"([^"]+)"`).FindStringSubmatch(a.out.String())
	if m == nil {
		t.Fatalf("agent did not log its metrics address")
	}
	for range 3 {
		c.publish("test.metrics", fmt.Sprint(time.Now().UnixNano()), "x")
	}
	out.waitCount(t, "ok", events.StatusOK, 3)
	out.waitCount(t, "bad", events.StatusFailed, 3)
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`herald_agent_runs_total{status="ok",watch="ok"} 3`,
		`herald_agent_runs_total{status="failed",watch="bad"} 3`,
		`herald_agent_events_received_total 3`,
		`herald_agent_event_start_latency_seconds_count{watch="ok"} 3`,
		`herald_agent_run_duration_seconds_count{watch="bad"} 3`,
		`herald_nats_reconnects_total 0`,
		`herald_agent_watches 2`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
