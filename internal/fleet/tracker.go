// Package fleet follows the agents' announcements (stream HERALD_AGENTS)
// for the dispatcher: which agents are live (events.Announcement.Live),
// for the handlers and run: agents call hooks, and which selectors the
// fleet needs, for the sources: an agent whose watch says
// "on: zk:/git/head" makes the ZooKeeper source watch /git/head, and when
// no live agent needs a path any more it is dropped. One tracker per
// dispatcher is one consumer on HERALD_AGENTS. It knows the announcement
// format, not how any source watches or what a hook or handler does.
package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Tracker holds the latest announcement of every agent. Use New, run Run in
// a goroutine, then read Selectors and wait on Changed.
type Tracker struct {
	js  jetstream.JetStream
	log zerolog.Logger
	now func() time.Time

	// agentCheck, when set (SetAgentCheck), gives the check an
	// announcement's name must pass to count.
	agentCheck func() func(name string) bool

	mu      sync.Mutex
	agents  map[string]events.Announcement
	sets    map[string][]string // kind -> sorted selectors
	changed chan struct{}
	ready   chan struct{}
	isReady bool
}

// New returns a tracker reading announcements through js.
func New(js jetstream.JetStream, log zerolog.Logger) *Tracker {
	return &Tracker{
		js: js, log: log, now: time.Now,
		agents: map[string]events.Announcement{}, sets: map[string][]string{},
		changed: make(chan struct{}), ready: make(chan struct{}),
	}
}

// Static returns a tracker that never changes, holding the given
// selectors; for sources used without a bus of agents (tests, tools).
func Static(selectors ...string) *Tracker {
	t := New(nil, zerolog.Nop())
	t.agents["static"] = events.Announcement{Name: "static", Watches: summaries(selectors)}
	t.recompute()
	t.markReady()
	return t
}

func summaries(sel []string) []events.WatchSummary {
	out := make([]events.WatchSummary, len(sel))
	for i, s := range sel {
		out[i] = events.WatchSummary{On: s}
	}
	return out
}

// SetAgentCheck makes only announcements whose name passes the check
// count (an active agent identity of the auth registry): snapshot is
// called once per pass over the agents and returns the check. Call it
// before Run.
func (t *Tracker) SetAgentCheck(snapshot func() func(name string) bool) { t.agentCheck = snapshot }

// check returns the agent check of this pass: every name passes without
// one.
func (t *Tracker) check() func(string) bool {
	if t.agentCheck == nil {
		return func(string) bool { return true }
	}
	return t.agentCheck()
}

// Selectors returns the sorted, distinct "on:" values of kind ("zk", "kv")
// that live agents hold, e.g. "zk:/git/head".
func (t *Tracker) Selectors(kind string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.sets[kind]...)
}

// LiveAgents returns the latest announcement of every live agent
// (events.Announcement.Live), sorted by name.
func (t *Tracker) LiveAgents() []events.Announcement {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	ok := t.check()
	out := make([]events.Announcement, 0, len(t.agents))
	for _, a := range t.agents {
		if a.Live(now) && ok(a.Name) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Changed returns a channel closed at the next change of any kind's
// selectors.
func (t *Tracker) Changed() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

// Ready is closed once the announcements stored when Run started have
// been read.
func (t *Tracker) Ready() <-chan struct{} { return t.ready }

func (t *Tracker) markReady() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.isReady {
		t.isReady = true
		close(t.ready)
	}
}

// Run follows the announcements until ctx ends, re-reading from the
// latest per agent whenever the consumer fails (NATS down, stream not
// there yet).
func (t *Tracker) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for ctx.Err() == nil {
		err := t.follow(ctx, tick.C)
		if ctx.Err() != nil {
			return nil
		}
		t.log.Warn().Err(err).Msg("following agent announcements; retrying")
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (t *Tracker) follow(ctx context.Context, tick <-chan time.Time) error {
	cons, err := t.js.OrderedConsumer(ctx, events.AgentsStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return err
	}
	defer bus.DeleteOrdered(ctx, t.js, events.AgentsStream, cons)
	if cons.CachedInfo().NumPending == 0 {
		t.markReady()
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	msgs := make(chan jetstream.Msg)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := it.Next()
			if err != nil {
				errc <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			it.Stop()
			return ctx.Err()
		case err := <-errc:
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			return err
		case m := <-msgs:
			var a events.Announcement
			if err := json.Unmarshal(m.Data(), &a); err != nil || a.Name == "" {
				t.log.Warn().Str("subject", m.Subject()).Msg("malformed agent announcement ignored")
				continue
			}
			if m.Subject() != events.AgentSubject(a.Name) {
				// herald.agent.NAME is what NATS permissions give agent
				// NAME alone: an announcement in another's name is not one.
				t.log.Warn().Str("subject", m.Subject()).Str("agent", a.Name).Msg("agent announcement on another agent's subject ignored")
				continue
			}
			if !t.check()(a.Name) {
				t.log.Warn().Str("agent", a.Name).Msg("announcement of an agent that is not an active agent identity ignored")
				continue
			}
			t.mu.Lock()
			t.agents[a.Name] = a
			t.mu.Unlock()
			t.recompute()
			if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
				t.markReady()
			}
		case <-tick:
			t.recompute()
		}
	}
}

// recompute derives the selector sets from live agents and signals a
// change.
func (t *Tracker) recompute() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	ok := t.check()
	sets := map[string]map[string]bool{}
	for _, a := range t.agents {
		if !a.Live(now) || !ok(a.Name) {
			continue
		}
		for _, w := range a.Watches {
			kind, _, ok := strings.Cut(w.On, ":")
			if !ok {
				continue
			}
			if sets[kind] == nil {
				sets[kind] = map[string]bool{}
			}
			sets[kind][w.On] = true
		}
	}
	next := map[string][]string{}
	for kind, set := range sets {
		list := make([]string, 0, len(set))
		for s := range set {
			list = append(list, s)
		}
		sort.Strings(list)
		next[kind] = list
	}
	if equal(next, t.sets) {
		return
	}
	t.sets = next
	close(t.changed)
	t.changed = make(chan struct{})
}

func equal(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || strings.Join(x, "\x00") != strings.Join(y, "\x00") {
			return false
		}
	}
	return true
}
