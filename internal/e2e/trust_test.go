package e2e_test

// Issue 10's attacks over HTTP and through the sources, against the real
// binaries: each refused, and the legitimate path still reaching an agent.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

// httpDo sends one request to the dispatcher's HTTP API with token as a
// bearer token ("": none) and returns the status and body.
func httpDo(t *testing.T, c *cluster, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+c.http+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if token != "" && strings.Contains(string(b), token) {
		t.Errorf("POST %s: the answer echoes the token", path)
	}
	return resp.StatusCode, string(b)
}

// TestHTTPAuth_AttacksRefused runs the dispatcher binary with --auth and
// replays the HTTP attacks of issue 10: a prod deploy allowed with
// skip_hooks ["all"] and no credential, an audit record naming whatever
// user the body claimed, forged call.hooks_skipped and zk.changed events,
// and poisoned dedup dropping the real publish of version 43. Each is
// refused (401/403) or harmless, and the legitimate calls and publishes
// go through to an agent.
func TestHTTPAuth_AttacksRefused(t *testing.T) {
	t.Parallel()
	dir := newAuthDir(t,
		[]string{"add-publisher", "ci", "--types", "git.push", "--http-token"},
		[]string{"add-publisher", "release", "--types", "git.push", "--http-token"},
		[]string{"add-deployer", "deployer", "--http-token"},
		[]string{"add-deployer", "oncall", "--may-skip-hooks", "--http-token"},
		[]string{"add-publisher", "hotfix", "--types", "git.push", "--may-skip-hooks", "--http-token"},
		[]string{"add-agent", "web-1"},
	)

	f := newFixture(t)
	hooks := f.path("hooks")
	if err := os.Mkdir(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, hooks+"/freeze.yaml", `
hooks:
  - {name: prod-freeze, phase: pre, methods: [create_job], jobs: ["*/*/prod/*"], exec: "echo frozen; exit 1"}
`)
	b := startAuthBus(t, dir, "--hooks", hooks)
	c := b.cluster
	tokCI, tokRelease := b.token("publishers", "ci"), b.token("publishers", "release")
	tokDeploy, tokSkip := b.token("deployers", "deployer"), b.token("deployers", "oncall")
	f.script("rec.sh", `data=$(cat); echo "$HERALD_VERSION $data" >> "$DIR/runs.log"`)
	f.watchFile("push.yaml", `
watches:
  - name: push
    on: event:git.push
    exec: ["%DIR%/rec.sh"]
    env: {DIR: "%DIR%"}
    run_mode: parallel
`)
	b.startAuthAgent("web-1", f.watches)

	// The prod deploy with skip_hooks and no credential: 401.
	skip := `{"job":"west/www/prod/web","user":"alice","caller":"mallory","skip_hooks":["all"],"reason":"hotfix"}`
	if code, body := httpDo(t, c, "/v1/calls/create_job/pre", "", skip); code != http.StatusUnauthorized {
		t.Errorf("skip without a token: %d %s, want 401", code, body)
	}
	// A deployer without the skip right: 403; its plain call is denied
	// by the hook as ever.
	if code, body := httpDo(t, c, "/v1/calls/create_job/pre", tokDeploy, skip); code != http.StatusForbidden || !strings.Contains(body, "skip_hooks") {
		t.Errorf("skip without the right: %d %s, want 403 naming skip_hooks", code, body)
	}
	if code, body := httpDo(t, c, "/v1/calls/create_job/pre", tokDeploy, `{"job":"west/www/prod/web"}`); code != http.StatusForbidden || !strings.Contains(body, "frozen") {
		t.Errorf("deployer's prod call: %d %s, want denied by prod-freeze", code, body)
	}
	// With the right: allowed, and the audit names the token's identity.
	code, body := httpDo(t, c, "/v1/calls/create_job/pre", tokSkip, skip)
	var v call.Verdict
	if err := json.Unmarshal([]byte(body), &v); err != nil || code != http.StatusOK || !v.Allow {
		t.Fatalf("oncall's skip: %d %s", code, body)
	}
	auditedSkip := func(caller string) {
		t.Helper()
		testutil.Eventually(t, wait, func() error {
			s, err := c.js.Stream(context.Background(), events.EventsStream)
			if err != nil {
				return err
			}
			m, err := s.GetLastMsgForSubject(context.Background(), events.EventSubject(call.TypeHooksSkipped, "west/www/prod/web"))
			if err != nil {
				return err
			}
			var rec call.HooksSkipped
			if err := json.Unmarshal(m.Data, &rec); err != nil {
				return err
			}
			if rec.Caller != caller || rec.User != "alice" {
				return fmt.Errorf("audit record %s: want caller %s (not mallory), user alice", m.Data, caller)
			}
			return nil
		})
	}
	auditedSkip("oncall")

	// A publisher granted --may-skip-hooks is a caller that may skip, over
	// HTTP and through herald call on NATS; one without it may not call.
	if code, body := httpDo(t, c, "/v1/calls/create_job/pre", tokCI, skip); code != http.StatusForbidden || !strings.Contains(body, "may not make scheduler calls") {
		t.Errorf("ci's skip: %d %s, want 403", code, body)
	}
	if code, body := httpDo(t, c, "/v1/calls/create_job/pre", b.token("publishers", "hotfix"), skip); code != http.StatusOK || !strings.Contains(body, `"allow":true`) {
		t.Fatalf("hotfix's skip over HTTP: %d %s, want allowed", code, body)
	}
	auditedSkip("hotfix")
	for _, p := range []struct {
		name string
		ok   bool
	}{{"ci", false}, {"hotfix", true}} {
		marker := f.path("deployed-by-" + p.name)
		out, err := c.herald(t, "", "call", "create_job", "--timeout", "3s", "--pre-timeout", "3s", "--nats-creds", b.creds("publishers", p.name),
			"--job", "west/www/prod/web", "--skip-hooks", "all", "--reason", "hotfix", "--", "touch", marker)
		_, statErr := os.Stat(marker)
		if p.ok && (err != nil || statErr != nil) {
			t.Fatalf("herald call --skip-hooks as %s: %v (%v)\n%s", p.name, err, statErr, out)
		}
		if !p.ok && (exitCode(err) != 3 || statErr == nil || !strings.Contains(err.Error(), "Permissions Violation")) {
			t.Fatalf("herald call --skip-hooks as %s: exit %d, COMMAND ran: %v: %v\n%s", p.name, exitCode(err), statErr == nil, err, out)
		}
	}

	// Forged audit and source events over HTTP: 403, nothing stored.
	for _, forged := range []struct{ body, field string }{
		{`{"type":"call.hooks_skipped","key":"west/www/prod/web","data":"{}"}`, `"field":"type"`},
		{`{"type":"zk.changed","key":"/git/head","version":"m0xfffffffffff.v1.c0x1"}`, `"field":"type"`},
		{`{"type":"git.push","key":"app","source":"zk:///"}`, `"field":"source"`},
	} {
		if code, body := httpDo(t, c, "/v1/events", tokCI, forged.body); code != http.StatusForbidden || !strings.Contains(body, forged.field) {
			t.Errorf("forged %s: %d %s, want 403 %s", forged.body, code, body, forged.field)
		}
	}

	// Dedup poisoning: ci posts release's next source, key and version
	// first; release's real publish of version 43 is stored and runs.
	pub := `{"type":"git.push","key":"app","source":"ci://release","version":"43","data":"%s"}`
	if code, body := httpDo(t, c, "/v1/events", tokCI, fmt.Sprintf(pub, "poison")); code != http.StatusCreated {
		t.Fatalf("ci's post: %d %s", code, body)
	}
	if code, body := httpDo(t, c, "/v1/events", tokRelease, fmt.Sprintf(pub, "real")); code != http.StatusCreated || strings.Contains(body, `"duplicate":true`) {
		t.Fatalf("release's publish of 43: %d %s, want 201, stored", code, body)
	}
	testutil.Eventually(t, wait, func() error {
		for _, l := range readLines(t, f.path("runs.log")) {
			if l == "43 real" {
				return nil
			}
		}
		return fmt.Errorf("the agent has not run release's version 43: %q", readLines(t, f.path("runs.log")))
	})

	// Revoked with herald auth revoke: refused at once, no restart.
	runHerald(t, nil, "", "auth", "revoke", "release", "--dir", dir)
	testutil.Eventually(t, wait, func() error {
		if code, body := httpDo(t, c, "/v1/events", tokRelease, fmt.Sprintf(pub, "after")); code != http.StatusUnauthorized {
			return fmt.Errorf("revoked release: %d %s, want 401", code, body)
		}
		return nil
	})
}

// TestZK_ForgedVersionAndUndeclaredPaths replays the ZooKeeper attacks
// against the dispatcher binary without --auth, where any client may
// publish anything, so that the sources' own defence is what stops them
// (with --auth NATS refuses them first:
// TestZK_AuthRefusesForgedEventsAndAnnouncements): a zk.changed forged on
// the bus with source "zk:///" and a huge version no longer silences the
// znode's real changes, and an announcement declaring
// zk:/secret/db-password outside --zk-allow (or in another agent's name on
// its subject) makes the dispatcher read nothing there, while the agent's
// allowed path runs.
func TestZK_ForgedVersionAndUndeclaredPaths(t *testing.T) {
	t.Parallel()
	z, zc, f := zkAttackSetup(t)
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--zk", z.Addr(), "--zk-allow", "/app/**")
	c.startAgent(agentOpts{name: "web-1", watches: f.watches})
	waitPlainLog(t, c.disp, "zk: watching key=/app/config")
	waitPlainLog(t, c.disp, "zk: selector outside zk.allow ignored")
	waitLines(t, f.path("runs-web-1.log"), 1) // run_on_load: c0

	// An announcement in another's name, on web-1's subject.
	fake, _ := json.Marshal(events.Announcement{Name: "evil", Heartbeat: time.Now(), Interval: 60,
		Watches: []events.WatchSummary{{Name: "x", On: "zk:/app/other"}}})
	if _, err := c.js.Publish(context.Background(), events.AgentSubject("web-1"), fake); err != nil {
		t.Fatal(err)
	}
	waitPlainLog(t, c.disp, "agent announcement on another agent's subject ignored")

	// The forged zk.changed, published with the bus's credential.
	if _, err := c.js.PublishMsg(context.Background(), forgedZKChanged(t, zc).ToMsg()); err != nil {
		t.Fatal(err)
	}
	waitPlainLog(t, c.disp, "claims a version ZooKeeper never had")
	zkAttackHarmless(t, c, zc, f)
}

// zkAttackSetup starts ZooKeeper with /app/config ("c0") and the secret
// /secret/db-password, and a fixture whose agent watches both (the
// secret's path lies outside the dispatcher's --zk-allow /app/**).
func zkAttackSetup(t *testing.T) (*testutil.ZooKeeper, *gozk.Conn, *fixture) {
	t.Helper()
	z := testutil.RunZooKeeper(t)
	zc := z.Connect(t)
	for _, p := range []string{"/app", "/secret"} {
		if _, err := zc.Create(p, nil, 0, zkOpenACL); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := zc.Create("/secret/db-password", []byte("hunter2"), 0, zkOpenACL); err != nil {
		t.Fatal(err)
	}
	if _, err := zc.Create("/app/config", []byte("c0"), 0, zkOpenACL); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	f.script("rec.sh", `data=$(cat); echo "$HERALD_EVENT_TYPE $data" >> "$DIR/runs-$HERALD_HOST.log"`)
	f.watchFile("zk.yaml", `
watches:
  - name: config
    on: zk:/app/config
    exec: ["%DIR%/rec.sh"]
    env: {DIR: "%DIR%"}
  - name: secret
    on: zk:/secret/db-password
    exec: ["%DIR%/rec.sh"]
    env: {DIR: "%DIR%"}
`)
	return z, zc, f
}

// zkAttackHarmless changes /app/config to c1 and checks that the change
// reaches agent web-1, that the secret reached no agent and no stream,
// and that the dispatcher watched neither /secret nor /app/other.
func zkAttackHarmless(t *testing.T, c *cluster, zc *gozk.Conn, f *fixture) {
	t.Helper()
	if _, err := zc.Set("/app/config", []byte("c1"), -1); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() error {
		for _, l := range readLines(t, f.path("runs-web-1.log")) {
			if l == "zk.changed c1" {
				return nil
			}
		}
		return fmt.Errorf("the real change has not reached the agent: %q", readLines(t, f.path("runs-web-1.log")))
	})
	for _, l := range readLines(t, f.path("runs-web-1.log")) {
		if strings.Contains(l, "hunter2") {
			t.Fatalf("the secret reached an agent: %q", l)
		}
	}
	s, err := c.js.Stream(context.Background(), events.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"zk.created", "zk.changed", "zk.deleted", "zk.children"} {
		if m, err := s.GetLastMsgForSubject(context.Background(), events.EventSubject(typ, "/secret/db-password")); !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatalf("%s stored for /secret/db-password: %v %v", typ, m, err)
		}
	}
	if strings.Contains(c.disp.out.String(), "zk: watching key=/secret") || strings.Contains(c.disp.out.String(), "key=/app/other") {
		t.Fatalf("the dispatcher watched a path it must not:\n%s", c.disp.out.String())
	}
}

// forgedZKChanged is a zk.changed of /app/config with source "zk:///" and
// a version far above any ZooKeeper will reach.
func forgedZKChanged(t *testing.T, zc *gozk.Conn) events.Event {
	t.Helper()
	_, cur, err := zc.Get("/app/config")
	if err != nil {
		t.Fatal(err)
	}
	e := events.New("zk:///", "zk.changed", "/app/config", []byte("forged"))
	e.Version = fmt.Sprintf("m0x%x.v%d.c0x%x", int64(1)<<60, 99, cur.Czxid)
	return e
}

// TestZK_AuthRefusesForgedEventsAndAnnouncements: with --auth, the
// ZooKeeper attacks are stopped by NATS before the dispatcher sees them: a
// forged zk.changed published with an agent's or a publisher's
// credentials, and an announcement on another agent's subject, are refused
// with a permissions violation. An announcement in the name of an identity
// that is no agent (sent with the admin's credentials, which may publish
// anything) is ignored, and the agent's own announcement declaring
// zk:/secret/db-password outside --zk-allow makes the dispatcher read
// nothing there, while its allowed path runs.
func TestZK_AuthRefusesForgedEventsAndAnnouncements(t *testing.T) {
	t.Parallel()
	z, zc, f := zkAttackSetup(t)
	b := newAuthBus(t, "--zk", z.Addr(), "--zk-allow", "/app/**")
	b.startAuthAgent("web-1", f.watches)
	waitPlainLog(t, b.disp, "zk: watching key=/app/config")
	waitPlainLog(t, b.disp, "zk: selector outside zk.allow ignored")
	waitLines(t, f.path("runs-web-1.log"), 1) // run_on_load: c0

	forged := forgedZKChanged(t, zc).ToMsg()
	for _, creds := range []string{b.creds("agents", "web-2"), b.creds("publishers", "ci")} {
		nc, v := b.connectAs(t, creds)
		if err := nc.PublishMsg(forged); err != nil {
			t.Fatal(err)
		}
		v.wait(t, "Publish", forged.Subject)
	}
	fake, _ := json.Marshal(events.Announcement{Name: "web-1", Heartbeat: time.Now(), Interval: 60,
		Watches: []events.WatchSummary{{Name: "x", On: "zk:/app/other"}}})
	web2, v := b.connectAs(t, b.creds("agents", "web-2"))
	if err := web2.Publish(events.AgentSubject("web-1"), fake); err != nil {
		t.Fatal(err)
	}
	v.wait(t, "Publish", events.AgentSubject("web-1"))

	evil, _ := json.Marshal(events.Announcement{Name: "evil", Heartbeat: time.Now(), Interval: 60,
		Watches: []events.WatchSummary{{Name: "x", On: "zk:/app/other"}}})
	if _, err := b.js.Publish(context.Background(), events.AgentSubject("evil"), evil); err != nil {
		t.Fatal(err)
	}
	waitPlainLog(t, b.disp, "announcement of an agent that is not an active agent identity ignored")
	zkAttackHarmless(t, b.cluster, zc, f)
}
