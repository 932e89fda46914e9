package dispatcher_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/testutil/otlptest"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A source's change carries no trace context: the dispatcher starts a new
// trace per change in its stored span (the KV source here; ZooKeeper's and
// HTTP's take the same path, d.publish), exported with --otlp-endpoint.
func TestDispatcher_SourcesStartATracePerChange(t *testing.T) {
	rcv := otlptest.Start(t)
	cfg := testConfig(t)
	cfg.KV.Watch = []string{"cfg"}
	cfg.OTLP.Endpoint = rcv.URL
	d := startDispatcher(t, cfg)
	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"v1", "v2"} {
		if _, err := kv.PutString(ctx, "app", v); err != nil {
			t.Fatal(err)
		}
		readEvents(t, nc, i+1) // stored before the next change
	}
	msgs := readEvents(t, nc, 2)
	traces := map[string]bool{}
	for _, m := range msgs {
		e, err := events.FromMsg(m)
		if err != nil {
			t.Fatal(err)
		}
		if !events.ValidTraceParent(e.TraceParent) {
			t.Fatalf("%s %s: traceparent %q", e.Type, e.Version, e.TraceParent)
		}
		traces[e.TraceID()] = true
		testutil.Eventually(t, 20*time.Second, func() error {
			for _, s := range rcv.Named(tracing.SpanEventStored) {
				if s.Attrs[tracing.AttrEventID] == e.ID {
					if s.ParentSpanID != "" || e.TraceParent != fmt.Sprintf("00-%s-%s-01", s.TraceID, s.SpanID) {
						t.Errorf("stored span %+v for traceparent %q: want the root", s, e.TraceParent)
					}
					return nil
				}
			}
			return fmt.Errorf("no stored span for event %s", e.ID)
		})
	}
	if len(traces) != 2 {
		t.Errorf("two changes in %d traces, want one each", len(traces))
	}
}
