package durable_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/agent/durable"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

const wait = 20 * time.Second

// received collects the keys of the events the consumer handed over, and
// acks them as the agent does once they are decided.
type received struct {
	mu   sync.Mutex
	keys []string
}

func (r *received) handle(c **durable.Consumer) func(jetstream.Msg) {
	return func(m jetstream.Msg) {
		ev, err := events.FromMsg(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		if err != nil {
			return
		}
		if md, err := m.Metadata(); err == nil {
			(*c).Seen(md.Sequence.Stream)
		}
		r.mu.Lock()
		r.keys = append(r.keys, ev.Key)
		r.mu.Unlock()
		_ = m.Ack()
	}
}

func (r *received) wait(t *testing.T, key string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if !slices.Contains(r.keys, key) {
			return fmt.Errorf("event %s not handed over; got %v", key, r.keys)
		}
		return nil
	})
}

func publish(t *testing.T, js jetstream.JetStream, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := bus.PublishEvent(ctx, js, events.New("test", "test.durable", key, nil)); err != nil {
		t.Fatal(err)
	}
}

// TestConsumer_SetUpAgainAfterLoss: the consumer follows the watches'
// filters; deleted on the server, it is set up again and misses nothing
// stored meanwhile; when the events stream is recreated it says so
// (NewStream) and reads the new stream from its first event.
func TestConsumer_SetUpAgainAfterLoss(t *testing.T) {
	srv := testutil.RunNATS(t)
	nc, js := testutil.ConnectStreams(t, srv)
	var (
		r        received
		c        *durable.Consumer
		newCount atomic.Int32
		consumed atomic.Int32
	)
	lost := prometheus.NewCounter(prometheus.CounterOpts{Name: "lost"})
	c = durable.New(durable.Config{
		Name: "host-1", AckWait: 30 * time.Second, NC: nc, JS: js, Log: zerolog.Nop(), Lost: lost,
		Filters: func() []string {
			return []string{events.EventPrefix + ".test.durable.>", events.EventPrefix + ".test.durable.*"}
		},
		Handle:    r.handle(&c),
		Consuming: func() { consumed.Add(1) },
		NewStream: func() { newCount.Add(1) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); c.Stop(); wg.Wait() })
	if !c.SetUp(ctx) {
		t.Fatal("SetUp returned false before the test ended")
	}
	info := c.Current().CachedInfo()
	if want := []string{events.EventPrefix + ".test.durable.>"}; !slices.Equal(info.Config.FilterSubjects, want) {
		t.Errorf("filters %v, want the reduced %v", info.Config.FilterSubjects, want)
	}
	if info.Name != c.Name() {
		t.Errorf("consumer %q, want %q", info.Name, c.Name())
	}
	wg.Add(1)
	go func() { defer wg.Done(); c.Consume(ctx) }()
	publish(t, js, "/one")
	r.wait(t, "/one")

	dctx, dcancel := context.WithTimeout(context.Background(), wait)
	defer dcancel()
	if err := js.DeleteConsumer(dctx, events.EventsStream, c.Name()); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "/two") // stored while there is no consumer
	r.wait(t, "/two")
	if n := newCount.Load(); n != 0 {
		t.Errorf("NewStream called %d times for a lost consumer", n)
	}

	if err := js.DeleteStream(dctx, events.EventsStream); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(dctx, js, bus.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "/three")
	r.wait(t, "/three")
	testutil.Eventually(t, wait, func() error {
		if newCount.Load() != 1 {
			return fmt.Errorf("NewStream called %d times, want once for the recreated stream", newCount.Load())
		}
		return nil
	})
	if n := consumed.Load(); n != 1 {
		t.Errorf("Consuming called %d times, want once", n)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(lost)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gather: %v, %d families", err, len(mfs))
	}
	if got := mfs[0].GetMetric()[0].GetCounter().GetValue(); got < 2 {
		t.Errorf("lost counted %v times, want both losses", got)
	}
}
