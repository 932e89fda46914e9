package httpsource

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldhq/herald/events"
)

// The CloudEvents HTTP binding on POST /v1/events, next to Herald's own
// JSON body: binary mode (a ce-specversion header), structured mode
// (Content-Type application/cloudevents+json) and batched mode
// (application/cloudevents-batch+json).

// ceMode is how a request carries its events.
type ceMode int

const (
	modeHerald     ceMode = iota // Herald's own JSON body
	modeBinary                   // ce-* headers, the data as the body
	modeStructured               // one event in the JSON format
	modeBatch                    // a JSON array of events in the JSON format
)

func requestMode(r *http.Request) ceMode {
	ct := r.Header.Get("Content-Type")
	switch {
	case events.IsBatch(ct):
		return modeBatch
	case events.IsStructured(ct):
		return modeStructured
	case r.Header.Get("Ce-Specversion") != "":
		return modeBinary
	}
	return modeHerald
}

// decodeCloudEvents reads a request in one of the CloudEvents modes. The
// events are checked like Herald's own body; a batch is refused whole when
// any of its events is.
func (h *Source) decodeCloudEvents(w http.ResponseWriter, r *http.Request, mode ceMode) ([]events.Event, *requestError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEventBody))
	if err != nil {
		return nil, jsonError(err)
	}
	var evs []events.Event
	switch mode {
	case modeBinary:
		e, rerr := binaryEvent(r.Header, body)
		if rerr != nil {
			return nil, rerr
		}
		evs = []events.Event{e}
	case modeStructured:
		e, err := events.FromJSON(body)
		if err != nil {
			return nil, fieldError(err, "")
		}
		evs = []events.Event{e}
	case modeBatch:
		if evs, err = events.FromJSONBatch(body); err != nil {
			return nil, fieldError(err, "")
		}
	}
	now := time.Now().UTC()
	for i := range evs {
		e := &evs[i]
		if n := len(e.Subject()); n > MaxSubjectLen {
			field := "subject"
			switch mode {
			case modeBinary:
				field = "ce-subject"
			case modeBatch:
				field = "[" + strconv.Itoa(i) + "].subject"
			}
			return nil, badField(field, "too long: the event subject would be %d bytes (at most %d)", n, MaxSubjectLen)
		}
		if e.Time.IsZero() {
			e.Time = now
		}
	}
	return evs, nil
}

// binaryEvent reads a binary-mode request: attributes from ce-* headers,
// verbatim (as the Go and Java SDKs write them), datacontenttype from
// Content-Type, the data from the body.
func binaryEvent(hdr http.Header, body []byte) (events.Event, *requestError) {
	e := events.Event{
		ID:              hdr.Get("Ce-Id"),
		Source:          hdr.Get("Ce-Source"),
		Type:            hdr.Get("Ce-Type"),
		Key:             hdr.Get("Ce-Subject"),
		Version:         hdr.Get("Ce-Heraldversion"),
		TraceParent:     hdr.Get("Ce-Traceparent"),
		TraceState:      hdr.Get("Ce-Tracestate"),
		DataContentType: hdr.Get("Content-Type"),
		Data:            body,
	}
	if v := hdr.Get("Ce-Specversion"); v != events.SpecVersion {
		return e, badField("ce-specversion", "%q, want %q", v, events.SpecVersion)
	}
	if ts := hdr.Get("Ce-Time"); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return e, badField("ce-time", "%q is not an RFC 3339 time", ts)
		}
		e.Time = t
	}
	if e.DataContentType == "" {
		e.DataContentType = events.DefaultContentType
	} else if _, _, err := mime.ParseMediaType(e.DataContentType); err != nil {
		return e, badField("Content-Type", "%q is not a media type: %v", e.DataContentType, err)
	}
	if err := e.Validate(); err != nil {
		return e, fieldError(err, "ce-")
	}
	return e, nil
}

// fieldError turns an events.FieldError into a client error naming the
// field, prefixed (binary mode names the ce-* header).
func fieldError(err error, prefix string) *requestError {
	var fe *events.FieldError
	if !errors.As(err, &fe) {
		return badField("body", "%v", err)
	}
	field := fe.Field
	if prefix != "" && field != "body" {
		field = prefix + field
	}
	return badField(field, "%s", fe.Msg)
}

// heraldField names an events.FieldError field as Herald's own body does.
func heraldField(field string) string {
	switch field {
	case "subject":
		return "key"
	case "heraldversion":
		return "version"
	}
	return field
}
