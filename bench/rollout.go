package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// rolloutAgents, rolloutMax and rolloutRun are issue 11's figure: 20
	// agents, max_hosts 5, a 200 ms action: 4 waves of 200 ms at best.
	rolloutAgents = 20
	rolloutMax    = 5
	rolloutRun    = 200 * time.Millisecond
	rolloutWarmup = 1
)

// rollout measures, per event, the time from publish to the last of 20
// real agent processes finishing a 200 ms action under rollout: max_hosts
// 5, next to the ideal (4 waves of 200 ms) and to the same action without a
// rollout (every host at once). The coordination overhead per host is,
// for each run that took a turn freed by another, the time from that
// run's end to its own start (the turn handed over through the bucket
// and a process started), and for the first wave the time from publish
// to its start; averaged over the hosts.
func rollout(ctx context.Context, r *benchRun, cfg Config) ([]result, error) {
	if err := r.startDispatcher(ctx, 0, ""); err != nil {
		return nil, err
	}
	specs := make([]agentSpec, rolloutAgents)
	for i := range specs {
		name := fmt.Sprintf("bench-roll-%02d", i+1)
		w := fmt.Sprintf(`watches:
  - name: rolled
    on: event:bench.rolled
    exec: ["sleep", "%g"]
    run_on_load: false
    rollout: {max_hosts: %d}
  - name: at-once
    on: event:bench.atonce
    exec: ["sleep", "%g"]
    run_on_load: false
`, rolloutRun.Seconds(), rolloutMax, rolloutRun.Seconds())
		var err error
		if specs[i], err = r.newAgentSpec(name, w); err != nil {
			return nil, err
		}
	}
	if _, err := r.startAgents(ctx, specs...); err != nil {
		return nil, err
	}
	if err := r.waitAnnounced(ctx, rolloutAgents); err != nil {
		return nil, err
	}
	ch, err := r.outcomeChan()
	if err != nil {
		return nil, err
	}
	var rolled, atOnce, overhead []float64
	for i := range rolloutWarmup + cfg.Events {
		e := events.New("bench", "bench.rolled", "/bench/rollout", nil)
		_, outs, err := r.publishAndWait(ctx, ch, e, rolloutAgents)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
		a := events.New("bench", "bench.atonce", "/bench/rollout", nil)
		_, outsA, err := r.publishAndWait(ctx, ch, a, rolloutAgents)
		if err != nil {
			return nil, fmt.Errorf("event %d (at once): %w", i+1, err)
		}
		if i < rolloutWarmup {
			continue
		}
		rolled = append(rolled, ms(lastEnd(outs).Sub(e.Time)))
		atOnce = append(atOnce, ms(lastEnd(outsA).Sub(a.Time)))
		overhead = append(overhead, handover(outs, e.Time, rolloutMax))
	}
	ideal := float64(rolloutAgents/rolloutMax) * ms(rolloutRun)
	mr, ma, mo := median(rolled), median(atOnce), median(overhead)
	r.printf("rollout agents=%d max_hosts=%d run_ms=%.0f last_host_ms=%.0f ideal_ms=%.0f at_once_ms=%.0f overhead_per_host_ms=%.1f\n",
		rolloutAgents, rolloutMax, ms(rolloutRun), mr, ideal, ma, mo)
	sc := scRollout
	return []result{
		num(sc, "publish→last of 20 hosts done, max_hosts 5, 200 ms action p50", mr, "ms", nil),
		num(sc, "ideal: 4 waves of 200 ms", ideal, "ms", nil),
		num(sc, "the same without rollout (all 20 at once) p50", ma, "ms", nil),
		num(sc, "coordination overhead per host (turn freed or publish → start) p50", mo, "ms", nil),
		num(sc, "samples", float64(len(rolled)), "", nil),
	}, nil
}

// lastEnd is when the last run of outs ended (its start plus its
// duration, both the agent's).
func lastEnd(outs []outcomeAt) time.Time {
	var last time.Time
	for _, o := range outs {
		if end := runEnd(o.Outcome); end.After(last) {
			last = end
		}
	}
	return last
}

func runEnd(o events.Outcome) time.Time {
	return o.Start.Add(time.Duration(o.DurationMS * float64(time.Millisecond)))
}

// handover is the mean wait per host between its turn becoming free and
// its run starting: the first max runs (by start) could start at publish;
// the k-th after them could start when the k-th earliest run ended.
func handover(outs []outcomeAt, published time.Time, max int) float64 {
	starts := make([]time.Time, len(outs))
	ends := make([]time.Time, len(outs))
	for i, o := range outs {
		starts[i], ends[i] = o.Start, runEnd(o.Outcome)
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	var sum float64
	for i, s := range starts {
		free := published
		if i >= max {
			free = ends[i-max]
		}
		sum += ms(s.Sub(free))
	}
	return sum / float64(len(starts))
}

// waitAnnounced waits until n agents announce themselves live: a rollout
// is planned over the live hosts holding its watch.
func (r *benchRun) waitAnnounced(ctx context.Context, n int) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		live := 0
		err := bus.LastMsgs(ctx, r.js, events.AgentsStream, nil, func(m *jetstream.RawStreamMsg) error {
			var a events.Announcement
			if json.Unmarshal(m.Data, &a) == nil && a.Live(time.Now()) && len(a.Watches) > 0 {
				live++
			}
			return nil
		})
		if err == nil && live >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d agents announced within %v (%v)", live, n, readyTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}
