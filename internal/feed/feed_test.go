package feed_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/feed"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// recorder is a Handler that keeps what it got and decides on request.
type recorder struct {
	mu      sync.Mutex
	got     []feed.Msg
	catchUp []bool
	auto    bool // decide every event at once
}

func (r *recorder) handle(msgs []feed.Msg, catchUp bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		r.got = append(r.got, m)
		r.catchUp = append(r.catchUp, catchUp)
		if r.auto {
			m.Done()
		}
	}
}

func (r *recorder) seqs() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []uint64
	for _, m := range r.got {
		s = append(s, m.Seq)
	}
	return s
}

func (r *recorder) msg(seq uint64) feed.Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.got {
		if m.Seq == seq {
			return m
		}
	}
	return feed.Msg{}
}

type env struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	state  string
	verify time.Duration // default: never within a test
}

func newEnv(t *testing.T) env {
	t.Helper()
	s := testutil.RunNATS(t)
	nc, js := testutil.ConnectStreams(t, s)
	return env{nc: nc, js: js, state: filepath.Join(t.TempDir(), "feed.json")}
}

func (e env) publish(t *testing.T, key string, n int) (seq uint64) {
	t.Helper()
	ev := events.Event{ID: fmt.Sprintf("e-%s-%d-%d", key, n, time.Now().UnixNano()), Source: "test", Type: "deploy", Key: key, Time: time.Now()}
	ack, err := bus.PublishEvent(context.Background(), e.js, ev)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// start runs a feed on filters until the returned stop is called.
func (e env) start(t *testing.T, r *recorder, filters ...string) (*feed.Feed, func()) {
	t.Helper()
	verify := e.verify
	if verify == 0 {
		verify = time.Hour
	}
	f, err := feed.New(e.nc, e.js, feed.Config{Stream: events.EventsStream, StateFile: e.state, Verify: verify, Log: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetFilters(filters); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, r.handle) }()
	select {
	case <-f.Started():
	case <-time.After(10 * time.Second):
		t.Fatal("feed did not start")
	}
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			stop()
		}
	})
	return f, stop
}

func waitSeqs(t *testing.T, r *recorder, want []uint64) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := r.seqs(); !slices.Equal(got, want) {
			return fmt.Errorf("delivered %v, want %v", got, want)
		}
		return nil
	})
}

func TestFeed_LiveInOrderAndOnlyMatching(t *testing.T) {
	e := newEnv(t)
	r := &recorder{auto: true}
	e.publish(t, "/a", 0) // before the agent's first start: not delivered
	e.start(t, r, events.EventSubject("deploy", "/a"))
	var want []uint64
	for i := range 5 {
		want = append(want, e.publish(t, "/a", i))
		e.publish(t, "/b", i) // not followed
	}
	waitSeqs(t, r, want)
	for i := range r.catchUp {
		if r.catchUp[i] {
			t.Errorf("event %d came from a read, want live", r.got[i].Seq)
		}
	}
	if m := r.msg(want[0]); m.Subject != events.EventSubject("deploy", "/a") {
		t.Errorf("subject %q, want the event subject", m.Subject)
	}
}

func TestFeed_RestartDeliversUndecidedAndMissedOnce(t *testing.T) {
	e := newEnv(t)
	flt := events.EventPrefix + ".deploy.>"
	r := &recorder{}
	_, stop := e.start(t, r, flt)
	s1, s2, s3 := e.publish(t, "/a", 1), e.publish(t, "/b", 1), e.publish(t, "/c", 1)
	waitSeqs(t, r, []uint64{s1, s2, s3})
	r.msg(s1).Done()
	r.msg(s3).Done() // s2 was running when the agent stopped
	stop()
	s4 := e.publish(t, "/d", 1) // while the agent is down

	r2 := &recorder{auto: true}
	e.start(t, r2, flt)
	waitSeqs(t, r2, []uint64{s2, s4})
	for i, c := range r2.catchUp {
		if !c {
			t.Errorf("event %d: want it from the catch-up read", r2.got[i].Seq)
		}
	}
}

func TestFeed_CatchUpCollapsesToNewestPerSubject(t *testing.T) {
	e := newEnv(t)
	flt := events.EventPrefix + ".deploy.>"
	r := &recorder{auto: true}
	_, stop := e.start(t, r, flt)
	s0 := e.publish(t, "/a", 0)
	waitSeqs(t, r, []uint64{s0})
	stop()
	var a []uint64
	for i := range 4 {
		a = append(a, e.publish(t, "/a", i+1))
	}
	b := e.publish(t, "/b", 1)

	r2 := &recorder{auto: true}
	e.start(t, r2, flt)
	waitSeqs(t, r2, []uint64{a[3], b})
	m := r2.msg(a[3])
	var sup []uint64
	for _, o := range m.Superseded {
		sup = append(sup, o.Seq)
	}
	if !slices.Equal(sup, a[:3]) {
		t.Errorf("superseded %v, want %v", sup, a[:3])
	}
}

func TestFeed_VerifyReadsWhatTheLivePathLost(t *testing.T) {
	e := newEnv(t)
	flt := events.EventPrefix + ".deploy.>"
	r := &recorder{auto: true}
	f, _ := e.start(t, r, flt)
	// The live path loses everything while the subscription is gone.
	if err := f.SetFilters(nil); err != nil {
		t.Fatal(err)
	}
	lost := e.publish(t, "/a", 1)
	if err := f.SetFilters([]string{flt}); err != nil {
		t.Fatal(err)
	}
	f.Verify()
	waitSeqs(t, r, []uint64{lost})
	if !r.catchUp[0] {
		t.Error("want the lost event from a read")
	}
	next := e.publish(t, "/a", 2)
	waitSeqs(t, r, []uint64{lost, next})
}

// proxiedEnv is a feed env whose connection to s goes through a proxy
// that the test can cut (cut); opts are more connection options.
func proxiedEnv(t *testing.T, s *server.Server, opts ...nats.Option) (env, *testutil.Proxy) {
	t.Helper()
	p := testutil.StartProxy(t, s.Addr().String())
	nc, err := nats.Connect("nats://"+p.Addr(), append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	return env{nc: nc, js: js, state: filepath.Join(t.TempDir(), "feed.json")}, p
}

// cut takes the proxy down and waits until e's connection has noticed.
func cut(t *testing.T, e env, p *testutil.Proxy) {
	t.Helper()
	p.SetDown(true)
	testutil.Eventually(t, 10*time.Second, func() error {
		if e.nc.IsConnected() {
			return fmt.Errorf("still connected")
		}
		return nil
	})
}

func TestFeed_ReconnectCatchesUp(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	e, p := proxiedEnv(t, s)
	pub := env{js: js}
	r := &recorder{auto: true}
	e.start(t, r, events.EventPrefix+".deploy.>")
	first := pub.publish(t, "/a", 0)
	waitSeqs(t, r, []uint64{first})
	cut(t, e, p)
	missed := pub.publish(t, "/b", 0)
	p.SetDown(false)
	waitSeqs(t, r, []uint64{first, missed})
}

func TestFeed_StreamCreatedAnewStartsFromItsStart(t *testing.T) {
	e := newEnv(t)
	flt := events.EventPrefix + ".deploy.>"
	r := &recorder{auto: true}
	e.start(t, r, flt)
	var old []uint64
	for i := range 3 {
		old = append(old, e.publish(t, "/a", i))
	}
	waitSeqs(t, r, old)
	ctx := context.Background()
	if err := e.js.DeleteStream(ctx, events.EventsStream); err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, e.js, bus.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	s1 := e.publish(t, "/a", 10) // seq 1 of the new stream: at or below the old position
	if s1 != 1 {
		t.Fatalf("new stream seq %d", s1)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		got := r.seqs()
		if len(got) < 4 || got[3] != s1 {
			return fmt.Errorf("delivered %v, want %v then %d", got, old, s1)
		}
		return nil
	})
}

// The periodic verify finds what the live path lost with nothing to say
// so, and moves the stored position past every decided event (checked in
// the state file, as a restarted agent would read it).
func TestFeed_PeriodicVerifyFindsLossAndMovesPosition(t *testing.T) {
	e := newEnv(t)
	e.verify = 100 * time.Millisecond
	flt := events.EventPrefix + ".deploy.>"
	r := &recorder{auto: true}
	f, _ := e.start(t, r, flt)
	first := e.publish(t, "/a", 1)
	waitSeqs(t, r, []uint64{first})
	if err := f.SetFilters(nil); err != nil {
		t.Fatal(err)
	}
	lost := e.publish(t, "/b", 1)
	if err := f.SetFilters([]string{flt}); err != nil {
		t.Fatal(err)
	}
	waitSeqs(t, r, []uint64{first, lost})
	last := e.publish(t, "/c", 1)
	waitSeqs(t, r, []uint64{first, lost, last})
	testutil.Eventually(t, 10*time.Second, func() error {
		cursor, done, err := feed.ReadPosition(e.state)
		if err != nil {
			return err
		}
		if cursor < last || done != 0 {
			return fmt.Errorf("stored position %d (%d decided above), want %d", cursor, done, last)
		}
		return nil
	})
}

// A torn state file (the host crashed while the agent rewrote it) falls
// back to its checkpoint; a longer older value's tail after the current
// one (the agent crashed between writing and truncating) is ignored.
func TestFeed_StateFileTornFallsBackToCheckpoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.json")
	testutil.WriteFile(t, dir, "events.json.prev", `{"stream_created":"2026-01-01T00:00:00Z","cursor":7}`+"\n")
	testutil.WriteFile(t, dir, "events.json", `{"stream_created":"2026-01-01T00:00:00Z","cur`)
	if cursor, _, err := feed.ReadPosition(path); err != nil || cursor != 7 {
		t.Fatalf("torn file: cursor %d, %v; want the checkpoint's 7", cursor, err)
	}
	testutil.WriteFile(t, dir, "events.json", `{"stream_created":"2026-01-01T00:00:00Z","cursor":9}`+"\n"+`ed":"2026-01-01T00:00:00Z","cursor":8,"done":[[10,12]]}`+"\n")
	if cursor, done, err := feed.ReadPosition(path); err != nil || cursor != 9 || done != 0 {
		t.Fatalf("file with an older tail: cursor %d, %d done, %v; want 9 and none", cursor, done, err)
	}
	testutil.WriteFile(t, dir, "events.json.prev", `{`)
	testutil.WriteFile(t, dir, "events.json", `{`)
	if _, _, err := feed.ReadPosition(path); err == nil || !strings.Contains(err.Error(), "delete both") {
		t.Fatalf("both torn: %v, want an error saying what to do", err)
	}
}

func TestConfig_ValidateNamesTheField(t *testing.T) {
	ok := feed.Config{Stream: events.EventsStream, StateFile: "x", Verify: time.Second}
	for field, c := range map[string]feed.Config{
		"stream":     {StateFile: "x", Verify: time.Second},
		"state_file": {Stream: "s", Verify: time.Second},
		"verify":     {Stream: "s", StateFile: "x"},
	} {
		err := c.Validate()
		if !errors.Is(err, feed.ErrInvalidConfig) || !strings.Contains(err.Error(), field+":") {
			t.Errorf("%s: %v, want an invalid feed config naming %s", field, err, field)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
