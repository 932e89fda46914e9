package eventreport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/eventreport"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

func ws(name, on, key string, types ...string) events.WatchSummary {
	return events.WatchSummary{Name: name, On: on, Key: key, Types: types, RunMode: "queue", File: name + ".yaml"}
}

func ann(name string, started, heartbeat time.Time, watches ...events.WatchSummary) events.Announcement {
	return events.Announcement{Name: name, Version: "test", Started: started, Heartbeat: heartbeat, Interval: 10, Watches: watches}
}

func storeOutcome(t *testing.T, js jetstream.JetStream, subject string, o events.Outcome) {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, subject, b); err != nil {
		t.Fatal(err)
	}
}

// publish stores an event and returns it as the report sees it.
func publish(t *testing.T, js jetstream.JetStream, typ, key string) eventreport.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e := events.New("test://report", typ, key, nil)
	ack, err := bus.PublishEvent(ctx, js, e)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := eventreport.Find(ctx, js, e.ID, ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func code(n int) *int { return &n }

// TestReport_ExpectedHosts: a host is expected when it was live when the
// event was stored and holds a watch whose announced on:, key: and types:
// select it; one that joined later, went stale before, announced on
// another's subject or holds no such watch is not.
func TestReport_ExpectedHosts(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	now := time.Now().UTC()
	hour := now.Add(-time.Hour)
	testutil.Announce(t, js, ann("web-1", hour, now, ws("deploy", "event:deploy.app", "/app/**")))
	testutil.Announce(t, js, ann("web-2", hour, now, ws("deploy", "event:deploy.app", ""), ws("other", "event:deploy.db", "")))
	testutil.Announce(t, js, ann("web-3", hour, now, ws("deploy", "event:deploy.app", "/db/**")))             // key glob does not match
	testutil.Announce(t, js, ann("zk-1", hour, now, ws("zk", "zk:/app/web", "", "zk.deleted")))               // types exclude zk.changed
	testutil.Announce(t, js, ann("zk-2", hour, now, ws("zk", "zk:/app/web", "")))                             // default types
	testutil.Announce(t, js, ann("stale", hour, now.Add(-time.Minute), ws("deploy", "event:deploy.app", ""))) // 3 × 10 s gone
	stopping := ann("stopped", hour, now, ws("deploy", "event:deploy.app", ""))
	stopping.Stopping = true
	testutil.Announce(t, js, stopping)
	forged := ann("web-9", hour, now, ws("deploy", "event:deploy.app", ""))
	b, _ := json.Marshal(forged)
	if _, err := js.Publish(context.Background(), events.AgentSubject("web-1x"), b); err != nil {
		t.Fatal(err)
	}

	ev := publish(t, js, "deploy.app", "/app/web")
	// Joined after the event was stored.
	testutil.Announce(t, js, ann("late", time.Now().UTC().Add(time.Second), time.Now().UTC().Add(time.Second), ws("deploy", "event:deploy.app", "")))
	zev := publish(t, js, "zk.changed", "/app/web")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := eventreport.Read(ctx, js, eventreport.Config{Event: ev})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"web-1", "web-2"}; fmt.Sprint(got.Missing) != fmt.Sprint(want) || got.Expected != 2 || got.Done {
		t.Fatalf("deploy.app: expected %d, missing %v, done %v; want 2, %v, false", got.Expected, got.Missing, got.Done, want)
	}
	if got.Counts[eventreport.StatusPending] != 2 || got.Hosts[0].Status != eventreport.StatusPending {
		t.Errorf("counts %v, hosts %+v: want 2 pending", got.Counts, got.Hosts)
	}
	zgot, err := eventreport.Read(ctx, js, eventreport.Config{Event: zev})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(zgot.Missing) != "[zk-2]" {
		t.Errorf("zk.changed: missing %v, want [zk-2]", zgot.Missing)
	}
	one, err := eventreport.Read(ctx, js, eventreport.Config{Event: ev, AgentCheck: func(n string) bool { return n != "web-1" }})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(one.Missing) != "[web-2]" {
		t.Errorf("with an agent check refusing web-1: missing %v, want [web-2]", one.Missing)
	}
}

// TestReport_Outcomes: each expected host is decided by its outcome of the
// event, or by a newer event's outcome that lists it as superseded; an
// outcome of another event, of an unexpected host, or on another host's
// subject decides nothing; a later superseded never replaces a run status.
func TestReport_Outcomes(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	now := time.Now().UTC()
	for _, h := range []string{"a", "b", "c", "d"} {
		testutil.Announce(t, js, ann(h, now.Add(-time.Hour), now, ws("w", "event:deploy.app", "")))
	}
	ev := publish(t, js, "deploy.app", "/app")
	out := func(host string, o events.Outcome) {
		o.Host, o.Watch, o.EventType, o.Key = host, "w", "deploy.app", "/app"
		storeOutcome(t, js, events.OutcomeSubject(host, "w"), o)
	}
	var stderr strings.Builder
	for i := range 15 {
		fmt.Fprintf(&stderr, "line %d\n", i)
	}
	out("a", events.Outcome{EventID: "other", Status: events.StatusFailed, ExitCode: code(9)})
	out("a", events.Outcome{EventID: ev.ID, Status: events.StatusOK, ExitCode: code(0), DurationMS: 12, Attempts: 1})
	out("a", events.Outcome{EventID: "newer", Status: events.StatusOK, Superseded: []string{ev.ID}})
	out("b", events.Outcome{EventID: ev.ID, Status: events.StatusFailed, ExitCode: code(3), Stdout: stderr.String(), Stderr: stderr.String(), Attempts: 2})
	out("c", events.Outcome{EventID: "newer", Status: events.StatusFailed, Superseded: []string{"older", ev.ID}})
	// d's outcome on c's subject is not d's.
	storeOutcome(t, js, events.OutcomeSubject("c", "w"), events.Outcome{EventID: ev.ID, Host: "d", Watch: "w", Status: events.StatusOK})
	out("x", events.Outcome{EventID: ev.ID, Status: events.StatusOK})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := eventreport.Read(ctx, js, eventreport.Config{Event: ev})
	if err != nil {
		t.Fatal(err)
	}
	byHost := map[string]eventreport.Host{}
	for _, h := range got.Hosts {
		byHost[h.Host] = h
	}
	if h := byHost["a"]; h.Status != "ok" || h.ExitCode == nil || *h.ExitCode != 0 || h.DurationMS != 12 || h.Reported.IsZero() {
		t.Errorf("a: %+v, want ok, exit 0, 12 ms, reported", h)
	}
	wantTail := strings.TrimSuffix(stderr.String()[strings.Index(stderr.String(), "line 5\n"):], "\n")
	if h := byHost["b"]; h.Status != "failed" || *h.ExitCode != 3 || h.Stderr != wantTail || h.Stdout != wantTail || !h.Failed() {
		t.Errorf("b: %+v, want failed, exit 3, stdout and stderr %q", h, wantTail)
	}
	if h := byHost["c"]; h.Status != "superseded" || h.SupersededBy != "newer" || h.Failed() {
		t.Errorf("c: %+v, want superseded by newer", h)
	}
	if h := byHost["d"]; h.Status != eventreport.StatusPending {
		t.Errorf("d: %+v, want pending", h)
	}
	if got.Expected != 4 || got.Decided != 3 || got.Done || fmt.Sprint(got.Missing) != "[d]" {
		t.Errorf("expected %d decided %d done %v missing %v; want 4 3 false [d]", got.Expected, got.Decided, got.Done, got.Missing)
	}
	if got.Counts["ok"] != 1 || got.Counts["failed"] != 1 || got.Counts["superseded"] != 1 || got.Counts["pending"] != 1 || got.Counts["halted"] != 0 {
		t.Errorf("counts %v", got.Counts)
	}
	if len(got.Failures()) != 1 || got.Failures()[0].Host != "b" {
		t.Errorf("failures %+v, want b", got.Failures())
	}
	if got.LastOutcome.IsZero() || got.ToLastOutcomeMS <= 0 {
		t.Errorf("last outcome %v, %v ms: want set", got.LastOutcome, got.ToLastOutcomeMS)
	}
	w, err := eventreport.Read(ctx, js, eventreport.Config{Event: ev, Watch: "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if w.Expected != 0 || !w.Done {
		t.Errorf("--watch nope: expected %d done %v, want 0 true", w.Expected, w.Done)
	}
}

// TestFollow_UntilDone: Follow reports each change, reads outcomes stored
// while it runs (from OutcomesFrom), and returns once every host decided;
// with its context ended first, it returns what is missing.
func TestFollow_UntilDone(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	now := time.Now().UTC()
	testutil.Announce(t, js, ann("a", now.Add(-time.Hour), now, ws("w", "event:deploy.app", "")))
	testutil.Announce(t, js, ann("b", now.Add(-time.Hour), now, ws("w", "event:deploy.app", "")))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.OutcomesStream)
	if err != nil {
		t.Fatal(err)
	}
	from := st.CachedInfo().State.LastSeq + 1
	ev := publish(t, js, "deploy.app", "/app")

	var mu sync.Mutex
	var seen []eventreport.Summary
	done := make(chan eventreport.Summary, 1)
	go func() {
		s, err := eventreport.Follow(ctx, js, eventreport.Config{Event: ev, OutcomesFrom: from, Poll: 20 * time.Millisecond}, func(s eventreport.Summary) {
			mu.Lock()
			seen = append(seen, s)
			mu.Unlock()
		})
		if err != nil {
			t.Error(err)
		}
		done <- s
	}()
	decided := func(n int) func() error {
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(seen) == 0 || seen[len(seen)-1].Decided != n {
				return fmt.Errorf("%d summaries, want the last with %d decided", len(seen), n)
			}
			return nil
		}
	}
	testutil.Eventually(t, 20*time.Second, decided(0))
	storeOutcome(t, js, events.OutcomeSubject("a", "w"), events.Outcome{EventID: ev.ID, Host: "a", Watch: "w", Status: events.StatusOK})
	testutil.Eventually(t, 20*time.Second, decided(1))
	storeOutcome(t, js, events.OutcomeSubject("b", "w"), events.Outcome{EventID: ev.ID, Host: "b", Watch: "w", Status: events.StatusHalted})
	var last eventreport.Summary
	select {
	case last = <-done:
	case <-ctx.Done():
		t.Fatal("Follow did not return once every host decided")
	}
	if !last.Done || last.Counts["halted"] != 1 || len(seen) != 3 {
		t.Errorf("last %+v after %d summaries: want done with 1 halted, 3 summaries", last, len(seen))
	}

	// Nobody answers this one.
	ev2 := publish(t, js, "deploy.app", "/app")
	sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer scancel()
	got, err := eventreport.Follow(sctx, js, eventreport.Config{Event: ev2, Poll: 20 * time.Millisecond}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || got.Done || fmt.Sprint(got.Missing) != "[a b]" {
		t.Errorf("Follow until its deadline: %v, done %v, missing %v; want the deadline, false, [a b]", err, got.Done, got.Missing)
	}
}

// TestFind: an event is found by id at its sequence, or by id alone
// among the newest events; another id at a sequence is not found.
func TestFind(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ids []string
	var seqs []uint64
	for i := range 300 {
		e := events.New("test://find", "deploy.app", fmt.Sprintf("/k/%d", i), nil)
		ack, err := bus.PublishEvent(ctx, js, e)
		if err != nil {
			t.Fatal(err)
		}
		ids, seqs = append(ids, e.ID), append(seqs, ack.Sequence)
	}
	ev, err := eventreport.Find(ctx, js, ids[280], 0)
	if err != nil || ev.Seq != seqs[280] || ev.Key != "/k/280" || ev.Type != "deploy.app" || ev.Stored.IsZero() {
		t.Fatalf("Find(id) = %+v, %v; want seq %d, key /k/280", ev, err, seqs[280])
	}
	if ev, err := eventreport.Find(ctx, js, ids[3], seqs[3]); err != nil || ev.Key != "/k/3" {
		t.Errorf("Find(id, seq) = %+v, %v", ev, err)
	}
	if _, err := eventreport.Find(ctx, js, ids[3], seqs[4]); !errors.Is(err, eventreport.ErrNotFound) {
		t.Errorf("Find(id, another's seq): %v, want ErrNotFound", err)
	}
	if _, err := eventreport.Find(ctx, js, "nope", 0); !errors.Is(err, eventreport.ErrNotFound) {
		t.Errorf("Find(unknown): %v, want ErrNotFound", err)
	}
	if _, err := eventreport.Find(ctx, js, "nope", 99999); !errors.Is(err, eventreport.ErrNotFound) {
		t.Errorf("Find(unknown, past the end): %v, want ErrNotFound", err)
	}
}

// TestReport_PastTheByteLimit: outcomes big enough that one batched read
// stops at its byte limit before its count do not hide the ones after
// them.
func TestReport_PastTheByteLimit(t *testing.T) {
	s := testutil.RunNATS(t)
	_, js := testutil.ConnectStreams(t, s)
	now := time.Now().UTC()
	testutil.Announce(t, js, ann("a", now.Add(-time.Hour), now, ws("w", "event:deploy.app", "")))
	ev := publish(t, js, "deploy.app", "/app")
	big := strings.Repeat("x", events.TailBytes)
	for i := range 300 {
		host := fmt.Sprintf("other-%d", i)
		storeOutcome(t, js, events.OutcomeSubject(host, "w"), events.Outcome{EventID: ev.ID, Host: host, Watch: "w", Status: events.StatusOK, Stdout: big, Stderr: big})
	}
	storeOutcome(t, js, events.OutcomeSubject("a", "w"), events.Outcome{EventID: ev.ID, Host: "a", Watch: "w", Status: events.StatusOK})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := eventreport.Read(ctx, js, eventreport.Config{Event: ev})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Done || got.Counts["ok"] != 1 {
		t.Errorf("after 300 big outcomes of other hosts: %+v, want a decided ok", got)
	}
}
