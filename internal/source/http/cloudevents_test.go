package httpsource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/heraldhq/herald/events"
	"github.com/nats-io/nats.go"
)

type batchReply struct {
	Events []publishReply `json:"events"`
	Error  string         `json:"error"`
	Field  string         `json:"field"`
}

func sdkEvent(id, typ, key string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource("/probe")
	e.SetType(typ)
	e.SetSubject(key)
	return e
}

// sendSDK sends e with the official SDK's HTTP client and returns the
// HTTP status.
func sendSDK(t *testing.T, ctx context.Context, c cloudevents.Client, e cloudevents.Event) int {
	t.Helper()
	res := c.Send(ctx, e)
	var hr *cehttp.Result
	if !cloudevents.ResultAs(res, &hr) {
		t.Fatalf("send %s: %v", e.ID(), res)
	}
	return hr.StatusCode
}

// TestHTTPSource_CloudEventsFromSDK: the three modes of the CloudEvents
// HTTP binding, sent by the official Go SDK, are stored with their exact
// attributes, data and keys.
func TestHTTPSource_CloudEventsFromSDK(t *testing.T) {
	d := startDispatcher(t, testConfig(t))
	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	url := "http://" + d.HTTPAddr() + "/v1/events"
	c, err := cloudevents.NewClientHTTP(cehttp.WithTarget(url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	bin := sdkEvent("b-1", "demo.x", "/demo/50%off")
	bin.SetExtension("heraldversion", "3")
	bin.SetTime(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
	if err := bin.SetData("application/json", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if code := sendSDK(t, cloudevents.WithEncodingBinary(ctx), c, bin); code != http.StatusCreated {
		t.Fatalf("binary mode: %d, want 201", code)
	}
	st := sdkEvent("s-1", "demo.x", "/caf\u00e9/a b")
	if err := st.SetData("text/plain", "h\u00e9llo\n"); err != nil {
		t.Fatal(err)
	}
	if code := sendSDK(t, cloudevents.WithEncodingStructured(ctx), c, st); code != http.StatusCreated {
		t.Fatalf("structured mode: %d, want 201", code)
	}
	b1 := sdkEvent("batch-1", "demo.y", "plain")
	b2 := sdkEvent("batch-2", "demo.y", "/raw")
	if err := b2.SetData("application/octet-stream", []byte{0, 1, 0xff}); err != nil {
		t.Fatal(err)
	}
	postBatch := func() (int, batchReply) {
		req, err := cehttp.NewHTTPRequestFromEvents(ctx, url, []cloudevents.Event{b1, b2})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r batchReply
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, r
	}
	code, br := postBatch()
	if code != http.StatusOK || len(br.Events) != 2 || br.Events[0].ID != "batch-1" || br.Events[1].StreamSeq != 4 || br.Events[1].Duplicate {
		t.Fatalf("batch = %d %+v, want 200 with both events stored", code, br)
	}

	msgs := readEvents(t, nc, 4)
	want := []struct {
		id, typ, key, ct, data, version string
	}{
		{"b-1", "demo.x", "/demo/50%off", "application/json", `{"a":1}`, "3"},
		{"s-1", "demo.x", "/caf\u00e9/a b", "text/plain", "h\u00e9llo\n", ""},
		{"batch-1", "demo.y", "plain", events.DefaultContentType, "", ""},
		{"batch-2", "demo.y", "/raw", "application/octet-stream", "\x00\x01\xff", ""},
	}
	for i, w := range want {
		m := msgs[i]
		if m.Subject != events.EventSubject(w.typ, w.key) {
			t.Errorf("event %s on subject %q, want %q", w.id, m.Subject, events.EventSubject(w.typ, w.key))
		}
		if got := m.Header.Get(events.HeaderSubject); got != w.key {
			t.Errorf("event %s: ce-subject %q, want the key verbatim %q", w.id, got, w.key)
		}
		e, err := events.FromMsg(m)
		if err != nil {
			t.Fatalf("event %s: %v", w.id, err)
		}
		if e.ID != w.id || e.Source != "/probe" || e.Key != w.key || e.DataContentType != w.ct || string(e.Data) != w.data || e.Version != w.version {
			t.Errorf("event %d = %+v (data %q), want %+v", i, e, e.Data, w)
		}
		if e.Time.IsZero() {
			t.Errorf("event %s has no time", w.id)
		}
	}
	if e, _ := events.FromMsg(msgs[0]); !e.Time.Equal(bin.Time()) {
		t.Errorf("binary event time %v, want %v", e.Time, bin.Time())
	}

	// Sending again is safe: every event is answered as a duplicate.
	if code := sendSDK(t, cloudevents.WithEncodingBinary(ctx), c, bin); code != http.StatusAccepted {
		t.Errorf("binary mode again: %d, want 202", code)
	}
	code, br = postBatch()
	if code != http.StatusOK || len(br.Events) != 2 || !br.Events[0].Duplicate || !br.Events[1].Duplicate {
		t.Errorf("batch again = %d %+v, want 200, both duplicates", code, br)
	}
	// (source, id) is the identity: another source may reuse an id.
	other := sdkEvent("batch-1", "demo.y", "plain")
	other.SetSource("/other-probe")
	if code := sendSDK(t, cloudevents.WithEncodingBinary(ctx), c, other); code != http.StatusCreated {
		t.Errorf("id batch-1 from another source: %d, want 201", code)
	}
	if n, err := streamMsgs(nc, events.EventsStream); err != nil || n != 5 {
		t.Errorf("stored events = %d, %v; want 5", n, err)
	}
}

// TestHTTPSource_CloudEventsBadRequest: the CloudEvents modes are checked
// like Herald's own body, naming the header or attribute at fault; a batch
// with one bad event stores none.
func TestHTTPSource_CloudEventsBadRequest(t *testing.T) {
	d := startDispatcher(t, testConfig(t))
	bin := map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "1", "Ce-Source": "/p", "Ce-Type": "demo.x", "Ce-Subject": "/k"}
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range bin {
			h[a] = b
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	ev := `"specversion":"1.0","id":"1","source":"/p","type":"demo.x","subject":"/k"`
	st := map[string]string{"Content-Type": "application/cloudevents+json"}
	batch := map[string]string{"Content-Type": "application/cloudevents-batch+json"}
	tests := []struct {
		name  string
		hdr   map[string]string
		body  string
		code  int
		field string
	}{
		{"binary: no ce-type", with("Ce-Type", ""), "", 400, "ce-type"},
		{"binary: bad ce-type", with("Ce-Type", "Demo X"), "", 400, "ce-type"},
		{"binary: no ce-subject", with("Ce-Subject", ""), "", 400, "ce-subject"},
		{"binary: no ce-source", with("Ce-Source", ""), "", 400, "ce-source"},
		{"binary: old specversion", with("Ce-Specversion", "0.3"), "", 400, "ce-specversion"},
		{"binary: bad ce-time", with("Ce-Time", "noon"), "", 400, "ce-time"},
		{"binary: bad ce-traceparent", with("Ce-Traceparent", "00-abc-01"), "", 400, "ce-traceparent"},
		{"binary: ce-tracestate alone", with("Ce-Tracestate", "v=1"), "", 400, "ce-tracestate"},
		{"structured: bad traceparent", st, `{` + ev + `,"traceparent":"00-abc-01"}`, 400, "traceparent"},
		{"binary: version too long", with("Ce-Heraldversion", strings.Repeat("9", 300)), "", 400, "ce-heraldversion"},
		{"binary: source too long", with("Ce-Source", strings.Repeat("s", 2000)), "", 400, "ce-source"},
		{"binary: key too long", with("Ce-Subject", strings.Repeat("\u00e9", 1000)), "", 400, "ce-subject"},
		{"binary: body too large", bin, strings.Repeat("x", 1<<20+1), 413, "body"},
		{"structured: not JSON", st, `{"specversion"`, 400, "body"},
		{"structured: no subject", st, `{"specversion":"1.0","id":"1","source":"/p","type":"demo.x"}`, 400, "subject"},
		{"structured: data and data_base64", st, `{` + ev + `,"data":"x","data_base64":"eA=="}`, 400, "data_base64"},
		{"structured: source too long", st, `{"specversion":"1.0","id":"1","source":"` + strings.Repeat("s", 2000) + `","type":"demo.x","subject":"/k"}`, 400, "source"},
		{"batch: not an array", batch, `{` + ev + `}`, 400, "body"},
		{"batch: second event bad", batch, `[{` + ev + `},{` + ev + `,"type":"Bad"}]`, 400, "[1].type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", "http://"+d.HTTPAddr()+"/v1/events", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var r publishReply
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatalf("answer %q: %v", raw, err)
			}
			if resp.StatusCode != tt.code || r.Field != tt.field || !strings.Contains(r.Error, tt.field) {
				t.Fatalf("= %d %s, want %d naming field %q", resp.StatusCode, bytes.TrimSpace(raw), tt.code, tt.field)
			}
		})
	}
	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if n, err := streamMsgs(nc, events.EventsStream); err != nil || n != 0 {
		t.Fatalf("bad requests stored %d events (%v)", n, err)
	}
}
