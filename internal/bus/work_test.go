package bus_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// workBench is a stream "WORK" with a durable consumer on it and the
// Setup that creates the consumer again, counting its calls.
type workBench struct {
	js     jetstream.JetStream
	ccfg   jetstream.ConsumerConfig
	setups atomic.Int32
}

func newWorkBench(t *testing.T, ackWait time.Duration) *workBench {
	t.Helper()
	js := setup(t)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "WORK", Subjects: []string{"work.>"}}); err != nil {
		t.Fatal(err)
	}
	return &workBench{js: js, ccfg: jetstream.ConsumerConfig{
		Durable: "worker", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait,
		MaxDeliver: -1, DeliverPolicy: jetstream.DeliverNewPolicy,
	}}
}

func (b *workBench) consumer(ctx context.Context) (jetstream.Consumer, error) {
	return b.js.CreateOrUpdateConsumer(ctx, "WORK", b.ccfg)
}

func (b *workBench) config(maxConcurrent int) bus.WorkConfig {
	return bus.WorkConfig{
		Name: "work", Durable: b.ccfg.Durable, MaxConcurrent: maxConcurrent,
		Setup: func(ctx context.Context) (jetstream.Consumer, error) {
			c, err := b.consumer(ctx)
			if err == nil {
				b.setups.Add(1)
			}
			return c, err
		},
		Log: zerolog.Nop(),
	}
}

func (b *workBench) publish(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		if _, err := b.js.Publish(context.Background(), fmt.Sprintf("work.%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls until n is want.
func waitFor(t *testing.T, what string, n *atomic.Int32, want int32) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		if got := n.Load(); got != want {
			return fmt.Errorf("%d %s, want %d", got, what, want)
		}
		return nil
	})
}

// waitInfo polls the consumer's state on the server until cond accepts it.
func (b *workBench) waitInfo(t *testing.T, cond func(*jetstream.ConsumerInfo) error) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		c, err := b.js.Consumer(context.Background(), "WORK", "worker")
		if err != nil {
			return err
		}
		return cond(c.CachedInfo())
	})
}

// start runs Work in a goroutine until the test ends; stop cancels it and
// waits for Work to return.
func (b *workBench) start(t *testing.T, cfg bus.WorkConfig, handle func(context.Context, jetstream.Msg)) (stop func()) {
	t.Helper()
	cons, err := b.consumer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.Work(ctx, cons, cfg, handle) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Work: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// No more than MaxConcurrent handlers run at once; the others wait their
// turn and all are handled.
func TestWork_BoundsConcurrency(t *testing.T) {
	b := newWorkBench(t, 30*time.Second)
	release := make(chan struct{})
	var running, most, handled atomic.Int32
	b.start(t, b.config(2), func(_ context.Context, m jetstream.Msg) {
		n := running.Add(1)
		for {
			if old := most.Load(); n <= old || most.CompareAndSwap(old, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		handled.Add(1)
		_ = m.Ack()
	})
	b.publish(t, 6)
	waitFor(t, "handlers running", &running, 2)
	close(release)
	waitFor(t, "handled", &handled, 6)
	if most.Load() != 2 {
		t.Fatalf("at most %d handlers ran at once, want 2", most.Load())
	}
}

// A message redelivered (its ack wait passed, no keep-alive) while its
// handler still runs is not handled a second time.
func TestWork_RedeliveryWhileHeldIsIgnored(t *testing.T) {
	b := newWorkBench(t, 200*time.Millisecond)
	release := make(chan struct{})
	var calls atomic.Int32
	b.start(t, b.config(4), func(_ context.Context, m jetstream.Msg) {
		calls.Add(1)
		<-release
		_ = m.Ack()
	})
	b.publish(t, 1)
	b.waitInfo(t, func(ci *jetstream.ConsumerInfo) error {
		if ci.Delivered.Consumer < 3 {
			return fmt.Errorf("delivered %d times, want 3 or more", ci.Delivered.Consumer)
		}
		return nil
	})
	// Three deliveries or more while the handler held the message: one
	// call. (A redelivery already on its way when the handler acks may
	// run again once it is let go: at least once, not while held.)
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times while it held the message, want 1", n)
	}
	close(release)
	b.waitInfo(t, func(ci *jetstream.ConsumerInfo) error {
		if n := ci.NumAckPending; n != 0 {
			return fmt.Errorf("%d unacked", n)
		}
		return nil
	})
}

// Keep-alive progress acks hold a message past its ack wait: it is not
// redelivered while its handler runs.
func TestWork_KeepAliveHoldsTheMessage(t *testing.T) {
	const ackWait = time.Second
	b := newWorkBench(t, ackWait)
	cfg := b.config(1)
	cfg.KeepAlive = ackWait / 10
	release := make(chan struct{})
	b.start(t, cfg, func(_ context.Context, m jetstream.Msg) {
		<-release
		_ = m.Ack()
	})
	b.publish(t, 1)
	// Poll until three ack waits have passed: all along, the message
	// was delivered once and is pending.
	start := time.Now()
	b.waitInfo(t, func(ci *jetstream.ConsumerInfo) error {
		if ci.Delivered.Consumer != 1 {
			return fmt.Errorf("delivered %d times; want 1 (keep-alive did not hold it)", ci.Delivered.Consumer)
		}
		if ci.NumAckPending != 1 {
			return fmt.Errorf("%d ack pending, want 1", ci.NumAckPending)
		}
		if time.Since(start) < 3*ackWait {
			return fmt.Errorf("held for %v so far", time.Since(start))
		}
		return nil
	})
	close(release)
	b.waitInfo(t, func(ci *jetstream.ConsumerInfo) error {
		if ci.NumAckPending != 0 || ci.Delivered.Consumer != 1 {
			return fmt.Errorf("ack pending %d, delivered %d; want 0 and 1", ci.NumAckPending, ci.Delivered.Consumer)
		}
		return nil
	})
}

// Once ctx ends, Work returns only after the handlers running have
// returned, and the handlers see ctx end.
func TestWork_StopWaitsForRunningHandlers(t *testing.T) {
	b := newWorkBench(t, 30*time.Second)
	var started, finished atomic.Int32
	release := make(chan struct{})
	stop := b.start(t, b.config(4), func(ctx context.Context, m jetstream.Msg) {
		started.Add(1)
		<-ctx.Done()
		<-release
		finished.Add(1)
		_ = m.Nak()
	})
	b.publish(t, 3)
	waitFor(t, "started", &started, 3)
	var atReturn atomic.Int32
	returned := make(chan struct{})
	go func() {
		stop()
		atReturn.Store(finished.Load())
		close(returned)
	}()
	close(release)
	<-returned
	if n := atReturn.Load(); n != 3 {
		t.Fatalf("Work returned with %d of 3 handlers finished", n)
	}
}

// A consumer deleted on the server is set up again with Setup, and the
// messages published afterwards are handled.
func TestWork_DeletedConsumerIsSetUpAgain(t *testing.T) {
	b := newWorkBench(t, 30*time.Second)
	var mu sync.Mutex
	var got []string
	b.start(t, b.config(2), func(_ context.Context, m jetstream.Msg) {
		mu.Lock()
		got = append(got, m.Subject())
		mu.Unlock()
		_ = m.Ack()
	})
	handled := func(want ...string) func() error {
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(got, ",") != strings.Join(want, ",") {
				return fmt.Errorf("handled %v, want %v", got, want)
			}
			return nil
		}
	}
	b.publish(t, 1)
	testutil.Eventually(t, 20*time.Second, handled("work.0"))
	if err := b.js.DeleteConsumer(context.Background(), "WORK", "worker"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if b.setups.Load() == 0 {
			return fmt.Errorf("consumer not set up again")
		}
		return nil
	})
	if _, err := b.js.Publish(context.Background(), "work.again", []byte("x")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, handled("work.0", "work.again"))
}

// Validate names the bad field.
func TestWorkConfig_Validate(t *testing.T) {
	noSetup := func(context.Context) (jetstream.Consumer, error) { return nil, nil }
	for _, tc := range []struct {
		cfg  bus.WorkConfig
		want string
	}{
		{bus.WorkConfig{Setup: noSetup}, "max_concurrent"},
		{bus.WorkConfig{MaxConcurrent: 1, KeepAlive: -1, Setup: noSetup}, "keep_alive"},
		{bus.WorkConfig{MaxConcurrent: 1}, "setup"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want+":") {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
	if err := (bus.WorkConfig{MaxConcurrent: 1, Setup: noSetup}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
