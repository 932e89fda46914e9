package watchrun

import (
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats.go/jetstream"
)

// Delivery is one event handed to one or more watches. The agent
// acknowledges it when the last watch holding it lets go (Env.Release).
type Delivery struct {
	Msg   jetstream.Msg // nil for run_on_load replays, which need no ack
	Event events.Event
	Seq   uint64
	// Refs is how many watches hold it.
	Refs atomic.Int32
	// Replay numbers a run_on_load replay (Msg nil) within this agent
	// process, for its outcome's message id.
	Replay uint64

	supMu sync.Mutex
	sup   map[string]*superseded // by watch name: the events it replaced there
}
