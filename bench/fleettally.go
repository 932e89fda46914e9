package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats.go"
)

// fleetTally collects the fleet's outcomes by event and host.
type fleetTally struct {
	mu     sync.Mutex
	events map[string]*fleetEvent
	notOK  int
	twice  int
	// resent is outcomes received again byte for byte: the agent's
	// outcome store re-publishing after an ack timed out, which the
	// stream's dedup window stores once; not a second run.
	resent  int
	perHost map[string]int // events decided, by host
}

// fleetEvent is one published event's outcomes.
type fleetEvent struct {
	mu     sync.Mutex
	hosts  map[string]uint64 // host → FNV-64a of its outcome's bytes
	last   time.Time
	wantN  int
	allCh  chan struct{}
	closed bool
}

func newFleetTally() *fleetTally {
	return &fleetTally{events: map[string]*fleetEvent{}, perHost: map[string]int{}}
}

// expect registers an event before it is published.
func (t *fleetTally) expect(id string) *fleetEvent {
	ev := &fleetEvent{hosts: map[string]uint64{}, allCh: make(chan struct{})}
	t.mu.Lock()
	t.events[id] = ev
	t.mu.Unlock()
	return ev
}

// subscribe counts every outcome from now on. It reads event_id, host and
// status without encoding/json when it can (see jsonString).
func (t *fleetTally) subscribe(nc *nats.Conn) error {
	return subscribeAll(nc, events.OutcomePrefix+".>", func(m *nats.Msg, at time.Time) {
		id, ok1 := jsonString(m.Data, `"event_id":"`)
		host, ok2 := jsonString(m.Data, `"host":"`)
		st, ok3 := jsonString(m.Data, `"status":"`)
		if !ok1 || !ok2 || !ok3 {
			var o events.Outcome
			if err := json.Unmarshal(m.Data, &o); err != nil {
				return
			}
			id, host, st = o.EventID, o.Host, string(o.Status)
		}
		t.mu.Lock()
		ev := t.events[id]
		ok := st == string(events.StatusOK)
		if ev != nil && !ok {
			t.notOK++
		}
		t.mu.Unlock()
		if ev == nil || !ok {
			return
		}
		if first, same := ev.add(host, at, m.Data); !first {
			t.mu.Lock()
			if same {
				t.resent++
			} else {
				t.twice++
			}
			t.mu.Unlock()
			return
		}
		t.mu.Lock()
		t.perHost[host]++
		t.mu.Unlock()
	})
}

// decidedAll is how many hosts decided every one of ids.
func (t *fleetTally) decidedAll(ids []string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.perHost {
		if c >= len(ids) {
			n++
		}
	}
	return n
}

// bad is outcomes that were not ok or decided an event twice on a host
// (a second outcome that differs from the first: a second run).
func (t *fleetTally) bad() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.notOK + t.twice
}

// resentCount is outcomes seen again byte for byte (publish retries).
func (t *fleetTally) resentCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.resent
}

// add records host's outcome data; first is false if the host had one
// already, and same then says whether it was these very bytes.
func (e *fleetEvent) add(host string, at time.Time, data []byte) (first, same bool) {
	h := fnv.New64a()
	h.Write(data)
	sum := h.Sum64()
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev, ok := e.hosts[host]; ok {
		return false, prev == sum
	}
	e.hosts[host] = sum
	e.last = at
	e.signal()
	return true, false
}

// all returns a channel closed once n hosts decided the event.
func (e *fleetEvent) all(n int) <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.wantN = n
	e.signal()
	return e.allCh
}

func (e *fleetEvent) signal() {
	if !e.closed && e.wantN > 0 && len(e.hosts) >= e.wantN {
		e.closed = true
		close(e.allCh)
	}
}

func (e *fleetEvent) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.hosts)
}

func (e *fleetEvent) lastAt() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// subscribeAll subscribes fn to subject on nc with no pending limits and
// flushes, so that nothing published after it returns is missed.
func subscribeAll(nc *nats.Conn, subject string, fn func(m *nats.Msg, at time.Time)) error {
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) { fn(m, time.Now()) })
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	return nil
}
