package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// readBatch and readBytes bound one direct get of events.
const (
	readBatch = 256
	readBytes = 4 << 20
	// chunk is how many sequences a backward scan reads at a time.
	chunk = 1000
)

// storedEvent is an event with where and when it was stored.
type storedEvent struct {
	events.Event
	Seq    uint64
	Stored time.Time
}

// hooksStatus is every dispatcher's call hooks state (herald_hooks).
func hooksStatus(ctx context.Context, js jetstream.JetStream) ([]call.HooksStatus, error) {
	var out []call.HooksStatus
	prefix := "$KV." + call.StatusBucket + "."
	err := bus.LastMsgs(ctx, js, "KV_"+call.StatusBucket, []string{prefix + ">"}, func(m *jetstream.RawStreamMsg) error {
		if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			return nil
		}
		var st call.HooksStatus
		if json.Unmarshal(m.Data, &st) == nil {
			out = append(out, st)
		}
		return nil
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", call.StatusBucket, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dispatcher < out[j].Dispatcher })
	return out, nil
}

// streamState is the events stream's first and last sequence.
func streamState(ctx context.Context, js jetstream.JetStream) (first, last uint64, err error) {
	s, err := js.Stream(ctx, events.EventsStream)
	if err != nil {
		return 0, 0, fmt.Errorf("stream %s: %w", events.EventsStream, err)
	}
	st := s.CachedInfo().State
	return st.FirstSeq, st.LastSeq, nil
}

// readRange calls fn for each event stored from sequence from to to
// (on subject filter when not empty), oldest first, by batched direct
// gets.
func readRange(ctx context.Context, js jetstream.JetStream, filter string, from, to uint64, fn func(storedEvent)) error {
	for from <= to {
		opts := []jetstreamext.GetBatchOpt{jetstreamext.GetBatchSeq(from), jetstreamext.GetBatchMaxBytes(readBytes)}
		if filter != "" {
			opts = append(opts, jetstreamext.GetBatchSubject(filter))
		}
		it, err := jetstreamext.GetBatch(ctx, js, events.EventsStream, readBatch, opts...)
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		n := 0
		for m, err := range it {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read events: %w", err)
			}
			if m.Sequence > to {
				return nil
			}
			n++
			from = m.Sequence + 1
			e, err := events.FromMsg(&nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
			if err != nil {
				continue
			}
			fn(storedEvent{Event: e, Seq: m.Sequence, Stored: m.Time})
		}
		if n == 0 {
			return nil
		}
	}
	return nil
}

// scan is the result of a backward scan.
type scan struct {
	// Events are the matching events, newest first.
	Events []storedEvent
	// Last is the stream's last sequence; Next, when not 0, is where an
	// older page starts (exclusive).
	Last, Next uint64
}

// scanBack reads events backwards from before (exclusive; 0: from the
// newest) until want of them match or maxScan sequences were read.
func scanBack(ctx context.Context, js jetstream.JetStream, filter string, before uint64, want, maxScan int, match func(storedEvent) bool) (scan, error) {
	first, last, err := streamState(ctx, js)
	if err != nil {
		return scan{}, err
	}
	res := scan{Last: last}
	if last == 0 {
		return res, nil
	}
	hi := last
	if before > 0 && before-1 < hi {
		hi = before - 1
	}
	scanned := 0
	for hi >= first && hi > 0 && len(res.Events) < want {
		lo := first
		if hi >= chunk && hi-chunk+1 > first {
			lo = hi - chunk + 1
		}
		var got []storedEvent
		if err := readRange(ctx, js, filter, lo, hi, func(e storedEvent) {
			if match == nil || match(e) {
				got = append(got, e)
			}
		}); err != nil {
			return scan{}, err
		}
		for i := len(got) - 1; i >= 0 && len(res.Events) < want; i-- {
			res.Events = append(res.Events, got[i])
		}
		scanned += int(hi - lo + 1)
		switch {
		case len(res.Events) == want:
			// An older page starts after the last one shown (it may
			// find no more).
			res.Next = res.Events[len(res.Events)-1].Seq
			return res, nil
		case lo <= first:
			return res, nil
		}
		hi = lo - 1
		if scanned >= maxScan {
			res.Next = hi + 1 // read on from there
			break
		}
	}
	return res, nil
}
