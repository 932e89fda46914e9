package handlers_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/handlers"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/heraldhq/herald/internal/watch"
)

// TestEngine_Run_EachOutcome proves that every handler whose match fits
// runs once per outcome, with the outcome on stdin and HERALD_* variables,
// and that the watch glob, host glob and status list each leave the others
// out.
func TestEngine_Run_EachOutcome(t *testing.T) {
	js := newBus(t)
	dir := t.TempDir()
	vars := []string{"HERALD_HANDLER", "HERALD_WATCH", "HERALD_HOST", "HERALD_STATUS", "HERALD_EXIT_CODE", "HERALD_EVENT_ID", "HERALD_KEY"}
	file := func(n string) string { return filepath.Join(dir, n) }
	startEngine(t, js, "disp-1",
		handlers.Handler{Name: "any", Exec: appender(vars...), Env: envOut(file("any"))},
		handlers.Handler{Name: "stdin", Exec: watch.Command{Shell: `cat > "$DIR/stdin-$HERALD_EVENT_ID"`}, Env: map[string]string{"DIR": dir}},
		handlers.Handler{Name: "git", Match: handlers.Match{Watch: "git-*"}, Exec: appender("HERALD_EVENT_ID"), Env: envOut(file("git"))},
		handlers.Handler{Name: "web", Match: handlers.Match{Host: "web-?"}, Exec: appender("HERALD_EVENT_ID"), Env: envOut(file("web"))},
		handlers.Handler{Name: "bad", Match: handlers.Match{Status: []string{"failed", "timeout"}}, Exec: appender("HERALD_EVENT_ID"), Env: envOut(file("bad"))},
		handlers.Handler{Name: "web-git-failed", Match: handlers.Match{Watch: "git-pull", Host: "web-*", Status: []string{"failed"}},
			Exec: appender("HERALD_EVENT_ID"), Env: envOut(file("web-git-failed"))},
	)
	e1 := publish(t, js, events.Outcome{EventID: "e1", Watch: "git-pull", Host: "web-1", Status: events.StatusOK, ExitCode: exitCode(0)})
	publish(t, js, events.Outcome{EventID: "e2", Watch: "git-pull", Host: "db-1", Status: events.StatusFailed, ExitCode: exitCode(2)})
	publish(t, js, events.Outcome{EventID: "e3", Watch: "deploy", Host: "web-2", Status: events.StatusTimeout, Signal: "SIGKILL"})
	publish(t, js, events.Outcome{EventID: "e4", Watch: "git-pull", Host: "web-10", Status: events.StatusFailed, ExitCode: exitCode(1)})

	waitLines(t, file("any"),
		"any|git-pull|web-1|ok|0|e1|/git/head",
		"any|git-pull|db-1|failed|2|e2|/git/head",
		"any|deploy|web-2|timeout||e3|/git/head",
		"any|git-pull|web-10|failed|1|e4|/git/head")
	waitLines(t, file("git"), "e1", "e2", "e4")
	waitLines(t, file("web"), "e1", "e3") // web-? does not match web-10
	waitLines(t, file("bad"), "e2", "e3", "e4")
	waitLines(t, file("web-git-failed"), "e4")
	drained(t, js)
	testutil.Eventually(t, wait, func() error {
		_, err := os.Stat(filepath.Join(dir, "stdin-e4"))
		return err
	})
	got, err := os.ReadFile(filepath.Join(dir, "stdin-e1"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, e1) {
		t.Fatalf("stdin = %s\nwant the outcome %s", got, e1)
	}
	// Nothing ran twice, and the handlers' own outcomes ran nothing.
	for _, n := range []string{"any", "git", "web", "bad", "web-git-failed"} {
		if l := lines(t, file(n)); len(l) != map[string]int{"any": 4, "git": 3, "web": 2, "bad": 3, "web-git-failed": 1}[n] {
			t.Errorf("%s ran %d times: %q", n, len(l), l)
		}
	}
	if oc := handlerOutcomes(t, js, "disp-1", "any"); len(oc) != 4 || oc[0].Status != events.StatusOK {
		t.Fatalf("outcomes of handler any = %+v, want 4 ok", oc)
	}
}

// TestEngine_Run_HandlerFailure proves that a failing handler is recorded
// as an outcome of its own, does not stop later outcomes, and that handler
// outcomes never feed handlers.
func TestEngine_Run_HandlerFailure(t *testing.T) {
	js := newBus(t)
	rec := filepath.Join(t.TempDir(), "rec")
	startEngine(t, js, "disp-1",
		handlers.Handler{Name: "boom", Match: handlers.Match{Watch: "git-pull"}, Exec: watch.Command{Shell: "echo broken >&2; exit 3"}},
		handlers.Handler{Name: "missing", Match: handlers.Match{Watch: "git-pull"}, Exec: watch.Command{Argv: []string{"/nonexistent/notify"}}},
		handlers.Handler{Name: "slow", Match: handlers.Match{Watch: "git-pull"}, Exec: watch.Command{Shell: "exec sleep 30"}, Timeout: watch.Duration{D: 200 * time.Millisecond}},
		handlers.Handler{Name: "record", Exec: appender("HERALD_WATCH", "HERALD_EVENT_ID"), Env: envOut(rec)},
	)
	publish(t, js, events.Outcome{EventID: "e1", Watch: "git-pull", Host: "web-1", Status: events.StatusOK})
	publish(t, js, events.Outcome{EventID: "e2", Watch: "git-pull", Host: "web-1", Status: events.StatusOK})
	waitLines(t, rec, "git-pull|e1", "git-pull|e2")
	drained(t, js)
	var boom []events.Outcome
	testutil.Eventually(t, wait, func() error {
		if boom = handlerOutcomes(t, js, "disp-1", "boom"); len(boom) != 2 {
			return errorf("%d outcomes of boom, want 2", len(boom))
		}
		return nil
	})
	for _, o := range boom {
		if o.Status != events.StatusFailed || o.ExitCode == nil || *o.ExitCode != 3 || o.Stderr != "broken\n" ||
			o.Watch != "handler:boom" || o.Host != "disp-1" || o.Key != "/git/head" {
			t.Errorf("boom outcome = %+v", o)
		}
	}
	if got := []string{boom[0].EventID, boom[1].EventID}; !slices.Contains(got, "e1") || !slices.Contains(got, "e2") {
		t.Errorf("boom outcomes for %q", got)
	}
	if o := handlerOutcomes(t, js, "disp-1", "missing"); len(o) != 2 || o[0].Status != events.StatusError || o[0].Error == "" {
		t.Errorf("missing outcomes = %+v, want 2 with status error", o)
	}
	if o := handlerOutcomes(t, js, "disp-1", "slow"); len(o) != 2 || o[0].Status != events.StatusTimeout {
		t.Errorf("slow outcomes = %+v, want 2 with status timeout", o)
	}
	// "record" matches every watch, yet the 8 handler outcomes ran nothing.
	if l := lines(t, rec); len(l) != 2 {
		t.Fatalf("record ran for %q, want only the agent outcomes", l)
	}
}

// TestEngine_Run_HTTP proves that an http handler POSTs the outcome with
// the handler's variables as Herald-* headers.
func TestEngine_Run_HTTP(t *testing.T) {
	js := newBus(t)
	type req struct {
		body    []byte
		handler string
		status  string
	}
	got := make(chan req, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- req{b, r.Header.Get("Herald-Handler"), r.Header.Get("Herald-Status")}
	}))
	defer srv.Close()
	startEngine(t, js, "disp-1", handlers.Handler{Name: "hook", Match: handlers.Match{Status: []string{"failed"}}, HTTP: srv.URL + "/page"})
	publish(t, js, events.Outcome{EventID: "e1", Watch: "w", Host: "h", Status: events.StatusOK})
	data := publish(t, js, events.Outcome{EventID: "e2", Watch: "w", Host: "h", Status: events.StatusFailed})
	select {
	case r := <-got:
		if !bytes.Equal(r.body, data) || r.handler != "hook" || r.status != "failed" {
			t.Fatalf("request: body %s handler %q status %q", r.body, r.handler, r.status)
		}
	case <-time.After(wait):
		t.Fatal("no request")
	}
	drained(t, js)
	if len(got) != 0 {
		t.Fatalf("%d more requests, want none (e1 is ok)", len(got))
	}
	testutil.Eventually(t, wait, func() error {
		if o := handlerOutcomes(t, js, "disp-1", "hook"); len(o) != 1 || o[0].Status != events.StatusOK {
			return errorf("hook outcomes = %+v, want one ok", o)
		}
		return nil
	})
}

// TestEngine_SetHandlers proves that handlers are swapped at runtime and
// that an invalid set is refused whole, keeping the previous one.
func TestEngine_SetHandlers(t *testing.T) {
	js := newBus(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	ha := handlers.Handler{Name: "a", Exec: appender("HERALD_HANDLER", "HERALD_EVENT_ID"), Env: envOut(a)}
	hb := handlers.Handler{Name: "b", Exec: appender("HERALD_HANDLER", "HERALD_EVENT_ID"), Env: envOut(b)}
	d := startEngine(t, js, "disp-1", ha)
	publish(t, js, events.Outcome{EventID: "e1", Watch: "w", Host: "h", Status: events.StatusOK})
	waitLines(t, a, "a|e1")
	drained(t, js)

	if err := d.eng.SetHandlers([]handlers.Handler{hb}); err != nil {
		t.Fatal(err)
	}
	publish(t, js, events.Outcome{EventID: "e2", Watch: "w", Host: "h", Status: events.StatusOK})
	waitLines(t, b, "b|e2")
	drained(t, js)

	t.Run("invalid set keeps the previous one", func(t *testing.T) {
		if err := d.eng.SetHandlers([]handlers.Handler{ha, ha}); err == nil {
			t.Fatal("duplicate names accepted")
		}
		if err := d.eng.SetHandlers([]handlers.Handler{ha, {Name: "x"}}); err == nil {
			t.Fatal("a handler with neither exec nor http accepted")
		}
		publish(t, js, events.Outcome{EventID: "e3", Watch: "w", Host: "h", Status: events.StatusOK})
		waitLines(t, b, "b|e2", "b|e3")
		drained(t, js)
	})
	waitLines(t, a, "a|e1")
}

// TestEngine_Run_Shared proves that two dispatchers sharing the durable
// consumer run each handler once per outcome, and fire each all_reported
// aggregate once although its outcomes are spread over both.
func TestEngine_Run_Shared(t *testing.T) {
	js := newBus(t)
	dir := t.TempDir()
	each, agg := filepath.Join(dir, "each"), filepath.Join(dir, "agg")
	hs := []handlers.Handler{
		{Name: "each", Match: handlers.Match{Watch: "git-pull"}, Exec: appender("HERALD_EVENT_ID", "HERALD_HOST"), Env: envOut(each)},
		{Name: "summary", When: handlers.WhenAllReported, Match: handlers.Match{Watch: "git-pull"},
			Exec: appender("HERALD_EVENT_ID", "HERALD_COMPLETE", "HERALD_REPORTED", "HERALD_COUNT_OK"), Env: envOut(agg)},
	}
	announce(t, js, events.Announcement{Name: "web-1"}, "git-pull")
	announce(t, js, events.Announcement{Name: "web-2"}, "git-pull")
	announce(t, js, events.Announcement{Name: "web-3"}, "git-pull")
	// deploy aggregates expire (web-9 never reports): both dispatchers
	// check them at every tick, and only one may run each.
	expired := filepath.Join(dir, "expired")
	announce(t, js, events.Announcement{Name: "web-9"}, "deploy")
	hs = append(hs, handlers.Handler{Name: "expiry", When: handlers.WhenAllReported, Match: handlers.Match{Watch: "deploy"},
		Wait: watch.Duration{D: time.Second}, Exec: appender("HERALD_EVENT_ID", "HERALD_COMPLETE"), Env: envOut(expired)})
	d1 := startEngine(t, js, "disp-1", hs...)
	d2 := startEngine(t, js, "disp-2", hs...)
	d1.waitAgents(t, "web-1", "web-2", "web-3", "web-9")
	d2.waitAgents(t, "web-1", "web-2", "web-3", "web-9")
	var wantExpired []string
	for i := range 20 {
		id := "d" + strconv.Itoa(i)
		publish(t, js, events.Outcome{EventID: id, Watch: "deploy", Host: "web-1", Status: events.StatusOK})
		wantExpired = append(wantExpired, id+"|false")
	}

	var wantEach, wantAgg []string
	for i := range 10 {
		id := "e" + string(rune('a'+i))
		for _, h := range []string{"web-1", "web-2", "web-3"} {
			publish(t, js, events.Outcome{EventID: id, Watch: "git-pull", Host: h, Status: events.StatusOK})
			wantEach = append(wantEach, id+"|"+h)
		}
		wantAgg = append(wantAgg, id+"|true|3|3")
	}
	waitLines(t, each, wantEach...)
	waitLines(t, agg, wantAgg...)
	waitLines(t, expired, wantExpired...)
	drained(t, js)
	waitLines(t, each, wantEach...)
	waitLines(t, agg, wantAgg...)
	// Both dispatchers keep ticking meanwhile: no aggregate runs twice.
	testutil.Eventually(t, wait, func() error {
		if n := len(handlerOutcomes(t, js, "disp-1", "expiry")) + len(handlerOutcomes(t, js, "disp-2", "expiry")); n != 20 {
			return errorf("expiry recorded %d runs, want 20", n)
		}
		return nil
	})
	waitLines(t, expired, wantExpired...)
	n1, n2 := len(handlerOutcomes(t, js, "disp-1", "each")), len(handlerOutcomes(t, js, "disp-2", "each"))
	if n1+n2 != 30 {
		t.Fatalf("each ran %d+%d times, want 30 in all", n1, n2)
	}
	t.Logf("each: disp-1 ran %d, disp-2 ran %d", n1, n2)
}

// TestEngine_Run_Shutdown proves that a handler run cut short by a
// dispatcher's shutdown is not recorded and leaves the outcome to be
// handled again by another dispatcher.
func TestEngine_Run_Shutdown(t *testing.T) {
	js := newBus(t)
	dir := t.TempDir()
	runs, release := filepath.Join(dir, "runs"), filepath.Join(dir, "release")
	h := handlers.Handler{Name: "slow",
		Exec: watch.Command{Shell: `echo "$HERALD_EVENT_ID" >> "$OUT"; [ -e "$RELEASE" ] || exec sleep 60`},
		Env:  map[string]string{"OUT": runs, "RELEASE": release}}
	d1 := startEngine(t, js, "disp-1", h)
	publish(t, js, events.Outcome{EventID: "e1", Watch: "w", Host: "h", Status: events.StatusOK})
	waitLines(t, runs, "e1")
	d1.stop()
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	startEngine(t, js, "disp-2", h)
	waitLines(t, runs, "e1", "e1")
	drained(t, js)
	if o := handlerOutcomes(t, js, "disp-1", "slow"); len(o) != 0 {
		t.Fatalf("the cut-short run was recorded: %+v", o)
	}
	if o := handlerOutcomes(t, js, "disp-2", "slow"); len(o) != 1 || o[0].Status != events.StatusOK {
		t.Fatalf("disp-2 outcomes of slow = %+v, want one ok", o)
	}
}

// TestEngine_Run_ConsumerDeleted proves that the engine sets the shared
// consumer up again when it is deleted under it.
func TestEngine_Run_ConsumerDeleted(t *testing.T) {
	js := newBus(t)
	out := filepath.Join(t.TempDir(), "out")
	startEngine(t, js, "disp-1", handlers.Handler{Name: "rec", Exec: appender("HERALD_EVENT_ID"), Env: envOut(out)})
	publish(t, js, events.Outcome{EventID: "e1", Watch: "w", Host: "h", Status: events.StatusOK})
	waitLines(t, out, "e1")
	if err := js.DeleteConsumer(context.Background(), events.OutcomesStream, handlers.DefaultDurable); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() error {
		_, err := js.Consumer(context.Background(), events.OutcomesStream, handlers.DefaultDurable)
		return err
	})
	publish(t, js, events.Outcome{EventID: "e2", Watch: "w", Host: "h", Status: events.StatusOK})
	waitLines(t, out, "e1", "e2")
}
