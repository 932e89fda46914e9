package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// storm restarts the node leading the events stream (SIGTERM, then the
// same ports and store again), publishes one event during the restart and
// measures from the kill until every agent decided it. The bench watches
// from a connection to a node that stays up.
func storm(ctx context.Context, r *benchRun, servers []*natsProc, n int) ([]result, error) {
	victim := servers[0]
	if info, err := r.js.Stream(ctx, events.EventsStream); err == nil && info.CachedInfo().Cluster != nil {
		for _, s := range servers {
			if s.name == info.CachedInfo().Cluster.Leader {
				victim = s
			}
		}
	}
	var survivor *natsProc
	for _, s := range servers {
		if s != victim {
			survivor = s
			break
		}
	}
	nc, err := nats.Connect(survivor.url(), nats.Name("herald-bench-storm"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", survivor.url(), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	tally := newFleetTally()
	if err := tally.subscribe(nc); err != nil {
		return nil, err
	}
	e := events.New("bench", fleetEventType, fleetKey, nil)
	ev := tally.expect(e.ID)

	fmt.Fprintf(r.h.stderr, "bench: storm: restarting %s (leads %s)\n", victim.name, events.EventsStream)
	killed := time.Now()
	victim.stop(r.h.stderr)
	restarted := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		restarted <- victim.start(ctx)
	}()
	defer wg.Wait()

	sctx, cancel := context.WithTimeout(ctx, stormTimeout)
	defer cancel()
	if err := publishAcked(sctx, js, e); err != nil {
		return nil, err
	}
	var waitErr error
	select {
	case <-ev.all(n):
	case <-sctx.Done():
		waitErr = fmt.Errorf("%d of %d agents decided the storm's event within %v: %w", ev.count(), n, stormTimeout, sctx.Err())
	}
	if err := <-restarted; err != nil {
		return nil, fmt.Errorf("restart %s: %w", victim.name, err)
	}
	recovered := ev.lastAt().Sub(killed).Seconds()
	if waitErr != nil {
		recovered = math.NaN()
		fmt.Fprintln(r.h.stderr, "bench: storm:", waitErr)
	}
	r.printf("storm agents=%d recovered_s=%.1f decided=%d\n", n, recovered, ev.count())
	return []result{
		num(scStorm, "kill→every agent decided the event published during the restart", recovered, "s", targetStormSecs),
		num(scStorm, "agents that decided it", float64(ev.count()), "", &target{op: ">=", value: float64(n), unit: "agents"}),
	}, waitErr
}
