package e2e_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/testutil"
)

// exitCode is the exit status of a failed c.herald run.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

// preVerdict asks the dispatcher directly, for polling until the fleet is
// known.
func (c *cluster) preVerdict(t *testing.T, method, job string) call.Verdict {
	t.Helper()
	data, _ := json.Marshal(call.Call{Method: method, Job: job})
	m, err := c.nc.Request(call.PreSubject(method), data, wait)
	if err != nil {
		t.Fatalf("call.pre: %v", err)
	}
	var v call.Verdict
	if err := json.Unmarshal(m.Data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCall_AgentHooks runs the real dispatcher, three real agents and the
// real herald binary: a pre hook with run: agents goes to every agent the
// globs match, each of which runs its own call_hooks: entry of that name;
// one of two agents denies, so the call is denied and COMMAND never runs;
// an agent without --accept-hooks refuses; once the hook file changes so
// that both allow, the call runs, and a post hook run by the agents is
// recorded as their outcomes. A request carrying a command (issue 10: it
// ran id as root) or naming a hook the agent does not define runs nothing.
func TestCall_AgentHooks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hooksDir := f.path("hooks")
	if err := os.Mkdir(hooksDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.script("drain-check.sh", `cat > "$DIR/stdin.$HERALD_HOST"
if [ -e "$DIR/draining.$HERALD_HOST" ]; then echo "$HERALD_HOST is draining"; exit 1; fi
echo "$HERALD_HOST ok"`)
	f.script("record.sh", `echo "$HERALD_PHASE $HERALD_METHOD $HERALD_JOB" >> "$DIR/post.$HERALD_HOST"`)
	hooksFile := filepath.Join(hooksDir, "hooks.yaml")
	writeFile(t, hooksFile, strings.ReplaceAll(`
hooks:
  - name: web-not-draining
    phase: pre
    methods: [create_job, update_job]
    jobs: ["*/*/prod/*"]
    timeout: 10s
    run: {agents: ["web-*"]}
  - name: db-ack
    phase: pre
    methods: [kill_job]
    run: {agents: [db-1]}
  - name: record-on-agents
    phase: post
    methods: ["*"]
    run: {agents: ["web-*"]}
`, "%DIR%", f.dir))
	// What runs is the agents' own: their config's call_hooks:.
	agentConf := f.path("agent.yaml")
	writeFile(t, agentConf, strings.ReplaceAll(`
call_hooks:
  web-not-draining:
    exec: ["%DIR%/drain-check.sh"]
    env: {DIR: "%DIR%"}
  record-on-agents:
    exec: ["%DIR%/record.sh"]
    env: {DIR: "%DIR%"}
`, "%DIR%", f.dir))
	if err := os.WriteFile(f.path("draining.web-2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--hooks", hooksDir)
	outs := c.watchOutcomes()
	c.startAgent(agentOpts{name: "web-1", watches: f.watches, extra: []string{"--config", agentConf, "--accept-hooks"}})
	c.startAgent(agentOpts{name: "web-2", watches: f.watches, extra: []string{"--config", agentConf, "--accept-hooks"}})
	c.startAgent(agentOpts{name: "db-1", watches: f.watches})

	testutil.Eventually(t, wait, func() error {
		v := c.preVerdict(t, "update_job", "west/www/prod/web")
		if len(v.Hooks) != 2 {
			return fmt.Errorf("the dispatcher does not see both web agents yet: %+v", v.Hooks)
		}
		return nil
	})

	marker := f.path("ran")
	out, err := c.herald(t, "", "call", "create_job", "--job", "west/www/prod/web", "--arg", "build=42", "--", "touch", marker)
	if code := exitCode(err); code != 3 {
		t.Fatalf("exit %d, want 3: %v\n%s", code, err, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("COMMAND ran although web-2 denied")
	}
	if msg := err.Error(); !strings.Contains(msg, "web-not-draining on web-2 (failed): web-2 is draining") || strings.Contains(msg, "on web-1") {
		t.Fatalf("denial does not name web-2 alone:\n%s", msg)
	}
	for _, host := range []string{"web-1", "web-2"} {
		var got call.Call
		if err := json.Unmarshal([]byte(strings.Join(readLines(t, f.path("stdin."+host)), "\n")), &got); err != nil {
			t.Fatalf("%s: hook stdin: %v", host, err)
		}
		if got.Method != "create_job" || got.Args["build"] != "42" || got.Phase != "pre" {
			t.Fatalf("%s: hook got %+v", host, got)
		}
	}
	if _, err := os.Stat(f.path("stdin.db-1")); err == nil {
		t.Fatal("db-1 ran a hook aimed at web-*")
	}

	// An agent started without --accept-hooks refuses, which denies.
	_, err = c.herald(t, "", "call", "kill_job", "--job", "west/db/prod/pg", "--", "touch", marker)
	if code := exitCode(err); code != 3 || !strings.Contains(err.Error(), "agent db-1 does not run hooks (start it with --accept-hooks)") {
		t.Fatalf("refusing agent: exit %d: %v", code, err)
	}

	// The attack of issue 10: a request that carries the command itself.
	// Refused, and neither its argv nor the local hook runs; nor does a
	// name the agent does not define.
	pwned := f.path("pwned")
	for _, body := range []string{
		`{"hook": "x", "phase": "pre", "timeout_ms": 10000, "argv": ["/bin/sh", "-c", "id > ` + pwned + `"], "call": {"method": "create_job", "job": "a/b/c/d", "phase": "pre"}}`,
		`{"hook": "web-not-draining", "phase": "pre", "timeout_ms": 10000, "argv": ["/bin/sh", "-c", "id > ` + pwned + `"], "call": {"id": "forged", "method": "create_job", "job": "a/b/c/d", "phase": "pre"}}`,
		`{"hook": "db-ack", "phase": "pre", "timeout_ms": 10000, "call": {"id": "forged", "method": "kill_job", "job": "a/b/c/d", "phase": "pre"}}`,
	} {
		m, err := c.nc.Request(call.AgentHookSubject("web-1"), []byte(body), wait)
		if err != nil {
			t.Fatal(err)
		}
		var rep call.AgentReply
		if err := json.Unmarshal(m.Data, &rep); err != nil || rep.Status != call.StatusRefused {
			t.Fatalf("request %s: reply %s (%v), want refused", body, m.Data, err)
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("an agent ran the argv of a request")
	}
	var again call.Call
	if err := json.Unmarshal([]byte(strings.Join(readLines(t, f.path("stdin.web-1")), "\n")), &again); err != nil || again.ID == "forged" {
		t.Fatalf("web-1 ran its hook for a refused request: %+v, %v", again, err)
	}

	// web-2 is no longer draining: both allow, the call runs, the post hook
	// runs on both agents and is recorded as their outcomes.
	if err := os.Remove(f.path("draining.web-2")); err != nil {
		t.Fatal(err)
	}
	out, err = c.herald(t, "", "call", "create_job", "--job", "west/www/prod/web", "--", "touch", marker)
	if err != nil {
		t.Fatalf("allowed call: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("COMMAND did not run")
	}
	testutil.Eventually(t, wait, func() error {
		n := 0
		for _, o := range outs.Snapshot() {
			if o.Watch == "record-on-agents" && o.Status == events.StatusOK && o.EventType == call.TypePost {
				n++
			}
		}
		if n < 2 {
			return fmt.Errorf("%d post hook outcomes, want one per web agent", n)
		}
		return nil
	})
	for _, host := range []string{"web-1", "web-2"} {
		if lines := readLines(t, f.path("post."+host)); len(lines) != 1 || lines[0] != "post create_job west/www/prod/web" {
			t.Fatalf("%s post hook runs: %q", host, lines)
		}
	}
}

// TestCall_BinaryExitStatus checks the herald binary's exit statuses: a
// broken hook file keeps the previous version (still denying), the
// dispatcher unreachable denies with 3, and --fail-open runs COMMAND.
func TestCall_BinaryExitStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hooksDir := f.path("hooks")
	if err := os.Mkdir(hooksDir, 0o755); err != nil {
		t.Fatal(err)
	}
	hooksFile := filepath.Join(hooksDir, "hooks.yaml")
	writeFile(t, hooksFile, `
hooks:
  - {name: freeze, phase: pre, methods: ["*"], exec: "echo change freeze; exit 1"}
`)
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--hooks", hooksDir)
	marker := f.path("ran")
	_, err := c.herald(t, "", "call", "restart", "--job", "a/b/c/d", "--", "touch", marker)
	if code := exitCode(err); code != 3 || !strings.Contains(err.Error(), "freeze (failed): change freeze") {
		t.Fatalf("exit %d: %v", code, err)
	}
	writeFile(t, hooksFile, `
hooks:
  - {name: freeze, phase: pre, methods: ["*"], exec: "true", on_timeout: alow}
`)
	c.disp.waitLog("its previous version stays active")
	_, err = c.herald(t, "", "call", "restart", "--job", "a/b/c/d", "--", "touch", marker)
	if code := exitCode(err); code != 3 {
		t.Fatalf("after a broken change: exit %d: %v", code, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("COMMAND ran although the hook denied")
	}
	// The command's own status comes back.
	if _, err := c.herald(t, "", "call", "restart", "--job", "a/b/c/d", "--skip-hooks", "all", "--reason", "test", "--", "sh", "-c", "exit 9"); exitCode(err) != 9 {
		t.Fatalf("exit status %d, want 9: %v", exitCode(err), err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "nats://" + ln.Addr().String()
	ln.Close()
	_, err = c.herald(t, "", "call", "--nats", dead, "restart", "--job", "a/b/c/d", "--", "touch", marker)
	if code := exitCode(err); code != 3 || !strings.Contains(err.Error(), "cannot reach NATS") {
		t.Fatalf("unreachable: exit %d: %v", code, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("COMMAND ran although the dispatcher was unreachable")
	}
	if _, err := c.herald(t, "", "call", "--nats", dead, "--fail-open", "restart", "--job", "a/b/c/d", "--", "touch", marker); err != nil {
		t.Fatalf("--fail-open: %v", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("--fail-open did not run COMMAND")
	}
}

// TestCall_UnknownMethod runs the real dispatcher and herald binaries: a
// typo in the method (kill-job for kill_job) is denied with exit 3 and the
// known methods instead of skipping the kill_job veto, over NATS and HTTP;
// a hook file with a typo in its methods is not loaded, and herald validate
// says why; the dispatcher's call_methods replace the default list.
func TestCall_UnknownMethod(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hooksDir := f.hookFile(`
hooks:
  - {name: no-kills, phase: pre, methods: [kill_job], exec: "echo kills are frozen; exit 1"}
`)
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--hooks", hooksDir)
	marker := f.path("ran")
	_, err := c.herald(t, "", "call", "kill_job", "--job", "west/www/prod/web", "--", "touch", marker)
	if code := exitCode(err); code != 3 || !strings.Contains(err.Error(), "no-kills (failed): kills are frozen") {
		t.Fatalf("kill_job: exit %d: %v", code, err)
	}
	_, err = c.herald(t, "", "call", "kill-job", "--job", "west/www/prod/web", "--", "touch", marker)
	known := "create_job, update_job, kill_job, restart, cancel_update, add_instances, start_cronjob"
	if code := exitCode(err); code != 3 || !strings.Contains(err.Error(), `unknown method "kill-job"; known: `+known) {
		t.Fatalf("kill-job: exit %d, want 3 and the known methods: %v", code, err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("COMMAND ran for a method the dispatcher does not know")
	}
	resp, err := http.Post("http://"+c.http+"/v1/calls/kill-job/pre", "application/json", strings.NewReader(`{"job":"west/www/prod/web"}`))
	if err != nil {
		t.Fatal(err)
	}
	var v call.Verdict
	err = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusForbidden || v.Allow || !strings.HasPrefix(v.Error, `unknown method "kill-job"`) {
		t.Fatalf("HTTP pre kill-job: %d %+v %v", resp.StatusCode, v, err)
	}

	// A typo in a hook file: a load error in the dispatcher and in herald
	// validate.
	typo := filepath.Join(hooksDir, "typo.yaml")
	writeFile(t, typo, `
hooks:
  - {name: no-cron, phase: pre, methods: [start_cronjb], exec: "false"}
`)
	c.disp.waitLog(`typo.yaml:3: hooks[0].methods[0]: unknown method \"start_cronjb\"`)
	if _, err := c.herald(t, "", "call", "start_cronjob", "--job", "west/www/prod/web", "--", "true"); err != nil {
		t.Fatalf("start_cronjob with the broken file not loaded: %v", err)
	}
	_, err = c.herald(t, "", "validate", hooksDir)
	if code := exitCode(err); code != 1 || !strings.Contains(err.Error(), typo+`:3: hooks[0].methods[0]: unknown method "start_cronjb"; known: `+known) {
		t.Fatalf("herald validate: exit %d: %v", code, err)
	}

	// The dispatcher's own list, from its --config file; herald validate
	// reads the same file.
	conf := f.path("dispatcher.yaml")
	writeFile(t, conf, "call_methods: [deploy, start_cronjb]\n")
	if out, err := c.herald(t, "", "validate", "--dispatcher-config", conf, typo); err != nil || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("herald validate --dispatcher-config: %q %v", out, err)
	}
	own := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--config", conf)
	if _, err := own.herald(t, "", "call", "deploy", "--job", "west/www/prod/web", "--", "true"); err != nil {
		t.Fatalf("deploy with call_methods [deploy, ...]: %v", err)
	}
	_, err = own.herald(t, "", "call", "create_job", "--job", "west/www/prod/web", "--", "true")
	if code := exitCode(err); code != 3 || !strings.Contains(err.Error(), `unknown method "create_job"; known: deploy, start_cronjb`) {
		t.Fatalf("create_job with call_methods [deploy, ...]: exit %d: %v", code, err)
	}
}
