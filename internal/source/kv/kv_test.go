package kv_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/source/kv"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

func TestConfig_Validate(t *testing.T) {
	for _, ok := range [][]string{nil, {"cfg"}, {"cfg/app.db"}, {"cfg/app.>"}, {"my-bucket_2/a/b=c", "cfg"}} {
		if err := (kv.Config{Watch: ok}).Validate(); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "c fg", "cfg/", "/app", "cfg/>", "cfg/.x", "cfg/x.", "cfg/a b", "cfg/a*", "b.x/k"} {
		t.Run(bad, func(t *testing.T) {
			err := (kv.Config{Watch: []string{"ok", bad}}).Validate()
			if !errors.Is(err, kv.ErrInvalidWatch) || !strings.Contains(err.Error(), "kv.watch[1]") {
				t.Fatalf("Validate(%q) = %v, want ErrInvalidWatch naming kv.watch[1]", bad, err)
			}
			if _, err := kv.New(kv.Config{Watch: []string{bad}}); err == nil {
				t.Fatalf("New accepted %q", bad)
			}
		})
	}
}

// The events match the agents' selectors: type, key and subject filter.
func TestSource_Run_EventsMatchSelectors(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("cfg")
	src := b.run(kv.Config{Watch: []string{"cfg/app.db"}}, nil)

	rev := put(t, bucket, "app.db", "v1 $(reboot)")
	e := b.waitLast("cfg/app.db", kv.TypePut, "v1 $(reboot)", strconv.FormatUint(rev, 10))
	if e.Source != "nats-kv://cfg" {
		t.Errorf("source = %q, want nats-kv://cfg", e.Source)
	}
	for _, on := range []string{"kv:cfg/app.db", "kv:cfg/app.>"} {
		sel, err := watch.ParseSelector(on, "")
		if err != nil {
			t.Fatal(err)
		}
		if !sel.Match(e.Type, e.Key) {
			t.Errorf("%s does not match %s %s", on, e.Type, e.Key)
		}
		matched := false
		for _, f := range sel.Filters() {
			matched = matched || subjectMatch(f, e.Subject())
		}
		if !matched {
			t.Errorf("no filter of %s (%v) covers subject %s", on, sel.Filters(), e.Subject())
		}
	}
	_ = src
}

func subjectMatch(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

func TestSource_Run_PutDeleteRecreate(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("cfg")
	src := b.run(kv.Config{Watch: []string{"cfg/app.db"}}, nil)

	r1 := put(t, bucket, "app.db", "v1")
	b.waitLast("cfg/app.db", kv.TypePut, "v1", fmt.Sprint(r1))
	r2 := del(t, bucket, "app.db")
	b.waitLast("cfg/app.db", kv.TypeDeleted, "", fmt.Sprint(r2))
	// Purge is a deletion too.
	r3 := put(t, bucket, "app.db", "v2")
	b.waitLast("cfg/app.db", kv.TypePut, "v2", fmt.Sprint(r3))
	if err := bucket.Purge(context.Background(), "app.db"); err != nil {
		t.Fatal(err)
	}
	b.waitLast("cfg/app.db", kv.TypeDeleted, "", fmt.Sprint(r3+1))
	// Re-created after the deletion; another key of the bucket is not
	// watched and, put before it, is not published.
	put(t, bucket, "other", "x")
	r5 := put(t, bucket, "app.db", "v3")
	b.waitLast("cfg/app.db", kv.TypePut, "v3", fmt.Sprint(r5))

	got := keysOf(b.stored("cfg"))
	want := []string{
		"kv.put cfg/app.db v1 @" + fmt.Sprint(r1),
		"kv.deleted cfg/app.db  @" + fmt.Sprint(r2),
		"kv.put cfg/app.db v2 @" + fmt.Sprint(r3),
		"kv.deleted cfg/app.db  @" + fmt.Sprint(r3+1),
		"kv.put cfg/app.db v3 @" + fmt.Sprint(r5),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stored:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	src.waitLog(t, "watching kv bucket", `"bucket":"cfg"`)
}

func TestSource_Run_PrefixSeesOnlyItsPrefix(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("cfg")
	// Overlapping filters collapse into the widest (a consumer refuses
	// overlapping filters).
	src := b.run(kv.Config{Watch: []string{"cfg/app.db", "cfg/app.>", "cfg/app.cache.>"}}, nil)
	src.waitLog(t, "watching kv bucket", `"filters":["app.>"]`)

	for _, k := range []string{"app.db", "apple", "app", "other.x", "app.cache.size", "xapp.y"} {
		put(t, bucket, k, k)
	}
	rz := put(t, bucket, "app.zz", "sentinel")
	b.waitLast("cfg/app.zz", kv.TypePut, "sentinel", fmt.Sprint(rz))
	var keys []string
	for _, e := range b.stored("cfg") {
		keys = append(keys, e.Key)
	}
	slices.Sort(keys)
	want := []string{"cfg/app.cache.size", "cfg/app.db", "cfg/app.zz"}
	if !slices.Equal(keys, want) {
		t.Fatalf("published keys %q, want %q", keys, want)
	}
}

func TestSource_Run_BurstLastEventCarriesLastValue(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("cfg")
	b.run(kv.Config{Watch: []string{"cfg"}}, nil)

	var last uint64
	for i := range 1000 {
		last = put(t, bucket, "hot", fmt.Sprintf("v%d", i))
	}
	b.waitLast("cfg/hot", kv.TypePut, "v999", fmt.Sprint(last))
	// What the stream keeps of the key is in revision order, without
	// repeats.
	var prev uint64
	for _, e := range b.stored("cfg") {
		v, err := strconv.ParseUint(e.Version, 10, 64)
		if err != nil || v <= prev {
			t.Fatalf("stored version %q after %d: want increasing revisions", e.Version, prev)
		}
		prev = v
	}
}

// A restarted source publishes nothing unchanged and catches up a put, a
// delete and a key purged without a trace while it was stopped.
func TestSource_Run_RestartCatchesUpOnlyChanges(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("cfg")
	first := b.run(kv.Config{Watch: []string{"cfg"}}, nil)
	for _, k := range []string{"a", "b", "c", "k"} {
		put(t, bucket, k, "1")
	}
	b.waitLast("cfg/k", kv.TypePut, "1", "4")
	first.stop()

	ra := put(t, bucket, "a", "2")
	del(t, bucket, "b")
	if err := bucket.Purge(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	if err := bucket.PurgeDeletes(context.Background(), jetstream.DeleteMarkersOlderThan(-1)); err != nil {
		t.Fatal(err)
	}
	// b's delete marker and c's purge marker are gone: only the keys'
	// absence tells they were deleted.

	second := b.run(kv.Config{Watch: []string{"cfg"}}, nil)
	rz := put(t, bucket, "z", "sentinel")
	b.waitLast("cfg/z", kv.TypePut, "sentinel", fmt.Sprint(rz))
	got := keysOf(second.rec.snapshot())
	want := []string{
		"kv.put cfg/a 2 @" + fmt.Sprint(ra),
		"kv.deleted cfg/b  @2" + kv.AbsentSuffix,
		"kv.deleted cfg/c  @3" + kv.AbsentSuffix,
		"kv.put cfg/z sentinel @" + fmt.Sprint(rz),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after restart published:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	second.waitLog(t, "kv catch-up done", `"unchanged":1`)
	if st := second.src.Stats(); st.CatchUpEvents < 3 || st.CatchUps != 1 {
		t.Errorf("stats %+v: want 1 catch-up with at least 3 events", st)
	}
}

// A delete marker that is still in the bucket is caught up with its own
// revision.
func TestSource_Run_RestartCatchesUpDeleteMarker(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("cfg")
	first := b.run(kv.Config{Watch: []string{"cfg/a"}}, nil)
	put(t, bucket, "a", "1")
	b.waitLast("cfg/a", kv.TypePut, "1", "1")
	first.stop()
	rd := del(t, bucket, "a")

	second := b.run(kv.Config{Watch: []string{"cfg/a"}}, nil)
	b.waitLast("cfg/a", kv.TypeDeleted, "", fmt.Sprint(rd))
	second.waitLog(t, "kv catch-up done", `"published":1`)
	second.stop()
	// Nothing changed: a third start publishes nothing.
	third := b.run(kv.Config{Watch: []string{"cfg/a"}}, nil)
	third.waitLog(t, "kv catch-up done", `"published":0`, `"unchanged":1`)
	if n := len(third.rec.snapshot()); n != 0 {
		t.Fatalf("third start published %d events, want 0", n)
	}
}

func TestSource_Run_TwoSourcesPublishEachRevisionOnce(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("cfg")
	s1 := b.run(kv.Config{Watch: []string{"cfg"}}, nil)
	s2 := b.run(kv.Config{Watch: []string{"cfg"}}, nil)
	// Both watching, past their catch-up.
	s1.waitLog(t, "kv catch-up done")
	s2.waitLog(t, "kv catch-up done")
	last := map[string]uint64{}
	for i := range 50 {
		for _, k := range []string{"x", "y"} {
			last[k] = put(t, bucket, k, fmt.Sprint(i))
		}
	}
	b.waitLast("cfg/x", kv.TypePut, "49", fmt.Sprint(last["x"]))
	b.waitLast("cfg/y", kv.TypePut, "49", fmt.Sprint(last["y"]))
	seen := map[string]int{}
	for _, e := range b.stored("cfg") {
		seen[e.Key+"@"+e.Version]++
	}
	for rev, n := range seen {
		if n != 1 {
			t.Errorf("%s stored %d times", rev, n)
		}
	}
	// Every revision a source saw is stored (once). A burst can evict a
	// revision from the bucket's history before any watcher reads it: that
	// one nobody sees, and the final state is all that counts.
	revs := map[string]bool{}
	for _, e := range append(s1.rec.snapshot(), s2.rec.snapshot()...) {
		revs[e.Key+"@"+e.Version] = true
	}
	for r := range revs {
		if seen[r] != 1 {
			t.Errorf("revision %s stored %d times, want 1", r, seen[r])
		}
	}
	t.Logf("publish calls: %d and %d for %d revisions", len(s1.rec.snapshot()), len(s2.rec.snapshot()), len(revs))
}

func TestSource_Run_AgentSelectorsAddedAndRemoved(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("cfg")
	tr := testutil.RunTracker(t, b.js)
	src := b.run(kv.Config{}, tr)

	r1 := put(t, bucket, "app.db", "v1")
	// An agent declares the key: its current value is published.
	b.announce("web-1", false, "kv:cfg/app.db", "event:git.push")
	b.waitLast("cfg/app.db", kv.TypePut, "v1", fmt.Sprint(r1))
	r2 := put(t, bucket, "app.db", "v2")
	b.waitLast("cfg/app.db", kv.TypePut, "v2", fmt.Sprint(r2))

	// Another agent narrows nothing but adds a prefix: app.db stays
	// watched (once), site.* joins.
	b.announce("web-2", false, "kv:cfg/site.>", "kv:cfg/app.db")
	src.waitLog(t, "watching kv bucket", `"filters":["app.db","site.>"]`)
	r3 := put(t, bucket, "site.title", "t")
	b.waitLast("cfg/site.title", kv.TypePut, "t", fmt.Sprint(r3))

	// web-1 and web-2 stop: the watch is dropped.
	b.announce("web-1", true, "kv:cfg/app.db")
	b.announce("web-2", true, "kv:cfg/site.>", "kv:cfg/app.db")
	src.waitLog(t, "kv watch dropped", `"bucket":"cfg"`)
	before := len(src.rec.snapshot())
	r4 := put(t, bucket, "app.db", "v3")

	// Declared again: v3, made while nobody watched, is caught up once.
	b.announce("web-3", false, "kv:cfg/app.>")
	b.waitLast("cfg/app.db", kv.TypePut, "v3", fmt.Sprint(r4))
	if got := keysOf(src.rec.snapshot()[before:]); len(got) != 1 {
		t.Fatalf("after re-declaring published %q, want only v3", got)
	}
}

func TestSource_Run_BucketCreatedLater(t *testing.T) {
	b := newBench(t)
	src := b.run(kv.Config{Watch: []string{"late/k"}}, nil)
	src.waitLog(t, "kv bucket does not exist; waiting for it", `"bucket":"late"`)
	bucket := b.bucket("late")
	rev := put(t, bucket, "k", "here")
	b.waitLast("late/k", kv.TypePut, "here", fmt.Sprint(rev))
	src.waitLog(t, "kv bucket appeared")
	if n := strings.Count(src.log.String(), "waiting for it"); n != 1 {
		t.Fatalf("the wait was logged %d times, want once", n)
	}
}

// A bucket deleted under the watch reports its keys deleted; created again,
// its new revisions (which restart at 1) are published although lower than
// the old ones.
func TestSource_Run_BucketDeletedAndRecreated(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("gen")
	src := b.run(kv.Config{Watch: []string{"gen"}}, nil)
	for i := range 3 {
		r := put(t, bucket, "a", fmt.Sprint(i))
		b.waitLast("gen/a", kv.TypePut, fmt.Sprint(i), fmt.Sprint(r))
	}
	if err := b.js.DeleteKeyValue(context.Background(), "gen"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 3*wait, func() error {
		if e, _ := b.last("gen/a"); e.Type != kv.TypeDeleted || e.Version != "3"+kv.AbsentSuffix {
			return fmt.Errorf("last event of gen/a: %s %s", e.Type, e.Version)
		}
		return nil
	})
	bucket = b.bucket("gen")
	put(t, bucket, "a", "new")
	// Revision 1 again, within the dedup window of the old bucket's
	// revision 1: it carries the new bucket's creation time.
	b.waitNewGeneration(bucket, "gen/a", "new", 1, true)
	src.waitLog(t, "kv bucket appeared")
}

// Deleted and created again quickly, before the watch notices: the new
// bucket's state is still published though its revision is lower.
func TestSource_Run_BucketReplacedQuickly(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("gen")
	b.run(kv.Config{Watch: []string{"gen"}}, nil)
	for i := range 3 {
		put(t, bucket, "a", fmt.Sprint(i))
	}
	b.waitLast("gen/a", kv.TypePut, "2", "3")
	if err := b.js.DeleteKeyValue(context.Background(), "gen"); err != nil {
		t.Fatal(err)
	}
	bucket = b.bucket("gen")
	put(t, bucket, "a", "new")
	b.waitNewGeneration(bucket, "gen/a", "new", 1, false)
}

// waitNewGeneration polls until the last event of key is the put of data
// at rev of the re-created bucket: version "REV", or "REV@CREATED" when the
// old bucket's REV was stored within the dedup window (required when
// stored is true).
func (b *bench) waitNewGeneration(bucket jetstream.KeyValue, key, data string, rev uint64, stored bool) {
	b.t.Helper()
	st, err := bucket.Status(context.Background())
	if err != nil {
		b.t.Fatal(err)
	}
	created := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Created
	plain, suffixed := fmt.Sprint(rev), fmt.Sprintf("%d@%d", rev, created.UnixNano())
	if stored {
		plain = suffixed
	}
	testutil.Eventually(b.t, 3*wait, func() error {
		if e, _ := b.last(key); e.Type != kv.TypePut || string(e.Data) != data || (e.Version != plain && e.Version != suffixed) {
			return fmt.Errorf("last event of %s: %s %q %s, want put %q %s or %s", key, e.Type, e.Data, e.Version, data, plain, suffixed)
		}
		return nil
	})
}

// The NATS server restarts: changes made while the source was cut off are
// published once it is back.
func TestSource_Run_Reconnect(t *testing.T) {
	store := t.TempDir()
	srv := testutil.RunNATSWithOptions(t, &server.Options{StoreDir: store})
	port := srv.Addr().(*net.TCPAddr).Port
	b := newBenchOn(t, srv, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	bucket := b.bucket("cfg")
	src := b.run(kv.Config{Watch: []string{"cfg/app.db"}}, nil)
	r1 := put(t, bucket, "app.db", "v1")
	b.waitLast("cfg/app.db", kv.TypePut, "v1", fmt.Sprint(r1))

	srv.Shutdown()
	srv.WaitForShutdown()
	srv2 := testutil.RunNATSWithOptions(t, &server.Options{StoreDir: store, Port: port})
	other := testutil.Connect(t, srv2)
	ojs, err := jetstream.New(other)
	if err != nil {
		t.Fatal(err)
	}
	obucket, err := ojs.KeyValue(context.Background(), "cfg")
	if err != nil {
		t.Fatal(err)
	}
	r2 := put(t, obucket, "app.db", "v2")
	b.waitLast("cfg/app.db", kv.TypePut, "v2", fmt.Sprint(r2))
	src.waitLog(t, "NATS reconnected")
	if st := src.src.Stats(); st.Reconnects < 1 || st.Buckets != 1 {
		t.Errorf("stats %+v: want a reconnect counted and 1 bucket", st)
	}
	r3 := put(t, obucket, "app.db", "v3")
	b.waitLast("cfg/app.db", kv.TypePut, "v3", fmt.Sprint(r3))
}

// A slower dispatcher stored an older revision after the current one: the
// source stores the current one again (a repair), last.
func TestSource_Run_RepairsStaleRevisionStoredLast(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("cfg")
	put(t, bucket, "a", "v1")
	put(t, bucket, "a", "v2")
	ctx := context.Background()
	// Dispatcher B stores revision 2, then slow dispatcher A revision 1.
	for _, v := range []string{"2", "1"} {
		e := events.New(kv.SourcePrefix+"cfg", kv.TypePut, "cfg/a", []byte("v"+v))
		e.Version = v
		if _, err := bus.PublishEvent(ctx, b.js, e); err != nil {
			t.Fatal(err)
		}
	}
	_, staleSeq, _, err := bus.LastEvent(ctx, b.js, events.EventSubject(kv.TypePut, "cfg/a"))
	if err != nil {
		t.Fatal(err)
	}
	src := b.run(kv.Config{Watch: []string{"cfg/a"}}, nil)
	b.waitLast("cfg/a", kv.TypePut, "v2", fmt.Sprintf("2.r%d", staleSeq))
	src.waitLog(t, "an older revision was stored after this one")
	if st := src.src.Stats(); st.Repairs != 1 {
		t.Errorf("stats %+v: want 1 repair", st)
	}
	// A restart finds the repaired state current: nothing more.
	src.stop()
	again := b.run(kv.Config{Watch: []string{"cfg/a"}}, nil)
	again.waitLog(t, "kv catch-up done", `"published":0`)
}

// The source is a Prometheus collector of its stats.
func TestSource_Collect(t *testing.T) {
	src, err := kv.New(kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(src); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	want := []string{"herald_kv_catchup_events_total", "herald_kv_catchups_total", "herald_kv_implausible_total", "herald_kv_reconnects_total", "herald_kv_repairs_total", "herald_kv_watched_buckets"}
	if !slices.Equal(names, want) {
		t.Fatalf("metrics %q, want %q", names, want)
	}
}

// A slower dispatcher stores an older revision after the newest one and
// dies before noticing: the running sources, which follow the events
// stream, store the bucket's current entry again, once, so that the last
// stored event of the key is current without any further change to it.
func TestSource_Run_RepairsStaleEventStoredByAnotherDispatcher(t *testing.T) {
	b := newBench(t)
	bucket := b.bucket("cfg")
	// Only the last revision of each key is published by the catch-up, so
	// the older ones, stored later as stale, are not dropped as repeats.
	put(t, bucket, "a", "v1")
	revA := put(t, bucket, "a", "v2")
	put(t, bucket, "b", "w1")
	putB := put(t, bucket, "b", "w2")
	s1 := b.run(kv.Config{Watch: []string{"cfg"}}, nil)
	s2 := b.run(kv.Config{Watch: []string{"cfg"}}, nil)
	b.waitLast("cfg/a", kv.TypePut, "v2", fmt.Sprint(revA))
	b.waitLast("cfg/b", kv.TypePut, "w2", fmt.Sprint(putB))
	delB := del(t, bucket, "b")
	b.waitLast("cfg/b", kv.TypeDeleted, "", fmt.Sprint(delB))

	// stale stores what a slow dispatcher would: an older put of key,
	// after the newest event of the key.
	stale := func(t *testing.T, key, data string, rev uint64) uint64 {
		t.Helper()
		e := events.New(kv.SourcePrefix+"cfg", kv.TypePut, "cfg/"+key, []byte(data))
		e.Version = fmt.Sprint(rev)
		ack, err := bus.PublishEvent(context.Background(), b.js, e)
		if err != nil {
			t.Fatal(err)
		}
		if ack.Duplicate {
			t.Fatalf("stale %s version %s dropped as a repeat", key, e.Version)
		}
		return ack.Sequence
	}
	// storedOnce checks that the repair, made by both sources, is stored
	// once.
	storedOnce := func(t *testing.T, key, version string) {
		t.Helper()
		n := 0
		for _, e := range b.stored("cfg") {
			if e.Key == key && e.Version == version {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s version %s stored %d times, want 1", key, version, n)
		}
	}

	t.Run("older put stored after the newest put", func(t *testing.T) {
		seq := stale(t, "a", "v1", revA-1)
		want := fmt.Sprintf("%d.r%d", revA, seq)
		b.waitLast("cfg/a", kv.TypePut, "v2", want)
		storedOnce(t, "cfg/a", want)
	})
	t.Run("older put stored after the newest delete", func(t *testing.T) {
		seq := stale(t, "b", "w1", putB-1)
		want := fmt.Sprintf("%d.r%d", delB, seq)
		b.waitLast("cfg/b", kv.TypeDeleted, "", want)
		storedOnce(t, "cfg/b", want)
	})
	if r := s1.src.Stats().Repairs + s2.src.Stats().Repairs; r < 2 {
		t.Errorf("repairs counted: %d, want at least 2", r)
	}
}
