package zk

// Reads: the worker loop hands reads (and publish jobs) to the pools, the
// readers run them on the one connection, and the loop applies what they
// found to the node (data, children, the descendants of a subtree).

import (
	"errors"
	"slices"

	gozk "github.com/go-zookeeper/zk"

	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/source/zk/znode"
	"github.com/heraldhq/herald/internal/zkconn"
)

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
	j := readJob{key: n.key, zpath: n.zpath, dim: d, watch: s.dirty, existsWatch: w.needsExists(n), epoch: s.epoch, resync: s.resync,
		sync: s.sync, knownSeq: w.rec(n.key, d).seq}
	s.dirty, s.verify, s.resync, s.sync = false, false, false, false
	s.inflight = true
	w.inflightReads++
	w.readJobs <- j
}

// read runs in a reader goroutine.
func (w *watcher) read(j readJob) readResult {
	var got zkconn.Read
	var err error
	if j.sync {
		if _, err := w.conn.Sync(j.zpath); err != nil && !errors.Is(err, gozk.ErrNoNode) {
			return readResult{readJob: j, err: err}
		}
	}
	if j.dim == dimChildren {
		got, err = zkconn.ReadChildren(w.conn, j.zpath, j.watch)
	} else {
		got, err = zkconn.ReadData(w.conn, j.zpath, j.watch, j.existsWatch)
	}
	return readResult{readJob: j, err: err, exists: got.Exists, armed: got.Armed, stat: got.Stat, data: got.Data, children: got.Children}
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
		if zkconn.ConnErr(r.err) && !w.connected {
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
		if w.roots.InSubtree(n.key) {
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
	k := znode.Child(n.key, name)
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
	if !w.roots.InSubtree(n.key) {
		return
	}
	has := func(name string) bool {
		_, ok := slices.BinarySearch(r.children, name)
		return ok
	}
	for _, c := range r.children {
		if w.nodes[znode.Child(n.key, c)] == nil {
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
