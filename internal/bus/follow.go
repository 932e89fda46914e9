package bus

// Following a stream: the sources read what every dispatcher has stored
// for their keys, then every new event, to learn what is already
// published and to repair what a slower dispatcher stored last.

import (
	"context"
	"slices"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StoredEvent is an event read from a stream, with where and when the
// stream stored it.
type StoredEvent struct {
	events.Event
	// Seq is the event's stream sequence.
	Seq uint64
	// Stored is when the stream stored it (the server's clock).
	Stored time.Time
}

// Follower follows the events of one stream through an ordered consumer,
// from Deliver (the newest of every subject, for a source that wants to
// know what is stored last for each key), restarting after every failure
// until its context ends. It keeps nothing between events: what it reads
// is only handed to OnEvent.
type Follower struct {
	JS      jetstream.JetStream
	Stream  string
	Filters []string
	Deliver jetstream.DeliverPolicy
	// Source and Types, when set, keep only the events of that CloudEvents
	// source and of those types (read from the headers, before decoding).
	Source string
	Types  []string
	// Retry is how long a failed consumer waits before it starts again.
	Retry time.Duration

	// OnEvent takes every event kept, in stream order. It runs on the
	// follower's goroutine: it should return soon after ctx ends.
	OnEvent func(ctx context.Context, e StoredEvent)
	// OnCaughtUp, if set, is called once per consumer, when it has
	// delivered every message the stream held for the filters when it
	// started (at once when there was none).
	OnCaughtUp func(ctx context.Context)
	// OnError, if set, is told why a consumer failed, before the retry.
	OnError func(err error)
}

// Run follows until ctx ends; a consumer that fails is started again
// after Retry, from Deliver. Every consumer it creates is deleted when it
// ends.
func (f Follower) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := f.once(ctx)
		if ctx.Err() != nil {
			return
		}
		if f.OnError != nil {
			f.OnError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(f.Retry):
		}
	}
}

func (f Follower) once(ctx context.Context) error {
	cons, err := f.JS.OrderedConsumer(ctx, f.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: f.Filters,
		DeliverPolicy:  f.Deliver,
	})
	if err != nil {
		return err
	}
	defer DeleteOrdered(ctx, f.JS, f.Stream, cons)
	caughtUp := f.OnCaughtUp == nil
	if !caughtUp && cons.CachedInfo().NumPending == 0 {
		f.OnCaughtUp(ctx)
		caughtUp = true
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		if e, ok := f.parse(m); ok {
			f.OnEvent(ctx, StoredEvent{Event: e, Seq: md.Sequence.Stream, Stored: md.Timestamp})
		}
		if !caughtUp && md.NumPending == 0 {
			f.OnCaughtUp(ctx)
			caughtUp = true
		}
	}
}

// parse decodes m when its headers say it is one of the events wanted.
func (f Follower) parse(m jetstream.Msg) (events.Event, bool) {
	h := m.Headers()
	if f.Source != "" && h.Get(events.HeaderSource) != f.Source {
		return events.Event{}, false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, h.Get(events.HeaderType)) {
		return events.Event{}, false
	}
	e, err := events.FromMsg(&nats.Msg{Subject: m.Subject(), Header: h, Data: m.Data()})
	if err != nil {
		return events.Event{}, false
	}
	return e, true
}
