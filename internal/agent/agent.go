package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/agent/watchrun"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/feed"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/runjournal"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// ErrClosed is returned by Start on an agent that was closed.
var ErrClosed = errors.New("agent closed")

// Agent is one host's agent. Create it with New, then Start; Close stops it.
type Agent struct {
	cfg     Config
	log     zerolog.Logger
	metrics *metrics
	tracer  *tracing.Provider // nil: spans are not exported

	nc       *nats.Conn
	js       jetstream.JetStream
	feed     *feed.Feed // the agent's events, from Start on
	outcomes *bus.OutcomeStore
	// resendTo is outcomes for the reconnect handler, which may run before
	// Start has set outcomes.
	resendTo atomic.Pointer[bus.OutcomeStore]

	ctx    context.Context // cancelled by Close: stops loops
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine but runs

	runCtx    context.Context // cancelled by Close after loops stop: terminates runs
	runCancel context.CancelFunc
	runWG     sync.WaitGroup
	runMu     sync.Mutex // guards closing against runWG.Add
	closing   bool

	env     *watchrun.Env // what the watches' runtimes need, from Start on
	mu      sync.Mutex
	watches map[string]*watchrun.Runtime // by watch name
	files   map[string]fileState
	dirs    []string      // directories of the watches tree, as last read
	dirErr  string        // what could not be read in it, as last logged (rescan only)
	replays atomic.Uint64 // run_on_load replays offered, for their outcome ids

	started   time.Time
	lock      *os.File
	groups    *runjournal.Journal // process groups of runs, journaled in --state
	metricsLn net.Listener
	metricsHS *http.Server
	closed    atomic.Bool
	reloadCh  chan struct{}
}

// New validates cfg and prepares an agent; nothing runs until Start.
func New(cfg Config, log zerolog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tracer, err := tracing.New(cfg.OTLP, "herald-agent", tracing.LogErrors(log.With().Str(logging.FieldHost, cfg.Name).Logger()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runCtx, runCancel := context.WithCancel(context.Background())
	return &Agent{
		cfg: cfg, log: log.With().Str(logging.FieldHost, cfg.Name).Logger(), metrics: newMetrics(), tracer: tracer,
		ctx: ctx, cancel: cancel, runCtx: runCtx, runCancel: runCancel,
		watches: map[string]*watchrun.Runtime{}, files: map[string]fileState{},
		reloadCh: make(chan struct{}, 1),
	}, nil
}

// MetricsAddr is the address the metrics server listens on, if any.
func (a *Agent) MetricsAddr() string {
	if a.metricsLn == nil {
		return ""
	}
	return a.metricsLn.Addr().String()
}

// Start takes the state lock, loads the watches, connects to NATS and
// begins consuming. It returns once the agent is running; NATS being
// unreachable is not an error (the agent keeps trying and logs).
//
// ctx bounds the start only: Start checks it before taking the state lock,
// before connecting to NATS and before starting the agent's goroutines, and
// returns its error (wrapped) if it has ended. Once Start has returned nil,
// the agent, including its retries to set up the event consumer, runs until
// Close; ctx no longer matters. After a failed Start, Close releases what it
// set up.
func (a *Agent) Start(ctx context.Context) error {
	if a.closed.Load() {
		return ErrClosed
	}
	stopped := func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		return nil
	}
	if err := stopped(); err != nil {
		return err
	}
	a.started = time.Now().UTC()
	a.warnCredsName()
	a.env = &watchrun.Env{
		Host: a.cfg.Name, Log: a.log, Metrics: a.metrics.run,
		LoadID: strconv.FormatInt(a.started.UnixNano(), 36),
		Store: func(o events.Outcome, id string, stored func()) error {
			return a.outcomes.StoreID(o, id, stored) // a.outcomes is set before any event is offered
		},
		Release: a.release, Start: a.startRun, BuildAction: a.cfg.ActionBuilder,
		Waiting: func() { a.announce(false) }, // herald status shows the wait
		Tracer:  a.tracer,
	}
	if err := a.takeLock(); err != nil {
		return err
	}
	g, err := runjournal.New(a.cfg.State, a.log)
	if err != nil {
		return err
	}
	g.KillLeftovers()
	a.groups = g
	a.runCtx = actions.WithGroupRecorder(a.runCtx, g)
	if a.cfg.Metrics != "" {
		if err := a.serveMetrics(); err != nil {
			return err
		}
	}
	if _, err := os.Stat(a.cfg.Watches); err != nil {
		return fmt.Errorf("watches dir: %w", err)
	}
	// Watch the tree before reading it, so that no change in between is
	// missed; watchDir owns tree from here on.
	tree := watch.WatchTree(a.cfg.Watches, a.log)
	running := false
	defer func() {
		if !running {
			tree.Close()
		}
	}()
	a.rescan(false)
	tree.Sync(a.watchedDirs())
	if err := stopped(); err != nil {
		return err
	}

	authLog := natsconn.NewThrottle(natsconn.AuthLogEvery)
	nc, err := natsconn.Connect(a.cfg.NATS, "herald-agent "+a.cfg.Name, 0,
		nats.SyncQueueLen(bus.SyncQueueLen),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own Close
				a.log.Warn().Err(natsconn.RedactError(err)).Msg("nats disconnected")
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			a.metrics.reconnects.Inc()
			if s := a.resendTo.Load(); s != nil {
				s.Resend()
			}
			a.log.Info().Str("url", natsconn.ConnectedURL(c)).Msg("nats reconnected")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if natsconn.IsAuthError(err) {
				// A revoked identity is refused at every reconnect, several
				// times a second: log it once a minute, with the count.
				if ok, held := authLog.Allow(time.Now()); ok {
					a.log.Error().Err(natsconn.RedactError(err)).Int("refusals_not_logged", held).Msg("nats refused the agent's credentials; still trying to reconnect")
				}
				return
			}
			a.log.Warn().Err(natsconn.RedactError(err)).Msg("nats error")
		}),
	)
	if err != nil {
		return err
	}
	a.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	a.js = js
	a.env.Turns = a.newTurns()
	if a.feed, err = feed.New(nc, js, feed.Config{
		Stream: events.EventsStream, StateFile: filepath.Join(a.cfg.State, feedState),
		Verify: a.cfg.VerifyEvery, Started: a.consuming, NewStream: a.newStream, Unreachable: a.unreachable, Log: a.log,
	}); err != nil {
		return err
	}
	scfg := bus.DefaultOutcomeStoreConfig()
	// A fleet's outcomes come all at once: when the server takes longer
	// than a try to ack them all, every one re-sent at the try's end
	// added its load again (10,000 agents on 2 cores: half the outcomes
	// sent twice, and events decided in 25 s instead of 2). A reconnect
	// re-sends at once (Resend, below), so the longer try costs only a
	// publish lost with a stream leader that died.
	scfg.TryTimeout = agentOutcomeTry
	scfg.OnRetry = logging.OutcomeRetries(a.log, "outcome not stored yet; retrying (its event stays unacknowledged)")
	if a.outcomes, err = bus.NewOutcomeStore(nc, scfg); err != nil {
		return err
	}
	a.resendTo.Store(a.outcomes)
	a.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "herald_agent_outcomes_pending", Help: "Outcomes published and not yet stored by JetStream (their events are held).",
	}, func() float64 { return float64(a.outcomes.Pending()) }))
	if err := a.subscribeHooks(); err != nil {
		return err
	}
	if err := stopped(); err != nil {
		return err
	}

	a.wg.Add(3)
	running = true
	go a.bootstrap()
	go a.watchDir(tree)
	go a.heartbeat()
	return nil
}

// feedState is the feed's position file in the state dir.
const feedState = "events.json"

// agentOutcomeTry bounds one try to store an outcome (see Start).
const agentOutcomeTry = 15 * time.Second

// bootstrap follows the watches' subjects and runs the feed until the
// agent closes: the feed reads what the agent had not decided (or starts
// at the stream's end), calls consuming, then delivers every new event.
func (a *Agent) bootstrap() {
	defer a.wg.Done()
	a.setFilters()
	if err := a.feed.Run(a.ctx, a.handleMsgs); err != nil {
		a.log.Error().Err(err).Msg("event feed stopped")
	}
}

// setFilters makes the feed follow the subjects of the loaded watches.
func (a *Agent) setFilters() {
	if err := a.feed.SetFilters(bus.ReduceFilters(a.watchFilters())); err != nil {
		a.log.Error().Err(err).Msg("cannot follow the watches' subjects; retrying on next reload")
	}
}

// unreachable logs why the feed cannot start yet: at error level when the
// server refuses the agent's credentials (NATS was not up at Start).
func (a *Agent) unreachable(err error) {
	if authErr := a.nc.LastError(); natsconn.IsAuthError(authErr) {
		a.log.Error().Err(authErr).Msg("nats refuses the agent's credentials; cannot set up the event consumer")
		return
	}
	a.log.Warn().Err(err).Msg("cannot set up the event consumer yet")
}

// consuming runs once the feed knows its position, before any live event:
// run_on_load, then the announcement that the agent is up.
func (a *Agent) consuming() {
	for _, rt := range a.runtimes() {
		if rt.Watch().RunsOnLoad() {
			a.runOnLoad(rt)
		}
	}
	a.log.Info().Strs("filters", bus.ReduceFilters(a.watchFilters())).Uint64("position", a.feed.Position()).Msg("agent consuming events")
	a.announce(false)
}

// watchFilters are the subjects the loaded watches select.
func (a *Agent) watchFilters() []string {
	var want []string
	for _, rt := range a.runtimes() {
		want = append(want, rt.Watch().Source.Filters()...)
	}
	return want
}

// newStream forgets what the agent holds of an events stream that was
// recreated: every watch's run-mode memory (the feed drops its own
// record, whose sequences the new stream reuses). Runs in flight finish.
func (a *Agent) newStream() {
	a.log.Warn().Msg("the events stream is new (recreated): run modes start afresh")
	for _, rt := range a.runtimes() {
		rt.RestartPolicy()
	}
}

// runOnLoad offers, for every key the watch selects, one event: the newest
// of that key across every type the watch receives (highest stream
// sequence), in stream order. The last message per subject alone would
// give one per (type, key): a zk.changed from before the key's deletion
// next to the zk.deleted that followed it.
func (a *Agent) runOnLoad(rt *watchrun.Runtime) {
	w := rt.Watch()
	ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
	defer cancel()
	newest := map[string]*watchrun.Delivery{}
	// Direct gets, not a consumer: the agent needs no consumer API.
	err := bus.LastMsgs(ctx, a.js, events.EventsStream, bus.ReduceFilters(w.Source.Filters()), func(m *jetstream.RawStreamMsg) error {
		ev, err := events.FromMsg(&nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
		if err != nil || !w.Source.Match(ev.Type, ev.Key) {
			return nil
		}
		if d, ok := newest[ev.Key]; !ok || m.Sequence > d.Seq {
			newest[ev.Key] = &watchrun.Delivery{Event: ev, Seq: m.Sequence, Replay: a.replays.Add(1)}
		}
		return nil
	})
	if err != nil {
		a.log.Warn().Err(err).Str(logging.FieldWatch, w.Name).Msg("run_on_load: cannot read the latest events")
		return
	}
	offers := make([]*watchrun.Delivery, 0, len(newest))
	for _, d := range newest {
		offers = append(offers, d)
	}
	sort.Slice(offers, func(i, j int) bool { return offers[i].Seq < offers[j].Seq })
	for _, d := range offers {
		d.Refs.Store(1)
		rt.Offer(d)
	}
	a.log.Debug().Str(logging.FieldWatch, w.Name).Int("events", len(offers)).Msg("run_on_load")
}

// handleMsgs is called by the feed, from one goroutine, in stream order.
// It must not block: policies decide at once and runs start in
// goroutines. A catch-up batch holds what the feed read rather than
// received live (after a restart, a reconnect or a loss): the newest event
// of each subject, the older ones decided with it.
func (a *Agent) handleMsgs(msgs []feed.Msg, catchUp bool) {
	for _, m := range msgs {
		a.handleMsg(m, catchUp)
	}
}

func (a *Agent) handleMsg(m feed.Msg, catchUp bool) {
	a.metrics.received.Inc()
	if catchUp {
		a.metrics.redelivered.Inc()
		a.metrics.caughtUp.Add(float64(1 + len(m.Superseded)))
	}
	ev, err := events.FromMsg(&nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
	if err != nil {
		reason := malformedReason(err)
		a.metrics.malformed.WithLabelValues(reason).Inc()
		a.log.Warn().Err(err).Str("reason", reason).Str("subject", m.Subject).Uint64("seq", m.Seq).Msg("malformed event; skipping it")
		m.Done()
		return
	}
	a.mu.Lock()
	var match []*watchrun.Runtime
	for _, rt := range a.watches {
		if rt.Watch().Source.Match(ev.Type, ev.Key) {
			match = append(match, rt)
		}
	}
	a.mu.Unlock()
	if len(match) == 0 {
		m.Done()
		return
	}
	d := &watchrun.Delivery{Done: m.Done, Event: ev, Seq: m.Seq}
	d.Refs.Store(int32(len(match)))
	if ids := supersededIDs(m.Superseded); len(ids) > 0 {
		for _, rt := range match {
			d.Supersedes(rt.Watch().Name, ids...)
		}
	}
	for _, rt := range match {
		rt.Offer(d)
	}
}

// supersededIDs are the event ids of what a catch-up decided with the
// newest event of their subject (malformed ones have none to report).
func supersededIDs(older []feed.Msg) []string {
	var ids []string
	for _, o := range older {
		if ev, err := events.FromMsg(&nats.Msg{Subject: o.Subject, Header: o.Header, Data: o.Data}); err == nil {
			ids = append(ids, ev.ID)
		}
	}
	return ids
}

// release drops one watch's hold on an event; the last one tells the feed
// it is decided.
func (a *Agent) release(d *watchrun.Delivery) {
	if d.Refs.Add(-1) != 0 || d.Done == nil {
		return
	}
	d.Done()
}

// startRun starts fn in a run goroutine unless the agent is closing.
func (a *Agent) startRun(fn func(ctx context.Context)) bool {
	a.runMu.Lock()
	defer a.runMu.Unlock()
	if a.closing {
		return false
	}
	a.runWG.Add(1)
	go func() {
		defer a.runWG.Done()
		fn(a.runCtx)
	}()
	return true
}

func (a *Agent) runtimes() []*watchrun.Runtime {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*watchrun.Runtime, 0, len(a.watches))
	for _, rt := range a.watches {
		out = append(out, rt)
	}
	return out
}

// heartbeat announces the agent.
func (a *Agent) heartbeat() {
	defer a.wg.Done()
	hb := time.NewTicker(a.cfg.Heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-hb.C:
			a.announce(false)
		}
	}
}

// takeLock makes sure one state dir has one agent.
func (a *Agent) takeLock() error {
	if err := os.MkdirAll(a.cfg.State, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(a.cfg.State, "agent.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("state dir %s is locked by another agent: %w", a.cfg.State, err)
	}
	_ = f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	a.lock = f
	return nil
}

func (a *Agent) serveMetrics() error {
	ln, err := net.Listen("tcp", a.cfg.Metrics)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if a.nc == nil || !a.nc.IsConnected() {
			http.Error(w, `{"status":"nats disconnected"}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	a.metricsLn = ln
	a.metricsHS = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.metricsHS.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error().Err(err).Msg("metrics server")
		}
	}()
	a.log.Info().Str("metrics_addr", ln.Addr().String()).Msg("metrics listening")
	return nil
}

// Close stops consuming, terminates runs (SIGTERM, then SIGKILL after
// their kill_grace), waits for every goroutine and closes the connection.
// Events not decided stay above the feed's stored position and are read
// first at the next start. It is
// safe to call more than once.
func (a *Agent) Close(ctx context.Context) error {
	if !a.closed.CompareAndSwap(false, true) {
		return nil
	}
	a.runMu.Lock()
	a.closing = true
	a.runMu.Unlock()
	a.cancel()
	if a.metricsHS != nil {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = a.metricsHS.Shutdown(sctx)
		cancel()
	}
	a.wg.Wait()
	a.runCancel()
	done := make(chan struct{})
	go func() { a.runWG.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("close: runs still stopping: %w", ctx.Err())
	}
	if a.outcomes != nil {
		// Outcomes still in flight get a moment to be stored; the events of
		// the others stay unacknowledged and are handed back below.
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		a.outcomes.Close(sctx)
		cancel()
	}
	if a.feed != nil {
		a.feed.Sync() // what the last stored outcomes decided
	}
	if a.nc != nil {
		// Events not decided stay above the feed's stored position: a
		// restarted agent reads them first.
		a.announce(true)
		_ = a.nc.FlushTimeout(2 * time.Second)
		a.nc.Close()
	}
	if a.groups != nil {
		a.groups.Close()
	}
	if a.lock != nil {
		a.lock.Close()
	}
	// The runs' last spans are flushed within a bound of their own.
	if terr := a.tracer.Close(); terr != nil {
		a.log.Warn().Err(terr).Msg("spans not exported")
	}
	return err
}

// warnCredsName warns when --nats-creds names another identity than
// --name: credentials of herald auth add-agent NAME allow only NAME's
// outcomes and announcement, so every one would be refused. (Credentials
// made otherwise may allow more; so it is a warning, not an error.)
func (a *Agent) warnCredsName() {
	if a.cfg.NATS.Creds == "" {
		return
	}
	if id, err := natsconn.CredsName(a.cfg.NATS.Creds); err == nil && id != "" && id != a.cfg.Name {
		a.log.Warn().Str("name", a.cfg.Name).Str("identity", id).Str("creds", a.cfg.NATS.Creds).
			Msg("the credentials are another identity's: herald auth add-agent credentials allow only their own name's subjects (run with --name IDENTITY)")
	}
}
