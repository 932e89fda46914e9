package bus_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

// followLog records what a Follower reported, in order.
type followLog struct {
	mu    sync.Mutex
	lines []string
	errs  int
}

func (l *followLog) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *followLog) snapshot() ([]string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...), l.errs
}

func (l *followLog) follower(js jetstream.JetStream) bus.Follower {
	return bus.Follower{
		JS:      js,
		Stream:  events.EventsStream,
		Filters: []string{events.EventPrefix + ".zk.>"},
		Deliver: jetstream.DeliverLastPerSubjectPolicy,
		Source:  "zk:///",
		Types:   []string{"zk.changed", "zk.deleted"},
		Retry:   50 * time.Millisecond,
		OnEvent: func(_ context.Context, e bus.StoredEvent) {
			if e.Seq == 0 || e.Stored.IsZero() {
				l.add(fmt.Sprintf("bad position %d %v", e.Seq, e.Stored))
			}
			l.add(e.Type + " " + e.Key + " " + e.Version)
		},
		OnCaughtUp: func(context.Context) { l.add("caught up") },
		OnError: func(error) {
			l.mu.Lock()
			l.errs++
			l.mu.Unlock()
		},
	}
}

func publish(t *testing.T, js jetstream.JetStream, source, typ, key, version string) {
	t.Helper()
	e := events.New(source, typ, key, []byte(version))
	e.Version = version
	if _, err := bus.PublishEvent(context.Background(), js, e); err != nil {
		t.Fatal(err)
	}
}

func waitLines(t *testing.T, l *followLog, want ...string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		got, _ := l.snapshot()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("got %q, want %q", got, want)
		}
		return nil
	})
}

// The follower delivers the newest stored event of every subject of its
// source and types, says when it has caught up, then delivers every new
// one; when ctx ends Run returns and leaves no consumer behind.
func TestFollower_LastPerSubjectThenNew(t *testing.T) {
	_, js := testutil.ConnectStreams(t, testutil.RunNATS(t))
	publish(t, js, "zk:///", "zk.changed", "/a", "1")
	publish(t, js, "zk:///", "zk.changed", "/a", "2")
	publish(t, js, "zk:///other", "zk.changed", "/b", "1") // another source
	publish(t, js, "zk:///", "zk.children", "/a", "p1")    // another type
	publish(t, js, "zk:///", "zk.deleted", "/c", "d1")

	l := &followLog{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.follower(js).Run(ctx)
	}()
	waitLines(t, l, "zk.changed /a 2", "zk.deleted /c d1", "caught up")
	publish(t, js, "zk:///", "zk.changed", "/a", "3")
	publish(t, js, "zk:///other", "zk.changed", "/a", "9")
	waitLines(t, l, "zk.changed /a 2", "zk.deleted /c d1", "caught up", "zk.changed /a 3")

	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
	if _, errs := l.snapshot(); errs != 0 {
		t.Fatalf("%d errors reported, want none", errs)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if c := testutil.Consumers(t, js, events.EventsStream); len(c) > 0 {
			return fmt.Errorf("consumers left: %v", c)
		}
		return nil
	})
}

// A consumer that cannot start (its stream is not there yet) is reported
// and started again until it can; an empty stream is caught up at once.
func TestFollower_RestartsAfterFailure(t *testing.T) {
	s := testutil.RunNATS(t)
	js, err := jetstream.New(testutil.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	l := &followLog{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.follower(js).Run(ctx)
	}()
	defer wg.Wait()
	defer cancel()
	testutil.Eventually(t, 20*time.Second, func() error {
		if _, errs := l.snapshot(); errs < 2 {
			return fmt.Errorf("%d failures reported, want two", errs)
		}
		return nil
	})
	if err := bus.EnsureStreams(context.Background(), js, bus.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	waitLines(t, l, "caught up")
	publish(t, js, "zk:///", "zk.changed", "/a", "1")
	waitLines(t, l, "caught up", "zk.changed /a 1")
}
