package agent

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// BenchmarkAgent_QueueAbsorb measures one agent deciding a burst of b.N
// events for one key in queue mode (in-process server and agent; for a
// profile of the agent's per-event path, not for the recorded figures,
// which come from go run ./bench with separate processes).
func BenchmarkAgent_QueueAbsorb(b *testing.B) {
	srv := testutil.RunNATS(b)
	nc, js := testutil.ConnectStreams(b, srv)
	sc := bus.DefaultStreamConfig()
	sc.EventsPerKey = int64(max(b.N, 64)) // keep the whole burst: every event is decided
	if err := bus.EnsureStreams(context.Background(), js, sc); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.yaml"), []byte("watches:\n  - name: q\n    on: event:bench.q\n    exec: [\"/bin/true\"]\n    run_on_load: false\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Name, cfg.Watches, cfg.State = "bench", dir, b.TempDir()
	cfg.NATS = natsconn.Config{URL: srv.ClientURL()}
	a, err := New(cfg, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer a.Close(context.Background())
	testutil.Eventually(b, 10*time.Second, func() error {
		if a.currentConsumer() == nil {
			return os.ErrNotExist
		}
		return nil
	})
	var decided atomic.Int64
	all := make(chan struct{})
	sub, err := nc.Subscribe(events.OutcomePrefix+".>", func(*nats.Msg) {
		if decided.Add(1) == int64(b.N) {
			close(all)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := events.New("bench", "bench.q", "/k", []byte("x"))
		if _, err := js.PublishMsgAsync(e.ToMsg()); err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		b.Fatalf("%d of %d decided", decided.Load(), b.N)
	}
	b.StopTimer()
}
