package events

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
)

// SpecVersion is the CloudEvents version Herald speaks.
const SpecVersion = "1.0"

// CloudEvents attribute headers (NATS protocol binding, binary content mode).
const (
	HeaderSpecVersion     = "ce-specversion"
	HeaderID              = "ce-id"
	HeaderSource          = "ce-source"
	HeaderType            = "ce-type"
	HeaderSubject         = "ce-subject"
	HeaderTime            = "ce-time"
	HeaderDataContentType = "ce-datacontenttype"
	// HeaderVersion carries the extension attribute "heraldversion": the
	// source's own version of the key (a ZooKeeper mzxid, a KV revision, a
	// build number), used for dedup and ordering.
	HeaderVersion = "ce-heraldversion"
	// HeaderContentType mirrors datacontenttype for plain NATS tools.
	HeaderContentType = "Content-Type"
)

// DefaultContentType is used when a publisher gives none.
const DefaultContentType = "application/octet-stream"

// Errors returned when an event is malformed.
var (
	// ErrInvalidEvent wraps every validation failure of an event.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrNotCloudEvent is returned for a NATS message that is neither in
	// binary content mode (no ce-specversion header) nor in structured
	// content mode.
	ErrNotCloudEvent = errors.New("message is not a cloudevent")
	// ErrSubjectMismatch is returned for a message whose type or subject
	// attribute disagree with the NATS subject it was published on.
	ErrSubjectMismatch = errors.New("cloudevent attributes disagree with the nats subject")
)

// Event is one change: a CloudEvents 1.0 event whose subject is the key.
type Event struct {
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Key             string    `json:"subject"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype,omitempty"`
	Version         string    `json:"heraldversion,omitempty"`
	// TraceParent and TraceState are the distributed-tracing extension
	// (trace.go): the W3C Trace Context the change belongs to.
	TraceParent string `json:"traceparent,omitempty"`
	TraceState  string `json:"tracestate,omitempty"`
	Data        []byte `json:"-"`
	// DedupScope, when set, is part of MsgID: the HTTP API sets
	// "http:<identity>" on what an authenticated identity posts, so that
	// a source and version chosen by one caller never collide with
	// another publisher's. It is not on the wire.
	DedupScope string `json:"-"`
}

// New returns an event with a fresh UUID and the current time.
func New(source, typ, key string, data []byte) Event {
	return Event{
		ID:              uuid.NewString(),
		Source:          source,
		Type:            typ,
		Key:             key,
		Time:            time.Now().UTC(),
		DataContentType: DefaultContentType,
		Data:            data,
	}
}

// ValidateType reports whether typ is a valid event type: dot-separated
// tokens of lowercase letters, digits, '_' and '-', each starting with a
// letter or digit.
func ValidateType(typ string) error {
	if !validType(typ) {
		return fmt.Errorf("%w: type %q must be dot-separated tokens of [a-z0-9_-] starting with a letter or digit", ErrInvalidEvent, typ)
	}
	return nil
}

// validType matches ^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$ without
// a regexp: it runs for every event an agent receives.
func validType(typ string) bool {
	start := true
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			start = false
		case c == '_' || c == '-':
			if start {
				return false
			}
		case c == '.':
			if start {
				return false
			}
			start = true
		default:
			return false
		}
	}
	return !start
}

// Limits on the attributes carried in NATS headers. JetStream refuses a
// message whose headers exceed 64 KiB, so a publisher must refuse these
// first, naming the field.
const (
	MaxIDLen      = 256
	MaxSourceLen  = 1024
	MaxVersionLen = 256
	// MaxContentTypeLen bounds datacontenttype (sent twice, in
	// ce-datacontenttype and Content-Type).
	MaxContentTypeLen = 256
)

// Validate checks the attributes an event must carry. Errors are
// *FieldError naming the CloudEvents attribute.
func (e Event) Validate() error {
	if err := validateHeaderAttr("id", e.ID, MaxIDLen, true); err != nil {
		return err
	}
	if err := validateHeaderAttr("source", e.Source, MaxSourceLen, true); err != nil {
		return err
	}
	if !validType(e.Type) {
		return fieldErr("type", "%q must be dot-separated tokens of [a-z0-9_-] starting with a letter or digit", e.Type)
	}
	if e.Key == "" {
		return fieldErr("subject", "the key is empty")
	}
	if err := validateHeaderAttr("datacontenttype", e.DataContentType, MaxContentTypeLen, false); err != nil {
		return err
	}
	if err := validateHeaderAttr("heraldversion", e.Version, MaxVersionLen, false); err != nil {
		return err
	}
	return e.validateTrace()
}

// validateHeaderAttr checks an attribute that travels verbatim in a NATS
// header: bounded, and free of what a header cannot carry (see
// headerSafe).
func validateHeaderAttr(field, v string, max int, required bool) error {
	switch {
	case v == "" && required:
		return fieldErr(field, "empty")
	case len(v) > max:
		return fieldErr(field, "too long: %d bytes (at most %d)", len(v), max)
	case !headerSafe(v):
		return fieldErr(field, "%q has a control character or leading or trailing space, which a NATS header cannot carry", v)
	}
	return nil
}

// Subject is the NATS subject the event is published on.
func (e Event) Subject() string { return EventSubject(e.Type, e.Key) }

// MsgID is the JetStream Nats-Msg-Id: (source, key, version) when the source
// gives a version, so that publishing the same change twice is dropped by the
// stream's dedup window; (source, id) otherwise, the pair CloudEvents makes
// unique, so that a client resending an event is stored once while two
// sources may use the same id; prefixed with DedupScope when set.
func (e Event) MsgID() string {
	scope := ""
	if e.DedupScope != "" {
		scope = e.DedupScope + ":"
	}
	if e.Version == "" {
		return scope + "i:" + digest(e.Source, e.ID)
	}
	return scope + "v:" + digest(e.Source, e.Key, e.Version)
}

// digest hashes fields with unambiguous boundaries: "LEN:FIELD;" each.
func digest(fields ...string) string {
	var buf [256]byte
	b := buf[:0]
	for _, f := range fields {
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
		b = append(b, ';')
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// ToMsg encodes the event as a NATS message in binary content mode: the
// attributes in ce-* headers, the data as the raw payload. Header values are
// verbatim, as the CloudEvents SDKs write and read them, except a key that
// a NATS header cannot carry (see HeaderKey).
func (e Event) ToMsg() *nats.Msg {
	m := nats.NewMsg(e.Subject())
	h := m.Header
	h.Set(HeaderSpecVersion, SpecVersion)
	h.Set(HeaderID, e.ID)
	h.Set(HeaderSource, e.Source)
	h.Set(HeaderType, e.Type)
	h.Set(HeaderSubject, HeaderKey(e.Key))
	h.Set(HeaderTime, e.Time.UTC().Format(time.RFC3339Nano))
	ct := e.DataContentType
	if ct == "" {
		ct = DefaultContentType
	}
	h.Set(HeaderDataContentType, ct)
	h.Set(HeaderContentType, ct)
	if e.Version != "" {
		h.Set(HeaderVersion, e.Version)
	}
	if e.TraceParent != "" {
		h.Set(HeaderTraceParent, e.TraceParent)
	}
	if e.TraceState != "" {
		h.Set(HeaderTraceState, e.TraceState)
	}
	h.Set(nats.MsgIdHdr, e.MsgID())
	m.Data = e.Data
	return m
}

// FromMsg decodes a CloudEvent from a NATS message in binary content mode
// (ce-* headers) or structured content mode (no ce-specversion header, a
// Content-Type of application/cloudevents+json or none, the JSON format
// in the payload).
//
// The NATS subject is the authority: type and key are taken from it, and a
// message whose type or subject attribute disagree with it is refused with
// ErrSubjectMismatch, so that subject permissions bind what runs. A
// missing subject attribute takes the key from the NATS subject.
func FromMsg(m *nats.Msg) (Event, error) {
	h := m.Header
	var (
		e   Event
		err error
	)
	if sv := h.Get(HeaderSpecVersion); sv != "" {
		e, err = fromBinary(h, sv, m.Data)
	} else if ct := h.Get(HeaderContentType); IsStructured(ct) || ct == "" && looksLikeJSONObject(m.Data) {
		e, err = decodeJSON(m.Data)
	} else {
		return Event{}, ErrNotCloudEvent
	}
	if err != nil {
		return Event{}, err
	}
	typ, enc, err := splitEventSubject(m.Subject)
	if err != nil {
		return Event{}, err
	}
	if e.Type != typ {
		return Event{}, fmt.Errorf("%w: type %q on subject %q of type %q", ErrSubjectMismatch, e.Type, m.Subject, typ)
	}
	// Fast path: ce-subject verbatim, no decoding and no allocation.
	key := e.Key
	if !encodedKeyEquals(enc, key) {
		if key, err = DecodeKey(enc); err != nil {
			return Event{}, err
		}
		if !keyAgrees(e.Key, key) {
			return Event{}, fmt.Errorf("%w: subject attribute %q on subject %q of key %q", ErrSubjectMismatch, e.Key, m.Subject, key)
		}
	}
	e.Key = key
	if e.validateTrace() != nil {
		// A trace context that is not W3C's is ignored, as Trace Context
		// asks of a receiver: the change still runs, in a trace of its own.
		e.TraceParent, e.TraceState = "", ""
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// looksLikeJSONObject reports whether b starts, after white space, with
// '{': a payload without headers is taken for structured mode only then.
func looksLikeJSONObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c == '{'
	}
	return false
}

// fromBinary reads the ce-* headers; FromMsg validates.
func fromBinary(h nats.Header, sv string, data []byte) (Event, error) {
	if sv != SpecVersion {
		return Event{}, fieldErr("specversion", "%q, want %q", sv, SpecVersion)
	}
	e := Event{
		ID:              h.Get(HeaderID),
		Source:          h.Get(HeaderSource),
		Type:            h.Get(HeaderType),
		Key:             h.Get(HeaderSubject),
		DataContentType: h.Get(HeaderDataContentType),
		Version:         h.Get(HeaderVersion),
		TraceParent:     h.Get(HeaderTraceParent),
		TraceState:      h.Get(HeaderTraceState),
		Data:            data,
	}
	if e.DataContentType == "" {
		e.DataContentType = h.Get(HeaderContentType)
	}
	if ts := h.Get(HeaderTime); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return Event{}, fieldErr("time", "ce-time %q is not an RFC 3339 time", ts)
		}
		e.Time = t
	}
	return e, nil
}

// keyAgrees reports whether a subject attribute agrees with the key of the
// NATS subject: absent, verbatim, or percent-encoded by HeaderKey or by
// the escaping of older Herald versions (every control character, '%' and
// non-ASCII byte as %XX), which stored events may still carry.
func keyAgrees(attr, key string) bool {
	return attr == "" || attr == key ||
		escapedEquals(attr, key, headerUnsafeByte) ||
		escapedEquals(attr, key, legacyEscapedByte)
}

// HeaderKey is the ce-subject value of a key. A key a NATS header carries
// as is (see headerSafe) is written verbatim; any other key is written
// with every byte below 0x21 (control characters and space), 0x7F and '%'
// percent-encoded as %XX. The NATS subject carries every key exactly.
func HeaderKey(key string) string {
	if headerSafe(key) {
		return key
	}
	return escapeBytes(key, headerUnsafeByte)
}

// HTTPHeaderValue is s as an HTTP header value of the CloudEvents HTTP
// binding: every control character, '%' and non-ASCII byte is
// percent-encoded as %XX (upper-case hex), always, and the rest is kept.
// The http action writes every ce-* and Herald-* header with it. It is
// stricter than HeaderKey, which NATS headers allow: HTTP header values
// are ASCII. (Older Herald versions wrote ce-subject on NATS this way too;
// FromMsg still accepts it.)
func HTTPHeaderValue(s string) string {
	return escapeBytes(s, legacyEscapedByte)
}

// escapeBytes writes the bytes of s that esc selects as %XX (upper-case
// hex) and the others as they are.
func escapeBytes(s string, esc func(byte) bool) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if esc(c) {
			b.WriteByte('%')
			b.WriteByte(hexd[c>>4])
			b.WriteByte(hexd[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// headerSafe reports whether a NATS header value carries s unchanged:
// nats.go replaces CR and LF by spaces and trims leading and trailing
// white space, and the NATS ADR-4 header grammar has no control
// characters. UTF-8 travels as is.
func headerSafe(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func headerUnsafeByte(c byte) bool { return c <= 0x20 || c == 0x7f || c == '%' }

// legacyEscapedByte is HTTPHeaderValue's rule, which older Herald versions
// used for ce-subject on NATS too.
func legacyEscapedByte(c byte) bool { return c < 0x20 || c >= 0x7f || c == '%' }

// escapedEquals reports whether enc is key with exactly the bytes esc
// selects written as %XX (upper-case hex), without allocating.
func escapedEquals(enc, key string, esc func(byte) bool) bool {
	const hexd = "0123456789ABCDEF"
	j := 0
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !esc(c) {
			if j >= len(enc) || enc[j] != c {
				return false
			}
			j++
			continue
		}
		if j+3 > len(enc) || enc[j] != '%' || enc[j+1] != hexd[c>>4] || enc[j+2] != hexd[c&15] {
			return false
		}
		j += 3
	}
	return j == len(enc)
}

func unescapeBytes(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("truncated escape at offset %d", i)
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("bad escape %q at offset %d", s[i:i+3], i)
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
