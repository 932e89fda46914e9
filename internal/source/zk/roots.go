package zk

// The watcher's roots and nodes: which znodes are watched (the roots from
// the config and the agents' selectors, kept as znode.Roots), and the node
// bookkeeping the worker loop uses to ask for reads and to forget znodes
// nobody needs.

import (
	"strings"

	"github.com/heraldhq/herald/internal/logging"
	"github.com/heraldhq/herald/internal/source/zk/znode"
	"github.com/heraldhq/herald/internal/watch"
)

// applyRoots recomputes the watched roots from the config and the agents'
// selectors, starts watching new ones and drops what nobody needs.
func (w *watcher) applyRoots() {
	roots := znode.NewRoots()
	refused := map[string]bool{}
	add := func(on, from string) {
		sel, err := watch.ParseSelector(on, "")
		if err != nil || sel.Kind != watch.KindZK {
			w.log.Warn().Str("selector", on).Str("from", from).Err(err).Msg("zk: selector ignored")
			return
		}
		if from == "agents" && !znode.Allowed(w.cfg.AllowGlobs(), sel.Path, sel.Subtree) {
			if !w.refused[on] {
				w.log.Warn().Str("selector", on).Strs("allow", w.cfg.AllowGlobs()).Msg("zk: selector outside zk.allow ignored")
			}
			refused[on] = true
			return
		}
		roots.Add(sel.Path, sel.Subtree)
	}
	for _, p := range w.cfg.Watch {
		add("zk:"+p, "config")
	}
	if w.env.Interest != nil {
		for _, s := range w.env.Interest.Selectors(watch.KindZK) {
			add(s, "agents")
		}
	}
	w.refused = refused
	removed := false
	for p := range w.roots.Exact {
		if !roots.Exact[p] {
			removed = true
			w.log.Info().Str(logging.FieldKey, p).Msg("zk: watch dropped")
		}
	}
	for p := range w.roots.Sub {
		if !roots.Sub[p] {
			removed = true
			w.log.Info().Str(logging.FieldKey, p+"/**").Msg("zk: watch dropped")
		}
	}
	old := w.roots
	w.roots = roots
	for p := range roots.Exact {
		n := w.ensureNode(p)
		if !n.exact {
			n.exact = true
			w.touch(n)
		}
		if !old.Exact[p] {
			w.log.Info().Str(logging.FieldKey, p).Msg("zk: watching")
		}
	}
	for p := range roots.Sub {
		if !old.Sub[p] {
			w.touch(w.ensureNode(p))
			w.log.Info().Str(logging.FieldKey, strings.TrimSuffix(p, "/")+"/**").Msg("zk: watching")
		}
	}
	if removed {
		for _, n := range w.nodes {
			if n.exact && !roots.Exact[n.key] {
				n.exact = false
			}
			w.maybeDrop(n)
		}
	}
	w.stats.Roots = roots.List()
}

func (w *watcher) wanted(n *node) bool { return n.exact || w.roots.InSubtree(n.key) }

// needsExists: a root is watched for its (re-)creation; a znode inside a
// subtree is found again by its parent's children watch.
func (w *watcher) needsExists(n *node) bool { return n.exact || w.roots.Sub[n.key] }

func (w *watcher) ensureNode(key string) *node {
	if n := w.nodes[key]; n != nil {
		return n
	}
	n := &node{key: key, zpath: w.cfg.ZPath(key)}
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
