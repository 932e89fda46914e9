package watchrun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/runmode"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/rs/zerolog"
)

// run is one started item of a watch.
type run struct {
	item   runmode.Item
	notify chan struct{}
	policy runmode.Policy // the policy that started it; Done goes back to it
	// cancelWait ends its wait for a rollout turn (set while it waits);
	// supersededBy is the newer event of its key that did (queue mode).
	cancelWait   context.CancelFunc
	supersededBy *Delivery
}

// Runtime is one loaded watch: its config, action and run-mode policy.
// Its mutex guards the policy and the runs map; actions start outside it.
type Runtime struct {
	env *Env

	mu      sync.Mutex
	w       *watch.Watch
	action  actions.Action
	policy  runmode.Policy
	running map[uint64]*run
	// parked are the keys' halted events waiting for their rollout to be
	// resumed (rollout.go).
	parked  map[string]parkedEvent
	waiting []string // events waiting for their rollout turn, oldest first
	removed bool
	stopped string // non-empty: why the watch stopped (on_failure: stop)
	// retries is cancelled, with the reason as its cause, when this
	// version of the watch is changed or removed: runs started by it try
	// no further attempt.
	retries       context.Context
	cancelRetries context.CancelCauseFunc
}

// Why a run's retries stopped early; the cause of Runtime.retries.
var (
	errWatchChanged = errors.New("the watch was changed")
	errWatchRemoved = errors.New("the watch was removed")
)

// New builds the runtime of watch w, which decides and runs in env.
func New(env *Env, w *watch.Watch) (*Runtime, error) {
	act, err := env.build(w)
	if err != nil {
		return nil, err
	}
	p, err := runmode.New(w.RunMode, w.MaxParallel)
	if err != nil {
		return nil, err
	}
	env.Metrics.addWatch(w.Name)
	rt := &Runtime{env: env, w: w, action: act, policy: p, running: map[uint64]*run{}, parked: map[string]parkedEvent{}}
	rt.retries, rt.cancelRetries = context.WithCancelCause(context.Background())
	return rt, nil
}

// BuildAction turns a watch into its action: the watch's fields as an
// actions.Spec for actions.Build. watch.Parse has checked that exactly one
// kind is set.
func BuildAction(w *watch.Watch) (actions.Action, error) {
	var sig syscall.Signal
	if w.NotifySignal != "" {
		sig, _ = watch.ParseSignal(w.NotifySignal)
	}
	spec := actions.Spec{
		PipeStdin:    w.PipesStdin(),
		Env:          w.Env,
		Workdir:      w.Workdir,
		User:         w.User,
		Group:        w.Group,
		Timeout:      w.Timeout.D,
		KillGrace:    w.Grace(),
		NotifySignal: sig,
	}
	switch {
	case w.HooksDir != "":
		spec.Kind, spec.Dir = actions.KindHooksDir, w.HooksDir
	case !w.Exec.IsZero():
		spec.Kind, spec.Argv = actions.KindExec, w.Exec.Args()
	default:
		return nil, fmt.Errorf("watch %q: no action: want exec or hooksdir", w.Name)
	}
	return actions.Build(spec)
}

// Update swaps in a new version of the watch. In-flight runs finish with
// the action they started with; pending events move to the new policy when
// the run mode changed.
func (rt *Runtime) Update(w *watch.Watch) error {
	act, err := rt.env.build(w)
	if err != nil {
		return err
	}
	var p runmode.Policy
	rt.mu.Lock()
	if rt.w.RunMode != w.RunMode || rt.w.MaxParallel != w.MaxParallel {
		if p, err = runmode.New(w.RunMode, w.MaxParallel); err != nil {
			rt.mu.Unlock()
			return err
		}
	}
	rt.w, rt.action, rt.stopped = w, act, ""
	rt.cancelRetries(errWatchChanged)
	rt.retries, rt.cancelRetries = context.WithCancelCause(context.Background())
	var moved []runmode.Item
	if p != nil {
		moved = rt.policy.Drain()
		rt.policy = p
	}
	rt.mu.Unlock()
	for _, it := range moved {
		rt.Offer(it.Value.(*Delivery))
	}
	return nil
}

// Remove stops the watch taking events. Pending events are let go (acked
// once no other watch holds them); in-flight runs finish.
func (rt *Runtime) Remove() {
	rt.mu.Lock()
	rt.removed = true
	rt.cancelRetries(errWatchRemoved)
	for k := range rt.parked {
		rt.unpark(k, ^uint64(0))
	}
	pending := rt.policy.Drain()
	rt.mu.Unlock()
	for _, it := range pending {
		rt.env.Release(it.Value.(*Delivery))
	}
}

// Waiting lists the events waiting for their rollout turn, oldest first.
func (rt *Runtime) Waiting() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.waiting)
}

// Watch is the version of the watch in use.
func (rt *Runtime) Watch() *watch.Watch {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.w
}

// Offer hands an event to the watch's policy and carries out its decision.
func (rt *Runtime) Offer(d *Delivery) {
	rt.mu.Lock()
	if rt.removed {
		rt.mu.Unlock()
		rt.env.Release(d)
		return
	}
	if rt.stopped != "" {
		w, why := rt.w, rt.stopped
		rt.mu.Unlock()
		rt.env.decide(w, d, events.Outcome{Status: events.StatusDiscarded, Error: why})
		return
	}
	it := runmode.Item{Key: d.Event.Key, Seq: d.Seq, Value: d, Again: d.resumed}
	res := rt.policy.Offer(it)
	if !res.Stale(it) {
		rt.newerWhileWaiting(it)
		rt.unpark(it.Key, it.Seq)
	}
	// Fold each superseded event into the one that replaced it before
	// rt.mu is let go: the replacing event cannot start (and publish its
	// outcome) before it holds the record.
	for _, dr := range res.Dropped {
		if dr.By != nil {
			dr.By.Value.(*Delivery).absorb(rt.w.Name, dr.Item.Value.(*Delivery))
		}
	}
	rt.mu.Unlock()
	rt.carryOut(res)
}

func (rt *Runtime) carryOut(res runmode.Result) {
	rt.mu.Lock()
	w := rt.w
	var notify []chan struct{}
	for _, it := range res.Notify {
		if r, ok := rt.running[it.Seq]; ok {
			notify = append(notify, r.notify)
		}
	}
	starts := make([]*run, 0, len(res.Start))
	for _, it := range res.Start {
		r := &run{item: it, notify: make(chan struct{}, 1), policy: rt.policy}
		rt.running[it.Seq] = r
		starts = append(starts, r)
	}
	act, retries := rt.action, rt.retries
	rt.mu.Unlock()

	for _, dr := range res.Dropped {
		d := dr.Item.Value.(*Delivery)
		switch {
		case dr.Status == string(events.StatusDiscarded):
			rt.env.decide(w, d, events.Outcome{Status: events.StatusDiscarded})
		case dr.By != nil:
			rt.env.supersede(w, d, dr.By.Value.(*Delivery))
		default:
			// A redelivery, or an older event arriving after a newer one for
			// its key already started: nothing to decide, only to let go.
			rt.env.Metrics.collapsed.WithLabelValues(w.Name).Inc()
			rt.env.Release(d)
		}
	}
	for _, c := range notify {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	for _, r := range starts {
		if !rt.env.Start(func(ctx context.Context) { rt.execute(ctx, retries, w, act, r) }) {
			// Shutting down: leave the event unacknowledged for redelivery.
			return
		}
	}
}

// execute runs one item through all its attempts, publishes the outcome,
// lets go of the event and asks the policy for the next. ctx ends with
// the agent (the process is terminated, no outcome); retries ends when
// this version of the watch is changed or removed: the attempt in flight
// finishes, no further one starts, and the outcome is that of the last
// attempt with error saying why the retries stopped.
func (rt *Runtime) execute(ctx, retries context.Context, w *watch.Watch, act actions.Action, r *run) {
	d := r.item.Value.(*Delivery)
	// rt.env.Log carries the host already.
	lc := rt.env.Log.With().Str(logging.FieldEventID, d.Event.ID).Str(logging.FieldWatch, w.Name).
		Str(logging.FieldKey, d.Event.Key)
	if w.Description != "" {
		lc = lc.Str(logging.FieldDescription, w.Description)
	}
	log := lc.Logger()
	turn, ok := rt.waitTurn(ctx, w, r, d, log)
	if !ok {
		return
	}
	m := rt.env.Metrics
	m.inFlight.WithLabelValues(w.Name).Inc()
	defer m.inFlight.WithLabelValues(w.Name).Dec()
	if turn != nil {
		m.turns.WithLabelValues(w.Name).Inc()
		defer m.turns.WithLabelValues(w.Name).Dec()
	}
	start := time.Now()
	span := rt.env.Tracer.StartRun(ctx, d.Event, w.Name, rt.env.Host)
	var res actions.Result
	var started time.Time // when the first attempt's process was running
	attempts := 0
	var retriesStopped error
	for attempt := 1; attempt <= w.Attempts(); attempt++ {
		attempts = attempt
		log.Debug().Int("attempt", attempt).Msg("run starting")
		res = act.Run(ctx, actions.Request{Event: d.Event, Watch: w.Name, Host: rt.env.Host, Attempt: attempt, Notify: r.notify,
			TraceParent: span.TraceParent(), TraceState: span.TraceState()})
		if started.IsZero() && !res.Started.IsZero() {
			started = res.Started
			if !d.Event.Time.IsZero() {
				m.latency.WithLabelValues(w.Name).Observe(started.Sub(d.Event.Time).Seconds())
			}
		}
		if res.Status == events.StatusOK || ctx.Err() != nil || attempt == w.Attempts() {
			break
		}
		if retries.Err() != nil {
			retriesStopped = context.Cause(retries)
			break
		}
		var backoff time.Duration
		if w.Retry != nil {
			backoff = w.Retry.Backoff.D * time.Duration(attempt)
		}
		log.Warn().Int("attempt", attempt).Str("status", string(res.Status)).
			Float64("retry_in_ms", logging.Millis(backoff)).Msg("run failed, retrying")
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-retries.Done():
		case <-t.C:
		}
		t.Stop()
		if ctx.Err() != nil {
			break
		}
		if retries.Err() != nil {
			retriesStopped = context.Cause(retries)
			break
		}
	}
	if ctx.Err() != nil {
		// The agent is stopping: the process was terminated. The event stays
		// unacknowledged and runs again when the agent is back.
		log.Warn().Str("status", string(res.Status)).Msg("run stopped by agent shutdown; event will be redelivered")
		span.End()
		if turn != nil {
			turn.Abandon()
		}
		return
	}
	if started.IsZero() {
		started = start
	}
	o := events.Outcome{
		Status: res.Status, ExitCode: res.ExitCode, Signal: res.Signal, Attempts: attempts,
		Start: started.UTC(), DurationMS: float64(time.Since(start).Microseconds()) / 1000,
		Stdout: res.Stdout, Stderr: res.Stderr, TraceID: span.TraceID(),
	}
	if res.Err != nil {
		o.Error = res.Err.Error()
	}
	if retriesStopped != nil {
		why := fmt.Sprintf("retries stopped after attempt %d of %d: %v", attempts, w.Attempts(), retriesStopped)
		if o.Error != "" {
			why += "; " + o.Error
		}
		o.Error = why
		log.Warn().Int("attempt", attempts).Err(retriesStopped).Msg("retries stopped")
	}
	span.Ran(o.Status, o.ExitCode, attempts)
	m.duration.WithLabelValues(w.Name).Observe(time.Since(start).Seconds())
	ev := log.Info()
	if res.Status != events.StatusOK {
		ev = log.Warn()
	}
	ev.Str("status", string(res.Status)).Int("attempts", attempts).Float64("duration_ms", o.DurationMS).
		Interface("exit_code", res.ExitCode).Str("signal", res.Signal).Str("trace_id", o.TraceID).Msg("run finished")
	if turn != nil {
		// The rollout hears how the run ended (a failure counted) before
		// the turn is free and before the outcome is published.
		turn.Finish(o)
		if !d.Event.Time.IsZero() {
			m.toDone.WithLabelValues(w.Name).Observe(time.Since(d.Event.Time).Seconds())
		}
	}
	rt.env.decide(w, d, o)
	rt.finish(w, r, res.Status, log)
}

// finish ends run r of w, which decided its event with status: the
// policy hears it is done and starts what it starts next.
func (rt *Runtime) finish(w *watch.Watch, r *run, status events.Status, log zerolog.Logger) {
	rt.mu.Lock()
	if rt.running[r.item.Seq] == r { // not a newer stream's event of the same seq
		delete(rt.running, r.item.Seq)
	}
	if status != events.StatusOK && status != events.StatusHalted && status != events.StatusSuperseded &&
		w.OnFailure == watch.FailureStop && rt.w == w {
		rt.stopped = "watch stopped after a failed run (on_failure: stop); fix and reload its file"
		log.Error().Msg(rt.stopped)
	}
	// After a run-mode change the old policy only finishes its own runs;
	// the new one started empty, so for that moment the watch can have
	// one run of each.
	next := r.policy.Done(r.item)
	var drained []runmode.Item
	why := rt.stopped
	if why != "" {
		drained = rt.policy.Drain()
	}
	rt.mu.Unlock()
	rt.carryOut(next)
	for _, it := range drained {
		rt.env.decide(w, it.Value.(*Delivery), events.Outcome{Status: events.StatusDiscarded, Error: why})
	}
}

// RestartPolicy replaces the watch's run-mode policy with a new, empty one.
// Pending events belong to a stream that is gone: they are let go without
// an outcome. Runs in flight finish with the policy that started them.
func (rt *Runtime) RestartPolicy() {
	rt.mu.Lock()
	p, err := runmode.New(rt.w.RunMode, rt.w.MaxParallel)
	if err != nil {
		rt.mu.Unlock()
		return // the watch was validated: cannot happen
	}
	pending := rt.policy.Drain()
	rt.policy = p
	rt.mu.Unlock()
	for _, it := range pending {
		rt.env.Release(it.Value.(*Delivery))
	}
}
