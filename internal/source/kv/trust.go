package kv

// Trusting only the bucket: an event stored in this source's name is
// compared with the bucket's own revisions only when its revision is one
// the bucket can have had. Anyone holding the bus's shared credential can
// store a kv.put with source kv://BUCKET and a huge revision; taken at its
// word, it would make every real change of the key look older.

import (
	"context"
	"fmt"
	"strconv"

	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats.go/jetstream"
)

// overForged is the event that stores entry e over p, the newest stored
// event of its key, which claims a newer revision than e while the
// bucket's state read after it holds e (or, live, than the bucket has
// ever reached): p was not this source's. The version is suffixed
// ".rSEQ" (SEQ: p's sequence) as a repair is, so that every dispatcher
// storing e over the same forged event stores it once, even when e's own
// version is stored already (before p).
func (w *bucketWatch) overForged(e jetstream.KeyValueEntry, p published) *events.Event {
	ev := w.event(e)
	ev.Version += ".r" + strconv.FormatUint(p.seq, 10)
	w.stats.implausible.Add(1)
	w.log.Warn().Str("key", ev.Key).Uint64("revision", e.Revision()).Str("stored_version", p.version).Uint64("stored_seq", p.seq).
		Msg("kv: the newest stored event of a key claims a revision the bucket never had; storing the bucket's entry over it")
	return ev
}

// beyondBucket reports whether revision rev is past the newest the
// bucket has reached: no event of this source can carry it. It asks the
// server only for a revision above what the bucket was last seen to
// reach, so a dispatcher behind another costs one request per new high.
func (w *bucketWatch) beyondBucket(ctx context.Context, rev uint64) (bool, error) {
	if rev <= w.reached {
		return false, nil
	}
	kv, err := w.env.JS.KeyValue(ctx, w.bucket)
	if err != nil {
		return false, fmt.Errorf("kv bucket %s: %w", w.bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return false, fmt.Errorf("kv bucket %s: status: %w", w.bucket, err)
	}
	js, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || js.StreamInfo() == nil {
		return false, nil
	}
	w.reached = max(w.reached, js.StreamInfo().State.LastSeq)
	return rev > w.reached, nil
}
