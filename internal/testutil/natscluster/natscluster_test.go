package natscluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/testutil/natscluster"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestRun_StreamSurvivesLeaderLoss creates Herald's streams with
// three replicas on a 3-node cluster, kills the node that leads
// HERALD_EVENTS, and the stream still stores and serves events; the node
// rejoins on Restart and catches up.
func TestRun_StreamSurvivesLeaderLoss(t *testing.T) {
	t.Parallel()
	c := natscluster.Run(t, 3)
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := bus.DefaultStreamConfig()
	cfg.Replicas = 3
	if err := bus.EnsureStreams(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{events.EventsStream, events.OutcomesStream, events.AgentsStream} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.CachedInfo().Config.Replicas; got != 3 {
			t.Fatalf("%s: %d replicas, want 3", name, got)
		}
	}

	publish := func(data string) error {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := bus.PublishEvent(pctx, js, events.New("test", "demo.set", "/k", []byte(data)))
		return err
	}
	last := func(js jetstream.JetStream, want string) error {
		gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, err := js.Stream(gctx, events.EventsStream)
		if err != nil {
			return err
		}
		m, err := st.GetLastMsgForSubject(gctx, events.EventSubject("demo.set", "/k"))
		if err != nil {
			return err
		}
		if string(m.Data) != want {
			return fmt.Errorf("last event holds %q, want %q", m.Data, want)
		}
		return nil
	}
	if err := publish("before"); err != nil {
		t.Fatal(err)
	}
	var leader int
	testutil.Eventually(t, 20*time.Second, func() error {
		if leader = c.StreamLeader(events.EventsStream); leader < 0 {
			return fmt.Errorf("%s has no leader", events.EventsStream)
		}
		return nil
	})
	c.Kill(leader)
	if c.Servers()[leader] != nil {
		t.Fatalf("node %d still listed after Kill", leader)
	}

	testutil.Eventually(t, 30*time.Second, func() error { return publish("after") })
	testutil.Eventually(t, 30*time.Second, func() error { return last(js, "after") })
	testutil.Eventually(t, 30*time.Second, func() error {
		if l := c.StreamLeader(events.EventsStream); l < 0 || l == leader {
			return fmt.Errorf("stream leader is %d after killing %d", l, leader)
		}
		return nil
	})

	c.Restart(leader)
	testutil.Eventually(t, 30*time.Second, func() error {
		s := c.Servers()[leader]
		if !s.JetStreamIsStreamCurrent(server.DEFAULT_GLOBAL_ACCOUNT, events.EventsStream) {
			return fmt.Errorf("restarted node %d is not current on %s", leader, events.EventsStream)
		}
		return nil
	})
	// A client of the restarted node alone reads the event stored while it
	// was down.
	nc1, err := nats.Connect(c.URL(leader))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc1.Close)
	js1, err := jetstream.New(nc1)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error { return last(js1, "after") })
}
