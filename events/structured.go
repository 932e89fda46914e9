package events

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"strings"
	"time"
)

// Media types of the CloudEvents JSON format.
const (
	// ContentTypeStructured is one event in structured content mode.
	ContentTypeStructured = "application/cloudevents+json"
	// ContentTypeBatch is a JSON array of events (HTTP batched mode).
	ContentTypeBatch = "application/cloudevents-batch+json"
)

// FieldError is an attribute that is missing or malformed. It wraps
// ErrInvalidEvent; Field is the CloudEvents attribute name ("data" and
// "data_base64" included).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return ErrInvalidEvent.Error() + ": " + e.Field + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrInvalidEvent) hold.
func (e *FieldError) Unwrap() error { return ErrInvalidEvent }

func fieldErr(field, format string, a ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// jsonEvent is an event in the CloudEvents JSON format. Unknown members
// (other extensions, dataschema) are ignored, as the format requires.
type jsonEvent struct {
	SpecVersion     *string         `json:"specversion"`
	ID              *string         `json:"id"`
	Source          *string         `json:"source"`
	Type            *string         `json:"type"`
	Subject         *string         `json:"subject"`
	Time            *string         `json:"time"`
	DataContentType *string         `json:"datacontenttype"`
	Version         json.RawMessage `json:"heraldversion"`
	TraceParent     *string         `json:"traceparent"`
	TraceState      *string         `json:"tracestate"`
	Data            json.RawMessage `json:"data"`
	DataBase64      *string         `json:"data_base64"`
}

// FromJSON decodes one event in the CloudEvents JSON format (structured
// content mode). The key is the "subject" attribute. data carried as a
// JSON value is the event's data as JSON text when datacontenttype is JSON
// (or absent, which then means application/json); otherwise it must be a
// string, whose content is the data. data_base64 carries binary data.
// Errors are *FieldError.
func FromJSON(b []byte) (Event, error) {
	e, err := decodeJSON(b)
	if err != nil {
		return Event{}, err
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// decodeJSON is FromJSON without Validate.
func decodeJSON(b []byte) (Event, error) {
	var j jsonEvent
	if err := json.Unmarshal(b, &j); err != nil {
		return Event{}, fieldErr("body", "not a JSON object in the CloudEvents JSON format: %v", err)
	}
	return j.event()
}

// FromJSONBatch decodes a JSON array of events in the CloudEvents JSON
// format. An error names the index of the event at fault ("[2].type").
func FromJSONBatch(b []byte) ([]Event, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fieldErr("body", "not a JSON array of CloudEvents: %v", err)
	}
	out := make([]Event, 0, len(raw))
	for i, r := range raw {
		e, err := FromJSON(r)
		if err != nil {
			fe := err.(*FieldError)
			return nil, fieldErr(fmt.Sprintf("[%d].%s", i, fe.Field), "%s", fe.Msg)
		}
		out = append(out, e)
	}
	return out, nil
}

func (j *jsonEvent) event() (Event, error) {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	if v := str(j.SpecVersion); v != SpecVersion {
		return Event{}, fieldErr("specversion", "%q, want %q", v, SpecVersion)
	}
	e := Event{
		ID:              str(j.ID),
		Source:          str(j.Source),
		Type:            str(j.Type),
		Key:             str(j.Subject),
		DataContentType: str(j.DataContentType),
		TraceParent:     str(j.TraceParent),
		TraceState:      str(j.TraceState),
	}
	if j.Time != nil {
		t, err := time.Parse(time.RFC3339Nano, *j.Time)
		if err != nil {
			return Event{}, fieldErr("time", "%q is not an RFC 3339 time", *j.Time)
		}
		e.Time = t
	}
	if len(j.Version) > 0 && !bytes.Equal(j.Version, []byte("null")) {
		var s string
		switch {
		case json.Unmarshal(j.Version, &s) == nil:
			e.Version = s
		case j.Version[0] >= '0' && j.Version[0] <= '9':
			e.Version = string(j.Version) // an integer extension value
		default:
			return Event{}, fieldErr("heraldversion", "want a string, got %s", j.Version)
		}
	}
	mt := ""
	if e.DataContentType != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(e.DataContentType); err != nil {
			return Event{}, fieldErr("datacontenttype", "%q is not a media type: %v", e.DataContentType, err)
		}
	}
	hasData := len(j.Data) > 0 && !bytes.Equal(j.Data, []byte("null"))
	switch {
	case hasData && j.DataBase64 != nil:
		return Event{}, fieldErr("data_base64", "give data or data_base64, not both")
	case j.DataBase64 != nil:
		d, err := base64.StdEncoding.DecodeString(*j.DataBase64)
		if err != nil {
			return Event{}, fieldErr("data_base64", "not standard base64: %v", err)
		}
		e.Data = d
	case hasData && isJSONMediaType(mt):
		e.Data = []byte(j.Data)
		if e.DataContentType == "" {
			e.DataContentType = "application/json"
		}
	case hasData:
		var s string
		if err := json.Unmarshal(j.Data, &s); err != nil {
			return Event{}, fieldErr("data", "datacontenttype %q is not JSON, so data must be a string (or use data_base64)", e.DataContentType)
		}
		e.Data = []byte(s)
	}
	if e.DataContentType == "" {
		e.DataContentType = DefaultContentType
	}
	return e, nil
}

// isJSONMediaType reports whether data of media type mt is carried as a
// JSON value in the JSON format: application/json, text/json and every
// +json type; an absent type means application/json.
func isJSONMediaType(mt string) bool {
	mt = strings.ToLower(mt)
	return mt == "" || mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// IsStructured reports whether a Content-Type names the CloudEvents JSON
// format (structured content mode), parameters ignored.
func IsStructured(contentType string) bool { return mediaTypeIs(contentType, ContentTypeStructured) }

// IsBatch reports whether a Content-Type names the batched JSON format.
func IsBatch(contentType string) bool { return mediaTypeIs(contentType, ContentTypeBatch) }

func mediaTypeIs(contentType, want string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), want)
}
