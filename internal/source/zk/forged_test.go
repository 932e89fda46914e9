package zk_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/heraldhq/herald/events"
	zksrc "github.com/heraldhq/herald/internal/source/zk"
	"github.com/heraldhq/herald/internal/testutil"
)

// forge publishes, with a raw connection as anyone holding the shared
// credential could, an event in the source's own name claiming a
// version far newer than ZooKeeper's.
func (r *rig) forge(typ, key, version string) {
	r.t.Helper()
	e := events.New("zk:///", typ, key, []byte("forged"))
	e.Version = version
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := r.js.PublishMsg(ctx, e.ToMsg()); err != nil {
		r.t.Fatal(err)
	}
}

// TestSource_ForgedVersionCannotSilenceAKey is the attack: a zk.changed
// with source "zk:///" and a huge version made the source treat its own
// real changes to that znode as older, and publish nothing, indefinitely.
// The source checks such a claim against ZooKeeper after a sync: the
// forged event is published over at once with ZooKeeper's state, and the
// real changes that follow are published.
func TestSource_ForgedVersionCannotSilenceAKey(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	st := r.create("/app", "c0")
	r.create("/app/kid", "")
	src := r.start("zk", zksrc.Config{Watch: []string{"/app"}}, nil)
	src.synced()
	r.waitFor("/app", zksrc.TypeChanged, "c0")

	huge := int64(1) << 60
	r.forge(zksrc.TypeChanged, "/app", fmt.Sprintf("m0x%x.v%d.c0x%x", huge, 99, st.Czxid))
	r.forge(zksrc.TypeChildren, "/app", fmt.Sprintf("p0x%x", huge))
	forged := r.waitFor("/app", zksrc.TypeChildren, "forged")
	// Published over with ZooKeeper's state, without a change.
	testutil.Eventually(t, wait, func() error {
		if e, ok := r.lastData("/app"); !ok || string(e.Data) != "c0" || e.Seq < forged.Seq {
			return fmt.Errorf("newest stored event of /app: %v, want ZooKeeper's c0 over the forged one", e)
		}
		return nil
	})
	// A forged deletion, and a forged other incarnation, are published
	// over as a change: no zk.deleted nor zk.created for what ZooKeeper
	// never did.
	r.forge(zksrc.TypeDeleted, "/app", fmt.Sprintf("d0x%x", huge+2))
	r.forge(zksrc.TypeChanged, "/app", fmt.Sprintf("m0x%x.v%d.c0x%x", huge+3, 1, huge))
	forged = r.waitFor("/app", zksrc.TypeChanged, "forged")
	testutil.Eventually(t, wait, func() error {
		if e, ok := r.lastData("/app"); !ok || string(e.Data) != "c0" || e.Seq < forged.Seq {
			return fmt.Errorf("newest stored event of /app: %v, want ZooKeeper's c0 over the forged ones", e)
		}
		return nil
	})
	for _, e := range r.evs.of("/app") {
		if string(e.Data) != "forged" && (e.Type == zksrc.TypeDeleted || e.Type == zksrc.TypeCreated) {
			t.Fatalf("published %v for a forged event", e)
		}
	}
	// The real changes are published.
	r.set("/app", "c1")
	r.waitFor("/app", zksrc.TypeChanged, "c1")
	r.create("/app/kid2", "")
	r.waitFor("/app", zksrc.TypeChildren, lines("kid", "kid2"))
	if got := src.synced().Implausible; got < 2 {
		t.Errorf("Stats.Implausible = %d, want at least 2 (data and children)", got)
	}

	// Forged again while the source is down: the restarted source, which
	// reads the stream's newest events at start, is not silenced either.
	src.stop()
	r.forge(zksrc.TypeChanged, "/app", fmt.Sprintf("m0x%x.v%d.c0x%x", huge+1, 100, st.Czxid))
	r.set("/app", "c2")
	src2 := r.start("zk2", zksrc.Config{Watch: []string{"/app"}}, nil)
	r.waitFor("/app", zksrc.TypeChanged, "c2")
	src2.synced()
}
