package zk_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
	zksrc "github.com/heraldhq/herald/internal/source/zk"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/zkconn"
	"github.com/prometheus/client_golang/prometheus"
)

// TestSource_Watch runs one source over one ensemble and proves each rule
// of a watch on its own paths.
func TestSource_Watch(t *testing.T) {
	r := newRig(t)
	r.create("/change", "v0")
	r.create("/flap", "a")
	r.create("/dir", "")
	r.create("/dir/x", "")
	r.create("/burst", "start")
	src := r.start("zk", zksrc.Config{Watch: []string{"/change", "/late", "/flap", "/dir", "/tree/**", "/burst"}}, nil)
	st := src.synced()
	if want := []string{"/burst", "/change", "/dir", "/flap", "/late", "/tree/**"}; strings.Join(st.Roots, " ") != strings.Join(want, " ") {
		t.Fatalf("roots %v, want %v", st.Roots, want)
	}

	t.Run("initial state is published once", func(t *testing.T) {
		evs := r.evs.of("/change")
		if len(evs) != 1 || evs[0].Type != zksrc.TypeChanged || string(evs[0].Data) != "v0" {
			t.Fatalf("/change: %v, want one zk.changed v0", evs)
		}
		if evs[0].Source != "zk:///" {
			t.Fatalf("source %q, want zk:///", evs[0].Source)
		}
		if evs := r.evs.of("/late"); len(evs) != 0 {
			t.Fatalf("/late does not exist yet, but: %v", evs)
		}
	})

	t.Run("change", func(t *testing.T) {
		st := r.set("/change", "v1")
		e := r.waitFor("/change", zksrc.TypeChanged, "v1")
		if e.Version != dataVersion(st) {
			t.Fatalf("version %q, want %q (mzxid and znode version)", e.Version, dataVersion(st))
		}
		if !strings.Contains(e.Version, fmt.Sprintf("m0x%x", st.Mzxid)) || !strings.Contains(e.Version, ".v1.") {
			t.Fatalf("version %q does not carry mzxid 0x%x and version 1", e.Version, st.Mzxid)
		}
	})

	t.Run("create after the watch began", func(t *testing.T) {
		st := r.create("/late", "hello")
		e := r.waitFor("/late", zksrc.TypeCreated, "hello")
		if e.Version != dataVersion(st) {
			t.Fatalf("version %q, want %q", e.Version, dataVersion(st))
		}
	})

	t.Run("delete and re-create", func(t *testing.T) {
		_, before, err := r.zc.Get("/flap")
		if err != nil {
			t.Fatal(err)
		}
		r.del("/flap")
		d := r.waitFor("/flap", zksrc.TypeDeleted, "")
		if want := fmt.Sprintf("d0x%x", before.Mzxid); d.Version != want {
			t.Fatalf("deleted version %q, want %q", d.Version, want)
		}
		r.create("/flap", "b")
		c := r.waitFor("/flap", zksrc.TypeCreated, "b")
		if c.Seq < d.Seq {
			t.Fatalf("created #%d stored before deleted #%d", c.Seq, d.Seq)
		}
		// Still watched after its re-creation.
		r.set("/flap", "c")
		r.waitFor("/flap", zksrc.TypeChanged, "c")
	})

	t.Run("children", func(t *testing.T) {
		r.waitFor("/dir", zksrc.TypeChildren, lines("x"))
		r.create("/dir/y", "")
		r.waitFor("/dir", zksrc.TypeChildren, lines("x", "y"))
		r.del("/dir/x")
		e := r.waitFor("/dir", zksrc.TypeChildren, lines("y"))
		_, st, err := r.zc.Get("/dir")
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("p0x%x", st.Pzxid); e.Version != want {
			t.Fatalf("children version %q, want %q", e.Version, want)
		}
		if e.DataContentType != zksrc.ChildrenContentType {
			t.Fatalf("content type %q", e.DataContentType)
		}
		src.synced()
		// An exact watch says nothing about its children's own content.
		if evs := r.evs.of("/dir/y"); len(evs) != 0 {
			t.Fatalf("/dir/y is not watched, but: %v", evs)
		}
	})

	t.Run("subtree three levels deep, created after start", func(t *testing.T) {
		r.create("/tree", "root")
		r.create("/tree/a", "1")
		r.create("/tree/a/b", "2")
		r.create("/tree/a/b/c", "3")
		for k, v := range map[string]string{"/tree": "root", "/tree/a": "1", "/tree/a/b": "2", "/tree/a/b/c": "3"} {
			r.waitFor(k, zksrc.TypeCreated, v)
		}
		r.set("/tree/a/b/c", "deep")
		r.waitFor("/tree/a/b/c", zksrc.TypeChanged, "deep")
		r.create("/tree/a/b/c2", "later")
		r.waitFor("/tree/a/b/c2", zksrc.TypeCreated, "later")
		r.del("/tree/a/b/c")
		r.waitFor("/tree/a/b/c", zksrc.TypeDeleted, "")
		// Created again under a watched subtree.
		r.create("/tree/a/b/c", "again")
		r.waitFor("/tree/a/b/c", zksrc.TypeCreated, "again")
		src.synced()
		for _, e := range r.evs.all() {
			if strings.HasPrefix(e.Key, "/tree") && e.Type == zksrc.TypeChildren {
				t.Fatalf("zk.children inside a subtree: %v", e)
			}
		}
	})

	t.Run("burst of 1000 sets", func(t *testing.T) {
		for i := range 1000 {
			r.set("/burst", strconv.Itoa(i))
		}
		r.waitFor("/burst", zksrc.TypeChanged, "999")
		src.synced()
		last, _ := r.lastData("/burst")
		if string(last.Data) != "999" {
			t.Fatalf("last event %v, want data 999", last)
		}
		evs := r.evs.of("/burst")
		noDuplicateVersions(t, evs)
		prev := -1
		for _, e := range evs[1:] {
			n, err := strconv.Atoi(string(e.Data))
			if err != nil || n <= prev {
				t.Fatalf("events out of order: %v after %d", e, prev)
			}
			prev = n
		}
		t.Logf("1000 sets gave %d events", len(evs)-1)
	})

	st = src.src.Stats()
	if st.Reconnects != 0 || st.Expiries != 0 || st.PublishErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSource_SessionExpiryCatchesUp(t *testing.T) {
	t.Parallel()
	z := testutil.RunZooKeeper(t)
	r := newRigWith(t, z)
	proxy := testutil.StartProxy(t, z.Addr())
	r.create("/exp", "")
	r.create("/exp/a", "1")
	r.create("/gone", "g")
	src := r.start("zk", zksrc.Config{
		Config: zkconn.Config{Servers: proxy.Addr(), SessionTimeout: 2 * time.Second},
		Watch:  []string{"/exp/**", "/gone", "/new"},
	}, nil)
	before := src.synced()

	proxy.SetDown(true)
	r.set("/exp/a", "2")
	r.create("/exp/b", "b")
	r.del("/gone")
	r.create("/new", "n")
	testutil.Eventually(t, wait, func() error {
		ok, err := z.HasSession(before.SessionID)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("session 0x%x still alive", before.SessionID)
		}
		return nil
	})
	proxy.SetDown(false)

	r.waitFor("/exp/a", zksrc.TypeChanged, "2")
	r.waitFor("/exp/b", zksrc.TypeCreated, "b")
	r.waitFor("/gone", zksrc.TypeDeleted, "")
	r.waitFor("/new", zksrc.TypeCreated, "n")
	after := src.synced()
	if after.Expiries < 1 || after.SessionID == before.SessionID || after.CatchUps < 1 || after.CatchUpEvents < 4 {
		t.Fatalf("after the expiry: %+v", after)
	}
	// The counters are exported to Prometheus.
	reg := prometheus.NewRegistry()
	reg.MustRegister(src.src)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		got[mf.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	if got["herald_zk_session_expiries_total"] != 1 || got["herald_zk_catchups_total"] < 1 ||
		got["herald_zk_catchup_events_total"] < 4 || got["herald_zk_connected"] != 1 || got["herald_zk_watched_znodes"] != 5 {
		t.Fatalf("metrics %v", got)
	}

	// Every watch is set again on the new session.
	r.set("/exp/b", "b2")
	r.waitFor("/exp/b", zksrc.TypeChanged, "b2")
	r.create("/gone", "back")
	r.waitFor("/gone", zksrc.TypeCreated, "back")
	r.create("/exp/c", "c")
	r.waitFor("/exp/c", zksrc.TypeCreated, "c")
}

func TestSource_DisconnectCatchesUp(t *testing.T) {
	t.Parallel()
	z := testutil.RunZooKeeper(t)
	r := newRigWith(t, z)
	proxy := testutil.StartProxy(t, z.Addr())
	r.create("/d", "1")
	r.create("/d/kid", "")
	old := r.create("/q", "first")
	src := r.start("zk", zksrc.Config{Config: zkconn.Config{Servers: proxy.Addr(), SessionTimeout: 30 * time.Second}, Watch: []string{"/d", "/q"}}, nil)
	before := src.synced()
	r.waitFor("/d", zksrc.TypeChildren, lines("kid"))

	proxy.SetDown(true)
	r.set("/d", "2")
	r.create("/d/kid2", "")
	r.del("/q")
	again := r.create("/q", "again")
	testutil.Eventually(t, wait, func() error {
		if src.src.Stats().Connected {
			return fmt.Errorf("source still connected")
		}
		return nil
	})
	proxy.SetDown(false)
	r.waitFor("/d", zksrc.TypeChanged, "2")
	r.waitFor("/d", zksrc.TypeChildren, lines("kid", "kid2"))
	// Deleted and created again unseen: both are told, in order.
	del := r.waitFor("/q", zksrc.TypeDeleted, "")
	cre := r.waitFor("/q", zksrc.TypeCreated, "again")
	if del.Seq > cre.Seq || del.Version != fmt.Sprintf("d0x%x", old.Mzxid) || cre.Version != dataVersion(again) {
		t.Fatalf("re-creation told as %v then %v", del, cre)
	}
	after := src.synced()
	if after.SessionID != before.SessionID || after.Expiries != 0 || after.Reconnects < 1 || after.CatchUps < 1 {
		t.Fatalf("after a short disconnect: %+v (before %+v)", after, before)
	}
	// The children watch is armed again after the reconnect.
	r.create("/d/kid3", "")
	r.waitFor("/d", zksrc.TypeChildren, lines("kid", "kid2", "kid3"))
}

func TestSource_ZooKeeperRestart(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.create("/r", "1")
	src := r.start("zk", zksrc.Config{Watch: []string{"/r", "/r2", "/sub/**"}}, nil)
	src.synced()
	r.waitFor("/r", zksrc.TypeChanged, "1")

	r.zk.Stop()
	testutil.Eventually(t, wait, func() error {
		if src.src.Stats().Connected {
			return fmt.Errorf("source still connected")
		}
		return nil
	})
	r.zk.Start()
	zc := r.zk.Connect(t)
	if _, err := zc.Set("/r", []byte("2"), -1); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/r2", "/sub", "/sub/x"} {
		if _, err := zc.Create(p, []byte(p), 0, openACL); err != nil {
			t.Fatal(err)
		}
	}
	r.waitFor("/r", zksrc.TypeChanged, "2")
	r.waitFor("/r2", zksrc.TypeCreated, "/r2")
	r.waitFor("/sub/x", zksrc.TypeCreated, "/sub/x")
	if st := src.synced(); st.Reconnects < 1 {
		t.Fatalf("stats %+v: the reconnect is not counted", st)
	}
}

// TestSource_TwoDispatchers runs two sources on one ensemble and one
// stream, and stops one in the middle of a burst.
func TestSource_TwoDispatchers(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.create("/k", "init")
	cfg := zksrc.Config{Watch: []string{"/k", "/k2"}}
	a := r.start("a", cfg, nil)
	b := r.start("b", cfg, nil)
	a.synced()
	b.synced()
	if evs := r.evs.of("/k"); len(evs) != 1 {
		t.Fatalf("the initial state stored %d times: %v", len(evs), evs)
	}

	const n = 600
	for i := range n {
		if i == n/2 {
			a.stop()
		}
		r.set("/k", strconv.Itoa(i))
	}
	r.create("/k2", "after")
	r.waitFor("/k", zksrc.TypeChanged, strconv.Itoa(n-1))
	r.waitFor("/k2", zksrc.TypeCreated, "after")
	b.synced()

	evs := r.evs.of("/k")
	noDuplicateVersions(t, evs)
	last, _ := r.lastData("/k")
	if string(last.Data) != strconv.Itoa(n-1) {
		t.Fatalf("last stored event %v, want the final value %d", last, n-1)
	}
	sa, sb := a.src.Stats(), b.src.Stats()
	if sa.Published == 0 || sb.Published == 0 {
		t.Fatalf("both should have published: a %+v, b %+v", sa, sb)
	}
	t.Logf("%d events for %d sets; a: published %d dup %d; b: published %d dup %d repairs %d",
		len(evs), n, sa.Published, sa.Duplicates, sb.Published, sb.Duplicates, sa.Repairs+sb.Repairs)
}

// TestSource_AgentDeclaredPaths follows the agents' announcements.
func TestSource_AgentDeclaredPaths(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	tr := testutil.RunTracker(t, r.js)
	r.create("/ctl", "0")
	r.create("/x", "x0")
	src := r.start("zk", zksrc.Config{Watch: []string{"/ctl"}}, tr)
	src.synced()

	r.announce("a1", false, "zk:/x", "zk:/y/**", "event:git.push")
	waitRoots(t, src, "/ctl", "/x", "/y/**")
	r.waitFor("/x", zksrc.TypeChanged, "x0")
	r.set("/x", "x1")
	r.waitFor("/x", zksrc.TypeChanged, "x1")
	r.create("/y", "")
	r.create("/y/z", "z")
	r.waitFor("/y/z", zksrc.TypeCreated, "z")

	// The agent stops: nothing needs /x or /y any more.
	r.announce("a1", true, "zk:/x", "zk:/y/**")
	waitRoots(t, src, "/ctl")
	if st := src.synced(); st.Nodes != 1 {
		t.Fatalf("still watching %d znodes: %+v", st.Nodes, st)
	}
	r.set("/x", "ignored")
	r.create("/y/w", "ignored")
	r.set("/ctl", "barrier")
	r.waitFor("/ctl", zksrc.TypeChanged, "barrier")
	src.synced()
	for _, e := range r.evs.all() {
		if string(e.Data) == "ignored" {
			t.Fatalf("published for a dropped watch: %v", e)
		}
	}

	// Declared again, the path's current state is caught up.
	r.announce("a2", false, "zk:/x")
	waitRoots(t, src, "/ctl", "/x")
	r.waitFor("/x", zksrc.TypeChanged, "ignored")
}

func waitRoots(t *testing.T, src *running, want ...string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		if got := src.src.Stats().Roots; strings.Join(got, " ") != strings.Join(want, " ") {
			return fmt.Errorf("roots %v, want %v", got, want)
		}
		return nil
	})
}

// TestSource_RestartSeedsFromStream stops a source, changes ZooKeeper, and
// starts another: only what changed meanwhile is published.
func TestSource_RestartSeedsFromStream(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.create("/s", "")
	r.create("/s/a", "1")
	r.create("/s/b", "1")
	r.create("/s/c", "1")
	r.create("/t", "")
	r.create("/t/a", "")
	r.create("/t/a/b", "")
	cfg := zksrc.Config{Watch: []string{"/s/**", "/one", "/t/**"}}
	first := r.start("first", cfg, nil)
	first.synced()
	first.stop()
	before := len(r.evs.all())
	if before != 7 {
		t.Fatalf("%d events for 7 znodes: %v", before, r.evs.all())
	}

	r.set("/s/a", "2")
	r.del("/s/b")
	r.create("/s/d", "new")
	r.create("/one", "1")
	r.del("/t/a/b")
	r.del("/t/a")
	r.del("/t")
	second := r.start("second", cfg, nil)
	second.synced()
	r.waitFor("/s/a", zksrc.TypeChanged, "2")
	r.waitFor("/s/b", zksrc.TypeDeleted, "")
	r.waitFor("/s/d", zksrc.TypeChanged, "new")
	r.waitFor("/one", zksrc.TypeChanged, "1")
	// A whole subtree deleted while nobody watched.
	for _, k := range []string{"/t", "/t/a", "/t/a/b"} {
		r.waitFor(k, zksrc.TypeDeleted, "")
	}
	second.synced()
	if got := len(r.evs.all()); got != before+7 {
		t.Fatalf("%d events after the restart, want %d: %v", got-before, 7, r.evs.all()[before:])
	}
	if evs := r.evs.of("/s/c"); len(evs) != 1 {
		t.Fatalf("unchanged /s/c republished: %v", evs)
	}
}

func TestSource_ChrootAndAuth(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.create("/app", "")
	if _, err := r.zc.Create("/app/secret", []byte("s3"), 0, gozk.DigestACL(gozk.PermAll, "herald", "pw")); err != nil {
		t.Fatal(err)
	}
	src := r.start("zk", zksrc.Config{Config: zkconn.Config{Chroot: "/app", Auth: "digest:herald:pw"}, Watch: []string{"/secret", "/**"}}, nil)
	e := r.waitFor("/secret", zksrc.TypeChanged, "s3")
	if e.Source != "zk:///app" {
		t.Fatalf("source %q, want zk:///app", e.Source)
	}
	r.create("/app/other", "o")
	r.waitFor("/other", zksrc.TypeCreated, "o")
	src.synced()
	for _, e := range r.evs.all() {
		if strings.HasPrefix(e.Key, "/app") {
			t.Fatalf("key carries the chroot: %v", e)
		}
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := []zksrc.Config{
		{},
		{Watch: []string{"/a", "/b/**"}},
		{Config: zkconn.Config{Servers: "zk1:2181,zk2:2181, zk3", Chroot: "/herald", Auth: "digest:u:p", SessionTimeout: 5e9}, Watch: []string{"/"}},
	}
	for _, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := []struct {
		field string
		cfg   zksrc.Config
	}{
		{"zk.servers", zksrc.Config{Config: zkconn.Config{Servers: "zk1:2181,,zk2"}}},
		{"zk.servers", zksrc.Config{Config: zkconn.Config{Servers: "zk1:99999"}}},
		{"zk.chroot", zksrc.Config{Config: zkconn.Config{Servers: "zk", Chroot: "herald"}}},
		{"zk.chroot", zksrc.Config{Config: zkconn.Config{Servers: "zk", Chroot: "/a/**"}}},
		{"zk.auth", zksrc.Config{Config: zkconn.Config{Servers: "zk", Auth: "digest:nopass"}}},
		{"zk.auth", zksrc.Config{Config: zkconn.Config{Servers: "zk", Auth: "sasl:u:p@ss"}}},
		{"zk.session_timeout", zksrc.Config{Config: zkconn.Config{Servers: "zk", SessionTimeout: -1}}},
		{"zk.session_timeout", zksrc.Config{Config: zkconn.Config{Servers: "zk", SessionTimeout: time.Millisecond}}},
		{"zk.watch[1]", zksrc.Config{Watch: []string{"/a", "b"}}},
	}
	for _, b := range bad {
		c := b.cfg
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), b.field+":") {
			t.Errorf("%+v: %v, want an error naming %s", c, err, b.field)
		}
		if err != nil && strings.Contains(err.Error(), "p@ss") {
			t.Errorf("error shows the password: %v", err)
		}
		if _, err := zksrc.New(c); err == nil {
			t.Errorf("New accepted %+v", c)
		}
	}
}
