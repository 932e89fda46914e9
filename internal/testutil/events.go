package testutil

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/fleet"
	"github.com/heraldhq/herald/internal/source"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
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
	defer bus.DeleteOrdered(ctx, js, events.EventsStream, c) // tests count consumers
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

// Outcomes collects every outcome published on Herald's outcome subjects.
type Outcomes struct {
	mu   sync.Mutex
	list []events.Outcome
}

// CollectOutcomes subscribes nc to every outcome published from now on
// until the test ends. An outcome that does not decode fails the test.
func CollectOutcomes(tb testing.TB, nc *nats.Conn) *Outcomes {
	tb.Helper()
	o := &Outcomes{}
	sub, err := nc.Subscribe(events.OutcomePrefix+".>", func(m *nats.Msg) {
		var out events.Outcome
		if err := json.Unmarshal(m.Data, &out); err != nil {
			tb.Errorf("bad outcome: %v", err)
			return
		}
		o.mu.Lock()
		o.list = append(o.list, out)
		o.mu.Unlock()
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sub.Unsubscribe() })
	return o
}

// Snapshot is every outcome collected so far, in arrival order.
func (o *Outcomes) Snapshot() []events.Outcome {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]events.Outcome(nil), o.list...)
}

// Announce stores agent announcement a on its agent subject, as agents do.
func Announce(tb testing.TB, js jetstream.JetStream, a events.Announcement) {
	tb.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, events.AgentSubject(a.Name), b); err != nil {
		tb.Fatal(err)
	}
}

// RunTracker runs a fleet tracker over the agents' announcements, as
// the dispatcher does, until the test ends.
func RunTracker(tb testing.TB, js jetstream.JetStream) *fleet.Tracker {
	tb.Helper()
	tr := fleet.New(js, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tr.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	return tr
}

// ConnectStreams connects to s (closed when the test ends) and creates
// Herald's streams with their default configuration, as the dispatcher
// does.
func ConnectStreams(tb testing.TB, s *server.Server, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc := Connect(tb, s, opts...)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamConfig()); err != nil {
		tb.Fatal(err)
	}
	return nc, js
}

// Consumers returns the names of the consumers stream has on the server
// now, sorted.
func Consumers(tb testing.TB, js jetstream.JetStream, stream string) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		tb.Fatalf("stream %s: %v", stream, err)
	}
	var names []string
	l := s.ConsumerNames(ctx)
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		tb.Fatalf("stream %s consumers: %v", stream, err)
	}
	sort.Strings(names)
	return names
}

// StoredOutcome is one message of the outcomes stream.
type StoredOutcome struct {
	Outcome events.Outcome
	Header  nats.Header
}

// StoredOutcomes reads every outcome the outcomes stream holds now on one
// of filters (subjects; none is every subject), in stream order. It fails
// the test if one does not arrive within wait or does not decode.
func StoredOutcomes(tb testing.TB, js jetstream.JetStream, wait time.Duration, filters ...string) []StoredOutcome {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, events.OutcomesStream, jetstream.OrderedConsumerConfig{FilterSubjects: filters})
	if err != nil {
		tb.Fatal(err)
	}
	if c.CachedInfo().NumPending == 0 {
		return nil
	}
	var out []StoredOutcome
	for {
		m, err := c.Next(jetstream.FetchMaxWait(wait))
		if err != nil {
			tb.Fatal(err)
		}
		var o events.Outcome
		if err := json.Unmarshal(m.Data(), &o); err != nil {
			tb.Fatalf("stored outcome on %s: %v", m.Subject(), err)
		}
		out = append(out, StoredOutcome{Outcome: o, Header: m.Headers()})
		md, err := m.Metadata()
		if err != nil {
			tb.Fatal(err)
		}
		if md.NumPending == 0 {
			return out
		}
	}
}

// CountStored is how many messages stream holds on subject (wildcards
// allowed); a missing stream is an error.
func CountStored(ctx context.Context, js jetstream.JetStream, stream, subject string) (uint64, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, nil
}

// ClientSubscriptions returns the subjects that the client connection
// named name holds on s, sorted (nil when no such client is connected).
func ClientSubscriptions(tb testing.TB, s *server.Server, name string) []string {
	tb.Helper()
	cz, err := s.Connz(&server.ConnzOptions{Subscriptions: true})
	if err != nil {
		tb.Fatal(err)
	}
	var subs []string
	for _, c := range cz.Conns {
		if c.Name == name {
			subs = append(subs, c.Subs...)
		}
	}
	sort.Strings(subs)
	return subs
}
