package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

func newStore(t *testing.T, js jetstream.JetStream) *bus.OutcomeStore {
	t.Helper()
	return newStoreBackoff(t, js, 10*time.Millisecond, 200*time.Millisecond)
}

func newStoreBackoff(t *testing.T, js jetstream.JetStream, minBackoff, maxBackoff time.Duration) *bus.OutcomeStore {
	t.Helper()
	cfg := bus.DefaultOutcomeStoreConfig()
	cfg.TryTimeout, cfg.MinBackoff, cfg.MaxBackoff = time.Second, minBackoff, maxBackoff
	s, err := bus.NewOutcomeStore(js.Conn(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func storedOn(t *testing.T, js jetstream.JetStream, subject string) uint64 {
	t.Helper()
	n, err := testutil.CountStored(context.Background(), js, events.OutcomesStream, subject)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// An outcome published while the stream is missing is retried until the
// stream is there, and done is called only once it is stored; a repeat
// with the same id is stored once.
func TestOutcomeStore_RetriesUntilStoredAndDedups(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	s := newStore(t, js)
	o := events.Outcome{EventID: "e1", Watch: "w", Host: "h", Status: events.StatusOK}
	var done atomic.Int32
	if err := s.StoreID(o, "outcome/h/w/"+o.EventID, func() { done.Add(1) }); err != nil {
		t.Fatal(err)
	}
	// No stream: not stored, not done, still pending (retrying). A
	// publish with no stream fails at once (no responders), so a second
	// attempt has been made by the time Pending is polled again.
	testutil.Eventually(t, 10*time.Second, func() error {
		if s.Pending() != 1 || done.Load() != 0 {
			return fmt.Errorf("pending %d, done %d; want 1 and 0", s.Pending(), done.Load())
		}
		return nil
	})
	if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if done.Load() != 1 {
			return fmt.Errorf("done %d, want 1", done.Load())
		}
		return nil
	})
	if n := storedOn(t, js, o.Subject()); n != 1 {
		t.Fatalf("%d stored, want 1", n)
	}
	if err := s.StoreWait(ctx, o, "outcome/h/w/"+o.EventID); err != nil {
		t.Fatal(err)
	}
	if n := storedOn(t, js, o.Subject()); n != 1 {
		t.Fatalf("%d stored after a repeat with the same Nats-Msg-Id, want 1", n)
	}
	got := testutil.StoredOutcomes(t, js, 10*time.Second, o.Subject())
	if ct := got[0].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if id := got[0].Header.Get("Nats-Msg-Id"); id != "outcome/h/w/"+o.EventID {
		t.Errorf("Nats-Msg-Id %q, want %q", id, "outcome/h/w/"+o.EventID)
	}
}

// Resend publishes what is pending at once, without waiting for the
// retry's backoff: an outcome whose first try failed (no stream yet) is
// stored as soon as Resend is called once the stream is there.
func TestOutcomeStore_ResendDoesNotWaitForTheBackoff(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	s := newStoreBackoff(t, js, 10*time.Minute, 10*time.Minute)
	o := events.Outcome{EventID: "e2", Watch: "w", Host: "h", Status: events.StatusOK}
	done := make(chan struct{})
	if err := s.StoreID(o, "outcome/h/w/"+o.EventID, func() { close(done) }); err != nil {
		t.Fatal(err)
	}
	// The first try fails at once (no responders), and the next waits
	// ten minutes.
	testutil.Eventually(t, 10*time.Second, func() error {
		if s.Pending() != 1 {
			return fmt.Errorf("pending %d, want 1", s.Pending())
		}
		return nil
	})
	if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	s.Resend()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("not stored 20 s after Resend (pending %d)", s.Pending())
	}
	if n := storedOn(t, js, o.Subject()); n != 1 {
		t.Fatalf("%d stored, want 1", n)
	}
}

// Close gives up on outcomes it cannot store: their done is never called,
// and a later Store is refused.
func TestOutcomeStore_CloseAbandonsUnstored(t *testing.T) {
	js := setup(t)
	s := newStore(t, js)
	var done atomic.Int32
	if err := s.StoreID(events.Outcome{EventID: "e1", Watch: "w", Host: "h"}, "outcome/e1", func() { done.Add(1) }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s.Close(ctx)
	if done.Load() != 0 {
		t.Fatal("done called for an outcome never stored")
	}
	if err := s.StoreID(events.Outcome{EventID: "e2", Watch: "w", Host: "h"}, "outcome/e2", nil); !errors.Is(err, bus.ErrStoreClosed) {
		t.Fatalf("Store after Close = %v, want ErrStoreClosed", err)
	}
}

// An outcome that cannot be stored (no stream) is reported to OnRetry, and
// CloseWithin gives up on it at its deadline instead of waiting forever.
func TestOutcomeStore_ReportsRetriesAndCloseWithinEnds(t *testing.T) {
	js := setup(t)
	cfg := bus.DefaultOutcomeStoreConfig()
	cfg.TryTimeout, cfg.MinBackoff, cfg.MaxBackoff = time.Second, 10*time.Millisecond, 20*time.Millisecond
	var reports atomic.Int32
	var first atomic.Value
	cfg.OnRetry = func(subject, msgID string, attempt int, err error) {
		if reports.Add(1) == 1 {
			first.Store(fmt.Sprintf("%s %s %d %v", subject, msgID, attempt, err != nil))
		}
	}
	s, err := bus.NewOutcomeStore(js.Conn(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := events.Outcome{EventID: "e1", Watch: "w", Host: "h", Status: events.StatusOK}
	if err := s.StoreID(o, "outcome/h/w/"+o.EventID, func() { t.Error("done called for an outcome never stored") }); err != nil {
		t.Fatal(err)
	}
	want := o.Subject() + " outcome/h/w/e1 1 true"
	testutil.Eventually(t, 10*time.Second, func() error {
		if got, _ := first.Load().(string); got != want {
			return fmt.Errorf("first report %q, want %q", got, want)
		}
		return nil
	})
	// Attempts 2..19 are not reported; the 20th is.
	testutil.Eventually(t, 20*time.Second, func() error {
		if n := reports.Load(); n < 2 {
			return fmt.Errorf("%d reports, want the first and the %dth attempt's", n, bus.RetryReportEvery)
		}
		return nil
	})
	closed := make(chan struct{})
	go func() { s.CloseWithin(200 * time.Millisecond); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("CloseWithin did not return with an outcome that cannot be stored")
	}
	if s.Pending() != 1 {
		t.Errorf("pending %d after close, want the unstored outcome still counted", s.Pending())
	}
}

// The dispatcher engines' store reports an outcome not stored yet (no
// stream) to onRetry, naming its subject and id, and stores it once the
// stream is there.
func TestNewEngineOutcomeStore_ReportsRetriesAndStores(t *testing.T) {
	js := setup(t)
	var first atomic.Value
	s, err := bus.NewEngineOutcomeStore(js.Conn(), func(subject, msgID string, attempt int, err error) {
		if attempt == 1 {
			first.Store(fmt.Sprintf("%s %s %v", subject, msgID, err != nil))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.CloseWithin(bus.EngineCloseGrace)
	o := events.Outcome{EventID: "e1", Watch: "w", Host: "h", Status: events.StatusOK}
	stored := make(chan struct{})
	if err := s.StoreID(o, "outcome/h/w/e1", func() { close(stored) }); err != nil {
		t.Fatal(err)
	}
	want := o.Subject() + " outcome/h/w/e1 true"
	testutil.Eventually(t, 20*time.Second, func() error {
		if got, _ := first.Load().(string); got != want {
			return fmt.Errorf("first report %q, want %q", got, want)
		}
		return nil
	})
	if err := bus.EnsureStreams(context.Background(), js, bus.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stored:
	case <-time.After(20 * time.Second):
		t.Fatal("outcome not stored within 20s of the stream's creation")
	}
	if n := storedOn(t, js, o.Subject()); n != 1 {
		t.Errorf("stored %d outcomes, want 1", n)
	}
}
