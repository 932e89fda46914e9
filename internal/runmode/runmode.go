// Package runmode holds Herald's run-mode policies (Twitcher's queue,
// discard and parallel) as pure decisions over plain values: given the
// events offered to one watch and the runs that finished, which runs start
// now, which events are decided without running, and which in-flight
// processes should hear that newer data arrived.
//
// It knows nothing of NATS, processes, clocks, outcomes or watch files: the
// agent builds one Policy per watch, calls it under that watch's mutex and
// carries out every Result it returns. A Policy is therefore NOT safe for
// concurrent use.
package runmode

import (
	"errors"
	"fmt"
	"maps"
)

// Run modes understood by New. They match the run_mode values of a watch
// file.
const (
	ModeQueue    = "queue"
	ModeDiscard  = "discard"
	ModeParallel = "parallel"
)

// Statuses carried by Dropped. They match the outcome statuses of package
// events.
const (
	StatusDiscarded  = "discarded"
	StatusSuperseded = "superseded"
)

// ErrUnknownMode is returned by New for a mode other than queue, discard,
// parallel or "".
var ErrUnknownMode = errors.New("unknown run mode")

// ErrMaxParallel is returned by New for parallel mode with maxParallel < 0.
var ErrMaxParallel = errors.New("invalid max parallel")

// Item is one event for one key, as the agent hands it to a policy.
type Item struct {
	Key   string // the event key
	Seq   uint64 // stream sequence: higher is newer for the same key
	Value any    // opaque to the policy (the agent's delivery)
	// Again offers an item this policy decided before once more (a
	// resumed rollout's halted event): it is stale only when a newer item
	// for its key was offered since.
	Again bool
}

// Dropped is an item decided without running.
type Dropped struct {
	Item   Item
	Status string // "discarded" or "superseded"
	// By is, for a superseded pending item, the newer item that replaced
	// it. It is nil when the offered item itself was stale: its Seq was not
	// newer than one already started or pending for its key (a redelivery,
	// or an older event arriving late).
	By *Item
}

// Result says what the agent must do after Offer/Done.
type Result struct {
	Start   []Item    // start these runs now
	Dropped []Dropped // decide these (ack + outcome) without running
	Notify  []Item    // in-flight items whose process should get notify_signal (queue mode, a newer event for the watch arrived)
}

// Stale reports whether the Result of offering it dropped it as stale
// (not newer than what was started or pending for its key).
func (r Result) Stale(it Item) bool {
	for _, d := range r.Dropped {
		if d.By == nil && idOf(d.Item) == idOf(it) {
			return true
		}
	}
	return false
}

// Policy decides the runs of one watch. Items are identified by Key and
// Seq; Value is carried through untouched. A Policy is not safe for
// concurrent use.
//
// Every policy remembers, per key, the highest Seq it has started or holds
// pending, and drops an offer whose Seq is not above it as superseded (By
// nil) without running it. That memory holds one entry per key ever seen
// and is never pruned: keys are few per watch, and a watch's policy is
// replaced when the watch is reloaded with another run mode or removed.
type Policy interface {
	// Offer hands the policy a newly arrived event.
	Offer(it Item) Result
	// Done reports that a started item finished (ok or not); it may start
	// the next. Done for an item that is not in flight (never started,
	// already done, or started by another policy) changes nothing and
	// returns an empty Result.
	Done(it Item) Result
	// Drain removes and returns every pending (not started) item, in the
	// order they would have started, e.g. on watch removal or shutdown.
	// They are neither run nor dropped: the caller owns them. Drained items
	// no longer count as pending for staleness, so offering them again
	// later is accepted.
	Drain() []Item
	// Running is the number of items in flight.
	Running() int
	// Pending is the number of items waiting to start.
	Pending() int
	// Mode is the run mode: queue, discard or parallel.
	Mode() string
}

// New returns the policy for mode ("" means queue). maxParallel is the cap
// on runs in flight for parallel mode, 0 for no cap (Twitcher's PARALLEL
// ran every update at once); the other modes ignore it.
func New(mode string, maxParallel int) (Policy, error) {
	switch mode {
	case "", ModeQueue:
		return &queue{seqs: newSeqs(), slots: map[string]Item{}}, nil
	case ModeDiscard:
		return &discard{seqs: newSeqs()}, nil
	case ModeParallel:
		if maxParallel < 0 {
			return nil, fmt.Errorf("%w: max_parallel %d for run mode parallel: want 0 (no cap) or more", ErrMaxParallel, maxParallel)
		}
		return &parallel{seqs: newSeqs(), max: maxParallel, running: map[id]Item{}}, nil
	default:
		return nil, fmt.Errorf("%w: %q: want queue, discard or parallel", ErrUnknownMode, mode)
	}
}

// id identifies an item inside a policy.
type id struct {
	key string
	seq uint64
}

func idOf(it Item) id { return id{it.Key, it.Seq} }

// seqs is the per-key staleness memory shared by every mode.
type seqs struct {
	started map[string]uint64 // highest Seq started, per key
	seen    map[string]uint64 // highest Seq started or pending, per key
}

func newSeqs() seqs {
	return seqs{started: map[string]uint64{}, seen: map[string]uint64{}}
}

// stale reports whether it is not newer than an item already started or
// pending for its key.
func (s *seqs) stale(it Item) bool {
	h, ok := s.seen[it.Key]
	if it.Again {
		return ok && it.Seq < h
	}
	return ok && it.Seq <= h
}

// hold records a fresh (not stale) item as started or pending.
func (s *seqs) hold(it Item) { s.seen[it.Key] = it.Seq }

// start records that it was started.
func (s *seqs) start(it Item) {
	if h, ok := s.started[it.Key]; !ok || it.Seq > h {
		s.started[it.Key] = it.Seq
	}
}

// drained forgets every pending item: what is left is what was started.
func (s *seqs) drained() {
	clear(s.seen)
	maps.Copy(s.seen, s.started)
}

// staleResult drops a stale offer.
func staleResult(it Item) Result {
	return Result{Dropped: []Dropped{{Item: it, Status: StatusSuperseded}}}
}

// queue runs one item at a time; while it runs, each key has one pending
// slot holding its newest item, slots started in order of first arrival.
type queue struct {
	seqs
	busy  bool
	cur   Item            // the item in flight when busy
	order []string        // keys with a pending slot, by first arrival
	slots map[string]Item // the pending slot of each key in order
}

func (q *queue) Mode() string { return ModeQueue }

func (q *queue) Running() int {
	if q.busy {
		return 1
	}
	return 0
}

func (q *queue) Pending() int { return len(q.order) }

// Offer starts it when idle; otherwise it takes (or replaces) its key's
// slot and the in-flight item is to be notified. A stale offer is dropped
// and notifies nothing: it carries nothing newer than what already ran or
// waits.
func (q *queue) Offer(it Item) Result {
	if q.stale(it) {
		return staleResult(it)
	}
	q.hold(it)
	if !q.busy {
		q.run(it)
		return Result{Start: []Item{it}}
	}
	res := Result{Notify: []Item{q.cur}}
	if old, ok := q.slots[it.Key]; ok {
		by := it
		res.Dropped = []Dropped{{Item: old, Status: StatusSuperseded, By: &by}}
	} else {
		q.order = append(q.order, it.Key)
	}
	q.slots[it.Key] = it
	return res
}

func (q *queue) Done(it Item) Result {
	if !q.busy || idOf(q.cur) != idOf(it) {
		return Result{}
	}
	q.busy, q.cur = false, Item{}
	if len(q.order) == 0 {
		return Result{}
	}
	key := q.order[0]
	q.order[0] = ""
	q.order = q.order[1:]
	next := q.slots[key]
	delete(q.slots, key)
	q.run(next)
	return Result{Start: []Item{next}}
}

func (q *queue) run(it Item) {
	q.start(it)
	q.busy, q.cur = true, it
}

func (q *queue) Drain() []Item {
	if len(q.order) == 0 {
		return nil
	}
	out := make([]Item, 0, len(q.order))
	for _, k := range q.order {
		out = append(out, q.slots[k])
	}
	q.order = nil
	clear(q.slots)
	q.drained()
	return out
}

// discard runs one item at a time and drops what arrives meanwhile.
type discard struct {
	seqs
	busy bool
	cur  Item
}

func (d *discard) Mode() string { return ModeDiscard }

func (d *discard) Running() int {
	if d.busy {
		return 1
	}
	return 0
}

func (d *discard) Pending() int { return 0 }

// Offer starts it when idle, else drops it as discarded. A discarded item
// is not remembered for staleness: it was neither started nor pending.
func (d *discard) Offer(it Item) Result {
	if d.stale(it) {
		return staleResult(it)
	}
	if d.busy {
		return Result{Dropped: []Dropped{{Item: it, Status: StatusDiscarded}}}
	}
	d.hold(it)
	d.start(it)
	d.busy, d.cur = true, it
	return Result{Start: []Item{it}}
}

func (d *discard) Done(it Item) Result {
	if d.busy && idOf(d.cur) == idOf(it) {
		d.busy, d.cur = false, Item{}
	}
	return Result{}
}

func (d *discard) Drain() []Item { return nil }

// parallel runs up to max items at once (max 0: all of them); the rest
// wait in arrival order.
type parallel struct {
	seqs
	max     int // 0: no cap
	running map[id]Item
	waiting []Item // FIFO
}

func (p *parallel) Mode() string { return ModeParallel }
func (p *parallel) Running() int { return len(p.running) }
func (p *parallel) Pending() int { return len(p.waiting) }

func (p *parallel) Offer(it Item) Result {
	if p.stale(it) {
		return staleResult(it)
	}
	p.hold(it)
	if p.max == 0 || len(p.running) < p.max {
		p.run(it)
		return Result{Start: []Item{it}}
	}
	p.waiting = append(p.waiting, it)
	return Result{}
}

func (p *parallel) Done(it Item) Result {
	k := idOf(it)
	if _, ok := p.running[k]; !ok {
		return Result{}
	}
	delete(p.running, k)
	if len(p.waiting) == 0 {
		return Result{}
	}
	next := p.waiting[0]
	p.waiting[0] = Item{}
	p.waiting = p.waiting[1:]
	p.run(next)
	return Result{Start: []Item{next}}
}

func (p *parallel) run(it Item) {
	p.start(it)
	p.running[idOf(it)] = it
}

func (p *parallel) Drain() []Item {
	if len(p.waiting) == 0 {
		return nil
	}
	out := p.waiting
	p.waiting = nil
	p.drained()
	return out
}
