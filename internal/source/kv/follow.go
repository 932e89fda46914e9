package kv

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/nats-io/nats.go/jetstream"
)

// storedEvent is a kv event of the watched bucket read from the events
// stream by the follower: this dispatcher's, or another's.
type storedEvent struct {
	key string
	pub published
}

// follow reads the newest stored event of every subject of the scope, then
// every new one, and sends those of this bucket's source to out, until ctx
// ends. It retries after every failure.
func (w *bucketWatch) follow(ctx context.Context, out chan<- storedEvent) {
	bus.Follower{
		JS:      w.env.JS,
		Stream:  events.EventsStream,
		Filters: w.scope.eventFilters(w.bucket),
		Deliver: jetstream.DeliverLastPerSubjectPolicy,
		Source:  SourcePrefix + w.bucket, // not this source's: not ours to repair
		Types:   []string{TypePut, TypeDeleted},
		Retry:   RetryInterval,
		OnEvent: func(ctx context.Context, e bus.StoredEvent) {
			b, key, ok := strings.Cut(e.Key, "/")
			if !ok || b != w.bucket || !w.scope.match(key) {
				return
			}
			select {
			case out <- storedEvent{key: key, pub: w.describe(e.Event, e.Stored, e.Seq)}:
			case <-ctx.Done():
			}
		},
		OnError: func(err error) {
			w.log.Warn().Err(err).Float64("retry_in_ms", logging.Millis(RetryInterval)).Msg("kv: following the events stream; retrying")
		},
	}.Run(ctx)
}

// disagrees reports whether p, the newest stored event of a key, is older
// than entry e, the newest entry of the key this watch has seen: a put
// stored last whose revision is older than e's, or a deletion stored last
// while e is a newer put. An event of an earlier bucket of the same name
// is left to the catch-up; one newer than e means this watch is behind.
func disagrees(p published, e jetstream.KeyValueEntry, created time.Time) bool {
	if !p.current(created) {
		return false
	}
	rev := e.Revision()
	if e.Operation() == jetstream.KeyValuePut {
		return p.rev < rev || (p.rev == rev && p.typ != TypePut)
	}
	return p.typ == TypePut && p.rev < rev
}

// onStored takes an event the follower read. When it is the newest stored
// event of its key and says something older than the bucket's entry this
// watch has seen (a slower dispatcher stored an older revision last, and
// may have died since), the entry is stored again, last, as a repair with
// version "REV.rSEQ" (SEQ: the sequence of the stale event): every
// dispatcher that repairs the same stale event with the same entry
// publishes the same version, so the dedup window keeps one.
func (w *bucketWatch) onStored(ctx context.Context, s storedEvent, state map[string]jetstream.KeyValueEntry, created time.Time) error {
	w.note(s.key, s.pub.seq, s.pub.rev)
	if s.pub.seq < w.known[s.key].seq {
		return nil // a newer event of the key is already stored
	}
	e, ok := state[s.key]
	if ok && s.pub.current(created) && s.pub.rev > e.Revision() {
		// Newer than this watch has seen: another dispatcher is ahead,
		// unless the bucket never had that revision.
		if beyond, err := w.beyondBucket(ctx, s.pub.rev); err != nil || !beyond {
			return err
		}
		return w.publish(ctx, *w.overForged(e, s.pub), created, whyRepair)
	}
	if !ok || !disagrees(s.pub, e, created) {
		return nil
	}
	// Check the key's newest stored event itself: the follower may not
	// have delivered a newer one yet.
	last, ok, err := w.lastPublished(ctx, s.key)
	if err != nil {
		return err
	}
	if !ok || !disagrees(last, e, created) {
		return nil
	}
	ev := w.event(e)
	ev.Version += ".r" + strconv.FormatUint(last.seq, 10)
	w.log.Info().Str("key", ev.Key).Str("version", ev.Version).Uint64("stale_seq", last.seq).Str("stale_type", last.typ).
		Str("stale_version", last.version).Msg("kv: the last stored event of a key is older than the bucket; storing the current entry again")
	w.stats.repairs.Add(1)
	return w.publish(ctx, *ev, created, whyRepair)
}
