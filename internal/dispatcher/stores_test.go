package dispatcher_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/dispatcher"
	"github.com/heraldhq/herald/internal/handlers"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

// Streams and buckets deleted by hand are recreated with their config, and
// /healthz recovers.
func TestDispatcher_RecreatesMissingStores(t *testing.T) {
	s := testutil.RunNATS(t)
	cfg := testConfig(t)
	cfg.NATS.URL = s.ClientURL()
	cfg.Streams.OutcomesPerSubject = 77
	d, logs := newDispatcher(t, cfg, dispatcher.WithStoreCheck(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	js, err := jetstream.New(testutil.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	healthy := func() error {
		if code, body := get(t, d, "/healthz"); code != http.StatusOK {
			return fmt.Errorf("healthz = %d %s", code, body)
		}
		return nil
	}
	testutil.Eventually(t, 20*time.Second, healthy)

	for _, name := range []string{events.EventsStream, events.OutcomesStream, events.AgentsStream} {
		t.Run("stream "+name, func(t *testing.T) {
			before := logs.String()
			if err := js.DeleteStream(ctx, name); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 20*time.Second, func() error {
				st, err := js.Stream(ctx, name)
				if err != nil {
					return fmt.Errorf("stream %s: %w", name, err)
				}
				if name == events.OutcomesStream && st.CachedInfo().Config.MaxMsgsPerSubject != 77 {
					return fmt.Errorf("recreated %s with max_msgs_per_subject %d, want the configured 77", name, st.CachedInfo().Config.MaxMsgsPerSubject)
				}
				return nil
			})
			testutil.Eventually(t, 20*time.Second, healthy)
			if after := logs.String()[len(before):]; !containsAll(after, "streams missing; recreating them", name) {
				t.Fatalf("no log line naming %s as missing:\n%s", name, after)
			}
			// The repair ends before the next stream is deleted: a repair
			// still running would recreate it without finding it missing.
			testutil.Eventually(t, 20*time.Second, func() error {
				if !containsAll(logs.String()[len(before):], "streams recreated", name) {
					return fmt.Errorf("no streams recreated line naming %s yet", name)
				}
				return nil
			})
		})
	}
	for _, bucket := range []string{handlers.DefaultBucket, call.StatusBucket} {
		t.Run("bucket "+bucket, func(t *testing.T) {
			if err := js.DeleteKeyValue(ctx, bucket); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 20*time.Second, func() error {
				_, err := js.KeyValue(ctx, bucket)
				return err
			})
			testutil.Eventually(t, 20*time.Second, healthy)
		})
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
