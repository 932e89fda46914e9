// Package kv is the dispatcher's NATS KV source: ZooKeeper's semantics from
// a JetStream key-value bucket, for users without ZooKeeper. Every put of a
// watched key becomes a kv.put event (data: the value; version: the KV
// revision) and every delete or purge a kv.deleted event, keyed
// "BUCKET/KEY", so agents select them with "on: kv:BUCKET/KEY" or
// "on: kv:BUCKET/PREFIX.>".
//
// It watches the buckets named in its Config and those the agents declare
// (through the interest tracker), and drops a bucket's watch when nothing
// needs it any more. No final state is lost: each time a watch starts (at
// start, after a NATS reconnect, after a watch failed, when the set of
// watched keys changes) it compares the bucket with the last event
// published for each key and publishes only what differs (a catch-up),
// including the deletion of keys that vanished while nobody watched. The
// KV watcher delivers each key's last entry first (delete and purge markers
// included, no history) and then every change still in the bucket's
// history when it is read; a burst can push a revision out of the history
// before it is read, but never the last one.
//
// Several dispatchers on one NATS publish each revision once: the event
// source is "nats-kv://BUCKET" on every dispatcher, so the events stream's
// dedup window drops the repeats. A watch that is behind checks the last
// stored event of the key first and skips a revision already superseded;
// should a slower dispatcher still store an older revision after a newer
// one, the entry is stored again (a repair, version "REV.rSEQ", the same on
// every dispatcher): by the first dispatcher that finds its own newer
// publish dropped as a repeat, or by any running watch, which follows what
// every dispatcher stores for its bucket and compares the newest stored
// event of each key with the bucket's entry it has seen, so a slow
// dispatcher that dies first leaves nothing stale. A bucket deleted and created again is
// noticed (GenerationCheck) and its revisions, which restart at 1, are not
// confused with the old bucket's. Reconnects and catch-ups are logged,
// counted in Stats and exported by the Source as a prometheus.Collector.
//
// It knows the KV API, the event format and the selector syntax; it knows
// nothing of how the dispatcher runs NATS or of agents beyond their
// declared selectors.
package kv

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/source"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats.go"
)

// Event types published by the source.
const (
	TypePut     = "kv.put"
	TypeDeleted = "kv.deleted"
)

// SourcePrefix starts the CloudEvents source of every event: the source of
// a bucket's events is "nats-kv://BUCKET" on every dispatcher, so that the
// events stream drops a revision published by two of them.
const SourcePrefix = "nats-kv://"

// RetryInterval is how long a bucket's watch waits before trying again
// after the bucket was missing or the watch failed.
const RetryInterval = time.Second

// ErrInvalidWatch wraps every malformed entry of Config.Watch.
var ErrInvalidWatch = errors.New("invalid kv watch")

// Config configures the KV source (dispatcher flag --kv-watch, config key
// kv:).
type Config struct {
	// Watch lists BUCKET, BUCKET/KEY or BUCKET/PREFIX.> watched whatever the
	// agents declare.
	Watch []string `yaml:"watch"`
}

// Validate names the first bad field.
func (c Config) Validate() error {
	for i, w := range c.Watch {
		if _, err := parseTarget(w); err != nil {
			return fmt.Errorf("kv.watch[%d]: %w", i, err)
		}
	}
	return nil
}

// target is one watched thing: a whole bucket (filter "") or one filter in
// it (a key, or a prefix ending in ".>").
type target struct{ bucket, filter string }

// parseTarget parses BUCKET, BUCKET/KEY or BUCKET/PREFIX.>.
func parseTarget(s string) (target, error) {
	if !strings.Contains(s, "/") {
		if s == "" || !validBucket(s) {
			return target{}, fmt.Errorf("%w: bucket %q: want BUCKET, BUCKET/KEY or BUCKET/PREFIX.> (bucket: letters, digits, '-' and '_')", ErrInvalidWatch, s)
		}
		return target{bucket: s}, nil
	}
	sel, err := watch.ParseSelector(watch.KindKV+":"+s, "")
	if err != nil {
		return target{}, fmt.Errorf("%w: %w", ErrInvalidWatch, err)
	}
	return target{bucket: sel.Bucket, filter: sel.KVKey}, nil
}

func validBucket(s string) bool {
	for _, c := range s {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// Source watches KV buckets.
type Source struct {
	cfg     Config
	targets []target
	stats   counters
}

var _ source.Source = (*Source)(nil)

// New builds the source; it does no I/O.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg}
	for _, w := range cfg.Watch {
		t, _ := parseTarget(w)
		s.targets = append(s.targets, t)
	}
	return s, nil
}

// Name is "kv".
func (s *Source) Name() string { return "kv" }

// running is one bucket's watch goroutine.
type running struct {
	scope  scope
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

// Run watches until ctx ends, then stops every watch and returns nil.
func (s *Source) Run(ctx context.Context, env source.Env) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer s.stats.buckets.Store(0)
	active := map[string]*running{}
	defer func() {
		for _, r := range active {
			r.stop()
		}
	}()

	// A reconnect re-watches every bucket, which compares each with what
	// was published: changes made while the connection was down are caught
	// up at once, whatever the old consumers do.
	var status chan nats.Status
	if nc := env.JS.Conn(); nc != nil {
		status = nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED)
		defer nc.RemoveStatusListener(status)
	}
	warned := map[string]bool{}
	for {
		var changed <-chan struct{}
		if env.Interest != nil {
			changed = env.Interest.Changed()
		}
		want := s.wanted(env, warned)
		for bucket, r := range active {
			if sc, ok := want[bucket]; !ok || sc.id() != r.scope.id() {
				r.stop()
				delete(active, bucket)
				if !ok {
					env.Log.Info().Str("bucket", bucket).Msg("kv watch dropped: no longer needed")
				}
			}
		}
		for _, bucket := range sortedKeys(want) {
			if active[bucket] != nil {
				continue
			}
			wctx, cancel := context.WithCancel(ctx)
			r := &running{scope: want[bucket], cancel: cancel, done: make(chan struct{})}
			active[bucket] = r
			w := &bucketWatch{bucket: bucket, scope: r.scope, env: env, stats: &s.stats,
				log: env.Log.With().Str("bucket", bucket).Strs("filters", r.scope.describe()).Logger()}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(r.done)
				w.run(wctx)
			}()
		}
		s.stats.buckets.Store(int64(len(active)))
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case st, ok := <-status:
			if !ok {
				status = nil
				continue
			}
			if st != nats.CONNECTED {
				env.Log.Warn().Str("status", st.String()).Msg("kv: NATS connection lost; catching up once it is back")
				continue
			}
			s.stats.reconnects.Add(1)
			env.Log.Info().Int("buckets", len(active)).Msg("kv: NATS reconnected; re-watching every bucket to catch up")
			for bucket, r := range active {
				r.stop()
				delete(active, bucket)
			}
		}
	}
}

// wanted merges the configured targets with the agents' kv: selectors into
// one scope per bucket.
func (s *Source) wanted(env source.Env, warned map[string]bool) map[string]scope {
	targets := append([]target(nil), s.targets...)
	if env.Interest != nil {
		for _, on := range env.Interest.Selectors(watch.KindKV) {
			sel, err := watch.ParseSelector(on, "")
			if err != nil || sel.Kind != watch.KindKV {
				if !warned[on] {
					warned[on] = true
					env.Log.Warn().Str("selector", on).AnErr("reason", err).Msg("kv: ignoring a malformed selector declared by an agent")
				}
				continue
			}
			targets = append(targets, target{bucket: sel.Bucket, filter: sel.KVKey})
		}
	}
	return scopes(targets)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
