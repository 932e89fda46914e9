package reporthttp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/auth"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/eventreport"
	"github.com/heraldhq/herald/internal/eventreport/reporthttp"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

// server serves the handler over a real bus; as, when set, is the
// identity every request authenticated as.
func server(t *testing.T, js jetstream.JetStream, as *auth.Identity) (*httptest.Server, *reporthttp.Handler) {
	t.Helper()
	h := &reporthttp.Handler{JS: func() jetstream.JetStream { return js }, Poll: 20 * time.Millisecond}
	mux := http.NewServeMux()
	h.Mount(mux)
	var hh http.Handler = mux
	if as != nil {
		hh = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mux.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), *as)))
		})
	}
	srv := httptest.NewServer(hh)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Stop)
	return srv, h
}

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return resp.StatusCode, b.String()
}

func outcome(t *testing.T, js jetstream.JetStream, o events.Outcome) {
	t.Helper()
	b, _ := json.Marshal(o)
	if _, err := js.Publish(context.Background(), o.Subject(), b); err != nil {
		t.Fatal(err)
	}
}

// TestRollout_JSONAndStream: the summary of an event by id (or id and
// seq), 404 for an unknown id or another event's seq, 400 for a bad seq;
// with Accept: text/event-stream one data: line per change until done.
func TestRollout_JSONAndStream(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	now := time.Now().UTC()
	for _, h := range []string{"a", "b"} {
		testutil.Announce(t, js, events.Announcement{Name: h, Started: now.Add(-time.Hour), Heartbeat: now, Interval: 10,
			Watches: []events.WatchSummary{{Name: "w", On: "event:deploy.app", RunMode: "queue"}}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e := events.New("test://http", "deploy.app", "/app", nil)
	ack, err := bus.PublishEvent(ctx, js, e)
	if err != nil {
		t.Fatal(err)
	}
	outcome(t, js, events.Outcome{EventID: e.ID, Host: "a", Watch: "w", Status: events.StatusOK})
	srv, _ := server(t, js, nil)
	base := srv.URL + "/v1/events/" + e.ID + "/rollout"

	code, body := get(t, base)
	var sum eventreport.Summary
	if err := json.Unmarshal([]byte(body), &sum); code != 200 || err != nil || sum.EventID != e.ID || sum.Expected != 2 || sum.Decided != 1 || fmt.Sprint(sum.Missing) != "[b]" {
		t.Fatalf("GET: %d %s (%v)", code, body, err)
	}
	if code, body := get(t, fmt.Sprintf("%s?seq=%d&watch=w", base, ack.Sequence)); code != 200 || !strings.Contains(body, `"watch":"w"`) {
		t.Errorf("GET ?seq=&watch=: %d %s", code, body)
	}
	if code, body := get(t, fmt.Sprintf("%s?seq=%d", base, ack.Sequence+5)); code != 404 || !strings.Contains(body, "not at sequence") {
		t.Errorf("GET ?seq= of nothing: %d %s, want 404", code, body)
	}
	if code, body := get(t, srv.URL+"/v1/events/nope/rollout"); code != 404 || !strings.Contains(body, "not among the newest") {
		t.Errorf("GET unknown id: %d %s, want 404", code, body)
	}
	if code, body := get(t, base+"?seq=x"); code != 400 || !strings.Contains(body, `"field":"seq"`) {
		t.Errorf("GET ?seq=x: %d %s, want 400 naming seq", code, body)
	}

	// The stream: the summary as it stands (1 decided), then one more
	// once b decides, which ends it.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	next := func() eventreport.Summary {
		t.Helper()
		l, err := br.ReadString('\n')
		d, ok := strings.CutPrefix(l, "data: ")
		if err != nil || !ok {
			t.Fatalf("stream line %q, %v: want data: JSON", l, err)
		}
		var s eventreport.Summary
		if err := json.Unmarshal([]byte(d), &s); err != nil {
			t.Fatalf("data %q: %v", d, err)
		}
		if l, _ := br.ReadString('\n'); l != "\n" {
			t.Fatalf("want an empty line after data:, got %q", l)
		}
		return s
	}
	if first := next(); first.Decided != 1 || first.Done {
		t.Fatalf("first event %+v: want 1 decided", first)
	}
	outcome(t, js, events.Outcome{EventID: e.ID, Host: "b", Watch: "w", Status: events.StatusFailed})
	if last := next(); !last.Done || last.Counts["failed"] != 1 || last.Counts["ok"] != 1 {
		t.Errorf("second event %+v: want done, 1 ok and 1 failed", last)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after done: %q, %v; want the end of the stream", rest, err)
	}
}

// TestRollout_StopEndsStreams: Stop (the HTTP server shutting down) ends
// a stream that would otherwise wait for a host forever.
func TestRollout_StopEndsStreams(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	now := time.Now().UTC()
	testutil.Announce(t, js, events.Announcement{Name: "a", Started: now.Add(-time.Hour), Heartbeat: now, Interval: 10,
		Watches: []events.WatchSummary{{Name: "w", On: "event:deploy.app", RunMode: "queue"}}})
	e := events.New("test://http", "deploy.app", "/app", nil)
	if _, err := bus.PublishEvent(context.Background(), js, e); err != nil {
		t.Fatal(err)
	}
	srv, h := server(t, js, nil)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/events/"+e.ID+"/rollout", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if l, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "data: ") {
		t.Fatalf("first line %q, %v", l, err)
	}
	h.Stop()
	ended := make(chan error, 1)
	go func() {
		_, err := br.ReadString(0)
		ended <- err
	}()
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		t.Fatal("Stop did not end the stream")
	}
}

// TestRollout_ReadRight: an authenticated identity needs the read right:
// a publisher gets 403, a viewer the summary.
func TestRollout_ReadRight(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	e := events.New("test://http", "deploy.app", "/app", nil)
	if _, err := bus.PublishEvent(context.Background(), js, e); err != nil {
		t.Fatal(err)
	}
	pubSrv, _ := server(t, js, &auth.Identity{Name: "ci", Role: auth.RolePublisher})
	if code, body := get(t, pubSrv.URL+"/v1/events/"+e.ID+"/rollout"); code != 403 || !strings.Contains(body, "identity ci (publisher) may not read") {
		t.Errorf("as a publisher: %d %s, want 403", code, body)
	}
	viewSrv, _ := server(t, js, &auth.Identity{Name: "ops", Role: auth.RoleViewer})
	if code, body := get(t, viewSrv.URL+"/v1/events/"+e.ID+"/rollout"); code != 200 || !strings.Contains(body, `"done":true`) {
		t.Errorf("as a viewer: %d %s, want 200 (nobody expected: done)", code, body)
	}
}
