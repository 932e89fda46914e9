package e2e_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/rollout"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
)

// TestRollout_UnderAuth: with --auth, agents on their own credentials
// coordinate a rollout (the plan from the announcements, the gate, the
// turns, each its own host state), CI waits for it with a publisher's
// credentials, a deployer halts and resumes one, a viewer reads it; an
// agent cannot write another host's state, a publisher cannot halt.
func TestRollout_UnderAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.script("count.sh", counterScript)
	f.watchFile("w.yaml", `
watches:
  - name: pull
    on: event:deploy.app
    key: "/app/**"
    exec: ["%DIR%/count.sh"]
    env: {DIR: "%DIR%", W: pull, RUN_FOR: "0.1", HOLD_ON: web-1}
    run_on_load: false
    rollout: {max_hosts: 1}
`)
	dir := newAuthDir(t,
		[]string{"add-agent", "web-1"}, []string{"add-agent", "web-2"}, []string{"add-agent", "web-3"},
		[]string{"add-publisher", "ci", "--types", "deploy.*", "--keys", "/app/**", "--may-wait"},
		[]string{"add-viewer", "ops"},
		[]string{"add-deployer", "dep"},
	)
	b := startAuthBus(t, dir)
	for _, n := range []string{"web-1", "web-2", "web-3"} {
		b.startAuthAgent(n, f.watches)
	}
	out := b.watchOutcomes()
	testutil.Eventually(t, wait, func() error {
		got, err := b.herald(t, "", "status", "--nats-creds", b.creds("viewers", "ops"))
		if err != nil || strings.Count(got, "watches of web-") != 3 {
			return fmt.Errorf("herald status: %v\n%s", err, got)
		}
		return nil
	})

	// web-1 goes first and holds the only turn; CI's --wait gives up.
	got, err := b.herald(t, "", "publish", "--nats-creds", b.creds("publishers", "ci"), "--type", "deploy.app", "--key", "/app/web",
		"--data", "v1", "--wait", "--wait-timeout", "2s")
	if exitCode(err) != 4 {
		t.Fatalf("publish --wait with a publisher's credentials while web-1 holds the turn: exit %d (%v), want 4:\n%s", exitCode(err), err, got)
	}
	id := strings.Fields(got)[0]
	waitFile(t, f.path("pull.holding"))
	testutil.Eventually(t, wait, func() error {
		got, err := b.herald(t, "", "rollout", "status", id, "--nats-creds", b.creds("viewers", "ops"))
		if err != nil || !strings.Contains(got, "1 running, 2 waiting") {
			return fmt.Errorf("herald rollout status as the viewer: %v\n%s", err, got)
		}
		return nil
	})

	// A publisher may not halt; a deployer may.
	if got, err := b.herald(t, "", "rollout", "halt", id, "--reason", "x", "--timeout", "3s", "--nats-creds", b.creds("publishers", "ci")); err == nil {
		t.Errorf("a publisher halted a rollout:\n%s", got)
	}
	// An agent may not write another host's state.
	nc, v := b.connectAs(t, b.creds("agents", "web-2"))
	forged := rollout.SubjectPrefix + rollout.Token(id) + "." + rollout.Token("pull") + ".host." + rollout.Token("web-3")
	if err := nc.PublishMsg(&nats.Msg{Subject: forged, Reply: nc.NewInbox(), Data: []byte(`{"host":"web-3","state":"ok"}`)}); err != nil {
		t.Fatal(err)
	}
	v.wait(t, "Publish", forged)

	if got, err := b.herald(t, "", "rollout", "halt", id, "--reason", "bad build", "--nats-creds", b.creds("deployers", "dep")); err != nil {
		t.Fatalf("herald rollout halt as the deployer: %v\n%s", err, got)
	}
	out.waitCount(t, "pull", events.StatusHalted, 2)
	if err := os.WriteFile(f.path("pull.release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out.waitCount(t, "pull", events.StatusOK, 1)
	if got, err := b.herald(t, "", "rollout", "resume", id, "--reason", "fixed", "--nats-creds", b.creds("deployers", "dep")); err != nil {
		t.Fatalf("herald rollout resume as the deployer: %v\n%s", err, got)
	}
	out.waitCount(t, "pull", events.StatusOK, 3)
	if p := len(strings.Fields(string(mustReadFile(t, f.path("pull.peaks"))))); p != 3 {
		t.Errorf("%d runs counted, want 3", p)
	}
	if got, err := b.herald(t, "", "rollout", "status", id, "--nats-creds", b.creds("viewers", "ops")); err != nil || !strings.Contains(got, "3 ok") || !strings.Contains(got, "resumed by dep") {
		t.Errorf("after the resume: %v\n%s", err, got)
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
