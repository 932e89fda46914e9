package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// secret is in every env: value of the test's files; it must never reach
// the bus, a log or an error, not even its start (yaml.v3 shortens the
// values it quotes to their first characters).
const (
	secret      = "s3cret-value"
	secretProbe = "s3cret"
)

// tap records every message published on the server from now on.
type tap struct {
	mu   sync.Mutex
	msgs []string
}

func (c *cluster) tapAll(t *testing.T) *tap {
	t.Helper()
	tp := &tap{}
	sub, err := c.nc.Subscribe(">", func(m *nats.Msg) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s %v %s", m.Subject, m.Reply, m.Header, m.Data)
		tp.mu.Lock()
		tp.msgs = append(tp.msgs, b.String())
		tp.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return tp
}

// leaks returns the tapped messages that hold s.
func (tp *tap) leaks(s string) []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	var out []string
	for _, m := range tp.msgs {
		if strings.Contains(m, s) {
			out = append(out, m)
		}
	}
	return out
}

// storedLeaks reads every message of every stream (the events, outcomes,
// announcements and the KV buckets, herald_hooks among them) and returns
// those that hold s.
func (c *cluster) storedLeaks(t *testing.T, s string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var out []string
	names := c.js.StreamNames(ctx)
	for name := range names.Name() {
		st, err := c.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if text := fmt.Sprintf("%s %v %s", m.Subject, m.Header, m.Data); strings.Contains(text, s) {
				out = append(out, name+": "+text)
			}
		}
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWire_NoEnvValues: env: values of hooks, handlers, watches and the
// agents' call_hooks never travel on the bus (every message published and
// every message stored, the herald_hooks status record with its broken
// files among them, call requests and verdicts, outcomes, announcements),
// nor appear in the daemons' logs, though the runs get them (issue 10).
func TestWire_NoEnvValues(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hooksDir := f.path("hooks")
	if err := os.Mkdir(hooksDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.script("got-env.sh", `[ "$TOKEN" = "`+secret+`" ] && echo "$1" >> "$DIR/got-env"`)
	writeFile(t, filepath.Join(hooksDir, "hooks.yaml"), strings.ReplaceAll(`
hooks:
  - {name: gate, phase: pre, methods: ["*"], exec: ["%DIR%/got-env.sh", gate], env: {TOKEN: "`+secret+`", DIR: "%DIR%"}}
  - {name: after, phase: post, methods: ["*"], exec: ["%DIR%/got-env.sh", after], env: {TOKEN: "`+secret+`", DIR: "%DIR%"}}
  - {name: on-agents, phase: pre, methods: ["*"], run: {agents: [web-1]}}
handlers:
  - {name: page, match: {watch: pull}, exec: ["%DIR%/got-env.sh", handler], env: {TOKEN: "`+secret+`", DIR: "%DIR%"}}
`, "%DIR%", f.dir))
	// A broken hook file: its error lands in the herald_hooks status record.
	writeFile(t, filepath.Join(hooksDir, "broken.yaml"), `
hooks:
  - {name: b, phase: pre, methods: ["*"], exec: "true", env: "`+secret+`"}
`)
	agentConf := f.path("agent.yaml")
	writeFile(t, agentConf, strings.ReplaceAll(`
call_hooks:
  on-agents: {exec: ["%DIR%/got-env.sh", agent-hook], env: {TOKEN: "`+secret+`", DIR: "%DIR%"}}
`, "%DIR%", f.dir))
	writeFile(t, filepath.Join(f.watches, "pull.yaml"), strings.ReplaceAll(`
watches:
  - {name: pull, on: "event:deploy", exec: ["%DIR%/got-env.sh", watch], env: {TOKEN: "`+secret+`", DIR: "%DIR%"}}
`, "%DIR%", f.dir))
	writeFile(t, filepath.Join(f.watches, "broken.yaml"), `
watches:
  - {name: bad, on: "event:deploy", exec: "true", env: "`+secret+`"}
`)

	c := startDispatcher(t, t.TempDir(), "127.0.0.1:0", "--hooks", hooksDir)
	tp := c.tapAll(t)
	agent := c.startAgent(agentOpts{name: "web-1", watches: f.watches, extra: []string{"--config", agentConf, "--accept-hooks"}})
	testutil.Eventually(t, wait, func() error {
		if v := c.preVerdict(t, "restart", "a/b/c/d"); len(v.Hooks) != 2 || !v.Allow {
			return fmt.Errorf("the dispatcher does not see web-1 yet: %+v", v)
		}
		return nil
	})
	if out, err := c.herald(t, "", "call", "create_job", "--job", "a/b/prod/web", "--", "true"); err != nil {
		t.Fatalf("call: %v\n%s", err, out)
	}
	c.publish("deploy", "web", "v2")
	testutil.Eventually(t, wait, func() error {
		got := strings.Join(readLines(t, f.path("got-env")), " ")
		for _, want := range []string{"gate", "agent-hook", "after", "watch", "handler"} {
			if !strings.Contains(got, want) {
				return fmt.Errorf("runs that got their env: %q, want %s too", got, want)
			}
		}
		return nil
	})
	// The handler's own outcome is the last thing published.
	testutil.Eventually(t, wait, func() error {
		for _, o := range testutil.StoredOutcomes(t, c.js, wait) {
			if o.Outcome.Watch == "handler:page" {
				return nil
			}
		}
		return errors.New("no outcome of the handler yet")
	})
	if got := tp.leaks(secretProbe); len(got) > 0 {
		t.Fatalf("env values on the bus:\n%s", strings.Join(got, "\n"))
	}
	if got := c.storedLeaks(t, secretProbe); len(got) > 0 {
		t.Fatalf("env values stored:\n%s", strings.Join(got, "\n"))
	}
	for name, out := range map[string]string{"dispatcher": c.disp.out.String(), "agent": agent.out.String()} {
		if strings.Contains(out, secretProbe) {
			t.Fatalf("an env value in the %s's log:\n%s", name, out)
		}
	}
}
