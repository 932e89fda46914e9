// Package source defines what an event source is to the dispatcher: a
// named thing that runs until cancelled and publishes events through a
// Publisher. The ZooKeeper source (source/zk), the NATS KV source
// (source/kv), the HTTP endpoint POST /v1/events (source/http, mounted on
// the dispatcher's HTTP server), the call hooks engine (package callhooks)
// and the outcome handlers (package handlers) each live in a package of
// its own and know nothing of the others or of how the dispatcher runs
// NATS.
package source

import (
	"context"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/fleet"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Source produces events. The dispatcher runs every source in its own
// goroutine once NATS is connected and the streams exist, and cancels ctx
// when it stops. Run returns nil or ctx's error after ctx is cancelled; any
// other error is fatal to the dispatcher.
type Source interface {
	// Name identifies the source in logs and in the "source" label of the
	// metrics; it must be unique within a dispatcher.
	Name() string
	Run(ctx context.Context, env Env) error
}

// Env is what a running source gets from the dispatcher.
type Env struct {
	// Pub stores events in the events stream.
	Pub Publisher
	// JS is the dispatcher's JetStream context, for sources that read
	// (the last published event of a key, a KV bucket).
	JS jetstream.JetStream
	// Interest is the dispatcher's one fleet tracker: it tells which
	// selectors the agents declared (zk:, kv:), so a source can watch what
	// agents need with no dispatcher change, and which agents are live.
	Interest *fleet.Tracker
	// Log is the dispatcher's logger with the source's name.
	Log zerolog.Logger
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
