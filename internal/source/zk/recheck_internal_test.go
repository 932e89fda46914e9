package zk

import (
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/source"
	"github.com/heraldhq/herald/internal/source/zk/znode"
	"github.com/rs/zerolog"
)

// TestWatcher_StreamEventDuringPublishIsReadAgainst is the race behind a
// forged claim silencing a key: the forged event reaches the worker while
// the key's own publish job runs, when onStream leaves it (it may be the
// job's own event). Once the job is done, the disagreement must still
// ask for a read.
func TestWatcher_StreamEventDuringPublishIsReadAgainst(t *testing.T) {
	w := newWatcher(&Source{}, source.Env{Log: zerolog.Nop()})
	w.ready = true
	n := &node{key: "/app", exact: true, known: true, exists: true, mzxid: 4, czxid: 4, listed: true, pzxid: 5}
	w.nodes[n.key] = n
	w.setRec(n.key, dimData, streamRec{seq: 5, typ: TypeChanged, ver: znode.DataVersion(4, 4, 0)})
	w.setRec(n.key, dimChildren, streamRec{seq: 6, typ: TypeChildren, ver: znode.ChildrenVersion(5)})

	// The children job is running; a forged zk.changed is stored.
	n.publishing = true
	forged := znode.DataVersion(1<<60, 1<<60, 1)
	w.onStream(followMsg{key: n.key, typ: TypeChanged, ver: forged.String(), seq: 8})
	if n.queued {
		t.Fatal("read asked for while the key's job runs: the event may be the job's own")
	}
	ev := events.New(w.name, TypeChildren, n.key, []byte("kid\n"))
	w.onPublished(pubResult{key: n.key, done: []pubDone{{pubEvent: pubEvent{ev: ev, ver: znode.ChildrenVersion(5), dim: dimChildren}, seq: 7}}})
	if !n.queued || !(n.d[dimData].verify || n.d[dimData].dirty) {
		t.Fatalf("after the job, the stream's forged %s (we read m0x4) asked for no data read: queued=%v %+v", forged, n.queued, n.d[dimData])
	}
	if n.d[dimChildren].verify || n.d[dimChildren].dirty {
		t.Errorf("children read asked for, though the stream holds what we read: %+v", n.d[dimChildren])
	}

	// A job whose own event is the newest asks for nothing.
	w2 := newWatcher(&Source{}, source.Env{Log: zerolog.Nop()})
	w2.ready = true
	n2 := &node{key: "/b", known: true, exists: true, mzxid: 9, czxid: 4}
	w2.nodes[n2.key] = n2
	n2.publishing = true
	ev2 := events.New(w2.name, TypeChanged, n2.key, []byte("x"))
	w2.onPublished(pubResult{key: n2.key, done: []pubDone{{pubEvent: pubEvent{ev: ev2, ver: znode.DataVersion(9, 4, 1), dim: dimData}, seq: 3}}})
	if n2.queued {
		t.Errorf("a read asked for after a job whose event is the stream's newest: %+v", n2.d)
	}
}
