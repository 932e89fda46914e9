package httpsource_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats.go"
)

func TestHTTPSource_PostEvent(t *testing.T) {
	d := startDispatcher(t, testConfig(t))
	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	binary := []byte{0x00, 0x01, 0xfe, 0xff, 'h', 'i', '\n'}
	before := time.Now().Add(-time.Second)
	code, r := post(t, d, fmt.Sprintf(`{
		"type": "git.push",
		"key": "/repos/herald/refs/heads/main",
		"data_base64": %q,
		"datacontenttype": "application/x-git-ref",
		"version": "42",
		"source": "ci://builder"
	}`, base64.StdEncoding.EncodeToString(binary)))
	if code != http.StatusCreated || r.Duplicate || r.StreamSeq != 1 || r.ID == "" {
		t.Fatalf("POST = %d %+v, want 201 seq 1", code, r)
	}
	code, r2 := post(t, d, `{"type":"git.push","key":"plain key","data":"hello {json} text"}`)
	if code != http.StatusCreated || r2.StreamSeq != 2 {
		t.Fatalf("second POST = %d %+v", code, r2)
	}

	msgs := readEvents(t, nc, 2)
	m := msgs[0]
	if want := events.EventSubject("git.push", "/repos/herald/refs/heads/main"); m.Subject != want {
		t.Errorf("subject = %q, want %q", m.Subject, want)
	}
	for h, want := range map[string]string{
		events.HeaderSpecVersion:     "1.0",
		events.HeaderID:              r.ID,
		events.HeaderSource:          "ci://builder",
		events.HeaderType:            "git.push",
		events.HeaderSubject:         "/repos/herald/refs/heads/main",
		events.HeaderDataContentType: "application/x-git-ref",
		events.HeaderVersion:         "42",
	} {
		if got := m.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if string(m.Data) != string(binary) {
		t.Errorf("payload = %q, want the raw bytes %q (not base64)", m.Data, binary)
	}
	e, err := events.FromMsg(m)
	if err != nil {
		t.Fatalf("stored message is not a valid CloudEvent: %v", err)
	}
	if e.Time.Before(before) || e.Time.After(time.Now().Add(time.Second)) {
		t.Errorf("event time %v is not now", e.Time)
	}

	e2, err := events.FromMsg(msgs[1])
	if err != nil {
		t.Fatal(err)
	}
	if string(e2.Data) != "hello {json} text" || e2.Key != "plain key" {
		t.Errorf("second event = key %q data %q", e2.Key, e2.Data)
	}
	if !strings.HasPrefix(e2.Source, "herald://dispatcher/") {
		t.Errorf("default source = %q, want herald://dispatcher/<hostname>", e2.Source)
	}
	if e2.DataContentType != events.DefaultContentType {
		t.Errorf("default datacontenttype = %q", e2.DataContentType)
	}
}

func TestHTTPSource_Duplicate(t *testing.T) {
	d := startDispatcher(t, testConfig(t))
	body := `{"type":"zk.node","key":"/app/config","data":"v7","version":"7"}`
	code, first := post(t, d, body)
	if code != http.StatusCreated || first.Duplicate {
		t.Fatalf("first POST = %d %+v", code, first)
	}
	code, again := post(t, d, body)
	if code != http.StatusAccepted || !again.Duplicate {
		t.Fatalf("repeat POST = %d %+v, want 202 duplicate", code, again)
	}
	if again.StreamSeq != first.StreamSeq || again.ID != first.ID {
		t.Errorf("duplicate answered %+v, want the stored event %+v", again, first)
	}
	// A new version of the same key is a new event.
	code, next := post(t, d, `{"type":"zk.node","key":"/app/config","data":"v8","version":"8"}`)
	if code != http.StatusCreated || next.Duplicate || next.StreamSeq != first.StreamSeq+1 {
		t.Fatalf("new version POST = %d %+v", code, next)
	}
	// Without a version every publish is new.
	for range 2 {
		if code, r := post(t, d, `{"type":"zk.node","key":"/app/other"}`); code != http.StatusCreated || r.Duplicate {
			t.Fatalf("unversioned POST = %d %+v", code, r)
		}
	}
	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if n, err := streamMsgs(nc, events.EventsStream); err != nil || n != 4 {
		t.Fatalf("stored events = %d, %v; want 4", n, err)
	}
}

func TestHTTPSource_BadRequest(t *testing.T) {
	d := startDispatcher(t, testConfig(t))
	tests := []struct {
		name  string
		body  string
		code  int
		field string
	}{
		{"bad JSON", `{"type": "a",`, 400, "body"},
		{"not JSON", `type=a&key=b`, 400, "body"},
		{"empty body", ``, 400, "body"},
		{"not an object", `["a"]`, 400, "body"},
		{"trailing data", `{"type":"a","key":"b"} {"x":1}`, 400, "body"},
		{"unknown field", `{"type":"a","key":"b","subject":"c"}`, 400, "subject"},
		{"missing type", `{"key":"b"}`, 400, "type"},
		{"bad type", `{"type":"Git Push","key":"b"}`, 400, "type"},
		{"missing key", `{"type":"a"}`, 400, "key"},
		{"key of the wrong JSON type", `{"type":"a","key":5}`, 400, "key"},
		{"data and data_base64", `{"type":"a","key":"b","data":"x","data_base64":"eA=="}`, 400, "data_base64"},
		{"bad base64", `{"type":"a","key":"b","data_base64":"%%%"}`, 400, "data_base64"},
		{"bad content type", `{"type":"a","key":"b","datacontenttype":"not a type/"}`, 400, "datacontenttype"},
		{"key too long", fmt.Sprintf(`{"type":"a","key":%q}`, strings.Repeat("é", 1000)), 400, "key"},
		{"version too long", fmt.Sprintf(`{"type":"a","key":"b","version":%q}`, strings.Repeat("7", 70000)), 400, "version"},
		{"source too long", fmt.Sprintf(`{"type":"a","key":"b","source":%q}`, strings.Repeat("s", 70000)), 400, "source"},
		{"content type too long", fmt.Sprintf(`{"type":"a","key":"b","datacontenttype":"text/%s"}`, strings.Repeat("x", 70000)), 400, "datacontenttype"},
		{"version with a newline", `{"type":"a","key":"b","version":"1\n2"}`, 400, "version"},
		{"body too large", fmt.Sprintf(`{"type":"a","key":"b","data":%q}`, strings.Repeat("x", 1<<20)), 413, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, r := post(t, d, tt.body)
			if code != tt.code || r.Field != tt.field || r.Error == "" {
				t.Fatalf("POST %.60s = %d %+v, want %d naming field %q", tt.body, code, r, tt.code, tt.field)
			}
			if !strings.Contains(r.Error, tt.field) {
				t.Errorf("error %q does not name the field %q", r.Error, tt.field)
			}
		})
	}

	t.Run("wrong method", func(t *testing.T) {
		code, _ := get(t, d, "/v1/events")
		if code != http.StatusMethodNotAllowed {
			t.Fatalf("GET /v1/events = %d, want 405", code)
		}
	})

	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if n, err := streamMsgs(nc, events.EventsStream); err != nil || n != 0 {
		t.Fatalf("bad requests stored %d events (%v)", n, err)
	}
	_, scrape := get(t, d, "/metrics")
	if v, _ := metricValue(scrape, `herald_dispatcher_publish_errors_total{source="http"}`); v != "0" {
		t.Errorf("client errors counted as publish errors: %s", v)
	}
}
