package eventreport

// The rollouts of the event (watches with rollout:): a host that has not
// decided yet but waits for its turn, or holds one, says so, and the
// report carries each rollout's progress and halt.

import (
	"context"
	"time"

	"github.com/heraldhq/herald/internal/rollout"
)

// States an undecided host shows while its watch's rollout coordinates
// it (package rollout's host states).
const (
	StatusWaiting = rollout.StateWaiting // waiting for its rollout turn
	StatusRunning = rollout.StateRunning // holds a turn: its run is under way
)

// Rollout is one watch's rollout of the event.
type Rollout struct {
	Watch string `json:"watch"`
	// Planned is how many hosts the rollout's plan holds, MaxHosts how many
	// may run at once, Canaries the hosts that go first.
	Planned  int      `json:"planned"`
	MaxHosts int      `json:"max_hosts"`
	Canaries []string `json:"canaries,omitempty"`
	Started  int      `json:"started"`
	Finished int      `json:"finished"`
	Failures int      `json:"failures"`
	// Halted is set while the rollout is halted: why, by whom, when.
	Halted *Halt `json:"halted,omitempty"`
}

// Halt is a rollout's halt.
type Halt struct {
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Auto   bool      `json:"auto,omitempty"`
}

// readRollouts reads the event's rollouts: the host states of the hosts
// still undecided, and each rollout's progress, at every poll (the last
// one too: a done report shows how its rollouts ended). A reader without
// the rollouts bucket (or before any host reached the event) gets none.
func (r *report) readRollouts(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	all, err := rollout.Read(rctx, r.js, r.cfg.Event.ID)
	if err != nil {
		return
	}
	r.states = map[pair]string{}
	r.rollouts = r.rollouts[:0]
	for _, s := range all {
		if r.cfg.Watch != "" && s.ID.Watch != r.cfg.Watch {
			continue
		}
		for _, h := range s.Hosts {
			if h.State == rollout.StateWaiting || h.State == rollout.StateRunning {
				r.states[pair{host: h.Host, watch: s.ID.Watch}] = h.State
			}
		}
		ro := Rollout{Watch: s.ID.Watch, Started: s.Gate.Started, Finished: s.Gate.Finished, Failures: s.Gate.Failures}
		if p := s.Plan; p != nil {
			ro.Planned, ro.MaxHosts, ro.Canaries = len(p.Hosts), p.Max, p.Canary
		}
		if h := s.Gate.Halt; h != nil {
			ro.Halted = &Halt{Reason: h.Reason, By: h.By, At: h.At, Auto: h.Auto}
		}
		r.rollouts = append(r.rollouts, ro)
	}
}
