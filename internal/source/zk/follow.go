package zk

// Following the stream: a goroutine reads the newest stored zk event of
// every subject, then every new one, and reports those of this source to
// the worker loop.

import (
	"context"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go/jetstream"
)

// followStream reads the newest stored zk event of every subject, then
// every new one, and reports those of this source to the worker.
func (w *watcher) followStream(ctx context.Context) {
	if w.env.JS == nil {
		w.send(ctx, followMsg{ready: true})
		<-ctx.Done()
		return
	}
	bus.Follower{
		JS:      w.env.JS,
		Stream:  events.EventsStream,
		Filters: []string{events.EventPrefix + ".zk.>"},
		Deliver: jetstream.DeliverLastPerSubjectPolicy,
		Source:  w.name,
		Types:   []string{TypeCreated, TypeChanged, TypeDeleted, TypeChildren},
		Retry:   RetryInterval,
		OnEvent: func(ctx context.Context, e bus.StoredEvent) {
			w.send(ctx, followMsg{key: e.Key, typ: e.Type, ver: e.Version, seq: e.Seq, empty: len(e.Data) == 0})
		},
		OnCaughtUp: func(ctx context.Context) { w.send(ctx, followMsg{ready: true}) },
		OnError: func(err error) {
			w.log.Warn().Err(err).Msg("zk: following the events stream; retrying")
		},
	}.Run(ctx)
}

func (w *watcher) send(ctx context.Context, m followMsg) bool {
	select {
	case w.follow <- m:
		return true
	case <-ctx.Done():
		return false
	}
}
