// Package feed delivers to one agent every event that matches its
// filters, once each and in stream order per subject, without holding a
// consumer on the server. Events arrive live through the events stream's
// republish on core NATS (herald.live.>); what the live path may have lost
// (a reconnect, a slow-consumer drop, a stream leader that died between
// storing and republishing) is read back with batched direct gets from the
// last verified stream sequence, at start, after every reconnect or drop,
// and every Verify interval. The agent says when an event is decided; the
// feed keeps the sequence below which everything is decided, and the
// decided events above it, in a file in the agent's state dir, so that an
// agent that stops or crashes reads, when it starts again, exactly the
// events it had not decided (a run cut short by a crash runs again).
//
// See docs/ARCHITECTURE.md, "The bus", for why and for the figures.
//
// It knows the stream layout and the live subjects from package events and
// nothing about watches, run modes or actions.
package feed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/fielderr"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Defaults.
const (
	DefaultVerify = 10 * time.Second
	// liveBuffer is how many live messages may wait for the feed's loop
	// before the feed drops them (and reads them back). They wait in a
	// slice that grows only with the backlog, not in a channel allocated
	// at its full size.
	liveBuffer = 1 << 20
	// maxDone is how many events received above the verified sequence make
	// the feed verify at once (which lets the cursor pass them) rather than
	// wait for the Verify tick: it bounds the memory and the state file
	// under load.
	maxDone = 1 << 12
	// poll is how often the loop looks for drops and reconnects: with
	// thousands of agents on one machine, a quarter-second tick each was
	// most of an idle fleet's CPU. A reconnect is deliberately not acted
	// on the moment the connection reports it: checked then, the stream
	// still answered from before its leader died and the checks after it
	// were spent before the new leader stored anything.
	poll = time.Second
	// recheck is how long after settle the checks that follow a
	// reconnect or a new leader come, twice: a quarter-second, as when
	// poll was one. A second later, more often some agent missed the
	// event stored during the election and waited for the periodic
	// verify (bench fleet -cluster's storm with 1,000 agents: 10 s in 2
	// of 3 runs, against 1 of 3 at a quarter-second; a replica still
	// behind answering the checks' direct gets is the likely cause, not
	// a proven one).
	recheck = 250 * time.Millisecond
	// recreatedCheck bounds how often a suspicious sequence makes the feed
	// ask whether the stream was recreated.
	recreatedCheck = 5 * time.Second
)

// Config says where the feed reads and keeps its position.
type Config struct {
	// Stream is the events stream (events.EventsStream).
	Stream string
	// StateFile keeps the position across restarts.
	StateFile string
	// Verify is how often the feed reads the stream for what the live
	// path lost even when nothing says it did.
	Verify time.Duration
	// Started is called once, from the feed's goroutine, after the first
	// read and before any live event (run_on_load goes there).
	Started func()
	// NewStream is called, from the feed's goroutine, when the events
	// stream was created anew: sequences start again at 1.
	NewStream func()
	// Unreachable is called, from the feed's goroutine, each time the
	// stream cannot be asked at start (NATS down, credentials refused);
	// the feed logs at warn when it is nil.
	Unreachable func(err error)
	Log         zerolog.Logger
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Stream == "":
		return fielderr.New(ErrInvalidConfig, "stream", "required")
	case c.StateFile == "":
		return fielderr.New(ErrInvalidConfig, "state_file", "required")
	case c.Verify <= 0:
		return fielderr.New(ErrInvalidConfig, "verify", "must be positive")
	}
	return nil
}

// ErrInvalidConfig wraps every bad Config.
var ErrInvalidConfig = errors.New("invalid feed config")

// leaderElected is the advisory subject (plus the stream's name) on which
// the server announces a new stream leader.
const leaderElected = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."

// verifyTries is how often a count that disagrees with what was received
// is taken again before the feed reads the events themselves.
const verifyTries = 3

// settle is how long ago an event must have been known stored before a
// direct get is trusted to see it: any replica may answer one, and a
// follower may be a little behind the leader.
const settle = time.Second

type mark struct {
	at   time.Time
	high uint64
}

// mark records the highest sequence known stored now (the loop calls it
// every poll).
func (f *Feed) mark() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	f.marks = append(f.marks, mark{at: now, high: f.high})
	// Keep one mark older than settle, and the ones after it.
	i := 0
	for i+1 < len(f.marks) && now.Sub(f.marks[i+1].at) >= settle {
		i++
	}
	f.marks = f.marks[i:]
}

// settledHigh is the highest sequence known stored at least settle ago, or
// the verified one when there is none yet. f.mu is held.
func (f *Feed) settledHigh() uint64 {
	h := f.verified
	for _, m := range f.marks {
		if time.Since(m.at) >= settle {
			h = max(h, m.high)
		}
	}
	return h
}

// Msg is one event of the stream, with its subject in the stream (not the
// live subject it may have come on).
type Msg struct {
	Seq     uint64
	Subject string
	Header  nats.Header
	Data    []byte
	// Superseded are older events of the same subject that a catch-up read
	// found and that this one replaces: they are decided with it.
	Superseded []Msg

	feed  *Feed
	epoch uint64
}

// Done tells the feed that the agent has decided m (and what it superseded).
func (m Msg) Done() {
	if m.feed == nil {
		return
	}
	seqs := make([]uint64, 0, 1+len(m.Superseded))
	seqs = append(seqs, m.Seq)
	for _, o := range m.Superseded {
		seqs = append(seqs, o.Seq)
	}
	m.feed.decided(m.epoch, seqs)
}

// Handler receives events from the feed's one goroutine, in order; it must
// not block. catchUp is true for what a read found rather than the live
// path: a batch holding at most the newest event of each subject.
type Handler func(msgs []Msg, catchUp bool)

// Feed is one agent's view of the events stream.
type Feed struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream
	st  *stateFile

	mu       sync.Mutex
	epoch    uint64 // bumped when the stream is recreated
	created  time.Time
	cursor   uint64              // everything at or below is decided
	done     map[uint64]struct{} // decided, above cursor
	pending  map[uint64]struct{} // delivered, not decided
	received map[uint64]string   // delivered or skipped, above verified: its filter
	verified uint64              // nothing at or below was lost
	high     uint64              // highest sequence known stored
	stuckAt  uint64              // the highest received when the last verify saw events above it (the loop's own)
	marks    []mark              // recent highs, for settledHigh
	last     map[string]uint64   // newest delivered sequence per subject
	filters  []string
	subs     map[string]*nats.Subscription
	dirty    bool

	started   chan struct{}
	inbox     inbox
	verifyNow chan struct{}
	flush     chan struct{}
	wg        sync.WaitGroup
}

// New opens the feed's state file; Run starts it.
func New(nc *nats.Conn, js jetstream.JetStream, cfg Config) (*Feed, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := openState(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	f := &Feed{
		cfg: cfg, nc: nc, js: js, st: st,
		done: map[uint64]struct{}{}, pending: map[uint64]struct{}{}, received: map[uint64]string{},
		last: map[string]uint64{}, subs: map[string]*nats.Subscription{},
		started: make(chan struct{}),
		inbox:   inbox{ready: make(chan struct{}, 1)}, verifyNow: make(chan struct{}, 1), flush: make(chan struct{}, 1),
	}
	if s, ok := st.loaded(); ok {
		f.created, f.cursor = s.Created, s.Cursor
		for _, r := range s.Done {
			if r[1] < r[0] || r[1]-r[0] > maxDone*4 {
				return nil, fmt.Errorf("feed: %s: bad done range %v (delete the file to start from the stream's end)", cfg.StateFile, r)
			}
			for seq := max(r[0], f.cursor+1); seq <= r[1]; seq++ {
				f.done[seq] = struct{}{}
			}
		}
		f.verified, f.high = f.cursor, f.cursor
	}
	return f, nil
}

// Position returns the sequence below which everything is decided.
func (f *Feed) Position() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cursor
}

// SetFilters changes the event subjects the feed follows: it subscribes to
// the live subject of each new filter and drops the ones no longer given.
func (f *Feed) SetFilters(filters []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	want := map[string]bool{}
	for _, flt := range filters {
		want[flt] = true
		if _, ok := f.subs[flt]; ok {
			continue
		}
		sub, err := f.nc.Subscribe(events.LiveSubject(flt), f.inbox.put)
		if err != nil {
			return fmt.Errorf("feed: subscribe %s: %w", events.LiveSubject(flt), err)
		}
		_ = sub.SetPendingLimits(liveBuffer, -1)
		f.subs[flt] = sub
	}
	for flt, sub := range f.subs {
		if !want[flt] {
			_ = sub.Unsubscribe()
			delete(f.subs, flt)
		}
	}
	f.filters = slices.Sorted(func(yield func(string) bool) {
		for flt := range want {
			if !yield(flt) {
				return
			}
		}
	})
	return nil
}

// Started is closed once the feed knows its position and has delivered
// what it read from there; every event stored after that is delivered.
func (f *Feed) Started() <-chan struct{} { return f.started }

// Verify asks the feed to read the stream for lost events now.
func (f *Feed) Verify() {
	select {
	case f.verifyNow <- struct{}{}:
	default:
	}
}

// Run delivers events to h until ctx ends, then writes the state file.
// The first read (from the stored position, or from the stream's end for
// a new agent) is done before any live event is delivered.
func (f *Feed) Run(ctx context.Context, h Handler) error {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.persistLoop(ctx)
	}()
	defer func() {
		f.wg.Wait()
		f.writeState(true)
	}()
	for !f.checkStream(ctx) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	for !f.read(ctx, h, true) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	if f.cfg.Started != nil {
		f.cfg.Started()
	}
	close(f.started)
	verify := time.NewTicker(f.cfg.Verify)
	defer verify.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	reconnects, dropped := f.nc.Stats().Reconnects, f.dropped()
	var lastCheck time.Time
	// A new leader of the stream may not have republished what its
	// predecessor stored last: check soon, twice (the second check reads
	// what the first saw above everything received).
	elected := make(chan struct{}, 1)
	if sub, err := f.nc.Subscribe(leaderElected+f.cfg.Stream, func(*nats.Msg) {
		select {
		case elected <- struct{}{}:
		default:
		}
	}); err == nil {
		defer func() { _ = sub.Unsubscribe() }()
	}
	soon := time.NewTimer(time.Hour)
	soon.Stop()
	defer soon.Stop()
	checks := 0
	verifyAt := maxDone // received events that make the loop verify at once
	for {
		select {
		case <-elected:
			checks = 2
			soon.Reset(settle + recheck)
		case <-soon.C:
			f.verify(ctx, h)
			if checks--; checks > 0 {
				soon.Reset(settle + recheck)
			}
		case <-ctx.Done():
			return nil
		case <-f.inbox.ready:
			suspicious := false
			for _, m := range f.inbox.take() {
				if f.onLive(m, h) {
					suspicious = true
				}
				if n := f.receivedCount(); n > verifyAt {
					f.verify(ctx, h)
					verifyAt = f.receivedCount() + maxDone
				}
			}
			if suspicious && time.Since(lastCheck) > recreatedCheck {
				lastCheck = time.Now()
				if epoch := f.currentEpoch(); f.checkStream(ctx) && f.currentEpoch() != epoch {
					f.read(ctx, h, true)
				}
			}
		case <-tick.C:
			f.mark()
			r, d := f.nc.Stats().Reconnects, f.dropped()
			if r == reconnects && d == dropped {
				continue
			}
			// A failed check (the cluster still electing, a starved
			// server) leaves reconnects as it was, so that the next tick
			// checks and reads again instead of giving the read up.
			if r != reconnects && !f.checkStream(ctx) {
				continue
			}
			reconnects, dropped = r, d
			f.read(ctx, h, false)
			// What is republished while the subscriptions are still on
			// their way across the cluster after a reconnect is lost too:
			// check again once they have settled.
			checks = 2
			soon.Reset(settle + recheck)
		case <-f.verifyNow:
			f.read(ctx, h, false)
		case <-verify.C:
			f.verify(ctx, h)
		}
	}
}

func (f *Feed) currentEpoch() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch
}

func (f *Feed) receivedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.received)
}

func (f *Feed) dropped() (n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.subs {
		d, _ := s.Dropped()
		n += d
	}
	return n + f.inbox.droppedCount()
}

// inbox is where the live subscriptions (one per filter, each delivering
// in its own goroutine, in order) put their messages for the feed's loop.
// Messages of one subject keep their order; messages of different
// subjects may interleave differently than the stream stored them, which
// the run modes allow (they order a key's events by stream sequence).
type inbox struct {
	mu      sync.Mutex
	msgs    []*nats.Msg
	dropped int
	ready   chan struct{}
}

func (b *inbox) put(m *nats.Msg) {
	b.mu.Lock()
	if len(b.msgs) >= liveBuffer {
		b.dropped++
	} else {
		b.msgs = append(b.msgs, m)
	}
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

func (b *inbox) take() []*nats.Msg {
	b.mu.Lock()
	defer b.mu.Unlock()
	msgs := b.msgs
	b.msgs = nil
	return msgs
}

func (b *inbox) droppedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}

// onLive delivers one live message unless it is known. It reports a
// sequence it already knows: the stream may have been created anew.
func (f *Feed) onLive(m *nats.Msg, h Handler) (suspicious bool) {
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	subj := m.Header.Get(jetstream.SubjectHeader)
	if err != nil || subj == "" {
		f.cfg.Log.Warn().Str("subject", m.Subject).Msg("feed: live message without stream headers; ignored")
		return false
	}
	f.mu.Lock()
	_, seen := f.received[seq]
	_, decided := f.done[seq]
	_, held := f.pending[seq]
	if seq <= f.cursor || seen || decided || held {
		// A late copy of what a read found, or a stream created anew.
		f.mu.Unlock()
		return true
	}
	if !f.admit(seq, subj, f.filterOf(m.Sub)) {
		f.mu.Unlock()
		return false
	}
	msg := Msg{Seq: seq, Subject: subj, Header: m.Header, Data: m.Data, feed: f, epoch: f.epoch}
	f.mu.Unlock()
	h([]Msg{msg}, false)
	return false
}

// filterOf is the filter whose live subscription sub is. f.mu is held.
func (f *Feed) filterOf(sub *nats.Subscription) string {
	for flt, s := range f.subs {
		if s == sub {
			return flt
		}
	}
	return ""
}

// admit records seq of subject as delivered, unless it already was or a
// newer one of the subject was (then it counts as decided). f.mu is held.
func (f *Feed) admit(seq uint64, subj, flt string) bool {
	if _, ok := f.received[seq]; ok {
		return false
	}
	if _, ok := f.pending[seq]; ok {
		return false
	}
	f.received[seq] = flt
	if _, ok := f.done[seq]; ok {
		f.last[subj] = max(f.last[subj], seq)
		return false
	}
	if seq > f.high {
		f.high = seq
	}
	if seq < f.last[subj] {
		f.done[seq] = struct{}{}
		f.changed()
		return false
	}
	f.last[subj] = seq
	f.pending[seq] = struct{}{}
	return true
}

// verify moves the verified sequence up to the highest one received when
// the stream holds, for every filter, exactly as many events between the
// two as the feed received; otherwise it reads them (read). Counting costs
// two direct gets of one message per filter, not the events themselves.
func (f *Feed) verify(ctx context.Context, h Handler) {
	f.mu.Lock()
	from, high, live, filters, epoch := f.verified+1, f.settledHigh(), f.high, f.filters, f.epoch
	got, gotAll := map[string]uint64{}, map[string]uint64{}
	for seq, flt := range f.received {
		if seq >= from {
			gotAll[flt]++
			if seq <= high {
				got[flt]++
			}
		}
	}
	f.mu.Unlock()
	beyond := false
	for _, flt := range filters {
		if high < from {
			// Nothing settled to verify: only whether more is stored than
			// was received.
			all, err := f.count(ctx, flt, from)
			if err != nil {
				f.read(ctx, h, false)
				return
			}
			beyond = beyond || all > gotAll[flt]
			continue
		}
		ok := false
		for try := 0; try < verifyTries && !ok; try++ {
			// Above high first: what arrives between the two counts can
			// only make the second larger, never hide a loss (and a
			// mismatch it causes under load is counted again).
			above, err := f.count(ctx, flt, high+1)
			if err != nil {
				break
			}
			all, err := f.count(ctx, flt, from)
			if err != nil {
				break
			}
			if ok = all-above == got[flt]; ok {
				beyond = beyond || all > gotAll[flt]
			}
		}
		if !ok {
			f.read(ctx, h, false)
			return
		}
	}
	// Events stored above everything received are on their way, or lost
	// with nothing after them to show it: lost if the live path has
	// brought nothing new since the last verify saw them.
	if beyond && f.stuckAt == live {
		f.read(ctx, h, false)
		return
	}
	f.stuckAt = 0
	if beyond {
		f.stuckAt = live
	}
	f.mu.Lock()
	if f.epoch == epoch {
		f.verified = max(f.verified, high)
		for seq := range f.received {
			if seq <= f.verified {
				delete(f.received, seq)
			}
		}
		// Only a moved cursor changes the file: an idle agent's verify
		// writes nothing.
		before := f.cursor
		f.advance()
		if f.cursor != before {
			f.changed()
		}
	}
	f.mu.Unlock()
}

// count is how many events of filter flt the stream holds from seq on.
func (f *Feed) count(ctx context.Context, flt string, seq uint64) (uint64, error) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return bus.Count(rctx, f.js, f.cfg.Stream, flt, seq)
}

// read reads every event of the filters above the verified sequence,
// delivers what was not delivered yet and moves the verified sequence up
// to what was known stored when it began. With collapse (the read at
// start, after a stop or a new stream: an agent that was down comes back
// to the newest state), it delivers the newest of each subject with the
// older ones as its Superseded; otherwise (a loss while running) every
// event, as the live path would have. It reports whether the read
// completed.
func (f *Feed) read(ctx context.Context, h Handler, collapse bool) bool {
	f.mu.Lock()
	from, upTo, filters, epoch := f.verified+1, f.settledHigh(), f.filters, f.epoch
	f.mu.Unlock()
	var found []*jetstream.RawStreamMsg
	filterOf := map[uint64]string{}
	readHigh := uint64(0)
	for _, flt := range filters {
		_, err := bus.BatchRead{Stream: f.cfg.Stream, Subject: flt, Seq: from}.Each(ctx, f.js, func(m *jetstream.RawStreamMsg) error {
			readHigh = max(readHigh, m.Sequence)
			found = append(found, m)
			filterOf[m.Sequence] = flt
			return nil
		})
		if err != nil {
			f.cfg.Log.Warn().Err(err).Str("filter", flt).Uint64("from", from).Msg("feed: cannot read the events stream; will retry")
			return false
		}
	}
	slices.SortFunc(found, func(a, b *jetstream.RawStreamMsg) int { return cmpSeq(a.Sequence, b.Sequence) })
	found = slices.CompactFunc(found, func(a, b *jetstream.RawStreamMsg) bool { return a.Sequence == b.Sequence })

	f.mu.Lock()
	if f.epoch != epoch {
		f.mu.Unlock()
		return false
	}
	newest := map[string]int{}
	var out []Msg
	for _, m := range found {
		if m.Sequence <= f.cursor || !f.admit(m.Sequence, m.Subject, filterOf[m.Sequence]) {
			continue
		}
		msg := Msg{Seq: m.Sequence, Subject: m.Subject, Header: m.Header, Data: m.Data, feed: f, epoch: f.epoch}
		if i, ok := newest[m.Subject]; ok && collapse {
			// The older one stays pending (undecided, and known if its
			// live copy comes late) until the newest is decided with it.
			old := out[i]
			msg.Superseded = append(old.Superseded, stripped(old))
			out[i] = msg
			continue
		}
		newest[m.Subject] = len(out)
		out = append(out, msg)
	}
	// A read that found a sequence proves every lower one was stored
	// before this read ended, so the next read may start above it.
	f.verified = max(f.verified, upTo, min(readHigh, f.high))
	for seq := range f.received {
		if seq <= f.verified {
			delete(f.received, seq)
		}
	}
	f.advance()
	f.changed()
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b Msg) int { return cmpSeq(a.Seq, b.Seq) })
	if len(out) > 0 {
		f.cfg.Log.Debug().Int("events", len(out)).Uint64("from", from).Msg("feed: caught up")
		h(out, true)
	}
	return true
}

func stripped(m Msg) Msg {
	m.Superseded, m.feed = nil, nil
	return m
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// decided records that seqs (an event and what it superseded) are decided.
func (f *Feed) decided(epoch uint64, seqs []uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if epoch != f.epoch {
		return
	}
	for _, seq := range seqs {
		if seq > f.cursor {
			delete(f.pending, seq)
			f.done[seq] = struct{}{}
		}
	}
	f.changed()
}

// changed marks the state for the next write, which moves the cursor.
// f.mu is held.
func (f *Feed) changed() {
	f.dirty = true
	select {
	case f.flush <- struct{}{}:
	default:
	}
}

// advance moves the cursor as far as nothing undecided and nothing
// unverified lies below it. It costs a walk of the undecided events, so
// it runs when the state is written and after reads, not per decision.
// f.mu is held.
func (f *Feed) advance() {
	c := f.verified
	for seq := range f.pending {
		c = min(c, seq-1)
	}
	// Decided events between the old cursor and c no longer need a record;
	// superseded ones were never pending and count as decided.
	if c > f.cursor {
		f.cursor = c
		for seq := range f.done {
			if seq <= c {
				delete(f.done, seq)
			}
		}
		f.dirty = true
	}
}

// checkStream learns when the events stream was created. A new agent
// starts at the stream's end; a stream created anew (deleted and made
// again) resets the position to its start. It reports whether the stream
// could be asked.
func (f *Feed) checkStream(ctx context.Context) bool {
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := f.js.Stream(ictx, f.cfg.Stream)
	if err != nil {
		if f.cfg.Unreachable != nil {
			f.cfg.Unreachable(err)
		} else {
			f.cfg.Log.Warn().Err(err).Msg("feed: cannot find the events stream; will retry")
		}
		return false
	}
	info := s.CachedInfo()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.created.IsZero():
		f.created = info.Created
		f.cursor, f.verified, f.high = info.State.LastSeq, info.State.LastSeq, info.State.LastSeq
	case !info.Created.Equal(f.created):
		f.cfg.Log.Warn().Time("was", f.created).Time("now", info.Created).Msg("feed: the events stream was created anew; reading it from its start")
		f.epoch++
		f.created = info.Created
		f.cursor, f.verified, f.high = 0, 0, 0
		clear(f.done)
		clear(f.pending)
		clear(f.received)
		clear(f.last)
		f.marks = nil
		if f.cfg.NewStream != nil {
			f.cfg.NewStream()
		}
	default:
		f.high = max(f.high, info.State.LastSeq)
		return true
	}
	f.changed()
	return true
}
