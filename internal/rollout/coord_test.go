package rollout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

const wait = 60 * time.Second

// fleet is n coordinators, each on its own connection to one real NATS
// server with the rollout bucket, named h00..h(n-1).
type fleet struct {
	t     *testing.T
	js    jetstream.JetStream
	coord []*Coordinator
}

func newFleet(t *testing.T, n int) *fleet {
	t.Helper()
	s := testutil.RunNATS(t)
	nc, js := testutil.ConnectStreams(t, s)
	_ = nc
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := js.CreateKeyValue(ctx, BucketConfig(1)); err != nil {
		t.Fatal(err)
	}
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("h%02d", i)
	}
	f := &fleet{t: t, js: js}
	for _, name := range names {
		hnc := testutil.Connect(t, s)
		hjs, err := jetstream.New(hnc)
		if err != nil {
			t.Fatal(err)
		}
		f.coord = append(f.coord, &Coordinator{
			JS: hjs, NC: hnc, Host: name, Log: zerolog.Nop(), Poll: 200 * time.Millisecond,
			Live: func(context.Context, string) ([]string, error) { return names, nil },
		})
	}
	return f
}

// result is what one host's Take and run came to.
type result struct {
	host   string
	ran    bool
	halted bool
	err    error
}

// roll runs every host through one rollout of event id: Take, then (when
// held) a run of runFor whose status is status(host), Finish. It returns
// the results and the most runs that were in flight at once.
func (f *fleet) roll(id string, spec Spec, runFor time.Duration, status func(host string) string) ([]result, int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var cur, peak atomic.Int32
	res := make([]result, len(f.coord))
	var wg sync.WaitGroup
	for i, c := range f.coord {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i].host = c.Host
			t, err := c.Take(ctx, Request{Spec: spec, Watch: "git-pull", EventID: id, Key: "/git/head", EventTime: time.Now()})
			var he *HaltedError
			if errors.As(err, &he) {
				res[i].halted = true
				return
			}
			if err != nil {
				res[i].err = err
				return
			}
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			res[i].ran = true
			time.Sleep(runFor) // the run's work
			cur.Add(-1)
			if err := t.Finish(ctx, status(c.Host), nil); err != nil {
				res[i].err = err
			}
		}()
	}
	wg.Wait()
	for _, r := range res {
		if r.err != nil {
			f.t.Fatalf("%s: %v", r.host, r.err)
		}
	}
	return res, int(peak.Load())
}

func count(res []result, pred func(result) bool) int {
	n := 0
	for _, r := range res {
		if pred(r) {
			n++
		}
	}
	return n
}

func ok(string) string { return StateOK }

func TestRollout_MaxHostsHoldsAcrossTheFleet(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 10)
	res, peak := f.roll("e1", Spec{MaxHosts: 3, Lease: MinLease}, 150*time.Millisecond, ok)
	if ran := count(res, func(r result) bool { return r.ran }); ran != 10 {
		t.Errorf("%d of 10 hosts ran, want all", ran)
	}
	if peak > 3 {
		t.Errorf("%d hosts ran at once, want at most max_hosts 3", peak)
	}
	st, err := Read(context.Background(), f.js, "e1")
	if err != nil || len(st) != 1 {
		t.Fatalf("Read: %v, %d rollouts", err, len(st))
	}
	s := st[0]
	if s.Plan == nil || len(s.Plan.Hosts) != 10 || s.Plan.Max != 3 || s.Gate.Started != 10 || s.Gate.Finished != 10 || len(s.Turns) != 0 {
		t.Errorf("state after the rollout: plan %+v gate %+v turns %v", s.Plan, s.Gate, s.Turns)
	}
	if n := count(hostResults(s), func(r result) bool { return r.ran }); n != 10 {
		t.Errorf("host states: %+v, want 10 ok", s.Hosts)
	}
}

// hostResults turns the stored host states into results (ran: ok).
func hostResults(s Status) []result {
	var out []result
	for _, h := range s.Hosts {
		out = append(out, result{host: h.Host, ran: h.State == StateOK, halted: h.State == StateHalted})
	}
	return out
}

func TestRollout_PercentOfThePlannedHosts(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 10)
	_, peak := f.roll("e1", Spec{MaxPercent: 20, Lease: MinLease}, 150*time.Millisecond, ok)
	if peak > 2 {
		t.Errorf("%d hosts ran at once, want at most 20%% of 10", peak)
	}
}

func TestRollout_FailedCanaryHaltsTheRest(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 6)
	res, _ := f.roll("e1", Spec{MaxHosts: 6, Canary: 1, Lease: MinLease}, 50*time.Millisecond, func(h string) string {
		if h == "h00" {
			return "failed"
		}
		return StateOK
	})
	for _, r := range res {
		if r.host == "h00" && !r.ran {
			t.Errorf("the canary h00 did not run")
		}
		if r.host != "h00" && (r.ran || !r.halted) {
			t.Errorf("%s: ran %v halted %v, want halted after the canary failed", r.host, r.ran, r.halted)
		}
	}
	st, _ := Read(context.Background(), f.js, "e1")
	if g := st[0].Gate; g.Halt == nil || !g.Halt.Auto || g.Halt.Reason != "canary h00: failed" {
		t.Errorf("halt = %+v", g.Halt)
	}
}

func TestRollout_HaltAfterFailuresBoundsTheFailedRuns(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 12)
	res, _ := f.roll("e1", Spec{MaxHosts: 3, HaltAfterFailures: 2, Lease: MinLease}, 100*time.Millisecond, func(string) string { return "failed" })
	ran := count(res, func(r result) bool { return r.ran })
	halted := count(res, func(r result) bool { return r.halted })
	// At most halt_after_failures + (max_hosts - 1) failed runs.
	if ran < 2 || ran > 2+(3-1) || ran+halted != 12 {
		t.Errorf("%d ran (all failing), %d halted; want 2 to 4 runs and the rest halted", ran, halted)
	}
}

func TestRollout_CanaryThenEveryoneInOrder(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 5)
	var mu sync.Mutex
	var order []string
	res, _ := f.roll("e1", Spec{MaxHosts: 1, Canary: 1, Lease: MinLease}, 20*time.Millisecond, func(h string) string {
		mu.Lock()
		order = append(order, h)
		mu.Unlock()
		return StateOK
	})
	if ran := count(res, func(r result) bool { return r.ran }); ran != 5 {
		t.Fatalf("%d ran", ran)
	}
	if !sort.StringsAreSorted(order) {
		t.Errorf("with max_hosts 1 and order name the hosts finished in %v, want name order", order)
	}
}

// TestRollout_DeadHolderFreesItsTurnAfterTheLease: a host that dies while
// it holds the only turn (its renewals stop, nothing gives the turn back)
// holds the rollout up for one lease, not for ever.
func TestRollout_DeadHolderFreesItsTurnAfterTheLease(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	spec := Spec{MaxHosts: 1, Lease: MinLease}
	req := Request{Spec: spec, Watch: "w", EventID: "e1", Key: "/k"}
	dead, err := f.coord[0].Take(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	dead.halt() // the holder dies: no renewal, no Finish
	died := time.Now()
	got, err := f.coord[1].Take(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(died); took < MinLease/2 {
		t.Errorf("the second host took the turn %v after the holder died, before its lease (%v) could run out", took, MinLease)
	}
	if err := got.Finish(ctx, StateOK, nil); err != nil {
		t.Fatal(err)
	}
}

// TestRollout_HaltByHandAndResume: waiting hosts are halted by hand; a
// resume lets Resumed return and a new Take run.
func TestRollout_HaltByHandAndResume(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req := Request{Spec: Spec{MaxHosts: 1, Lease: MinLease}, Watch: "w", EventID: "e1", Key: "/k"}
	held, err := f.coord[0].Take(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := f.coord[1].Take(ctx, req)
		waited <- err
	}()
	testutil.Eventually(t, wait, func() error {
		st, err := Read(ctx, f.js, "e1")
		if err != nil || len(st) != 1 {
			return fmt.Errorf("read: %v", err)
		}
		for _, h := range st[0].Hosts {
			if h.Host == "h01" && h.State == StateWaiting {
				return nil
			}
		}
		return fmt.Errorf("h01 not waiting: %+v", st[0].Hosts)
	})
	id := ID{EventID: "e1", Watch: "w"}
	ids, err := SetHalt(ctx, f.js, []ID{id}, true, "alice", "bad build")
	if err != nil || len(ids) != 1 {
		t.Fatalf("halt: %v %v", ids, err)
	}
	var he *HaltedError
	if err := <-waited; !errors.As(err, &he) || he.Halt.By != "alice" || he.Halt.Reason != "bad build" {
		t.Fatalf("the waiting host's Take: %v, want halted by alice", err)
	}
	if err := held.Finish(ctx, StateOK, nil); err != nil {
		t.Fatal(err)
	}
	resumed := make(chan error, 1)
	go func() { resumed <- f.coord[1].Resumed(ctx, ID{EventID: "e1", Watch: "w"}) }()
	if _, err := SetHalt(ctx, f.js, []ID{id}, false, "alice", "fixed"); err != nil {
		t.Fatal(err)
	}
	if err := <-resumed; err != nil {
		t.Fatal(err)
	}
	again, err := f.coord[1].Take(ctx, req)
	if err != nil {
		t.Fatalf("Take after the resume: %v", err)
	}
	if err := again.Finish(ctx, StateOK, nil); err != nil {
		t.Fatal(err)
	}
}

// TestRollout_LateFinishLeavesTheNextHoldersTurn: a host cut off for
// longer than its lease loses its turn to another; when it finishes, it
// gives back only its own revision of the turn, never the new holder's.
func TestRollout_LateFinishLeavesTheNextHoldersTurn(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req := Request{Spec: Spec{MaxHosts: 1, Lease: MinLease}, Watch: "w", EventID: "e1", Key: "/k"}
	late, err := f.coord[0].Take(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	late.halt() // cut off: no renewal
	next, err := f.coord[1].Take(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := late.Finish(ctx, StateOK, nil); err != nil {
		t.Fatal(err)
	}
	st, err := Read(ctx, f.js, "e1")
	if err != nil || len(st) != 1 {
		t.Fatalf("read: %v", err)
	}
	if got := st[0].Turns; len(got) != 1 || got[1] != "h01" {
		t.Errorf("turns after the late host finished: %v, want h01's still held", got)
	}
	if err := next.Finish(ctx, StateOK, nil); err != nil {
		t.Fatal(err)
	}
}
