package zk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/source"
	"github.com/heraldhq/herald/internal/watch"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
	ver   version
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
	ver version
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

// inbox receives the ZooKeeper client's events. The client calls push from
// its receive loop, which must never block: push appends under a mutex and
// signals without waiting. The queue stays small: every watch notifies at
// most once before the worker re-arms it.
type inbox struct {
	mu  sync.Mutex
	evs []zk.Event
	sig chan struct{}
}

func (b *inbox) push(ev zk.Event) {
	if ev.Type == zk.EventSession {
		switch ev.State {
		case zk.StateDisconnected, zk.StateHasSession, zk.StateExpired, zk.StateAuthFailed:
		default:
			return
		}
	}
	b.mu.Lock()
	b.evs = append(b.evs, ev)
	b.mu.Unlock()
	select {
	case b.sig <- struct{}{}:
	default:
	}
}

func (b *inbox) take() []zk.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	evs := b.evs
	b.evs = nil
	return evs
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
	in   *inbox

	readJobs chan readJob
	reads    chan readResult
	pubJobs  chan pubJob
	pubs     chan pubResult
	follow   chan followMsg
	authed   chan struct{}

	nodes  map[string]*node
	stream map[string]*keyStream
	kids   map[string]map[string]struct{} // parent -> children the stream holds as existing
	exact  map[string]bool                // exact-path roots
	sub    map[string]bool                // subtree roots
	queue  []string                       // keys of nodes with reads to issue
	pubQ   []pubJob

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
		chroot:   s.cfg.chroot(),
		in:       &inbox{sig: make(chan struct{}, 1)},
		readJobs: make(chan readJob, maxInflightRead),
		reads:    make(chan readResult, maxInflightRead),
		pubJobs:  make(chan pubJob, maxInflightPub),
		pubs:     make(chan pubResult, maxInflightPub),
		follow:   make(chan followMsg, 256),
		authed:   make(chan struct{}),
		nodes:    map[string]*node{},
		stream:   map[string]*keyStream{},
		kids:     map[string]map[string]struct{}{},
		exact:    map[string]bool{},
		sub:      map[string]bool{},
	}
}

// zkLogger sends the client's own messages to the debug log; the source
// logs connection changes itself.
type zkLogger struct{ log zerolog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.Debug().Str("client", fmt.Sprintf(format, args...)).Msg("zk client")
}

func (w *watcher) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, _, err := zk.Connect(w.cfg.servers(), w.cfg.sessionTimeout(),
		zk.WithEventCallback(w.in.push), zk.WithLogger(zkLogger{w.log}), zk.WithLogInfo(false))
	if err != nil {
		return fmt.Errorf("zk: connect: %w", err)
	}
	w.conn = conn
	w.loadStart = time.Now()
	w.retryTimer = time.NewTimer(time.Hour)
	w.retryTimer.Stop()
	w.log.Info().Str("servers", w.cfg.Servers).Str("chroot", w.chroot).Float64("session_timeout_ms", logging.Millis(w.cfg.sessionTimeout())).
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
		w.authenticate(ctx)
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

// authenticate adds the digest credential (the client re-sends it after
// every reconnect), retrying until it is accepted; reads wait for it.
func (w *watcher) authenticate(ctx context.Context) {
	defer close(w.authed)
	if w.cfg.Auth == "" {
		return
	}
	scheme, cred, _ := w.cfg.digest()
	for {
		err := w.conn.AddAuth(scheme, []byte(cred))
		if err == nil || ctx.Err() != nil {
			return
		}
		w.log.Warn().Err(err).Msg("zk: adding auth; retrying")
		select {
		case <-ctx.Done():
			return
		case <-time.After(RetryInterval):
		}
	}
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
		case <-w.in.sig:
			for _, ev := range w.in.take() {
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

// ---- roots and nodes ----

// applyRoots recomputes the watched roots from the config and the agents'
// selectors, starts watching new ones and drops what nobody needs.
func (w *watcher) applyRoots() {
	exact, sub := map[string]bool{}, map[string]bool{}
	add := func(on, from string) {
		sel, err := watch.ParseSelector(on, "")
		if err != nil || sel.Kind != watch.KindZK {
			w.log.Warn().Str("selector", on).Str("from", from).Err(err).Msg("zk: selector ignored")
			return
		}
		if sel.Subtree {
			sub[sel.Path] = true
		} else {
			exact[sel.Path] = true
		}
	}
	for _, p := range w.cfg.Watch {
		add("zk:"+p, "config")
	}
	if w.env.Interest != nil {
		for _, s := range w.env.Interest.Selectors(watch.KindZK) {
			add(s, "agents")
		}
	}
	removed := false
	for p := range w.exact {
		if !exact[p] {
			removed = true
			w.log.Info().Str(logging.FieldKey, p).Msg("zk: watch dropped")
		}
	}
	for p := range w.sub {
		if !sub[p] {
			removed = true
			w.log.Info().Str(logging.FieldKey, p+"/**").Msg("zk: watch dropped")
		}
	}
	old := w.exact
	oldSub := w.sub
	w.exact, w.sub = exact, sub
	for p := range exact {
		n := w.ensureNode(p)
		if !n.exact {
			n.exact = true
			w.touch(n)
		}
		if !old[p] {
			w.log.Info().Str(logging.FieldKey, p).Msg("zk: watching")
		}
	}
	for p := range sub {
		if !oldSub[p] {
			w.touch(w.ensureNode(p))
			w.log.Info().Str(logging.FieldKey, strings.TrimSuffix(p, "/")+"/**").Msg("zk: watching")
		}
	}
	if removed {
		for _, n := range w.nodes {
			if n.exact && !exact[n.key] {
				n.exact = false
			}
			w.maybeDrop(n)
		}
	}
	w.stats.Roots = w.rootList()
}

func (w *watcher) rootList() []string {
	var out []string
	for p := range w.exact {
		out = append(out, p)
	}
	for p := range w.sub {
		out = append(out, strings.TrimSuffix(p, "/")+"/**")
	}
	sort.Strings(out)
	return out
}

func parent(key string) (string, bool) {
	if key == "/" {
		return "", false
	}
	i := strings.LastIndexByte(key, '/')
	if i <= 0 {
		return "/", true
	}
	return key[:i], true
}

func child(key, name string) string {
	if key == "/" {
		return "/" + name
	}
	return key + "/" + name
}

// inSubtree reports whether a subtree root covers key (itself included).
func (w *watcher) inSubtree(key string) bool {
	for p, ok := key, true; ok; p, ok = parent(p) {
		if w.sub[p] {
			return true
		}
	}
	return false
}

func (w *watcher) wanted(n *node) bool { return n.exact || w.inSubtree(n.key) }

// needsExists: a root is watched for its (re-)creation; a znode inside a
// subtree is found again by its parent's children watch.
func (w *watcher) needsExists(n *node) bool { return n.exact || w.sub[n.key] }

func (w *watcher) zpath(key string) string {
	if w.chroot == "" {
		return key
	}
	if key == "/" {
		return w.chroot
	}
	return w.chroot + key
}

// keyOf maps a ZooKeeper path back to the agents' path.
func (w *watcher) keyOf(zpath string) (string, bool) {
	if w.chroot == "" {
		return zpath, zpath != ""
	}
	if zpath == w.chroot {
		return "/", true
	}
	rest, ok := strings.CutPrefix(zpath, w.chroot)
	if !ok || !strings.HasPrefix(rest, "/") {
		return "", false
	}
	return rest, true
}

func (w *watcher) ensureNode(key string) *node {
	if n := w.nodes[key]; n != nil {
		return n
	}
	n := &node{key: key, zpath: w.zpath(key)}
	n.d[dimData].dirty = true
	n.d[dimChildren].dirty = true
	w.nodes[key] = n
	w.enqueue(n)
	return n
}

func (w *watcher) enqueue(n *node) {
	if !n.queued {
		n.queued = true
		w.queue = append(w.queue, n.key)
	}
}

// markRead asks for a read of one dimension: a plain one when our watch is
// armed (a watching read would register a second client-side watcher), a
// watching one otherwise.
func (w *watcher) markRead(n *node, d dim) {
	s := &n.d[d]
	if s.armed {
		s.verify = true
	} else {
		s.dirty = true
	}
	w.enqueue(n)
}

func (w *watcher) touch(n *node) {
	w.markRead(n, dimData)
	w.markRead(n, dimChildren)
}

// fired records a watch notification (or a lost watch): the dimension is
// read again, with a watch.
func (w *watcher) fired(n *node, d dim) {
	s := &n.d[d]
	s.epoch++
	s.armed = false
	s.dirty = true
	w.enqueue(n)
}

// maybeDrop forgets a node nobody needs, or a znode inside a subtree found
// missing, once nothing is running for it. Its watches in ZooKeeper cannot
// be cancelled: when they fire, the notification is ignored.
func (w *watcher) maybeDrop(n *node) {
	if n.publishing || n.d[dimData].inflight || n.d[dimChildren].inflight {
		return
	}
	if w.wanted(n) && !(n.known && !n.exists && !w.needsExists(n)) {
		return
	}
	if w.nodes[n.key] == n {
		delete(w.nodes, n.key)
	}
}

// ---- ZooKeeper events ----

func (w *watcher) onZKEvent(ev zk.Event) {
	if ev.Type == zk.EventSession {
		w.onSession(ev)
		return
	}
	key, ok := w.keyOf(ev.Path)
	if !ok {
		return
	}
	n := w.nodes[key]
	if n == nil {
		return // no longer watched
	}
	switch ev.Type {
	case zk.EventNodeCreated, zk.EventNodeDataChanged:
		w.fired(n, dimData)
	case zk.EventNodeChildrenChanged:
		w.fired(n, dimChildren)
	case zk.EventNodeDeleted, zk.EventNotWatching:
		w.fired(n, dimData)
		w.fired(n, dimChildren)
	}
}

func (w *watcher) onSession(ev zk.Event) {
	switch ev.State {
	case zk.StateDisconnected:
		if w.connected {
			w.connected = false
			w.stats.Connected = false
			w.log.Warn().Str("server", ev.Server).Str("session_id", sid(w.sessionID)).Msg("zk: disconnected")
		}
	case zk.StateExpired:
		w.expired = true
		w.stats.Expiries++
		w.log.Warn().Str("session_id", sid(w.sessionID)).Msg("zk: session expired; every watch will be set again")
		for _, n := range w.nodes {
			w.fired(n, dimData)
			w.fired(n, dimChildren)
		}
	case zk.StateAuthFailed:
		w.log.Error().Msg("zk: authentication failed")
	case zk.StateHasSession:
		id := w.conn.SessionID()
		first := w.sessions == 0
		resumed := !first && !w.expired && id == w.sessionID
		w.sessions++
		w.connected, w.expired, w.sessionID = true, false, id
		w.stats.Connected, w.stats.SessionID = true, id
		switch {
		case first:
			w.log.Info().Str("server", ev.Server).Str("session_id", sid(id)).Msg("zk: session established")
			return
		case resumed:
			w.log.Info().Str("server", ev.Server).Str("session_id", sid(id)).Msg("zk: reconnected, session resumed; catching up")
		default:
			w.log.Warn().Str("server", ev.Server).Str("session_id", sid(id)).Msg("zk: new session; catching up")
		}
		w.stats.Reconnects++
		w.stats.CatchUps++
		w.resyncing, w.resyncAt, w.resyncEvs = true, time.Now(), 0
		// Every watched znode is read again and compared with the stream:
		// with a plain read where our watch survived (the client set it
		// again on the resumed session), with a watching read otherwise.
		for _, n := range w.nodes {
			for d := range n.d {
				s := &n.d[d]
				s.resync = true
				if s.armed {
					s.verify = true
				} else {
					s.dirty = true
				}
			}
			w.enqueue(n)
		}
	}
}

func sid(id int64) string { return fmt.Sprintf("0x%x", id) }

// ---- reads ----

// dispatch hands out reads and publish jobs while there is room.
func (w *watcher) dispatch() {
	for w.connected && w.ready && w.auth && w.inflightReads <= maxInflightRead-2 && len(w.queue) > 0 {
		key := w.queue[0]
		w.queue[0] = ""
		w.queue = w.queue[1:]
		n := w.nodes[key]
		if n == nil {
			continue
		}
		n.queued = false
		for d := range n.d {
			w.issue(n, dim(d))
		}
	}
	if len(w.queue) == 0 && cap(w.queue) > 1024 {
		w.queue = nil // let a large initial queue go
	}
	for w.inflightPubs < maxInflightPub && len(w.pubQ) > 0 {
		j := w.pubQ[0]
		w.pubQ[0] = pubJob{}
		w.pubQ = w.pubQ[1:]
		w.inflightPubs++
		w.pubJobs <- j
	}
	if len(w.pubQ) == 0 && cap(w.pubQ) > 1024 {
		w.pubQ = nil
	}
}

func (w *watcher) issue(n *node, d dim) {
	s := &n.d[d]
	if s.inflight || s.retry || !(s.dirty || s.verify) {
		return
	}
	if d == dimChildren && (!w.wanted(n) || (n.known && !n.exists)) {
		// Children are read while the znode exists; its creation asks again.
		s.dirty, s.verify, s.resync = false, false, false
		return
	}
	if d == dimData && !w.wanted(n) {
		s.dirty, s.verify, s.resync = false, false, false
		return
	}
	j := readJob{key: n.key, zpath: n.zpath, dim: d, watch: s.dirty, existsWatch: w.needsExists(n), epoch: s.epoch, resync: s.resync}
	s.dirty, s.verify, s.resync = false, false, false
	s.inflight = true
	w.inflightReads++
	w.readJobs <- j
}

// read runs in a reader goroutine.
func (w *watcher) read(j readJob) readResult {
	r := readResult{readJob: j}
	if j.dim == dimChildren {
		var ch []string
		var st *zk.Stat
		var err error
		if j.watch {
			ch, st, _, err = w.conn.ChildrenW(j.zpath)
		} else {
			ch, st, err = w.conn.Children(j.zpath)
		}
		switch {
		case errors.Is(err, zk.ErrNoNode):
		case err != nil:
			r.err = err
		default:
			slices.Sort(ch)
			r.exists, r.armed, r.stat, r.children = true, j.watch, *st, ch
		}
		return r
	}
	// The znode may be created between GetW failing and ExistsW: then
	// ExistsW has set a data watch and GetW reads what was created.
	for range 5 {
		var data []byte
		var st *zk.Stat
		var err error
		if j.watch {
			data, st, _, err = w.conn.GetW(j.zpath)
		} else {
			data, st, err = w.conn.Get(j.zpath)
		}
		if err == nil {
			r.exists, r.armed, r.stat, r.data = true, j.watch, *st, data
			return r
		}
		if !errors.Is(err, zk.ErrNoNode) {
			r.err = err
			return r
		}
		if !j.watch || !j.existsWatch {
			return r // missing
		}
		ok, _, _, err := w.conn.ExistsW(j.zpath)
		if err != nil {
			r.err = err
			return r
		}
		if !ok {
			r.armed = true // watching for the creation
			return r
		}
	}
	r.err = fmt.Errorf("zk: %s kept appearing and vanishing", j.zpath)
	return r
}

// connErr reports errors that a new connection or session resolves; the
// reads are issued again when the session is back.
func connErr(err error) bool {
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) ||
		errors.Is(err, zk.ErrSessionExpired) || errors.Is(err, zk.ErrClosing) || errors.Is(err, zk.ErrSessionMoved)
}

func (w *watcher) onRead(r readResult) {
	n := w.nodes[r.key]
	if n == nil {
		return
	}
	s := &n.d[r.dim]
	s.inflight = false
	if r.err != nil {
		if r.watch {
			s.dirty = true
		} else {
			s.verify = true
		}
		s.resync = s.resync || r.resync
		if connErr(r.err) && !w.connected {
			w.enqueue(n) // issued at the next session
			return
		}
		w.log.Warn().Err(r.err).Str(logging.FieldKey, r.key).Stringer("read", r.dim).Msg("zk: read failed; retrying")
		w.scheduleRetry(n, r.dim)
		return
	}
	if r.watch {
		if s.epoch == r.epoch {
			s.armed = r.armed
		} else {
			s.dirty = true // notified while reading: read again
		}
	}
	if s.dirty || s.verify {
		w.enqueue(n) // asked for while this read ran
	}
	if r.dim == dimData {
		w.applyData(n, r)
	} else {
		w.applyChildren(n, r)
	}
	if w.wanted(n) {
		if n.publishing {
			rr := r
			n.pend[r.dim] = &rr
		} else {
			w.reconcile(n, r)
		}
	}
	w.maybeDrop(n)
}

func (w *watcher) applyData(n *node, r readResult) {
	wasMissing := n.known && !n.exists
	n.known = true
	n.exists = r.exists
	if !r.exists {
		kids := n.children
		n.appeared = true
		n.children, n.listed = nil, false
		c := &n.d[dimChildren]
		c.dirty, c.verify = false, false
		if w.inSubtree(n.key) {
			// Gone from a subtree: so are its descendants, those we listed
			// and those the stream still holds as existing (deleted while
			// nobody watched). Reading them finds them missing.
			for _, k := range kids {
				w.readChild(n, k, r.resync)
			}
			for k := range w.kids[n.key] {
				w.readChild(n, k, r.resync)
			}
		}
		return
	}
	n.mzxid, n.czxid = r.stat.Mzxid, r.stat.Czxid
	if wasMissing || (!n.d[dimChildren].armed && !n.d[dimChildren].inflight) {
		w.markRead(n, dimChildren)
	}
}

// readChild asks for a data read of a child of n, watching it if it is
// not watched yet; what a catch-up finds is counted as caught up.
func (w *watcher) readChild(n *node, name string, resync bool) *node {
	k := child(n.key, name)
	m := w.nodes[k]
	if m != nil {
		w.markRead(m, dimData)
	} else {
		m = w.ensureNode(k)
	}
	m.d[dimData].resync = m.d[dimData].resync || resync
	return m
}

func (w *watcher) applyChildren(n *node, r readResult) {
	if !r.exists {
		n.children = nil
		return
	}
	old, listed := n.children, n.listed
	n.children, n.listed = r.children, true
	n.pzxid = r.stat.Pzxid
	if !w.inSubtree(n.key) {
		return
	}
	has := func(name string) bool {
		_, ok := slices.BinarySearch(r.children, name)
		return ok
	}
	for _, c := range r.children {
		if w.nodes[child(n.key, c)] == nil {
			// A child that shows up in a later listing, or under a znode
			// that was itself created while watched, was created while
			// watched; the first listing shows what was there.
			w.readChild(n, c, r.resync).appeared = listed || n.appeared
		}
	}
	// Children gone since the last listing, and children the stream holds
	// as existing but ZooKeeper does not list (deleted while nobody
	// watched): reading them finds them missing.
	for _, c := range old {
		if !has(c) {
			w.readChild(n, c, r.resync)
		}
	}
	for c := range w.kids[n.key] {
		if !has(c) {
			w.readChild(n, c, r.resync)
		}
	}
}

// ---- reconciling with the stream ----

func (w *watcher) rec(key string, d dim) streamRec {
	if ks := w.stream[key]; ks != nil {
		return ks[d]
	}
	return streamRec{}
}

// reconcile publishes the difference between what a read found and what
// the stream holds last for the key.
func (w *watcher) reconcile(n *node, r readResult) {
	var evs []pubEvent
	if r.dim == dimData {
		evs = w.planData(n, r)
	} else {
		evs = w.planChildren(n, r)
	}
	if len(evs) == 0 {
		return
	}
	for i := range evs {
		evs[i].catchUp = r.resync
	}
	n.publishing = true
	w.pubQ = append(w.pubQ, pubJob{key: n.key, evs: evs})
}

func (w *watcher) event(typ, key string, v version, data []byte, d dim, after uint64) pubEvent {
	e := events.New(w.name, typ, key, data)
	e.Version = v.String()
	if typ == TypeChildren {
		e.DataContentType = ChildrenContentType
	}
	return pubEvent{ev: e, ver: v, dim: d, afterSeq: after}
}

func (w *watcher) planData(n *node, r readResult) []pubEvent {
	last := w.rec(n.key, dimData)
	has := last.seq > 0
	if !r.exists {
		if !has || last.ver.kind == 'd' {
			return nil
		}
		return []pubEvent{w.event(TypeDeleted, n.key, deletedVersion(last.ver.mzxid), nil, dimData, last.seq)}
	}
	cur := dataVersion(r.stat.Mzxid, r.stat.Czxid, r.stat.Version)
	if has {
		if last.ver.after(cur) {
			return nil // our read is older than the stream: the watch it set will fire
		}
		if last.ver.kind == 'm' && last.ver.mzxid == cur.mzxid {
			return nil
		}
	}
	var evs []pubEvent
	typ := TypeChanged
	switch {
	case !has:
		if n.appeared {
			typ = TypeCreated
		}
	case last.ver.kind == 'd':
		typ = TypeCreated
	case last.ver.kind == 'm' && last.ver.czxid != cur.czxid:
		// Deleted and created again between two reads.
		evs = append(evs, w.event(TypeDeleted, n.key, deletedVersion(last.ver.mzxid), nil, dimData, last.seq))
		typ = TypeCreated
	}
	return append(evs, w.event(typ, n.key, cur, r.data, dimData, last.seq))
}

func (w *watcher) planChildren(n *node, r readResult) []pubEvent {
	if !n.exact || !r.exists {
		return nil
	}
	last := w.rec(n.key, dimChildren)
	has := last.seq > 0 && last.ver.kind == 'p'
	if has && last.ver.pzxid >= r.stat.Pzxid {
		return nil // the same, or our read is older
	}
	if len(r.children) == 0 && (last.seq == 0 || last.empty) {
		return nil // nothing to say: no children then, none now
	}
	var b strings.Builder
	for _, c := range r.children {
		b.WriteString(c)
		b.WriteByte('\n')
	}
	return []pubEvent{w.event(TypeChildren, n.key, childrenVersion(r.stat.Pzxid), []byte(b.String()), dimChildren, last.seq)}
}

// publish runs in a publisher goroutine: the job's events in order, each
// stored before the next.
func (w *watcher) publish(ctx context.Context, j pubJob) pubResult {
	res := pubResult{key: j.key}
	for _, pe := range j.evs {
		r, err := w.env.Pub.Publish(ctx, pe.ev)
		if err != nil {
			res.err = err
			return res
		}
		res.done = append(res.done, pubDone{pubEvent: pe, seq: r.Seq, dup: r.Duplicate})
		if r.Duplicate && pe.afterSeq > 0 && r.Seq < pe.afterSeq {
			// This version is stored, but an older one was stored after it
			// (a slower dispatcher): store the current state again, last.
			rep := pe
			rep.ver.repair = pe.afterSeq
			rep.ev = events.New(pe.ev.Source, pe.ev.Type, pe.ev.Key, pe.ev.Data)
			rep.ev.DataContentType = pe.ev.DataContentType
			rep.ev.Version = rep.ver.String()
			r, err := w.env.Pub.Publish(ctx, rep.ev)
			if err != nil {
				res.err = err
				return res
			}
			res.done = append(res.done, pubDone{pubEvent: rep, seq: r.Seq, dup: r.Duplicate, repair: true})
		}
	}
	return res
}

func (w *watcher) onPublished(p pubResult) {
	for _, d := range p.done {
		switch {
		case d.dup:
			w.stats.Duplicates++
		default:
			w.stats.Published++
			if d.catchUp {
				w.stats.CatchUpEvents++
				w.resyncEvs++
			}
		}
		if d.repair {
			w.stats.Repairs++
		}
		w.setRec(p.key, d.dim, streamRec{seq: d.seq, typ: d.ev.Type, ver: d.ver, empty: len(d.ev.Data) == 0})
	}
	n := w.nodes[p.key]
	if n == nil {
		return
	}
	n.publishing = false
	if p.err != nil {
		w.stats.PublishErrors++
		w.log.Warn().Err(p.err).Str(logging.FieldKey, p.key).Msg("zk: publish failed; reading again and retrying")
		// Read again before publishing: the data is not kept.
		for d := range n.d {
			n.pend[d] = nil
			w.scheduleRetry(n, dim(d))
		}
		return
	}
	for d := range n.pend {
		if r := n.pend[d]; r != nil && !n.publishing {
			n.pend[d] = nil
			w.reconcile(n, *r)
		}
	}
	w.maybeDrop(n)
}

func (w *watcher) setRec(key string, d dim, r streamRec) bool {
	ks := w.stream[key]
	if ks == nil {
		ks = &keyStream{}
		w.stream[key] = ks
	}
	if r.seq <= ks[d].seq {
		return false
	}
	ks[d] = r
	if d == dimData {
		w.indexKid(key, r.typ != TypeDeleted)
	}
	return true
}

// indexKid records whether the stream holds key as existing, under its
// parent, so that a listing can tell which children vanished unseen.
func (w *watcher) indexKid(key string, live bool) {
	p, ok := parent(key)
	if !ok {
		return
	}
	name := key[strings.LastIndexByte(key, '/')+1:]
	set := w.kids[p]
	if live {
		if set == nil {
			set = map[string]struct{}{}
			w.kids[p] = set
		}
		set[name] = struct{}{}
		return
	}
	delete(set, name)
	if len(set) == 0 {
		delete(w.kids, p)
	}
}

// onStream takes an event the follower read from the stream: ours, or
// another dispatcher's. When it disagrees with what we last read, the znode
// is read again (and the difference published): that is how a stale event
// stored by a dispatcher that then died is corrected.
func (w *watcher) onStream(m followMsg) {
	if m.ready {
		if !w.ready {
			w.ready = true
			w.log.Debug().Int("keys", len(w.stream)).Msg("zk: read the events stream")
		}
		return
	}
	d := dimData
	if m.typ == TypeChildren {
		d = dimChildren
	}
	if !w.setRec(m.key, d, streamRec{seq: m.seq, typ: m.typ, ver: parseVersion(m.ver), empty: m.empty}) {
		return
	}
	n := w.nodes[m.key]
	if n == nil || !n.known || n.publishing || !w.ready {
		return
	}
	if !w.agrees(n, d) {
		w.markRead(n, d)
	}
}

// agrees reports whether the stream's newest event of a dimension says
// what our last read said.
func (w *watcher) agrees(n *node, d dim) bool {
	last := w.rec(n.key, d)
	if d == dimData {
		if n.exists {
			return last.ver.kind == 'm' && last.ver.mzxid == n.mzxid
		}
		return last.seq == 0 || last.ver.kind == 'd'
	}
	if !n.exact || !n.exists || !n.listed {
		return true
	}
	if last.ver.kind == 'p' && last.ver.pzxid == n.pzxid {
		return true
	}
	return len(n.children) == 0 && (last.seq == 0 || last.empty)
}

// ---- retries and progress ----

func (w *watcher) scheduleRetry(n *node, d dim) {
	s := &n.d[d]
	if s.retry {
		return
	}
	s.retry = true
	w.markRead(n, d)
	w.retries++
	if !w.retryArmed {
		w.retryArmed = true
		w.retryTimer.Reset(RetryInterval)
	}
}

func (w *watcher) onRetry() {
	for _, n := range w.nodes {
		for d := range n.d {
			if n.d[d].retry {
				n.d[d].retry = false
				w.enqueue(n)
			}
		}
	}
	w.retries = 0
}

func (w *watcher) synced() bool {
	return w.connected && w.ready && w.auth && len(w.queue) == 0 && w.inflightReads == 0 &&
		len(w.pubQ) == 0 && w.inflightPubs == 0 && w.retries == 0
}

// noteProgress logs the end of the initial load and of catch-up passes.
func (w *watcher) noteProgress() {
	if !w.synced() {
		return
	}
	if !w.loaded {
		w.loaded = true
		w.log.Info().Int("znodes", len(w.nodes)).Strs("roots", w.stats.Roots).Float64("took_ms", logging.Millis(time.Since(w.loadStart))).
			Uint64("published", w.stats.Published).Msg("zk: watches set")
	}
	if w.resyncing {
		w.resyncing = false
		w.log.Info().Int("znodes", len(w.nodes)).Uint64("published", w.resyncEvs).Float64("took_ms", logging.Millis(time.Since(w.resyncAt))).
			Msg("zk: caught up")
	}
}

func (w *watcher) publishStats() {
	w.stats.Synced = w.synced()
	w.stats.Nodes = len(w.nodes)
	w.src.setStats(w.stats)
}

// ---- following the stream ----

// followStream reads the newest stored zk event of every subject, then
// every new one, and reports those of this source to the worker.
func (w *watcher) followStream(ctx context.Context) {
	for ctx.Err() == nil {
		err := w.followOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		w.log.Warn().Err(err).Msg("zk: following the events stream; retrying")
		select {
		case <-ctx.Done():
			return
		case <-time.After(RetryInterval):
		}
	}
}

func (w *watcher) send(ctx context.Context, m followMsg) bool {
	select {
	case w.follow <- m:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *watcher) followOnce(ctx context.Context) error {
	if w.env.JS == nil {
		w.send(ctx, followMsg{ready: true})
		<-ctx.Done()
		return nil
	}
	cons, err := w.env.JS.OrderedConsumer(ctx, events.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.EventPrefix + ".zk.>"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return err
	}
	defer bus.DeleteOrdered(ctx, w.env.JS, events.EventsStream, cons)
	ready := false
	if cons.CachedInfo().NumPending == 0 {
		if !w.send(ctx, followMsg{ready: true}) {
			return nil
		}
		ready = true
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		if e, ok := w.parseStored(m); ok {
			if !w.send(ctx, followMsg{key: e.Key, typ: e.Type, ver: e.Version, seq: md.Sequence.Stream, empty: len(e.Data) == 0}) {
				return nil
			}
		}
		if !ready && md.NumPending == 0 {
			if !w.send(ctx, followMsg{ready: true}) {
				return nil
			}
			ready = true
		}
	}
}

func (w *watcher) parseStored(m jetstream.Msg) (events.Event, bool) {
	h := m.Headers()
	if h.Get(events.HeaderSource) != w.name {
		return events.Event{}, false
	}
	switch h.Get(events.HeaderType) {
	case TypeCreated, TypeChanged, TypeDeleted, TypeChildren:
	default:
		return events.Event{}, false
	}
	e, err := events.FromMsg(natsMsg(m))
	if err != nil {
		return events.Event{}, false
	}
	return e, true
}

func natsMsg(m jetstream.Msg) *nats.Msg {
	return &nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()}
}
