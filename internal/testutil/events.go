package testutil

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/source"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher is the dispatcher's source publisher without the dispatcher:
// it stores events through bus.PublishEvent, waiting for JetStream's
// acknowledgement.
type Publisher struct{ JS jetstream.JetStream }

// Publish stores e and reports where.
func (p Publisher) Publish(ctx context.Context, e events.Event) (source.PublishResult, error) {
	ack, err := bus.PublishEvent(ctx, p.JS, e)
	if err != nil {
		return source.PublishResult{}, err
	}
	return source.PublishResult{ID: e.ID, Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// StoredEvents reads every event the events stream holds now on one of
// filters (subjects; none is every subject), in stream order. It fails the
// test if one does not arrive within wait or does not decode.
func StoredEvents(tb testing.TB, js jetstream.JetStream, wait time.Duration, filters ...string) []events.Event {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, events.EventsStream, jetstream.OrderedConsumerConfig{FilterSubjects: filters})
	if err != nil {
		tb.Fatal(err)
	}
	if c.CachedInfo().NumPending == 0 {
		return nil
	}
	var out []events.Event
	for {
		m, err := c.Next(jetstream.FetchMaxWait(wait))
		if err != nil {
			tb.Fatal(err)
		}
		e, err := events.FromMsg(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, e)
		md, err := m.Metadata()
		if err != nil {
			tb.Fatal(err)
		}
		if md.NumPending == 0 {
			return out
		}
	}
}
