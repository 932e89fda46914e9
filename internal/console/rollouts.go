package console

import (
	"context"

	"github.com/heraldhq/herald/internal/eventreport"
	"github.com/heraldhq/herald/internal/rollout"
	"github.com/nats-io/nats.go/jetstream"
)

// finalRollouts are the rollouts of a decided event as eventreport shows
// them, read from the herald_rollouts bucket: the report reads them only
// while a host is undecided, so a report that is done holds none (or
// what they were before the last host decided).
func finalRollouts(ctx context.Context, js jetstream.JetStream, sum eventreport.Summary) []eventreport.Rollout {
	if !sum.Done {
		return sum.Rollouts
	}
	all, err := rollout.Read(ctx, js, sum.EventID)
	if err != nil {
		return sum.Rollouts
	}
	var out []eventreport.Rollout
	for _, s := range all {
		ro := eventreport.Rollout{Watch: s.ID.Watch, Started: s.Gate.Started, Finished: s.Gate.Finished, Failures: s.Gate.Failures}
		if p := s.Plan; p != nil {
			ro.Planned, ro.MaxHosts, ro.Canaries = len(p.Hosts), p.Max, p.Canary
		}
		if h := s.Gate.Halt; h != nil {
			ro.Halted = &eventreport.Halt{Reason: h.Reason, By: h.By, At: h.At, Auto: h.Auto}
		}
		out = append(out, ro)
	}
	return out
}
