package kv_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/source/kv"
)

// forge stores, with a raw connection as anyone holding the shared
// credential could, a kv.put in the bucket source's own name claiming a
// revision far past the bucket's.
func (b *bench) forge(key string, rev uint64) uint64 {
	b.t.Helper()
	e := events.New(kv.SourcePrefix+"cfg", kv.TypePut, "cfg/"+key, []byte("forged"))
	e.Version = fmt.Sprint(rev)
	ack, err := b.js.PublishMsg(context.Background(), e.ToMsg())
	if err != nil {
		b.t.Fatal(err)
	}
	return ack.Sequence
}

// TestSource_Run_ForgedRevisionCannotSilenceAKey is the attack on the KV
// source: a kv.put with source kv://cfg and a huge revision, stored
// first, made the real entries of the key look older. Forged while the
// source runs, it is stored over at once with the bucket's entry; forged
// while it is down, the catch-up stores the real entry over it; and the
// key's changes go on being published.
func TestSource_Run_ForgedRevisionCannotSilenceAKey(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("cfg")
	revA := put(t, bucket, "a", "v1")
	first := b.run(kv.Config{Watch: []string{"cfg"}}, nil)
	b.waitLast("cfg/a", kv.TypePut, "v1", fmt.Sprint(revA))

	seq := b.forge("a", 1<<40)
	b.waitLast("cfg/a", kv.TypePut, "v1", fmt.Sprintf("%d.r%d", revA, seq))
	rev := put(t, bucket, "a", "v2")
	b.waitLast("cfg/a", kv.TypePut, "v2", fmt.Sprint(rev))
	first.stop()

	// Down: forged, then the key changes.
	seq = b.forge("a", 1<<41)
	rev = put(t, bucket, "a", "v3")
	second := b.run(kv.Config{Watch: []string{"cfg"}}, nil)
	b.waitLast("cfg/a", kv.TypePut, "v3", fmt.Sprintf("%d.r%d", rev, seq))
	rev = put(t, bucket, "a", "v4")
	b.waitLast("cfg/a", kv.TypePut, "v4", fmt.Sprint(rev))
	if n := first.src.Stats().Implausible + second.src.Stats().Implausible; n < 2 {
		t.Errorf("implausible counted: %d, want at least 2", n)
	}
	second.waitLog(t, "claims a revision the bucket never had")
}
