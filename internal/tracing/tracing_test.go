package tracing_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/fielderr"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/testutil/otlptest"
	"github.com/heraldhq/herald/internal/tracing"
	"github.com/rs/zerolog"
)

const (
	ciParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ciTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	ciSpan   = "00f067aa0ba902b7"
)

func TestParse_FormatRoundTrip(t *testing.T) {
	sc, err := tracing.Parse(ciParent, "vendor=1,other=x")
	if err != nil {
		t.Fatal(err)
	}
	if got := tracing.Format(sc); got != ciParent {
		t.Errorf("Format = %q, want %q", got, ciParent)
	}
	if !sc.IsSampled() || !sc.IsRemote() || sc.TraceState().Get("vendor") != "1" {
		t.Errorf("sampled %v remote %v tracestate %q", sc.IsSampled(), sc.IsRemote(), sc.TraceState())
	}
	unsampled, _ := tracing.Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "")
	if unsampled.IsSampled() {
		t.Error("flags 00 parsed as sampled")
	}
	for _, bad := range [][2]string{{"00-abc", ""}, {"", "v=1"}, {ciParent, "not a tracestate"}} {
		if _, err := tracing.Parse(bad[0], bad[1]); err == nil {
			t.Errorf("Parse(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestFromEnv_NamesTheVariable(t *testing.T) {
	t.Setenv("TRACEPARENT", "")
	t.Setenv("TRACESTATE", "")
	if sc, err := tracing.FromEnv(); err != nil || sc.IsValid() {
		t.Fatalf("unset: %v, %v", sc, err)
	}
	t.Setenv("TRACEPARENT", "00-not-a-trace-01")
	if _, err := tracing.FromEnv(); err == nil || !strings.HasPrefix(err.Error(), "TRACEPARENT: ") {
		t.Errorf("bad TRACEPARENT: %v", err)
	}
	t.Setenv("TRACEPARENT", ciParent)
	t.Setenv("TRACESTATE", "=bad")
	if _, err := tracing.FromEnv(); err == nil || !strings.HasPrefix(err.Error(), "TRACESTATE: ") {
		t.Errorf("bad TRACESTATE: %v", err)
	}
	t.Setenv("TRACESTATE", "v=1")
	sc, err := tracing.FromEnv()
	if err != nil || sc.TraceID().String() != ciTrace || sc.SpanID().String() != ciSpan {
		t.Errorf("FromEnv = %v, %v", sc, err)
	}
}

// Off, a span is a child of its parent (new span id, same trace) or a new
// root, and nothing of the SDK starts: no goroutine.
func TestProvider_OffStartsNothingButIDs(t *testing.T) {
	before := runtime.NumGoroutine()
	p, err := tracing.New(tracing.Config{}, "test", nil)
	if err != nil || p != nil || p.Enabled() {
		t.Fatalf("New(off) = %v, %v", p, err)
	}
	e := events.New("s", "a.b", "k", nil)
	e.TraceParent = ciParent
	s := p.StartStored(context.Background(), &e)
	s.Stored(1, false, nil)
	if e.TraceID() != ciTrace || e.TraceParent == ciParent || !events.ValidTraceParent(e.TraceParent) {
		t.Errorf("stored under %s: traceparent %q", ciParent, e.TraceParent)
	}
	run := p.StartRun(context.Background(), e, "w", "h")
	run.Ran(events.StatusOK, nil, 1)
	if run.TraceID() != ciTrace || run.TraceParent() == e.TraceParent {
		t.Errorf("run %q under %q", run.TraceParent(), e.TraceParent)
	}
	root := p.StartStored(context.Background(), &events.Event{})
	if root.TraceID() == "" || root.TraceID() == ciTrace || !strings.HasSuffix(root.TraceParent(), "-01") {
		t.Errorf("new root %q", root.TraceParent())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines before, %d after: tracing off started some", before, after)
	}
}

func BenchmarkStartRun_Off(b *testing.B) {
	var p *tracing.Provider
	e := events.New("s", "a.b", "k", nil)
	e.TraceParent = ciParent
	b.ReportAllocs()
	for b.Loop() {
		s := p.StartRun(context.Background(), e, "w", "h")
		_ = s.TraceParent()
		s.Ran(events.StatusOK, nil, 1)
	}
}

func TestConfig_ValidateNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		cfg   tracing.Config
		field string
	}{
		"ftp":                {tracing.Config{Endpoint: "ftp://c:4318"}, "otlp.endpoint"},
		"no host":            {tracing.Config{Endpoint: "http:///v1/traces"}, "otlp.endpoint"},
		"credentials in url": {tracing.Config{Endpoint: "https://u:secret@c:4318"}, "otlp.endpoint"},
		"headers alone":      {tracing.Config{HeadersFile: "h"}, "otlp.headers_file"},
		"missing headers":    {tracing.Config{Endpoint: "http://c:4318", HeadersFile: filepath.Join(dir, "none")}, "otlp.headers_file"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tracing.New(tc.cfg, "test", nil)
			var fe *fielderr.Error
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, tracing.ErrInvalidConfig) {
				t.Fatalf("New = %v, want a field error on %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("# token\nAuthorization Bearer s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := tracing.New(tracing.Config{Endpoint: "http://c:4318", HeadersFile: bad}, "test", nil)
	if err == nil || !strings.Contains(err.Error(), bad+":2") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad headers file: %v (want its line 2 named, never the value)", err)
	}
}

// On, spans reach an OTLP/HTTP receiver with the headers file's headers,
// parented as the events carry them, and Close flushes them.
func TestProvider_ExportsOverOTLPHTTP(t *testing.T) {
	rcv := otlptest.Start(t)
	hdr := filepath.Join(t.TempDir(), "headers")
	if err := os.WriteFile(hdr, []byte("Authorization: Bearer collector-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := tracing.New(tracing.Config{Endpoint: rcv.URL, HeadersFile: hdr}, "herald-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := events.New("herald://test", "git.push", "/repos/app", nil)
	e.TraceParent = ciParent
	stored := p.StartStored(context.Background(), &e)
	stored.Stored(7, false, nil)
	run := p.StartRun(context.Background(), e, "deploy", "host-1")
	code := 3
	run.Ran(events.StatusFailed, &code, 2)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if len(rcv.Spans()) < 2 {
			return errors.New("spans not received")
		}
		return nil
	})
	st, rn := rcv.Named(tracing.SpanEventStored), rcv.Named(tracing.SpanRun)
	if len(st) != 1 || len(rn) != 1 {
		t.Fatalf("spans: %+v", rcv.Spans())
	}
	if st[0].TraceID != ciTrace || st[0].ParentSpanID != ciSpan || st[0].Service != "herald-test" || st[0].Attrs[tracing.AttrStreamSeq] != "7" {
		t.Errorf("stored span %+v", st[0])
	}
	if e.TraceParent != "00-"+ciTrace+"-"+st[0].SpanID+"-01" {
		t.Errorf("event traceparent %q, stored span %s", e.TraceParent, st[0].SpanID)
	}
	r := rn[0]
	if r.TraceID != ciTrace || r.ParentSpanID != st[0].SpanID || r.Attrs[tracing.AttrWatch] != "deploy" ||
		r.Attrs[tracing.AttrHost] != "host-1" || r.Attrs[tracing.AttrStatus] != "failed" || r.Attrs[tracing.AttrExitCode] != "3" || !r.Error {
		t.Errorf("run span %+v", r)
	}
	if got := rcv.Headers()[0].Get("Authorization"); got != "Bearer collector-token" {
		t.Errorf("Authorization = %q", got)
	}
}

// A collector that never answers does not hold a process at exit: Close
// gives up after its bound (tracing.ShutdownTimeout) with an error.
func TestProvider_CloseIsBoundedWhenTheCollectorHangs(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	p, err := tracing.New(tracing.Config{Endpoint: srv.URL}, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := events.New("s", "a.b", "k", nil)
	p.StartStored(context.Background(), &e).Stored(1, false, nil)
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Close reported success although nothing was exported")
		}
	case <-time.After(tracing.ShutdownTimeout + 30*time.Second):
		t.Fatal("Close did not return: the flush is not bounded")
	}
}

// A collector that is down fails every batch: the daemons log it once per
// LogEvery, counting what they held back.
func TestLogErrors_Throttled(t *testing.T) {
	var buf bytes.Buffer
	onError := tracing.LogErrors(zerolog.New(&buf))
	for range 3 {
		onError(errors.New("connection refused"))
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"message":"spans not exported"`) || !strings.Contains(lines[0], `"held":0`) ||
		!strings.Contains(lines[0], "connection refused") || !strings.Contains(lines[0], `"level":"warn"`) {
		t.Errorf("log %q", buf.String())
	}
}
