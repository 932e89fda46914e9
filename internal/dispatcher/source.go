package dispatcher

import (
	"context"

	"github.com/heraldhq/herald/events"
)

// Source produces events. The dispatcher runs every source in its own
// goroutine once NATS is connected and the streams exist, and cancels ctx
// when it stops. Run returns nil or ctx's error after ctx is cancelled; any
// other error is fatal to the dispatcher (see Dispatcher.Done).
type Source interface {
	// Name identifies the source in logs and in the "source" label of the
	// metrics; it must be unique within a dispatcher.
	Name() string
	Run(ctx context.Context, pub Publisher) error
}

// Publisher stores events in the events stream. It is safe for concurrent
// use.
type Publisher interface {
	// Publish validates e, stores it and waits for JetStream's
	// acknowledgement.
	Publish(ctx context.Context, e events.Event) (PublishResult, error)
}

// PublishResult is what JetStream acknowledged.
type PublishResult struct {
	// ID is the id of the stored event: e.ID, or for a duplicate the id of
	// the event stored earlier (when it can still be read).
	ID string
	// Stream and Seq locate the stored event.
	Stream string
	Seq    uint64
	// Duplicate reports that the stream's dedup window dropped the event as
	// a repeat of an earlier one with the same source, key and version.
	Duplicate bool
}
