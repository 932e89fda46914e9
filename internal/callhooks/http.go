package callhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/auth"
)

// MaxCallBody caps the body of the /v1/calls endpoints.
const MaxCallBody = 1 << 20

// reportTimeout bounds storing a call.post or call.err event.
const reportTimeout = 10 * time.Second

// Mount registers the call endpoints on mux:
//
//	POST /v1/calls/{method}/pre   the verdict: 200 allowed, 403 denied,
//	                              400 bad request, 503 not running
//	POST /v1/calls/{method}/post  store call.post: 202 {"id", "call_id"}
//	POST /v1/calls/{method}/err   store call.err, likewise
//
// The body is a call.Call without method and phase (the path gives them);
// post and err need "result".
func (e *Engine) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/calls/{method}/pre", e.servePre)
	mux.HandleFunc("POST /v1/calls/{method}/post", func(w http.ResponseWriter, r *http.Request) {
		e.serveReport(w, r, call.PhasePost)
	})
	mux.HandleFunc("POST /v1/calls/{method}/err", func(w http.ResponseWriter, r *http.Request) {
		e.serveReport(w, r, call.PhaseErr)
	})
}

// reportResponse answers a stored call.post or call.err.
type reportResponse struct {
	ID     string `json:"id"`
	CallID string `json:"call_id"`
}

type errorResponse struct {
	Error string `json:"error"`
}

func (e *Engine) decodeCall(w http.ResponseWriter, r *http.Request, phase string) (call.Call, bool) {
	var c call.Call
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxCallBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		code := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			code = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, code, errorResponse{Error: fmt.Sprintf("body: %v", err)})
		return c, false
	}
	method := r.PathValue("method")
	if c.Method != "" && c.Method != method {
		writeJSON(w, http.StatusBadRequest, errorResponse{Error: fmt.Sprintf("method: the body says %q, the path %q", c.Method, method)})
		return c, false
	}
	if c.Phase != "" && c.Phase != phase {
		writeJSON(w, http.StatusBadRequest, errorResponse{Error: fmt.Sprintf("phase: the body says %q, the path %q", c.Phase, phase)})
		return c, false
	}
	c.Method, c.Phase = method, phase
	// The audited caller is who authenticated, never what the body says.
	c.Caller = ""
	if id, ok := auth.FromContext(r.Context()); ok {
		if !id.MayCall() {
			writeJSON(w, http.StatusForbidden, errorResponse{Error: fmt.Sprintf("authorization: identity %s (%s) may not make scheduler calls", id.Name, id.Role)})
			return c, false
		}
		if len(c.SkipHooks) > 0 && !id.MaySkip() {
			writeJSON(w, http.StatusForbidden, errorResponse{Error: fmt.Sprintf("skip_hooks: identity %s may not skip hooks (it needs the skip right: herald auth ... --may-skip-hooks)", id.Name)})
			return c, false
		}
		c.Caller = id.Name
	}
	if err := c.Validate(); err != nil {
		writeJSON(w, http.StatusBadRequest, errorResponse{Error: err.Error()})
		return c, false
	}
	return c, true
}

func (e *Engine) servePre(w http.ResponseWriter, r *http.Request) {
	if e.rt.Load() == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Error: ErrNotRunning.Error()})
		return
	}
	c, ok := e.decodeCall(w, r, call.PhasePre)
	if !ok {
		return
	}
	// decodeCall refused skip_hooks without the right; PreAs checks again.
	id, ok := auth.FromContext(r.Context())
	v := e.PreAs(r.Context(), c, ok && id.MaySkip())
	code := http.StatusOK
	if !v.Allow {
		code = http.StatusForbidden
	}
	writeJSON(w, code, v)
}

func (e *Engine) serveReport(w http.ResponseWriter, r *http.Request, phase string) {
	if e.rt.Load() == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Error: ErrNotRunning.Error()})
		return
	}
	c, ok := e.decodeCall(w, r, phase)
	if !ok {
		return
	}
	if c.ID == "" {
		writeJSON(w, http.StatusBadRequest, errorResponse{Error: "id: required (the call id the pre verdict returned)"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), reportTimeout)
	defer cancel()
	id, err := e.Report(ctx, c)
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, call.ErrInvalidCall) {
			code = http.StatusBadRequest
		}
		writeJSON(w, code, errorResponse{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusAccepted, reportResponse{ID: id, CallID: c.ID})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
