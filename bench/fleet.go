package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/agent"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

const (
	// fleetEventType is what the fleet's one watch is on.
	fleetEventType = "bench.fleet"
	fleetKey       = "/bench/fleet"
	// fleetStartParallel agents start at a time.
	fleetStartParallel = 64
	// fleetEventTimeout bounds one event: publish until every agent
	// decided it.
	fleetEventTimeout = 30 * time.Second
	// fleetSlowEvent: an event that takes longer is reported on stderr
	// with its ack time.
	fleetSlowEvent = 5 * time.Second
	// fleetUpTimeout bounds waiting for every agent to consume.
	fleetUpTimeout = 10 * time.Minute
	// stormTimeout bounds the storm: from the kill until every agent
	// decided the event published during the restart.
	stormTimeout = 5 * time.Minute
	// fleetCloseTimeout bounds closing all agents.
	fleetCloseTimeout = 5 * time.Minute
	// fdsPerAgent is about what one in-process agent holds open (its NATS
	// connection, state lock, run journal, inotify); fdsBase the rest.
	fdsPerAgent = 6
	fdsBase     = 4096
	// maxFleetAgents is the most -agents takes: the fleet of
	// 100,000 hosts.
	maxFleetAgents = 100000
)

// Targets of issue 9 for the fleet (N = 10,000 on this machine).
var (
	targetFleetP50   = &target{op: "<=", value: 2000, unit: "ms"}
	targetFleetP99   = &target{op: "<=", value: 5000, unit: "ms"}
	targetFleetRSS   = &target{op: "<=", value: 3000, unit: "MB"}
	targetStormSecs  = &target{op: "<=", value: 60, unit: "s"}
	targetFleetRatio = &target{op: "<=", value: 1.2, unit: "x"}
)

// noopAction is the fleet's action kind: it exists only in the bench and
// returns ok at once, so that the fleet measures the bus and the agent's
// run modes, acks and outcomes, not fork and exec.
type noopAction struct{}

var _ actions.Action = noopAction{}

func (noopAction) Run(_ context.Context, _ actions.Request) actions.Result {
	now := time.Now()
	code := 0
	return actions.Result{Status: events.StatusOK, ExitCode: &code, Start: now, Started: now}
}

func (noopAction) Kind() string { return "bench-noop" }

// fleet runs cfg.Agents real agents in this process against one NATS
// server or, with cfg.Cluster, a 3-node cluster with R3 streams, publishes
// cfg.Events events one at a time and measures how long each takes to be
// decided by every agent; with cfg.Cluster, then the storm.
func fleet(ctx context.Context, r *benchRun, cfg Config) ([]result, error) {
	n := cfg.Agents
	if err := raiseNoFile(uint64(fdsBase + fdsPerAgent*n)); err != nil {
		return nil, err
	}
	servers, err := startNATS(ctx, filepath.Join(r.dir, "nats"), cfg.Cluster, r.h.stderr)
	if err != nil {
		return nil, err
	}
	defer stopNATS(servers, r.h.stderr)
	urls := natsURLs(servers)
	nc, err := nats.Connect(urls, nats.Name("herald-bench"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", urls, err)
	}
	r.nc, r.url = nc, urls
	if r.js, err = jetstream.New(nc); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := ensureStreams(ctx, r.js, len(servers)); err != nil {
		return nil, err
	}
	up := newFleetUp(n)
	tally := newFleetTally()
	if err := tally.subscribe(nc); err != nil {
		return nil, err
	}

	f, err := newFleetAgents(r.dir, urls, n, up)
	if err != nil {
		return nil, err
	}
	defer f.close(r.h.stderr)
	started := time.Now()
	if err := f.start(ctx); err != nil {
		return nil, err
	}
	upErr := up.wait(ctx, fleetUpTimeout)
	upS := math.NaN()
	if up.count() > 0 {
		upS = up.last().Sub(started).Seconds()
	}
	if upErr != nil {
		fmt.Fprintf(r.h.stderr, "bench: fleet: %v; measuring with the agents that are up\n", upErr)
	}

	var lat []float64
	var ids []string
	for i := range cfg.Events {
		e := events.New("bench", fleetEventType, fleetKey, nil)
		ev := tally.expect(e.ID)
		ids = append(ids, e.ID)
		acked, d, err := publishDecided(ctx, r.js, e, ev, n, fleetEventTimeout)
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		if err != nil {
			fmt.Fprintf(r.h.stderr, "bench: fleet: event %d: %v\n", i+1, err)
		} else if d > fleetSlowEvent {
			fmt.Fprintf(r.h.stderr, "bench: fleet: event %d: acked after %v, decided by every agent after %v\n", i+1, acked.Round(time.Millisecond), d.Round(time.Millisecond))
		}
		lat = append(lat, ms(d))
	}
	rss, err := serversRSSMB(servers)
	if err != nil {
		return nil, err
	}
	self, err := rssKiB(os.Getpid())
	if err != nil {
		return nil, err
	}
	s := summarize(lat)
	decided := tally.decidedAll(ids)
	r.printf("fleet agents=%d cluster=%d up_s=%.1f decided=%d p50_ms=%.0f p99_ms=%.0f server_rss_mb=%.0f\n",
		n, b2i(cfg.Cluster), upS, decided, s.p50, s.p99, rss)
	sc := scFleet
	res := []result{
		num(sc, "agents", float64(n), "", nil),
		num(sc, "NATS servers", float64(len(servers)), "", nil),
		num(sc, "agents that logged "+readyLine, float64(up.count()), "", &target{op: ">=", value: float64(n), unit: "agents"}),
		num(sc, "start→every agent consuming", upS, "s", nil),
		num(sc, "agents that decided every event", float64(decided), "", &target{op: ">=", value: float64(n), unit: "agents"}),
		num(sc, "publish→last agent's outcome p50", s.p50, "ms", targetFleetP50),
		num(sc, "publish→last agent's outcome p99", s.p99, "ms", targetFleetP99),
		num(sc, "events", float64(len(lat)), "", nil),
		num(sc, "NATS servers RSS after the events", rss, "MB", targetFleetRSS),
		num(sc, "bench process RSS (the agents)", float64(self)*1024/1e6, "MB", nil),
		num(sc, "outcomes not ok or twice", float64(tally.bad()), "", &target{op: "<=", value: 0, unit: ""}),
	}
	if !cfg.Cluster {
		return res, nil
	}
	st, err := storm(ctx, r, servers, n)
	if err != nil {
		err = fmt.Errorf("storm: %w", err)
	}
	return append(res, st...), err
}

// publishDecided publishes e, retrying until JetStream acks it, and waits
// until n agents decided it. It returns the times from the first publish
// attempt to the ack and to the last agent's outcome (the timeout, with an
// error, if not every agent decided it in time).
func publishDecided(ctx context.Context, js jetstream.JetStream, e events.Event, ev *fleetEvent, n int, timeout time.Duration) (acked, decided time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	at := time.Now()
	if err := publishAcked(ctx, js, e); err != nil {
		return timeout, timeout, err
	}
	acked = time.Since(at)
	select {
	case <-ev.all(n):
		return acked, ev.lastAt().Sub(at), nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return acked, timeout, ctx.Err()
		}
		return acked, timeout, fmt.Errorf("%d of %d agents decided event %s within %v", ev.count(), n, e.ID, timeout)
	}
}

// publishAcked publishes e until JetStream acks it or ctx ends; the same
// event id makes a retry after a lost ack a duplicate the stream drops.
func publishAcked(ctx context.Context, js jetstream.JetStream, e events.Event) error {
	var last error
	err := poll(ctx, time.Until(deadlineOf(ctx)), func() (bool, error) {
		actx, cancel := context.WithTimeout(ctx, streamAttempt)
		defer cancel()
		_, last = bus.PublishEvent(actx, js, e)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("publish %s: %w (last: %w)", e.ID, err, last)
	}
	return nil
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(fleetEventTimeout)
}

// storm restarts the node leading the events stream (SIGTERM, then the
// same ports and store again), publishes one event during the restart and
// measures from the kill until every agent decided it. The bench watches
// from a connection to a node that stays up.
func storm(ctx context.Context, r *benchRun, servers []*natsProc, n int) ([]result, error) {
	victim := servers[0]
	if info, err := r.js.Stream(ctx, events.EventsStream); err == nil && info.CachedInfo().Cluster != nil {
		for _, s := range servers {
			if s.name == info.CachedInfo().Cluster.Leader {
				victim = s
			}
		}
	}
	var survivor *natsProc
	for _, s := range servers {
		if s != victim {
			survivor = s
			break
		}
	}
	nc, err := nats.Connect(survivor.url(), nats.Name("herald-bench-storm"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", survivor.url(), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	tally := newFleetTally()
	if err := tally.subscribe(nc); err != nil {
		return nil, err
	}
	e := events.New("bench", fleetEventType, fleetKey, nil)
	ev := tally.expect(e.ID)

	fmt.Fprintf(r.h.stderr, "bench: storm: restarting %s (leads %s)\n", victim.name, events.EventsStream)
	killed := time.Now()
	victim.stop(r.h.stderr)
	restarted := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		restarted <- victim.start(ctx)
	}()
	defer wg.Wait()

	sctx, cancel := context.WithTimeout(ctx, stormTimeout)
	defer cancel()
	if err := publishAcked(sctx, js, e); err != nil {
		return nil, err
	}
	var waitErr error
	select {
	case <-ev.all(n):
	case <-sctx.Done():
		waitErr = fmt.Errorf("%d of %d agents decided the storm's event within %v: %w", ev.count(), n, stormTimeout, sctx.Err())
	}
	if err := <-restarted; err != nil {
		return nil, fmt.Errorf("restart %s: %w", victim.name, err)
	}
	recovered := ev.lastAt().Sub(killed).Seconds()
	if waitErr != nil {
		recovered = math.NaN()
		fmt.Fprintln(r.h.stderr, "bench: storm:", waitErr)
	}
	r.printf("storm agents=%d recovered_s=%.1f decided=%d\n", n, recovered, ev.count())
	return []result{
		num(scStorm, "kill→every agent decided the event published during the restart", recovered, "s", targetStormSecs),
		num(scStorm, "agents that decided it", float64(ev.count()), "", &target{op: ">=", value: float64(n), unit: "agents"}),
	}, waitErr
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// printf prints a scenario's summary line to the bench's stdout.
func (r *benchRun) printf(format string, args ...any) {
	if r.h.stdout != nil {
		fmt.Fprintf(r.h.stdout, format, args...)
	}
}

// fleetAgents are the fleet's in-process agents.
type fleetAgents struct {
	cfgs   []agent.Config
	mu     sync.Mutex
	agents []*agent.Agent
	logF   *os.File
	log    zerolog.Logger
}

// newFleetAgents prepares n agent configs: names fleet-00001..., one state
// dir each, one shared watches dir with the fleet's watch, the no-op
// action, info logged to up and warnings and errors to one file.
func newFleetAgents(dir, urls string, n int, up *fleetUp) (*fleetAgents, error) {
	watches := filepath.Join(dir, "watches.d")
	if err := os.MkdirAll(watches, 0o755); err != nil {
		return nil, fmt.Errorf("watches dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(watches, "fleet.yaml"), []byte("watches:\n"+watchYAML("fleet", fleetEventType)), 0o644); err != nil {
		return nil, fmt.Errorf("watch file: %w", err)
	}
	logF, err := os.Create(filepath.Join(dir, "agents.log"))
	if err != nil {
		return nil, fmt.Errorf("agents log: %w", err)
	}
	f := &fleetAgents{logF: logF, log: zerolog.New(&fleetLog{up: up, f: logF}).Level(zerolog.InfoLevel).With().Timestamp().Logger()}
	noop := func(*watch.Watch) (actions.Action, error) { return noopAction{}, nil }
	for i := range n {
		c := agent.DefaultConfig()
		c.Name = fmt.Sprintf("fleet-%05d", i+1)
		c.Watches = watches
		c.State = filepath.Join(dir, "agents", c.Name)
		c.NATS.URL = urls
		c.LogFormat, c.LogLevel = "json", "info"
		c.ActionBuilder = noop
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

// fleetTally collects the fleet's outcomes by event and host.
type fleetTally struct {
	mu      sync.Mutex
	events  map[string]*fleetEvent
	notOK   int
	twice   int
	perHost map[string]int // events decided, by host
}

// fleetEvent is one published event's outcomes.
type fleetEvent struct {
	mu     sync.Mutex
	hosts  map[string]bool
	last   time.Time
	wantN  int
	allCh  chan struct{}
	closed bool
}

func newFleetTally() *fleetTally {
	return &fleetTally{events: map[string]*fleetEvent{}, perHost: map[string]int{}}
}

// expect registers an event before it is published.
func (t *fleetTally) expect(id string) *fleetEvent {
	ev := &fleetEvent{hosts: map[string]bool{}, allCh: make(chan struct{})}
	t.mu.Lock()
	t.events[id] = ev
	t.mu.Unlock()
	return ev
}

// subscribe counts every outcome from now on. It reads event_id, host and
// status without encoding/json when it can (see jsonString).
func (t *fleetTally) subscribe(nc *nats.Conn) error {
	return subscribeAll(nc, events.OutcomePrefix+".>", func(m *nats.Msg, at time.Time) {
		id, ok1 := jsonString(m.Data, `"event_id":"`)
		host, ok2 := jsonString(m.Data, `"host":"`)
		st, ok3 := jsonString(m.Data, `"status":"`)
		if !ok1 || !ok2 || !ok3 {
			var o events.Outcome
			if err := json.Unmarshal(m.Data, &o); err != nil {
				return
			}
			id, host, st = o.EventID, o.Host, string(o.Status)
		}
		t.mu.Lock()
		ev := t.events[id]
		ok := st == string(events.StatusOK)
		if ev != nil && !ok {
			t.notOK++
		}
		t.mu.Unlock()
		if ev == nil || !ok {
			return
		}
		if !ev.add(host, at) {
			t.mu.Lock()
			t.twice++
			t.mu.Unlock()
			return
		}
		t.mu.Lock()
		t.perHost[host]++
		t.mu.Unlock()
	})
}

// decidedAll is how many hosts decided every one of ids.
func (t *fleetTally) decidedAll(ids []string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.perHost {
		if c >= len(ids) {
			n++
		}
	}
	return n
}

// bad is outcomes that were not ok or decided an event twice on a host.
func (t *fleetTally) bad() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.notOK + t.twice
}

// add records host's outcome; false if it had one already.
func (e *fleetEvent) add(host string, at time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hosts[host] {
		return false
	}
	e.hosts[host] = true
	e.last = at
	e.signal()
	return true
}

// all returns a channel closed once n hosts decided the event.
func (e *fleetEvent) all(n int) <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.wantN = n
	e.signal()
	return e.allCh
}

func (e *fleetEvent) signal() {
	if !e.closed && e.wantN > 0 && len(e.hosts) >= e.wantN {
		e.closed = true
		close(e.allCh)
	}
}

func (e *fleetEvent) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.hosts)
}

func (e *fleetEvent) lastAt() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// subscribeAll subscribes fn to subject on nc with no pending limits and
// flushes, so that nothing published after it returns is missed.
func subscribeAll(nc *nats.Conn, subject string, fn func(m *nats.Msg, at time.Time)) error {
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) { fn(m, time.Now()) })
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	return nil
}

// errNoFileLimit means RLIMIT_NOFILE could not be raised to what the
// fleet needs.
var errNoFileLimit = errors.New("cannot raise RLIMIT_NOFILE")

// raiseNoFile raises the process's open-file limit (soft, and hard if
// needed) to at least want; children (the NATS servers) inherit it.
func raiseNoFile(want uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("%w: getrlimit: %w", errNoFileLimit, err)
	}
	if l.Cur >= want {
		return nil
	}
	n := l
	n.Cur = want
	n.Max = max(l.Max, want)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &n); err != nil {
		return fmt.Errorf("%w to %d (now soft %d, hard %d; a higher hard limit needs root or CAP_SYS_RESOURCE and at most fs.nr_open): %w", errNoFileLimit, want, l.Cur, l.Max, err)
	}
	return nil
}
