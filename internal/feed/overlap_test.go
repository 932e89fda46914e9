package feed_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

// TestFeed_ReadRacingLiveHandsEachEventOverOnce: verifying reads during a
// burst find events whose live copies still wait in the feed's buffer.
// Every event must be handed over once (live, or by a read as the newest of
// its subject or in its Superseded), never again when its late live copy
// is taken: an agent would run it twice (parallel mode) or decide it while
// it still waits in a queue slot (the second copy is let go as a
// redelivery), and lose it in a crash.
//
// The stream keeps every event of the burst (events_per_key above n): with
// the default 64 per key, a live path running more than 64 events behind
// (a loaded machine) finds only the newest 64 in the stream, and the older
// ones, gone from it, count as superseded; that is the retention the
// stream was given, not what this test is about.
func TestFeed_ReadRacingLiveHandsEachEventOverOnce(t *testing.T) {
	const n = 300
	s := testutil.RunNATS(t)
	nc := testutil.Connect(t, s)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := bus.DefaultStreamConfig()
	cfg.EventsPerKey = 2 * n
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	e := env{nc: nc, js: js, state: filepath.Join(t.TempDir(), "feed.json")}
	flt := events.EventPrefix + ".deploy.>"
	r := &recorder{} // decides nothing: every event stays held
	f, _ := e.start(t, r, flt)
	for i := range n {
		e.publish(t, "/a", i)
		f.Verify()
	}
	// A marker on another subject, after the burst: once it is handed
	// over, so are the live copies queued before it.
	marker := e.publish(t, "/z", 0)
	handed := func() map[uint64]int {
		r.mu.Lock()
		defer r.mu.Unlock()
		c := map[uint64]int{}
		for _, m := range r.got {
			c[m.Seq]++
			for _, o := range m.Superseded {
				c[o.Seq]++
			}
		}
		return c
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if c := handed(); len(c) < n+1 || c[marker] == 0 {
			return fmt.Errorf("%d of %d events handed over", len(c), n+1)
		}
		return nil
	})
	var twice []uint64
	for seq, k := range handed() {
		if k > 1 {
			twice = append(twice, seq)
		}
	}
	slices.Sort(twice)
	if len(twice) > 0 {
		t.Errorf("events handed over more than once (a read found them, then their late live copy was taken as new): %v", twice)
	}
}
