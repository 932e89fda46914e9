package zk

// The watcher: one run of the source. Its types, the inbox the ZooKeeper
// client feeds, and run, which starts the readers, the publishers, the
// stream follower and the authenticator around the one worker goroutine
// (loop) that owns all of the watcher's state.

import (
	"context"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/source"
	"github.com/heraldhq/herald/internal/source/zk/znode"
	"github.com/heraldhq/herald/internal/zkconn"
	"github.com/rs/zerolog"
)

// Concurrency bounds. Reads are pipelined on the one ZooKeeper connection
// by a fixed pool of readers (the client sends concurrent requests without
// waiting for each answer); publishes by a fixed pool of publishers, one
// job at a time per key so that a key's events are stored in order. No
// goroutine is started per watch: the client's event callback feeds one
// worker loop.
const (
	readers         = 32
	maxInflightRead = 2 * readers
	publishers      = 8
	maxInflightPub  = 2 * publishers
)

// dim is one of the two things read of a znode.
type dim int

const (
	dimData     dim = iota // GetW / ExistsW: content and stat
	dimChildren            // ChildrenW: the child names and pzxid
)

func (d dim) String() string {
	if d == dimData {
		return "data"
	}
	return "children"
}

// dimState tracks one read dimension of a node.
type dimState struct {
	armed    bool   // ZooKeeper holds our watch: a watching read succeeded and nothing fired since
	dirty    bool   // needs a watching read (the watch fired or was never set)
	verify   bool   // needs a plain read (the watch is armed; a reconnect or the stream asks to compare)
	inflight bool   // a read is running
	retry    bool   // waits for the retry timer
	resync   bool   // the next read belongs to a catch-up pass
	epoch    uint32 // bumped by every notification; a watching read issued before one does not arm
	sync     bool   // the next read syncs first: a stored event claims a newer version (implausible)
}

// node is one watched znode.
type node struct {
	key   string // the path agents see
	zpath string // the path in ZooKeeper (with the chroot)
	exact bool   // an exact-path root

	queued     bool
	d          [2]dimState
	publishing bool
	pend       [2]*readResult // reads waiting for the key's publish job

	// What the last reads said.
	known    bool // a data read succeeded
	exists   bool
	appeared bool // created while watched: its first event is zk.created
	listed   bool // its children were read once
	mzxid    int64
	czxid    int64
	pzxid    int64
	children []string // sorted; nil until read
}

// streamRec is the newest event of one dimension the events stream holds
// for a key, as far as this source knows.
type streamRec struct {
	seq   uint64
	typ   string
	ver   znode.Version
	empty bool // its data was empty
}

type keyStream [2]streamRec

// readJob is one read for the reader pool.
type readJob struct {
	key, zpath  string
	dim         dim
	watch       bool // GetW/ExistsW/ChildrenW rather than Get/Children
	existsWatch bool // when missing, watch for the creation
	epoch       uint32
	resync      bool
	// sync: Sync the path before reading, so that the read is at least as
	// new as any other client's; knownSeq is the stream sequence of the
	// key's newest stored event when the read was issued.
	sync     bool
	knownSeq uint64
}

// readResult is what a read found.
type readResult struct {
	readJob
	err      error
	exists   bool
	armed    bool // the read set a watch
	stat     zk.Stat
	data     []byte
	children []string
}

// pubEvent is one event of a publish job.
type pubEvent struct {
	ev  events.Event
	ver znode.Version
	dim dim
	// afterSeq is the newest stored sequence known for the dimension when
	// the event was planned: if the event turns out to be a duplicate of one
	// stored before it, something older was stored after the current state
	// and the event is published again as a repair.
	afterSeq uint64
	catchUp  bool
}

type pubJob struct {
	key string
	evs []pubEvent
}

// pubDone is what the stream stored for one event.
type pubDone struct {
	pubEvent
	seq    uint64
	dup    bool
	repair bool
}

type pubResult struct {
	key  string
	done []pubDone
	err  error
}

// followMsg is the follower's report of one stored zk event.
type followMsg struct {
	ready bool
	key   string
	typ   string
	ver   string
	seq   uint64
	empty bool
}

// watcher is one run of the source. Everything below the channels is owned
// by the worker goroutine (run).
type watcher struct {
	src    *Source
	cfg    Config
	env    source.Env
	log    zerolog.Logger
	name   string // the CloudEvents source
	chroot string

	conn *zk.Conn
	in   *zkconn.Inbox

	readJobs chan readJob
	reads    chan readResult
	pubJobs  chan pubJob
	pubs     chan pubResult
	follow   chan followMsg
	authed   chan struct{}

	nodes  map[string]*node
	stream map[string]*keyStream
	kids   map[string]map[string]struct{} // parent -> children the stream holds as existing
	roots  znode.Roots                    // exact-path and subtree roots
	// refused are the agents' selectors outside zk.allow (logged once).
	refused map[string]bool
	queue   []string // keys of nodes with reads to issue
	pubQ    []pubJob

	inflightReads int
	inflightPubs  int
	retries       int
	retryTimer    *time.Timer
	retryArmed    bool

	ready     bool // the follower has read what the stream held
	auth      bool
	connected bool
	expired   bool
	sessions  int
	sessionID int64

	loadStart time.Time
	loaded    bool
	resyncing bool
	resyncAt  time.Time
	resyncEvs uint64

	stats Stats
}

func newWatcher(s *Source, env source.Env) *watcher {
	return &watcher{
		src: s, cfg: s.cfg, env: env,
		log:      env.Log,
		name:     s.cfg.SourceName(),
		chroot:   s.cfg.Root(),
		in:       zkconn.NewInbox(),
		readJobs: make(chan readJob, maxInflightRead),
		reads:    make(chan readResult, maxInflightRead),
		pubJobs:  make(chan pubJob, maxInflightPub),
		pubs:     make(chan pubResult, maxInflightPub),
		follow:   make(chan followMsg, 256),
		authed:   make(chan struct{}),
		nodes:    map[string]*node{},
		stream:   map[string]*keyStream{},
		kids:     map[string]map[string]struct{}{},
		roots:    znode.NewRoots(),
	}
}

func (w *watcher) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := zkconn.Connect(w.cfg.Config, w.log, w.in.Push)
	if err != nil {
		return err
	}
	w.conn = conn
	w.loadStart = time.Now()
	w.retryTimer = time.NewTimer(time.Hour)
	w.retryTimer.Stop()
	w.log.Info().Str("servers", w.cfg.Servers).Str("chroot", w.chroot).Float64("session_timeout_ms", logging.Millis(w.cfg.Timeout())).
		Msg("zk: connecting")

	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range w.readJobs {
				w.reads <- w.read(j)
			}
		}()
	}
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range w.pubJobs {
				w.pubs <- w.publish(ctx, j)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		w.followStream(ctx)
	}()
	go func() {
		defer wg.Done()
		defer close(w.authed) // reads wait for it
		zkconn.Authenticate(ctx, w.conn, w.cfg.Config, w.log, RetryInterval)
	}()

	w.loop(ctx)

	cancel()
	conn.Close()
	close(w.readJobs)
	close(w.pubJobs)
	wg.Wait()
	w.log.Info().Msg("zk: stopped")
	return nil
}

func (w *watcher) loop(ctx context.Context) {
	var interest <-chan struct{}
	if w.env.Interest != nil {
		interest = w.env.Interest.Changed()
	}
	authed := w.authed
	w.applyRoots()
	for {
		w.dispatch()
		w.noteProgress()
		w.publishStats()
		select {
		case <-ctx.Done():
			return
		case <-w.in.Signal():
			for _, ev := range w.in.Take() {
				w.onZKEvent(ev)
			}
		case r := <-w.reads:
			w.inflightReads--
			w.onRead(r)
		case p := <-w.pubs:
			w.inflightPubs--
			w.onPublished(p)
		case m := <-w.follow:
			w.onStream(m)
		case <-interest:
			interest = w.env.Interest.Changed()
			w.applyRoots()
		case <-authed:
			authed = nil
			w.auth = true
		case <-w.retryTimer.C:
			w.retryArmed = false
			w.onRetry()
		}
	}
}
