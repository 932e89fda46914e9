package zk

// ZooKeeper's events as the worker loop takes them from the inbox: watch
// notifications mark a node's dimension for a watching read; session
// changes (disconnect, expiry, a new or resumed session) start a catch-up
// pass over every watched znode.

import (
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"
)

func (w *watcher) onZKEvent(ev zk.Event) {
	if ev.Type == zk.EventSession {
		w.onSession(ev)
		return
	}
	key, ok := w.cfg.Key(ev.Path)
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
