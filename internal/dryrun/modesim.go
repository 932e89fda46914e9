package dryrun

import (
	"container/heap"
	"time"

	"github.com/heraldhq/herald/internal/runmode"
)

// modeSim drives one run mode's policy for one watch on simulated time:
// an offer at an event's stored time, and a Done when a run started at T
// reaches T + runTime. A run that ends at the very time an event arrives
// ends first.
type modeSim struct {
	policy  runmode.Policy
	runTime time.Duration
	flight  flights
	started uint64 // runs started so far: the tie-break of equal ends
	report  ModeReport
}

func newModeSim(mode string, maxParallel int, runTime time.Duration) (*modeSim, error) {
	p, err := runmode.New(mode, maxParallel)
	if err != nil {
		return nil, err
	}
	m := &modeSim{policy: p, runTime: runTime, report: ModeReport{Mode: mode}}
	if mode == runmode.ModeParallel {
		m.report.MaxParallel = maxParallel
	}
	return m, nil
}

// offer hands the policy an event stored at t, after every run that ends
// by t has ended.
func (m *modeSim) offer(it runmode.Item, t time.Time) {
	m.until(t)
	m.apply(m.policy.Offer(it), t)
}

// until ends, in order, every run that ends at or before t; each end may
// start the next run at that end's time.
func (m *modeSim) until(t time.Time) {
	for m.flight.Len() > 0 && !m.flight[0].end.After(t) {
		f := heap.Pop(&m.flight).(flight)
		m.apply(m.policy.Done(f.item), f.end)
	}
}

// finish ends every run, and those they start, after the last event.
func (m *modeSim) finish() {
	for m.flight.Len() > 0 {
		m.until(m.flight[0].end)
	}
}

// apply carries out a policy's result at time now.
func (m *modeSim) apply(res runmode.Result, now time.Time) {
	for _, it := range res.Start {
		m.report.Runs++
		if stored, ok := it.Value.(time.Time); ok {
			m.report.MaxWait = max(m.report.MaxWait, now.Sub(stored))
		}
		m.started++
		heap.Push(&m.flight, flight{item: it, end: now.Add(m.runTime), n: m.started})
	}
	for _, d := range res.Dropped {
		switch d.Status {
		case runmode.StatusDiscarded:
			m.report.Discarded++
		default:
			m.report.Superseded++
		}
	}
}

// flight is a run in flight and when it ends.
type flight struct {
	item runmode.Item
	end  time.Time
	n    uint64
}

// flights is a min-heap of runs by end, then by start order.
type flights []flight

func (f flights) Len() int { return len(f) }
func (f flights) Less(i, j int) bool {
	if !f[i].end.Equal(f[j].end) {
		return f[i].end.Before(f[j].end)
	}
	return f[i].n < f[j].n
}
func (f flights) Swap(i, j int) { f[i], f[j] = f[j], f[i] }
func (f *flights) Push(x any)   { *f = append(*f, x.(flight)) }
func (f *flights) Pop() any {
	old := *f
	x := old[len(old)-1]
	*f = old[:len(old)-1]
	return x
}
