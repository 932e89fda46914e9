package main

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	s := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		p    float64
		want float64
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {1, 1}} {
		if got := percentile(s, c.p); got != c.want {
			t.Errorf("percentile(1..10, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("percentile of nothing is not NaN")
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("odd: %v", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("even: %v", got)
	}
}

func TestJSONString(t *testing.T) {
	data := []byte(`{"event_id":"abc-1","key":"/k","status":"superseded","stdout":"\"status\":\"ok\""}`)
	if id, ok := jsonString(data, `"event_id":"`); !ok || id != "abc-1" {
		t.Errorf("event_id = %q, %v", id, ok)
	}
	if st, ok := jsonString(data, `"status":"`); !ok || st != "superseded" {
		t.Errorf("status = %q, %v", st, ok)
	}
	if _, ok := jsonString([]byte(`{"event_id":"a\"b"}`), `"event_id":"`); ok {
		t.Error("an escaped value was accepted")
	}
	if _, ok := jsonString([]byte(`{}`), `"event_id":"`); ok {
		t.Error("a missing key was found")
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 54825: "54,825", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTarget_Met(t *testing.T) {
	if !targetLatency1.met(2) || targetLatency1.met(2.01) {
		t.Error("≤ target")
	}
	if !targetThroughput.met(50000) || targetThroughput.met(49999) {
		t.Error("≥ target")
	}
}

func TestLogSink_SignalsCompleteMarkerLine(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	s := newLogSink(f, "agent consuming events")
	// The marker line arrives split across writes, after another line.
	for _, w := range []string{`{"message":"watch loaded"}` + "\n" + `{"time":"2026-01-02T03:04:05.5Z","message":"agent consu`, `ming events"}`} {
		if _, err := s.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-s.hit:
		t.Fatal("signalled before the line was complete")
	default:
	}
	if _, err := s.Write([]byte("\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.hit:
	default:
		t.Fatal("complete marker line not signalled")
	}
	ts, err := logTime(s.hitLine())
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 2, 3, 4, 5, 5e8, time.UTC); !ts.Equal(want) {
		t.Errorf("time %v, want %v", ts, want)
	}
	s.close()
}

func TestAggregate_MedianAndChecks(t *testing.T) {
	runs := [][]result{
		{num("s", "m", 3, "ms", targetLatency1), check("s", "c", "fine", true)},
		{num("s", "m", 1, "ms", targetLatency1), check("s", "c", "fine", true)},
		{num("s", "m", 2.5, "ms", targetLatency1), check("s", "c", "broken", false)},
	}
	rows := aggregate(runs)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	if got := rows[0].value(3); got != "2.50 ms (1.00–3.00, n=3)" {
		t.Errorf("value %q", got)
	}
	if _, met := rows[0].targetAndMet(); met != "NO" {
		t.Errorf("median 2.5 ms met %q for ≤ 2 ms", met)
	}
	if _, met := rows[1].targetAndMet(); met != "NO" {
		t.Errorf("a check failing in one run met %q", met)
	}
}
