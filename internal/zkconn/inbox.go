package zkconn

import (
	"sync"

	"github.com/go-zookeeper/zk"
)

// Inbox receives the ZooKeeper client's events. The client calls Push from
// its receive loop, which must never block: Push appends under a mutex and
// signals without waiting. Of the session changes it keeps only those a
// watcher acts on (disconnected, has session, expired, auth failed). The
// queue stays small: every watch notifies at most once before it is set
// again.
type Inbox struct {
	mu  sync.Mutex
	evs []zk.Event
	sig chan struct{}
}

// NewInbox returns an empty inbox.
func NewInbox() *Inbox { return &Inbox{sig: make(chan struct{}, 1)} }

// Push queues ev; it is the client's event callback.
func (b *Inbox) Push(ev zk.Event) {
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

// Signal receives a value when events have been pushed since the last
// Take.
func (b *Inbox) Signal() <-chan struct{} { return b.sig }

// Take returns the events pushed so far, in order, and empties the inbox.
func (b *Inbox) Take() []zk.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	evs := b.evs
	b.evs = nil
	return evs
}
