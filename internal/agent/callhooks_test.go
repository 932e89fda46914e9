package agent_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/agent/localhooks"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats.go"
)

// callHookAgent starts an agent that accepts hooks, with hooks as its
// call_hooks: (name → exec argv) and max running at once (0: the default).
func (b *rig) callHookAgent(name string, hooks map[string][]string, max int) {
	b.t.Helper()
	set := localhooks.Set{}
	for n, argv := range hooks {
		set[n] = &localhooks.Hook{Name: n, Exec: watch.Command{Argv: argv}, Env: map[string]string{"DIR": b.dir}}
	}
	b.startAgent(name, nil, func(c *agent.Config) {
		c.AcceptHooks, c.CallHooks = true, set
		if max > 0 {
			c.MaxCallHooks = max
		}
	})
}

// hookRequest sends a raw request body to agent and returns its reply.
func (b *rig) hookRequest(agent, body string) call.AgentReply {
	b.t.Helper()
	m, err := b.nc.Request(call.AgentHookSubject(agent), []byte(body), wait)
	if err != nil {
		b.t.Fatalf("hook request: %v", err)
	}
	var rep call.AgentReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		b.t.Fatal(err)
	}
	return rep
}

const testCall = `"call": {"id": "c1", "method": "create_job", "job": "w/www/prod/web", "phase": "pre", "user": "alice"}`

// TestCallHooks_OnlyLocalHooks: a request names a hook; the agent runs its
// own call_hooks: entry of that name (with its own env), refuses a name it
// does not define, and never runs an argv or env a request carries (issue
// 10: publishing {"hook":"x","argv":["/bin/sh","-c","id"]} ran id as
// root).
func TestCallHooks_OnlyLocalHooks(t *testing.T) {
	t.Parallel()
	b := newRig(t)
	check := b.script("check.sh", `cat > "$DIR/stdin"; echo "$HERALD_PHASE $HERALD_JOB DIR=$DIR" > "$DIR/ran"; echo looks good`)
	b.callHookAgent("web-1", map[string][]string{"drain-check": {check}}, 0)

	rep := b.hookRequest("web-1", `{"hook": "drain-check", "phase": "pre", "timeout_ms": 20000, `+testCall+`}`)
	if rep.Status != "ok" || strings.TrimSpace(rep.Stdout) != "looks good" || rep.Agent != "web-1" {
		t.Fatalf("reply %+v", rep)
	}
	if got := b.readLines("ran"); len(got) != 1 || got[0] != "pre w/www/prod/web DIR="+b.dir {
		t.Fatalf("the local hook saw %q", got)
	}
	var c call.Call
	if err := json.Unmarshal([]byte(strings.Join(b.readLines("stdin"), "\n")), &c); err != nil || c.ID != "c1" || c.User != "alice" {
		t.Fatalf("stdin call %+v, %v", c, err)
	}

	pwned := b.path("pwned")
	for _, tc := range []struct{ name, body, want string }{
		{"unknown hook with argv", `{"hook": "x", "phase": "pre", "timeout_ms": 20000, "argv": ["/bin/sh", "-c", "touch ` + pwned + `"], ` + testCall + `}`,
			"agent web-1 refuses a hook request that carries a command (argv or env)"},
		{"known hook with argv", `{"hook": "drain-check", "phase": "pre", "timeout_ms": 20000, "argv": ["/bin/sh", "-c", "touch ` + pwned + `"], ` + testCall + `}`,
			"refuses a hook request that carries a command"},
		{"known hook with env", `{"hook": "drain-check", "phase": "pre", "timeout_ms": 20000, "env": {"DIR": "/tmp"}, ` + testCall + `}`,
			"refuses a hook request that carries a command"},
		{"unknown hook", `{"hook": "rm-rf", "phase": "pre", "timeout_ms": 20000, ` + testCall + `}`,
			`agent web-1: no such call hook "rm-rf" (define it under call_hooks: in the agent's config)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.Remove(b.path("ran")); err != nil {
				t.Fatal(err)
			}
			rep := b.hookRequest("web-1", tc.body)
			if rep.Status != call.StatusRefused || !strings.Contains(rep.Error, tc.want) {
				t.Fatalf("reply %+v, want refused: %q", rep, tc.want)
			}
			if _, err := os.Stat(pwned); err == nil {
				t.Fatal("the request's argv ran")
			}
			if _, err := os.Stat(b.path("ran")); err == nil {
				t.Fatal("a refused request ran the local hook")
			}
			// Put it back for the next case's check.
			if err := os.WriteFile(b.path("ran"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCallHooks_Capped: 300 requests at once start at most max_call_hooks
// (default 8) hook processes at a time, counted by the hooks themselves;
// the others wait for a slot and every one is answered.
func TestCallHooks_Capped(t *testing.T) {
	t.Parallel()
	b := newRig(t)
	if err := os.Mkdir(b.path("running"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Each run marks itself running, records how many it sees running,
	// and holds its slot until the release file exists.
	hold := b.script("hold.sh", `touch "$DIR/running/$$"
ls "$DIR/running" | wc -l >> "$DIR/counts"
while [ ! -e "$DIR/release" ]; do sleep 0.02; done
rm "$DIR/running/$$"`)
	b.callHookAgent("web-1", map[string][]string{"hold": {hold}}, 0)

	const n = 300
	replies := make(chan *nats.Msg, n)
	inbox := nats.NewInbox()
	sub, err := b.nc.ChanSubscribe(inbox, replies)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	for i := range n {
		body := `{"hook": "hold", "phase": "pre", "timeout_ms": 300000, "call": {"id": "c` + strconv.Itoa(i) + `", "method": "restart", "job": "a/b/c/d", "phase": "pre"}}`
		if err := b.nc.PublishRequest(call.AgentHookSubject("web-1"), inbox, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	running := func() int {
		ents, err := os.ReadDir(b.path("running"))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	testutil.Eventually(t, wait, func() error {
		if got := running(); got != localhooks.DefaultMaxRunning {
			return fmt.Errorf("%d hooks running, want %d", got, localhooks.DefaultMaxRunning)
		}
		return nil
	})
	if err := os.WriteFile(b.path("release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * wait)
	for got := 0; got < n; got++ {
		select {
		case m := <-replies:
			var rep call.AgentReply
			if err := json.Unmarshal(m.Data, &rep); err != nil || rep.Status != "ok" {
				t.Fatalf("reply %d: %s (%v)", got, m.Data, err)
			}
		case <-deadline:
			t.Fatalf("%d of %d requests answered", got, n)
		}
	}
	counts := b.readLines("counts")
	if len(counts) != n {
		t.Fatalf("%d hook runs recorded, want %d", len(counts), n)
	}
	most := 0
	for _, c := range counts {
		v, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil {
			t.Fatal(err)
		}
		most = max(most, v)
	}
	if most > localhooks.DefaultMaxRunning {
		t.Fatalf("%d hooks ran at once, the cap is %d", most, localhooks.DefaultMaxRunning)
	}
}

// TestCallHooks_SlotTimeout: a request that finds no free slot before its
// timeout is answered with status error saying so, and never runs.
func TestCallHooks_SlotTimeout(t *testing.T) {
	t.Parallel()
	b := newRig(t)
	hold := b.script("hold.sh", `echo "$HERALD_CALL_ID" >> "$DIR/started"
while [ ! -e "$DIR/release" ]; do sleep 0.02; done`)
	b.callHookAgent("web-1", map[string][]string{"hold": {hold}}, 1)

	first := make(chan call.AgentReply, 1)
	go func() {
		m, err := b.nc.Request(call.AgentHookSubject("web-1"), []byte(`{"hook": "hold", "phase": "pre", "timeout_ms": 120000, "call": {"id": "first", "method": "restart", "job": "a/b/c/d", "phase": "pre"}}`), 5*wait)
		var rep call.AgentReply
		if err == nil {
			err = json.Unmarshal(m.Data, &rep)
		}
		if err != nil {
			rep.Error = err.Error()
		}
		first <- rep
	}()
	testutil.Eventually(t, wait, func() error {
		if len(b.readLines("started")) != 1 {
			return fmt.Errorf("the first hook has not started")
		}
		return nil
	})
	rep := b.hookRequest("web-1", `{"hook": "hold", "phase": "pre", "timeout_ms": 500, "call": {"id": "second", "method": "restart", "job": "a/b/c/d", "phase": "pre"}}`)
	if rep.Status != "error" || !strings.Contains(rep.Error, "no free call hook slot") || !strings.Contains(rep.Error, "max_call_hooks 1") {
		t.Fatalf("reply %+v, want error: no free call hook slot", rep)
	}
	if err := os.WriteFile(b.path("release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if rep := <-first; rep.Status != "ok" {
		t.Fatalf("first reply %+v", rep)
	}
	if got := b.readLines("started"); len(got) != 1 || got[0] != "first" {
		t.Fatalf("hooks started: %q", got)
	}
}
