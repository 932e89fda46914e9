// Package zk is the dispatcher's ZooKeeper source: Twitcher's watches, held
// once, centrally, and fanned out over NATS, so that ten thousand hosts do
// not each hold a ZooKeeper session.
//
// What it watches: the roots of Config.Watch and every "zk:" selector the
// live agents declare (through the interest tracker). "PATH" watches one
// znode; "PATH/**" watches the znode and everything under it at any depth,
// including znodes created later. A root nobody needs any more is dropped.
//
// What it publishes (key: the znode path as agents see it, without the
// chroot; CloudEvents source: "zk://" + chroot, e.g. "zk:///" or
// "zk:///herald", the same on every dispatcher):
//
//   - zk.created and zk.changed, data: the znode's content. zk.created when
//     the znode appears where none was: it was watched while missing, it
//     showed up in a watched subtree, the last event stored for it was
//     zk.deleted, or it was deleted and created again between two reads
//     (which also publishes the zk.deleted). A znode found when its watch
//     begins (at the first start, or when an agent first declares it) with
//     nothing stored for it yet is published once as zk.changed: its
//     current state, so that an agent's run_on_load has something to run.
//   - zk.deleted, no data.
//   - zk.children, data: the child names, sorted, one a line; only for
//     exact-path watches. Inside a subtree the children's own zk.created and
//     zk.deleted say what changed; a subtree's children watches only find
//     new and vanished znodes.
//
// A path that does not exist is watched with exists and fires zk.created
// when it appears; a deleted exact path or subtree root stays watched for
// its re-creation. The heraldversion of every event (see znode.Version) is
// built from ZooKeeper's own zxids, so several dispatchers watching the
// same ensemble and publishing to the same stream store each change once. When a
// slower dispatcher stores an older version after the current one, the
// others see it in the stream and store the current state again (a repair,
// its version suffixed ".r<sequence>"), so that the newest event stored for
// a key always ends as ZooKeeper's state, even if the slow one then dies.
//
// No final state is lost. The source never publishes from a watch
// notification: a notification only marks the znode to be read again, and
// the read that returns the data re-arms the one-shot watch. What is
// published is always the difference between what ZooKeeper holds and what
// the events stream holds last for the key (followed from the stream, which
// also seeds it at start, so a restart republishes nothing unchanged and
// misses nothing changed while it was down). After a reconnect every
// watched znode is read again, after a session expiry every watch is set
// again, and each difference found is published (a catch-up); reconnects,
// expiries and catch-ups are logged, counted in Stats and exported by the
// Source as a prometheus.Collector.
//
// It knows ZooKeeper, the event format and the zk selector syntax; it
// knows nothing of how the dispatcher runs NATS or of agents beyond their
// declared selectors. The client side of the session (settings,
// connecting, auth, the watching reads) is package zkconn's.
package zk

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/source"
	"github.com/heraldhq/herald/internal/source/zk/znode"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/heraldhq/herald/internal/zkconn"
)

// Event types published by the source.
const (
	TypeCreated  = "zk.created"
	TypeChanged  = "zk.changed"
	TypeDeleted  = "zk.deleted"
	TypeChildren = "zk.children"
)

// SourcePrefix starts the CloudEvents source of every event; the chroot (or
// "/") follows.
const SourcePrefix = "zk://"

// ChildrenContentType is the datacontenttype of zk.children events.
const ChildrenContentType = "text/plain; charset=utf-8"

// RetryInterval is how long a read or publish that failed for another
// reason than a lost connection waits before it is tried again.
const RetryInterval = time.Second

// Config configures the ZooKeeper source (dispatcher flags --zk*, config
// key zk:): the connection, and the roots watched.
type Config struct {
	zkconn.Config `yaml:",inline"`
	// Watch lists the roots watched whatever the agents declare: PATH or
	// PATH/** for a subtree.
	Watch []string `yaml:"watch"`
	// Allow bounds the paths agents may declare (zk: selectors in their
	// announcements): globs, /PATH, /PATH/* or /PATH/**; a declaration
	// outside them is ignored. Absent (nil): znode.DefaultAllow, every
	// path; present but empty: none. Watch is not bound by it.
	Allow []string `yaml:"allow"`
}

// AllowGlobs is Allow, or znode.DefaultAllow when absent.
func (c Config) AllowGlobs() []string {
	if c.Allow == nil {
		return znode.DefaultAllow
	}
	return c.Allow
}

// Enabled reports whether a ZooKeeper ensemble is configured.
func (c Config) Enabled() bool { return c.Servers != "" }

// Validate names the first bad field. Servers, chroot, auth and the session
// timeout are checked only when the source is enabled (HERALD_ZK_AUTH may
// be set for a dispatcher that does not use ZooKeeper).
func (c Config) Validate() error {
	for i, w := range c.Watch {
		if _, err := watch.ParseSelector("zk:"+w, ""); err != nil {
			return fmt.Errorf("zk.watch[%d]: %w", i, err)
		}
	}
	for i, g := range c.Allow {
		if err := znode.CheckAllow(g); err != nil {
			return fmt.Errorf("zk.allow[%d]: %w", i, err)
		}
	}
	if !c.Enabled() {
		return nil
	}
	return c.Config.Validate()
}

// SourceName is the CloudEvents source of the events: "zk://" + chroot, or
// "zk:///" without one.
func (c Config) SourceName() string {
	if c.Root() == "" {
		return SourcePrefix + "/"
	}
	return SourcePrefix + c.Root()
}

// Stats is a snapshot of the source's state and counters.
type Stats struct {
	// Connected is true while the source holds a ZooKeeper session.
	Connected bool
	// SessionID is the current (or last) session.
	SessionID int64
	// Synced is true when every watched znode has been read and its
	// difference with the events stream published: nothing is pending.
	Synced bool
	// Roots are the watched roots, sorted: "/a" and "/b/**".
	Roots []string
	// Nodes is how many znodes are watched (including missing ones watched
	// for their creation).
	Nodes int
	// Reconnects counts sessions established after the first: the same
	// session resumed or a new one after an expiry.
	Reconnects uint64
	// Expiries counts sessions ZooKeeper expired.
	Expiries uint64
	// CatchUps counts the catch-up passes after a reconnect or an expiry;
	// CatchUpEvents the events they published.
	CatchUps      uint64
	CatchUpEvents uint64
	// Published counts stored events, Duplicates those the stream had
	// already (another dispatcher stored them first), Repairs the events
	// republished because an older version was stored after the current
	// one, PublishErrors the failed attempts.
	Published     uint64
	Duplicates    uint64
	Repairs       uint64
	PublishErrors uint64
	// Implausible counts stored events of this source that claimed a
	// version ZooKeeper, once synced, did not have (forged), published
	// over with ZooKeeper's state.
	Implausible uint64
}

// Source watches ZooKeeper.
type Source struct {
	cfg Config

	mu    sync.Mutex
	stats Stats
}

var _ source.Source = (*Source)(nil)

// New builds the source; it does no I/O.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Source{cfg: cfg}, nil
}

// Name is "zk".
func (s *Source) Name() string { return "zk" }

// Stats returns a snapshot of the state and counters of the running
// source.
func (s *Source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Roots = append([]string(nil), st.Roots...)
	return st
}

func (s *Source) setStats(st Stats) {
	s.mu.Lock()
	s.stats = st
	s.mu.Unlock()
}

// Run watches until ctx ends, then closes the ZooKeeper session and returns
// nil once every goroutine it started has ended. A ZooKeeper or NATS that
// is down is waited for, not an error.
func (s *Source) Run(ctx context.Context, env source.Env) error {
	if !s.cfg.Enabled() {
		return fmt.Errorf("zk.servers: empty: the source is disabled")
	}
	return newWatcher(s, env).run(ctx)
}
