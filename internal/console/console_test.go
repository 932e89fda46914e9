package console_test

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
	"github.com/heraldhq/herald/events/call"
	"github.com/heraldhq/herald/internal/console"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

// serve runs a console over a real NATS server's streams.
func serve(tb testing.TB) (jetstream.JetStream, *httptest.Server) {
	tb.Helper()
	_, js := testutil.ConnectStreams(tb, testutil.RunNATS(tb))
	c, err := console.New(console.Config{JS: func() jetstream.JetStream { return js }, Poll: 50 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	srv := httptest.NewServer(mux)
	tb.Cleanup(func() { c.Stop(); srv.Close() })
	return js, srv
}

func get(tb testing.TB, url string) (int, string) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// announceFleet stores n agents' announcements, each with watches w1 and
// w2, and an outcome of w1 (failed for every tenth agent).
func announceFleet(tb testing.TB, js jetstream.JetStream, n int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	now := time.Now().UTC()
	for i := range n {
		name := fmt.Sprintf("agent-%04d", i)
		a := events.Announcement{Name: name, Version: "1.2.3", Started: now, Heartbeat: now, Interval: 600, Watches: []events.WatchSummary{
			{Name: "w1", On: "event:deploy.app", RunMode: "queue"}, {Name: "w2", On: "kv:config", RunMode: "discard"},
		}}
		b, _ := json.Marshal(a)
		if _, err := js.PublishAsync(events.AgentSubject(name), b); err != nil {
			tb.Fatal(err)
		}
		st, code := events.StatusOK, 0
		if i%10 == 0 {
			st, code = events.StatusFailed, 2
		}
		o, _ := json.Marshal(events.Outcome{EventID: "e1", EventType: "deploy.app", Key: "/app", Watch: "w1", Host: name, Status: st, ExitCode: &code})
		if _, err := js.PublishAsync(events.OutcomeSubject(name, "w1"), o); err != nil {
			tb.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		tb.Fatal("announcements not acked")
	}
}

// publishEvents stores n events: deploy.app on /app/web/N, and every
// fourth one other.thing on /x/N.
func publishEvents(tb testing.TB, js jetstream.JetStream, n int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		e := events.New("test", "deploy.app", fmt.Sprintf("/app/web/%d", i), []byte("v"))
		if i%4 == 3 {
			e = events.New("test", "other.thing", fmt.Sprintf("/x/%d", i), []byte("v"))
		}
		if _, err := js.PublishMsgAsync(e.ToMsg()); err != nil {
			tb.Fatal(err)
		}
		if i%1000 == 999 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				tb.Fatal("events not acked")
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		tb.Fatal("events not acked")
	}
}

// TestConsole_FleetPages: 250 agents are shown 100 a page, with totals of
// every agent's last outcomes, and the filter box narrows them on the
// server.
func TestConsole_FleetPages(t *testing.T) {
	js, srv := serve(t)
	announceFleet(t, js, 250)
	code, body := get(t, srv.URL+"/ui/")
	if code != 200 {
		t.Fatalf("GET /ui/: %d\n%s", code, body)
	}
	if n := strings.Count(body, `<tbody class="agent"`); n != console.FleetPage {
		t.Errorf("page 1 shows %d agents, want %d", n, console.FleetPage)
	}
	for _, want := range []string{"Page 1 of 3", "250 live", `<span class="st st-failed">25 failed</span>`, `<span class="st st-ok">225 ok</span>`, `href="/ui/?page=2"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /ui/ lacks %q", want)
		}
	}
	_, body = get(t, srv.URL+"/ui/?page=3")
	if n := strings.Count(body, `<tbody class="agent"`); n != 50 || !strings.Contains(body, `data-agent="agent-0249"`) {
		t.Errorf("page 3 shows %d agents, want the last 50", n)
	}
	_, body = get(t, srv.URL+"/ui/?q=agent-0042")
	if n := strings.Count(body, `<tbody class="agent"`); n != 1 || !strings.Contains(body, `data-agent="agent-0042"`) {
		t.Errorf("q=agent-0042 shows %d agents, want agent-0042 alone", n)
	}
}

// TestConsole_EventsFilters: /ui/events pages newest first and filters by
// a type glob and a key glob (package events' globs); a bad glob is a 400
// naming the field.
func TestConsole_EventsFilters(t *testing.T) {
	js, srv := serve(t)
	publishEvents(t, js, 400) // 300 deploy.app, 100 other.thing
	_, body := get(t, srv.URL+"/ui/events")
	if n := strings.Count(body, `<tr class="event"`); n != console.EventsPage {
		t.Errorf("page 1: %d rows, want %d", n, console.EventsPage)
	}
	if !strings.Contains(body, `data-seq="400"`) || !strings.Contains(body, "before=301") {
		t.Errorf("page 1 does not start at the newest event or link the older page:\n%s", body[strings.Index(body, "<table"):][:400]+body[strings.LastIndex(body, "</table>"):])
	}
	_, body = get(t, srv.URL+"/ui/events?type=other.*")
	if n := strings.Count(body, `<tr class="event"`); n != 100 || strings.Contains(body, "deploy.app</td>") {
		t.Errorf("type=other.*: %d rows, want the 100 other.thing events only", n)
	}
	_, body = get(t, srv.URL+"/ui/events?type=deploy.app&key=/app/web/1*")
	// 1, 10-19 and 100-199 but the other.thing ones (i%4 == 3).
	if n := strings.Count(body, `<tr class="event"`); n != 83 {
		t.Errorf("key=/app/web/1*: %d rows, want 83", n)
	}
	code, body := get(t, srv.URL+"/ui/events?key=/app/%5B")
	if code != http.StatusBadRequest || !strings.Contains(body, "key:") {
		t.Errorf("a bad key glob: %d, want 400 naming key\n%s", code, body)
	}
}

// TestConsole_LiveEvents: the live stream of /ui/events sends a new event
// as a row, with its sequence as the SSE id.
func TestConsole_LiveEvents(t *testing.T) {
	js, srv := serve(t)
	publishEvents(t, js, 3)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ui/live/events?type=deploy.app&after=3", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	skipped := events.New("test", "other.thing", "/x", nil)
	e := events.New("test", "deploy.app", "/app/<b>", nil)
	for _, ev := range []events.Event{skipped, e} {
		if _, err := js.PublishMsg(ctx, ev.ToMsg()); err != nil {
			t.Fatal(err)
		}
	}
	sc := bufio.NewScanner(resp.Body)
	var id string
	for sc.Scan() {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, "id: "); ok {
			id = s
		}
		if strings.Contains(line, skipped.ID) {
			t.Fatal("the live stream sent an event its type filter hides")
		}
		if strings.Contains(line, e.ID) {
			if id != "5" || !strings.Contains(line, "/app/&lt;b&gt;") {
				t.Errorf("row %q with id %q, want id 5 and the key escaped", line, id)
			}
			return
		}
	}
	t.Fatalf("stream ended without the event: %v", sc.Err())
}

// TestVerdicts_Bounded keeps the newest verdicts, newest first, and no
// args of a call.
func TestVerdicts_Bounded(t *testing.T) {
	r := console.NewVerdicts(3)
	for i := range 5 {
		r.RecordVerdict(call.Call{Job: fmt.Sprintf("a/b/c/%d", i), Args: map[string]string{"secret": "x"}}, "update_job", call.Verdict{CallID: fmt.Sprint(i)})
	}
	got := r.Recent(10)
	if len(got) != 3 || got[0].Verdict.CallID != "4" || got[2].Verdict.CallID != "2" || got[0].Method != "update_job" {
		t.Fatalf("Recent = %+v, want verdicts 4, 3, 2 of update_job", got)
	}
}

func benchmarkPage(b *testing.B, path string, setup func(testing.TB, jetstream.JetStream), want string) {
	js, srv := serve(b)
	setup(b, js)
	if _, body := get(b, srv.URL+path); !strings.Contains(body, want) {
		b.Fatalf("GET %s lacks %q", path, want)
	}
	b.ResetTimer()
	for b.Loop() {
		if code, _ := get(b, srv.URL+path); code != 200 {
			b.Fatalf("GET %s: %d", path, code)
		}
	}
}

// BenchmarkConsole_Fleet renders /ui/ for 1,000 announced agents (two
// watches each, 1,000 stored outcomes): every page reads all of them.
func BenchmarkConsole_Fleet(b *testing.B) {
	benchmarkPage(b, "/ui/", func(tb testing.TB, js jetstream.JetStream) { announceFleet(tb, js, 1000) }, "Page 1 of 10")
}

// BenchmarkConsole_Events renders /ui/events over 10,000 stored events,
// unfiltered and filtered by type and key (which reads back up to
// EventsScan events).
func BenchmarkConsole_Events(b *testing.B) {
	for _, path := range []string{"/ui/events", "/ui/events?type=deploy.app&key=/app/web/99*"} {
		b.Run(path, func(b *testing.B) {
			benchmarkPage(b, path, func(tb testing.TB, js jetstream.JetStream) { publishEvents(tb, js, 10_000) }, `<tr class="event"`)
		})
	}
}

// TestConsole_ShutdownEndsStreams: the HTTP server's Shutdown ends the
// open live streams (the console registers its Stop with the server that
// serves a stream), so a dispatcher stopping does not wait for browsers.
func TestConsole_ShutdownEndsStreams(t *testing.T) {
	_, srv := serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/ui/live/fleet", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatalf("no first message: %v", err)
	}
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a live stream open: %v", err)
	}
}
