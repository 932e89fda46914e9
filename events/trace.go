package events

// The CloudEvents distributed-tracing extension
// (https://github.com/cloudevents/spec/blob/main/cloudevents/extensions/distributed-tracing.md):
// the W3C Trace Context of the change, carried as the attributes
// traceparent and tracestate (ce-traceparent and ce-tracestate headers in
// binary mode).
const (
	HeaderTraceParent = "ce-traceparent"
	HeaderTraceState  = "ce-tracestate"
)

// MaxTraceStateLen bounds tracestate: W3C Trace Context lets a carrier
// drop a tracestate above 512 bytes.
const MaxTraceStateLen = 512

// ValidTraceParent reports whether s is a W3C traceparent
// (https://www.w3.org/TR/trace-context/#traceparent-header): version 00
// as "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", lower-case,
// neither id all zeros; a later version (not ff) may carry more after a
// '-'.
func ValidTraceParent(s string) bool {
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	if !lowerHex(s[0:2]) || s[0:2] == "ff" || !lowerHex(s[3:35]) || !lowerHex(s[36:52]) || !lowerHex(s[53:55]) {
		return false
	}
	if allZero(s[3:35]) || allZero(s[36:52]) {
		return false
	}
	switch {
	case len(s) == 55:
		return true
	case s[0:2] == "00":
		return false
	}
	return s[55] == '-'
}

// TraceID is the trace id of the event's traceparent (32 hex digits), or
// "" when it carries none.
func (e Event) TraceID() string {
	if !ValidTraceParent(e.TraceParent) {
		return ""
	}
	return e.TraceParent[3:35]
}

// validateTrace checks traceparent and tracestate.
func (e Event) validateTrace() error {
	if e.TraceParent != "" && !ValidTraceParent(e.TraceParent) {
		return fieldErr("traceparent", "%q is not a W3C traceparent (00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>)", e.TraceParent)
	}
	if e.TraceState != "" && e.TraceParent == "" {
		return fieldErr("tracestate", "given without traceparent")
	}
	return validateHeaderAttr("tracestate", e.TraceState, MaxTraceStateLen, false)
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}
