package e2e_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/eventreport"
)

// waitWatches writes the watch directory of one --wait agent: each
// watch runs on event:wait.<name>, its script given inline.
func waitWatches(t *testing.T, f *fixture, agent string, scripts map[string]string) string {
	t.Helper()
	dir := f.path("watches-" + agent)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("watches:\n")
	for name, script := range scripts {
		js, _ := json.Marshal(script)
		b.WriteString("  - name: " + name + "\n    on: event:wait." + name + "\n    exec: [\"/bin/sh\", \"-c\", " + string(js) + "]\n    env: {DIR: \"" + f.dir + "\"}\n    run_on_load: false\n")
	}
	writeFile(t, filepath.Join(dir, "w.yaml"), b.String())
	return dir
}

// TestPublishWait_ExitCodes: herald publish --wait exits 0 once every
// live agent holding a watch that selects the event ran it ok; 1 when one
// failed, with its exit code and the last lines of its stderr; 4 when one
// did not decide before --wait-timeout, listed as missing; --json prints
// the summary alone; an agent that joined after the event was stored is
// not waited for; with no agent holding such a watch it says so and
// exits 0.
func TestPublishWait_ExitCodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	f := newFixture(t)
	gated := `touch "$DIR/started-$HERALD_HOST"; while [ ! -f "$DIR/gate" ]; do sleep 0.02; done`
	c.startAgent(agentOpts{name: "a1", watches: waitWatches(t, f, "a1", map[string]string{
		"ok":   "true",
		"fail": `for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "err line $i" >&2; done; exit 3`,
		"slow": gated,
		"late": gated,
	})})
	c.startAgent(agentOpts{name: "a2", watches: waitWatches(t, f, "a2", map[string]string{
		"ok":   "true",
		"fail": "true",
	})})

	out, err := c.herald(t, "", "publish", "--type", "wait.ok", "--key", "/app", "--wait")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if exitCode(err) != 0 || len(lines) != 2 || lines[1] != "2 expected, 2 decided: 2 ok" {
		t.Fatalf("all ok: exit %d (%v), stdout %q; want 0, the id and \"2 expected, 2 decided: 2 ok\"", exitCode(err), err, out)
	}

	out, err = c.herald(t, "", "publish", "--type", "wait.ok", "--key", "/app", "--wait", "--json")
	var sum eventreport.Summary
	if jerr := json.Unmarshal([]byte(out), &sum); exitCode(err) != 0 || jerr != nil {
		t.Fatalf("--json: exit %d (%v), %v: %q", exitCode(err), err, jerr, out)
	}
	if sum.Expected != 2 || sum.Decided != 2 || !sum.Done || sum.Counts["ok"] != 2 || sum.Counts["pending"] != 0 ||
		len(sum.Hosts) != 2 || sum.Hosts[0].Host != "a1" || sum.Hosts[1].Host != "a2" || sum.Hosts[0].Status != "ok" ||
		sum.EventType != "wait.ok" || sum.Key != "/app" || sum.EventID == "" || sum.Seq == 0 || len(sum.Missing) != 0 {
		t.Errorf("--json summary %+v: want 2 expected and ok, a1 and a2", sum)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"event_id", "event_type", "key", "seq", "stored", "expected", "decided", "done", "counts", "hosts", "missing", "last_outcome", "to_last_outcome_ms"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("--json lacks %q: %s", k, out)
		}
	}

	out, err = c.herald(t, "", "publish", "--type", "wait.fail", "--key", "/app", "--wait")
	if exitCode(err) != 1 || !strings.Contains(out, "2 expected, 2 decided: 1 ok, 1 failed") ||
		!strings.Contains(out, "failed: a1 (watch fail) exit 3") ||
		!strings.Contains(out, "\n    err line 3\n") || !strings.Contains(out, "\n    err line 12\n") || strings.Contains(out, "err line 2\n") {
		t.Errorf("a failing host: exit %d (%v), stdout:\n%s\nwant 1, a1's exit 3 and its stderr's last 10 lines", exitCode(err), err, out)
	}

	out, err = c.herald(t, "", "publish", "--type", "wait.slow", "--key", "/app", "--wait", "--wait-timeout", "2s")
	if exitCode(err) != 4 || !strings.Contains(out, "1 expected, 0 decided: 1 pending") || !strings.Contains(out, "missing: a1 (watch slow)") {
		t.Errorf("a host that does not decide in time: exit %d (%v), stdout:\n%s\nwant 4, a1 missing", exitCode(err), err, out)
	}
	if err == nil || !strings.Contains(err.Error(), "1 of 1 hosts did not decide within 2s") {
		t.Errorf("stderr of exit 4: %v", err)
	}

	// An agent that joins while herald waits is not waited for.
	w := start(t, "herald", "publish", "--nats", c.url, "--type", "wait.late", "--key", "/app", "--wait", "--json")
	waitFile(t, f.path("started-a1"))
	c.startAgent(agentOpts{name: "a3", watches: waitWatches(t, f, "a3", map[string]string{"late": "true"})})
	writeFile(t, f.path("gate"), "")
	if code := waitExit(t, w); code != 0 {
		t.Fatalf("late joiner: exit %d, output:\n%s", code, w.out.String())
	}
	if err := json.Unmarshal([]byte(w.out.String()), &sum); err != nil || sum.Expected != 1 || sum.Hosts[0].Host != "a1" || !sum.Done {
		t.Errorf("late joiner: %v, %+v: want a1 alone expected, done", err, sum)
	}

	out, err = c.herald(t, "", "publish", "--type", "wait.nobody", "--key", "/app", "--wait")
	if exitCode(err) != 0 || !strings.Contains(out, "no live agent holds a watch that selects this event: nothing to wait for") {
		t.Errorf("nobody expected: exit %d (%v), stdout %q", exitCode(err), err, out)
	}

	if _, err := c.herald(t, "", "publish", "--type", "wait.ok", "--key", "/app", "--json"); exitCode(err) != 2 || !strings.Contains(err.Error(), "--json needs --wait") {
		t.Errorf("--json without --wait: %v, want exit 2", err)
	}
}

// waitExit waits for a started process to exit by itself and returns its
// exit code.
func waitExit(t *testing.T, p *proc) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(wait):
		t.Fatalf("%s did not exit within %v:\n%s", p.name, wait, p.out.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// TestPublishWait_PublisherCreds: with --auth on, herald publish --wait
// works with a publisher's credentials (it reads the announcements and
// the outcomes by direct gets, nothing the server refuses), while the
// publisher still may not read the events stream, make a consumer on the
// outcomes or subscribe to them.
func TestPublishWait_PublisherCreds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.watchFile("w.yaml", authWatch)
	b := newAuthBus(t)
	b.startAuthAgent("web-1", f.watches)

	out, err := b.herald(t, "", "publish", "--nats-creds", b.creds("publishers", "ci"), "--type", "deploy.app", "--key", "/app/web", "--data", "v42", "--wait", "--wait-timeout", "20s")
	if err != nil || !strings.Contains(out, "1 expected, 1 decided: 1 ok") {
		t.Fatalf("publish --wait as the publisher: %v\n%s", err, out)
	}
	if log := b.disp.out.String(); strings.Contains(log, "Violation") {
		t.Fatalf("the server refused something publish --wait did:\n%s", log)
	}

	nc, v := b.connectAs(t, b.creds("publishers", "ci"))
	for _, subj := range []string{"$JS.API.DIRECT.GET.HERALD_EVENTS", "$JS.API.CONSUMER.CREATE.HERALD_OUTCOMES.x"} {
		if err := nc.Publish(subj, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		v.wait(t, "Publish", subj)
	}
	if _, err := nc.SubscribeSync("herald.outcome.>"); err != nil {
		t.Fatal(err)
	}
	v.wait(t, "Subscription", "herald.outcome.>")
}
