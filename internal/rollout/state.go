package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go/jetstream"
)

// Host states. A host's final state is its run's outcome status (ok,
// failed, timeout, error) or halted.
const (
	StateWaiting = "waiting" // waiting for its turn
	StateRunning = "running" // holds a turn
	StateHalted  = "halted"  // did not run: the rollout was halted
	StateOK      = "ok"
)

// Plan is the rollout as the first host to reach it saw the fleet: who
// takes part, in which order, and the limits resolved for that many.
type Plan struct {
	EventID string    `json:"event_id"`
	Watch   string    `json:"watch"`
	Key     string    `json:"key"`
	Hosts   []string  `json:"hosts"` // in order
	Canary  []string  `json:"canaries,omitempty"`
	Max     int       `json:"max_hosts"`
	HaltAt  int       `json:"halt_after_failures,omitempty"`
	Order   string    `json:"order"`
	LeaseS  float64   `json:"lease_s"`
	By      string    `json:"by"` // the host that wrote it
	Created time.Time `json:"created"`
	// EventTime is the event's own time, for the time to the last host.
	EventTime time.Time `json:"event_time,omitzero"`
}

// isCanary reports whether host is one of the plan's canaries.
func (p *Plan) isCanary(host string) bool { return slices.Contains(p.Canary, host) }

// position is host's place in the plan's order; a host that joined after
// the plan was made comes after every planned one.
func (p *Plan) position(host string) int {
	if i := slices.Index(p.Hosts, host); i >= 0 {
		return i
	}
	return len(p.Hosts)
}

// Halt is why a rollout stopped starting runs.
type Halt struct {
	Reason string    `json:"reason"`
	By     string    `json:"by"` // a host (automatic) or an identity (by hand)
	At     time.Time `json:"at"`
	Auto   bool      `json:"auto,omitempty"`
}

// Gate is what must not race: changed only by compare-and-set.
type Gate struct {
	Started  int      `json:"started"`
	Finished int      `json:"finished"`
	Failures int      `json:"failures"`
	CanaryOK []string `json:"canaries_ok,omitempty"`
	// CanaryFailed are the canaries whose run failed.
	CanaryFailed []string `json:"canaries_failed,omitempty"`
	Halt         *Halt    `json:"halt,omitempty"`
	// FailBase is Failures when the rollout was last resumed: the halt
	// counts failures after it.
	FailBase int `json:"failures_at_resume,omitempty"`
	// CanaryWaived: resumed by hand after a canary failed; the rest no
	// longer wait for the canaries.
	CanaryWaived bool `json:"canaries_waived,omitempty"`
	// Resumed is the last resume, when there was one.
	Resumed *Halt `json:"resumed,omitempty"`
	// LastFinished is when the last run finished.
	LastFinished time.Time `json:"last_finished,omitzero"`
}

// HostState is one host's record.
type HostState struct {
	Host     string    `json:"host"`
	State    string    `json:"state"`
	ExitCode *int      `json:"exit_code,omitempty"`
	Canary   bool      `json:"canary,omitempty"`
	Turn     int       `json:"turn,omitempty"` // the turn held while running (1-based; 0 none)
	At       time.Time `json:"at"`
	Reason   string    `json:"reason,omitempty"`
}

// failed reports whether a final state counts as a failure.
func failed(state string) bool { return state == "failed" || state == "timeout" || state == "error" }

// gateRef is a gate with the revision it was read at.
type gateRef struct {
	Gate
	rev uint64
}

func getJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	e, err := kv.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("rollout: %s: %w", key, err)
	}
	return e.Revision(), nil
}

func readGate(ctx context.Context, kv jetstream.KeyValue, id ID) (gateRef, error) {
	var g gateRef
	rev, err := getJSON(ctx, kv, id.gateKey(), &g.Gate)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return gateRef{}, nil // rev 0: Create
	}
	g.rev = rev
	return g, err
}

// casGate applies change to the rollout's gate until a compare-and-set
// succeeds; change returns false to leave it as it is.
func casGate(ctx context.Context, kv jetstream.KeyValue, id ID, change func(*Gate) bool) (Gate, error) {
	for {
		g, err := readGate(ctx, kv, id)
		if err != nil {
			return Gate{}, err
		}
		if !change(&g.Gate) {
			return g.Gate, nil
		}
		b, _ := json.Marshal(g.Gate)
		if g.rev == 0 {
			_, err = kv.Create(ctx, id.gateKey(), b)
		} else {
			_, err = kv.Update(ctx, id.gateKey(), b, g.rev)
		}
		switch {
		case err == nil:
			return g.Gate, nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			if ctx.Err() != nil {
				return Gate{}, ctx.Err()
			}
			continue // someone else changed it: read again
		default:
			return Gate{}, err
		}
	}
}

// Status is everything the bucket holds for one rollout.
type Status struct {
	ID    ID
	Plan  *Plan
	Gate  Gate
	Hosts []HostState // by plan order, then name
	// Turns held now: turn number (1-based) to host.
	Turns map[int]string
}

// Read returns the state of every rollout of an event (one per watch with
// a rollout that received it), by watch name.
func Read(ctx context.Context, js jetstream.JetStream, eventID string) ([]Status, error) {
	by := map[ID]*Status{}
	get := func(id ID) *Status {
		s := by[id]
		if s == nil {
			s = &Status{ID: id, Turns: map[int]string{}}
			by[id] = s
		}
		return s
	}
	err := bus.LastMsgs(ctx, js, Stream, []string{EventSubjects(eventID)}, func(m *jetstream.RawStreamMsg) error {
		if deleted(m) {
			return nil
		}
		id, rest, ok := parseSubject(m.Subject)
		if !ok {
			return nil
		}
		s := get(id)
		switch {
		case rest == "plan":
			var p Plan
			if json.Unmarshal(m.Data, &p) == nil {
				s.Plan = &p
			}
		case rest == "gate":
			_ = json.Unmarshal(m.Data, &s.Gate)
		case len(rest) > 5 && rest[:5] == "turn.":
			var n int
			if _, err := fmt.Sscanf(rest[5:], "%d", &n); err == nil {
				s.Turns[n+1] = string(m.Data)
			}
		case len(rest) > 5 && rest[:5] == "host.":
			var h HostState
			if json.Unmarshal(m.Data, &h) == nil {
				s.Hosts = append(s.Hosts, h)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, err
	}
	out := make([]Status, 0, len(by))
	for _, s := range by {
		s.sortHosts()
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.Watch < out[j].ID.Watch })
	return out, nil
}

func (s *Status) sortHosts() {
	pos := func(h string) int {
		if s.Plan == nil {
			return 0
		}
		return s.Plan.position(h)
	}
	sort.Slice(s.Hosts, func(i, j int) bool {
		pi, pj := pos(s.Hosts[i].Host), pos(s.Hosts[j].Host)
		if pi != pj {
			return pi < pj
		}
		return s.Hosts[i].Host < s.Hosts[j].Host
	})
}

// deleted reports a key's delete, purge or TTL-expiry marker.
func deleted(m *jetstream.RawStreamMsg) bool {
	if m.Header == nil {
		return false
	}
	op := m.Header.Get("KV-Operation")
	return op == "DEL" || op == "PURGE" || m.Header.Get(jetstream.MarkerReasonHeader) != ""
}

// Audit event types: a halt or resume by hand, published by herald
// rollout in the events stream (reserved types: only deployers, the
// dispatchers and the admin may publish them).
const (
	TypeHalted  = "rollout.halted"
	TypeResumed = "rollout.resumed"
)

// Audit is the data of a rollout.halted or rollout.resumed event.
type Audit struct {
	EventID string   `json:"event_id"`
	Watches []string `json:"watches"`
	// By is the caller's identity (its credentials' name) or, without
	// credentials, its user name; User and Host are where it ran.
	By     string `json:"by"`
	User   string `json:"user,omitempty"`
	Host   string `json:"host,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Newest returns the rollouts of the newest event of key that has any
// (by the plans' times), or nil.
func Newest(ctx context.Context, js jetstream.JetStream, key string) ([]Status, error) {
	var newest *Plan
	err := bus.LastMsgs(ctx, js, Stream, []string{SubjectPrefix + "*.*.plan"}, func(m *jetstream.RawStreamMsg) error {
		var p Plan
		if deleted(m) || json.Unmarshal(m.Data, &p) != nil || p.Key != key {
			return nil
		}
		if newest == nil || p.Created.After(newest.Created) {
			newest = &p
		}
		return nil
	})
	if err != nil || newest == nil {
		return nil, err
	}
	return Read(ctx, js, newest.EventID)
}

// Counts are a rollout's hosts by state; the planned hosts with no state
// yet count as pending.
func (s Status) Counts() map[string]int {
	c := map[string]int{}
	seen := map[string]bool{}
	for _, h := range s.Hosts {
		c[h.State]++
		seen[h.Host] = true
	}
	if s.Plan != nil {
		for _, h := range s.Plan.Hosts {
			if !seen[h] {
				c["pending"]++
			}
		}
	}
	return c
}

// ToLastHost is the time from the event to the last planned host's end,
// once every planned host has a final state.
func (s Status) ToLastHost() (time.Duration, bool) {
	if s.Plan == nil || s.Plan.EventTime.IsZero() {
		return 0, false
	}
	final := map[string]bool{}
	var last time.Time
	for _, h := range s.Hosts {
		if h.State == StateWaiting || h.State == StateRunning {
			continue
		}
		final[h.Host] = true
		if h.At.After(last) {
			last = h.At
		}
	}
	for _, h := range s.Plan.Hosts {
		if !final[h] {
			return 0, false
		}
	}
	return last.Sub(s.Plan.EventTime), true
}
