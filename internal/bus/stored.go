package bus

import (
	"context"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishStored is PublishEvent in e's herald.event.stored span: the span
// continues the trace context e carries (a new trace when it carries
// none), e's traceparent becomes the span's before the publish, and the
// span ends with the stream's ack. A nil tp exports nothing but still
// gives the event its own span id.
func PublishStored(ctx context.Context, js jetstream.JetStream, tp *tracing.Provider, e *events.Event) (*jetstream.PubAck, error) {
	span := tp.StartStored(ctx, e)
	ack, err := PublishEvent(ctx, js, *e)
	if err != nil {
		span.Stored(0, false, err)
		return nil, err
	}
	span.Stored(ack.Sequence, ack.Duplicate, nil)
	return ack, nil
}
