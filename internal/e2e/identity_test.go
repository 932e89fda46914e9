package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// authBus is a dispatcher started with --auth on a directory the herald
// binary made. The cluster's own client is the admin.
type authBus struct {
	*cluster
	dir string
}

// newAuthBus is an authBus on newAuthDir's directory holding two agents,
// a publisher of deploy.* on /app/**, a viewer and a deployer.
func newAuthBus(t *testing.T, extra ...string) *authBus {
	t.Helper()
	dir := newAuthDir(t,
		[]string{"add-agent", "web-1"},
		[]string{"add-agent", "web-2"},
		[]string{"add-publisher", "ci", "--types", "deploy.*", "--keys", "/app/**"},
		[]string{"add-viewer", "ops"},
		[]string{"add-deployer", "dep"},
	)
	return startAuthBus(t, dir, extra...)
}

// newAuthDir makes an auth directory with the herald binary: herald auth
// init, then herald auth ADD... --dir DIR for each of adds.
func newAuthDir(t *testing.T, adds ...[]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "auth")
	runHerald(t, nil, "", "auth", "init", "--dir", dir)
	for _, args := range adds {
		runHerald(t, nil, "", append(append([]string{"auth"}, args...), "--dir", dir)...)
	}
	return dir
}

// startAuthBus starts the dispatcher binary with --auth dir.
func startAuthBus(t *testing.T, dir string, extra ...string) *authBus {
	t.Helper()
	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", append([]string{"--auth", dir}, extra...)...)
	return &authBus{cluster: c, dir: dir}
}

func (b *authBus) creds(kind, name string) string {
	return filepath.Join(b.dir, kind, name+".creds")
}

// token is the HTTP bearer token herald auth add-* --http-token wrote for
// identity name of kind (publishers, deployers, viewers).
func (b *authBus) token(kind, name string) string {
	b.t.Helper()
	raw, err := os.ReadFile(filepath.Join(b.dir, kind, name+".token"))
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimSpace(string(raw))
}

// startAuthAgent starts agent name with its own credentials.
func (b *authBus) startAuthAgent(name, watches string) *proc {
	b.t.Helper()
	return b.startAgent(agentOpts{name: name, watches: watches, extra: []string{"--nats-creds", b.creds("agents", name)}})
}

// violations collects the permission violations a connection is told of.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	v.mu.Lock()
	v.errs = append(v.errs, err.Error())
	v.mu.Unlock()
}

// wait waits for the server's permission violation of a publish or a
// subscription on subj.
func (v *violations) wait(t *testing.T, what, subj string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, e := range v.errs {
			if strings.Contains(e, "Permissions Violation for "+what) && strings.Contains(e, subj) {
				return nil
			}
		}
		return fmt.Errorf("no permissions violation for %s %s (got %q)", what, subj, v.errs)
	})
}

// connectAs connects with an identity's credentials as Herald's binaries
// do (natsconn: the identity's own inbox prefix).
func (b *authBus) connectAs(t *testing.T, creds string, opts ...nats.Option) (*nats.Conn, *violations) {
	t.Helper()
	v := &violations{}
	nc, err := natsconn.Connect(natsconn.Config{URL: b.url, Creds: creds}, "attacker", wait, append(opts, nats.ErrorHandler(v.handler))...)
	if err != nil {
		t.Fatalf("connect with %s: %v", creds, err)
	}
	t.Cleanup(nc.Close)
	return nc, v
}

const authWatch = `
watches:
  - name: deploys
    on: event:deploy.app
    key: "/app/**"
    exec: ["/bin/sh", "-c", "cat >> %DIR%/runs.log; echo >> %DIR%/runs.log"]
    run_on_load: false
`

// TestAuth_LegitimatePaths: with --auth on, an agent with its own
// credentials runs an event that herald publish sent with a publisher's
// credentials and its outcome is stored; herald status and herald tail
// work with a viewer's credentials; a deployer's pre request (on its own
// subject) is answered by the dispatcher and its call.post is stored.
func TestAuth_LegitimatePaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.watchFile("w.yaml", authWatch)
	// run_on_load reads the latest events through a one-off consumer.
	f.watchFile("loaded.yaml", `
watches:
  - name: loaded
    on: event:deploy.app
    key: "/app/**"
    exec: "true"
`)
	b := newAuthBus(t)
	outs := b.watchOutcomes()
	b.publish("deploy.app", "/app/early", "v41")
	b.startAuthAgent("web-1", f.watches)
	outs.waitCount(t, "loaded", events.StatusOK, 1)

	tail := start(t, "herald", "tail", "--nats", b.url, "--nats-creds", b.creds("viewers", "ops"), "--count", "1")
	tailOut := start(t, "herald", "tail", "--outcomes", "--nats", b.url, "--nats-creds", b.creds("viewers", "ops"), "--count", "1")
	tail.waitLog("listening for events")
	tailOut.waitLog("listening for outcomes")

	id, err := b.herald(t, "", "publish", "--nats-creds", b.creds("publishers", "ci"), "--type", "deploy.app", "--key", "/app/web", "--data", "v42")
	if err != nil {
		t.Fatal(err)
	}
	outs.waitCount(t, "deploys", events.StatusOK, 1)
	if got := waitLines(t, f.path("runs.log"), 1); got[0] != "v42" {
		t.Errorf("the run read %q, want v42", got)
	}
	tail.waitLog(strings.TrimSpace(id))
	tailOut.waitLog("host=web-1 watch=")
	tailOut.waitLog("status=ok")

	// The outcome is stored in HERALD_OUTCOMES (herald status reads it).
	testutil.Eventually(t, wait, func() error {
		out, err := b.herald(t, "", "status", "--json", "--nats-creds", b.creds("viewers", "ops"))
		if err != nil {
			return err
		}
		var doc struct {
			Agents []struct {
				Name    string `json:"name"`
				Watches []struct {
					Name string `json:"name"`
					Last *struct {
						Status string `json:"status"`
					} `json:"last_outcome"`
				} `json:"watches"`
			} `json:"agents"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		for _, a := range doc.Agents {
			for _, w := range a.Watches {
				if a.Name == "web-1" && w.Name == "deploys" && w.Last != nil && w.Last.Status == "ok" {
					return nil
				}
			}
		}
		return fmt.Errorf("herald status does not show web-1's ok outcome yet:\n%s", out)
	})

	// The deployer: a pre request on herald.call.pre.<method>.dep is
	// answered by the dispatcher (no hooks: allowed); its call.post is
	// stored.
	dep, _ := b.connectAs(t, b.creds("deployers", "dep"))
	data, _ := json.Marshal(call.Call{Method: "update_job", Job: "west/www/prod/web", Phase: call.PhasePre})
	m, err := dep.Request(call.PreSubject("update_job")+".dep", data, wait)
	if err != nil {
		t.Fatalf("the deployer's pre request: %v", err)
	}
	var v call.Verdict
	if err := json.Unmarshal(m.Data, &v); err != nil || !v.Allow {
		t.Fatalf("verdict %s (%v), want allowed", m.Data, err)
	}
	djs, _ := jetstream.New(dep)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	post := events.New("herald://call", call.TypePost, "west/www/prod/web", []byte(`{}`))
	if _, err := bus.PublishEvent(ctx, djs, post); err != nil {
		t.Fatalf("the deployer's call.post: %v", err)
	}
	// A repeat (same --version) is reported as a duplicate without reading
	// the stream, which a publisher may not.
	for i := range 2 {
		cmd := exec.Command(filepath.Join(testutil.Binaries(t), "herald"), "publish", "--nats", b.url, "--nats-creds", b.creds("publishers", "ci"),
			"--type", "deploy.app", "--key", "/app/dup", "--version", "7", "--data", "x")
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "Violation") || (i == 1) != strings.Contains(string(out), "duplicate, not stored again") {
			t.Fatalf("publish %d: %v\n%s", i, err, out)
		}
	}
	// herald call with the deployer's credentials: allowed by the
	// dispatcher, COMMAND runs, its call.post is stored.
	marker := f.path("called")
	if out, err := b.herald(t, "", "call", "update_job", "--nats-creds", b.creds("deployers", "dep"), "--job", "west/www/prod/web", "--", "touch", marker); err != nil {
		t.Fatalf("herald call: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("COMMAND did not run: %v", err)
	}
	// No legitimate path met a refusal: the server logs each one.
	if out := b.disp.out.String(); strings.Contains(out, "Violation") {
		t.Fatalf("the server refused something on a legitimate path:\n%s", out)
	}
}

// TestAuth_AttacksRefused: each NATS-level attack of issue 10, made with
// an agent's, a publisher's or a viewer's credentials, is refused by the
// server with a permissions violation, and the streams and the
// dispatcher's durables are still there afterwards. A denying pre hook
// (a prod freeze) denies 5 of 5 calls while an agent, a publisher, a
// viewer and a deployer each try to answer herald.call.pre.> with an
// allow: their subscriptions are refused.
func TestAuth_AttacksRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.watchFile("w.yaml", authWatch)
	hooks := f.path("hooks")
	if err := os.Mkdir(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, hooks+"/freeze.yaml", `
hooks:
  - {name: prod-freeze, phase: pre, methods: [kill_job], jobs: ["*/*/prod/*"], exec: "echo frozen; exit 1"}
`)
	b := newAuthBus(t, "--hooks", hooks)
	b.startAuthAgent("web-2", f.watches)
	b.publish("deploy.app", "/app/web", "before")

	type attack struct{ what, subj string }
	// What agents, publishers and viewers alike must not do.
	common := []attack{
		{"Publish", "$JS.API.STREAM.PURGE." + events.EventsStream},
		{"Publish", "$JS.API.STREAM.DELETE." + events.OutcomesStream},
		{"Publish", "$JS.API.CONSUMER.DELETE." + events.EventsStream + ".herald-call-hooks"},
		{"Publish", "$JS.API.CONSUMER.DELETE." + events.OutcomesStream + ".herald-handlers"},
		{"Publish", events.OutcomeSubject("web-2", "deploys")},
		{"Publish", events.AgentSubject("web-2")},
		{"Publish", call.AgentHookSubject("web-2")},
		{"Subscription", call.PrePrefix + ".>"},
	}
	for _, who := range []struct {
		name, creds string
		more        []attack
	}{
		{"agent", b.creds("agents", "web-1"), []attack{
			{"Publish", events.EventSubject("deploy.app", "/app/web")},
			{"Publish", events.LivePrefix + ".deploy.app./app./web"},
		}},
		{"publisher", b.creds("publishers", "ci"), []attack{
			{"Publish", events.EventSubject("zk.changed", "/secret/db")},
			{"Publish", events.EventSubject("call.hooks_skipped", "west/www/prod/web")},
			{"Publish", events.EventSubject("git.push", "/app/web")},
			{"Publish", events.EventSubject("deploy.app", "/other")},
			{"Subscription", events.LivePrefix + ".>"},
		}},
		{"viewer", b.creds("viewers", "ops"), []attack{
			{"Publish", events.EventSubject("deploy.app", "/app/web")},
			{"Publish", events.AgentSubject("ops")},
			{"Publish", "$KV.herald_hooks.x"},
		}},
	} {
		t.Run(who.name, func(t *testing.T) {
			nc, v := b.connectAs(t, who.creds)
			for _, a := range append(common, who.more...) {
				if a.what == "Subscription" {
					if _, err := nc.Subscribe(a.subj, func(*nats.Msg) {}); err != nil {
						t.Fatal(err)
					}
				} else if err := nc.PublishRequest(a.subj, nc.NewInbox(), []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
				v.wait(t, a.what, a.subj)
			}
		})
	}

	// Nothing happened: the events are there, the outcomes stream and the
	// durables too, and the dispatcher still answers pre requests alone.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := b.js.Stream(ctx, events.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs == 0 {
		t.Fatalf("events stream: %+v, %v", info, err)
	}
	if _, err := b.js.Consumer(ctx, events.EventsStream, "herald-call-hooks"); err != nil {
		t.Fatalf("the call hooks' durable: %v", err)
	}
	if _, err := b.js.Consumer(ctx, events.OutcomesStream, "herald-handlers"); err != nil {
		t.Fatalf("the handlers' durable: %v", err)
	}
	// Racing the dispatcher with an allow: every identity but the
	// dispatchers' is refused the subscription to herald.call.pre.>, so
	// the prod freeze's deny stays a deny, 5 calls of 5, and COMMAND never
	// runs.
	for _, creds := range []string{b.creds("agents", "web-1"), b.creds("publishers", "ci"), b.creds("viewers", "ops"), b.creds("deployers", "dep")} {
		nc, v := b.connectAs(t, creds)
		if _, err := nc.Subscribe(call.PrePrefix+".>", func(m *nats.Msg) { _ = m.Respond([]byte(`{"allow":true}`)) }); err != nil {
			t.Fatal(err)
		}
		v.wait(t, "Subscription", call.PrePrefix+".>")
	}
	marker := f.path("killed")
	for i := range 5 {
		out, err := b.herald(t, "", "call", "kill_job", "--nats-creds", b.creds("deployers", "dep"), "--job", "west/www/prod/web", "--", "touch", marker)
		if code := exitCode(err); code != 3 || !strings.Contains(err.Error(), "prod-freeze") || !strings.Contains(err.Error(), "frozen") {
			t.Fatalf("call %d: exit %d, want 3 denied by prod-freeze: %v\n%s", i, code, err, out)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("call %d: COMMAND ran although prod-freeze denied", i)
		}
	}
	// The same through a deployer's own request: the dispatcher's verdict,
	// denied.
	dep, _ := b.connectAs(t, b.creds("deployers", "dep"))
	data, _ := json.Marshal(call.Call{Method: "kill_job", Job: "west/www/prod/web", Phase: call.PhasePre})
	m, err := dep.Request(call.PreSubject("kill_job")+".dep", data, wait)
	if err != nil {
		t.Fatalf("pre request: %v", err)
	}
	var verdict call.Verdict
	if err := json.Unmarshal(m.Data, &verdict); err != nil || verdict.Allow || len(verdict.Denied) != 1 || verdict.Denied[0].Hook != "prod-freeze" {
		t.Fatalf("pre request: %s (%v), want denied by prod-freeze", m.Data, err)
	}
	// A deployer asks pre requests only under its own name, and cannot
	// ask skip requests without the right.
	dep2, v2 := b.connectAs(t, b.creds("deployers", "dep"))
	for _, s := range []string{call.PreSubject("kill_job") + ".web-1", call.PreSubject("kill_job"), "herald.call.skip.kill_job.dep"} {
		if err := dep2.PublishRequest(s, dep2.NewInbox(), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		v2.wait(t, "Publish", s)
	}

	// herald publish with the publisher's credentials and a reserved type
	// fails with the server's refusal.
	out, err := b.herald(t, "", "publish", "--timeout", "3s", "--nats-creds", b.creds("publishers", "ci"), "--type", "zk.changed", "--key", "/secret/db", "--data", "x")
	if err == nil || !strings.Contains(err.Error(), "Permissions Violation") {
		t.Fatalf("herald publish of a reserved type: %v\n%s", err, out)
	}
}

// TestAuth_RevokeLive: herald auth revoke disconnects a running agent
// within the deadline, without restarting the dispatcher, and its
// credentials are refused from then on; another agent keeps working.
func TestAuth_RevokeLive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.watchFile("w.yaml", authWatch)
	b := newAuthBus(t)
	outs := b.watchOutcomes()
	web1 := b.startAuthAgent("web-1", f.watches)
	b.startAuthAgent("web-2", f.watches)

	out := runHerald(t, nil, "", "auth", "revoke", "web-1", "--dir", b.dir)
	if !strings.Contains(out, "revoked web-1") {
		t.Errorf("revoke printed %q", out)
	}
	web1.waitLog("nats refused the agent's credentials")
	b.disp.waitLog("auth: account updated")
	_, err := nats.Connect(b.url, nats.UserCredentials(b.creds("agents", "web-1")))
	if !natsconn.IsAuthError(err) {
		t.Fatalf("connect with revoked credentials: %v, want an authorization error", err)
	}
	select {
	case <-b.disp.done:
		t.Fatal("the dispatcher exited")
	default:
	}
	b.publish("deploy.app", "/app/web", "after")
	testutil.Eventually(t, wait, func() error {
		for _, o := range outs.Snapshot() {
			if o.Host == "web-2" && o.Status == events.StatusOK {
				return nil
			}
		}
		return errors.New("web-2 has not run the event published after the revocation")
	})
	if list := runHerald(t, nil, "", "auth", "ls", "--dir", b.dir); !strings.Contains(list, "revoked") {
		t.Errorf("herald auth ls:\n%s", list)
	}
}
