package watchrun_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/agent/watchrun"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/watch"
)

// turns is a watchrun.Turns whose answers the test scripts: each Take of
// an event waits for the answer given in answers (nil: a turn), or for its
// context.
type turns struct {
	mu      sync.Mutex
	answers map[string]chan error // by event id
	left    []string              // "id status"
	took    []string
	resumed chan struct{}
}

func newTurns() *turns {
	return &turns{answers: map[string]chan error{}, resumed: make(chan struct{})}
}

func (f *turns) answer(id string) chan error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.answers[id]
	if c == nil {
		c = make(chan error, 4)
		f.answers[id] = c
	}
	return c
}

func (f *turns) Take(ctx context.Context, _ *watch.Watch, e events.Event) (watchrun.Turn, error) {
	f.mu.Lock()
	f.took = append(f.took, e.ID)
	f.mu.Unlock()
	select {
	case err := <-f.answer(e.ID):
		if err != nil {
			return nil, err
		}
		return turn{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *turns) Leave(_ *watch.Watch, e events.Event, st events.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left = append(f.left, e.ID+" "+string(st))
}

func (f *turns) Resumed(ctx context.Context, _ *watch.Watch, _ events.Event) error {
	select {
	case <-f.resumed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *turns) tookCount(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.took {
		if t == id {
			n++
		}
	}
	return n
}

type turn struct{}

func (turn) Finish(events.Outcome) {}
func (turn) Abandon()              {}

func rolloutWatch(t *testing.T) *watch.Watch {
	t.Helper()
	f, err := watch.Parse("w.yaml", []byte("watches:\n  - name: w\n    on: event:t\n    exec: [\"/bin/true\"]\n    run_on_load: false\n    rollout: {max_hosts: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	return f.Watches[0]
}

func delivery(id string, seq uint64) *watchrun.Delivery {
	e := events.New("test", "t", "/git/head", nil)
	e.ID = id
	d := &watchrun.Delivery{Event: e, Seq: seq, Done: func() {}}
	d.Refs.Store(1)
	return d
}

// TestRuntime_NewerEventSupersedesAWaitingRun: in queue mode, an event
// waiting for its rollout turn is superseded by a newer one of its key:
// it leaves the rollout, never runs, and the newer run's outcome lists it.
func TestRuntime_NewerEventSupersedesAWaitingRun(t *testing.T) {
	e := newEnv(t)
	tu := newTurns()
	e.Turns = tu
	rt, err := watchrun.New(&e.Env, rolloutWatch(t))
	if err != nil {
		t.Fatal(err)
	}
	rt.Offer(delivery("e1", 1))
	testutil.Eventually(t, 20*time.Second, func() error {
		if tu.tookCount("e1") == 0 || len(rt.Waiting()) != 1 {
			return fmt.Errorf("e1 not waiting for its turn yet (waiting %v)", rt.Waiting())
		}
		return nil
	})
	rt.Offer(delivery("e2", 2))
	testutil.Eventually(t, 20*time.Second, func() error {
		if tu.tookCount("e2") == 0 {
			return fmt.Errorf("e2 has not asked for a turn")
		}
		return nil
	})
	tu.answer("e2") <- nil
	outs, _ := e.waitOutcomes(t, 1)
	if len(outs) != 1 || outs[0].EventID != "e2" || outs[0].Status != events.StatusOK || !slices.Equal(outs[0].Superseded, []string{"e1"}) {
		t.Fatalf("outcomes = %+v, want one ok for e2 listing e1 as superseded", outs)
	}
	tu.mu.Lock()
	left := slices.Clone(tu.left)
	tu.mu.Unlock()
	if !slices.Equal(left, []string{"e1 superseded"}) {
		t.Errorf("left the rollouts: %v, want e1 superseded", left)
	}
	if w := rt.Waiting(); len(w) != 0 {
		t.Errorf("still waiting: %v", w)
	}
}

// TestRuntime_HaltedThenResumed: a halted rollout decides the event halted
// without a run; once resumed, the event runs, with an outcome id of its
// own.
func TestRuntime_HaltedThenResumed(t *testing.T) {
	e := newEnv(t)
	tu := newTurns()
	e.Turns = tu
	rt, err := watchrun.New(&e.Env, rolloutWatch(t))
	if err != nil {
		t.Fatal(err)
	}
	tu.answer("e1") <- fmt.Errorf("%w by h2: 2 failed runs", watchrun.ErrHalted)
	rt.Offer(delivery("e1", 1))
	outs, _ := e.waitOutcomes(t, 1)
	if outs[0].Status != events.StatusHalted || !strings.Contains(outs[0].Error, "rollout halted by h2: 2 failed runs") || outs[0].Attempts != 0 {
		t.Fatalf("outcome = %+v, want halted saying why", outs[0])
	}
	tu.answer("e1") <- nil
	close(tu.resumed)
	outs, ids := e.waitOutcomes(t, 2)
	if outs[1].EventID != "e1" || outs[1].Status != events.StatusOK || ids[1] == ids[0] || !strings.Contains(ids[1], "/resume/") {
		t.Fatalf("after the resume: %+v ids %q", outs[1], ids)
	}
}
