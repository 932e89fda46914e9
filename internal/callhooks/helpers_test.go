package callhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/callhooks"
	"github.com/heraldhq/herald/internal/source"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

const wait = 10 * time.Second

// writeFile writes dir/name atomically (rename), making parent dirs.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	return testutil.WriteFile(t, dir, name, content)
}

// script writes an executable /bin/sh script and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// env is a running engine on a real NATS server with Herald's streams.
type env struct {
	t   *testing.T
	eng *callhooks.Engine
	nc  *nats.Conn
	js  jetstream.JetStream
	log *testutil.SyncBuffer
	dir string
}

// startEngine runs an engine over dir on a fresh NATS server.
func startEngine(t *testing.T, cfg callhooks.Config, sink callhooks.HandlerSink) *env {
	t.Helper()
	nc, js := testutil.ConnectStreams(t, testutil.RunNATS(t))
	return runEngine(t, nc, js, cfg, sink)
}

func runEngine(t *testing.T, nc *nats.Conn, js jetstream.JetStream, cfg callhooks.Config, sink callhooks.HandlerSink) *env {
	t.Helper()
	if cfg.Host == "" {
		cfg.Host = "disp-1"
	}
	if cfg.ReloadDelay == 0 {
		cfg.ReloadDelay = 20 * time.Millisecond
	}
	eng, err := callhooks.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sink != nil {
		eng.SetHandlerSink(sink)
	}
	logBuf := &testutil.SyncBuffer{}
	log := zerolog.New(logBuf).With().Timestamp().Logger()
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(rctx, source.Env{Pub: testutil.Publisher{JS: js}, JS: js, Log: log}) }()
	t.Cleanup(func() {
		rcancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
		if t.Failed() {
			t.Logf("engine log:\n%s", logBuf.String())
		}
	})
	select {
	case <-eng.Ready():
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(wait):
		t.Fatal("engine not ready")
	}
	return &env{t: t, eng: eng, nc: nc, js: js, log: logBuf, dir: cfg.Dir}
}

// pre sends a call.pre request as herald call does.
func (e *env) pre(c call.Call) call.Verdict {
	e.t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := e.nc.Request(call.PreSubject(c.Method), data, 2*wait)
	if err != nil {
		e.t.Fatalf("call.pre request: %v", err)
	}
	var v call.Verdict
	if err := json.Unmarshal(m.Data, &v); err != nil {
		e.t.Fatalf("verdict %s: %v", m.Data, err)
	}
	return v
}

// report publishes call.post or call.err as herald call does.
func (e *env) report(c call.Call) events.Event {
	e.t.Helper()
	ev, err := call.ResultEvent("herald://cli/test", c)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := bus.PublishEvent(ctx, e.js, ev); err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// storedEvents returns every stored event of typ.
func (e *env) storedEvents(typ string) []events.Event {
	e.t.Helper()
	return testutil.StoredEvents(e.t, e.js, wait, events.EventPrefix+"."+typ+".>")
}

// outcomes collects every outcome published from now on.
type outcomes struct{ *testutil.Outcomes }

func (e *env) watchOutcomes() *outcomes {
	e.t.Helper()
	return &outcomes{testutil.CollectOutcomes(e.t, e.nc)}
}

// waitFor polls until n outcomes are there and returns them by watch.
func (o *outcomes) waitFor(t *testing.T, n int) map[string]events.Outcome {
	t.Helper()
	var got []events.Outcome
	testutil.Eventually(t, wait, func() error {
		got = o.Snapshot()
		if len(got) < n {
			return fmt.Errorf("%d outcomes, want %d", len(got), n)
		}
		return nil
	})
	byWatch := map[string]events.Outcome{}
	for _, x := range got {
		byWatch[x.Watch] = x
	}
	return byWatch
}

func newCall(method, job string) call.Call {
	return call.Call{Method: method, Job: job, User: "alice", Host: "laptop"}
}

func hookNames(vs []call.HookVerdict) string {
	var s []string
	for _, v := range vs {
		n := v.Hook
		if v.Agent != "" {
			n += "@" + v.Agent
		}
		s = append(s, n)
	}
	return strings.Join(s, ",")
}
