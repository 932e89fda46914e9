package watchrun

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/runmode"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/rs/zerolog"
)

// Turns hands out the turns of watches with a rollout: key. The agent
// implements it over package rollout; the runtime only asks.
type Turns interface {
	// Take waits for the host's turn at event e of watch w. It returns an
	// error wrapping ErrHalted when the rollout is halted (the host does
	// not run it), ctx's error when ctx ends first.
	Take(ctx context.Context, w *watch.Watch, e events.Event) (Turn, error)
	// Leave records that the host will not run e for w (status: a newer
	// event superseded it while it waited).
	Leave(w *watch.Watch, e events.Event, status events.Status)
	// Resumed returns nil once the halted rollout of e for w is resumed,
	// or ctx's error.
	Resumed(ctx context.Context, w *watch.Watch, e events.Event) error
}

// Turn is a held turn.
type Turn interface {
	// Finish records how the run ended and gives the turn back.
	Finish(o events.Outcome)
	// Abandon gives the turn back without recording an end (the agent
	// stops mid-run: the event runs again when it is back).
	Abandon()
}

// ErrHalted is wrapped by Turns.Take's error for a halted rollout.
var ErrHalted = errors.New("rollout halted")

// turnRetry bounds the wait between two tries when the rollout's state
// cannot be read or written (NATS unreachable, the bucket missing): the
// run waits rather than run outside the rollout's limits.
const turnRetry = 10 * time.Second

// waitTurn is the start of a run of a watch with a rollout: it waits for
// the host's turn. ok false: the run does not go ahead, and what it
// became (halted, superseded, the agent stopping) has been dealt with.
func (rt *Runtime) waitTurn(ctx context.Context, w *watch.Watch, r *run, d *Delivery, log zerolog.Logger) (Turn, bool) {
	if w.Rollout == nil || rt.env.Turns == nil {
		return nil, true
	}
	wait, cancel := context.WithCancel(ctx)
	defer cancel()
	rt.mu.Lock()
	r.cancelWait = cancel
	rt.waiting = append(rt.waiting, d.Event.ID)
	rt.mu.Unlock()
	rt.env.waitingChanged()
	defer func() {
		rt.mu.Lock()
		r.cancelWait = nil
		if i := slices.Index(rt.waiting, d.Event.ID); i >= 0 {
			rt.waiting = slices.Delete(rt.waiting, i, i+1)
		}
		rt.mu.Unlock()
		rt.env.waitingChanged()
	}()
	m := rt.env.Metrics
	m.waiting.WithLabelValues(w.Name).Inc()
	defer m.waiting.WithLabelValues(w.Name).Dec()
	backoff := time.Second
	for {
		t, err := rt.env.Turns.Take(wait, w, d.Event)
		switch {
		case err == nil:
			return t, true
		case ctx.Err() != nil:
			log.Warn().Msg("waiting for a rollout turn stopped by agent shutdown; event will be redelivered")
			return nil, false
		case wait.Err() != nil:
			rt.supersededWhileWaiting(w, r, d, log)
			return nil, false
		case errors.Is(err, ErrHalted):
			m.halted.WithLabelValues(w.Name).Inc()
			log.Warn().Err(err).Msg("not run: the rollout is halted")
			rt.env.decide(w, d, events.Outcome{Status: events.StatusHalted, Error: err.Error()})
			rt.park(w, d)
			rt.finish(w, r, events.StatusHalted, log)
			return nil, false
		}
		log.Warn().Err(err).Float64("retry_in_ms", logging.Millis(backoff)).Msg("rollout: cannot take a turn; retrying")
		select {
		case <-wait.Done():
			continue // the next Take answers at once with wait's error
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, turnRetry)
	}
}

func (e *Env) waitingChanged() {
	if e.Waiting != nil {
		e.Waiting()
	}
}

// supersededWhileWaiting: a newer event for the key arrived (queue mode)
// while d waited for its turn. d never runs: it folds into the newer
// event's run, as an event superseded in its slot does.
func (rt *Runtime) supersededWhileWaiting(w *watch.Watch, r *run, d *Delivery, log zerolog.Logger) {
	rt.mu.Lock()
	by := r.supersededBy
	rt.mu.Unlock()
	log.Info().Str("superseded_by", by.Event.ID).Msg("a newer event for the key replaced this one while it waited for its rollout turn")
	rt.env.Turns.Leave(w, d.Event, events.StatusSuperseded)
	by.absorb(w.Name, d)
	rt.env.supersede(w, d, by)
	rt.finish(w, r, events.StatusSuperseded, log)
}

// newerWhileWaiting is called under rt.mu when the policy took a newer
// item for a key: a run of that key waiting for its rollout turn, in queue
// mode, is superseded by it.
func (rt *Runtime) newerWhileWaiting(it runmode.Item) {
	if rt.w.RunMode != watch.ModeQueue {
		return
	}
	for _, r := range rt.running {
		if r.cancelWait != nil && r.item.Key == it.Key && r.item.Seq < it.Seq && r.supersededBy == nil {
			r.supersededBy = it.Value.(*Delivery)
			r.cancelWait()
		}
	}
}

// park waits, in the background, for the halted rollout of d to be
// resumed, then offers d to the watch again (Again: it runs unless a newer
// event for its key arrived since). The wait ends without an offer when
// a newer event for the key arrives, the watch is removed or the agent
// stops; an agent restarted meanwhile does not resume it (README).
func (rt *Runtime) park(w *watch.Watch, d *Delivery) {
	ctx, cancel := context.WithCancel(context.Background())
	rt.mu.Lock()
	rt.unpark(d.Event.Key, ^uint64(0))
	rt.parked[d.Event.Key] = parkedEvent{seq: d.Seq, cancel: cancel}
	rt.mu.Unlock()
	rt.env.Start(func(agent context.Context) {
		defer cancel()
		stop := context.AfterFunc(agent, cancel)
		defer stop()
		err := rt.env.Turns.Resumed(ctx, w, d.Event)
		rt.mu.Lock()
		if p, ok := rt.parked[d.Event.Key]; ok && p.seq == d.Seq && ctx.Err() == nil {
			delete(rt.parked, d.Event.Key)
		}
		rt.mu.Unlock()
		if err != nil {
			return
		}
		rt.env.Log.Info().Str(logging.FieldEventID, d.Event.ID).Str(logging.FieldWatch, w.Name).Msg("the rollout was resumed: running the halted event")
		again := &Delivery{Event: d.Event, Seq: d.Seq, Replay: rt.env.resumes.Add(1), resumed: true}
		again.Refs.Store(1)
		rt.Offer(again)
	})
}

// parkedEvent is a halted event waiting for its rollout to be resumed.
type parkedEvent struct {
	seq    uint64
	cancel context.CancelFunc
}

// unpark ends the wait for a resume of the key's halted event when it is
// older than seq: a newer event for the key arrived. Called under rt.mu.
func (rt *Runtime) unpark(key string, seq uint64) {
	if p, ok := rt.parked[key]; ok && p.seq < seq {
		p.cancel()
		delete(rt.parked, key)
	}
}
