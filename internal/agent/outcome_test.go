package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/natsconn"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// startQueueAgent starts an in-process agent with one queue watch q on
// event:bench.q running /bin/true, on streams keeping perKey events per key.
func startQueueAgent(tb testing.TB, perKey int) (*Agent, *nats.Conn, jetstream.JetStream) {
	tb.Helper()
	srv := testutil.RunNATS(tb)
	nc, js := testutil.ConnectStreams(tb, srv)
	sc := bus.DefaultStreamConfig()
	sc.EventsPerKey = int64(max(perKey, 64)) // keep the whole burst: every event is decided
	if err := bus.EnsureStreams(context.Background(), js, sc); err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.yaml"), []byte("watches:\n  - name: q\n    on: event:bench.q\n    exec: [\"/bin/true\"]\n    run_on_load: false\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Name, cfg.Watches, cfg.State = "bench", dir, tb.TempDir()
	cfg.NATS = natsconn.Config{URL: srv.ClientURL()}
	cfg.VerifyEvery = 200 * time.Millisecond // the position passes decided events on each read
	a, err := New(cfg, zerolog.Nop())
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = a.Close(context.Background()) })
	testutil.Eventually(tb, 20*time.Second, func() error {
		if a.feed == nil {
			return os.ErrNotExist
		}
		select {
		case <-a.feed.Started():
			return nil
		default:
			return os.ErrNotExist
		}
	})
	return a, nc, js
}

// decisions counts, per event id, how often an outcome decided it: as the
// outcome's own event or in its superseded list.
type decisions struct {
	mu       sync.Mutex
	byID     map[string]int
	total    int // events decided, superseded_count included
	messages int
}

func (d *decisions) subscribe(tb testing.TB, nc *nats.Conn) {
	tb.Helper()
	d.byID = map[string]int{}
	sub, err := nc.Subscribe(events.OutcomePrefix+".>", func(m *nats.Msg) {
		var o events.Outcome
		if err := json.Unmarshal(m.Data, &o); err != nil {
			tb.Errorf("bad outcome: %v", err)
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.messages++
		d.total += 1 + o.SupersededCount
		d.byID[o.EventID]++
		for _, id := range o.Superseded {
			d.byID[id]++
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sub.Unsubscribe() })
}

func (d *decisions) decided() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.total
}

func publishBurst(tb testing.TB, js jetstream.JetStream, n int) []string {
	tb.Helper()
	ids := make([]string, n)
	for i := range n {
		e := events.New("bench", "bench.q", "/k", []byte("x"))
		ids[i] = e.ID
		if _, err := js.PublishMsgAsync(e.ToMsg()); err != nil {
			tb.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		tb.Fatal("burst not stored within a minute")
	}
	return ids
}

// A queue burst of one key whose runs are fast: every event is decided
// exactly once, by its own outcome or in the superseded list of the run
// that replaced it (superseded_count adds up), no superseded event has an
// outcome of its own, every outcome message is stored and every event is
// decided in the agent's feed position. A superseded event folded after its replacement had already run
// would be missing.
func TestAgent_QueueBurstDecidedOnce(t *testing.T) {
	const n = events.MaxSuperseded // no run can absorb more than are listed
	a, nc, js := startQueueAgent(t, n)
	var d decisions
	d.subscribe(t, nc)
	ids := publishBurst(t, js, n)
	testutil.Eventually(t, 60*time.Second, func() error {
		if got := d.decided(); got < n {
			return fmt.Errorf("%d of %d events decided", got, n)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	last := st.CachedInfo().State.LastSeq
	testutil.Eventually(t, 60*time.Second, func() error {
		if pos := a.feed.Position(); pos < last {
			return fmt.Errorf("feed position %d, want every event up to %d decided", pos, last)
		}
		return nil
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.total != n {
		t.Errorf("%d events decided, want %d", d.total, n)
	}
	wrong := 0
	for _, id := range ids {
		if c := d.byID[id]; c != 1 {
			if wrong++; wrong <= 5 {
				t.Errorf("event %s decided %d times, want once", id, c)
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d events not decided exactly once", wrong, n)
	}
	stored, err := testutil.CountStored(ctx, js, events.OutcomesStream, events.OutcomePrefix+".>")
	if err != nil {
		t.Fatal(err)
	}
	if int(stored) != d.messages || d.messages >= n {
		t.Errorf("%d outcomes stored, %d received, for %d events: want one per run, all stored", stored, d.messages, n)
	}
}
