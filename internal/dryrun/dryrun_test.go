package dryrun_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/dryrun"
	"github.com/heraldhq/herald/internal/watch"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func watches(t *testing.T, yaml string) []*watch.Watch {
	t.Helper()
	f, err := watch.Parse("w.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return f.Watches
}

const oneKey = `watches:
  - name: pull
    on: event:git.push
    key: /repos/*
    exec: [true]
`

// sim runs cfg over evs, each (type, key, offset from t0), numbered in
// order from sequence 1.
func sim(t *testing.T, cfg dryrun.Config, evs ...ev) dryrun.Report {
	t.Helper()
	s, err := dryrun.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if _, err := s.Add(dryrun.Event{Type: e.typ, Key: e.key, Seq: uint64(i + 1), Time: t0.Add(e.at)}); err != nil {
			t.Fatal(err)
		}
	}
	return s.Report()
}

type ev struct {
	typ, key string
	at       time.Duration
}

// mode is a ModeReport without the fields a case does not check.
type mode struct {
	runs, superseded, discarded int
	maxWait                     time.Duration
}

func checkModes(t *testing.T, w dryrun.WatchReport, want map[string]mode) {
	t.Helper()
	if len(w.Modes) != 3 || w.Modes[0].Mode != "queue" || w.Modes[1].Mode != "discard" || w.Modes[2].Mode != "parallel" {
		t.Fatalf("watch %s: modes %+v, want queue, discard, parallel", w.Watch.Name, w.Modes)
	}
	for _, m := range w.Modes {
		got := mode{m.Runs, m.Superseded, m.Discarded, m.MaxWait}
		if got != want[m.Mode] {
			t.Errorf("watch %s, %s: got %+v, want %+v", w.Watch.Name, m.Mode, got, want[m.Mode])
		}
		if m.Runs+m.Superseded+m.Discarded != w.Events {
			t.Errorf("watch %s, %s: runs+superseded+discarded %d, want the watch's %d events", w.Watch.Name, m.Mode, m.Runs+m.Superseded+m.Discarded, w.Events)
		}
	}
}

// Ten events on one key 100 ms apart, each run taking 1 s: queue runs
// the first at once and the last when it ends (the eight between are
// superseded while they wait); discard runs the first only; parallel
// (cap 4) runs all ten, the 5th to 8th as the first four end at 1.0 s to
// 1.3 s, the 9th and 10th at 2.0 s and 2.1 s (1.2 s after they came).
func TestSim_BurstOnOneKey(t *testing.T) {
	var evs []ev
	for i := range 10 {
		evs = append(evs, ev{"git.push", "/repos/app", time.Duration(i) * 100 * time.Millisecond})
	}
	r := sim(t, dryrun.Config{Watches: watches(t, oneKey), RunTime: time.Second}, evs...)
	if r.Events != 10 || r.Unselected != 0 || !r.First.Equal(t0) || !r.Last.Equal(t0.Add(900*time.Millisecond)) {
		t.Errorf("report %d events (%d unselected) from %v to %v", r.Events, r.Unselected, r.First, r.Last)
	}
	w := r.Watches[0]
	if w.Events != 10 || w.Keys != 1 || w.RunTime != time.Second {
		t.Errorf("watch: %d events, %d keys, run time %v; want 10, 1, 1s", w.Events, w.Keys, w.RunTime)
	}
	checkModes(t, w, map[string]mode{
		"queue":    {runs: 2, superseded: 8, maxWait: 100 * time.Millisecond},
		"discard":  {runs: 1, discarded: 9},
		"parallel": {runs: 10, maxWait: 1200 * time.Millisecond},
	})
	if !w.Modes[0].Own || w.Modes[1].Own || w.Modes[2].Own {
		t.Errorf("own mode: %+v, want queue only", w.Modes)
	}
	if w.Modes[2].MaxParallel != watch.DefaultMaxParallel {
		t.Errorf("parallel cap %d, want the default %d", w.Modes[2].MaxParallel, watch.DefaultMaxParallel)
	}
}

// Two keys interleaved: queue keeps one slot per key, started in order of
// first arrival (B's slot came first), each with its newest event.
func TestSim_QueueSlotsPerKey(t *testing.T) {
	ms := time.Millisecond
	r := sim(t, dryrun.Config{Watches: watches(t, oneKey), RunTime: time.Second},
		ev{"git.push", "/repos/a", 0},
		ev{"git.push", "/repos/b", 100 * ms},
		ev{"git.push", "/repos/a", 200 * ms},
		ev{"git.push", "/repos/b", 300 * ms},
		ev{"git.push", "/repos/a", 400 * ms},
	)
	w := r.Watches[0]
	if w.Keys != 2 {
		t.Errorf("keys %d, want 2", w.Keys)
	}
	// queue: a@0 runs 0-1s; b@0.3 runs 1-2s (waited 0.7s); a@0.4 runs
	// 2-3s (waited 1.6s). parallel (cap 4): the fifth waits from 0.4s
	// until the first ends at 1s.
	checkModes(t, w, map[string]mode{
		"queue":    {runs: 3, superseded: 2, maxWait: 1600 * ms},
		"discard":  {runs: 1, discarded: 4},
		"parallel": {runs: 5, maxWait: 600 * ms},
	})
}

// Events further apart than a run all run, in every mode; a run that
// ends at the very time the next event comes has ended.
func TestSim_SpacedEventsAllRun(t *testing.T) {
	r := sim(t, dryrun.Config{Watches: watches(t, oneKey), RunTime: time.Second},
		ev{"git.push", "/repos/a", 0},
		ev{"git.push", "/repos/a", time.Second},
		ev{"git.push", "/repos/a", 5 * time.Second},
	)
	checkModes(t, r.Watches[0], map[string]mode{
		"queue":    {runs: 3},
		"discard":  {runs: 3},
		"parallel": {runs: 3},
	})
}

// Each watch sees only what its selector (watch's Match) selects: type,
// key glob, zk path and subtree, kv prefix; an event two watches select
// counts for both; what none selects is counted and listed by type and
// key in order of first appearance.
func TestSim_Selection(t *testing.T) {
	ws := watches(t, `watches:
  - name: pull
    on: event:git.push
    key: /repos/*
    exec: [true]
  - name: all-pushes
    on: event:git.push
    exec: [true]
    run_mode: discard
  - name: conf
    on: zk:/app/**
    exec: [true]
    run_mode: parallel
    max_parallel: 0
  - name: flags
    on: kv:config/flags.>
    exec: [true]
`)
	r := sim(t, dryrun.Config{Watches: ws, RunTime: time.Second, ListUnselected: true},
		ev{"git.push", "/repos/a", 0},
		ev{"git.push", "/repos/a/deep", 0}, // all-pushes only
		ev{"git.tag", "/repos/a", 0},       // none
		ev{"zk.changed", "/app", 0},        // conf (the root itself)
		ev{"zk.children", "/app/x", 0},     // conf (a subtree takes all four types)
		ev{"zk.changed", "/apps", 0},       // none
		ev{"kv.put", "config/flags.a", 0},  // flags
		ev{"kv.put", "config/flags", 0},    // none
		ev{"git.tag", "/repos/a", 0},       // none, same pair again
		ev{"git.push", "/repos/b", 0},
	)
	want := map[string][2]int{"pull": {2, 2}, "all-pushes": {3, 3}, "conf": {2, 2}, "flags": {1, 1}}
	for _, w := range r.Watches {
		if got := [2]int{w.Events, w.Keys}; got != want[w.Watch.Name] {
			t.Errorf("watch %s: events, keys %v, want %v", w.Watch.Name, got, want[w.Watch.Name])
		}
	}
	if r.Events != 10 || r.Unselected != 4 {
		t.Errorf("events %d, unselected %d; want 10 and 4", r.Events, r.Unselected)
	}
	wantKeys := []dryrun.KeyCount{{"git.tag", "/repos/a", 2}, {"zk.changed", "/apps", 1}, {"kv.put", "config/flags", 1}}
	if fmt.Sprint(r.UnselectedKeys) != fmt.Sprint(wantKeys) || r.UnselectedLeftOff != 0 {
		t.Errorf("unselected keys %v (+%d), want %v", r.UnselectedKeys, r.UnselectedLeftOff, wantKeys)
	}
	// conf is parallel with no cap: its own mode, cap 0; three events at
	// once all start at once.
	conf := r.Watches[2]
	if p := conf.Modes[2]; !p.Own || p.MaxParallel != 0 || p.Runs != 2 || p.MaxWait != 0 {
		t.Errorf("conf parallel %+v, want its own mode, no cap, 2 runs at once", p)
	}
	if !r.Watches[1].Modes[1].Own {
		t.Errorf("all-pushes: discard is its own mode: %+v", r.Watches[1].Modes)
	}
}

// Without ListUnselected the unselected events are only counted; with
// it, past MaxUnselectedKeys pairs their events are counted as left off.
func TestSim_UnselectedKeysBounded(t *testing.T) {
	ws := watches(t, oneKey)
	var evs []ev
	for i := range dryrun.MaxUnselectedKeys + 2 {
		evs = append(evs, ev{"other", fmt.Sprintf("/k%d", i), 0})
	}
	evs = append(evs, ev{"other", "/k0", 0}, ev{"other", fmt.Sprintf("/k%d", dryrun.MaxUnselectedKeys), 0})
	r := sim(t, dryrun.Config{Watches: ws, RunTime: time.Second, ListUnselected: true}, evs...)
	if len(r.UnselectedKeys) != dryrun.MaxUnselectedKeys || r.UnselectedLeftOff != 3 || r.UnselectedKeys[0].Events != 2 {
		t.Errorf("listed %d pairs (first %+v), %d events left off; want %d, 2 events, 3", len(r.UnselectedKeys), r.UnselectedKeys[0], r.UnselectedLeftOff, dryrun.MaxUnselectedKeys)
	}
	r = sim(t, dryrun.Config{Watches: ws, RunTime: time.Second}, evs...)
	if r.Unselected != len(evs) || len(r.UnselectedKeys) != 0 {
		t.Errorf("without the list: %d unselected, %d listed; want %d, 0", r.Unselected, len(r.UnselectedKeys), len(evs))
	}
}

// A watch's own run time replaces the default for it only.
func TestSim_RunTimePerWatch(t *testing.T) {
	ws := watches(t, `watches:
  - name: fast
    on: event:e
    exec: [true]
  - name: slow
    on: event:e
    exec: [true]
`)
	r := sim(t, dryrun.Config{Watches: ws, RunTime: 100 * time.Millisecond, RunTimes: map[string]time.Duration{"slow": 10 * time.Second}},
		ev{"e", "/k", 0}, ev{"e", "/k", time.Second}, ev{"e", "/k", 2 * time.Second})
	if r.Watches[0].RunTime != 100*time.Millisecond || r.Watches[1].RunTime != 10*time.Second {
		t.Errorf("run times %v, %v", r.Watches[0].RunTime, r.Watches[1].RunTime)
	}
	checkModes(t, r.Watches[0], map[string]mode{"queue": {runs: 3}, "discard": {runs: 3}, "parallel": {runs: 3}})
	checkModes(t, r.Watches[1], map[string]mode{
		"queue":    {runs: 2, superseded: 1, maxWait: 8 * time.Second},
		"discard":  {runs: 1, discarded: 2},
		"parallel": {runs: 3},
	})
}

// A stored time before the previous one counts as the previous one; a
// sequence out of stream order is refused.
func TestSim_Order(t *testing.T) {
	s, err := dryrun.New(dryrun.Config{Watches: watches(t, oneKey), RunTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	add := func(seq uint64, at time.Duration) error {
		_, err := s.Add(dryrun.Event{Type: "git.push", Key: "/repos/a", Seq: seq, Time: t0.Add(at)})
		return err
	}
	if err := add(5, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := add(6, 0); err != nil { // clock stepped back: at 2s, discarded
		t.Fatal(err)
	}
	if err := add(6, 3*time.Second); err == nil || !strings.Contains(err.Error(), "stream order") {
		t.Errorf("a repeated sequence: %v, want a stream order error", err)
	}
	r := s.Report()
	if !r.Last.Equal(t0.Add(2*time.Second)) || r.Watches[0].Modes[1].Discarded != 1 {
		t.Errorf("last %v, discard %+v; want the clamped time and one discarded", r.Last, r.Watches[0].Modes[1])
	}
	if _, err := s.Add(dryrun.Event{Type: "git.push", Key: "/k", Seq: 9, Time: t0}); err == nil {
		t.Error("add after the report was accepted")
	}
}

func TestConfig_Validate(t *testing.T) {
	ws := watches(t, oneKey)
	for _, tc := range []struct {
		cfg  dryrun.Config
		want string
	}{
		{dryrun.Config{Watches: ws}, "run_time: must be positive"},
		{dryrun.Config{Watches: ws, RunTime: time.Second, RunTimes: map[string]time.Duration{"pul": time.Second}}, "run_time: pul: no watch of that name"},
		{dryrun.Config{Watches: ws, RunTime: time.Second, RunTimes: map[string]time.Duration{"pull": -time.Second}}, "run_time: pull: must be positive"},
	} {
		_, err := dryrun.New(tc.cfg)
		if !errors.Is(err, dryrun.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want %q", tc.cfg.RunTimes, err, tc.want)
		}
	}
}
