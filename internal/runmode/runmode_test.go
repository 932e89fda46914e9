package runmode_test

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/runmode"
)

func mustNew(t testing.TB, mode string, max int) runmode.Policy {
	t.Helper()
	p, err := runmode.New(mode, max)
	if err != nil {
		t.Fatalf("New(%q, %d): %v", mode, max, err)
	}
	return p
}

// item builds an item whose Value is its label, so tests can check that
// the policy hands back the very value it was given.
func item(key string, seq uint64) runmode.Item {
	return runmode.Item{Key: key, Seq: seq, Value: label(key, seq)}
}

func label(key string, seq uint64) string { return key + strconv.FormatUint(seq, 10) }

func lbl(t testing.TB, it runmode.Item) string {
	t.Helper()
	l := label(it.Key, it.Seq)
	if it.Value != l {
		t.Errorf("item %s carries Value %v, want %q", l, it.Value, l)
	}
	return l
}

func labels(t testing.TB, its []runmode.Item) string {
	t.Helper()
	s := make([]string, len(its))
	for i, it := range its {
		s[i] = lbl(t, it)
	}
	return strings.Join(s, " ")
}

// render writes a Result compactly, e.g.
// "start[a3] drop[a2:superseded>a3 b1:superseded b2:discarded] notify[a1]".
func render(t testing.TB, r runmode.Result) string {
	t.Helper()
	var parts []string
	if len(r.Start) > 0 {
		parts = append(parts, "start["+labels(t, r.Start)+"]")
	}
	if len(r.Dropped) > 0 {
		d := make([]string, len(r.Dropped))
		for i, dr := range r.Dropped {
			d[i] = lbl(t, dr.Item) + ":" + dr.Status
			if dr.By != nil {
				d[i] += ">" + lbl(t, *dr.By)
			}
		}
		parts = append(parts, "drop["+strings.Join(d, " ")+"]")
	}
	if len(r.Notify) > 0 {
		parts = append(parts, "notify["+labels(t, r.Notify)+"]")
	}
	return strings.Join(parts, " ")
}

// step is one scripted call: "offer KEY SEQ", "done KEY SEQ" or "drain",
// with the rendered Result (for drain: the drained labels) and the
// Running and Pending counts after it.
type step struct {
	op               string
	want             string
	running, pending int
}

func runSteps(t *testing.T, p runmode.Policy, steps []step) {
	t.Helper()
	for i, s := range steps {
		f := strings.Fields(s.op)
		var got string
		switch f[0] {
		case "offer", "done":
			seq, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				t.Fatalf("step %d %q: %v", i, s.op, err)
			}
			if f[0] == "offer" {
				got = render(t, p.Offer(item(f[1], seq)))
			} else {
				got = render(t, p.Done(item(f[1], seq)))
			}
		case "drain":
			got = labels(t, p.Drain())
		default:
			t.Fatalf("step %d: bad op %q", i, s.op)
		}
		if got != s.want {
			t.Errorf("step %d %q: got %q, want %q", i, s.op, got, s.want)
		}
		if r, q := p.Running(), p.Pending(); r != s.running || q != s.pending {
			t.Errorf("step %d %q: running/pending = %d/%d, want %d/%d", i, s.op, r, q, s.running, s.pending)
		}
	}
}

func TestPolicy_Scripted(t *testing.T) {
	tests := []struct {
		name  string
		mode  string
		max   int
		steps []step
	}{
		{"queue/idle offer starts", "queue", 0, []step{
			{"offer a 1", "start[a1]", 1, 0},
			{"done a 1", "", 0, 0},
			{"offer a 2", "start[a2]", 1, 0},
			{"done a 2", "", 0, 0},
		}},
		{"queue/one key collapses to the newest", "queue", 0, []step{
			{"offer a 1", "start[a1]", 1, 0},
			{"offer a 2", "notify[a1]", 1, 1},
			{"offer a 3", "drop[a2:superseded>a3] notify[a1]", 1, 1},
			{"offer a 7", "drop[a3:superseded>a7] notify[a1]", 1, 1},
			{"done a 1", "start[a7]", 1, 0},
			{"done a 7", "", 0, 0},
		}},
		{"queue/slots FIFO by first arrival, newest per key", "queue", 0, []step{
			{"offer a 1", "start[a1]", 1, 0},
			{"offer b 2", "notify[a1]", 1, 1},
			{"offer c 3", "notify[a1]", 1, 2},
			{"offer a 4", "notify[a1]", 1, 3},
			{"offer b 5", "drop[b2:superseded>b5] notify[a1]", 1, 3},
			{"done a 1", "start[b5]", 1, 2},
			{"offer b 6", "notify[b5]", 1, 3}, // b's slot is new: it goes last
			{"offer c 7", "drop[c3:superseded>c7] notify[b5]", 1, 3},
			{"done b 5", "start[c7]", 1, 2},
			{"done c 7", "start[a4]", 1, 1},
			{"done a 4", "start[b6]", 1, 0},
			{"done b 6", "", 0, 0},
		}},
		{"queue/done for an item not in flight changes nothing", "queue", 0, []step{
			{"done a 1", "", 0, 0},
			{"offer a 1", "start[a1]", 1, 0},
			{"offer a 2", "notify[a1]", 1, 1},
			{"done a 2", "", 1, 1}, // pending, not in flight
			{"done b 1", "", 1, 1},
			{"done a 1", "start[a2]", 1, 0},
			{"done a 1", "", 1, 0}, // already done
			{"done a 2", "", 0, 0},
			{"done a 2", "", 0, 0},
		}},
		{"queue/drain hands back slots in start order", "queue", 0, []step{
			{"offer a 1", "start[a1]", 1, 0},
			{"offer b 1", "notify[a1]", 1, 1},
			{"offer a 2", "notify[a1]", 1, 2},
			{"offer b 3", "drop[b1:superseded>b3] notify[a1]", 1, 2},
			{"drain", "b3 a2", 1, 0},
			{"drain", "", 1, 0},
			{"done a 1", "", 0, 0},
			// Drained items no longer count as pending: offered again, they run.
			{"offer b 3", "start[b3]", 1, 0},
			{"offer a 2", "notify[b3]", 1, 1},
			{"done b 3", "start[a2]", 1, 0},
		}},
		{"queue/stale offers", "queue", 0, []step{
			{"offer a 5", "start[a5]", 1, 0},
			{"offer a 5", "drop[a5:superseded]", 1, 0}, // same seq as in flight
			{"offer a 4", "drop[a4:superseded]", 1, 0}, // older than in flight
			{"offer a 8", "notify[a5]", 1, 1},
			{"offer a 8", "drop[a8:superseded]", 1, 1}, // same seq as pending
			{"offer a 6", "drop[a6:superseded]", 1, 1}, // older than pending
			{"offer b 1", "notify[a5]", 1, 2},          // other keys unaffected
			{"done a 5", "start[a8]", 1, 1},
			{"done a 8", "start[b1]", 1, 0},
			{"done b 1", "", 0, 0},
			{"offer a 8", "drop[a8:superseded]", 0, 0}, // already ran, nothing in flight
			{"offer a 0", "drop[a0:superseded]", 0, 0},
			{"offer a 9", "start[a9]", 1, 0},
		}},
		{"queue/seq 0 is a valid first seq", "queue", 0, []step{
			{"offer a 0", "start[a0]", 1, 0},
			{"offer a 0", "drop[a0:superseded]", 1, 0},
			{"offer b 0", "notify[a0]", 1, 1},
		}},
		{"discard/drops while in flight", "discard", 0, []step{
			{"offer a 1", "start[a1]", 1, 0},
			{"offer a 2", "drop[a2:discarded]", 1, 0},
			{"offer b 3", "drop[b3:discarded]", 1, 0},
			{"done b 3", "", 1, 0},
			{"drain", "", 1, 0},
			{"done a 1", "", 0, 0},
			{"offer b 4", "start[b4]", 1, 0},
			{"done b 4", "", 0, 0},
			// a2 was discarded, not started: a2 is not stale, a1 is.
			{"offer a 1", "drop[a1:superseded]", 0, 0},
			{"offer a 2", "start[a2]", 1, 0},
			{"offer a 2", "drop[a2:superseded]", 1, 0}, // stale wins over discard
			{"done a 2", "", 0, 0},
		}},
		{"discard/ignores max parallel", "discard", 9, []step{
			{"offer a 1", "start[a1]", 1, 0},
			{"offer b 1", "drop[b1:discarded]", 1, 0},
		}},
		{"parallel/cap then FIFO", "parallel", 2, []step{
			{"offer a 1", "start[a1]", 1, 0},
			{"offer b 2", "start[b2]", 2, 0},
			{"offer a 3", "", 2, 1},
			{"offer c 4", "", 2, 2},
			{"offer a 5", "", 2, 3}, // no collapsing
			{"done b 2", "start[a3]", 2, 2},
			{"done b 2", "", 2, 2},
			{"done a 3", "start[c4]", 2, 1},
			{"done a 1", "start[a5]", 2, 0},
			{"done a 5", "", 1, 0},
			{"done c 4", "", 0, 0},
		}},
		{"parallel/stale offers and drain", "parallel", 1, []step{
			{"offer a 2", "start[a2]", 1, 0},
			{"offer a 1", "drop[a1:superseded]", 1, 0},
			{"offer a 4", "", 1, 1},
			{"offer a 3", "drop[a3:superseded]", 1, 1},
			{"offer b 3", "", 1, 2},
			{"drain", "a4 b3", 1, 0},
			{"offer a 3", "", 1, 1}, // a4 was drained: a3 is newer than what ran
			{"done a 2", "start[a3]", 1, 0},
		}},
		{"default mode is queue", "", 0, []step{
			{"offer a 1", "start[a1]", 1, 0},
			{"offer a 2", "notify[a1]", 1, 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, tc.mode, tc.max)
			runSteps(t, p, tc.steps)
		})
	}
}

func TestPolicy_Mode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "queue"}, {"queue", "queue"}, {"discard", "discard"}, {"parallel", "parallel"},
	} {
		if got := mustNew(t, tc.in, 1).Mode(); got != tc.want {
			t.Errorf("New(%q).Mode() = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNew_Errors(t *testing.T) {
	tests := []struct {
		mode    string
		max     int
		wantErr error
		inMsg   string
	}{
		{"fifo", 1, runmode.ErrUnknownMode, `"fifo"`},
		{"Queue", 1, runmode.ErrUnknownMode, `"Queue"`},
		{"parallel", -1, runmode.ErrMaxParallel, "-1"},
		{"parallel", -3, runmode.ErrMaxParallel, "-3"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.mode, tc.max), func(t *testing.T) {
			p, err := runmode.New(tc.mode, tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if p != nil {
				t.Errorf("policy = %v, want nil", p)
			}
			if !strings.Contains(err.Error(), tc.inMsg) {
				t.Errorf("error %q does not name the value %s", err, tc.inMsg)
			}
		})
	}
	for _, mode := range []string{"queue", "discard"} {
		if _, err := runmode.New(mode, 0); err != nil {
			t.Errorf("New(%q, 0): %v; max parallel only matters for parallel", mode, err)
		}
	}
}

func TestStatuses_MatchEvents(t *testing.T) {
	if runmode.StatusDiscarded != string(events.StatusDiscarded) {
		t.Errorf("StatusDiscarded = %q, events has %q", runmode.StatusDiscarded, events.StatusDiscarded)
	}
	if runmode.StatusSuperseded != string(events.StatusSuperseded) {
		t.Errorf("StatusSuperseded = %q, events has %q", runmode.StatusSuperseded, events.StatusSuperseded)
	}
}

func TestQueue_Burst(t *testing.T) {
	p := mustNew(t, "queue", 0)
	first := item("k", 1)
	if r := p.Offer(first); len(r.Start) != 1 || r.Start[0].Seq != 1 {
		t.Fatalf("first offer: %s", render(t, r))
	}
	runs := 1
	var dropped []runmode.Dropped
	for seq := uint64(2); seq <= 101; seq++ {
		r := p.Offer(item("k", seq))
		if len(r.Start) != 0 {
			t.Fatalf("offer k%d started %s while k1 runs", seq, labels(t, r.Start))
		}
		if len(r.Notify) != 1 || r.Notify[0].Seq != 1 || r.Notify[0].Value != "k1" {
			t.Fatalf("offer k%d: notify = %s, want k1", seq, labels(t, r.Notify))
		}
		for _, d := range r.Dropped {
			if d.Status != runmode.StatusSuperseded || d.By == nil || d.By.Seq != seq || d.By.Seq <= d.Item.Seq || d.By.Value != label("k", seq) {
				t.Fatalf("offer k%d: bad drop %s", seq, render(t, runmode.Result{Dropped: []runmode.Dropped{d}}))
			}
		}
		dropped = append(dropped, r.Dropped...)
		if p.Pending() != 1 {
			t.Fatalf("after k%d: pending = %d, want 1", seq, p.Pending())
		}
	}
	if len(dropped) != 99 {
		t.Fatalf("dropped %d, want 99", len(dropped))
	}
	for i, d := range dropped {
		if want := uint64(i + 2); d.Item.Seq != want {
			t.Fatalf("drop %d is k%d, want k%d", i, d.Item.Seq, want)
		}
	}
	r := p.Done(first)
	if len(r.Start) != 1 || r.Start[0].Seq != 101 || r.Start[0].Value != "k101" {
		t.Fatalf("done k1: %s, want start[k101]", render(t, r))
	}
	runs++
	if r := p.Done(r.Start[0]); render(t, r) != "" {
		t.Fatalf("done k101: %s, want nothing", render(t, r))
	}
	if runs != 2 || p.Running() != 0 || p.Pending() != 0 {
		t.Fatalf("runs=%d running=%d pending=%d, want 2/0/0", runs, p.Running(), p.Pending())
	}
}

func TestDropped_ByIsACopy(t *testing.T) {
	p := mustNew(t, "queue", 0)
	p.Offer(item("a", 1))
	p.Offer(item("a", 2))
	r1 := p.Offer(item("a", 3))
	r2 := p.Offer(item("a", 4))
	if r1.Dropped[0].By == r2.Dropped[0].By {
		t.Fatal("two drops share one By pointer")
	}
	if r1.Dropped[0].By.Seq != 3 || r2.Dropped[0].By.Seq != 4 {
		t.Fatalf("By = a%d, a%d; want a3, a4", r1.Dropped[0].By.Seq, r2.Dropped[0].By.Seq)
	}
}

// model is a plain, slow reference of the three modes plus the invariants
// every policy must keep. Each offered item's Value is its offer number, so
// items with the same Key and Seq (redeliveries) stay distinguishable.
type model struct {
	t    testing.TB
	p    runmode.Policy
	mode string
	cap  int

	items   []runmode.Item // by offer number
	state   []string       // by offer number: pending, running, done, dropped, drained
	running []int          // offer numbers in flight, in start order
	pending []int          // offer numbers waiting, in start order

	started    map[string][]uint64 // seqs started per key, in start order
	maxOffered map[string]uint64   // highest seq offered per key
	runs       int
}

func newModel(t testing.TB, mode string, cap int) *model {
	if mode != "parallel" {
		cap = 1
	}
	return &model{t: t, p: mustNew(t, mode, cap), mode: mode, cap: cap,
		started: map[string][]uint64{}, maxOffered: map[string]uint64{}}
}

func (m *model) num(it runmode.Item) int {
	n, ok := it.Value.(int)
	if !ok || n < 0 || n >= len(m.items) || m.items[n].Key != it.Key || m.items[n].Seq != it.Seq {
		m.t.Fatalf("policy returned an item it was never given: %+v", it)
	}
	return n
}

// seen is the highest seq for key started or pending, per the model.
func (m *model) seen(key string) (uint64, bool) {
	var h uint64
	ok := false
	for _, s := range m.started[key] {
		h, ok = max(h, s), true
	}
	for _, n := range m.pending {
		if it := m.items[n]; it.Key == key {
			h, ok = max(h, it.Seq), true
		}
	}
	return h, ok
}

func (m *model) nums(its []runmode.Item) []int {
	out := make([]int, len(its))
	for i, it := range its {
		out[i] = m.num(it)
	}
	return out
}

func (m *model) fail(what string, got, want any) {
	m.t.Helper()
	m.t.Fatalf("%s %s: got %v, want %v", m.mode, what, got, want)
}

func (m *model) start(n int) {
	it := m.items[n]
	if prev := m.started[it.Key]; len(prev) > 0 && prev[len(prev)-1] >= it.Seq {
		m.t.Fatalf("%s started %s%d after %s%d: starts per key must rise", m.mode, it.Key, it.Seq, it.Key, prev[len(prev)-1])
	}
	m.started[it.Key] = append(m.started[it.Key], it.Seq)
	m.state[n] = "running"
	m.running = append(m.running, n)
	m.runs++
}

func (m *model) offer(key string, seq uint64) {
	m.t.Helper()
	n := len(m.items)
	it := runmode.Item{Key: key, Seq: seq, Value: n}
	m.items = append(m.items, it)
	m.state = append(m.state, "new")
	m.maxOffered[key] = max(m.maxOffered[key], seq)
	res := m.p.Offer(it)
	start, notify := m.nums(res.Start), m.nums(res.Notify)

	var wantStart, wantNotify []int
	type drop struct {
		n      int
		status string
		by     int // -1: nil
	}
	var wantDrop []drop
	if h, ok := m.seen(key); ok && seq <= h {
		wantDrop = []drop{{n, "superseded", -1}}
		m.state[n] = "dropped"
	} else {
		switch {
		case len(m.running) < m.cap:
			wantStart = []int{n}
		case m.mode == "discard":
			wantDrop = []drop{{n, "discarded", -1}}
			m.state[n] = "dropped"
		case m.mode == "parallel":
			m.pending = append(m.pending, n)
			m.state[n] = "pending"
		default: // queue, busy
			wantNotify = []int{m.running[0]}
			i := slices.IndexFunc(m.pending, func(p int) bool { return m.items[p].Key == key })
			if i >= 0 {
				wantDrop = []drop{{m.pending[i], "superseded", n}}
				m.state[m.pending[i]] = "dropped"
				m.pending[i] = n
			} else {
				m.pending = append(m.pending, n)
			}
			m.state[n] = "pending"
		}
	}
	var gotDrop []drop
	for _, d := range res.Dropped {
		by := -1
		if d.By != nil {
			by = m.num(*d.By)
		}
		gotDrop = append(gotDrop, drop{m.num(d.Item), d.Status, by})
	}
	what := fmt.Sprintf("offer #%d %s%d", n, key, seq)
	if !slices.Equal(start, wantStart) {
		m.fail(what+" start", start, wantStart)
	}
	if !slices.Equal(notify, wantNotify) {
		m.fail(what+" notify", notify, wantNotify)
	}
	if !slices.Equal(gotDrop, wantDrop) {
		m.fail(what+" dropped", gotDrop, wantDrop)
	}
	for _, s := range start {
		m.start(s)
	}
	m.check(what)
}

// done finishes the i-th running item (in start order).
func (m *model) done(i int) {
	m.t.Helper()
	n := m.running[i]
	m.running = slices.Delete(m.running, i, i+1)
	m.state[n] = "done"
	var want []int
	if len(m.pending) > 0 && m.mode != "discard" {
		want = []int{m.pending[0]}
		m.pending = m.pending[1:]
	}
	res := m.p.Done(m.items[n])
	what := fmt.Sprintf("done #%d", n)
	if got := m.nums(res.Start); !slices.Equal(got, want) {
		m.fail(what+" start", got, want)
	}
	if len(res.Dropped) > 0 || len(res.Notify) > 0 {
		m.fail(what+" dropped/notify", render(m.t, res), "none")
	}
	for _, s := range want {
		m.start(s)
	}
	m.check(what)
}

// doneNotInFlight calls Done for an offered item that is not in flight.
// Items are identified by Key and Seq, so a redelivery of an in-flight
// item counts as in flight and is skipped.
func (m *model) doneNotInFlight(n int) {
	m.t.Helper()
	it := m.items[n]
	if slices.ContainsFunc(m.running, func(r int) bool { return m.items[r].Key == it.Key && m.items[r].Seq == it.Seq }) {
		return
	}
	res := m.p.Done(m.items[n])
	if len(res.Start)+len(res.Dropped)+len(res.Notify) > 0 {
		m.fail(fmt.Sprintf("done #%d (%s)", n, m.state[n]), res, "empty result")
	}
	m.check("bogus done")
}

func (m *model) drain() {
	m.t.Helper()
	got := m.nums(m.p.Drain())
	if !slices.Equal(got, m.pending) {
		m.fail("drain", got, m.pending)
	}
	for _, n := range got {
		m.state[n] = "drained"
	}
	m.pending = nil
	m.check("drain")
}

func (m *model) check(what string) {
	m.t.Helper()
	if r := m.p.Running(); r != len(m.running) || r > m.cap {
		m.fail(what+" Running()", r, fmt.Sprintf("%d (cap %d)", len(m.running), m.cap))
	}
	if q := m.p.Pending(); q != len(m.pending) {
		m.fail(what+" Pending()", q, len(m.pending))
	}
	if m.mode != "parallel" && len(m.running) == 0 && len(m.pending) > 0 {
		m.fail(what+" idle with pending", m.pending, "nothing pending")
	}
}

// finish runs everything to the end and checks that every offered item
// was decided exactly once.
func (m *model) finish(drain bool) {
	m.t.Helper()
	if drain {
		m.drain()
	}
	for len(m.running) > 0 {
		m.done(0)
	}
	if len(m.pending) > 0 || m.p.Running() != 0 || m.p.Pending() != 0 {
		m.fail("finish", fmt.Sprintf("running %d pending %d", m.p.Running(), m.p.Pending()), "idle")
	}
	for n, s := range m.state {
		if s != "done" && s != "dropped" && s != "drained" {
			m.fail(fmt.Sprintf("item #%d", n), s, "done, dropped or drained")
		}
	}
}

// lastStarted checks the queue/parallel promise that no final state is
// lost: the last run of every key is the newest event offered for it.
func (m *model) lastStarted() {
	m.t.Helper()
	for key, seq := range m.maxOffered {
		s := m.started[key]
		if len(s) == 0 || s[len(s)-1] != seq {
			m.fail("last run of "+key, s, seq)
		}
	}
}

func TestPolicy_Random(t *testing.T) {
	steps := 5000
	if testing.Short() {
		steps = 1000
	}
	for _, mode := range []string{"queue", "discard", "parallel"} {
		for _, withDrain := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/drain=%v", mode, withDrain), func(t *testing.T) {
				for seed := int64(1); seed <= 5; seed++ {
					rng := rand.New(rand.NewSource(seed))
					m := newModel(t, mode, 1+int(seed)%4)
					keys := []string{"a", "b", "c", "d", "e"}[:1+int(seed)%5]
					var next uint64
					for range steps {
						switch x := rng.Intn(100); {
						case x < 55:
							key := keys[rng.Intn(len(keys))]
							var seq uint64
							if next == 0 || rng.Intn(10) < 7 {
								next++
								seq = next
							} else {
								seq = uint64(rng.Int63n(int64(next) + 1)) // redelivery or late older event
							}
							m.offer(key, seq)
						case x < 90:
							if len(m.running) > 0 {
								m.done(rng.Intn(len(m.running)))
							}
						case x < 97:
							if len(m.items) > 0 {
								m.doneNotInFlight(rng.Intn(len(m.items)))
							}
						default:
							if withDrain {
								m.drain()
							}
						}
					}
					m.finish(withDrain)
					if !withDrain && mode != "discard" {
						m.lastStarted()
					}
					if m.runs == 0 {
						t.Fatal("nothing ran")
					}
				}
			})
		}
	}
}

// TestPolicy_Exhaustive runs every sequence of up to depth operations over
// a small alphabet through the model.
func TestPolicy_Exhaustive(t *testing.T) {
	type op struct {
		kind string // offer, done, bogus, drain
		key  string
		seq  uint64
	}
	alphabet := []op{
		{"offer", "a", 1}, {"offer", "a", 2}, {"offer", "a", 3},
		{"offer", "b", 1}, {"offer", "b", 2},
		{"done", "", 0}, {"donelast", "", 0}, {"bogus", "", 0}, {"drain", "", 0},
	}
	depth := 5
	if testing.Short() {
		depth = 4
	}
	for _, mode := range []string{"queue", "discard", "parallel"} {
		t.Run(mode, func(t *testing.T) {
			seqs := 0
			idx := make([]int, depth)
			for {
				m := newModel(t, mode, 2)
				drained := false
				for _, i := range idx {
					switch o := alphabet[i]; o.kind {
					case "offer":
						m.offer(o.key, o.seq)
					case "done":
						if len(m.running) > 0 {
							m.done(0)
						}
					case "donelast":
						if len(m.running) > 0 {
							m.done(len(m.running) - 1)
						}
					case "bogus":
						if len(m.items) > 0 {
							m.doneNotInFlight(len(m.items) - 1)
						}
					case "drain":
						m.drain()
						drained = true
					}
					if t.Failed() {
						t.Fatalf("sequence %v", idx)
					}
				}
				m.finish(false)
				if !drained && mode != "discard" {
					m.lastStarted()
				}
				seqs++
				// next sequence in lexicographic order
				k := depth - 1
				for k >= 0 && idx[k] == len(alphabet)-1 {
					idx[k] = 0
					k--
				}
				if k < 0 {
					break
				}
				idx[k]++
			}
			if want := pow(len(alphabet), depth); seqs != want {
				t.Fatalf("ran %d sequences, want %d", seqs, want)
			}
		})
	}
}

func pow(b, e int) int {
	r := 1
	for range e {
		r *= b
	}
	return r
}

func BenchmarkQueue_Offer(b *testing.B) {
	for _, keys := range []int{1, 16} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			p := mustNew(b, "queue", 0)
			p.Offer(runmode.Item{Key: "running", Seq: 0})
			names := make([]string, keys)
			for i := range names {
				names[i] = "key/" + strconv.Itoa(i)
			}
			var seq uint64
			b.ReportAllocs()
			for b.Loop() {
				seq++
				p.Offer(runmode.Item{Key: names[seq%uint64(keys)], Seq: seq})
			}
			if p.Pending() != keys {
				b.Fatalf("pending = %d, want %d", p.Pending(), keys)
			}
		})
	}
}

// TestParallel_ZeroIsNoCap: max_parallel 0 starts every offer at once.
func TestParallel_ZeroIsNoCap(t *testing.T) {
	p := mustNew(t, "parallel", 0)
	for i := range 1000 {
		res := p.Offer(runmode.Item{Key: fmt.Sprintf("/k%d", i%7), Seq: uint64(i + 1)})
		if len(res.Start) != 1 || len(res.Dropped) != 0 {
			t.Fatalf("offer %d: %+v, want it started", i, res)
		}
	}
	if p.Running() != 1000 || p.Pending() != 0 {
		t.Fatalf("running %d pending %d, want 1000 and 0", p.Running(), p.Pending())
	}
}

// TestPolicy_AgainRunsADecidedItemOnceMore: a resumed rollout offers its
// halted event again. Every mode runs it, unless a newer item for its key
// was offered since; an item offered again without Again stays stale.
func TestPolicy_AgainRunsADecidedItemOnceMore(t *testing.T) {
	for _, mode := range []string{runmode.ModeQueue, runmode.ModeDiscard, runmode.ModeParallel} {
		t.Run(mode, func(t *testing.T) {
			p := mustNew(t, mode, 2)
			again := func(key string, seq uint64) runmode.Item {
				it := item(key, seq)
				it.Again = true
				return it
			}
			if got := render(t, p.Offer(item("a", 1))); got != "start[a1]" {
				t.Fatalf("offer a1: %q", got)
			}
			p.Done(item("a", 1))
			if got := render(t, p.Offer(item("a", 1))); got != "drop[a1:superseded]" {
				t.Errorf("a1 offered again without Again: %q, want it stale", got)
			}
			if got := render(t, p.Offer(again("a", 1))); got != "start[a1]" {
				t.Errorf("a1 offered Again: %q, want it started", got)
			}
			p.Done(item("a", 1))
			if got := render(t, p.Offer(item("a", 2))); got != "start[a2]" {
				t.Fatalf("offer a2: %q", got)
			}
			p.Done(item("a", 2))
			if got := render(t, p.Offer(again("a", 1))); got != "drop[a1:superseded]" {
				t.Errorf("a1 offered Again after a2: %q, want it stale", got)
			}
		})
	}
}
