// Package reporthttp serves the event report over the dispatcher's HTTP
// API: GET /v1/events/{id}/rollout answers eventreport's Summary as JSON,
// or, asked with Accept: text/event-stream, streams one Server-Sent Event
// per change until every expected host decided. With authentication on,
// it needs the read right (a viewer, dispatcher or admin: the identity
// the guard put in the request's context). It must not know the
// dispatcher, how the bus is connected, or how tokens are checked.
package reporthttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/eventreport"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Path is the endpoint's pattern.
const Path = "GET /v1/events/{id}/rollout"

// Handler serves Path. Set JS (and AgentCheck with authentication on),
// then Mount it; call Stop when the HTTP server shuts down, which ends the
// open event streams.
type Handler struct {
	// JS returns the bus, nil while there is none.
	JS func() jetstream.JetStream
	// AgentCheck, when set, returns the check an announcing agent's name
	// must pass (active agent identities).
	AgentCheck func() func(name string) bool
	// Poll is how often a stream reads new outcomes (eventreport's
	// default when 0).
	Poll time.Duration
	Log  zerolog.Logger

	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
}

// Mount adds Path to mux.
func (h *Handler) Mount(mux *http.ServeMux) { mux.HandleFunc(Path, h.serve) }

// Stop ends every open event stream.
func (h *Handler) Stop() { h.stopCtx(); h.cancel() }

func (h *Handler) stopCtx() context.Context {
	h.once.Do(func() { h.ctx, h.cancel = context.WithCancel(context.Background()) })
	return h.ctx
}

// errorResponse is the body of a 4xx or 5xx.
type errorResponse struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	if id, ok := auth.FromContext(r.Context()); ok && !id.MayRead() {
		writeJSON(w, http.StatusForbidden, errorResponse{
			Error: fmt.Sprintf("identity %s (%s) may not read event reports (a viewer, dispatcher or admin may)", id.Name, id.Role),
			Field: "authorization",
		})
		return
	}
	q := r.URL.Query()
	var seq uint64
	if s := q.Get("seq"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			writeJSON(w, http.StatusBadRequest, errorResponse{Error: fmt.Sprintf("seq: %q is not a stream sequence (a positive integer)", s), Field: "seq"})
			return
		}
		seq = n
	}
	var js jetstream.JetStream
	if h.JS != nil {
		js = h.JS()
	}
	if js == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Error: "the dispatcher is not connected to NATS"})
		return
	}
	id := r.PathValue("id")
	ev, err := eventreport.Find(r.Context(), js, id, seq)
	if errors.Is(err, eventreport.ErrNotFound) {
		msg := fmt.Sprintf("event %s: not among the newest %d events (give ?seq= for an older one)", id, eventreport.ScanWindow)
		if seq > 0 {
			msg = fmt.Sprintf("event %s: not at sequence %d", id, seq)
		}
		writeJSON(w, http.StatusNotFound, errorResponse{Error: msg})
		return
	}
	if err != nil {
		h.Log.Warn().Err(err).Str("event_id", id).Msg("event report: cannot find the event")
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Error: err.Error()})
		return
	}
	cfg := eventreport.Config{Event: ev, Watch: q.Get("watch"), Poll: h.Poll}
	if h.AgentCheck != nil {
		cfg.AgentCheck = h.AgentCheck()
	}
	if wantsStream(r) {
		h.stream(w, r, js, cfg)
		return
	}
	sum, err := eventreport.Read(r.Context(), js, cfg)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, sum)
}

// wantsStream reports whether the request asks for Server-Sent Events.
func wantsStream(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
			return true
		}
	}
	return false
}

// stream writes one "data:" event per changed summary until every
// expected host decided, the client goes or the server stops.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, js jetstream.JetStream, cfg eventreport.Config) {
	rc := http.NewResponseController(w)
	// The server's write timeout is for answers, not for a stream.
	_ = rc.SetWriteDeadline(time.Time{})
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(h.stopCtx(), cancel)()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, err := eventreport.Follow(ctx, js, cfg, func(s eventreport.Summary) {
		b, _ := json.Marshal(s)
		fmt.Fprintf(w, "data: %s\n\n", b)
		_ = rc.Flush()
	})
	if err != nil && ctx.Err() == nil {
		b, _ := json.Marshal(errorResponse{Error: err.Error()})
		fmt.Fprintf(w, "event: error\ndata: %s\n\n", b)
		_ = rc.Flush()
	}
}
