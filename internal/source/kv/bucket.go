package kv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/source"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Reasons a watch ends and is started again.
var (
	// errBucketMissing: the bucket does not exist (yet, or any more).
	errBucketMissing = errors.New("kv bucket does not exist")
	// errWatchClosed: the KV watcher's subscription ended (its consumer or
	// the bucket was deleted, the connection closed).
	errWatchClosed = errors.New("kv watcher closed")
	// errBucketReplaced: the bucket was deleted, or deleted and created
	// again (its revisions restarted), under a running watch.
	errBucketReplaced = errors.New("kv bucket was deleted or re-created")
)

// GenerationCheck is how often a running watch checks that its bucket is
// still the one it started on. A bucket deleted (and perhaps created
// again) under a watch is not reported by the KV watcher itself: its
// consumer would resume at the old revision and skip the new bucket's
// first entries.
const GenerationCheck = 5 * time.Second

// AbsentSuffix ends the version of a kv.deleted event for a key that was
// published as put but is no longer in the bucket at all (its delete
// marker was purged, it expired, or the bucket was deleted): such a
// deletion has no revision of its own, so its version is the last put's
// revision followed by this suffix, the same on every dispatcher.
const AbsentSuffix = "-absent"

// bucketWatch keeps one bucket watched until its context ends.
type bucketWatch struct {
	bucket string
	scope  scope
	env    source.Env
	log    zerolog.Logger

	stats *counters

	// missing is set while the bucket is known not to exist, so that the
	// wait is logged once and vanished keys are reported once.
	missing bool
	// known is, per key, the newest event this watch session knows stored
	// in the events stream (read at catch-up, checked while behind, or
	// acknowledged to a publish); it tells when an older revision was
	// stored after a newer one.
	known map[string]storedRef
	// reached is a revision the bucket is known to have reached in this
	// watch session (beyondBucket asks the server only above it).
	reached uint64
}

// storedRef locates a stored event of a key.
type storedRef struct {
	seq uint64 // events stream sequence
	rev uint64 // revision(version)
}

// note records that the event of key at seq with revision rev is stored.
func (w *bucketWatch) note(key string, seq, rev uint64) {
	if seq > w.known[key].seq {
		w.known[key] = storedRef{seq: seq, rev: rev}
	}
}

// run watches, and after every failure waits RetryInterval and watches
// again, until ctx ends.
func (w *bucketWatch) run(ctx context.Context) {
	for {
		err := w.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case errors.Is(err, errBucketMissing):
		case errors.Is(err, errWatchClosed), errors.Is(err, errBucketReplaced):
			w.log.Warn().Err(err).Msg("kv watch ended; watching again and catching up")
		default:
			w.log.Warn().Err(err).Float64("retry_in_ms", logging.Millis(RetryInterval)).Msg("kv watch failed; retrying and catching up")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(RetryInterval):
		}
	}
}

// published is the last event stored for a key.
type published struct {
	typ     string
	version string
	rev     uint64    // the version as a revision; 0 when it is not one
	ours    bool      // published by this source (not e.g. herald publish)
	stored  time.Time // when the events stream stored it (server clock)
	seq     uint64    // its events stream sequence
}

// current reports whether p describes the bucket created at created: an
// event stored before the bucket existed belongs to an earlier bucket of
// the same name, whose revisions do not compare with this one's.
func (p published) current(created time.Time) bool {
	return p.ours && !p.stored.Before(created)
}

// watch runs one watch session: read what was published, read the
// bucket's current state, publish the differences, then publish every
// change until ctx ends or the watcher fails.
func (w *bucketWatch) watch(ctx context.Context) error {
	kv, err := w.env.JS.KeyValue(ctx, w.bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return w.bucketMissing(ctx)
	}
	if err != nil {
		return fmt.Errorf("kv bucket %s: %w", w.bucket, err)
	}
	created, err := bucketCreated(ctx, kv)
	if err != nil {
		return err
	}
	if w.missing {
		w.log.Info().Msg("kv bucket appeared")
		w.missing = false
	}
	// What was published is read before the bucket's state, so within one
	// bucket no published revision can be newer than the state read.
	pub, err := w.readPublished(ctx)
	if err != nil {
		return err
	}
	w.known = map[string]storedRef{}
	w.reached = 0
	for key, p := range pub {
		w.note(key, p.seq, p.rev)
	}
	// Initial values first (UpdatesOnly off), deletes included: the last
	// entry of every key, a delete or purge marker for a deleted key. No
	// history: intermediate revisions are not wanted, only the final state.
	var kw jetstream.KeyWatcher
	if f := w.scope.filters(); f == nil {
		kw, err = kv.WatchAll(ctx)
	} else {
		kw, err = kv.WatchFiltered(ctx, f)
	}
	if err != nil {
		return fmt.Errorf("kv bucket %s: watch: %w", w.bucket, err)
	}
	defer w.stopWatcher(kw)
	w.log.Info().Msg("watching kv bucket")

	state := map[string]jetstream.KeyValueEntry{}
	for initial := true; initial; {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-kw.Updates():
			if !ok {
				return errWatchClosed
			}
			if e == nil {
				initial = false
				continue
			}
			state[e.Key()] = e
		}
	}
	if err := w.catchUp(ctx, pub, state, created); err != nil {
		return err
	}
	// Follow what every dispatcher stores for the bucket, to repair a key
	// whose newest stored event is older than its entry in the bucket.
	stored := make(chan storedEvent, 64)
	fctx, stopFollow := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopFollow()
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.follow(fctx, stored)
	}()
	check := time.NewTicker(GenerationCheck)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-check.C:
			now, err := bucketCreated(ctx, kv)
			if err != nil {
				return fmt.Errorf("%w: %w", errBucketReplaced, err)
			}
			if !now.Equal(created) {
				return errBucketReplaced
			}
		case e, ok := <-kw.Updates():
			if !ok {
				return errWatchClosed
			}
			if e == nil {
				continue
			}
			if err := w.live(ctx, e, created); err != nil {
				return err
			}
			state[e.Key()] = e
		case s := <-stored:
			if err := w.onStored(ctx, s, state, created); err != nil {
				return err
			}
		}
	}
}

// drainTimeout bounds the wait for a stopped watcher to close its channel.
const drainTimeout = 5 * time.Second

// stopWatcher stops kw, then drains it until it closes its channel, so
// that a delivery blocked on the full channel returns and the
// subscription's goroutine ends.
func (w *bucketWatch) stopWatcher(kw jetstream.KeyWatcher) {
	_ = kw.Stop()
	timeout := time.NewTimer(drainTimeout)
	defer timeout.Stop()
	for {
		select {
		case _, ok := <-kw.Updates():
			if !ok {
				return
			}
		case <-timeout.C:
			w.log.Warn().Msg("kv watcher did not close after stop; leaving it")
			return
		}
	}
}

// bucketMissing logs the wait once and reports keys published as put
// whose bucket is gone as deleted.
func (w *bucketWatch) bucketMissing(ctx context.Context) error {
	if w.missing {
		return errBucketMissing
	}
	pub, err := w.readPublished(ctx)
	if err != nil {
		return err
	}
	w.known = map[string]storedRef{}
	for key, p := range pub {
		w.note(key, p.seq, p.rev)
	}
	if err := w.catchUp(ctx, pub, nil, time.Time{}); err != nil {
		return err
	}
	w.missing = true
	w.log.Info().Float64("retry_every_ms", logging.Millis(RetryInterval)).Msg("kv bucket does not exist; waiting for it")
	return errBucketMissing
}

func bucketCreated(ctx context.Context, kv jetstream.KeyValue) (time.Time, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("kv bucket %s: status: %w", kv.Bucket(), err)
	}
	if js, ok := st.(*jetstream.KeyValueBucketStatus); ok && js.StreamInfo() != nil {
		return js.StreamInfo().Created, nil
	}
	return time.Time{}, nil
}

// readPublished returns the last kv.put or kv.deleted event stored for
// every key of the scope, by KV key.
func (w *bucketWatch) readPublished(ctx context.Context) (map[string]published, error) {
	out := map[string]published{}
	err := bus.LastPerSubject(ctx, w.env.JS, events.EventsStream, w.scope.eventFilters(w.bucket), func(m jetstream.Msg) error {
		e, err := events.FromMsg(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		if err != nil {
			return nil // not ours to judge; the key is treated as unpublished
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("kv bucket %s: published events: %w", w.bucket, err)
		}
		b, key, ok := strings.Cut(e.Key, "/")
		if !ok || b != w.bucket || !w.scope.match(key) {
			return nil
		}
		p := w.describe(e, md.Timestamp, md.Sequence.Stream)
		// Stream order: a later event of the key (put or deleted) wins.
		out[key] = p
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kv bucket %s: published events: %w", w.bucket, err)
	}
	return out, nil
}

func (w *bucketWatch) describe(e events.Event, stored time.Time, seq uint64) published {
	return published{typ: e.Type, version: e.Version, rev: revision(e.Version), ours: e.Source == SourcePrefix+w.bucket, stored: stored, seq: seq}
}

// catchUp publishes what differs between the bucket's state (nil when the
// bucket is missing) and what was published: a put not yet published, a
// deletion of a key published as put, and the deletion of keys published
// as put that are no longer in the bucket at all. Keys go in sorted order.
func (w *bucketWatch) catchUp(ctx context.Context, pub map[string]published, state map[string]jetstream.KeyValueEntry, created time.Time) error {
	keys := map[string]bool{}
	for k := range pub {
		keys[k] = true
	}
	for k := range state {
		keys[k] = true
	}
	var sent, same int
	for _, key := range sortedKeys(keys) {
		p, inPub := pub[key]
		e, inState := state[key]
		var ev *events.Event
		switch {
		case inState && inPub && p.current(created) && p.rev > e.Revision():
			// What was published is read before the bucket's state: no
			// event of this source can be newer than it.
			ev = w.overForged(e, p)
		case inState && e.Operation() == jetstream.KeyValuePut:
			if inPub && p.current(created) && p.rev == e.Revision() {
				break
			}
			ev = w.event(e)
		case inState: // a delete or purge marker
			if inPub && p.typ == TypePut && !(p.current(created) && p.rev == e.Revision()) {
				ev = w.event(e)
			}
		case inPub && p.typ == TypePut: // vanished: marker purged, expired, bucket gone
			x := w.newEvent(TypeDeleted, key, nil, p.version+AbsentSuffix)
			ev = &x
		}
		if ev == nil {
			same++
			continue
		}
		if err := w.publish(ctx, *ev, created, whyCatchUp); err != nil {
			return err
		}
		sent++
	}
	w.stats.catchUps.Add(1)
	w.log.Info().Int("published", sent).Int("unchanged", same).Msg("kv catch-up done")
	return nil
}

// live publishes one change seen after the catch-up. When the watcher is
// behind the bucket (more entries pending), another dispatcher may already
// have published a newer revision of the key: then this one is skipped, so
// that a lagging dispatcher does not store a stale revision after a newer
// one. At the head, it is published at once.
func (w *bucketWatch) live(ctx context.Context, e jetstream.KeyValueEntry, created time.Time) error {
	if e.Delta() > 0 {
		p, ok, err := w.lastPublished(ctx, e.Key())
		if err != nil {
			return err
		}
		if ok && p.current(created) && p.rev >= e.Revision() {
			beyond, err := w.beyondBucket(ctx, p.rev)
			if err != nil {
				return err
			}
			if beyond {
				return w.publish(ctx, *w.overForged(e, p), created, whyChange)
			}
			w.log.Debug().Str("key", e.Key()).Uint64("revision", e.Revision()).Uint64("published", p.rev).
				Msg("kv: this or a newer revision is already stored; skipping")
			return nil
		}
	}
	return w.publish(ctx, *w.event(e), created, whyChange)
}

// lastPublished reads the last kv.put or kv.deleted event of one key.
func (w *bucketWatch) lastPublished(ctx context.Context, key string) (published, bool, error) {
	st, err := w.env.JS.Stream(ctx, events.EventsStream)
	if err != nil {
		return published{}, false, fmt.Errorf("stream %s: %w", events.EventsStream, err)
	}
	subj := events.EventPrefix + ".kv.*." + events.EncodeKey(w.bucket+"/"+key)
	raw, err := st.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return published{}, false, nil
	}
	if err != nil {
		return published{}, false, fmt.Errorf("last event on %s: %w", subj, err)
	}
	e, err := events.FromMsg(&nats.Msg{Subject: raw.Subject, Header: raw.Header, Data: raw.Data})
	if err != nil {
		return published{}, false, nil
	}
	p := w.describe(e, raw.Time, raw.Sequence)
	w.note(key, p.seq, p.rev)
	return p, true, nil
}

// event converts a KV entry to its event.
func (w *bucketWatch) event(e jetstream.KeyValueEntry) *events.Event {
	typ, data := TypePut, e.Value()
	if e.Operation() != jetstream.KeyValuePut {
		typ, data = TypeDeleted, nil
	}
	ev := w.newEvent(typ, e.Key(), data, strconv.FormatUint(e.Revision(), 10))
	return &ev
}

func (w *bucketWatch) newEvent(typ, key string, data []byte, version string) events.Event {
	e := events.New(SourcePrefix+w.bucket, typ, w.bucket+"/"+key, data)
	e.Version = version
	return e
}

// publish stores e.
//
// A revision of a bucket that was deleted and created again can repeat one
// of the old bucket's: when the dedup window drops e as the repeat of an
// event stored before this bucket existed, e is published again with the
// bucket's creation time in its version ("REV@UNIXNANO"), the same on
// every dispatcher.
//
// When e is dropped as a repeat of an event stored before an older
// revision of the key (a slower dispatcher stored that one after this),
// the newest stored event of the key no longer is the bucket's state: e is
// stored again, last, as a repair with version "REV.rSEQ" (SEQ: the
// sequence of the stale event).
func (w *bucketWatch) publish(ctx context.Context, e events.Event, created time.Time, why string) error {
	res, err := w.env.Pub.Publish(ctx, e)
	if err != nil {
		return fmt.Errorf("publish %s %s: %w", e.Type, e.Key, err)
	}
	key := strings.TrimPrefix(e.Key, w.bucket+"/")
	rev := revision(e.Version)
	if res.Duplicate && !created.IsZero() && !strings.Contains(e.Version, "@") {
		old, err := w.storedBefore(ctx, res.Seq, created)
		if err != nil {
			return err
		}
		if old {
			w.log.Info().Str("key", e.Key).Str("version", e.Version).
				Msg("kv: revision repeats one of an earlier bucket of the same name; publishing it with the bucket's creation time")
			again := w.newEvent(e.Type, key, e.Data, e.Version+"@"+strconv.FormatInt(created.UnixNano(), 10))
			return w.publish(ctx, again, created, why)
		}
	}
	if k := w.known[key]; res.Duplicate && res.Seq < k.seq && k.rev < rev && !strings.Contains(e.Version, ".r") {
		w.log.Info().Str("key", e.Key).Str("version", e.Version).Uint64("stale_seq", k.seq).Uint64("stale_revision", k.rev).
			Msg("kv: an older revision was stored after this one; storing this one again")
		w.stats.repairs.Add(1)
		again := w.newEvent(e.Type, key, e.Data, e.Version+".r"+strconv.FormatUint(k.seq, 10))
		return w.publish(ctx, again, created, why)
	}
	w.note(key, res.Seq, rev)
	if res.Duplicate {
		w.stats.duplicates.Add(1)
	} else {
		w.stats.published.Add(1)
		if why == whyCatchUp {
			w.stats.catchUpEvents.Add(1)
		}
	}
	w.log.Debug().Str("why", why).Str("type", e.Type).Str("key", e.Key).Str("version", e.Version).
		Str("event_id", res.ID).Bool("duplicate", res.Duplicate).Msg("kv event published")
	return nil
}

// Why an event is published, for logs and counters.
const (
	whyCatchUp = "catch-up"
	whyChange  = "change"
	whyRepair  = "repair"
)

// storedBefore reports whether the event at seq of the events stream was
// stored before t.
func (w *bucketWatch) storedBefore(ctx context.Context, seq uint64, t time.Time) (bool, error) {
	st, err := w.env.JS.Stream(ctx, events.EventsStream)
	if err != nil {
		return false, fmt.Errorf("stream %s: %w", events.EventsStream, err)
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stream %s: message %d: %w", events.EventsStream, seq, err)
	}
	return m.Time.Before(t), nil
}

// revision reads the KV revision that starts a version: "17", "17@...",
// "17.r..." and "17-absent" are all 17; anything else is 0.
func revision(version string) uint64 {
	end := 0
	for end < len(version) && version[end] >= '0' && version[end] <= '9' {
		end++
	}
	rev, err := strconv.ParseUint(version[:end], 10, 64)
	if err != nil {
		return 0
	}
	return rev
}
