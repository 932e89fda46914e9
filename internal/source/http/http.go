package httpsource

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/source"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// HTTP limits.
const (
	// MaxEventBody caps the body of POST /v1/events.
	MaxEventBody = 1 << 20
	// MaxSubjectLen caps the NATS subject an event maps to (type plus
	// encoded key), well below the server's control line limit.
	MaxSubjectLen = 2048
	// publishTimeout bounds one publish from an HTTP request.
	publishTimeout = 10 * time.Second
)

// Source is the POST /v1/events endpoint. It is a source.Source like any
// other: it can publish only while it runs (or between SetPublisher and
// the end of Run).
type Source struct {
	log           zerolog.Logger
	defaultSource string

	mu  sync.RWMutex
	pub source.Publisher
}

var (
	_ source.Source = (*Source)(nil)
	_ http.Handler  = (*Source)(nil)
)

// New builds the endpoint; events without a source get
// herald://dispatcher/<hostname>.
func New(log zerolog.Logger) *Source {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return &Source{
		log:           log.With().Str("source", "http").Logger(),
		defaultSource: "herald://dispatcher/" + host,
	}
}

// Name is "http".
func (h *Source) Name() string { return "http" }

// Mount routes POST /v1/events to h on mux.
func (h *Source) Mount(mux *http.ServeMux) { mux.Handle("POST /v1/events", h) }

// Run lends the publisher to the handler until ctx ends.
func (h *Source) Run(ctx context.Context, env source.Env) error {
	h.SetPublisher(env.Pub)
	<-ctx.Done()
	h.SetPublisher(nil)
	return nil
}

// SetPublisher lends pub to the handler before Run does, so that POST
// /v1/events works as soon as the server serves it; nil makes it answer
// 503 again.
func (h *Source) SetPublisher(pub source.Publisher) {
	h.mu.Lock()
	h.pub = pub
	h.mu.Unlock()
}

// publishRequest is the body of POST /v1/events.
type publishRequest struct {
	Type            string  `json:"type"`
	Key             string  `json:"key"`
	Data            *string `json:"data"`
	DataBase64      *string `json:"data_base64"`
	DataContentType string  `json:"datacontenttype"`
	Version         string  `json:"version"`
	Source          string  `json:"source"`
}

// publishResponse answers a stored (201) or duplicate (202) event.
type publishResponse struct {
	ID        string `json:"id"`
	StreamSeq uint64 `json:"stream_seq"`
	Duplicate bool   `json:"duplicate"`
}

// errorResponse names the field at fault ("body" for the body as a whole).
type errorResponse struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// requestError is a client error: a status, the field and why.
type requestError struct {
	status int
	field  string
	msg    string
}

func (e *requestError) Error() string { return e.field + ": " + e.msg }

func badField(field, format string, a ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, field: field, msg: fmt.Sprintf(format, a...)}
}

// batchResponse answers a batch: one entry per published event, in
// order; with an error, the events before the one that failed.
type batchResponse struct {
	Events []publishResponse `json:"events"`
	Error  string            `json:"error,omitempty"`
	Field  string            `json:"field,omitempty"`
}

// ServeHTTP publishes the events of a request: Herald's own JSON body or
// one of the CloudEvents HTTP modes. One event: 201 when stored, 202 when
// the stream dropped it as a duplicate, 400/413 for bad input, 503 when it
// cannot be published now. A batch: 200 with every event's result, or
// the status of the first event that failed with the results before it.
func (h *Source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.RLock()
	pub := h.pub
	h.mu.RUnlock()
	if pub == nil {
		writeJSON(w, http.StatusServiceUnavailable, errorResponse{Error: "dispatcher not ready"})
		return
	}
	mode := requestMode(r)
	var (
		evs  []events.Event
		rerr *requestError
	)
	if mode == modeHerald {
		var e events.Event
		e, rerr = h.decode(w, r)
		evs = []events.Event{e}
	} else {
		evs, rerr = h.decodeCloudEvents(w, r, mode)
	}
	if rerr != nil {
		writeJSON(w, rerr.status, errorResponse{Error: rerr.Error(), Field: rerr.field})
		return
	}
	if id, ok := auth.FromContext(r.Context()); ok {
		// All or nothing: a batch publishes only when every event is
		// within the identity's rights.
		for i := range evs {
			if rerr := h.authorize(id, evs[i]); rerr != nil {
				if mode == modeBatch {
					writeJSON(w, rerr.status, batchResponse{Events: []publishResponse{},
						Error: fmt.Sprintf("[%d]: %s", i, rerr.Error()), Field: fmt.Sprintf("[%d].%s", i, rerr.field)})
					return
				}
				writeJSON(w, rerr.status, errorResponse{Error: rerr.Error(), Field: rerr.field})
				return
			}
			evs[i].DedupScope = "http:" + id.Name
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), publishTimeout)
	defer cancel()
	if mode != modeBatch {
		res, perr := publishOne(ctx, pub, evs[0])
		if perr != nil {
			writeJSON(w, perr.status, errorResponse{Error: perr.msg, Field: perr.field})
			return
		}
		code := http.StatusCreated
		if res.Duplicate {
			code = http.StatusAccepted
		}
		writeJSON(w, code, res)
		return
	}
	out := batchResponse{Events: make([]publishResponse, 0, len(evs))}
	for i, e := range evs {
		res, perr := publishOne(ctx, pub, e)
		if perr != nil {
			out.Error, out.Field = fmt.Sprintf("[%d]: %s", i, perr.msg), fmt.Sprintf("[%d]", i)
			if perr.field != "" {
				out.Field += "." + perr.field
			}
			writeJSON(w, perr.status, out)
			return
		}
		out.Events = append(out.Events, res)
	}
	writeJSON(w, http.StatusOK, out)
}

// publishOne publishes e and maps a failure to a status.
func publishOne(ctx context.Context, pub source.Publisher, e events.Event) (publishResponse, *requestError) {
	res, err := pub.Publish(ctx, e)
	switch {
	case errors.Is(err, events.ErrInvalidEvent):
		return publishResponse{}, &requestError{status: http.StatusBadRequest, msg: err.Error()}
	case errors.Is(err, nats.ErrMaxPayload):
		return publishResponse{}, &requestError{status: http.StatusRequestEntityTooLarge, field: "data", msg: err.Error()}
	case err != nil:
		return publishResponse{}, &requestError{status: http.StatusServiceUnavailable, msg: err.Error()}
	}
	return publishResponse{ID: res.ID, StreamSeq: res.Seq, Duplicate: res.Duplicate}, nil
}

// decode reads and checks the request body and builds the event.
func (h *Source) decode(w http.ResponseWriter, r *http.Request) (events.Event, *requestError) {
	body := http.MaxBytesReader(w, r.Body, MaxEventBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var req publishRequest
	if err := dec.Decode(&req); err != nil {
		return events.Event{}, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return events.Event{}, jsonError(err)
		}
		return events.Event{}, badField("body", "trailing data after the JSON object")
	}

	switch {
	case req.Type == "":
		return events.Event{}, badField("type", "required")
	case req.Key == "":
		return events.Event{}, badField("key", "required")
	case req.Data != nil && req.DataBase64 != nil:
		return events.Event{}, badField("data_base64", "give data or data_base64, not both")
	}
	if err := events.ValidateType(req.Type); err != nil {
		return events.Event{}, badField("type", "%q must be dot-separated tokens of [a-z0-9_-], each starting with a letter or digit", req.Type)
	}
	if n := len(events.EventSubject(req.Type, req.Key)); n > MaxSubjectLen {
		return events.Event{}, badField("key", "too long: the event subject would be %d bytes (at most %d)", n, MaxSubjectLen)
	}
	var data []byte
	switch {
	case req.Data != nil:
		data = []byte(*req.Data)
	case req.DataBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*req.DataBase64)
		if err != nil {
			return events.Event{}, badField("data_base64", "not standard base64: %v", err)
		}
		data = b
	}
	if req.DataContentType != "" {
		if _, _, err := mime.ParseMediaType(req.DataContentType); err != nil {
			return events.Event{}, badField("datacontenttype", "%q is not a media type: %v", req.DataContentType, err)
		}
	}
	src := strings.TrimSpace(req.Source)
	if src == "" {
		src = h.defaultSourceFor(r)
	}
	e := events.New(src, req.Type, req.Key, data)
	if req.DataContentType != "" {
		e.DataContentType = req.DataContentType
	}
	e.Version = req.Version
	// Herald's body takes the trace context of the request's W3C Trace
	// Context headers.
	e.TraceParent, e.TraceState = r.Header.Get("Traceparent"), r.Header.Get("Tracestate")
	if err := e.Validate(); err != nil {
		var fe *events.FieldError
		if errors.As(err, &fe) {
			return events.Event{}, badField(heraldField(fe.Field), "%s", fe.Msg)
		}
		return events.Event{}, badField("body", "%v", err)
	}
	return e, nil
}

// jsonError turns a decoding error into a client error naming the field.
func jsonError(err error) *requestError {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return &requestError{status: http.StatusRequestEntityTooLarge, field: "body", msg: fmt.Sprintf("larger than %d bytes", mbe.Limit)}
	case errors.Is(err, io.EOF):
		return badField("body", "empty: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badField("body", "truncated JSON")
	case errors.As(err, &se):
		return badField("body", "invalid JSON at offset %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return badField("body", "want a JSON object, got %s", te.Value)
		}
		return badField(field, "want a %s, got %s", te.Type, te.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, uerr := strconv.Unquote(name); uerr == nil {
			name = n
		}
		return badField(name, "unknown field")
	}
	return badField("body", "%v", err)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
