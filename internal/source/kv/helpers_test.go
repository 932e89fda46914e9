package kv_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/fleet"
	"github.com/heraldhq/herald/internal/source"
	"github.com/heraldhq/herald/internal/source/kv"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

const wait = 10 * time.Second

// bench is a NATS server with Herald's streams and a client.
type bench struct {
	t   *testing.T
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

func newBench(t *testing.T) *bench {
	t.Helper()
	return newBenchOn(t, testutil.RunNATS(t))
}

func newBenchOn(t *testing.T, srv *server.Server, opts ...nats.Option) *bench {
	t.Helper()
	nc, js := testutil.ConnectStreams(t, srv, opts...)
	return &bench{t: t, srv: srv, nc: nc, js: js}
}

// bucket creates (or binds) a bucket.
func (b *bench) bucket(name string) jetstream.KeyValue {
	b.t.Helper()
	kv, err := b.js.CreateOrUpdateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: name, History: 5})
	if err != nil {
		b.t.Fatal(err)
	}
	return kv
}

func put(t *testing.T, kv jetstream.KeyValue, key, value string) uint64 {
	t.Helper()
	rev, err := kv.PutString(context.Background(), key, value)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func del(t *testing.T, kv jetstream.KeyValue, key string) uint64 {
	t.Helper()
	if err := kv.Delete(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	e, err := kv.History(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return e[len(e)-1].Revision()
}

// recorder is the source's Publisher: it stores through bus.PublishEvent
// and remembers every call, duplicates included.
type recorder struct {
	js    jetstream.JetStream
	mu    sync.Mutex
	calls []events.Event
}

func (r *recorder) Publish(ctx context.Context, e events.Event) (source.PublishResult, error) {
	res, err := testutil.Publisher{JS: r.js}.Publish(ctx, e)
	if err != nil {
		return res, err
	}
	r.mu.Lock()
	r.calls = append(r.calls, e)
	r.mu.Unlock()
	return res, nil
}

func (r *recorder) snapshot() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.calls...)
}

// running is a source started by run.
type running struct {
	src  *kv.Source
	rec  *recorder
	log  *testutil.SyncBuffer
	stop func()
}

// waitLog polls the source's log for every one of parts on one line.
func (r *running) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	testutil.Eventually(t, wait, func() error {
		for _, line := range strings.Split(r.log.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return nil
			}
		}
		return fmt.Errorf("no log line with %q", parts)
	})
}

// run starts the source in-process; stop cancels it and checks that Run
// returns nil promptly. It is also called when the test ends.
func (b *bench) run(cfg kv.Config, tr *fleet.Tracker) *running {
	b.t.Helper()
	src, err := kv.New(cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	if src.Name() != "kv" {
		b.t.Fatalf("Name() = %q", src.Name())
	}
	r := &running{src: src, rec: &recorder{js: b.js}, log: &testutil.SyncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(r.log).With().Timestamp().Str("source", "kv").Logger()
	go func() {
		done <- src.Run(ctx, source.Env{Pub: r.rec, JS: b.js, Interest: tr, Log: log})
	}()
	var once sync.Once
	t := b.t
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v after cancel, want nil", err)
				}
			case <-time.After(wait):
				t.Errorf("Run did not return within %v of cancel", wait)
			}
			if t.Failed() {
				t.Logf("--- source log:\n%s", r.log.String())
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

// stored returns every event stored for the bucket, in stream order.
func (b *bench) stored(bucket string) []events.Event {
	b.t.Helper()
	filters := []string{
		events.EventPrefix + "." + kv.TypePut + "." + events.EncodeKey(bucket) + ".>",
		events.EventPrefix + "." + kv.TypeDeleted + "." + events.EncodeKey(bucket) + ".>",
	}
	return testutil.StoredEvents(b.t, b.js, wait, filters...)
}

// last returns the newest stored kv.put or kv.deleted event of key
// ("BUCKET/KEY").
func (b *bench) last(key string) (events.Event, bool) {
	b.t.Helper()
	var best events.Event
	var bestSeq uint64
	for _, typ := range []string{kv.TypePut, kv.TypeDeleted} {
		e, seq, ok, err := bus.LastEvent(context.Background(), b.js, events.EventSubject(typ, key))
		if err != nil {
			b.t.Fatal(err)
		}
		if ok && seq > bestSeq {
			best, bestSeq = e, seq
		}
	}
	return best, bestSeq > 0
}

// waitLast polls until the newest stored event of key has typ, data and
// version.
func (b *bench) waitLast(key, typ, data, version string) events.Event {
	b.t.Helper()
	var got events.Event
	testutil.Eventually(b.t, wait, func() error {
		e, ok := b.last(key)
		if !ok {
			return fmt.Errorf("no event stored for %s", key)
		}
		if e.Type != typ || string(e.Data) != data || e.Version != version {
			return fmt.Errorf("last event of %s is %s %q version %s, want %s %q version %s", key, e.Type, e.Data, e.Version, typ, data, version)
		}
		got = e
		return nil
	})
	return got
}

// announce publishes an agent announcement as agents do.
func (b *bench) announce(name string, stopping bool, on ...string) {
	b.t.Helper()
	a := events.Announcement{Name: name, Version: "test", Started: time.Now(), Heartbeat: time.Now(), Stopping: stopping}
	for i, s := range on {
		a.Watches = append(a.Watches, events.WatchSummary{Name: fmt.Sprintf("w%d", i), On: s, RunMode: "queue"})
	}
	testutil.Announce(b.t, b.js, a)
}

func keysOf(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type+" "+e.Key+" "+string(e.Data)+" @"+e.Version)
	}
	return out
}
