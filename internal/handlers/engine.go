package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/fleet"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/source"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// HandlerWatchPrefix starts the watch name of a handler run's own outcome
// ("handler:page-on-failure"). The engine ignores outcomes whose watch
// starts with it, so handlers never run for handler outcomes; an agent
// watch must not use such a name.
const HandlerWatchPrefix = "handler:"

// Defaults of Config.
const (
	// DefaultDurable is the durable consumer on the outcomes stream that
	// every dispatcher shares, so each outcome is handled by one of them.
	DefaultDurable = "herald-handlers"
	// DefaultBucket is the key-value bucket holding all_reported state.
	DefaultBucket = "herald_handlers"
	// DefaultMaxConcurrent bounds the outcomes handled at once.
	DefaultMaxConcurrent = 16
	// DefaultCheckInterval is how often pending all_reported aggregates are
	// re-checked (an agent went stale or stopped, a wait passed).
	DefaultCheckInterval = time.Second
	// DefaultAckWait is the consumer's ack wait; a running handler keeps
	// its outcome with progress acks at a third of it.
	DefaultAckWait = 30 * time.Second
	// BucketTTL is how long all_reported state is kept; MaxWait is below
	// it so that a late outcome finds its fired aggregate.
	BucketTTL = 24 * time.Hour
)

// Config configures an Engine. The zero value is usable.
type Config struct {
	// Host names this dispatcher as the host of handler outcomes; empty
	// means the host name.
	Host string
	// Durable is the shared consumer's name; every dispatcher of a bus
	// must use the same one. Empty means DefaultDurable.
	Durable string
	// Bucket is the KV bucket for all_reported state, shared likewise.
	// Empty means DefaultBucket.
	Bucket string
	// MaxConcurrent bounds the outcomes handled at once; 0 means
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// CheckInterval: 0 means DefaultCheckInterval.
	CheckInterval time.Duration
	// AckWait: 0 means DefaultAckWait.
	AckWait time.Duration
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.MaxConcurrent < 0:
		return fmt.Errorf("handlers.max_concurrent: must not be negative")
	case c.CheckInterval < 0:
		return fmt.Errorf("handlers.check_interval: must not be negative")
	case c.AckWait < 0:
		return fmt.Errorf("handlers.ack_wait: must not be negative")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.Durable == "" {
		c.Durable = DefaultDurable
	}
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	return c
}

// Engine runs the handlers for outcomes. It is a source.Source, so the
// dispatcher runs it like an event source. Create it with New and give it
// handlers with SetHandlers, before or while it runs.
//
// Delivery: each outcome is acknowledged after every matching handler has
// run, so a dispatcher that dies mid-run leaves the outcome to be handled
// again (at least once). Handler runs do not change the outcome's fate: a
// failing handler is logged and recorded as an outcome of its own.
type Engine struct {
	cfg Config

	mu       sync.Mutex
	handlers []*compiled
}

// compiled is a validated handler with its action.
type compiled struct {
	Handler
	act actions.Action
}

var _ source.Source = (*Engine)(nil)

// New returns an engine with no handlers. Zero (or negative) fields of
// cfg take their defaults; Config.Validate reports negative ones.
func New(cfg Config) *Engine {
	return &Engine{cfg: cfg.withDefaults()}
}

// Name returns "handlers".
func (e *Engine) Name() string { return "handlers" }

// SetHandlers replaces the handlers at once. Runs in flight finish with
// the handler they started with; pending all_reported aggregates of a
// handler that is no longer there are dropped. If a handler is invalid or
// two share a name, nothing is replaced and the error says which.
func (e *Engine) SetHandlers(hs []Handler) error {
	seen := map[string]bool{}
	next := make([]*compiled, 0, len(hs))
	for _, h := range hs {
		if err := h.Validate(); err != nil {
			return fmt.Errorf("handler %q: %w", h.Name, err)
		}
		if seen[h.Name] {
			return fmt.Errorf("%w: name: duplicate handler name %q", ErrInvalidHandler, h.Name)
		}
		seen[h.Name] = true
		act, err := action(&h)
		if err != nil {
			return fmt.Errorf("handler %q: %w", h.Name, err)
		}
		h.Match.Status = append([]string(nil), h.Match.Status...)
		next = append(next, &compiled{Handler: h, act: act})
	}
	e.mu.Lock()
	e.handlers = next
	e.mu.Unlock()
	return nil
}

// current returns the handlers in effect.
func (e *Engine) current() []*compiled {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.handlers
}

// byName returns the handler in effect called name, or nil.
func (e *Engine) byName(name string) *compiled {
	for _, c := range e.current() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// run is the state of one Run.
type run struct {
	e       *Engine
	js      jetstream.JetStream
	log     zerolog.Logger
	tracker *fleet.Tracker
	agg     *aggregator
	sem     chan struct{} // bounds the outcomes handled and all_reported runs
	wg      sync.WaitGroup
	// outcomes stores the handlers' own outcomes.
	outcomes *bus.OutcomeStore
}

// Run consumes outcomes until ctx ends, then stops the runs in flight
// (their outcomes are left unacknowledged, to be handled again) and
// returns nil. If env.Interest is nil it follows the announcements itself.
func (e *Engine) Run(ctx context.Context, env source.Env) error {
	if env.JS == nil {
		return errors.New("handlers: no JetStream")
	}
	store, err := bus.NewEngineOutcomeStore(env.JS.Conn(), logging.OutcomeRetries(env.Log, "outcome not stored yet; retrying"))
	if err != nil {
		return fmt.Errorf("handlers: %w", err)
	}
	// After wg.Wait: what is left is outcomes not stored yet.
	defer store.CloseWithin(bus.EngineCloseGrace)
	r := &run{
		e: e, js: env.JS, log: env.Log, tracker: env.Interest,
		sem:      make(chan struct{}, e.cfg.MaxConcurrent),
		outcomes: store,
	}
	defer r.wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // before wg.Wait: stops every goroutine of this Run
	if r.tracker == nil {
		r.tracker = fleet.New(env.JS, env.Log.With().Str("component", "interest").Logger())
		r.wg.Go(func() { _ = r.tracker.Run(ctx) })
	}
	cons, kv, err := r.setup(ctx)
	if err != nil {
		return nil // ctx ended while retrying
	}
	r.agg = newAggregator(r, kv)
	r.wg.Go(func() { r.agg.watch(ctx) })
	r.wg.Go(func() { r.agg.tick(ctx) })
	return bus.Work(ctx, cons, bus.WorkConfig{
		Name:          "outcome",
		Durable:       e.cfg.Durable,
		MaxConcurrent: e.cfg.MaxConcurrent,
		Slots:         r.sem,
		KeepAlive:     e.cfg.AckWait / 3,
		Setup: func(ctx context.Context) (jetstream.Consumer, error) {
			cons, _, err := r.setup(ctx)
			return cons, err
		},
		Log: r.log,
	}, r.handle)
}

// BucketConfig is the all_reported bucket the engine creates, with
// replicas copies; the dispatcher recreates it from this when it is gone.
func (e *Engine) BucketConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      e.cfg.Bucket,
		Description: "herald handlers: all_reported aggregates",
		History:     1,
		TTL:         BucketTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	}
}

// setup creates or binds the shared consumer and bucket, retrying until it
// works or ctx ends.
func (r *run) setup(ctx context.Context) (jetstream.Consumer, jetstream.KeyValue, error) {
	wait := 100 * time.Millisecond
	for {
		cons, kv, err := r.try(ctx)
		if err == nil {
			return cons, kv, nil
		}
		r.log.Warn().Err(err).Float64("retry_in_ms", logging.Millis(wait)).Msg("cannot set up the outcome consumer yet")
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (r *run) try(ctx context.Context) (jetstream.Consumer, jetstream.KeyValue, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg := r.e.cfg
	st, err := r.js.Stream(ctx, events.OutcomesStream)
	if err != nil {
		return nil, nil, fmt.Errorf("stream %s: %w", events.OutcomesStream, err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "herald central handlers (shared by every dispatcher)",
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 1024,
		FilterSubject: events.OutcomePrefix + ".>",
	})
	if err != nil {
		return nil, nil, fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	kv, err := r.js.CreateOrUpdateKeyValue(ctx, r.e.BucketConfig(st.CachedInfo().Config.Replicas))
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	return cons, kv, nil
}

// handle decides one outcome: it records it for the all_reported handlers,
// runs the matching per-outcome handlers and acknowledges it.
func (r *run) handle(ctx context.Context, m jetstream.Msg) {
	var o events.Outcome
	if err := json.Unmarshal(m.Data(), &o); err != nil || o.EventID == "" {
		r.log.Warn().Str("subject", m.Subject()).Msg("malformed outcome; ignored")
		_ = m.Term()
		return
	}
	if strings.HasPrefix(o.Watch, HandlerWatchPrefix) {
		_ = m.Ack()
		return
	}
	hs := r.e.current()
	for _, h := range hs {
		if h.When != WhenAllReported || !h.Match.MatchesName(o.Watch, o.Host) {
			continue
		}
		// The events the run absorbed report superseded for this host: they
		// have no outcome of their own.
		for _, x := range append(o.Absorbed(), o) {
			if err := r.agg.record(ctx, h, x); err != nil {
				if ctx.Err() == nil {
					r.log.Warn().Err(err).Str("handler", h.Name).Str(logging.FieldEventID, x.EventID).
						Msg("cannot record the outcome for all_reported; retrying")
				}
				_ = m.NakWithDelay(time.Second)
				return
			}
		}
	}
	var wg sync.WaitGroup
	canceled := make(chan struct{}, len(hs))
	for _, h := range hs {
		if h.When != WhenEach || !h.Match.MatchesName(o.Watch, o.Host) || !h.Match.MatchesStatus(o.Status) {
			continue
		}
		wg.Go(func() {
			if !r.execute(ctx, h, outcomeRequest(h, o, m.Data())) {
				canceled <- struct{}{}
			}
		})
	}
	wg.Wait()
	if len(canceled) > 0 || ctx.Err() != nil {
		// Shutting down: a run was cut short; let another dispatcher (or
		// the next start) handle the outcome again.
		_ = m.Nak()
		return
	}
	if err := m.Ack(); err != nil {
		r.log.Warn().Err(err).Str(logging.FieldEventID, o.EventID).Msg("ack failed; the outcome will be handled again")
	}
}

// outcomeRequest is the action request for a per-outcome run: the outcome
// JSON as the data, its event's attributes, its watch and host.
func outcomeRequest(h *compiled, o events.Outcome, data []byte) actions.Request {
	env := map[string]string{
		EnvHandler: h.Name,
		EnvStatus:  string(o.Status),
	}
	if o.ExitCode != nil {
		env[EnvExitCode] = fmt.Sprint(*o.ExitCode)
	}
	if o.Signal != "" {
		env[EnvSignal] = o.Signal
	}
	return actions.Request{
		Event: events.Event{
			ID: o.EventID, Source: EventSource, Type: o.EventType, Key: o.Key, Version: o.Version,
			DataContentType: "application/json", Data: data,
		},
		Watch: o.Watch, Host: o.Host, Attempt: 1, Env: env,
	}
}

// execute runs h for req and records the run as an outcome. It reports
// false when the run was cut short because ctx ended, or ctx ended before
// its outcome was stored.
func (r *run) execute(ctx context.Context, h *compiled, req actions.Request) bool {
	res := h.act.Run(ctx, req)
	if ctx.Err() != nil && res.Status != events.StatusOK {
		r.log.Info().Str("handler", h.Name).Str(logging.FieldEventID, req.Event.ID).Msg("handler run cut short by shutdown")
		return false
	}
	o := events.Outcome{
		EventID: req.Event.ID, EventType: req.Event.Type, Key: req.Event.Key, Version: req.Event.Version,
		Watch: HandlerWatchPrefix + h.Name, Host: r.e.cfg.Host,
		Status: res.Status, ExitCode: res.ExitCode, Signal: res.Signal, Attempts: 1,
		Start: res.Started, DurationMS: float64(res.Duration) / float64(time.Millisecond),
		Stdout: res.Stdout, Stderr: res.Stderr,
	}
	if res.Err != nil {
		o.Error = res.Err.Error()
	}
	ev := r.log.Debug()
	if res.Status != events.StatusOK {
		ev = r.log.Warn().Str("stderr", res.Stderr).AnErr("error", res.Err)
	}
	ev.Str("handler", h.Name).Str(logging.FieldEventID, req.Event.ID).Str(logging.FieldWatch, req.Watch).
		Str(logging.FieldHost, req.Host).Str("status", string(res.Status)).Float64("duration_ms", logging.Millis(res.Duration)).Msg("handler ran")
	// One handler outcome per handled outcome: the id names the outcome's
	// watch and host too, as several hosts report the same event. The
	// handled outcome is acked only once this one is stored.
	id := events.OutcomeMsgID(req.Event, o.Host, o.Watch, req.Watch, req.Host)
	if err := r.outcomes.StoreWait(ctx, o, id); err != nil {
		r.log.Warn().Err(err).Str("handler", h.Name).Str(logging.FieldEventID, req.Event.ID).Msg("handler outcome not stored; the outcome will be handled again")
		return false
	}
	return true
}
