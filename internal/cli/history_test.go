package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/events"
	"github.com/heraldhq/herald/internal/bus"
	"github.com/heraldhq/herald/internal/cli"
	"github.com/heraldhq/herald/internal/testutil"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// historyJSON is what the tests read of validate --history --json.
type historyJSON struct {
	Stream         string `json:"stream"`
	Events         int    `json:"events"`
	Malformed      int    `json:"malformed"`
	Unselected     int    `json:"unselected"`
	UnselectedKeys []struct {
		Type   string `json:"type"`
		Key    string `json:"key"`
		Events int    `json:"events"`
	} `json:"unselected_keys"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
	Watches []struct {
		Name     string  `json:"name"`
		File     string  `json:"file"`
		RunMode  string  `json:"run_mode"`
		RunTimeS float64 `json:"run_time_s"`
		Events   int     `json:"events"`
		Keys     int     `json:"keys"`
		Modes    []struct {
			Mode        string `json:"mode"`
			Own         bool   `json:"own"`
			MaxParallel *int   `json:"max_parallel"`
			Runs        int    `json:"runs"`
			Superseded  int    `json:"superseded"`
			Discarded   int    `json:"discarded"`
		} `json:"modes"`
	} `json:"watches"`
}

func parseHistory(t *testing.T, r result) historyJSON {
	t.Helper()
	if r.err != nil {
		t.Fatalf("validate --history: %v\n%s", r.err, r.errOut)
	}
	var doc historyJSON
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("json %q: %v", r.out, err)
	}
	return doc
}

// modes is a watch's runs, superseded and discarded per mode, as
// "queue=R/S/D discard=R/S/D parallel=R/S/D"; * marks its own mode.
func (d historyJSON) modes(watch string) string {
	for _, w := range d.Watches {
		if w.Name != watch {
			continue
		}
		var parts []string
		for _, m := range w.Modes {
			own := ""
			if m.Own {
				own = "*"
			}
			parts = append(parts, fmt.Sprintf("%s%s=%d/%d/%d", m.Mode, own, m.Runs, m.Superseded, m.Discarded))
		}
		return strings.Join(parts, " ")
	}
	return "no watch " + watch
}

func (d historyJSON) selected(watch string) [2]int {
	for _, w := range d.Watches {
		if w.Name == watch {
			return [2]int{w.Events, w.Keys}
		}
	}
	return [2]int{-1, -1}
}

func publishN(t *testing.T, js jetstream.JetStream, typ string, keys ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, k := range keys {
		if _, err := bus.PublishEvent(ctx, js, events.New("test", typ, k, []byte("v"))); err != nil {
			t.Fatal(err)
		}
	}
}

func repeat(key string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = key
	}
	return out
}

const historyWatches = `watches:
  - name: pull
    on: event:git.push
    key: /repos/*
    exec: ["git", "pull"]
  - name: conf
    on: zk:/app/**
    exec: "make reload"
    run_mode: parallel
    max_parallel: 2
`

// A burst stored within the assumed run time (1h): queue runs the first
// event and then the newest (the 8 between superseded), discard the first
// only, parallel every one; events of other types and keys are selected
// by no watch and listed with --unselected. Every figure is exact: it
// depends only on the events being stored less than 1h apart.
func TestMain_RunValidateHistory_Burst(t *testing.T) {
	t.Parallel()
	s, js := natsWithStreams(t)
	dir := t.TempDir()
	writeFile(t, dir, "w.yaml", historyWatches)
	publishN(t, js, "git.push", repeat("/repos/app", 10)...)
	publishN(t, js, "zk.changed", "/app", "/app/a", "/app/b")
	publishN(t, js, "git.tag", "/repos/app", "/repos/app")
	publishN(t, js, "git.push", "/repos/app/deep")

	r := run(t, nil, nil, "validate", "--history", "24h", "--run-time", "1h", "--json", "--unselected", "--nats", s.ClientURL(), dir)
	doc := parseHistory(t, r)
	if !strings.HasPrefix(r.errOut, "ok: 2 watches in 1 files") {
		t.Errorf("stderr %q, want the ok line", r.errOut)
	}
	if doc.Stream != events.EventsStream || doc.Events != 16 || doc.Unselected != 3 || doc.Malformed != 0 {
		t.Errorf("stream %s, %d events, %d unselected, %d malformed; want %s, 16, 3, 0", doc.Stream, doc.Events, doc.Unselected, doc.Malformed, events.EventsStream)
	}
	if doc.First.IsZero() || doc.Last.Before(doc.First) {
		t.Errorf("time range %v to %v", doc.First, doc.Last)
	}
	if got := doc.selected("pull"); got != [2]int{10, 1} {
		t.Errorf("pull selected %v, want 10 events of 1 key", got)
	}
	if got, want := doc.modes("pull"), "queue*=2/8/0 discard=1/0/9 parallel=10/0/0"; got != want {
		t.Errorf("pull: %s, want %s", got, want)
	}
	if got := doc.selected("conf"); got != [2]int{3, 3} {
		t.Errorf("conf selected %v, want 3 events of 3 keys", got)
	}
	if got, want := doc.modes("conf"), "queue=3/0/0 discard=1/0/2 parallel*=3/0/0"; got != want {
		t.Errorf("conf: %s, want %s", got, want)
	}
	if p := doc.Watches[1].Modes[2].MaxParallel; p == nil || *p != 2 {
		t.Errorf("conf's parallel cap %v, want its max_parallel 2", p)
	}
	if p := doc.Watches[0].Modes[2].MaxParallel; p == nil || *p != 4 {
		t.Errorf("pull's parallel cap %v, want the default 4", p)
	}
	got := fmt.Sprint(doc.UnselectedKeys)
	if want := "[{git.tag /repos/app 2} {git.push /repos/app/deep 1}]"; got != want {
		t.Errorf("unselected keys %s, want %s", got, want)
	}

	// The table says the same.
	r = run(t, nil, nil, "validate", "--history", "24h", "--run-time", "1h", "--run-time", "conf=1ns", "--unselected", "--nats", s.ClientURL(), dir)
	if r.err != nil {
		t.Fatalf("table: %v\n%s", r.err, r.errOut)
	}
	for _, want := range []string{
		"history: 16 events in HERALD_EVENTS stored from ",
		"(the last 24h0m0s); 3 selected by no watch\n",
		"dry run: nothing was run",
		"pull (" + filepath.Join(dir, "w.yaml") + ":2): on event:git.push, key /repos/*; 10 events of 1 key; run time 1h0m0s\n",
		"  MODE          RUNS  SUPERSEDED  DISCARDED  MAX WAIT\n",
		"  queue *       2     8           0",
		"  discard       1     0           9",
		"  parallel (4)  10    0           0",
		"conf (",
		"; 3 events of 3 keys; run time 1ns\n",
		"  parallel (2) *",
		"selected by no watch: 3 events\n",
		"  git.tag   /repos/app       2\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("table lacks %q:\n%s", want, r.out)
		}
	}
}

// A history of more events than one direct get answers (256) is read in
// pages; --history bounds it by the stored time: events stored before
// the window are not read.
func TestMain_RunValidateHistory_PagesAndWindow(t *testing.T) {
	t.Parallel()
	s, js := natsWithStreams(t)
	dir := t.TempDir()
	writeFile(t, dir, "w.yaml", historyWatches)
	var old []string
	for i := range 300 {
		old = append(old, fmt.Sprintf("/repos/old%d", i))
	}
	publishN(t, js, "git.push", old...)
	// The window starts after the last old event was stored (its ack
	// came after).
	cut := time.Now()
	var recent []string
	for i := range 700 {
		recent = append(recent, fmt.Sprintf("/repos/r%d", i%350))
	}
	publishN(t, js, "git.push", recent...)

	all := parseHistory(t, run(t, nil, nil, "validate", "--history", "1h", "--json", "--nats", s.ClientURL(), dir))
	if all.Events != 1000 || all.selected("pull") != [2]int{1000, 650} {
		t.Errorf("whole history: %d events, pull %v; want 1000, 1000 events of 650 keys", all.Events, all.selected("pull"))
	}
	// Now is an hour after the cut: --history 1h starts there.
	m := &cli.Main{Now: func() time.Time { return cut.Add(time.Hour) }}
	win := parseHistory(t, run(t, m, nil, "validate", "--history", "1h", "--run-time", "1h", "--json", "--nats", s.ClientURL(), dir))
	if win.Events != 700 || win.selected("pull") != [2]int{700, 350} {
		t.Errorf("window: %d events, pull %v; want 700, 700 events of 350 keys", win.Events, win.selected("pull"))
	}
	if win.First.Before(cut) {
		t.Errorf("window's first event stored at %v, before the cut %v", win.First, cut)
	}
	// Every event of the window came within the run time (1h) of the
	// first: queue runs the first, then one per key, the key of the first
	// too (its second event came while it ran), each with its second
	// event (the first of the 349 others superseded).
	if got, want := win.modes("pull"), "queue*=351/349/0 discard=1/0/699 parallel=700/0/0"; got != want {
		t.Errorf("window: %s, want %s", got, want)
	}
	// An hour after the last event, nothing is left.
	m = &cli.Main{Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
	r := run(t, m, nil, "validate", "--history", "1h", "--nats", s.ClientURL(), dir)
	if r.err != nil || !strings.Contains(r.out, "history: no events in HERALD_EVENTS stored since ") || !strings.Contains(r.out, "; 0 events of 0 keys;") {
		t.Errorf("empty window: %v\n%s%s", r.err, r.out, r.errOut)
	}
}

// Pages end at the most bytes a direct get may answer (8 MiB) as well as
// at 256 events: 40 events of 600 KB take three pages, all read.
func TestMain_RunValidateHistory_LargeEvents(t *testing.T) {
	t.Parallel()
	s, js := natsWithStreams(t)
	dir := t.TempDir()
	writeFile(t, dir, "w.yaml", historyWatches)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := []byte(strings.Repeat("x", 600<<10))
	for i := range 40 {
		if _, err := bus.PublishEvent(ctx, js, events.New("test", "git.push", fmt.Sprintf("/repos/k%d", i), data)); err != nil {
			t.Fatal(err)
		}
	}
	doc := parseHistory(t, run(t, nil, nil, "validate", "--history", "1h", "--json", "--nats", s.ClientURL(), dir))
	if doc.Events != 40 || doc.selected("pull") != [2]int{40, 40} {
		t.Errorf("%d events, pull %v; want 40 events of 40 keys", doc.Events, doc.selected("pull"))
	}
}

// Malformed events (headers disagreeing with the subject) are counted and
// skipped as the agent skips them.
func TestMain_RunValidateHistory_Malformed(t *testing.T) {
	t.Parallel()
	s, js := natsWithStreams(t)
	dir := t.TempDir()
	writeFile(t, dir, "w.yaml", historyWatches)
	publishN(t, js, "git.push", "/repos/a")
	m := events.New("test", "git.tag", "/repos/a", []byte("v")).ToMsg()
	m.Subject = events.EventSubject("git.push", "/repos/a") // the type header says git.tag
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	doc := parseHistory(t, run(t, nil, nil, "validate", "--history", "1h", "--json", "--nats", s.ClientURL(), dir))
	if doc.Events != 2 || doc.Malformed != 1 || doc.selected("pull") != [2]int{1, 1} {
		t.Errorf("%d events, %d malformed, pull %v; want 2, 1, 1 event", doc.Events, doc.Malformed, doc.selected("pull"))
	}
}

// Invalid files are reported as validate always does (exit 1) and no
// history is read; the dry run's flags without --history, a bad
// duration and a --run-time naming no watch are usage errors.
func TestMain_RunValidateHistory_Refusals(t *testing.T) {
	t.Parallel()
	good := writeFile(t, t.TempDir(), "w.yaml", historyWatches)
	bad := writeFile(t, t.TempDir(), "bad.yaml", badWatches)
	unreachable := "nats://127.0.0.1:1"

	r := run(t, nil, nil, "validate", "--history", "24h", "--nats", unreachable, bad)
	if r.code() != cli.ExitFailure || !strings.Contains(r.errOut, "run_mode") || strings.Contains(r.errOut, "connection refused") {
		t.Errorf("invalid file: exit %d, stderr %q; want 1, its problems, no NATS", r.code(), r.errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--json", good}, "--json, --unselected and --run-time go with --history"},
		{[]string{"--run-time", "2s", good}, "go with --history"},
		{[]string{"--history", "yesterday", good}, `want a positive duration such as 24h or 30m, got "yesterday"`},
		{[]string{"--history", "-1h", good}, "want a positive duration"},
		{[]string{"--history", "1h", "--run-time", "0s", good}, "with a positive duration"},
		{[]string{"--history", "1h", "--run-time", "=2s", good}, "no watch name"},
		{[]string{"--history", "1h", "--run-time", "pul=2s", "--nats", unreachable, good}, `--run-time pul=2s: no watch named "pul" in the files given`},
	} {
		r := run(t, nil, nil, append([]string{"validate"}, tc.args...)...)
		if r.code() != cli.ExitUsage || !strings.Contains(r.errOut, tc.want) {
			t.Errorf("validate %v: exit %d, stderr %q; want 2 and %q", tc.args, r.code(), r.errOut, tc.want)
		}
	}
}

// The dry run needs only what a viewer has: stream info and direct gets.
// A user without the consumer API reads the history and the server
// creates no consumer; a user that may not read the stream (a publisher)
// is refused at once, told who may.
func TestMain_RunValidateHistory_ReadRights(t *testing.T) {
	t.Parallel()
	s := testutil.RunNATSWithOptions(t, &server.Options{Users: []*server.User{
		{Username: "admin", Password: "a"},
		{Username: "viewer", Password: "v", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$JS.API.CONSUMER.>"}},
		}},
		{Username: "ci", Password: "c", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{"herald.event.git.>"}},
		}},
	}})
	nc, js := testutil.ConnectStreams(t, s, nats.UserInfo("admin", "a"))
	publishN(t, js, "git.push", "/repos/a", "/repos/a")
	adv, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.CREATED.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "w.yaml", historyWatches)
	pw := func(p string) string {
		f := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(f, []byte(p+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	doc := parseHistory(t, run(t, nil, nil, "validate", "--history", "1h", "--run-time", "1h", "--json", "--nats", s.ClientURL(), "--nats-user", "viewer", "--nats-password-file", pw("v"), dir))
	if doc.Events != 2 || doc.modes("pull") != "queue*=2/0/0 discard=1/0/1 parallel=2/0/0" {
		t.Errorf("as the viewer: %d events, pull %s", doc.Events, doc.modes("pull"))
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := adv.NextMsg(100 * time.Millisecond); err == nil {
		t.Errorf("the dry run created a consumer: %s", m.Data)
	}

	// With --timeout 1m, only the server's refusal ends it this soon.
	r := run(t, nil, nil, "validate", "--history", "1h", "--timeout", "1m", "--nats", s.ClientURL(), "--nats-user", "ci", "--nats-password-file", pw("c"), dir)
	if r.code() != cli.ExitFailure || !strings.Contains(r.errOut, "Permissions Violation") || !strings.Contains(r.errOut, "may not read HERALD_EVENTS: run it as a viewer") {
		t.Errorf("as a publisher: exit %d, stderr %q; want 1 with the violation and the hint", r.code(), r.errOut)
	}
}
