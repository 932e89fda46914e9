// Package dryrun works out what a set of watches would have done with a
// history of stored events, without running anything: which events each
// watch's selector selects (package watch's Match, the agent's own), for
// how many keys, and how many runs each run mode (package runmode's
// policies, the agent's own) would have started, every run assumed to
// take a given time and to succeed. It is fed one event at a time, in
// stream order, with the time the stream stored it; those times are the
// only clock it has.
//
// It must not know NATS, the wall clock, processes, files or how a report
// is printed: herald validate --history reads the stream and prints.
package dryrun

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/fielderr"
	"github.com/heraldhq/herald/internal/runmode"
	"github.com/heraldhq/herald/internal/watch"
)

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("invalid dry run config")

// MaxUnselectedKeys bounds the (type, key) pairs of unselected events a
// Sim lists (Config.ListUnselected): the events of further pairs are
// only counted.
const MaxUnselectedKeys = 1000

// Config is what a dry run simulates.
type Config struct {
	// Watches are the watches to report on, in the order reported.
	Watches []*watch.Watch
	// RunTime is how long every run is assumed to take (> 0).
	RunTime time.Duration
	// RunTimes overrides RunTime for the watches it names (each > 0).
	RunTimes map[string]time.Duration
	// ListUnselected lists the events no watch selects by type and key
	// (at most MaxUnselectedKeys pairs); otherwise they are only counted.
	ListUnselected bool
}

// Validate checks the run times: positive, and naming watches of
// Watches.
func (c Config) Validate() error {
	l := fielderr.List{Sentinel: ErrInvalidConfig}
	if c.RunTime <= 0 {
		l.Add("run_time", "must be positive, got %v", c.RunTime)
	}
	names := map[string]bool{}
	for _, w := range c.Watches {
		names[w.Name] = true
	}
	for _, name := range sortedKeys(c.RunTimes) {
		if !names[name] {
			l.Add("run_time", "%s: no watch of that name", name)
		} else if d := c.RunTimes[name]; d <= 0 {
			l.Add("run_time", "%s: must be positive, got %v", name, d)
		}
	}
	return l.Err()
}

// Event is one stored event as the simulation needs it.
type Event struct {
	Type, Key string
	Seq       uint64    // stream sequence
	Time      time.Time // when the stream stored it
}

// Report is what a dry run found.
type Report struct {
	// Events is how many events were added; First and Last are the
	// stored times of the first and last (zero without events).
	Events      int
	First, Last time.Time
	// Unselected is how many events no watch selects.
	Unselected int
	// UnselectedKeys lists them by type and key, in order of first
	// appearance (Config.ListUnselected); UnselectedLeftOff counts the
	// events of the pairs left off past MaxUnselectedKeys.
	UnselectedKeys    []KeyCount
	UnselectedLeftOff int
	Watches           []WatchReport
}

// KeyCount is how many events one type and key had.
type KeyCount struct {
	Type, Key string
	Events    int
}

// WatchReport is one watch's figures.
type WatchReport struct {
	Watch   *watch.Watch
	RunTime time.Duration // the run time assumed for it
	Events  int           // events it selects
	Keys    int           // distinct keys of those
	// Modes are queue, discard and parallel, in that order.
	Modes []ModeReport
}

// ModeReport is what one run mode would have done with a watch's events.
// Runs + Superseded + Discarded is the watch's Events.
type ModeReport struct {
	Mode string
	// Own is whether it is the watch's run_mode.
	Own bool
	// MaxParallel is parallel mode's cap (0: none): the watch's
	// max_parallel for a parallel watch, watch.DefaultMaxParallel for the
	// others.
	MaxParallel int
	// Runs is how many runs it would have started.
	Runs int
	// Superseded are events folded into a newer event's run (queue: a
	// newer event of the key arrived while it waited).
	Superseded int
	// Discarded are events dropped because a run was in flight (discard).
	Discarded int
	// MaxWait is the longest an event that ran waited for its run to
	// start (from its stored time).
	MaxWait time.Duration
}

// Sim is one dry run. It is not safe for concurrent use.
type Sim struct {
	cfg     Config
	watches []*watchSim
	report  Report
	pairs   map[KeyCount]int // unselected (type, key) -> index in UnselectedKeys
	seq     uint64
	now     time.Time
	done    bool
}

// watchSim is one watch's counters and its three modes.
type watchSim struct {
	w       *watch.Watch
	runTime time.Duration
	events  int
	keys    map[string]string // each key seen, as the one copy the policies hold
	modes   []*modeSim
}

// New starts a dry run of cfg.
func New(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sim{cfg: cfg, pairs: map[KeyCount]int{}}
	for _, w := range cfg.Watches {
		rt := cfg.RunTime
		if d, ok := cfg.RunTimes[w.Name]; ok {
			rt = d
		}
		ws := &watchSim{w: w, runTime: rt, keys: map[string]string{}}
		maxPar := watch.DefaultMaxParallel
		if w.RunMode == watch.ModeParallel {
			maxPar = w.MaxParallel
		}
		for _, mode := range []string{runmode.ModeQueue, runmode.ModeDiscard, runmode.ModeParallel} {
			m, err := newModeSim(mode, maxPar, rt)
			if err != nil {
				return nil, fmt.Errorf("watch %s: %w", w.Name, err)
			}
			m.report.Own = mode == w.RunMode || (w.RunMode == "" && mode == runmode.ModeQueue)
			ws.modes = append(ws.modes, m)
		}
		s.watches = append(s.watches, ws)
	}
	return s, nil
}

// Add feeds the next event, which must come after the previous one in the
// stream (a higher Seq); an event whose Time is before the previous one's
// (the stored times of a stream are not guaranteed monotonic across a
// leader change) counts as stored at the previous time. It reports whether
// any watch selects the event.
func (s *Sim) Add(e Event) (bool, error) {
	if s.done {
		return false, errors.New("dry run: add after report")
	}
	if e.Seq <= s.seq {
		return false, fmt.Errorf("dry run: event sequence %d after %d: want stream order", e.Seq, s.seq)
	}
	s.seq = e.Seq
	if e.Time.Before(s.now) {
		e.Time = s.now
	}
	s.now = e.Time
	if s.report.Events == 0 {
		s.report.First = e.Time
	}
	s.report.Events++
	s.report.Last = e.Time
	selected := false
	for _, ws := range s.watches {
		if !ws.w.Source.Match(e.Type, e.Key) {
			continue
		}
		selected = true
		ws.events++
		key, ok := ws.keys[e.Key]
		if !ok {
			// A copy: the event's key may share memory with the whole
			// message it was decoded from, which waiting items would
			// otherwise keep alive.
			key = strings.Clone(e.Key)
			ws.keys[key] = key
		}
		it := runmode.Item{Key: key, Seq: e.Seq, Value: e.Time}
		for _, m := range ws.modes {
			m.offer(it, e.Time)
		}
	}
	if !selected {
		s.unselected(e)
	}
	return selected, nil
}

func (s *Sim) unselected(e Event) {
	s.report.Unselected++
	if !s.cfg.ListUnselected {
		return
	}
	pair := KeyCount{Type: e.Type, Key: e.Key}
	if i, ok := s.pairs[pair]; ok {
		s.report.UnselectedKeys[i].Events++
		return
	}
	if len(s.report.UnselectedKeys) >= MaxUnselectedKeys {
		s.report.UnselectedLeftOff++
		return
	}
	s.pairs[pair] = len(s.report.UnselectedKeys)
	pair.Events = 1
	s.report.UnselectedKeys = append(s.report.UnselectedKeys, pair)
}

// Report lets every run in flight or waiting finish (runs that would
// start after the last event count too) and returns the figures. The Sim
// takes no event after it.
func (s *Sim) Report() Report {
	if !s.done {
		s.done = true
		for _, ws := range s.watches {
			wr := WatchReport{Watch: ws.w, RunTime: ws.runTime, Events: ws.events, Keys: len(ws.keys)}
			for _, m := range ws.modes {
				m.finish()
				wr.Modes = append(wr.Modes, m.report)
			}
			s.report.Watches = append(s.report.Watches, wr)
		}
		s.pairs = nil
	}
	return s.report
}

func sortedKeys(m map[string]time.Duration) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
