package actions_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/actions"
	"github.com/heraldhq/herald/events"
)

const runParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"

// A run gets its own trace context in TRACEPARENT and TRACESTATE; the
// agent's own never reaches it.
func TestExec_Run_TraceParent(t *testing.T) {
	noLeaks(t)
	t.Setenv("TRACEPARENT", "00-11111111111111111111111111111111-2222222222222222-01")
	t.Setenv("TRACESTATE", "agent=own")
	out := filepath.Join(t.TempDir(), "env")
	a := newExec(t, actions.ExecConfig{Argv: []string{"/bin/sh", "-c", `env -0 > "$OUT"`}, Env: map[string]string{"OUT": out}})

	req := request("/k", nil)
	req.TraceParent, req.TraceState = runParent, "vendor=1"
	if res := a.Run(context.Background(), req); res.Status != events.StatusOK {
		t.Fatalf("status %q err %v", res.Status, res.Err)
	}
	env := parseEnv(t, out)
	if env["TRACEPARENT"] != runParent || env["TRACESTATE"] != "vendor=1" {
		t.Errorf("TRACEPARENT=%q TRACESTATE=%q", env["TRACEPARENT"], env["TRACESTATE"])
	}

	req.TraceParent, req.TraceState = "", ""
	if res := a.Run(context.Background(), req); res.Status != events.StatusOK {
		t.Fatalf("status %q err %v", res.Status, res.Err)
	}
	env = parseEnv(t, out)
	if v, ok := env["TRACEPARENT"]; ok {
		t.Errorf("the agent's TRACEPARENT reached the run: %q", v)
	}
	if v, ok := env["TRACESTATE"]; ok {
		t.Errorf("the agent's TRACESTATE reached the run: %q", v)
	}
}

// The http kind sends the run's context as W3C Trace Context headers.
func TestHTTP_Run_TraceParentHeader(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- r.Header.Clone()
	}))
	defer srv.Close()
	h, err := actions.NewHTTP(actions.HTTPConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	req := request("/k", nil)
	req.TraceParent, req.TraceState = runParent, "vendor=1"
	if res := h.Run(context.Background(), req); res.Status != events.StatusOK {
		t.Fatalf("status %q err %v", res.Status, res.Err)
	}
	hdr := <-got
	if hdr.Get("traceparent") != runParent || hdr.Get("tracestate") != "vendor=1" {
		t.Errorf("traceparent %q tracestate %q", hdr.Get("traceparent"), hdr.Get("tracestate"))
	}
}
