package watchrun_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/agent/watchrun"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/rs/zerolog"
)

// env is a watchrun.Env whose store keeps the outcomes in memory and
// stores each at once.
type env struct {
	watchrun.Env
	wg       sync.WaitGroup
	mu       sync.Mutex
	outcomes []events.Outcome
	ids      []string
	released int
	finished int // runs whose goroutine returned
}

func newEnv(t *testing.T) *env {
	e := &env{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); e.wg.Wait() })
	e.Env = watchrun.Env{
		Host: "h1", Log: zerolog.Nop(), Metrics: watchrun.NewMetrics(), LoadID: "L",
		Store: func(o events.Outcome, id string, stored func()) error {
			e.mu.Lock()
			e.outcomes, e.ids = append(e.outcomes, o), append(e.ids, id)
			e.mu.Unlock()
			stored()
			return nil
		},
		Release: func(d *watchrun.Delivery) {
			if d.Refs.Add(-1) == 0 {
				e.mu.Lock()
				e.released++
				e.mu.Unlock()
			}
		},
		Start: func(run func(ctx context.Context)) bool {
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				run(ctx)
				e.mu.Lock()
				e.finished++
				e.mu.Unlock()
			}()
			return true
		},
	}
	return e
}

func (e *env) waitOutcomes(t *testing.T, n int) ([]events.Outcome, []string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if len(e.outcomes) < n || e.released < n {
			return fmt.Errorf("%d outcomes, %d events let go; want %d", len(e.outcomes), e.released, n)
		}
		return nil
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]events.Outcome(nil), e.outcomes...), append([]string(nil), e.ids...)
}

// TestRuntime_OnFailureStopDiscardsTheRest: a watch with on_failure: stop
// publishes the failed run's outcome through its Env, then decides the next
// event without a run (discarded, saying why); every event is let go once
// its outcome is stored, and a replay's outcome id is new per agent start.
func TestRuntime_OnFailureStopDiscardsTheRest(t *testing.T) {
	f, err := watch.Parse("w.yaml", []byte("watches:\n  - name: w\n    on: event:t\n    exec: [\"/bin/false\"]\n    on_failure: stop\n    run_on_load: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	rt, err := watchrun.New(&e.Env, f.Watches[0])
	if err != nil {
		t.Fatal(err)
	}
	first := &watchrun.Delivery{Event: events.New("test", "t", "/k", nil), Seq: 1, Replay: 7}
	first.Refs.Store(1)
	rt.Offer(first)
	out, ids := e.waitOutcomes(t, 1)
	if o := out[0]; o.Status != events.StatusFailed || o.Watch != "w" || o.Host != "h1" || o.EventID != first.Event.ID {
		t.Errorf("first outcome %+v, want failed for w on h1 of %s", o, first.Event.ID)
	}
	if want := events.OutcomeMsgID(first.Event, "h1", "w") + "/load/L.7"; ids[0] != want {
		t.Errorf("replay outcome id %q, want %q", ids[0], want)
	}
	// The run has ended (the watch is stopped) before the next event comes.
	testutil.Eventually(t, 20*time.Second, func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.finished != 1 {
			return fmt.Errorf("%d runs finished, want 1", e.finished)
		}
		return nil
	})
	second := &watchrun.Delivery{Event: events.New("test", "t", "/k", nil), Seq: 2, Replay: 8}
	second.Refs.Store(1)
	rt.Offer(second)
	out, _ = e.waitOutcomes(t, 2)
	if o := out[1]; o.Status != events.StatusDiscarded || !strings.Contains(o.Error, "on_failure: stop") || o.EventID != second.Event.ID {
		t.Errorf("second outcome %+v, want discarded by on_failure: stop", o)
	}
}
