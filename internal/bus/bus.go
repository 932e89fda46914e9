// Package bus holds Herald's JetStream plumbing shared by every binary:
// creating or updating the streams idempotently, publishing an event and
// waiting for JetStream to store it, storing outcomes with retries until
// JetStream has them (OutcomeStore), reading the latest message per
// subject (LastMsgs with direct gets and no consumer; LastPerSubject
// through a one-off consumer), following a stream from the newest of every subject (Follower),
// deleting the consumers of one-off reads and followers when they end,
// the bounded work loop over a durable consumer (Work), and reducing
// subject filters to a set with no two overlapping (ReduceFilters). It
// knows the stream layout from package events and nothing about watches
// or processes.
package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamConfig tunes the streams the dispatcher creates.
type StreamConfig struct {
	DedupWindow        time.Duration `yaml:"dedup_window"`
	EventsPerKey       int64         `yaml:"events_per_key"`
	EventsMaxAge       time.Duration `yaml:"events_max_age"`
	OutcomesPerSubject int64         `yaml:"outcomes_per_subject"`
	OutcomesMaxAge     time.Duration `yaml:"outcomes_max_age"`
	Replicas           int           `yaml:"replicas"`
}

// DefaultStreamConfig returns the defaults from package events.
func DefaultStreamConfig() StreamConfig {
	return StreamConfig{
		DedupWindow:        events.DefaultDedupWindow,
		EventsPerKey:       events.DefaultEventsPerKey,
		EventsMaxAge:       events.DefaultEventsMaxAge,
		OutcomesPerSubject: events.DefaultOutcomesPerSubject,
		OutcomesMaxAge:     events.DefaultOutcomesMaxAge,
		Replicas:           1,
	}
}

// Validate names the first bad field.
func (c StreamConfig) Validate() error {
	switch {
	case c.DedupWindow <= 0:
		return fmt.Errorf("streams.dedup_window: must be positive")
	case c.EventsPerKey < 1:
		return fmt.Errorf("streams.events_per_key: must be at least 1")
	case c.EventsMaxAge < c.DedupWindow:
		return fmt.Errorf("streams.events_max_age: must be at least dedup_window")
	case c.OutcomesPerSubject < 1:
		return fmt.Errorf("streams.outcomes_per_subject: must be at least 1")
	case c.OutcomesMaxAge <= 0:
		return fmt.Errorf("streams.outcomes_max_age: must be positive")
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("streams.replicas: want 1 to 5")
	}
	return nil
}

// MaxConsumers is the explicit ceiling on consumers per stream: agents hold
// none, so only the dispatchers' engines and one-off tools (herald tail)
// count against it. Set on every stream so that the server's default
// (1,000) never applies by accident.
const MaxConsumers = 10_000

// EnsureStreams creates the events, outcomes and agents streams, or updates
// them to cfg. It is safe to call from several dispatchers at once.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	streams := []jetstream.StreamConfig{
		{
			Name:              events.EventsStream,
			Description:       "Herald events",
			Subjects:          []string{events.EventPrefix + ".>"},
			Storage:           jetstream.FileStorage,
			Retention:         jetstream.LimitsPolicy,
			Duplicates:        cfg.DedupWindow,
			MaxMsgsPerSubject: cfg.EventsPerKey,
			MaxAge:            cfg.EventsMaxAge,
			Discard:           jetstream.DiscardOld,
			Replicas:          cfg.Replicas,
			AllowDirect:       true,
			// Agents follow the stream without a consumer: live on the
			// republished subjects, the rest by direct gets (package feed).
			RePublish:    &jetstream.RePublish{Source: events.EventPrefix + ".>", Destination: events.LivePrefix + ".>"},
			MaxConsumers: MaxConsumers,
		},
		{
			Name:              events.OutcomesStream,
			Description:       "Herald run outcomes",
			Subjects:          []string{events.OutcomePrefix + ".>"},
			Storage:           jetstream.FileStorage,
			Retention:         jetstream.LimitsPolicy,
			Duplicates:        cfg.DedupWindow,
			MaxMsgsPerSubject: cfg.OutcomesPerSubject,
			MaxAge:            cfg.OutcomesMaxAge,
			Replicas:          cfg.Replicas,
			AllowDirect:       true,
			MaxConsumers:      MaxConsumers,
		},
		{
			Name:              events.AgentsStream,
			Description:       "Herald agent announcements (latest per agent)",
			Subjects:          []string{events.AgentPrefix + ".>"},
			Storage:           jetstream.FileStorage,
			Retention:         jetstream.LimitsPolicy,
			MaxMsgsPerSubject: 1,
			MaxAge:            cfg.OutcomesMaxAge,
			Replicas:          cfg.Replicas,
			AllowDirect:       true,
			MaxConsumers:      MaxConsumers,
		},
	}
	for _, sc := range streams {
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			if _, err = js.CreateOrUpdateStream(ctx, sc); err == nil || !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// PublishEvent stores e in the events stream and returns once JetStream has
// acknowledged it. Duplicate reports that the stream's dedup window dropped
// it as a repeat of an earlier publish with the same Nats-Msg-Id.
func PublishEvent(ctx context.Context, js jetstream.JetStream, e events.Event) (ack *jetstream.PubAck, err error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	ack, err = js.PublishMsg(ctx, e.ToMsg())
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", e.Subject(), err)
	}
	return ack, nil
}

// oneOffInactive bounds how long the server keeps a one-off read's consumer
// should its explicit delete never arrive (the process died mid-read).
const oneOffInactive = 30 * time.Second

// LastPerSubject calls fn with the latest message of every subject of
// stream that matches one of filters, in stream order, then returns. It
// reads through one ephemeral consumer that it deletes before returning,
// so a one-off read leaves nothing behind on the server.
func LastPerSubject(ctx context.Context, js jetstream.JetStream, stream string, filters []string, fn func(jetstream.Msg) error) error {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s info: %w", stream, err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	if len(filters) == 0 {
		filters = []string{">"} // last per subject needs a filter
	}
	// Not an ordered consumer: it replaces its server-side consumer on
	// every Fetch and leaves the last one to expire after 5 minutes.
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubjects:    filters,
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: oneOffInactive,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return fmt.Errorf("stream %s: consumer: %w", stream, err)
	}
	defer DeleteConsumer(ctx, js, stream, c.CachedInfo().Name)
	if c.CachedInfo().NumPending == 0 {
		return nil
	}
	for {
		batch, err := c.Fetch(256, jetstream.FetchMaxWait(time.Second), jetstream.FetchHeartbeat(250*time.Millisecond))
		if err != nil {
			return fmt.Errorf("stream %s: fetch: %w", stream, err)
		}
		got := false
		for m := range batch.Messages() {
			got = true
			if err := fn(m); err != nil {
				return err
			}
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("stream %s: metadata: %w", stream, err)
			}
			if md.NumPending == 0 {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("stream %s: fetch: %w", stream, err)
		}
		if !got {
			return nil
		}
	}
}

// DeleteConsumer deletes a consumer Herald created for a one-off read or
// a follower that ends, best effort: it runs even when ctx is already
// cancelled (the read was interrupted), bounded by two seconds, and not at
// all while disconnected; the consumer's inactive threshold removes it
// should the delete not arrive.
func DeleteConsumer(ctx context.Context, js jetstream.JetStream, stream, name string) {
	if nc := js.Conn(); nc == nil || !nc.IsConnected() || name == "" {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = js.DeleteConsumer(dctx, stream, name)
}

// DeleteOrdered deletes the server-side consumer an ordered consumer uses
// now (it replaces it on every reset, deleting the previous one itself),
// with DeleteConsumer. Followers defer it so that they leave nothing
// behind when they end.
func DeleteOrdered(ctx context.Context, js jetstream.JetStream, stream string, c jetstream.Consumer) {
	if info := c.CachedInfo(); info != nil {
		DeleteConsumer(ctx, js, stream, info.Name)
	}
}

// IsConnected is a readiness helper for health checks.
func IsConnected(nc *nats.Conn) bool { return nc != nil && nc.IsConnected() }

// LastEvent returns the latest stored event on subject (an event subject
// of package events), its stream sequence, and whether there is one.
// Sources use it to compare what they see with what was last published,
// e.g. after a restart or a ZooKeeper session expiry.
func LastEvent(ctx context.Context, js jetstream.JetStream, subject string) (events.Event, uint64, bool, error) {
	s, err := js.Stream(ctx, events.EventsStream)
	if err != nil {
		return events.Event{}, 0, false, fmt.Errorf("stream %s: %w", events.EventsStream, err)
	}
	raw, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.Event{}, 0, false, nil
	}
	if err != nil {
		return events.Event{}, 0, false, fmt.Errorf("last event on %s: %w", subject, err)
	}
	e, err := events.FromMsg(&nats.Msg{Subject: raw.Subject, Header: raw.Header, Data: raw.Data})
	if err != nil {
		return events.Event{}, 0, false, fmt.Errorf("last event on %s: %w", subject, err)
	}
	return e, raw.Sequence, true, nil
}
