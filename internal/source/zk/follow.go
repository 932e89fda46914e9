package zk

// Following the stream: a goroutine reads the newest stored zk event of
// every subject, then every new one, and reports those of this source to
// the worker loop.

import (
	"context"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// followStream reads the newest stored zk event of every subject, then
// every new one, and reports those of this source to the worker.
func (w *watcher) followStream(ctx context.Context) {
	for ctx.Err() == nil {
		err := w.followOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		w.log.Warn().Err(err).Msg("zk: following the events stream; retrying")
		select {
		case <-ctx.Done():
			return
		case <-time.After(RetryInterval):
		}
	}
}

func (w *watcher) send(ctx context.Context, m followMsg) bool {
	select {
	case w.follow <- m:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *watcher) followOnce(ctx context.Context) error {
	if w.env.JS == nil {
		w.send(ctx, followMsg{ready: true})
		<-ctx.Done()
		return nil
	}
	cons, err := w.env.JS.OrderedConsumer(ctx, events.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.EventPrefix + ".zk.>"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return err
	}
	defer bus.DeleteOrdered(ctx, w.env.JS, events.EventsStream, cons)
	ready := false
	if cons.CachedInfo().NumPending == 0 {
		if !w.send(ctx, followMsg{ready: true}) {
			return nil
		}
		ready = true
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		if e, ok := w.parseStored(m); ok {
			if !w.send(ctx, followMsg{key: e.Key, typ: e.Type, ver: e.Version, seq: md.Sequence.Stream, empty: len(e.Data) == 0}) {
				return nil
			}
		}
		if !ready && md.NumPending == 0 {
			if !w.send(ctx, followMsg{ready: true}) {
				return nil
			}
			ready = true
		}
	}
}

func (w *watcher) parseStored(m jetstream.Msg) (events.Event, bool) {
	h := m.Headers()
	if h.Get(events.HeaderSource) != w.name {
		return events.Event{}, false
	}
	switch h.Get(events.HeaderType) {
	case TypeCreated, TypeChanged, TypeDeleted, TypeChildren:
	default:
		return events.Event{}, false
	}
	e, err := events.FromMsg(natsMsg(m))
	if err != nil {
		return events.Event{}, false
	}
	return e, true
}

func natsMsg(m jetstream.Msg) *nats.Msg {
	return &nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()}
}
