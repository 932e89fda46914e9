package events

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
	// ErrNotCloudEvent is returned for a NATS message without ce-* headers.
	ErrNotCloudEvent = errors.New("message is not a binary-mode cloudevent")
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
	Data            []byte    `json:"-"`
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

// Validate checks the attributes an event must carry.
func (e Event) Validate() error {
	if e.ID == "" {
		return fmt.Errorf("%w: id is empty", ErrInvalidEvent)
	}
	if e.Source == "" {
		return fmt.Errorf("%w: source is empty", ErrInvalidEvent)
	}
	if err := ValidateType(e.Type); err != nil {
		return err
	}
	if e.Key == "" {
		return fmt.Errorf("%w: key (subject) is empty", ErrInvalidEvent)
	}
	return nil
}

// Subject is the NATS subject the event is published on.
func (e Event) Subject() string { return EventSubject(e.Type, e.Key) }

// MsgID is the JetStream Nats-Msg-Id: (source, key, version) when the source
// gives a version, so that publishing the same change twice is dropped by the
// stream's dedup window; the event id otherwise.
func (e Event) MsgID() string {
	if e.Version == "" {
		return e.ID
	}
	h := sha256.New()
	for _, f := range []string{e.Source, e.Key, e.Version} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return "v:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// ToMsg encodes the event as a NATS message in binary content mode: the
// attributes in ce-* headers, the data as the raw payload.
func (e Event) ToMsg() *nats.Msg {
	m := nats.NewMsg(e.Subject())
	h := m.Header
	h.Set(HeaderSpecVersion, SpecVersion)
	h.Set(HeaderID, e.ID)
	h.Set(HeaderSource, e.Source)
	h.Set(HeaderType, e.Type)
	h.Set(HeaderSubject, headerEscape(e.Key))
	h.Set(HeaderTime, e.Time.UTC().Format(time.RFC3339Nano))
	ct := e.DataContentType
	if ct == "" {
		ct = DefaultContentType
	}
	h.Set(HeaderDataContentType, ct)
	h.Set(HeaderContentType, ct)
	if e.Version != "" {
		h.Set(HeaderVersion, headerEscape(e.Version))
	}
	h.Set(nats.MsgIdHdr, e.MsgID())
	m.Data = e.Data
	return m
}

// FromMsg decodes a binary-mode CloudEvent. The key comes from ce-subject;
// the NATS subject is not needed.
func FromMsg(m *nats.Msg) (Event, error) {
	h := m.Header
	if h == nil || h.Get(HeaderSpecVersion) == "" {
		return Event{}, ErrNotCloudEvent
	}
	if v := h.Get(HeaderSpecVersion); v != SpecVersion {
		return Event{}, fmt.Errorf("%w: specversion %q, want %q", ErrInvalidEvent, v, SpecVersion)
	}
	key, err := headerUnescape(h.Get(HeaderSubject))
	if err != nil {
		return Event{}, fmt.Errorf("%w: ce-subject: %w", ErrInvalidEvent, err)
	}
	ver, err := headerUnescape(h.Get(HeaderVersion))
	if err != nil {
		return Event{}, fmt.Errorf("%w: ce-heraldversion: %w", ErrInvalidEvent, err)
	}
	e := Event{
		ID:              h.Get(HeaderID),
		Source:          h.Get(HeaderSource),
		Type:            h.Get(HeaderType),
		Key:             key,
		DataContentType: h.Get(HeaderDataContentType),
		Version:         ver,
		Data:            m.Data,
	}
	if e.DataContentType == "" {
		e.DataContentType = h.Get(HeaderContentType)
	}
	if ts := h.Get(HeaderTime); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return Event{}, fmt.Errorf("%w: ce-time %q: %w", ErrInvalidEvent, ts, err)
		}
		e.Time = t
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

// headerEscape percent-encodes what cannot travel in a NATS header value
// (control characters, '%', non-ASCII), as the CloudEvents bindings do.
func headerEscape(s string) string {
	need := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '%' {
			need = true
			break
		}
	}
	if !need {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func headerUnescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	return unescapeBytes(s)
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
