package httpsource_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/testutil/otlptest"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/nats-io/nats.go"
)

// POST /v1/events carries the trace context of each mode (ce-traceparent
// in binary mode, the traceparent member in structured mode, the W3C
// traceparent header with Herald's body) into the dispatcher's stored
// span, whose id the stored event carries; an event without one starts a
// trace; a bad one is a 400 naming it (TestHTTPSource_CloudEventsBadRequest).
func TestHTTPSource_TraceContext(t *testing.T) {
	rcv := otlptest.Start(t)
	cfg := testConfig(t)
	cfg.OTLP.Endpoint = rcv.URL
	d := startDispatcher(t, cfg)
	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	url := "http://" + d.HTTPAddr() + "/v1/events"
	parent := func(n int) string { return fmt.Sprintf("00-%032x-%016x-01", n, n) }

	c, err := cloudevents.NewClientHTTP(cehttp.WithTarget(url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bin := sdkEvent("t-bin", "demo.trace", "/bin")
	bin.SetExtension("traceparent", parent(1))
	bin.SetExtension("tracestate", "v=1")
	if code := sendSDK(t, cloudevents.WithEncodingBinary(ctx), c, bin); code != http.StatusCreated {
		t.Fatalf("binary mode: %d", code)
	}
	st := sdkEvent("t-st", "demo.trace", "/st")
	st.SetExtension("traceparent", parent(2))
	if code := sendSDK(t, cloudevents.WithEncodingStructured(ctx), c, st); code != http.StatusCreated {
		t.Fatalf("structured mode: %d", code)
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"type":"demo.trace","key":"/herald"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", parent(3))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("herald body: %d", resp.StatusCode)
	}
	if code, _ := post(t, d, `{"type":"demo.trace","key":"/none"}`); code != http.StatusCreated {
		t.Fatalf("without a trace: %d", code)
	}

	msgs := readEvents(t, nc, 4)
	for i, m := range msgs {
		e, err := events.FromMsg(m)
		if err != nil {
			t.Fatal(err)
		}
		if !events.ValidTraceParent(e.TraceParent) {
			t.Fatalf("event %s: traceparent %q", e.Key, e.TraceParent)
		}
		var stored otlptest.Span
		testutil.Eventually(t, 20*time.Second, func() error {
			for _, s := range rcv.Named(tracing.SpanEventStored) {
				if s.Attrs[tracing.AttrKey] == e.Key {
					stored = s
					return nil
				}
			}
			return errors.New("no stored span for " + e.Key)
		})
		if e.TraceParent != fmt.Sprintf("00-%s-%s-01", stored.TraceID, stored.SpanID) || stored.Service != "herald-dispatcher" {
			t.Errorf("event %s: traceparent %q, stored span %+v", e.Key, e.TraceParent, stored)
		}
		if i < 3 {
			want := parent(i + 1)
			if stored.TraceID != want[3:35] || stored.ParentSpanID != want[36:52] {
				t.Errorf("event %s: stored span %+v, want a child of %s", e.Key, stored, want)
			}
		} else if stored.ParentSpanID != "" {
			t.Errorf("event %s without a trace: stored span has parent %q, want a root", e.Key, stored.ParentSpanID)
		}
	}
	if e, _ := events.FromMsg(msgs[0]); e.TraceState != "v=1" {
		t.Errorf("binary mode tracestate %q", e.TraceState)
	}
}
