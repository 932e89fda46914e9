package dispatcher

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/eventreport/reporthttp"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthTimeout bounds the stream checks of /healthz.
const healthTimeout = 2 * time.Second

// handler routes the dispatcher's HTTP endpoints.
func (d *Dispatcher) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", d.serveHealth)
	var metrics http.Handler = promhttp.HandlerFor(d.m.reg, promhttp.HandlerOpts{Registry: d.m.reg})
	if d.guard != nil && d.cfg.MetricsAuth {
		metrics = d.guard.RequireRight(metrics, "read /metrics (a viewer, dispatcher or admin may)", auth.Identity.MayRead)
	}
	mux.Handle("GET /metrics", metrics)
	api := mux
	if d.guard != nil {
		// Every /v1/* request is authenticated; each endpoint checks the
		// identity's rights.
		api = http.NewServeMux()
		mux.Handle("/v1/", d.guard.Require(api))
	}
	if d.httpSrc != nil {
		// POST /v1/events.
		d.httpSrc.Mount(api)
	}
	// POST /v1/calls/{method}/pre, /post and /err.
	d.calls.Mount(api)
	// GET /v1/events/{id}/rollout.
	d.reports = &reporthttp.Handler{JS: d.bus, Log: d.log.With().Str("component", "reports").Logger()}
	if d.registry != nil {
		d.reports.AgentCheck = d.activeAgents
	}
	d.reports.Mount(api)
	if d.cfg.UI { // GET /ui/: the web console, with the call-hook engine's pre verdicts.
		console.Mount(mux, console.Config{JS: d.bus, Registry: d.registry, Calls: d.calls, Log: d.log})
	}
	return mux
}

// bus is the JetStream context, nil until connected.
func (d *Dispatcher) bus() jetstream.JetStream {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.js
}

// healthResponse is the body of GET /healthz.
type healthResponse struct {
	Status  string            `json:"status"`
	NATS    string            `json:"nats"`
	Mode    string            `json:"mode"`
	Streams map[string]string `json:"streams,omitempty"`
	Buckets map[string]string `json:"buckets,omitempty"`
	Error   string            `json:"error,omitempty"`
}

// serveHealth answers 200 when NATS is connected and every stream and
// bucket the dispatcher owns exists, 503 otherwise (the dispatcher
// recreates a missing one within stores.DefaultEvery).
func (d *Dispatcher) serveHealth(w http.ResponseWriter, r *http.Request) {
	resp := healthResponse{Status: "ok", NATS: "connected", Mode: "external"}
	if d.cfg.Embedded() {
		resp.Mode = "embedded"
	}
	code := http.StatusOK
	d.mu.Lock()
	js := d.js
	d.mu.Unlock()
	if !d.Connected() || js == nil {
		resp.Status, resp.NATS = "unavailable", "disconnected"
		writeJSON(w, http.StatusServiceUnavailable, resp)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	var err error
	if resp.Streams, resp.Buckets, err = d.keeper(js).Check(ctx); err != nil {
		resp.Status, resp.Error, code = "unavailable", err.Error(), http.StatusServiceUnavailable
	}
	writeJSON(w, code, resp)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
