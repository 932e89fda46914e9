package eventreport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go/jetstream"
)

// Event is the stored event a report is about.
type Event struct {
	ID, Type, Key string
	// Seq is its sequence in HERALD_EVENTS.
	Seq uint64
	// Stored is when it was stored: the hosts live then are expected.
	Stored time.Time
}

// DefaultPoll is how often Follow reads new outcomes.
const DefaultPoll = 500 * time.Millisecond

// ClockSkew is how far before the event's stored time outcomes are read
// from when Config.OutcomesFrom is not known: the streams' leaders may run
// on servers whose clocks differ.
const ClockSkew = time.Minute

// readBytes bounds one direct get of outcomes.
const readBytes = 4 << 20

// Config says which event to report on and how.
type Config struct {
	Event Event
	// Watch, when set, reports on that watch alone.
	Watch string
	// OutcomesFrom is the first HERALD_OUTCOMES sequence that may hold an
	// outcome of the event (the stream's last sequence + 1 before it was
	// published); 0: from ClockSkew before Event.Stored.
	OutcomesFrom uint64
	// Poll is how often Follow reads new outcomes (DefaultPoll when 0).
	Poll time.Duration
	// AgentCheck, when set, must pass an agent's name for its
	// announcement to count (the dispatcher's active agent identities).
	AgentCheck func(name string) bool
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Event.ID == "":
		return errors.New("event.id: required")
	case c.Event.Type == "":
		return errors.New("event.type: required")
	case c.Event.Stored.IsZero():
		return errors.New("event.stored: required")
	case c.Poll < 0:
		return errors.New("poll: must not be negative")
	}
	return nil
}

// report is the state of one report.
type report struct {
	cfg   Config
	js    jetstream.JetStream
	hosts map[pair]*Host
	next  uint64 // the next outcome sequence to read; 0: by time
	// states are the rollout states of undecided hosts, rollouts the
	// event's rollouts (rollouts.go).
	states   map[pair]string
	rollouts []Rollout
}

func newReport(ctx context.Context, js jetstream.JetStream, cfg Config) (*report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("event report: %w", err)
	}
	anns, err := bus.Announcements(ctx, js, nil)
	if err != nil {
		return nil, err
	}
	if cfg.AgentCheck != nil {
		anns = slices.DeleteFunc(anns, func(a events.Announcement) bool { return !cfg.AgentCheck(a.Name) })
	}
	r := &report{cfg: cfg, js: js, hosts: map[pair]*Host{}, next: cfg.OutcomesFrom}
	for _, p := range expectedPairs(anns, cfg.Event, cfg.Watch) {
		r.hosts[p] = &Host{Host: p.host, Watch: p.watch, Status: StatusPending}
	}
	return r, nil
}

// Read returns the summary of the event as it stands now.
func Read(ctx context.Context, js jetstream.JetStream, cfg Config) (Summary, error) {
	r, err := newReport(ctx, js, cfg)
	if err != nil {
		return Summary{}, err
	}
	if err := r.poll(ctx); err != nil {
		return Summary{}, err
	}
	return r.summary(), nil
}

// Follow reports on the event until every expected host decided it or
// ctx ends: onChange (when not nil) gets the first summary and every
// changed one after it, from Follow's goroutine. It returns the last
// summary, with ctx's error when ctx ended first (wrapped with the last
// read's error when that read failed). A failed read is retried at the
// next poll; only the first read of the announcements is fatal.
func Follow(ctx context.Context, js jetstream.JetStream, cfg Config, onChange func(Summary)) (Summary, error) {
	r, err := newReport(ctx, js, cfg)
	if err != nil {
		return Summary{}, err
	}
	every := cfg.Poll
	if every == 0 {
		every = DefaultPoll
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var last Summary
	first := true
	for {
		perr := r.poll(ctx)
		s := r.summary()
		if first || !reflect.DeepEqual(s, last) {
			first = false
			last = s
			if onChange != nil {
				onChange(s)
			}
		}
		if s.Done && perr == nil {
			return s, nil
		}
		select {
		case <-ctx.Done():
			if perr != nil && ctx.Err() != nil && !errors.Is(perr, ctx.Err()) {
				return last, fmt.Errorf("%w (the last read failed: %w)", ctx.Err(), perr)
			}
			return last, ctx.Err()
		case <-tick.C:
		}
	}
}

func (r *report) summary() Summary {
	s := summarize(r.cfg.Event, r.cfg.Watch, r.hosts, r.states)
	if len(r.rollouts) > 0 {
		s.Rollouts = append([]Rollout(nil), r.rollouts...)
	}
	return s
}

// filter is the outcome subjects read: every host's, of one watch when
// given.
func (r *report) filter() string {
	if r.cfg.Watch != "" {
		return events.OutcomePrefix + ".*." + events.EncodeToken(r.cfg.Watch)
	}
	return events.OutcomePrefix + ".>"
}

// poll reads the outcomes stored since the last poll and applies them.
func (r *report) poll(ctx context.Context) error {
	if len(r.hosts) == 0 {
		return nil
	}
	rd := bus.BatchRead{Stream: events.OutcomesStream, Subject: r.filter(), Seq: r.next, MaxBytes: readBytes}
	if r.next == 0 {
		rd.StartTime = r.cfg.Event.Stored.Add(-ClockSkew)
	}
	next, err := rd.Each(ctx, r.js, func(m *jetstream.RawStreamMsg) error {
		r.apply(m)
		return nil
	})
	if next > r.next {
		r.next = next
	}
	if err != nil {
		return fmt.Errorf("read outcomes: %w", err)
	}
	r.readRollouts(ctx)
	return nil
}

// apply records m if it decides the event for an expected host: its own
// outcome, or a newer event's that lists it as superseded
// (events.Outcome.Absorbed, as the handlers' all_reported counts it).
func (r *report) apply(m *jetstream.RawStreamMsg) {
	var o events.Outcome
	if json.Unmarshal(m.Data, &o) != nil || m.Subject != o.Subject() {
		return // an outcome counts only on its own host's subject
	}
	h := r.hosts[pair{host: o.Host, watch: o.Watch}]
	if h == nil {
		return
	}
	for _, x := range append(o.Absorbed(), o) {
		if x.EventID == r.cfg.Event.ID {
			record(h, x, m.Time)
		}
	}
}

// record makes x, stored at t, h's answer, unless h already has a run
// status and x does not say the event ran (events.MergeStatus).
func record(h *Host, x events.Outcome, t time.Time) {
	had := h.Status != StatusPending
	if next := events.MergeStatus(events.Status(h.Status), had, x.Status); had && string(next) == h.Status {
		return
	}
	*h = Host{
		Host: x.Host, Watch: x.Watch, Status: string(x.Status), ExitCode: x.ExitCode, Signal: x.Signal,
		Attempts: x.Attempts, DurationMS: x.DurationMS,
		Stdout: lastLines(x.Stdout, StderrLines), Stderr: lastLines(x.Stderr, StderrLines),
		Error: x.Error, SupersededBy: x.SupersededBy, Reported: t,
	}
}
