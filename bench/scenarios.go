package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// sampleTimeout bounds one latency sample: publish until every agent's
	// outcome arrived.
	sampleTimeout = 10 * time.Second
	// stallTimeout fails the throughput scenario when no outcome arrives
	// for this long before all events are decided.
	stallTimeout = 30 * time.Second
	// burstTimeout bounds publishing a burst and waiting for its acks.
	burstTimeout = 5 * time.Minute
	// throughputTimeout bounds one throughput measurement.
	throughputTimeout = 10 * time.Minute
	// rssTimeout bounds waiting for a stable RSS.
	rssTimeout = time.Minute
)

// Targets.
var (
	targetLatency1   = &target{op: "<=", value: 2, unit: "ms"}
	targetLatency20  = &target{op: "<=", value: 20, unit: "ms"}
	targetThroughput = &target{op: ">=", value: 50000, unit: "events/s"}
	targetIdleRSS    = &target{op: "<=", value: 20, unit: "MiB"}
)

// watchYAML is a queue-mode watch running /bin/true for one event type.
func watchYAML(name, typ string) string {
	return fmt.Sprintf(`  - name: %s
    on: event:%s
    exec: ["/bin/true"]
    run_mode: queue
    run_on_load: false
`, name, typ)
}

// outcomeAt is an outcome and when the bench received it.
type outcomeAt struct {
	events.Outcome
	at time.Time
}

// outcomeChan subscribes to every outcome; they arrive on the channel in
// order. The subscription ends when the run's connection closes.
func (r *benchRun) outcomeChan() (<-chan outcomeAt, error) {
	ch := make(chan outcomeAt, 1<<16)
	err := r.subscribeOutcomes(func(o events.Outcome, at time.Time) { ch <- outcomeAt{o, at} })
	return ch, err
}

// subscribeOutcomes calls fn for every outcome, in order, from now on.
func (r *benchRun) subscribeOutcomes(fn func(o events.Outcome, at time.Time)) error {
	sub, err := r.nc.Subscribe(events.OutcomePrefix+".>", func(m *nats.Msg) {
		at := time.Now()
		var o events.Outcome
		if err := json.Unmarshal(m.Data, &o); err != nil {
			o = events.Outcome{Status: "undecodable", Error: err.Error()}
		}
		fn(o, at)
	})
	if err != nil {
		return fmt.Errorf("subscribe outcomes: %w", err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return fmt.Errorf("subscribe outcomes: %w", err)
	}
	if err := r.nc.Flush(); err != nil {
		return fmt.Errorf("subscribe outcomes: %w", err)
	}
	return nil
}

// publishAndWait publishes e, waits for JetStream's ack, then for one ok
// outcome of e from each of hosts agents. Outcomes of other events are
// errors: nothing else is being published.
func (r *benchRun) publishAndWait(ctx context.Context, ch <-chan outcomeAt, e events.Event, hosts int) (acked time.Time, outs []outcomeAt, err error) {
	ctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	defer cancel()
	if _, err := bus.PublishEvent(ctx, r.js, e); err != nil {
		return acked, nil, err
	}
	acked = time.Now()
	seen := map[string]bool{}
	for len(outs) < hosts {
		select {
		case o := <-ch:
			switch {
			case o.EventID != e.ID:
				return acked, nil, fmt.Errorf("outcome for unexpected event %s (status %s) while waiting for %s", o.EventID, o.Status, e.ID)
			case o.Status != events.StatusOK:
				return acked, nil, fmt.Errorf("event %s on %s: status %s %s", e.ID, o.Host, o.Status, o.Error)
			case seen[o.Host]:
				return acked, nil, fmt.Errorf("event %s decided twice on %s", e.ID, o.Host)
			}
			seen[o.Host] = true
			outs = append(outs, o)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return acked, nil, fmt.Errorf("event %s: interrupted with %d of %d outcomes: %w", e.ID, len(outs), hosts, ctx.Err())
			}
			return acked, nil, fmt.Errorf("event %s: %d of %d outcomes within %v: %w", e.ID, len(outs), hosts, sampleTimeout, ctx.Err())
		}
	}
	return acked, outs, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latency1 measures publish-to-action-start for one agent, one event at a
// time.
func latency1(ctx context.Context, r *benchRun, cfg Config) ([]result, error) {
	if err := r.startDispatcher(ctx, 0, ""); err != nil {
		return nil, err
	}
	spec, err := r.newAgentSpec("bench-lat", "watches:\n"+watchYAML("lat", "bench.lat"))
	if err != nil {
		return nil, err
	}
	if _, err := r.startAgents(ctx, spec); err != nil {
		return nil, err
	}
	ch, err := r.outcomeChan()
	if err != nil {
		return nil, err
	}
	var start, ack, recv []float64
	for i := range cfg.Warmup + cfg.Samples {
		e := events.New("bench", "bench.lat", "/bench/lat", nil)
		acked, outs, err := r.publishAndWait(ctx, ch, e, 1)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		if i < cfg.Warmup {
			continue
		}
		start = append(start, ms(outs[0].Start.Sub(e.Time)))
		ack = append(ack, ms(acked.Sub(e.Time)))
		recv = append(recv, ms(outs[0].at.Sub(e.Time)))
	}
	s, a, o := summarize(start), summarize(ack), summarize(recv)
	sc := scLatency1
	return []result{
		num(sc, "publish→action start p50", s.p50, "ms", targetLatency1),
		num(sc, "publish→action start p90", s.p90, "ms", nil),
		num(sc, "publish→action start p99", s.p99, "ms", nil),
		num(sc, "publish→action start max", s.max, "ms", nil),
		num(sc, "publish→JetStream ack p50", a.p50, "ms", nil),
		num(sc, "publish→outcome received p50", o.p50, "ms", nil),
		num(sc, "samples", float64(len(start)), "", nil),
	}, nil
}

// latency20 measures, per event, the time until every one of cfg.Agents
// agents has started its action.
func latency20(ctx context.Context, r *benchRun, cfg Config) ([]result, error) {
	if err := r.startDispatcher(ctx, 0, ""); err != nil {
		return nil, err
	}
	specs := make([]agentSpec, cfg.Agents)
	for i := range specs {
		var err error
		if specs[i], err = r.newAgentSpec(fmt.Sprintf("bench-agent-%02d", i+1), "watches:\n"+watchYAML("lat", "bench.lat")); err != nil {
			return nil, err
		}
	}
	if _, err := r.startAgents(ctx, specs...); err != nil {
		return nil, err
	}
	ch, err := r.outcomeChan()
	if err != nil {
		return nil, err
	}
	var all, per, first []float64
	warm := cfg.Warmup / 2
	for i := range warm + cfg.Samples20 {
		e := events.New("bench", "bench.lat", "/bench/lat", nil)
		_, outs, err := r.publishAndWait(ctx, ch, e, cfg.Agents)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		if i < warm {
			continue
		}
		hi, lo := 0.0, -1.0
		for _, o := range outs {
			l := ms(o.Start.Sub(e.Time))
			per = append(per, l)
			hi = max(hi, l)
			if lo < 0 || l < lo {
				lo = l
			}
		}
		all = append(all, hi)
		first = append(first, lo)
	}
	a, p, f := summarize(all), summarize(per), summarize(first)
	sc := scLatency20
	n := strconv.Itoa(cfg.Agents)
	return []result{
		num(sc, "all "+n+" started p50", a.p50, "ms", targetLatency20),
		num(sc, "all "+n+" started p90", a.p90, "ms", nil),
		num(sc, "all "+n+" started p99", a.p99, "ms", nil),
		num(sc, "all "+n+" started max", a.max, "ms", nil),
		num(sc, "first started p50", f.p50, "ms", nil),
		num(sc, "per-agent start p50", p.p50, "ms", nil),
		num(sc, "per-agent start p99", p.p99, "ms", nil),
		num(sc, "samples", float64(len(all)), "", nil),
	}, nil
}

// tally counts the outcomes of a burst of events.
type tally struct {
	mu      sync.Mutex
	want    map[string]bool // the published event ids
	count   map[string]int
	decided int // distinct published events with an outcome
	dups    int // outcomes beyond the first for an event
	foreign int // outcomes for events not in the burst
	status  map[events.Status]int
	msgs    int // outcome messages received
	// unlisted is absorbed events counted in superseded_count but not
	// listed (a run absorbed more than events.MaxSuperseded).
	unlisted int
	lastOK   string
	last     time.Time // when the latest outcome arrived
	doneAt   time.Time // when every event was decided
	done     chan struct{}
	// lastID is the last event published; lastAt is when its outcome
	// arrived. Events are delivered in order, so once it is decided every
	// event that will ever be decided has been.
	lastID   string
	lastAt   time.Time
	lastDone chan struct{}
}

func newTally(ids []string) *tally {
	t := &tally{want: make(map[string]bool, len(ids)), count: make(map[string]int, len(ids)),
		status: map[events.Status]int{}, done: make(chan struct{}), last: time.Now(),
		lastID: ids[len(ids)-1], lastDone: make(chan struct{})}
	for _, id := range ids {
		t.want[id] = true
	}
	return t
}

// subscribeTally counts every outcome from now on into t. It reads only
// event_id and status, and without encoding/json when it can, so that the
// bench takes as little CPU as possible from the processes it measures.
func (r *benchRun) subscribeTally(t *tally) error {
	sub, err := r.nc.Subscribe(events.OutcomePrefix+".>", func(m *nats.Msg) {
		at := time.Now()
		id, ok1 := jsonString(m.Data, `"event_id":"`)
		st, ok2 := jsonString(m.Data, `"status":"`)
		if !ok1 || !ok2 {
			var o events.Outcome
			if err := json.Unmarshal(m.Data, &o); err != nil {
				o.Status = "undecodable"
			}
			id, st = o.EventID, string(o.Status)
		}
		// Events a run absorbed (queue mode, superseded before they ran)
		// are decided by that run's outcome: count them first, so the
		// run's own event, the newest, comes last.
		if bytes.Contains(m.Data, []byte(`"superseded":[`)) {
			var o struct {
				Superseded []string `json:"superseded"`
				Count      int      `json:"superseded_count"`
			}
			if err := json.Unmarshal(m.Data, &o); err == nil {
				for _, s := range o.Superseded {
					t.add(s, events.StatusSuperseded, at)
				}
				t.addUnlisted(o.Count-len(o.Superseded), at)
			}
		}
		t.addMsg()
		t.add(id, events.Status(st), at)
	})
	if err != nil {
		return fmt.Errorf("subscribe outcomes: %w", err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return fmt.Errorf("subscribe outcomes: %w", err)
	}
	if err := r.nc.Flush(); err != nil {
		return fmt.Errorf("subscribe outcomes: %w", err)
	}
	return nil
}

// jsonString returns the string value after prefix (a key, colon and
// opening quote as encoding/json writes them) if it has no escapes.
func jsonString(data []byte, prefix string) (string, bool) {
	i := bytes.Index(data, []byte(prefix))
	if i < 0 {
		return "", false
	}
	rest := data[i+len(prefix):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || bytes.IndexByte(rest[:j], '\\') >= 0 {
		return "", false
	}
	return string(rest[:j]), true
}

// addMsg counts one outcome message.
func (t *tally) addMsg() {
	t.mu.Lock()
	t.msgs++
	t.mu.Unlock()
}

// addUnlisted counts absorbed events an outcome counted but did not list
// (more than events.MaxSuperseded): they are decided, but which ones
// cannot be told, so they count as decided without a duplicate check.
func (t *tally) addUnlisted(n int, at time.Time) {
	if n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unlisted += n
	t.status[events.StatusSuperseded] += n
	t.decided += n
	t.last = at
	if t.decided == len(t.want) && t.doneAt.IsZero() {
		t.doneAt = at
		close(t.done)
	}
}

func (t *tally) add(id string, st events.Status, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = at
	if !t.want[id] {
		t.foreign++
		return
	}
	t.status[st]++
	if st == events.StatusOK {
		t.lastOK = id
	}
	t.count[id]++
	if t.count[id] > 1 {
		t.dups++
		return
	}
	if id == t.lastID {
		t.lastAt = at
		close(t.lastDone)
	}
	t.decided++
	if t.decided == len(t.want) && t.doneAt.IsZero() {
		t.doneAt = at
		close(t.done)
	}
}

// errNotAllDecided is returned by tally.wait when the last event was
// decided but some earlier ones never were.
var errNotAllDecided = errors.New("the last event was decided but not every event was")

// settleAfterLast is how long tally.wait waits for stragglers once the last
// event is decided.
const settleAfterLast = 2 * time.Second

// wait returns when every event is decided. It fails when the last event
// was decided and the others were still not after settleAfterLast, when no
// outcome came for stallTimeout, or when throughputTimeout passed.
func (t *tally) wait(ctx context.Context) error {
	deadline := time.NewTimer(throughputTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastDone := t.lastDone
	var settle <-chan time.Time
	for {
		select {
		case <-t.done:
			return nil
		case <-lastDone:
			lastDone = nil
			settle = time.After(settleAfterLast)
		case <-settle:
			return fmt.Errorf("%w: %s", errNotAllDecided, t.summary())
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("not all events decided within %v: %s", throughputTimeout, t.summary())
		case <-tick.C:
			t.mu.Lock()
			quiet := time.Since(t.last)
			t.mu.Unlock()
			if quiet > stallTimeout {
				return fmt.Errorf("no outcome for %v: %s", stallTimeout, t.summary())
			}
		}
	}
}

func (t *tally) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprintf("%d of %d events decided (ok %d, superseded %d, other %d), %d duplicate outcomes, %d foreign",
		t.decided, len(t.want), t.status[events.StatusOK], t.status[events.StatusSuperseded],
		t.decided+t.dups-t.status[events.StatusOK]-t.status[events.StatusSuperseded], t.dups, t.foreign)
}

// burst is n events for one key, prepared before the clock starts.
type burst struct {
	ids  []string
	msgs []*nats.Msg
}

func newBurst(n int, typ, key string) burst {
	b := burst{ids: make([]string, n), msgs: make([]*nats.Msg, n)}
	for i := range n {
		e := events.New("bench", typ, key, nil)
		b.ids[i], b.msgs[i] = e.ID, e.ToMsg()
	}
	return b
}

// publish sends every message with async JetStream publish, in order on
// one connection, and waits for all acks. It returns when the last ack
// arrived.
func (b burst) publish(ctx context.Context, nc *nats.Conn) (time.Time, error) {
	var failed atomic.Int64
	var firstErr atomic.Value
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(burstTimeout),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
		}))
	if err != nil {
		return time.Time{}, fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, burstTimeout)
	defer cancel()
	for i, m := range b.msgs {
		for {
			_, err := js.PublishMsgAsync(m)
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				return time.Time{}, fmt.Errorf("publish event %d: %w", i, err)
			}
			if ctx.Err() != nil {
				return time.Time{}, fmt.Errorf("publish event %d: %w", i, ctx.Err())
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("waiting for %d publish acks: %w", js.PublishAsyncPending(), ctx.Err())
	}
	acked := time.Now()
	if n := failed.Load(); n > 0 {
		return acked, fmt.Errorf("%d of %d publishes failed, first: %v", n, len(b.msgs), firstErr.Load())
	}
	return acked, nil
}

// throughput measures how fast one agent decides a burst of events for one
// key in queue mode: live (published while the agent consumes) and, with
// cfg.Stored, stored before the agent starts.
func throughput(ctx context.Context, r *benchRun, cfg Config) ([]result, error) {
	perKey := cfg.EventsPerKey
	if perKey == 0 {
		perKey = max(cfg.N, int(events.DefaultEventsPerKey))
	}
	if err := r.startDispatcher(ctx, perKey, ""); err != nil {
		return nil, err
	}
	sc := scThroughput

	// Live: the agent consumes while the burst is published.
	spec, err := r.newAgentSpec("bench-tp", "watches:\n"+watchYAML("tp", "bench.tp"))
	if err != nil {
		return nil, err
	}
	ps, err := r.startAgents(ctx, spec)
	if err != nil {
		return nil, err
	}
	b := newBurst(cfg.N, "bench.tp", "/bench/tp")
	t := newTally(b.ids)
	if err := r.subscribeTally(t); err != nil {
		return nil, err
	}
	cpu := r.cpuSnapshot(ps[0])
	t0 := time.Now()
	acked, err := b.publish(ctx, r.nc)
	if err != nil {
		return nil, err
	}
	err = t.wait(ctx)
	var out []result
	if err == nil {
		out = cpu.results("live", r, ps[0], cfg.N)
	}
	if errors.Is(err, errNotAllDecided) {
		out = append(out, num(sc, "live: events/s until the last event was decided (NOT all decided)",
			float64(cfg.N)/t.lastAt.Sub(t0).Seconds(), "events/s", nil))
	}
	if err != nil {
		return append(out, t.checks("live", b)...), fmt.Errorf("live: %w", err)
	}
	out = append(out,
		num(sc, "live: events/s decided", float64(cfg.N)/t.doneAt.Sub(t0).Seconds(), "events/s", targetThroughput),
		num(sc, "live: events/s published+acked", float64(cfg.N)/acked.Sub(t0).Seconds(), "events/s", nil))
	out = append(out, t.checks("live", b)...)
	r.stopAgent(ps[0])

	if !cfg.Stored {
		return out, nil
	}
	// Stored: the agent ran before (it has a position in its state dir),
	// the burst is stored while it is down, then it starts and catches up.
	// Timed from the start of the agent process: its catch-up read comes
	// before its "agent consuming events" line.
	spec2, err := r.newAgentSpec("bench-tp-stored", "watches:\n"+watchYAML("tp2", "bench.tp2"))
	if err != nil {
		return out, err
	}
	if ps, err = r.startAgents(ctx, spec2); err != nil {
		return out, err
	}
	r.stopAgent(ps[0])
	b2 := newBurst(cfg.N, "bench.tp2", "/bench/tp2")
	if _, err := b2.publish(ctx, r.nc); err != nil {
		return out, fmt.Errorf("stored: %w", err)
	}
	t2 := newTally(b2.ids)
	if err := r.subscribeTally(t2); err != nil {
		return out, err
	}
	cpu = r.cpuSnapshot(nil)
	consuming := time.Now()
	if ps, err = r.startAgents(ctx, spec2); err != nil {
		return out, err
	}
	err = t2.wait(ctx)
	if err == nil {
		out = append(out, cpu.results("stored", r, ps[0], cfg.N)...)
	}
	if errors.Is(err, errNotAllDecided) {
		out = append(out, num(sc, "stored: events/s until the last event was decided (NOT all decided)",
			float64(cfg.N)/t2.lastAt.Sub(consuming).Seconds(), "events/s", nil))
	}
	if err != nil {
		return append(out, t2.checks("stored", b2)...), fmt.Errorf("stored: %w", err)
	}
	out = append(out, num(sc, "stored: events/s decided", float64(cfg.N)/t2.doneAt.Sub(consuming).Seconds(), "events/s", nil))
	out = append(out, t2.checks("stored", b2)...)
	return out, nil
}

// cpuSnap is the CPU time used so far by the agent (with its reaped
// children, the actions), the dispatcher and the bench itself.
type cpuSnap struct {
	at                     time.Time
	agent, disp, benchSelf time.Duration
	machine                time.Duration // every CPU's busy time (/proc/stat)
}

// cpuSnapshot reads the CPU times now; agent may be nil (not started yet:
// zero).
func (r *benchRun) cpuSnapshot(agent *proc) cpuSnap {
	s := cpuSnap{at: time.Now()}
	if agent != nil {
		s.agent, _ = cpuTime(strconv.Itoa(agent.cmd.Process.Pid))
	}
	s.disp, _ = cpuTime(strconv.Itoa(r.disp.cmd.Process.Pid))
	s.benchSelf, _ = cpuTime("self")
	s.machine, _ = machineBusy()
	return s
}

// results reports the CPU used since the snapshot, as a share of one core
// over the wall time (2 cores busy = 200%).
func (s cpuSnap) results(label string, r *benchRun, agent *proc, n int) []result {
	now := r.cpuSnapshot(agent)
	perEvent := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(n) }
	wall := now.at.Sub(s.at).Seconds()
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / wall }
	return []result{
		num(scThroughput, label+": CPU time per event, agent+actions", perEvent(now.agent-s.agent), "µs", nil),
		num(scThroughput, label+": CPU time per event, dispatcher", perEvent(now.disp-s.disp), "µs", nil),
		num(scThroughput, label+": CPU agent+actions", pct(now.agent-s.agent), "% of a core", nil),
		num(scThroughput, label+": CPU dispatcher", pct(now.disp-s.disp), "% of a core", nil),
		num(scThroughput, label+": CPU bench (publisher, outcome reader)", pct(now.benchSelf-s.benchSelf), "% of a core", nil),
		num(scThroughput, label+": CPU everything else on the machine", pct((now.machine-s.machine)-
			(now.agent-s.agent)-(now.disp-s.disp)-(now.benchSelf-s.benchSelf)), "% of a core", nil),
	}
}

// machineBusy is the busy (not idle, not iowait) time of every CPU, from
// the first line of /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("bad /proc/stat")
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: all but idle, iowait.
	for i, x := range f[1:9] {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad /proc/stat: %w", err)
		}
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}

// cpuTime reads utime+stime+cutime+cstime of /proc/<pid>/stat.
func cpuTime(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%s/stat", pid)
	}
	// After "(comm)": state is field 3, utime..cstime are fields 14..17.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, fmt.Errorf("short /proc/%s/stat", pid)
	}
	var ticks int64
	for _, x := range f[11:15] {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad /proc/%s/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// checks reports whether every event was decided exactly once and the last
// ok run was for the last event published.
func (t *tally) checks(label string, b burst) []result {
	t.mu.Lock()
	defer t.mu.Unlock()
	once := t.decided == len(t.want) && t.dups == 0
	last := t.lastOK == b.ids[len(b.ids)-1]
	onceText := fmt.Sprintf("%d/%d decided, %d duplicates", t.decided, len(t.want), t.dups)
	lastText := "yes"
	if !last {
		lastText = fmt.Sprintf("no: last ok %q, last published %q", t.lastOK, b.ids[len(b.ids)-1])
	}
	return []result{
		check(scThroughput, label+": decided exactly once", onceText, once),
		check(scThroughput, label+": last ok run = last event", lastText, last),
		num(scThroughput, label+": ok runs", float64(t.status[events.StatusOK]), "", nil),
		num(scThroughput, label+": superseded", float64(t.status[events.StatusSuperseded]), "", nil),
		num(scThroughput, label+": outcome messages", float64(t.msgs), "", nil),
		num(scThroughput, label+": superseded, counted but not listed", float64(t.unlisted), "", nil),
	}
}

// logTime reads the "time" field of a JSON log line.
func logTime(line string) (time.Time, error) {
	var l struct {
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal([]byte(line), &l); err != nil || l.Time.IsZero() {
		return time.Time{}, fmt.Errorf("no time in log line %q: %v", line, err)
	}
	return l.Time, nil
}

// idle measures the resident memory of an idle agent with three watches
// and of the dispatcher.
func idle(ctx context.Context, r *benchRun) ([]result, error) {
	if err := r.startDispatcher(ctx, 0, ""); err != nil {
		return nil, err
	}
	spec, err := r.newAgentSpec("bench-idle", "watches:\n"+
		watchYAML("idle-queue", "bench.idle.a")+
		strings.Replace(watchYAML("idle-discard", "bench.idle.b"), "queue", "discard", 1)+
		strings.Replace(watchYAML("idle-parallel", "bench.idle.c"), "queue", "parallel", 1))
	if err != nil {
		return nil, err
	}
	ps, err := r.startAgents(ctx, spec)
	if err != nil {
		return nil, err
	}
	agent, err := stableRSS(ctx, ps[0].cmd.Process.Pid)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	disp, err := stableRSS(ctx, r.disp.cmd.Process.Pid)
	if err != nil {
		return nil, fmt.Errorf("dispatcher: %w", err)
	}
	return []result{
		num(scIdle, "agent RSS (3 watches)", agent, "MiB", targetIdleRSS),
		num(scIdle, "dispatcher RSS (embedded NATS)", disp, "MiB", nil),
	}, nil
}

// stableRSS polls VmRSS every 500ms until two readings differ by less than
// 1%, and returns the last in MiB.
func stableRSS(ctx context.Context, pid int) (float64, error) {
	prev, err := rssKiB(pid)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(rssTimeout)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
		cur, err := rssKiB(pid)
		if err != nil {
			return 0, err
		}
		if d := cur - prev; d*100 < prev && -d*100 < prev {
			return float64(cur) / 1024, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("RSS of pid %d not stable within %v (last %d kB, before %d kB)", pid, rssTimeout, cur, prev)
		}
		prev = cur
	}
}

// rssKiB reads VmRSS from /proc/PID/status.
func rssKiB(pid int) (int64, error) { return procStatusKiB(pid, "VmRSS:") }

// procStatusKiB reads a kB field ("VmRSS:", "VmHWM:") of /proc/PID/status.
func procStatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", strings.TrimSuffix(field, ":"), err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("%w: %s in /proc/%d/status", errNoField, field, pid)
}
