package zk

// Reconciling with the stream: what a read found is compared with the
// newest event the events stream holds for the key, the difference is
// planned as events and published in order by the publisher pool, and the
// stream's events (ours or another dispatcher's) are recorded.

import (
	"context"
	"strings"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/source/zk/znode"
)

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

func (w *watcher) event(typ, key string, v znode.Version, data []byte, d dim, after uint64) pubEvent {
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
		if !has || last.ver.Kind == znode.KindDeleted {
			return nil
		}
		return []pubEvent{w.event(TypeDeleted, n.key, znode.DeletedVersion(last.ver.Mzxid), nil, dimData, last.seq)}
	}
	cur := znode.DataVersion(r.stat.Mzxid, r.stat.Czxid, r.stat.Version)
	forged := false
	if has {
		if last.ver.After(cur) {
			if !w.implausible(n, r, last, cur.String()) {
				return nil // our read is older than the stream: the watch it set will fire
			}
			forged = true
		}
		if last.ver.Kind == znode.KindData && last.ver.Mzxid == cur.Mzxid {
			return nil
		}
	}
	var evs []pubEvent
	typ := TypeChanged
	switch {
	case forged:
		// What the forged event said (deleted, another incarnation) is
		// not ZooKeeper's: the znode's state is published as a change.
	case !has:
		if n.appeared {
			typ = TypeCreated
		}
	case last.ver.Kind == znode.KindDeleted:
		typ = TypeCreated
	case last.ver.Kind == znode.KindData && last.ver.Czxid != cur.Czxid:
		// Deleted and created again between two reads.
		evs = append(evs, w.event(TypeDeleted, n.key, znode.DeletedVersion(last.ver.Mzxid), nil, dimData, last.seq))
		typ = TypeCreated
	}
	return append(evs, w.event(typ, n.key, cur, r.data, dimData, last.seq))
}

func (w *watcher) planChildren(n *node, r readResult) []pubEvent {
	if !n.exact || !r.exists {
		return nil
	}
	last := w.rec(n.key, dimChildren)
	has := last.seq > 0 && last.ver.Kind == znode.KindChildren
	if has && last.ver.Pzxid == r.stat.Pzxid {
		return nil // the same
	}
	if has && last.ver.Pzxid > r.stat.Pzxid && !w.implausible(n, r, last, znode.ChildrenVersion(r.stat.Pzxid).String()) {
		return nil // our read is older
	}
	if len(r.children) == 0 && (last.seq == 0 || last.empty) {
		return nil // nothing to say: no children then, none now
	}
	var b strings.Builder
	for _, c := range r.children {
		b.WriteString(c)
		b.WriteByte('\n')
	}
	return []pubEvent{w.event(TypeChildren, n.key, znode.ChildrenVersion(r.stat.Pzxid), []byte(b.String()), dimChildren, last.seq)}
}

// implausible is asked when the newest stored event of a key claims a
// version newer than what our read found. That is normal when another
// dispatcher read a newer state (our read may come from a ZooKeeper
// server that lags; the watch it set will fire), and impossible for an
// event this source published once ZooKeeper has been synced: a
// znode's zxids only grow. So the first time, the key is read again
// after a Sync, and false is returned; when that synced read, issued
// after the same stored event, still finds an older version, the event
// was not ZooKeeper's (forged by a publisher with the source's name, or
// from a restored ensemble): true, and the current state is published
// over it (stored again as a repair should its version be stored
// already), so that a forged version cannot silence a key.
func (w *watcher) implausible(n *node, r readResult, last streamRec, found string) bool {
	if r.sync && r.knownSeq == last.seq {
		w.stats.Implausible++
		w.log.Warn().Str(logging.FieldKey, n.key).Stringer("read", r.dim).Str("stored_version", last.ver.String()).
			Uint64("stored_seq", last.seq).Str("zookeeper_version", found).
			Msg("zk: the newest stored event of a key claims a version ZooKeeper never had; publishing ZooKeeper's state over it")
		return true
	}
	s := &n.d[r.dim]
	s.sync = true
	if !s.dirty {
		s.verify = true
	}
	w.enqueue(n)
	return false
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
			rep.ver.Repair = pe.afterSeq
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
	w.recheck(n)
	w.maybeDrop(n)
}

// recheck compares, once a key's publish job is done, what the stream
// holds last for it with what we last read: onStream does not while the
// job runs (the stream's new event may be the job's own), so an event
// another publisher stored meanwhile (a forged claim, a slower
// dispatcher's stale state) is noticed here and read against.
func (w *watcher) recheck(n *node) {
	if n.publishing || !n.known || !w.ready {
		return
	}
	for d := range n.d {
		if !w.agrees(n, dim(d)) {
			w.markRead(n, dim(d))
		}
	}
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
	p, ok := znode.Parent(key)
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
	if !w.setRec(m.key, d, streamRec{seq: m.seq, typ: m.typ, ver: znode.ParseVersion(m.ver), empty: m.empty}) {
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
			return last.ver.Kind == znode.KindData && last.ver.Mzxid == n.mzxid
		}
		return last.seq == 0 || last.ver.Kind == znode.KindDeleted
	}
	if !n.exact || !n.exists || !n.listed {
		return true
	}
	if last.ver.Kind == znode.KindChildren && last.ver.Pzxid == n.pzxid {
		return true
	}
	return len(n.children) == 0 && (last.seq == 0 || last.empty)
}
