package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const wait = 20 * time.Second

// rig is a real NATS server with Herald's streams, a client and a
// directory for scripts and their output.
type rig struct {
	t   *testing.T
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	out *testutil.Outcomes
	dir string
	// user and password, when set, are what the agents present.
	user, password string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := testutil.RunNATS(t)
	nc, js := testutil.ConnectStreams(t, srv)
	return &rig{t: t, srv: srv, nc: nc, js: js, out: testutil.CollectOutcomes(t, nc), dir: t.TempDir()}
}

// script writes an executable /bin/sh script into the rig directory.
func (b *rig) script(name, body string) string {
	b.t.Helper()
	p := filepath.Join(b.dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		b.t.Fatal(err)
	}
	return p
}

func (b *rig) path(name string) string { return filepath.Join(b.dir, name) }

// publish stores one event and returns it.
func (b *rig) publish(typ, key, data string) events.Event {
	b.t.Helper()
	e := events.New("test", typ, key, []byte(data))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := bus.PublishEvent(ctx, b.js, e); err != nil {
		b.t.Fatal(err)
	}
	return e
}

// outcomes returns the outcomes of watch collected so far.
func (b *rig) outcomes(watch string) []events.Outcome {
	var out []events.Outcome
	for _, o := range b.out.Snapshot() {
		if o.Watch == watch {
			out = append(out, o)
		}
	}
	return out
}

// waitOutcomes waits until watch has at least n outcomes and returns them.
func (b *rig) waitOutcomes(watch string, n int) []events.Outcome {
	b.t.Helper()
	var got []events.Outcome
	testutil.Eventually(b.t, wait, func() error {
		if got = b.outcomes(watch); len(got) < n {
			return fmt.Errorf("watch %s: %d outcomes, want %d", watch, len(got), n)
		}
		return nil
	})
	return got
}

// runningAgent is an agent started in-process with its own watches dir
// and a JSON log.
type runningAgent struct {
	*agent.Agent
	watches string
	log     *testutil.SyncBuffer
}

// startAgent starts an agent named name on the rig's server, with the
// given watch files (name → content; %DIR% is the rig dir) already in
// place, and waits until it consumes events. Each of with changes the
// config before the agent starts.
func (b *rig) startAgent(name string, files map[string]string, with ...func(*agent.Config)) *runningAgent {
	b.t.Helper()
	ra := &runningAgent{watches: filepath.Join(b.t.TempDir(), "watches.d"), log: &testutil.SyncBuffer{}}
	if err := os.Mkdir(ra.watches, 0o755); err != nil {
		b.t.Fatal(err)
	}
	for n, body := range files {
		b.writeWatch(ra, n, body)
	}
	cfg := agent.DefaultConfig()
	cfg.Name, cfg.Watches, cfg.State = name, ra.watches, b.t.TempDir()
	cfg.NATS = natsconn.Config{URL: b.srv.ClientURL(), User: b.user, Password: b.password}
	for _, f := range with {
		f(&cfg)
	}
	log, err := logging.New(ra.log, "json", "debug")
	if err != nil {
		b.t.Fatal(err)
	}
	a, err := agent.New(cfg, log)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		b.t.Fatal(err)
	}
	ra.Agent = a
	b.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			b.t.Errorf("close agent: %v", err)
		}
		if b.t.Failed() {
			b.t.Logf("--- agent %s log:\n%s", name, ra.log.String())
		}
	})
	ra.waitLog(b.t, "agent consuming events")
	return ra
}

// writeWatch writes a watch file atomically (rename) into the agent's
// watches dir; name may contain subdirectories.
func (b *rig) writeWatch(ra *runningAgent, name, body string) string {
	b.t.Helper()
	p := filepath.Join(ra.watches, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp")
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(body, "%DIR%", b.dir)), 0o644); err != nil {
		b.t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		b.t.Fatal(err)
	}
	return p
}

// waitLog polls the agent's log for s.
func (ra *runningAgent) waitLog(t *testing.T, s string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		if strings.Contains(ra.log.String(), s) {
			return nil
		}
		return fmt.Errorf("agent has not logged %q", s)
	})
}

// readLines returns the lines of a file in the rig dir (none if absent).
func (b *rig) readLines(name string) []string {
	b.t.Helper()
	data, err := os.ReadFile(b.path(name))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		b.t.Fatal(err)
	}
	s := strings.TrimRight(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// fmtWatch fills the %s of a watch file template with name.
func fmtWatch(tmpl, name string) string { return strings.ReplaceAll(tmpl, "%s", name) }
