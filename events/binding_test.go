package events_test

import (
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats.go"
)

// TestFromMsg_SubjectIsAuthority: type and key come from the NATS subject;
// attributes that disagree with it are refused, so subject permissions
// bind what an agent runs.
func TestFromMsg_SubjectIsAuthority(t *testing.T) {
	e := events.New("s", "demo.x", "/demo/", []byte("d"))
	m := e.ToMsg()
	m.Header.Set(events.HeaderType, "demo.fail")
	if _, err := events.FromMsg(m); !errors.Is(err, events.ErrSubjectMismatch) {
		t.Errorf("ce-type demo.fail on a demo.x subject: err = %v, want ErrSubjectMismatch", err)
	}
	m = e.ToMsg()
	m.Header.Set(events.HeaderSubject, "/other")
	if _, err := events.FromMsg(m); !errors.Is(err, events.ErrSubjectMismatch) {
		t.Errorf("ce-subject /other on a /demo/ subject: err = %v, want ErrSubjectMismatch", err)
	}
	// A message without ce-subject takes the key from the NATS subject.
	m = e.ToMsg()
	m.Header.Del(events.HeaderSubject)
	got, err := events.FromMsg(m)
	if err != nil || got.Key != "/demo/" || got.Type != "demo.x" {
		t.Errorf("without ce-subject: %+v, %v; want key /demo/", got, err)
	}
}

func TestHeaderKey_VerbatimUnlessAHeaderCannotCarryIt(t *testing.T) {
	for key, want := range map[string]string{
		"/demo/50%off":   "/demo/50%off",
		"/caf\u00e9/x":   "/caf\u00e9/x",
		"a b":            "a b",
		"%C3%A9":         "%C3%A9",
		"line\nbreak 5%": "line%0Abreak%205%25",
		" lead":          "%20lead",
		"trail ":         "trail%20",
		"tab\there":      "tab%09here",
		"del\x7f":        "del%7F",
	} {
		if got := events.HeaderKey(key); got != want {
			t.Errorf("HeaderKey(%q) = %q, want %q", key, got, want)
		}
		e := events.New("s", "t", key, nil)
		back, err := events.FromMsg(e.ToMsg())
		if err != nil || back.Key != key {
			t.Errorf("round trip of %q: %q, %v", key, back.Key, err)
		}
	}
}

// TestFromMsg_LegacyEscapedSubject: events stored by older Herald versions
// carry ce-subject with '%', control and non-ASCII bytes as %XX; they still
// decode, with the key of their NATS subject.
func TestFromMsg_LegacyEscapedSubject(t *testing.T) {
	for key, legacy := range map[string]string{
		"/caf\u00e9": "/caf%C3%A9",
		"/50%off":    "/50%25off",
		"a\nb":       "a%0Ab",
	} {
		m := events.New("s", "t", key, nil).ToMsg()
		m.Header.Set(events.HeaderSubject, legacy)
		got, err := events.FromMsg(m)
		if err != nil || got.Key != key {
			t.Errorf("legacy ce-subject %q: key %q, %v; want %q", legacy, got.Key, err, key)
		}
	}
}

// HTTPHeaderValue percent-encodes every control character, '%' and
// non-ASCII byte, even where a NATS header could carry the value as it
// is; FromMsg accepts a ce-subject written with it.
func TestHTTPHeaderValue_EncodesControlPercentAndNonASCII(t *testing.T) {
	for in, want := range map[string]string{
		"":               "",
		"/demo/plain":    "/demo/plain",
		"a b":            "a b",
		"/caf\u00e9":     "/caf%C3%A9",
		"/50%off":        "/50%25off",
		"line\nbreak 5%": "line%0Abreak 5%25",
		"tab\there":      "tab%09here",
		"del\x7f":        "del%7F",
	} {
		if got := events.HTTPHeaderValue(in); got != want {
			t.Errorf("HTTPHeaderValue(%q) = %q, want %q", in, got, want)
		}
		if in == "" {
			continue
		}
		m := events.New("s", "t", in, nil).ToMsg()
		m.Header.Set(events.HeaderSubject, events.HTTPHeaderValue(in))
		if got, err := events.FromMsg(m); err != nil || got.Key != in {
			t.Errorf("ce-subject %q: key %q, %v; want %q", events.HTTPHeaderValue(in), got.Key, err, in)
		}
	}
}

func TestFromMsg_StructuredMode(t *testing.T) {
	subject := events.EventSubject("demo.x", "/demo/50%off")
	body := `{"specversion":"1.0","id":"1","source":"/probe","type":"demo.x","subject":"/demo/50%off",
		"time":"2026-01-02T03:04:05.5Z","datacontenttype":"application/json","data":{"a":1},"heraldversion":"7"}`
	for _, h := range []nats.Header{nil, {"Content-Type": {"application/cloudevents+json; charset=utf-8"}}} {
		e, err := events.FromMsg(&nats.Msg{Subject: subject, Header: h, Data: []byte(body)})
		if err != nil {
			t.Fatalf("headers %v: %v", h, err)
		}
		if e.ID != "1" || e.Source != "/probe" || e.Key != "/demo/50%off" || e.Version != "7" ||
			string(e.Data) != `{"a":1}` || e.Time.Nanosecond() != 5e8 || e.DataContentType != "application/json" {
			t.Errorf("decoded %+v", e)
		}
	}
	m := &nats.Msg{Subject: events.EventSubject("demo.fail", "/demo/50%off"), Data: []byte(body)}
	if _, err := events.FromMsg(m); !errors.Is(err, events.ErrSubjectMismatch) {
		t.Errorf("structured type on another subject: %v", err)
	}
	m = &nats.Msg{Subject: subject, Header: nats.Header{"Content-Type": {events.ContentTypeStructured}}, Data: []byte(`{"specversion":"1.0"`)}
	if _, err := events.FromMsg(m); !errors.Is(err, events.ErrInvalidEvent) {
		t.Errorf("truncated structured event: %v", err)
	}
}

func TestFromJSON_Data(t *testing.T) {
	base := `"specversion":"1.0","id":"1","source":"s","type":"t","subject":"k"`
	tests := []struct {
		name, body, data, ct, field string
	}{
		{"json data", `{` + base + `,"data":{"x":[1,2]}}`, `{"x":[1,2]}`, "application/json", ""},
		{"text data", `{` + base + `,"datacontenttype":"text/plain","data":"a\nb"}`, "a\nb", "text/plain", ""},
		{"base64", `{` + base + `,"data_base64":"AAH/"}`, "\x00\x01\xff", events.DefaultContentType, ""},
		{"no data", `{` + base + `}`, "", events.DefaultContentType, ""},
		{"text data not a string", `{` + base + `,"datacontenttype":"text/plain","data":5}`, "", "", "data"},
		{"both", `{` + base + `,"data":"x","data_base64":"eA=="}`, "", "", "data_base64"},
		{"bad base64", `{` + base + `,"data_base64":"%%"}`, "", "", "data_base64"},
		{"no subject", `{"specversion":"1.0","id":"1","source":"s","type":"t"}`, "", "", "subject"},
		{"no id", `{"specversion":"1.0","source":"s","type":"t","subject":"k"}`, "", "", "id"},
		{"old specversion", `{"specversion":"0.3","id":"1","source":"s","type":"t","subject":"k"}`, "", "", "specversion"},
		{"bad time", `{` + base + `,"time":"yesterday"}`, "", "", "time"},
		{"long version", `{` + base + `,"heraldversion":"` + strings.Repeat("v", events.MaxVersionLen+1) + `"}`, "", "", "heraldversion"},
		{"long source", `{"specversion":"1.0","id":"1","source":"` + strings.Repeat("s", events.MaxSourceLen+1) + `","type":"t","subject":"k"}`, "", "", "source"},
		{"not json", `{"specversion"`, "", "", "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := events.FromJSON([]byte(tt.body))
			if tt.field != "" {
				var fe *events.FieldError
				if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, events.ErrInvalidEvent) {
					t.Fatalf("err = %v, want a FieldError for %q", err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(e.Data) != tt.data || e.DataContentType != tt.ct {
				t.Errorf("data %q (%s), want %q (%s)", e.Data, e.DataContentType, tt.data, tt.ct)
			}
		})
	}
	_, err := events.FromJSONBatch([]byte(`[{` + base + `},{` + base + `,"type":"Bad"}]`))
	var fe *events.FieldError
	if !errors.As(err, &fe) || fe.Field != "[1].type" {
		t.Errorf("batch error = %v, want one naming [1].type", err)
	}
}

// BenchmarkFromMsg is the agent's per-event decoding cost.
func BenchmarkFromMsg(b *testing.B) {
	e := events.New("zk://ensemble", "zk.changed", "/services/web/config", []byte("payload"))
	e.Version = "12345"
	m := e.ToMsg()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.FromMsg(m); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFromMsg_RandomKeys: every key survives ToMsg/FromMsg, and a
// ce-subject that differs from the subject's key is refused.
func TestFromMsg_RandomKeys(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	alphabet := []string{"/", "a", "Z", "0", ".", "%", "%2E", ":", " ", "\n", "\x00", "\u00e9", "*", ">", "_", "~"}
	for range 20000 {
		var b strings.Builder
		for range 1 + r.Intn(8) {
			b.WriteString(alphabet[r.Intn(len(alphabet))])
		}
		key := b.String()
		m := events.New("s", "t.u", key, nil).ToMsg()
		got, err := events.FromMsg(m)
		if err != nil || got.Key != key {
			t.Fatalf("key %q: got %q, %v", key, got.Key, err)
		}
		m.Header.Set(events.HeaderSubject, events.HeaderKey(key+"x"))
		if _, err := events.FromMsg(m); !errors.Is(err, events.ErrSubjectMismatch) {
			t.Fatalf("key %q with ce-subject %q: err = %v, want ErrSubjectMismatch", key, key+"x", err)
		}
	}
}
