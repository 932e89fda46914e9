package durable

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/nats-io/nats.go/jetstream"
)

// SetUp creates or updates the durable consumer, retrying with backoff
// while NATS or the events stream are not there. It returns false when ctx
// ends first.
func (c *Consumer) SetUp(ctx context.Context) bool {
	wait := 100 * time.Millisecond
	for {
		err := c.Ensure(ctx, true)
		if err == nil {
			return true
		}
		if authErr := c.cfg.NC.LastError(); natsconn.IsAuthError(authErr) {
			// NATS was not up at Start and now refuses the credentials.
			c.cfg.Log.Error().Err(authErr).Float64("retry_in_ms", logging.Millis(wait)).Msg("nats refuses the agent's credentials; cannot set up the event consumer")
		} else {
			c.cfg.Log.Warn().Err(err).Float64("retry_in_ms", logging.Millis(wait)).Msg("cannot set up the event consumer yet")
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// Consume consumes the durable consumer until ctx ends. A
// consumer deleted under it (by hand, or with the events stream, which the
// dispatcher then recreates) ends a JetStream Consume for good: the agent
// sets the consumer up again and goes on, from the sequence after the last
// one it received, so nothing stored meanwhile is missed. When the events
// stream itself is new, the consumer starts at its first event, and since
// stream sequences start again at 1 every watch's run-mode policy starts
// afresh (its per-key memory of sequences belongs to the old stream); runs
// in flight finish.
func (c *Consumer) Consume(ctx context.Context) {
	announced := false
	born, ok := c.streamBorn(ctx) // the stream the consumer reads
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
		cc, err := c.Current().Consume(c.cfg.Handle,
			jetstream.PullMaxMessages(1024),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				switch {
				case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
					once.Do(func() { close(lost) })
				default:
					if !errors.Is(err, jetstream.ErrNoHeartbeat) {
						c.cfg.Log.Debug().Err(err).Msg("consume")
					}
					select {
					case check <- struct{}{}:
					default:
					}
				}
			}))
		if err != nil {
			c.cfg.Log.Error().Err(err).Msg("cannot consume events; setting the consumer up again")
		} else {
			c.mu.Lock()
			c.consume = cc
			c.mu.Unlock()
			c.cfg.Log.Info().Str("consumer", c.Name()).Strs("filters", c.currentFilters()).Msg("agent consuming events")
			if !announced {
				c.cfg.Consuming()
				announced = true
			}
		wait:
			for {
				select {
				case <-ctx.Done():
					cc.Stop()
					return
				case <-check:
					if !c.gone(ctx) {
						continue
					}
				case <-lost:
				}
				break wait
			}
			c.cfg.Lost.Inc()
			c.cfg.Log.Warn().Str("consumer", c.Name()).Msg("event consumer deleted on the server; setting it up again")
			cc.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		now, ok := c.streamBorn(ctx)
		if !ok {
			return
		}
		from := &deliverFrom{policy: jetstream.DeliverByStartSequencePolicy, seq: c.lastSeq.Load() + 1}
		if !now.Equal(born) {
			// A new stream: everything it holds is new to this agent, and
			// its sequences start again at 1.
			born = now
			from = &deliverFrom{policy: jetstream.DeliverAllPolicy}
			c.lastSeq.Store(0)
			c.cfg.Log.Warn().Time("created", now).Msg("the events stream is new (recreated): run modes start afresh")
			c.cfg.NewStream()
		}
		c.mu.Lock()
		c.deliverFrom = from
		c.mu.Unlock()
		if !c.SetUp(ctx) {
			return
		}
	}
}

// gone reports whether the server says the agent's consumer (or
// its stream) no longer exists; any other answer, or none, is not gone.
func (c *Consumer) gone(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.cfg.JS.Consumer(ctx, events.EventsStream, c.Name())
	return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound)
}

// deliverFrom is where a durable consumer starts.
type deliverFrom struct {
	policy jetstream.DeliverPolicy
	seq    uint64 // with DeliverByStartSequencePolicy
}

// streamBorn waits until the events stream is there and returns when it
// was created; false when ctx ends first.
func (c *Consumer) streamBorn(ctx context.Context) (time.Time, bool) {
	wait := 100 * time.Millisecond
	for {
		if t := c.streamCreated(ctx); !t.IsZero() {
			return t, true
		}
		select {
		case <-ctx.Done():
			return time.Time{}, false
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// streamCreated is when the events stream the current consumer reads was
// created (zero when unknown).
func (c *Consumer) streamCreated(ctx context.Context) time.Time {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := c.cfg.JS.Stream(ctx, events.EventsStream)
	if err != nil {
		return time.Time{}
	}
	return st.CachedInfo().Created
}
