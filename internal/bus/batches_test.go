package bus_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

// TestBatchRead_EveryMessageOnce: large messages make batches stop at
// their byte limit; the read goes on to the end (or UpTo), from a
// sequence or a start time, filtered, and fn can stop it.
func TestBatchRead_EveryMessageOnce(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}, AllowDirect: true}); err != nil {
		t.Fatal(err)
	}
	big := []byte(strings.Repeat("x", 64<<10))
	for i := range 300 {
		subj := "b.even"
		if i%2 == 1 {
			subj = "b.odd"
		}
		if _, err := js.Publish(ctx, subj, big); err != nil {
			t.Fatal(err)
		}
	}
	count := func(r bus.BatchRead) (int, uint64, uint64) {
		t.Helper()
		n, first := 0, uint64(0)
		next, err := r.Each(ctx, js, func(m *jetstream.RawStreamMsg) error {
			if first == 0 {
				first = m.Sequence
			}
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n, first, next
	}
	for name, c := range map[string]struct {
		r           bus.BatchRead
		n           int
		first, next uint64
	}{
		// 256 of 64 KiB is 16 MiB: every batch stops at 1 MiB.
		"all, small batches": {bus.BatchRead{Stream: "B", MaxBytes: 1 << 20}, 300, 1, 301},
		"from 101":           {bus.BatchRead{Stream: "B", Seq: 101}, 200, 101, 301},
		"up to 150":          {bus.BatchRead{Stream: "B", UpTo: 150, MaxBytes: 1 << 20}, 150, 1, 151},
		"odd ones":           {bus.BatchRead{Stream: "B", Subject: "b.odd", MaxBytes: 1 << 20}, 150, 2, 301},
		"from a time":        {bus.BatchRead{Stream: "B", StartTime: time.Now().Add(-time.Hour)}, 300, 1, 301},
		"a stream's end":     {bus.BatchRead{Stream: "B", Seq: 301}, 0, 0, 301},
	} {
		if n, first, next := count(c.r); n != c.n || first != c.first || next != c.next {
			t.Errorf("%s: read %d from %d, next %d; want %d from %d, next %d", name, n, first, next, c.n, c.first, c.next)
		}
	}
	n := 0
	next, err := bus.BatchRead{Stream: "B"}.Each(ctx, js, func(*jetstream.RawStreamMsg) error {
		if n++; n == 10 {
			return bus.ErrStopRead
		}
		return nil
	})
	if err != nil || n != 10 || next != 11 {
		t.Errorf("stopped at 10: n %d next %d err %v", n, next, err)
	}
	boom := fmt.Errorf("boom")
	if _, err := (bus.BatchRead{Stream: "B"}).Each(ctx, js, func(*jetstream.RawStreamMsg) error { return boom }); err != boom {
		t.Errorf("fn's error: %v, want it as it is", err)
	}
}

func TestCount_FromASequenceOfOneSubject(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "C", Subjects: []string{"c.>"}, AllowDirect: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		subj := "c.a"
		if i%3 == 0 {
			subj = "c.b"
		}
		if _, err := js.Publish(ctx, subj, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Sequences 1, 4, 7, 10 are c.b; the other six are c.a.
	for _, tc := range []struct {
		subject string
		seq     uint64
		want    uint64
	}{
		{"c.a", 1, 6}, {"c.a", 3, 5}, {"c.a", 10, 0},
		{"c.b", 0, 4}, {"c.b", 5, 2}, {"c.b", 10, 1}, {"c.b", 11, 0},
		{"c.>", 1, 10}, {"", 8, 3}, {"c.none", 1, 0},
	} {
		got, err := bus.Count(ctx, js, "C", tc.subject, tc.seq)
		if err != nil {
			t.Fatalf("Count(%q, %d): %v", tc.subject, tc.seq, err)
		}
		if got != tc.want {
			t.Errorf("Count(%q, %d) = %d, want %d", tc.subject, tc.seq, got, tc.want)
		}
	}
	if _, err := bus.Count(ctx, js, "NOPE", "c.a", 1); err == nil {
		t.Error("Count on a stream that does not exist: no error")
	}
}
