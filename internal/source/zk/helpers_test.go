package zk_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/fleet"
	"github.com/heraldhq/herald/internal/source"
	zksrc "github.com/heraldhq/herald/internal/source/zk"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// wait bounds every poll: generous, for a loaded 2-core machine.
const wait = 30 * time.Second

// TestMain removes the binaries the scale test built once the tests ran.
func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveBinaries()
	os.Exit(code)
}

var openACL = gozk.WorldACL(gozk.PermAll)

// rig is a real ZooKeeper, a real NATS with Herald's streams, a direct
// ZooKeeper client for the test's changes and a collector of every zk
// event stored.
type rig struct {
	t   *testing.T
	zk  *testutil.ZooKeeper
	zc  *gozk.Conn
	nc  *nats.Conn
	js  jetstream.JetStream
	evs *collector
}

func newRig(t *testing.T) *rig {
	t.Helper()
	z := testutil.RunZooKeeper(t)
	return newRigWith(t, z)
}

func newRigWith(t *testing.T, z *testutil.ZooKeeper) *rig {
	t.Helper()
	nc, js := testutil.ConnectStreams(t, testutil.RunNATS(t))
	r := &rig{t: t, zk: z, zc: z.Connect(t), nc: nc, js: js}
	r.evs = collect(t, js)
	return r
}

// running is a source started by a test.
type running struct {
	t      *testing.T
	src    *zksrc.Source
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	log    *testutil.SyncBuffer
}

func (r *rig) start(name string, cfg zksrc.Config, tr *fleet.Tracker) *running {
	r.t.Helper()
	if cfg.Servers == "" {
		cfg.Servers = r.zk.Addr()
	}
	src, err := zksrc.New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	if tr == nil {
		tr = fleet.Static()
	}
	lb := &testutil.SyncBuffer{}
	log := zerolog.New(lb).Level(zerolog.DebugLevel).With().Timestamp().Str("source", name).Logger()
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{t: r.t, src: src, cancel: cancel, done: make(chan error, 1), log: lb}
	go func() {
		run.done <- src.Run(ctx, source.Env{Pub: testutil.Publisher{JS: r.js}, JS: r.js, Interest: tr, Log: log})
	}()
	r.t.Cleanup(func() {
		run.stop()
		if r.t.Failed() {
			r.t.Logf("--- %s log:\n%s", name, lb.String())
		}
	})
	return run
}

// stop cancels the source and checks that Run returns nil promptly.
func (s *running) stop() {
	s.once.Do(func() {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil {
				s.t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(wait):
			s.t.Errorf("Run did not return within %v of cancel", wait)
		}
	})
}

// synced waits until every watched znode is read and reconciled.
func (s *running) synced() zksrc.Stats {
	s.t.Helper()
	var st zksrc.Stats
	testutil.Eventually(s.t, wait, func() error {
		st = s.src.Stats()
		if !st.Synced {
			return fmt.Errorf("not synced: %+v", st)
		}
		return nil
	})
	return st
}

// stored is an event as the stream holds it.
type stored struct {
	events.Event
	Seq uint64
}

func (s stored) String() string {
	return fmt.Sprintf("#%d %s %s %s %q", s.Seq, s.Type, s.Key, s.Version, s.Data)
}

// collector reads every zk event stored, from the start of the stream.
type collector struct {
	mu   sync.Mutex
	list []stored
}

func collect(t *testing.T, js jetstream.JetStream) *collector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, events.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.EventPrefix + ".zk.>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		e, err := events.FromMsg(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		if err != nil {
			t.Errorf("stored event does not decode: %v", err)
			return
		}
		md, err := m.Metadata()
		if err != nil {
			t.Errorf("metadata: %v", err)
			return
		}
		c.mu.Lock()
		c.list = append(c.list, stored{Event: e, Seq: md.Sequence.Stream})
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return c
}

// of returns the stored events for key, in stream order.
func (c *collector) of(key string) []stored {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []stored
	for _, s := range c.list {
		if s.Key == key {
			out = append(out, s)
		}
	}
	return out
}

func (c *collector) all() []stored {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.list)
}

// waitFor polls until an event for key matches; it returns it.
func (r *rig) waitFor(key, typ, data string) stored {
	r.t.Helper()
	var got stored
	testutil.Eventually(r.t, wait, func() error {
		evs := r.evs.of(key)
		for _, e := range evs {
			if e.Type == typ && string(e.Data) == data {
				got = e
				return nil
			}
		}
		return fmt.Errorf("no %s %q for %s; have %v", typ, data, key, evs)
	})
	return got
}

// lastData is the newest created/changed/deleted event stored for key.
func (r *rig) lastData(key string) (stored, bool) {
	evs := r.evs.of(key)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type != zksrc.TypeChildren {
			return evs[i], true
		}
	}
	return stored{}, false
}

func (r *rig) create(path, data string) *gozk.Stat {
	r.t.Helper()
	if _, err := r.zc.Create(path, []byte(data), 0, openACL); err != nil {
		r.t.Fatalf("create %s: %v", path, err)
	}
	_, st, err := r.zc.Get(path)
	if err != nil {
		r.t.Fatalf("get %s: %v", path, err)
	}
	return st
}

func (r *rig) set(path, data string) *gozk.Stat {
	r.t.Helper()
	st, err := r.zc.Set(path, []byte(data), -1)
	if err != nil {
		r.t.Fatalf("set %s: %v", path, err)
	}
	return st
}

func (r *rig) del(path string) {
	r.t.Helper()
	if err := r.zc.Delete(path, -1); err != nil {
		r.t.Fatalf("delete %s: %v", path, err)
	}
}

// dataVersion is the heraldversion the source gives a znode's content.
func dataVersion(st *gozk.Stat) string {
	return fmt.Sprintf("m0x%x.v%d.c0x%x", st.Mzxid, st.Version, st.Czxid)
}

// noDuplicateVersions checks that no version was stored twice for a key.
func noDuplicateVersions(t *testing.T, evs []stored) {
	t.Helper()
	seen := map[string]stored{}
	for _, e := range evs {
		k := e.Key + " " + e.Version
		if prev, ok := seen[k]; ok {
			t.Errorf("version stored twice: %v and %v", prev, e)
		}
		seen[k] = e
	}
}

// announce publishes an agent's announcement, as agents do.
func (r *rig) announce(name string, stopping bool, on ...string) {
	r.t.Helper()
	a := events.Announcement{Name: name, Version: "test", Started: time.Now(), Heartbeat: time.Now(), Stopping: stopping}
	for i, o := range on {
		a.Watches = append(a.Watches, events.WatchSummary{Name: fmt.Sprintf("w%d", i), On: o, RunMode: "queue", File: "t.yaml"})
	}
	testutil.Announce(r.t, r.js, a)
}

func lines(s ...string) string {
	if len(s) == 0 {
		return ""
	}
	return strings.Join(s, "\n") + "\n"
}
