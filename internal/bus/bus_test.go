package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

func setup(t *testing.T) jetstream.JetStream {
	t.Helper()
	s := testutil.RunNATS(t)
	js, err := jetstream.New(testutil.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestEnsureStreams_IdempotentAndUpdates(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	cfg := bus.DefaultStreamConfig()
	for range 2 {
		if err := bus.EnsureStreams(ctx, js, cfg); err != nil {
			t.Fatal(err)
		}
	}
	cfg.EventsPerKey = 7
	cfg.DedupWindow = time.Minute
	if err := bus.EnsureStreams(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, events.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	if info.Config.MaxMsgsPerSubject != 7 || info.Config.Duplicates != time.Minute || info.Config.Storage != jetstream.FileStorage {
		t.Fatalf("events stream config not updated: %+v", info.Config)
	}
	for _, name := range []string{events.OutcomesStream, events.AgentsStream} {
		if _, err := js.Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
}

func TestPublishEvent_DedupByVersion(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	e := events.New("zk://a", "zk.changed", "/git/head", []byte("v"))
	e.Version = "100"
	ack1, err := bus.PublishEvent(ctx, js, e)
	if err != nil {
		t.Fatal(err)
	}
	again := events.New("zk://a", "zk.changed", "/git/head", []byte("v")) // another dispatcher, same change
	again.Version = "100"
	ack2, err := bus.PublishEvent(ctx, js, again)
	if err != nil {
		t.Fatal(err)
	}
	if ack1.Duplicate || !ack2.Duplicate || ack1.Sequence != ack2.Sequence {
		t.Fatalf("acks %+v %+v: want the second publish dropped as a duplicate", ack1, ack2)
	}
	if _, err := bus.PublishEvent(ctx, js, events.Event{}); err == nil {
		t.Fatal("invalid event published")
	}
}

func TestLastPerSubject(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	read := func() {
		clear(got)
		err := bus.LastPerSubject(ctx, js, events.EventsStream, []string{events.MustKeyGlob("/a/*").SubjectFilter("t")}, func(m jetstream.Msg) error {
			got[m.Headers().Get(events.HeaderSubject)] = string(m.Data())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	read()
	if len(got) != 0 {
		t.Fatalf("empty stream gave %v", got)
	}
	for i := range 5 {
		for _, k := range []string{"/a/x", "/a/y", "/b/z"} {
			if _, err := bus.PublishEvent(ctx, js, events.New("s", "t", k, []byte(fmt.Sprint(i)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	read()
	if len(got) != 2 || got["/a/x"] != "4" || got["/a/y"] != "4" {
		t.Fatalf("latest per subject = %v, want /a/x and /a/y at 4", got)
	}
	// The read's consumer is deleted before LastPerSubject returns.
	if left := testutil.Consumers(t, js, events.EventsStream); len(left) != 0 {
		t.Fatalf("consumers left behind: %v", left)
	}
}

func TestLastEvent(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	subj := events.EventSubject("zk.changed", "/a")
	if _, _, ok, err := bus.LastEvent(ctx, js, subj); err != nil || ok {
		t.Fatalf("empty: ok=%v err=%v", ok, err)
	}
	var last events.Event
	for i := range 3 {
		last = events.New("s", "zk.changed", "/a", []byte(fmt.Sprint(i)))
		last.Version = fmt.Sprint(i)
		if _, err := bus.PublishEvent(ctx, js, last); err != nil {
			t.Fatal(err)
		}
	}
	got, seq, ok, err := bus.LastEvent(ctx, js, subj)
	if err != nil || !ok || got.ID != last.ID || got.Version != "2" || string(got.Data) != "2" || seq != 3 {
		t.Fatalf("got %+v seq=%d ok=%v err=%v", got, seq, ok, err)
	}
}
