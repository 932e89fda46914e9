package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestConsumers_NoConsumerAPINeeded: the agent binary (run_on_load
// included) and herald status run with NATS users denied the whole
// consumer API ($JS.API.CONSUMER.>), so an agent's and a viewer's
// permissions can leave it out; the server announces no consumer created.
func TestConsumers_NoConsumerAPINeeded(t *testing.T) {
	t.Parallel()
	noConsumers := &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$JS.API.CONSUMER.>"}}}
	srv := testutil.RunNATSWithOptions(t, &server.Options{Users: []*server.User{
		{Username: "admin", Password: "admin-pw"},
		{Username: "agent", Password: "agent-pw", Permissions: noConsumers},
		{Username: "viewer", Password: "viewer-pw", Permissions: noConsumers},
	}})
	nc, js := testutil.ConnectStreams(t, srv, nats.UserInfo("admin", "admin-pw"))
	c := &cluster{t: t, url: srv.ClientURL(), nc: nc, js: js}
	adv, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.CREATED.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	f := newFixture(t)
	f.script("rec.sh", `cat >> "$1"; echo >> "$1"`)
	f.watchFile("w.yaml", `
watches:
  - name: w
    on: event:test.nocons
    exec: ["`+f.path("rec.sh")+`", "`+f.path("runs.log")+`"]
`)
	c.publish("test.nocons", "/k", "old")
	c.publish("test.nocons", "/k", "new")
	out := c.watchOutcomes()
	c.startAgent(agentOpts{name: "nocons-1", watches: f.watches, extra: []string{"--nats-user", "agent"}, env: []string{"HERALD_NATS_PASSWORD=agent-pw"}})
	out.waitCount(t, "w", events.StatusOK, 1) // run_on_load: the newest of /k
	if got := readLines(t, f.path("runs.log")); strings.Join(got, "|") != "new" {
		t.Fatalf("run_on_load ran %q, want the newest event only", got)
	}

	var doc struct {
		Agents []struct {
			Name    string `json:"name"`
			State   string `json:"state"`
			Watches []struct {
				Name        string          `json:"name"`
				LastOutcome *events.Outcome `json:"last_outcome"`
			} `json:"watches"`
		} `json:"agents"`
	}
	testutil.Eventually(t, wait, func() error {
		cmd := exec.Command(filepath.Join(testutil.Binaries(t), "herald"), "status", "--json", "--nats", c.url, "--nats-user", "viewer")
		cmd.Env = append(os.Environ(), "HERALD_NATS_PASSWORD=viewer-pw", "GORACE=atexit_sleep_ms=0")
		b, err := cmd.Output()
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return err
		}
		if len(doc.Agents) != 1 || doc.Agents[0].Name != "nocons-1" || doc.Agents[0].State != "ok" ||
			len(doc.Agents[0].Watches) != 1 || doc.Agents[0].Watches[0].LastOutcome == nil {
			return fmt.Errorf("status does not show nocons-1 ok with its outcome:\n%s", b)
		}
		return nil
	})
	if o := doc.Agents[0].Watches[0].LastOutcome; o.Status != events.StatusOK {
		t.Errorf("status shows the last outcome %s, want ok", o.Status)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := adv.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("a consumer was created: %s", m.Data)
	}
	if got := c.consumers(t); len(got) != 0 {
		t.Fatalf("consumers on the server: %q", got)
	}
}
