package callhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/heraldhq/herald/internal/hookfile"
	"maps"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/fleet"
	"github.com/heraldhq/herald/internal/handlerspec"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/source"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Defaults of Config.
const (
	// DefaultDurable is the consumer of call.post and call.err events that
	// every dispatcher shares, so each event's hooks run once.
	DefaultDurable = "herald-call-hooks"
	// DefaultMaxConcurrent bounds the post and err events handled at once.
	DefaultMaxConcurrent = 16
	// DefaultReloadDelay debounces changes in the hooks directory.
	DefaultReloadDelay = 100 * time.Millisecond
	// DefaultAgentGrace is how long past a hook's timeout and kill grace
	// the dispatcher waits for an agent's reply.
	DefaultAgentGrace = 5 * time.Second
	// auditTimeout bounds storing a call.hooks_skipped event.
	auditTimeout = 10 * time.Second
)

// Sentinel errors.
var (
	// ErrNotRunning is returned when the engine is asked about a call
	// before Run has started or after it ended.
	ErrNotRunning = errors.New("call hooks engine not running")
	// ErrInvalidConfig wraps every configuration problem.
	ErrInvalidConfig = errors.New("invalid call hooks config")
	// ErrCallerRequired: with RequireCaller, a pre request came without an
	// identity.
	ErrCallerRequired = errors.New("call refused: no caller identity")
	// ErrSkipNotAllowed: with RequireCaller, a pre request asked to skip
	// hooks on the subject of identities without that right.
	ErrSkipNotAllowed = errors.New("call refused: skipping hooks not allowed")
)

// Config configures an Engine.
type Config struct {
	// Dir is the hooks directory; empty means no hook files (every call is
	// allowed, post and err events are still published).
	Dir string
	// Disabled, when not empty, is the reason hooks are disabled
	// dispatcher-wide (config hooks_disabled): every call is allowed
	// without running any hook, and each pre records call.hooks_skipped.
	Disabled string
	// Host names this dispatcher in outcomes, audit events and the status;
	// empty means the host name.
	Host string
	// Durable is the shared consumer of call.post and call.err; empty
	// means DefaultDurable.
	Durable string
	// MaxConcurrent: 0 means DefaultMaxConcurrent.
	MaxConcurrent int
	// ReloadDelay: 0 means DefaultReloadDelay.
	ReloadDelay time.Duration
	// AgentGrace: 0 means DefaultAgentGrace.
	AgentGrace time.Duration
	// Methods are the methods calls may name (config call_methods); empty
	// means call.DefaultMethods. A call to another method is denied, and a
	// hook file naming one is not loaded.
	Methods []string
	// Replicas of the status bucket (config streams.replicas); 0 means 1.
	Replicas int
	// RequireCaller is set when the dispatcher runs with --auth: a pre
	// request must come from an identity (herald.call.pre.<method>.<caller>,
	// which only that identity may publish on), and skip_hooks only on
	// herald.call.skip.<method>.<caller> (which only identities with the
	// right to skip hooks may publish on). Off, requests without a caller
	// are answered as before issue 10.
	RequireCaller bool
	// Tracer makes each central hook's span (a child of the call's); nil
	// does not export them.
	Tracer *tracing.Provider
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.MaxConcurrent < 0:
		return fmt.Errorf("%w: max_concurrent: must not be negative", ErrInvalidConfig)
	case c.ReloadDelay < 0:
		return fmt.Errorf("%w: reload_delay: must not be negative", ErrInvalidConfig)
	case c.AgentGrace < 0:
		return fmt.Errorf("%w: agent_grace: must not be negative", ErrInvalidConfig)
	}
	if err := hookfile.ValidateMethods(c.Methods); err != nil {
		return fmt.Errorf("%w: call_methods%v", ErrInvalidConfig, err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Host == "" {
		c.Host, _ = os.Hostname()
		if c.Host == "" {
			c.Host = "dispatcher"
		}
	}
	if c.Durable == "" {
		c.Durable = DefaultDurable
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	if c.ReloadDelay <= 0 {
		c.ReloadDelay = DefaultReloadDelay
	}
	if c.AgentGrace <= 0 {
		c.AgentGrace = DefaultAgentGrace
	}
	c.Methods = hookfile.MethodsOrDefault(c.Methods)
	return c
}

// HandlerSink takes the handlers: entries of the hook files whenever they
// change; *handlers.Engine is one.
type HandlerSink interface {
	SetHandlers([]handlerspec.Handler) error
}

// Engine is the call hooks engine. It is a source.Source: the dispatcher
// runs it like its event sources. Build it with New, mount its HTTP
// endpoints with Mount, then Run it; Ready is closed once it answers pre
// requests.
type Engine struct {
	cfg      Config
	sink     HandlerSink
	set      atomic.Pointer[hookfile.Set]
	rt       atomic.Pointer[runtime]
	ready    chan struct{}
	readyOne sync.Once
	stopped  chan struct{}
	stopOne  sync.Once
	reloadCh chan struct{}
	m        *metrics
	// recorder is told every pre verdict (SetVerdictRecorder; nil: none).
	recorder atomic.Pointer[VerdictRecord]
}

// runtime is what a running engine has.
type runtime struct {
	ctx   context.Context
	nc    *nats.Conn
	js    jetstream.JetStream
	pub   source.Publisher
	log   zerolog.Logger
	fleet *fleet.Tracker // the dispatcher's, or the engine's own without one
	wg    *sync.WaitGroup
	// outcomes stores the post and err hooks' outcomes.
	outcomes *bus.OutcomeStore
}

var _ source.Source = (*Engine)(nil)

// New validates cfg and returns an engine with no hooks loaded; nothing
// happens until Run.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg.withDefaults(), ready: make(chan struct{}), stopped: make(chan struct{}), reloadCh: make(chan struct{}, 1), m: newMetrics()}
	e.set.Store(&hookfile.Set{Jobs: map[string]*hookfile.JobFile{}, Broken: map[string]string{}})
	return e, nil
}

// SetHandlerSink sets who gets the handlers: entries; call it before Run.
func (e *Engine) SetHandlerSink(s HandlerSink) { e.sink = s }

// Name returns "calls".
func (e *Engine) Name() string { return "calls" }

// Ready is closed once Run has loaded the hooks directory and answers pre
// requests.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Stopped is closed when Run has returned (after ctx ended, or on an
// error before Ready).
func (e *Engine) Stopped() <-chan struct{} { return e.stopped }

// Current returns the hooks in effect.
func (e *Engine) Current() *hookfile.Set { return e.set.Load() }

// Host is the name the engine records outcomes and audit events under.
func (e *Engine) Host() string { return e.cfg.Host }

// Reload asks a running engine to rescan the hooks directory now.
func (e *Engine) Reload() {
	select {
	case e.reloadCh <- struct{}{}:
	default:
	}
}

// Run loads the hooks directory, answers pre requests, runs post and err
// hooks and follows the directory until ctx ends. It returns an error only
// when the hooks directory cannot be read at start or NATS refuses the
// subscription.
func (e *Engine) Run(ctx context.Context, env source.Env) error {
	defer e.stopOne.Do(func() { close(e.stopped) })
	if env.JS == nil {
		return errors.New("call hooks: no JetStream")
	}
	store, err := bus.NewEngineOutcomeStore(env.JS.Conn(), logging.OutcomeRetries(env.Log, "outcome not stored yet; retrying"))
	if err != nil {
		return fmt.Errorf("call hooks: %w", err)
	}
	// After wg.Wait: what is left is outcomes not stored yet.
	defer store.CloseWithin(bus.EngineCloseGrace)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rt := &runtime{ctx: ctx, nc: env.JS.Conn(), js: env.JS, pub: env.Pub, log: env.Log, wg: &wg, outcomes: store}
	rt.fleet = env.Interest
	ownFleet := rt.fleet == nil
	if ownFleet {
		rt.fleet = fleet.New(env.JS, env.Log.With().Str("component", "fleet").Logger())
	}
	ld := hookfile.NewLoader(e.cfg.Dir, e.cfg.Methods, env.Log)
	dw := hookfile.Watch(e.cfg.Dir, rt.log) // before the first scan: no change after it is missed
	if err := e.rescan(rt, ld); err != nil {
		dw.Close()
		return err
	}
	if e.cfg.Disabled != "" {
		env.Log.Warn().Str("hooks_disabled", e.cfg.Disabled).Msg("call hooks are disabled dispatcher-wide: every call is allowed and audited")
	}
	if ownFleet {
		wg.Go(func() { _ = rt.fleet.Run(ctx) })
	}

	// Answers run in goroutines owned by wg; once closing is set no new
	// one starts, so wg.Wait below is final.
	var closeMu sync.Mutex
	closing := false
	defer func() {
		closeMu.Lock()
		closing = true
		closeMu.Unlock()
	}()
	onPre := func(m *nats.Msg) {
		closeMu.Lock()
		defer closeMu.Unlock()
		if closing || ctx.Err() != nil {
			return
		}
		wg.Go(func() { e.answer(rt, m) })
	}
	var subs []*nats.Subscription
	unsubscribe := func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}
	for _, prefix := range []string{call.PrePrefix, call.SkipPrefix} {
		sub, err := rt.nc.QueueSubscribe(prefix+".>", call.QueueGroup, onPre)
		if err != nil {
			unsubscribe()
			dw.Close()
			return fmt.Errorf("call hooks: subscribe %s.>: %w", prefix, err)
		}
		subs = append(subs, sub)
	}
	if err := rt.nc.FlushTimeout(10 * time.Second); err != nil {
		unsubscribe()
		dw.Close()
		return fmt.Errorf("call hooks: subscribe %s.>: %w", call.PrePrefix, err)
	}
	// The consumer exists before Ready, so that no call.post or call.err
	// stored after Ready is missed.
	cons := e.setupConsumer(rt)
	if cons == nil {
		unsubscribe()
		dw.Close()
		return nil // ctx ended
	}
	e.rt.Store(rt)
	e.readyOne.Do(func() { close(e.ready) })
	env.Log.Info().Str("dir", e.cfg.Dir).Int("hooks", len(e.Current().Hooks)).Msg("answering call.pre requests")

	wg.Go(func() { e.consume(rt, cons) })
	wg.Go(func() { e.watchDir(rt, ld, dw) })

	<-ctx.Done()
	e.rt.Store(nil)
	unsubscribe()
	closeMu.Lock()
	closing = true
	closeMu.Unlock()
	cancel()
	wg.Wait()
	e.publishStatus(rt, true)
	return nil
}

// answer replies to one pre request.
func (e *Engine) answer(rt *runtime, m *nats.Msg) {
	var c call.Call
	var v call.Verdict
	method, caller, viaSkip, subjErr := call.ParsePreSubject(m.Subject)
	switch err := json.Unmarshal(m.Data, &c); {
	case err != nil:
		v = call.Verdict{Error: fmt.Sprintf("bad request: %v", err)}
	case subjErr != nil:
		v = call.Verdict{CallID: c.ID, Error: subjErr.Error()}
	case c.Method != "" && c.Method != method:
		// Permissions may be per method: the subject's is the one that
		// was allowed.
		v = call.Verdict{CallID: c.ID, Error: fmt.Sprintf("method: the request says %q, its subject %q", c.Method, method)}
	default:
		if c.Method == "" {
			c.Method = method
		}
		// The identity is the subject's, which NATS permissions reserve
		// to it; never what the body says.
		c.Caller = caller
		if err := e.authorize(c, viaSkip); err != nil {
			v = call.Verdict{CallID: c.ID, Error: err.Error()}
			rt.log.Warn().Err(err).Str("call_id", c.ID).Str("method", c.Method).Str("job", c.Job).
				Str("caller", c.Caller).Str("user", c.User).Msg("call.pre refused")
			break
		}
		v = e.pre(rt, c)
	}
	e.m.verdict(method, e.cfg.Methods, v)
	e.record(c, method, v)
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	if err := m.Respond(data); err != nil {
		rt.log.Warn().Err(err).Str("call_id", v.CallID).Msg("cannot answer call.pre")
	}
}

// authorize checks who asks, with RequireCaller (the dispatcher's
// --auth): a call needs an identity, and skip_hooks the right to skip
// (mayskip: the request came on the skip subject, which only identities
// with the right may publish on, or PreAs's caller checked it).
func (e *Engine) authorize(c call.Call, maySkip bool) error {
	if !e.cfg.RequireCaller {
		return nil
	}
	if c.Caller == "" {
		return fmt.Errorf("%w: this dispatcher runs with --auth: a call needs an identity (herald call --nats-creds FILE sends it as %s.<method>.<caller>; over HTTP, a bearer token)", ErrCallerRequired, call.PrePrefix)
	}
	if len(c.SkipHooks) > 0 && !maySkip {
		return fmt.Errorf("%w: identity %q lacks the right to skip hooks (grant it with herald auth add-deployer NAME --may-skip-hooks, or add-publisher NAME ... --may-skip-hooks; herald call sends skip_hooks on %s.<method>.<caller>)", ErrSkipNotAllowed, c.Caller, call.SkipPrefix)
	}
	return nil
}

// Pre evaluates a call's pre hooks and returns the verdict; c.Caller is
// the identity its caller authenticated (the HTTP API's), without the right
// to skip hooks (PreAs).
func (e *Engine) Pre(ctx context.Context, c call.Call) call.Verdict { return e.PreAs(ctx, c, false) }

// PreAs is Pre for a call whose identity c.Caller the caller of PreAs
// authenticated; maySkip says whether that identity holds the right to
// skip hooks. With RequireCaller, a call without an identity, or skipping
// hooks without the right, is refused.
func (e *Engine) PreAs(ctx context.Context, c call.Call, maySkip bool) call.Verdict {
	rt := e.rt.Load()
	if rt == nil {
		return call.Verdict{CallID: c.ID, Error: ErrNotRunning.Error()}
	}
	if err := e.authorize(c, maySkip); err != nil {
		rt.log.Warn().Err(err).Str("call_id", c.ID).Str("method", c.Method).Str("job", c.Job).
			Str("caller", c.Caller).Str("user", c.User).Msg("call.pre refused")
		v := call.Verdict{CallID: c.ID, Error: err.Error()}
		e.m.verdict(c.Method, e.cfg.Methods, v)
		e.record(c, c.Method, v)
		return v
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(rt.ctx, cancel)
	defer stop()
	r := *rt
	r.ctx = ctx
	v := e.pre(&r, c)
	e.m.verdict(c.Method, e.cfg.Methods, v)
	e.record(c, c.Method, v)
	return v
}

func (e *Engine) pre(rt *runtime, c call.Call) call.Verdict {
	c.Phase = call.PhasePre
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	if c.Time.IsZero() {
		c.Time = time.Now().UTC()
	}
	v := call.Verdict{CallID: c.ID, Hooks: []call.HookVerdict{}}
	log := rt.log.With().Str("call_id", c.ID).Str("method", c.Method).Str("job", c.Job).Str("caller", c.Caller).Logger()
	if err := c.Validate(); err != nil {
		v.Error = err.Error()
		log.Warn().Err(err).Msg("call.pre refused: invalid call")
		return v
	}
	// Before the kill switch: a typo is denied even with hooks disabled.
	if err := call.CheckKnownMethod(c.Method, e.cfg.Methods); err != nil {
		v.Error = err.Error()
		log.Warn().Err(err).Msg("call.pre denied: unknown method")
		return v
	}
	job, _ := call.ParseJob(c.Job)
	set := e.Current()
	matched, _ := set.Matching(call.PhasePre, c.Method, job)

	if reason := e.cfg.Disabled; reason != "" {
		v.HooksDisabled = reason
		v.Skipped = names(matched)
		if err := e.audit(rt, c, []string{call.SkipAll}, v.Skipped, reason, call.SkippedByHooksDisabled); err != nil {
			v.Error = fmt.Sprintf("hooks are disabled, but the call.hooks_skipped audit event could not be stored: %v", err)
			log.Error().Err(err).Msg("call denied: audit event not stored")
			return v
		}
		v.Allow = true
		log.Info().Str("hooks_disabled", reason).Strs("skipped", v.Skipped).Msg("call allowed: hooks disabled dispatcher-wide")
		return v
	}

	var run []*hookfile.Hook
	for _, h := range matched {
		if c.Skips(h.Name) {
			v.Skipped = append(v.Skipped, h.Name)
			continue
		}
		run = append(run, h)
	}
	if len(c.SkipHooks) > 0 {
		if err := e.audit(rt, c, c.SkipHooks, v.Skipped, c.Reason, call.SkippedByCaller); err != nil {
			v.Error = fmt.Sprintf("skipping hooks needs the call.hooks_skipped audit event, which could not be stored: %v", err)
			log.Error().Err(err).Msg("call denied: audit event not stored")
			return v
		}
	}
	v.Allow = true
	for _, r := range e.runAll(rt, run, c, call.PhasePre) {
		hv := r.HookVerdict
		v.Hooks = append(v.Hooks, hv)
		if hv.Status == call.StatusConfirm {
			// The caller asks; Allow stays false for a caller that cannot.
			v.Confirm = append(v.Confirm, call.Confirmation{Hook: hv.Hook, Question: hv.Reason})
		} else {
			e.m.preTime.WithLabelValues(hv.Hook).Observe(seconds(hv.DurationMS))
		}
		if !hv.Allow {
			v.Allow = false
			v.Denied = append(v.Denied, hv)
		}
	}
	ev := log.Info()
	if !v.Allow {
		ev = log.Warn()
	}
	ev.Strs("hooks", names(run)).Strs("skipped", v.Skipped).Strs("denied", verdictNames(v.Denied)).Bool("allow", v.Allow).Msg("call.pre decided")
	return v
}

// runAll runs hooks in parallel and returns their verdicts in hook order
// (an agents hook gives one verdict per agent).
func (e *Engine) runAll(rt *runtime, hs []*hookfile.Hook, c call.Call, phase string) []hookRun {
	results := make([][]hookRun, len(hs))
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() { results[i] = e.runHook(rt, h, c, phase) })
	}
	wg.Wait()
	var out []hookRun
	for _, r := range results {
		out = append(out, r...)
	}
	return out
}

// audit stores a call.hooks_skipped event and waits for JetStream.
func (e *Engine) audit(rt *runtime, c call.Call, requested, skipped []string, reason, by string) error {
	rec := call.HooksSkipped{
		CallID: c.ID, Method: c.Method, Job: c.Job, User: c.User, Host: c.Host, Caller: c.Caller,
		Requested: requested, Skipped: skipped, Reason: reason, By: by,
		Dispatcher: e.cfg.Host, Time: time.Now().UTC(),
	}
	if rec.Skipped == nil {
		rec.Skipped = []string{}
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ev := events.New(e.source(), call.TypeHooksSkipped, c.Job, data)
	ev.DataContentType = "application/json"
	ctx, cancel := context.WithTimeout(rt.ctx, auditTimeout)
	defer cancel()
	_, err = rt.pub.Publish(ctx, ev)
	if err == nil {
		e.m.skips.WithLabelValues(by).Inc()
		rt.log.Warn().Str("call_id", c.ID).Str("method", c.Method).Str("job", c.Job).
			Str("user", c.User).Str("caller", c.Caller).Str("caller_host", c.Host).Strs("skipped", rec.Skipped).
			Str("reason", reason).Str("by", by).Msg("call hooks skipped")
	}
	return err
}

// Report publishes a call's result as a call.post or call.err event (by
// c.Phase) and returns the event id; the post and err hooks then run from
// the events stream, on whichever dispatcher takes the event.
func (e *Engine) Report(ctx context.Context, c call.Call) (string, error) {
	rt := e.rt.Load()
	if rt == nil {
		return "", ErrNotRunning
	}
	if c.Time.IsZero() {
		c.Time = time.Now().UTC()
	}
	if err := c.Validate(); err != nil {
		return "", err
	}
	if c.Phase == call.PhasePre {
		return "", fmt.Errorf("%w: phase: report post or err", call.ErrInvalidCall)
	}
	if err := call.CheckKnownMethod(c.Method, e.cfg.Methods); err != nil {
		return "", fmt.Errorf("%w: %w", call.ErrInvalidCall, err)
	}
	ev, err := call.ResultEvent(e.source(), c)
	if err != nil {
		return "", err
	}
	res, err := rt.pub.Publish(ctx, ev)
	if err != nil {
		return "", err
	}
	return res.ID, nil
}

func (e *Engine) source() string { return "herald://dispatcher/" + e.cfg.Host }

// rescan loads what changed, installs the new set, hands the handlers on
// and publishes the status when something changed.
func (e *Engine) rescan(rt *runtime, ld *hookfile.Loader) error {
	prev := e.Current()
	first := e.rt.Load() == nil
	set, changed, err := ld.Scan(nil)
	if err != nil {
		if first {
			return err
		}
		rt.log.Error().Err(err).Msg("cannot read the hooks dir; keeping the loaded hooks")
		return nil
	}
	e.set.Store(set)
	if changed || first {
		if e.sink != nil {
			if err := e.sink.SetHandlers(set.Handlers); err != nil {
				rt.log.Error().Err(err).Msg("handlers not replaced; the previous handlers stay active")
			}
		}
	}
	if changed || first || !maps.Equal(prev.Broken, set.Broken) {
		e.publishStatus(rt, false)
	}
	return nil
}

// watchDir rescans the hooks directory (and its jobs/) when it changes,
// debounced, or when Reload is called.
func (e *Engine) watchDir(rt *runtime, ld *hookfile.Loader, w *hookfile.Watcher) {
	defer w.Close()
	fsEvents, fsErrors := w.Events()
	var debounce <-chan time.Time
	for {
		select {
		case <-rt.ctx.Done():
			return
		case ev, ok := <-fsEvents:
			if !ok {
				fsEvents = nil
				continue
			}
			if !w.Relevant(ev) {
				continue
			}
			debounce = time.After(e.cfg.ReloadDelay)
		case err, ok := <-fsErrors:
			if !ok {
				fsErrors = nil
				continue
			}
			rt.log.Warn().Err(err).Msg("watching the hooks dir")
			debounce = time.After(e.cfg.ReloadDelay)
		case <-e.reloadCh:
			w.AddJobs()
			_ = e.rescan(rt, ld)
		case <-debounce:
			debounce = nil
			w.AddJobs()
			_ = e.rescan(rt, ld)
		}
	}
}

func names(hs []*hookfile.Hook) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func verdictNames(vs []call.HookVerdict) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		n := v.Hook
		if v.Agent != "" {
			n += "@" + v.Agent
		}
		out = append(out, n)
	}
	return out
}
