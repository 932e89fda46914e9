package eventreport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// ErrNotFound is returned by Find for an event it cannot find.
var ErrNotFound = errors.New("event not found")

// ScanWindow is how many of the newest events Find reads when it is not
// given the event's sequence: the events stream is keyed by subject, not
// by id, so an id alone is found by reading events back.
const ScanWindow = 10_000

// Find returns the stored event with id: the one at sequence seq when seq
// is not 0 (ErrNotFound when another event is there), otherwise the
// newest with that id among the stream's last ScanWindow events. It reads
// by batched direct gets, with no consumer.
func Find(ctx context.Context, js jetstream.JetStream, id string, seq uint64) (Event, error) {
	if seq > 0 {
		return findAt(ctx, js, id, seq)
	}
	s, err := js.Stream(ctx, events.EventsStream)
	if err != nil {
		return Event{}, fmt.Errorf("stream %s: %w", events.EventsStream, err)
	}
	st := s.CachedInfo().State
	if st.Msgs == 0 {
		return Event{}, ErrNotFound
	}
	from := st.FirstSeq
	if st.LastSeq >= ScanWindow && st.LastSeq-ScanWindow+1 > from {
		from = st.LastSeq - ScanWindow + 1
	}
	var found Event
	_, err = bus.BatchRead{Stream: events.EventsStream, Seq: from, UpTo: st.LastSeq}.Each(ctx, js, func(m *jetstream.RawStreamMsg) error {
		if m.Header.Get(events.HeaderID) == id {
			if ev, ok := eventOf(m); ok {
				found = ev
			}
		}
		return nil
	})
	if err != nil {
		return Event{}, fmt.Errorf("read events: %w", err)
	}
	if found.ID == "" {
		return Event{}, ErrNotFound
	}
	return found, nil
}

// At returns the event stored at sequence seq (ErrNotFound when there is
// none), whatever its id: the event a duplicate publish's ack points at.
func At(ctx context.Context, js jetstream.JetStream, seq uint64) (Event, error) {
	return findAt(ctx, js, "", seq)
}

// findAt returns the event at seq, if its id is id (any id when empty).
func findAt(ctx context.Context, js jetstream.JetStream, id string, seq uint64) (Event, error) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	it, err := jetstreamext.GetBatch(rctx, js, events.EventsStream, 1, jetstreamext.GetBatchSeq(seq))
	if err != nil {
		return Event{}, fmt.Errorf("read event at %d: %w", seq, err)
	}
	for m, err := range it {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			return Event{}, ErrNotFound
		}
		if err != nil {
			return Event{}, fmt.Errorf("read event at %d: %w", seq, err)
		}
		if m.Sequence != seq || id != "" && m.Header.Get(events.HeaderID) != id {
			return Event{}, ErrNotFound
		}
		if ev, ok := eventOf(m); ok {
			return ev, nil
		}
		return Event{}, ErrNotFound
	}
	return Event{}, ErrNotFound
}

// eventOf is the Event of a stored message, its subject the authority for
// type and key (events.FromMsg).
func eventOf(m *jetstream.RawStreamMsg) (Event, bool) {
	e, err := events.FromMsg(&nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
	if err != nil {
		return Event{}, false
	}
	return Event{ID: e.ID, Type: e.Type, Key: e.Key, Seq: m.Sequence, Stored: m.Time}, true
}
