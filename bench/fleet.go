package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
	// fdsPerAgent is what one in-process agent holds open (its NATS
	// connection, state lock, run journal and position file, measured); fdsBase covers
	// the rest, the agents' inotify instances (128 at most here) included.
	fdsPerAgent = 4
	fdsBase     = 1024
	// maxFleetAgents is the most -agents takes: the fleet of
	// 100,000 hosts.
	maxFleetAgents = 100000
)

// Targets of issue 9 for the fleet (N = 10,000 on this machine).
var (
	targetFleetP50  = &target{op: "<=", value: 2000, unit: "ms"}
	targetFleetP99  = &target{op: "<=", value: 5000, unit: "ms"}
	targetFleetRSS  = &target{op: "<=", value: 3000, unit: "MB"}
	targetStormSecs = &target{op: "<=", value: 60, unit: "s"}
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
	if err := raiseNoFile(uint64(fdsBase + fdsPerAgent*min(n, fleetPerProcess))); err != nil {
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

	tune := fleetTuning{heartbeat: cfg.AgentHeartbeat, verify: cfg.AgentVerify}
	started := time.Now()
	var workers []*fleetWorker
	if n <= fleetPerProcess {
		f, err := newFleetAgents(r.dir, urls, 0, n, up, tune)
		if err != nil {
			return nil, err
		}
		defer f.close(r.h.stderr)
		if err := f.start(ctx); err != nil {
			return nil, err
		}
	} else {
		// More agents than one process has file descriptors for: worker
		// processes of the bench binary hold them, fleetPerProcess each.
		for first := 0; first < n; first += fleetPerProcess {
			w, err := startFleetWorker(r.dir, urls, first, min(fleetPerProcess, n-first), up, tune, r.h.stderr)
			if err != nil {
				stopFleetWorkers(workers, r.h.stderr)
				return nil, err
			}
			workers = append(workers, w)
		}
		defer stopFleetWorkers(workers, r.h.stderr)
	}
	upErr := up.wait(ctx, fleetUpTimeout)
	upS := math.NaN()
	if up.count() > 0 {
		upS = up.last().Sub(started).Seconds()
	}
	if upErr != nil {
		fmt.Fprintf(r.h.stderr, "bench: fleet: %v; measuring with the agents that are up\n", upErr)
	}

	pids := []int{os.Getpid()}
	for _, w := range workers {
		pids = append(pids, w.cmd.Process.Pid)
	}
	idleAgents, idleServers := fleetIdleCPU(ctx, pids, servers)

	a0, s0, cpuOK := fleetCPU(pids, servers)
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
	// CPU per agent and event: the events' whole CPU (idle share
	// included) over agents × events, in µs.
	a1, s1, ok := fleetCPU(pids, servers)
	agentCPU, serverCPU := math.NaN(), math.NaN()
	if per := float64(n * max(len(lat), 1)); cpuOK && ok {
		agentCPU = float64((a1 - a0).Microseconds()) / per
		serverCPU = float64((s1 - s0).Microseconds()) / per
	}
	// A failed read (a server gone, or no file descriptor left) is
	// reported and shown as NaN: the other figures stand.
	rss, err := serversRSSMB(servers)
	if err != nil {
		fmt.Fprintf(r.h.stderr, "bench: fleet: servers' RSS: %v\n", err)
		rss = math.NaN()
	}
	selfMB, fds := 0.0, 0.0
	for _, pid := range pids {
		if kib, err := rssKiB(pid); err == nil {
			selfMB += float64(kib) * 1024 / 1e6
		} else {
			fmt.Fprintf(r.h.stderr, "bench: fleet: RSS of %d: %v\n", pid, err)
			selfMB = math.NaN()
		}
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			fds += float64(len(ents))
		}
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
		num(sc, "CPU per agent and event, the agents", agentCPU, "µs", nil),
		num(sc, "CPU per agent and event, the NATS servers", serverCPU, "µs", nil),
		num(sc, "idle CPU (no events), the agents", idleAgents, "% of a core", nil),
		num(sc, "idle CPU (no events), the NATS servers", idleServers, "% of a core", nil),
		num(sc, "bench processes", float64(len(pids)), "", nil),
		num(sc, "bench processes' RSS (the agents)", selfMB, "MB", nil),
		num(sc, "bench processes' open files (RLIMIT_NOFILE "+noFileLimit()+" each)", fds, "", nil),
		num(sc, "outcomes not ok, or a second different outcome (a second run)", float64(tally.bad()), "", &target{op: "<=", value: 0, unit: ""}),
		num(sc, "outcomes re-sent byte for byte (publish retries; stored once)", float64(tally.resentCount()), "", nil),
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

// errNoFileLimit means RLIMIT_NOFILE could not be raised to what the
// fleet needs.
var errNoFileLimit = errors.New("cannot raise RLIMIT_NOFILE")

// noFileLimit is the soft RLIMIT_NOFILE, or "unknown".
func noFileLimit() string {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return "unknown"
	}
	return thousands(int64(l.Cur))
}

// raiseNoFile raises the process's soft open-file limit to its hard limit,
// and the hard limit too if want is more; children (the NATS servers)
// inherit it.
func raiseNoFile(want uint64) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("%w: getrlimit: %w", errNoFileLimit, err)
	}
	n := l
	n.Cur = max(l.Max, want)
	n.Max = n.Cur
	if n == l {
		return nil
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &n); err != nil {
		return fmt.Errorf("%w to %d for %d agents (soft %d, hard %d; a higher hard limit needs CAP_SYS_RESOURCE, and at most fs.nr_open): %w",
			errNoFileLimit, want, (want-fdsBase)/fdsPerAgent, l.Cur, l.Max, err)
	}
	return nil
}

// fleetIdle is how long the fleet is watched with no events, for what
// the agents and the servers cost when nothing happens (timers, verifies,
// announcements, position writes).
const fleetIdle = 5 * time.Second

// fleetCPU reads the CPU time used so far by the bench processes (the
// agents) and by the NATS servers; ok is false when /proc could not be
// read for one of them.
func fleetCPU(pids []int, servers []*natsProc) (agents, srv time.Duration, ok bool) {
	ok = true
	for _, pid := range pids {
		d, err := cpuTime(strconv.Itoa(pid))
		ok = ok && err == nil
		agents += d
	}
	for _, n := range servers {
		if n.p == nil {
			ok = false
			continue
		}
		d, err := cpuTime(strconv.Itoa(n.p.cmd.Process.Pid))
		ok = ok && err == nil
		srv += d
	}
	return agents, srv, ok
}

// fleetIdleCPU returns the CPU the bench processes (the agents) and the
// NATS servers used over fleetIdle with no event published, each as a
// share of one core; NaN where /proc could not be read.
func fleetIdleCPU(ctx context.Context, pids []int, servers []*natsProc) (agents, srv float64) {
	a0, s0, ok0 := fleetCPU(pids, servers)
	at := time.Now()
	select {
	case <-ctx.Done():
		return math.NaN(), math.NaN()
	case <-time.After(fleetIdle):
	}
	a1, s1, ok1 := fleetCPU(pids, servers)
	if !ok0 || !ok1 {
		return math.NaN(), math.NaN()
	}
	el := time.Since(at)
	return 100 * float64(a1-a0) / float64(el), 100 * float64(s1-s0) / float64(el)
}
