package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/runmode"
	"github.com/nats-io/nats.go/jetstream"
)

// setUpConsumer creates or updates the durable consumer, retrying with
// backoff while NATS or the events stream are not there. It returns false
// when the agent closes first.
func (a *Agent) setUpConsumer() bool {
	wait := 100 * time.Millisecond
	for {
		err := a.ensureConsumer(true)
		if err == nil {
			return true
		}
		if authErr := a.nc.LastError(); natsconn.IsAuthError(authErr) {
			// NATS was not up at Start and now refuses the credentials.
			a.log.Error().Err(authErr).Float64("retry_in_ms", logging.Millis(wait)).Msg("nats refuses the agent's credentials; cannot set up the event consumer")
		} else {
			a.log.Warn().Err(err).Float64("retry_in_ms", logging.Millis(wait)).Msg("cannot set up the event consumer yet")
		}
		select {
		case <-a.ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// consumeEvents consumes the durable consumer until the agent closes. A
// consumer deleted under it (by hand, or with the events stream, which the
// dispatcher then recreates) ends a JetStream Consume for good: the agent
// sets the consumer up again and goes on, from the sequence after the last
// one it received, so nothing stored meanwhile is missed. When the events
// stream itself is new, the consumer starts at its first event, and since
// stream sequences start again at 1 every watch's run-mode policy starts
// afresh (its per-key memory of sequences belongs to the old stream); runs
// in flight finish.
func (a *Agent) consumeEvents() {
	announced := false
	born, ok := a.streamBorn() // the stream the consumer reads
	if !ok {
		return
	}
	for {
		lost := make(chan struct{})
		var once sync.Once
		// Any other error (no heartbeat, no responders while the stream is
		// gone) asks the loop to check that the consumer still exists: a
		// consumer deleted with its stream does not always say so.
		check := make(chan struct{}, 1)
		cc, err := a.currentConsumer().Consume(a.handleMsg,
			jetstream.PullMaxMessages(1024),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				switch {
				case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
					once.Do(func() { close(lost) })
				default:
					if !errors.Is(err, jetstream.ErrNoHeartbeat) {
						a.log.Debug().Err(err).Msg("consume")
					}
					select {
					case check <- struct{}{}:
					default:
					}
				}
			}))
		if err != nil {
			a.log.Error().Err(err).Msg("cannot consume events; setting the consumer up again")
		} else {
			a.mu.Lock()
			a.consume = cc
			a.mu.Unlock()
			a.log.Info().Str("consumer", a.consumerName()).Strs("filters", a.currentFilters()).Msg("agent consuming events")
			if !announced {
				a.announce(false)
				announced = true
			}
		wait:
			for {
				select {
				case <-a.ctx.Done():
					cc.Stop()
					return
				case <-check:
					if !a.consumerGone() {
						continue
					}
				case <-lost:
				}
				break wait
			}
			a.metrics.consumerLost.Inc()
			a.log.Warn().Str("consumer", a.consumerName()).Msg("event consumer deleted on the server; setting it up again")
			cc.Stop()
		}
		select {
		case <-a.ctx.Done():
			return
		case <-time.After(time.Second):
		}
		now, ok := a.streamBorn()
		if !ok {
			return
		}
		from := &deliverFrom{policy: jetstream.DeliverByStartSequencePolicy, seq: a.lastSeq.Load() + 1}
		if !now.Equal(born) {
			// A new stream: everything it holds is new to this agent, and
			// its sequences start again at 1.
			born = now
			from = &deliverFrom{policy: jetstream.DeliverAllPolicy}
			a.lastSeq.Store(0)
			a.log.Warn().Time("created", now).Msg("the events stream is new (recreated): run modes start afresh")
			// Held events belong to the old stream; their sequences are
			// reused by the new one.
			a.mu.Lock()
			clear(a.unacked)
			a.mu.Unlock()
			for _, rt := range a.runtimes() {
				rt.restartPolicy()
			}
		}
		a.mu.Lock()
		a.deliverFrom = from
		a.mu.Unlock()
		if !a.setUpConsumer() {
			return
		}
	}
}

// consumerGone reports whether the server says the agent's consumer (or
// its stream) no longer exists; any other answer, or none, is not gone.
func (a *Agent) consumerGone() bool {
	ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
	defer cancel()
	_, err := a.js.Consumer(ctx, events.EventsStream, a.consumerName())
	return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound)
}

// deliverFrom is where a durable consumer starts.
type deliverFrom struct {
	policy jetstream.DeliverPolicy
	seq    uint64 // with DeliverByStartSequencePolicy
}

// streamBorn waits until the events stream is there and returns when it
// was created; false when the agent closes first.
func (a *Agent) streamBorn() (time.Time, bool) {
	wait := 100 * time.Millisecond
	for {
		if t := a.streamCreated(); !t.IsZero() {
			return t, true
		}
		select {
		case <-a.ctx.Done():
			return time.Time{}, false
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// streamCreated is when the events stream the current consumer reads was
// created (zero when unknown).
func (a *Agent) streamCreated() time.Time {
	ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
	defer cancel()
	st, err := a.js.Stream(ctx, events.EventsStream)
	if err != nil {
		return time.Time{}
	}
	return st.CachedInfo().Created
}

// restartPolicy replaces the watch's run-mode policy with a new, empty one.
// Pending events belong to a stream that is gone: they are let go without
// an outcome. Runs in flight finish with the policy that started them.
func (rt *runtime) restartPolicy() {
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
		rt.a.release(it.Value.(*delivery))
	}
}
