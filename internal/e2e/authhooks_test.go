package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/testutil"
)

// TestAuth_CallHookAttacksRefused replays issue 10's "ran id as root on an
// --accept-hooks agent" with --auth on: the dispatcher binary with --auth
// and a run: agents pre hook, an agent binary with its own credentials,
// its call_hooks: and --accept-hooks. A deployer's herald call runs the
// agent's own hook and then COMMAND; a request on herald.callhook.web-1
// carrying argv, published by the agent itself, a publisher, a viewer or a
// deployer, is refused by NATS (a permissions violation), and even the
// admin's, which NATS lets through, is refused by the agent: nothing of the
// argv runs.
func TestAuth_CallHookAttacksRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hooksDir := f.path("hooks")
	if err := os.Mkdir(hooksDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, hooksDir+"/hooks.yaml", `
hooks:
  - name: web-ok
    phase: pre
    methods: [create_job]
    timeout: 10s
    run: {agents: [web-1]}
`)
	f.script("web-ok.sh", `cat > /dev/null; echo "$HERALD_CALLER_IDENTITY $HERALD_JOB" >> "$DIR/hook.$HERALD_HOST"`)
	agentConf := f.path("agent.yaml")
	writeFile(t, agentConf, strings.ReplaceAll(`
call_hooks:
  web-ok:
    exec: ["%DIR%/web-ok.sh"]
    env: {DIR: "%DIR%"}
`, "%DIR%", f.dir))
	b := newAuthBus(t, "--hooks", hooksDir)
	b.startAgent(agentOpts{name: "web-1", watches: f.watches,
		extra: []string{"--nats-creds", b.creds("agents", "web-1"), "--config", agentConf, "--accept-hooks"}})

	// The legitimate path: the deployer's herald call; the hook runs on
	// web-1 (once the dispatcher sees it), then COMMAND.
	marker := f.path("deployed")
	testutil.Eventually(t, wait, func() error {
		out, err := b.herald(t, "", "call", "create_job", "--nats-creds", b.creds("deployers", "dep"),
			"--job", "west/www/prod/web", "--", "touch", marker)
		if err != nil {
			return fmt.Errorf("herald call as dep: %w\n%s", err, out)
		}
		return nil
	})
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("COMMAND did not run: %v", err)
	}
	if got := readLines(t, f.path("hook.web-1")); len(got) == 0 || got[len(got)-1] != "dep west/www/prod/web" {
		t.Fatalf("web-1's hook runs: %q, want the last for dep's call of west/www/prod/web", got)
	}
	ran := len(readLines(t, f.path("hook.web-1")))

	pwned := f.path("pwned")
	attack := `{"hook": "web-ok", "phase": "pre", "timeout_ms": 10000, "argv": ["/bin/sh", "-c", "id > ` + pwned + `"], "call": {"id": "forged", "method": "create_job", "job": "a/b/c/d", "phase": "pre"}}`
	subj := call.AgentHookSubject("web-1")
	for _, who := range []struct{ name, creds string }{
		{"the agent itself", b.creds("agents", "web-1")},
		{"a publisher", b.creds("publishers", "ci")},
		{"a viewer", b.creds("viewers", "ops")},
		{"a deployer", b.creds("deployers", "dep")},
	} {
		t.Run(who.name, func(t *testing.T) {
			nc, v := b.connectAs(t, who.creds)
			if err := nc.PublishRequest(subj, nc.NewInbox(), []byte(attack)); err != nil {
				t.Fatal(err)
			}
			v.wait(t, "Publish", subj)
		})
	}
	// The admin may publish there; the agent still refuses a request that
	// carries argv, and runs neither it nor its own hook for it.
	m, err := b.nc.Request(subj, []byte(attack), wait)
	if err != nil {
		t.Fatal(err)
	}
	var rep call.AgentReply
	if err := json.Unmarshal(m.Data, &rep); err != nil || rep.Status != call.StatusRefused {
		t.Fatalf("the admin's argv request: reply %s (%v), want refused", m.Data, err)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("the agent ran the argv of a request")
	}
	if got := readLines(t, f.path("hook.web-1")); len(got) != ran {
		t.Fatalf("web-1 ran its hook for a refused request: %q", got)
	}
}
