package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/rs/zerolog"
)

// fleetAgents are the fleet's in-process agents.
type fleetAgents struct {
	cfgs   []agent.Config
	mu     sync.Mutex
	agents []*agent.Agent
	logF   *os.File
	log    zerolog.Logger
}

// newFleetAgents prepares n agent configs: names fleet-<first+1>..., one state
// dir each, one shared watches dir with the fleet's watch, the no-op
// action, info logged to up and warnings and errors to one file.
// fleetTuning is what the fleet changes of the agents' defaults (0: the
// default).
type fleetTuning struct{ heartbeat, verify time.Duration }

func newFleetAgents(dir, urls string, first, n int, up *fleetUp, tune fleetTuning) (*fleetAgents, error) {
	watches := filepath.Join(dir, "watches.d")
	if err := os.MkdirAll(watches, 0o755); err != nil {
		return nil, fmt.Errorf("watches dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(watches, "fleet.yaml"), []byte("watches:\n"+watchYAML("fleet", fleetEventType)), 0o644); err != nil {
		return nil, fmt.Errorf("watch file: %w", err)
	}
	logF, err := os.Create(filepath.Join(dir, fmt.Sprintf("agents-%05d.log", first+1)))
	if err != nil {
		return nil, fmt.Errorf("agents log: %w", err)
	}
	f := &fleetAgents{logF: logF, log: zerolog.New(&fleetLog{up: up, f: logF}).Level(zerolog.InfoLevel).With().Timestamp().Logger()}
	noop := func(*watch.Watch) (actions.Action, error) { return noopAction{}, nil }
	for i := range n {
		c := agent.DefaultConfig()
		c.Name = fmt.Sprintf("fleet-%05d", first+i+1)
		c.Watches = watches
		c.State = filepath.Join(dir, "agents", c.Name)
		c.NATS.URL = urls
		c.LogFormat, c.LogLevel = "json", "info"
		c.ActionBuilder = noop
		if tune.heartbeat > 0 {
			c.Heartbeat = tune.heartbeat
		}
		if tune.verify > 0 {
			c.VerifyEvery = tune.verify
		}
		f.cfgs = append(f.cfgs, c)
	}
	return f, nil
}

// start creates and starts every agent, fleetStartParallel at a time.
func (f *fleetAgents) start(ctx context.Context) error {
	sem := make(chan struct{}, fleetStartParallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, c := range f.cfgs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a, err := agent.New(c, f.log)
			if err == nil {
				f.mu.Lock()
				f.agents = append(f.agents, a)
				f.mu.Unlock()
				err = a.Start(ctx)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("agent %s: %w", c.Name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// close closes every agent, fleetStartParallel at a time.
func (f *fleetAgents) close(stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), fleetCloseTimeout)
	defer cancel()
	f.mu.Lock()
	agents := f.agents
	f.agents = nil
	f.mu.Unlock()
	sem := make(chan struct{}, fleetStartParallel)
	var wg sync.WaitGroup
	var failed sync.Map
	for i, a := range agents {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := a.Close(ctx); err != nil {
				failed.Store(i, err)
			}
		}()
	}
	wg.Wait()
	failed.Range(func(_, v any) bool {
		fmt.Fprintf(stderr, "bench: fleet: close agent: %v\n", v)
		return true
	})
	_ = f.logF.Close()
}

// fleetUp records when each fleet agent logged that it consumes events
// (readyLine). Its announcement on herald.agent.<name>, sent at the same
// moment, would not tell that moment apart from a heartbeat's 10 s after
// Start, which a slow start reaches first.
type fleetUp struct {
	// onMark, when set, is told of each agent as it comes up (a worker
	// process reports them to the bench).
	onMark func(host string, at time.Time)

	mu    sync.Mutex
	want  int
	first map[string]time.Time
	lastT time.Time
	done  chan struct{}
}

func newFleetUp(want int) *fleetUp {
	return &fleetUp{want: want, first: map[string]time.Time{}, done: make(chan struct{})}
}

// mark records that host consumes, the first time only.
func (u *fleetUp) mark(host string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.first[host]; ok {
		return
	}
	u.first[host] = at
	u.lastT = at
	if u.onMark != nil {
		u.onMark(host, at)
	}
	if len(u.first) == u.want {
		close(u.done)
	}
}

// fleetLog is the fleet agents' log: it marks each agent's readyLine on
// up and writes warnings and errors to a file, not to the bench's output.
type fleetLog struct {
	up *fleetUp
	mu sync.Mutex
	f  io.Writer
}

func (l *fleetLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"message":"`+readyLine+`"`)) {
		if host, ok := jsonString(p, `"host":"`); ok {
			l.up.mark(host, time.Now())
		}
	}
	if bytes.Contains(p, []byte(`"level":"warn"`)) || bytes.Contains(p, []byte(`"level":"error"`)) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.f.Write(p)
	}
	return len(p), nil
}

func (u *fleetUp) wait(ctx context.Context, within time.Duration) error {
	select {
	case <-u.done:
		return nil
	case <-time.After(within):
		return fmt.Errorf("%d of %d agents consuming within %v", u.count(), u.want, within)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (u *fleetUp) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.first)
}

// last is when the latest agent came up.
func (u *fleetUp) last() time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastT
}
