package watchrun

import (
	"sync"
	"sync/atomic"

	"github.com/heraldhq/herald/events"
)

// Delivery is one event handed to one or more watches. The agent tells
// its feed the event is decided when the last watch holding it lets go
// (Env.Release).
type Delivery struct {
	// Done marks the event decided; nil for run_on_load replays.
	Done  func()
	Event events.Event
	Seq   uint64
	// Refs is how many watches hold it.
	Refs atomic.Int32
	// Replay numbers a run_on_load replay (Done nil) within this agent
	// process, for its outcome's message id.
	Replay uint64
	// resumed: the offer again of an event a halted rollout decided
	// (halted), once the rollout was resumed.
	resumed bool

	supMu sync.Mutex
	sup   map[string]*superseded // by watch name: the events it replaced there
}
